#!/usr/bin/env node
// DoT and DoH beside plain TCP: one typedns process serves the same hosts data on a dns:// block
// (dnsperf -m tcp), a tls:// block (-m dot) and an https:// block (-m doh, GET and POST, HTTP/2),
// with a throw-away certificate from the openssl CLI. Prints qps, p50/p99 latency and the server's
// CPU per query for each (DoH is loaded by bench/doh-load.mjs, C sessions with Q/C streams in
// flight each). See bench/README.md.
//
//   node bench/transports.mjs [-d SEC] [-c CLIENTS] [-q OUTSTANDING] [--no-build]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dnsperf, freePort, parseOptions, prepareRun, sampleTree, startTypedns, stopProcess } from './run.mjs';

const USAGE = `usage: node bench/transports.mjs [options]
  -d, --duration SEC   dnsperf run time per transport (10)
  -c, --clients N      dnsperf -c (8)
  -q, --outstanding N  dnsperf -q (100)
  --no-build           skip npm run build`;

const { o } = parseOptions(
  process.argv.slice(2),
  {
    duration: { key: 'duration', type: 'number', default: 10, short: 'd' },
    clients: { key: 'clients', type: 'number', default: 8, short: 'c' },
    outstanding: { key: 'outstanding', type: 'number', default: 100, short: 'q' },
    'no-build': { key: 'build', type: 'boolean', value: false, default: true },
  },
  USAGE,
);
o.latency = true;

prepareRun(o);
const dir = mkdtempSync(path.join(tmpdir(), 'typedns-bench-transports-'));
const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
  '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
const names = Array.from({ length: 1000 }, (_, i) => `h${i}.bench.example`);
writeFileSync(path.join(dir, 'hosts'), names.map((n, i) => `10.1.${i >> 8}.${i & 255} ${n}`).join('\n') + '\n');
const queryFile = path.join(dir, 'queries.txt');
writeFileSync(queryFile, names.map((n) => `${n} A`).join('\n') + '\n');
const [dnsPort, dotPort, dohPort] = [await freePort(), await freePort(), await freePort()];
const block = (key, tls) => `${key} {\n bind 127.0.0.1\n${tls ? ' tls cert.pem key.pem\n' : ''} hosts hosts\n}\n`;
const corefile = path.join(dir, 'Corefile');
writeFileSync(corefile, block(`.:${dnsPort}`, false) + block(`tls://.:${dotPort}`, true) + block(`https://.:${dohPort}`, true));

const runs = [
  { transport: 'tcp', port: dnsPort, extra: ['-m', 'tcp'] },
  { transport: 'dot', port: dotPort, extra: ['-m', 'dot'] },
  // dnsperf 2.10's DoH client fails with more than one stream in flight: bench/doh-load.mjs instead
  { transport: 'doh GET (HTTP/2, doh-load.mjs)', port: dohPort, doh: 'GET' },
  { transport: 'doh POST (HTTP/2, doh-load.mjs)', port: dohPort, doh: 'POST' },
];

/** The DoH load generator in its own process; its JSON result. */
function dohLoad(port, method, duration) {
  const out = execFileSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'doh-load.mjs'),
    `https://127.0.0.1:${port}/dns-query`, queryFile, String(duration), String(o.clients), String(Math.max(1, Math.round(o.outstanding / o.clients))), method], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop());
  return { ...r, lost: r.failed, rcodes: '' };
}
const proc = await startTypedns(corefile, dnsPort, ['h1.bench.example', 'A'], '1');
const rows = [];
try {
  for (const r of runs) {
    if (r.doh) dohLoad(r.port, r.doh, 1);
    else await dnsperf(r.port, queryFile, o, { once: true, latency: false, extra: r.extra }); // warm-up
    const before = sampleTree(proc.child.pid);
    const res = r.doh ? dohLoad(r.port, r.doh, o.duration) : await dnsperf(r.port, queryFile, o, { extra: r.extra });
    const after = sampleTree(proc.child.pid);
    const cpu = after.reduce((s, p) => s + p.cpu, 0) - before.reduce((s, p) => s + p.cpu, 0);
    rows.push({ ...r, ...res, usPerQuery: (cpu * 1e6) / res.completed });
  }
} finally {
  await stopProcess(proc);
  rmSync(dir, { recursive: true, force: true });
}
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`dnsperf -c ${o.clients} -q ${o.outstanding} -l ${o.duration} -v (DoH: doh-load.mjs, ${o.clients} sessions × ${Math.max(1, Math.round(o.outstanding / o.clients))} streams), hosts (1,000 names), one typedns process`);
console.log('| transport | qps | p50 ms | p99 ms | lost | server CPU µs/query | rcodes |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const x of rows) console.log(`| ${x.transport} | ${f(x.qps)} | ${f(x.p50Ms, 2)} | ${f(x.p99Ms, 2)} | ${x.lost} | ${f(x.usPerQuery, 1)} | ${x.rcodes} |`);
