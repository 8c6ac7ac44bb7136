// Capacity measurements for the model in bench/README.md ("Capacity model"): one DNS server
// process (typedns, or CoreDNS with --coredns BIN) synced from the fake API server at several
// cluster sizes, and at each size:
//   - sync: time from spawn to the first correct answer; bytes of the initial lists (JSON);
//   - memory: VmRSS at ready and after settling, VmHWM (peak);
//   - idle CPU: CPU ms per second with no queries and no API events (bookmarks only);
//   - queries: dnsperf at a fixed rate for a few seconds over the cluster's names, the server's
//     CPU µs per answered query (utime+stime from /proc/<pid>/stat);
//   - watch churn: K EndpointSlice updates (one endpoint's readiness flipped each), the server's
//     CPU µs per event and the bytes per event on the wire.
// Build first (npm run build && npx tsc -p bench/tsconfig.json), then:
//   node dist/bench/capacity.js [--points 1000x10,10000x10,50000x10,100000x10,10000x50]
//        [--qps 10000] [--seconds 5] [--churn 2000] [--json bench/capacity.json] [--coredns BIN]
// A point is SERVICESxENDPOINTS_PER_SERVICE. The load average of the machine is recorded at each
// point (the development machine is shared): compare figures within one run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { query } from '../src/testing/client.js';
import { FakeApiServer, type KubeObject } from '../test/support/fake-apiserver.js';
import { loadFixture, makeFixture, serviceIp } from './k8s-fixture.js';
import { freeUdpPort, procStatus } from './proc.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

const points = opt('points', '1000x10,10000x10,50000x10,100000x10,10000x50')
  .split(',')
  .map((p) => {
    const [s, e] = p.split('x').map(Number);
    return { services: s!, perService: e ?? 10 };
  });
const qps = Number(opt('qps', '10000'));
const seconds = Number(opt('seconds', '5'));
const churn = Number(opt('churn', '2000'));
const jsonOut = opt('json', '');
const coredns = opt('coredns', '');
const IMAGE_NODE_ARGS = ['--max-semi-space-size=1'];

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // fields 14 and 15 of stat(5)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Answers to an A query (over TCP: a big headless Service does not fit in 512 bytes); -1 on error. */
async function answerCount(port: number, name: string): Promise<number> {
  try {
    const r = await query(port, name, 'A', { timeout: 1000, tcp: true });
    return r.rcode === 0 ? (r.msg.answers ?? []).length : -1;
  } catch {
    return -1;
  }
}

interface Point {
  server: string;
  services: number;
  endpoints: number;
  slices: number;
  load1: number;
  listBytes: number;
  readyMs: number;
  rssReadyMb: number;
  rssSettledMb: number;
  rssAfterQueriesMb: number;
  peakRssMb: number;
  idleCpuMsPerS: number;
  queries: { sent: number; completed: number; lost: number; qps: number; cpuUsPerQuery: number };
  churn: { events: number; cpuUsPerEvent: number; bytesPerEvent: number; seconds: number };
}

async function measure(services: number, perService: number): Promise<Point> {
  const fx = makeFixture({ services, endpoints: services * perService, bigEvery: 0 });
  const fake = await FakeApiServer.start({ bookmarkMs: 5000 });
  loadFixture(fake, fx);
  const listBytes = [...fx.namespaces, ...fx.services, ...fx.slices].reduce((n, o) => n + JSON.stringify(o).length, 0);
  const dir = mkdtempSync(join(tmpdir(), 'typedns-capacity-'));
  const port = await freeUdpPort();
  const corefile = join(dir, 'Corefile');
  writeFileSync(
    corefile,
    [`.:${port} {`, '    bind 127.0.0.1', '    kubernetes cluster.local in-addr.arpa ip6.arpa {', `        endpoint ${fake.url}`, `        tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}`, '    }', '}', ''].join('\n'),
  );
  // queries over the whole cluster: ClusterIP A 60 %, SRV 15 %, PTR 15 %, unknown names 10 %
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const k = (i * 7919) % fx.services.length;
    const s = fx.services[k]!.metadata;
    const r = i % 20;
    if (r < 12) lines.push(`${s.name}.${s.namespace}.svc.cluster.local A`);
    else if (r < 15) lines.push(`_http._tcp.${s.name}.${s.namespace}.svc.cluster.local SRV`);
    else if (r < 18) lines.push(`${serviceIp(k + 1).split('.').reverse().join('.')}.in-addr.arpa PTR`);
    else lines.push(`nope-${i}.${s.namespace}.svc.cluster.local A`);
  }
  const qfile = join(dir, 'queries');
  writeFileSync(qfile, lines.join('\n') + '\n');

  const load1 = loadavg()[0]!;
  const t0 = performance.now();
  const cmd = coredns ? [coredns, '-conf', corefile] : [process.execPath, ...IMAGE_NODE_ARGS, resolve('dist/src/cli.js'), '-conf', corefile];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  const pid = child.pid!;
  try {
    // ready: a ClusterIP Service and the headless one (its EndpointSlice) both answer
    const probe = `${fx.probe.name}.${fx.probe.namespace}.svc.cluster.local.`;
    const headlessName = `${fx.headless.name}.${fx.headless.namespace}.svc.cluster.local.`;
    for (;;) {
      if (exited) throw new Error(`server exited:\n${output}`);
      if (performance.now() - t0 > 300_000) throw new Error(`not ready after 300 s:\n${output}`);
      if ((await answerCount(port, probe)) > 0 && (await answerCount(port, headlessName)) === fx.headless.endpoints) break;
      await sleep(50);
    }
    const readyMs = performance.now() - t0;
    const atReady = procStatus(pid);
    // settled: two consecutive seconds under 20 ms of CPU (the sync's garbage collected), 60 s at most
    let idleCpuMsPerS = NaN;
    for (let quiet = 0, t = performance.now(); quiet < 2 && performance.now() - t < 60_000; ) {
      const c0 = cpuMs(pid);
      const ti = performance.now();
      await sleep(1000);
      idleCpuMsPerS = ((cpuMs(pid) - c0) * 1000) / (performance.now() - ti);
      quiet = idleCpuMsPerS < 20 ? quiet + 1 : 0;
    }
    const settled = procStatus(pid);

    // queries at a fixed rate
    const q0 = cpuMs(pid);
    const perf = spawnSync('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', qfile, '-l', String(seconds), '-Q', String(qps), '-c', '4'], { encoding: 'utf8' });
    const q1 = cpuMs(pid);
    const num = (re: RegExp): number => Number(re.exec(perf.stdout)?.[1] ?? NaN);
    const sent = num(/Queries sent:\s+(\d+)/);
    const completed = num(/Queries completed:\s+(\d+)/);
    const lost = num(/Queries lost:\s+(\d+)/);
    const gotQps = num(/Queries per second:\s+([\d.]+)/);
    if (!(completed > 0)) throw new Error(`dnsperf: ${perf.stdout.split('\n').filter((l) => !l.startsWith('[Timeout]')).join('\n')}${perf.stderr}\nserver output:\n${output.slice(-3000)}`);
    const afterQueries = procStatus(pid);

    // watch churn: flip one endpoint's readiness in K slices, then a sentinel change on the
    // headless probe's slice; events of one watch arrive in order, so its answer means all are in
    let eventBytes = 0;
    const before = await answerCount(port, headlessName);
    const e0 = cpuMs(pid);
    const te = performance.now();
    for (let i = 0; i < churn; i++) {
      const s = fx.slices[(i * 104_729) % fx.slices.length]!;
      const cur = structuredClone(fake.get('endpointslices', s.metadata.namespace, s.metadata.name!)!) as KubeObject & { endpoints: Array<{ conditions: { ready: boolean } }> };
      const c = cur.endpoints[0]!.conditions;
      c.ready = !c.ready;
      const sent = fake.update('endpointslices', cur);
      eventBytes += JSON.stringify({ type: 'MODIFIED', object: sent }).length;
    }
    const hs = fx.slices.find((s) => (s.metadata.labels ?? {})['kubernetes.io/service-name'] === fx.headless.name && s.metadata.namespace === fx.headless.namespace)!;
    const sentinel = structuredClone(fake.get('endpointslices', hs.metadata.namespace, hs.metadata.name!)!) as KubeObject & { endpoints: unknown[] };
    sentinel.endpoints = sentinel.endpoints.slice(1);
    fake.update('endpointslices', sentinel);
    const deadline = performance.now() + 120_000;
    for (;;) {
      const n = await answerCount(port, headlessName);
      if (n >= 0 && n !== before) break;
      if (performance.now() > deadline) throw new Error('churn: sentinel not seen after 120 s');
      await sleep(20);
    }
    const churnMs = performance.now() - te;
    const churnCpu = cpuMs(pid) - e0;
    const final = procStatus(pid);
    return {
      server: coredns ? 'coredns' : 'typedns',
      services: fx.services.length,
      endpoints: fx.endpoints,
      slices: fx.slices.length,
      load1: +load1.toFixed(2),
      listBytes,
      readyMs: Math.round(readyMs),
      rssReadyMb: +atReady.rssMb.toFixed(1),
      rssSettledMb: +settled.rssMb.toFixed(1),
      rssAfterQueriesMb: +afterQueries.rssMb.toFixed(1),
      peakRssMb: +final.hwmMb.toFixed(1),
      idleCpuMsPerS: +idleCpuMsPerS.toFixed(1),
      queries: { sent, completed, lost, qps: Math.round(gotQps), cpuUsPerQuery: +(((q1 - q0) * 1000) / completed).toFixed(2) },
      churn: { events: churn + 1, cpuUsPerEvent: +((churnCpu * 1000) / (churn + 1)).toFixed(1), bytesPerEvent: Math.round(eventBytes / Math.max(1, churn)), seconds: +(churnMs / 1000).toFixed(2) },
    };
  } finally {
    if (!exited) child.kill('SIGTERM');
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!coredns && !existsSync(resolve('dist/src/cli.js'))) throw new Error('dist/src/cli.js missing: run `npm run build` first');
  const results: Point[] = [];
  for (const p of points) {
    const r = await measure(p.services, p.perService);
    results.push(r);
    console.log(JSON.stringify(r));
    if (jsonOut) save(results); // after every point: a later point that fails keeps the earlier ones
  }
  console.log('\n| server | Services | endpoints | load | ready s | RSS ready / settled / after queries MB | peak MB | idle CPU ms/s | qps | CPU µs/query | churn µs/event | bytes/event |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.server} | ${r.services} | ${r.endpoints} | ${r.load1} | ${(r.readyMs / 1000).toFixed(1)} | ${r.rssReadyMb} / ${r.rssSettledMb} / ${r.rssAfterQueriesMb} | ${r.peakRssMb} | ${r.idleCpuMsPerS} | ${r.queries.qps} | ${r.queries.cpuUsPerQuery} | ${r.churn.cpuUsPerEvent} | ${r.churn.bytesPerEvent} |`,
    );
  }
  if (jsonOut) console.log(`wrote ${jsonOut}`);
}

/** Merge the results into the JSON file: a point measured again replaces the old one. */
function save(results: Point[]): void {
  const prev = existsSync(jsonOut) ? (JSON.parse(readFileSync(jsonOut, 'utf8')) as { points: Point[] }).points : [];
  const keep = prev.filter((p) => !results.some((r) => r.server === p.server && r.services === p.services && r.endpoints === p.endpoints));
  const meta = { command: `node dist/bench/capacity.js ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString().slice(0, 10), node: process.version, cpus: 2 };
  writeFileSync(jsonOut, JSON.stringify({ ...meta, points: [...keep, ...results] }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
