// Time from spawn to the banner of the CLI: `node bench/start-time.mjs dist/src/cli.js Corefile 7` (median of N starts).
import { spawn } from 'node:child_process';
const [cli, conf, n] = process.argv.slice(2);
const out = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = performance.now();
  const c = spawn(process.execPath, [cli, '-conf', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((res) => { let s=''; c.stdout.on('data', (d) => { s += d; if (/typedns-\d/.test(s)) res(); }); c.stderr.on('data', (d) => { s += d; }); c.on('exit', () => res()); });
  out.push(Math.round(performance.now() - t0));
  c.kill('SIGTERM');
  await new Promise((r) => c.on('exit', r));
}
out.sort((a, b) => a - b);
console.log(cli, 'banner ms sorted', out.join(' '), 'median', out[out.length >> 1]);
