// -workers N against the Kubernetes API: how many watch streams the process tree opens and how
// much memory it holds, for N = 1 and 2 (issue: one list/watch set per tree, cluster state not N
// times). 10,000 Services in 100 namespaces, one EndpointSlice of 10 endpoints each, served by
// the fake API server of test/support; each run waits until the Services answer, then 3 s.
//   npx tsc -p bench/tsconfig.json && npm run build && node dist/bench/k8s-workers.js [--services N] [--root DIR] [--qps SEC]
// (--qps: then dnsperf for SEC seconds, A queries for every Service in turn, -c 8 -q 200, and RSS again.)
// (--root: the checkout whose dist/src/cli.js is run, to measure another build the same way.)
// RSS counts the pages a process maps from shared memory (the workers' copy of the cluster) in
// every process that maps them; PSS divides them among those processes, so the PSS sum is the
// tree's memory.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { query } from '../src/testing/client.js';
import { FakeApiServer } from '../test/support/fake-apiserver.js';
import { endpointSlice, namespace, service } from '../test/support/k8s-objects.js';
import { binNodeArgs, childPids, procPssMb, procStatus } from './proc.js';

const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? resolve(process.argv[rootArg + 1]!) : resolve(import.meta.dirname, '../..');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SERVICES = arg('--services', 10_000);
const QPS_SECONDS = arg('--qps', 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const fake = await FakeApiServer.start({});
fake.load('namespaces', Array.from({ length: 100 }, (_, i) => namespace(`ns${i}`)));
fake.load('services', Array.from({ length: SERVICES }, (_, i) => service(`ns${i % 100}`, `svc${i}`, `10.96.${(i >> 8) & 255}.${i & 255}`, { ports: [{ name: 'http', port: 80 }] })));
fake.load('endpointslices', Array.from({ length: SERVICES }, (_, i) => endpointSlice(`ns${i % 100}`, `svc${i}`, `svc${i}-a`, Array.from({ length: 10 }, (_, j) => ({ ip: `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${((i & 15) << 4) + j}` })))));
for (const n of [1, 2]) {
  const dir = mkdtempSync(join(tmpdir(), 'typedns-k8s-workers-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  writeFileSync(join(dir, 'Corefile'), `cluster.local:${port} {\n  bind 127.0.0.1\n  kubernetes {\n    endpoint ${fake.url}\n    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}\n  }\n}\n`);
  const before = fake.openWatches;
  const lists = fake.requests.filter((r) => !r.watch && r.kind !== undefined).length;
  const child = spawn(process.execPath, [...binNodeArgs(root), join(root, 'dist/src/cli.js'), '-conf', 'Corefile', '-quiet', ...(n > 1 ? ['-workers', String(n)] : [])], { cwd: dir, stdio: 'ignore' });
  const t0 = Date.now();
  for (;;) {
    let ok = true;
    for (let k = 0; k < 8 && ok; k++) {
      const r = await query(port, `svc${k}.ns${k}.svc.cluster.local.`, 'A', { host: '127.0.0.1', timeout: 500 }).catch(() => undefined);
      ok = r !== undefined && r.rcode === 0;
    }
    if (ok) break;
    if (Date.now() - t0 > 120_000) throw new Error('no answers in 120 s');
    await sleep(200);
  }
  await sleep(3000);
  const pids = [child.pid!, ...(n > 1 ? childPids(child.pid!) : [])];
  const rss = pids.map((pid) => procStatus(pid).rssMb);
  const hwm = pids.map((pid) => procStatus(pid).hwmMb);
  const pss = pids.map((pid) => procPssMb(pid));
  const listed = fake.requests.filter((r) => !r.watch && r.kind !== undefined).length - lists;
  console.log(`-workers ${n}: ${listed} lists, ${fake.openWatches - before} watch streams open, RSS ${rss.map((x) => x.toFixed(1)).join(' + ')} = ${rss.reduce((a, b) => a + b, 0).toFixed(1)} MB, peak ${hwm.map((x) => x.toFixed(1)).join(' + ')} MB, PSS ${pss.map((x) => x.toFixed(1)).join(' + ')} = ${pss.reduce((a, b) => a + b, 0).toFixed(1)} MB (${n > 1 ? 'primary + workers' : 'one process'}), ${((Date.now() - t0) / 1000).toFixed(1)} s to answer + 3 s`);
  if (QPS_SECONDS > 0) {
    const names = join(dir, 'queries');
    writeFileSync(names, Array.from({ length: SERVICES }, (_, i) => `svc${i}.ns${i % 100}.svc.cluster.local A\n`).join(''));
    const out = execFileSync('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', names, '-l', String(QPS_SECONDS), '-c', '8', '-q', '200'], { encoding: 'utf8' });
    const qps = /Queries per second:\s+([\d.]+)/.exec(out)?.[1];
    const lost = /Queries lost:\s+(\d+)/.exec(out)?.[1];
    console.log(`-workers ${n}: ${qps} qps (A for all ${SERVICES} Services in turn), ${lost} lost`);
    const after = pids.map((pid) => procStatus(pid).rssMb);
    const pssAfter = pids.map((pid) => procPssMb(pid));
    console.log(`-workers ${n}: after the load, RSS ${after.map((x) => x.toFixed(1)).join(' + ')} = ${after.reduce((a, b) => a + b, 0).toFixed(1)} MB, PSS ${pssAfter.map((x) => x.toFixed(1)).join(' + ')} = ${pssAfter.reduce((a, b) => a + b, 0).toFixed(1)} MB`);
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
await fake.close();
