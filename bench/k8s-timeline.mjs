// One typedns start against the fake API server (the 10,000 Services / 100,000 endpoints fixture
// of k8s-fixture.ts), as a timeline: typedns's output and (REQS=1) each request the fake API server
// serves, stamped in ms from the spawn; then the first reply and the first correct answer (asked
// every 5 ms), typedns's CPU time until then, the fake's CPU and the load average.
//   npm run build && npx tsc -p bench/tsconfig.json && node bench/k8s-timeline.mjs
//   ROOT=/path/to/other/build node bench/k8s-timeline.mjs   # another build's dist/src/cli.js, same fake (A/B)
//   NODEARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" REQS=1 node bench/k8s-timeline.mjs
//   WARM=1 node bench/k8s-timeline.mjs   # the fake lists every kind once before typedns starts
//     (its code compiled, as a long-running API server's is; cold, its first pages come late)
import { spawn } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FakeApiServer } from '../dist/test/support/fake-apiserver.js';
import { loadFixture, makeFixture } from '../dist/bench/k8s-fixture.js';
import { firstAnswer, freeUdpPort } from '../dist/bench/proc.js';

const fx = makeFixture({});
const fake = await FakeApiServer.start({ bookmarkMs: 5000, watchCache: process.env.WATCH_CACHE === '1' });
loadFixture(fake, fx);
if (process.env.WARM === '1') {
  // One full paged list of each kind typedns lists, read and dropped, with the client's credentials.
  const agent = new https.Agent({ cert: readFileSync(fake.clientCertFile), key: readFileSync(fake.clientKeyFile), ca: readFileSync(fake.caFile) });
  const get = (path) =>
    new Promise((res, rej) => {
      https
        .get(fake.url + path, { agent }, (r) => {
          const parts = [];
          r.on('data', (d) => parts.push(d));
          r.on('end', () => res(JSON.parse(Buffer.concat(parts).toString())));
        })
        .on('error', rej);
    });
  for (const path of ['/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1/namespaces']) {
    let cont;
    do {
      const page = await get(`${path}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      cont = page.metadata?.continue;
    } while (cont);
  }
  agent.destroy();
  fake.requests.length = 0;
}
const dir = mkdtempSync(join(tmpdir(), 'typedns-k8s-timeline-'));
const port = await freeUdpPort();
writeFileSync(
  join(dir, 'Corefile'),
  `.:${port} {\n  bind 127.0.0.1\n  kubernetes cluster.local in-addr.arpa ip6.arpa {\n    endpoint ${fake.url}\n    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}\n  }\n}\n`,
);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const ms = () => (performance.now() - t0).toFixed(0).padStart(5);
if (process.env.REQS) {
  const push = fake.requests.push.bind(fake.requests);
  fake.requests.push = (r) => {
    console.log(ms(), 'served', r.kind, r.watch ? 'watch' : 'list', r.query.continue ? '(continued)' : '');
    return push(r);
  };
}
// the image's flag (Dockerfile), then NODEARGS
const args = ['--max-semi-space-size=1', ...(process.env.NODEARGS ?? '').split(' ').filter(Boolean), resolve(process.env.ROOT ?? '.', 'dist/src/cli.js'), '-conf', join(dir, 'Corefile')];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
const print = (c) => {
  for (const l of c.toString().split('\n')) if (l) console.log(ms(), l.slice(0, 160));
};
child.stdout.on('data', print);
child.stderr.on('data', print);
const fa = await firstAnswer(port, `${fx.probe.name}.${fx.probe.namespace}.svc.cluster.local.`, t0);
const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
const own = process.cpuUsage(cpu0);
console.log(
  `first reply ${fa.firstReplyMs.toFixed(0)} ms, ready ${fa.readyMs.toFixed(0)} ms; typedns CPU ${(Number(stat[11]) + Number(stat[12])) * 10} ms, ` +
    `the fake API server's CPU ${((own.user + own.system) / 1000).toFixed(0)} ms; load average ${loadavg()[0].toFixed(2)}`,
);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await fake.close();
rmSync(dir, { recursive: true, force: true });
