// Signed answers beside unsigned ones: a 1,000-name zone served by `file`, with and without the
// `dnssec` plugin in front (an ECDSA P-256 key made by ldns-keygen), under dnsperf on 127.0.0.1.
// Rows: file alone (DO=0); file + dnssec, DO=0 (the plugin passes the query on); file + dnssec,
// DO=1 on the first pass over the query file (every signature made) and then with the signature
// cache warm (the timed run). 85 % A of existing names, 15 % unknown names (NXDOMAIN, or NODATA
// with a black-lie NSEC when signed).
//
//   node bench/dnssec.mjs [-d SEC] [-c CLIENTS] [-q OUTSTANDING] [--no-build] [--json FILE]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dnsperf, freePort, LOAD_OPTIONS, parseOptions, prepareRun, sampleTree, startTypedns, stopProcess } from './run.mjs';

const USAGE = 'usage: node bench/dnssec.mjs [-d SEC] [-c CLIENTS] [-q OUTSTANDING] [--no-build] [--json FILE]';
const NAMES = 1000;

const { o } = parseOptions(process.argv.slice(2), { duration: { key: 'duration', type: 'number', default: 10, short: 'd' }, ...LOAD_OPTIONS, 'no-latency': { key: 'latency', type: 'boolean', value: false, default: true } }, USAGE);
const available = prepareRun(o);
if (!available.has('dnssec')) throw new Error('this build has no dnssec plugin');

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-bench-dnssec-'));
const procs = [];
try {
  const zone = ['$ORIGIN bench.test.', '$TTL 3600', '@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300', '@ IN NS ns1', 'ns1 IN A 192.0.2.53'];
  for (let i = 0; i < NAMES; i++) zone.push(`host-${i} IN A 10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  writeFileSync(path.join(dir, 'db.bench.test'), zone.join('\n') + '\n');
  const key = execFileSync('ldns-keygen', ['-a', 'ECDSAP256SHA256', '-k', 'bench.test'], { cwd: dir, encoding: 'utf8' }).trim();
  const queries = [];
  for (let i = 0; i < 10_000; i++) queries.push(i % 20 < 17 ? `host-${(i * 7) % NAMES}.bench.test. A` : `missing-${i % NAMES}.bench.test. A`);
  const queryFile = path.join(dir, 'queries.txt');
  writeFileSync(queryFile, queries.join('\n') + '\n');
  const port = await freePort();
  const corefile = (signed) => {
    const f = path.join(dir, signed ? 'Corefile.signed' : 'Corefile.plain');
    const dnssec = signed ? `    dnssec {\n        key file ${path.join(dir, key)}\n    }\n` : '';
    writeFileSync(f, `bench.test:${port} {\n    bind 127.0.0.1\n${dnssec}    file ${path.join(dir, 'db.bench.test')} {\n        reload 0\n    }\n}\n`);
    return f;
  };
  const rows = [];
  const run = async (label, proc, extra, once = false) => {
    const before = sampleTree(proc.child.pid);
    const r = await dnsperf(port, queryFile, o, once ? { once: true, latency: o.latency, extra } : { extra });
    const after = sampleTree(proc.child.pid);
    const cpu = after.reduce((s, p) => s + p.cpu, 0) - before.reduce((s, p) => s + p.cpu, 0);
    rows.push({ label, qps: r.qps, lost: r.lost, p50Ms: r.p50Ms, p99Ms: r.p99Ms, usPerQuery: (cpu * 1e6) / r.completed, rssMb: after.reduce((s, p) => s + p.hwmKb, 0) / 1024 });
  };
  const plain = await startTypedns(corefile(false), port, ['host-1.bench.test.', 'A'], o.workers);
  procs.push(plain);
  await run('file, DO=0', plain, []);
  await stopProcess(plain);
  const signed = await startTypedns(corefile(true), port, ['host-1.bench.test.', 'A'], o.workers);
  procs.push(signed);
  await run('file + dnssec, DO=0', signed, []);
  await run('file + dnssec, DO=1, first pass (signing)', signed, ['-D'], true);
  await run('file + dnssec, DO=1, signature cache warm', signed, ['-D']);
  await stopProcess(signed);

  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(`\n${NAMES} names, ECDSAP256SHA256, dnsperf -c ${o.clients} -q ${o.outstanding} -l ${o.duration}; 85 % A hits, 15 % unknown names`);
  console.log('| run | qps | lost | p50 ms | p99 ms | server CPU µs/query | peak RSS MB |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.label} | ${f(r.qps)} | ${r.lost} | ${f(r.p50Ms, 2)} | ${f(r.p99Ms, 2)} | ${f(r.usPerQuery, 1)} | ${f(r.rssMb)} |`);
  if (o.json) writeFileSync(o.json, JSON.stringify(rows, null, 2));
} finally {
  for (const p of procs) await stopProcess(p).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
