// Scale benchmark of the kubernetes plugin against the fake API server:
//   1. time from process start to the first correct answer (the plugin answers SERVFAIL until synced),
//   2. RSS after the initial sync (VmRSS and peak VmHWM from /proc/<pid>/status),
//   3. programming latency: create a Service in the API → its name answers (p50/p99 over N creations).
// Build first (npm run build && npx tsc -p bench/tsconfig.json), then:
//   node dist/bench/k8s-scale.js [--services 10000] [--endpoints 100000] [--creations 100] [--node-args "FLAGS"] [--watch-cache] [--load SEC]
// --load SEC: after the creations, SEC seconds of `dnsperf -c 8 -q 200` (A of every ClusterIP
// Service 70 %, PTR of its IP 15 %, NXDOMAIN 15 %), with RSS sampled every 200 ms: the peak under
// load and RSS after it (the "after load").
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { query } from '../src/testing/client.js';
import { FakeApiServer } from '../test/support/fake-apiserver.js';
import { service } from '../test/support/k8s-objects.js';
import { loadFixture, makeFixture } from './k8s-fixture.js';
import { binNodeArgs, firstAnswer, freeUdpPort, procStatus } from './proc.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const nServices = arg('services', 10_000);
const nEndpoints = arg('endpoints', 100_000);
const creations = arg('creations', 100);
const readyTimeoutMs = arg('timeout', 120_000);
const loadSeconds = arg('load', 0);
/**
 * Node flags for the typedns process only. Default: the ones the typedns binary sets for itself
 * (the first line of dist/src/bin.js; the image's NODE_OPTIONS are the same); e.g. --node-args ""
 * for node's defaults, --node-args "--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
const nodeArgs = ((): string[] => {
  const i = process.argv.indexOf('--node-args');
  return i >= 0 ? (process.argv[i + 1] ?? '').split(' ').filter((a) => a !== '') : binNodeArgs(resolve('.'));
})();

/** `--load`: dnsperf against the synced server; RSS peak during and RSS after, qps. */
async function underLoad(pid: number, port: number, fx: ReturnType<typeof makeFixture>, dir: string): Promise<Record<string, unknown>> {
  const lines: string[] = [];
  fx.services.forEach((s, i) => {
    const m = s.metadata as { name: string; namespace: string };
    const ip = (s.spec as { clusterIP?: string }).clusterIP;
    if (ip === undefined || ip === 'None') return;
    lines.push(`${m.name}.${m.namespace}.svc.cluster.local A`);
    if (i % 5 === 0) lines.push(`${ip.split('.').reverse().join('.')}.in-addr.arpa PTR`);
    if (i % 5 === 1) lines.push(`nosuch-${i}.${m.namespace}.svc.cluster.local A`);
  });
  const file = join(dir, 'queries');
  writeFileSync(file, lines.join('\n') + '\n');
  let peak = 0;
  const t = setInterval(() => (peak = Math.max(peak, procStatus(pid).rssMb)), 200);
  const out = await new Promise<string>((res) =>
    execFile('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-c', '8', '-q', '200', '-l', String(loadSeconds)], (_e, so) => res(String(so))),
  );
  clearInterval(t);
  const after = procStatus(pid).rssMb;
  return {
    seconds: loadSeconds,
    qps: Math.round(Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)),
    lost: Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? NaN),
    peakRssUnderLoadMb: +peak.toFixed(1),
    rssAfterLoadMb: +after.toFixed(1),
  };
}

async function answers(port: number, name: string, type = 'A'): Promise<{ rcode: number; n: number }> {
  try {
    const r = await query(port, name, type, { timeout: 1000 });
    return { rcode: r.rcode, n: (r.msg.answers ?? []).length };
  } catch {
    return { rcode: -1, n: 0 };
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

async function main(): Promise<void> {
  const cli = resolve('dist/src/cli.js');
  if (!existsSync(cli)) throw new Error('dist/src/cli.js missing: run `npm run build` first');

  const tGen = performance.now();
  const fx = makeFixture({ services: nServices, endpoints: nEndpoints });
  // --watch-cache: resourceVersion=0 lists whole, as a real API server with its watch cache
  // serves them (typedns and client-go list at 0 first); without it every list is paged by 500.
  const fake = await FakeApiServer.start({ bookmarkMs: 5000, watchCache: process.argv.includes('--watch-cache') });
  loadFixture(fake, fx);
  console.log(
    `fixture: ${fx.services.length} services, ${fx.slices.length} EndpointSlices, ${fx.endpoints} endpoints, ` +
      `${fx.namespaces.length} namespaces (${((performance.now() - tGen) / 1000).toFixed(1)} s to build)`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'typedns-k8s-scale-'));
  const port = await freeUdpPort();
  const corefile = join(dir, 'Corefile');
  writeFileSync(
    corefile,
    [
      `.:${port} {`,
      `    bind 127.0.0.1`,
      `    kubernetes cluster.local in-addr.arpa ip6.arpa {`,
      `        endpoint ${fake.url}`,
      `        tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}`,
      `    }`,
      `}`,
      '',
    ].join('\n'),
  );

  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, cli, '-conf', corefile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  const cleanup = async (): Promise<void> => {
    if (!exited) child.kill('SIGTERM');
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const probe = `${fx.probe.name}.${fx.probe.namespace}.svc.cluster.local.`;
    // Asked every 5 ms from one socket (until the server listens, its datagrams are dropped).
    const first = await firstAnswer(port, probe, t0, { timeoutMs: readyTimeoutMs, alive: () => !exited }).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
    });
    const readyMs = first.readyMs;
    const firstAnswerMs = first.firstReplyMs;
    const atReady = procStatus(child.pid!);
    // Sanity: a headless service answers one A per ready endpoint; an unknown one is NXDOMAIN.
    const hl = await answers(port, `${fx.headless.name}.${fx.headless.namespace}.svc.cluster.local.`);
    const nx = await answers(port, `no-such-svc.${fx.probe.namespace}.svc.cluster.local.`);
    await new Promise((res) => setTimeout(res, 5000));
    const settled = procStatus(child.pid!);

    const lat: number[] = [];
    for (let i = 0; i < creations; i++) {
      const name = `lat-${i}`;
      const ip = `10.111.${i >> 8}.${i & 255}`;
      const t = performance.now();
      fake.create('services', service(fx.probe.namespace, name, ip));
      for (;;) {
        const r = await answers(port, `${name}.${fx.probe.namespace}.svc.cluster.local.`);
        if (r.rcode === 0 && r.n > 0) break;
        if (performance.now() - t > 30_000) throw new Error(`${name} not answerable after 30 s`);
      }
      lat.push(performance.now() - t);
    }
    const final = procStatus(child.pid!);
    const load = loadSeconds > 0 ? await underLoad(child.pid!, port, fx, dir) : undefined;

    const result = {
      nodeArgs: nodeArgs.join(' '),
      lists: process.argv.includes('--watch-cache') ? 'whole (watch cache)' : 'paged by 500',
      loadAverage: loadavg().map((x) => +x.toFixed(2)),
      services: fx.services.length,
      slices: fx.slices.length,
      endpoints: fx.endpoints,
      firstReplyMs: Math.round(firstAnswerMs),
      readyMs: Math.round(readyMs),
      rssAtReadyMb: +atReady.rssMb.toFixed(1),
      rssSettledMb: +settled.rssMb.toFixed(1),
      peakRssMb: +final.hwmMb.toFixed(1),
      headlessAnswers: `${hl.n} of ${fx.headless.endpoints} (rcode ${hl.rcode})`,
      unknownRcode: nx.rcode,
      createToAnswerMs: { p50: +pct(lat, 50).toFixed(1), p99: +pct(lat, 99).toFixed(1), max: +Math.max(...lat).toFixed(1), n: lat.length },
      load,
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
