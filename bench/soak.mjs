#!/usr/bin/env node
// Soak test: one typedns process serving a mixed configuration (hosts, kubernetes manifests,
// cache + forward to bench/upstream.mjs, prometheus) under dnsperf at a fraction (default half)
// of the peak rate it measured itself, for minutes, sampling RSS every few seconds. It prints the
// lost queries, the response codes (SERVFAIL counts as an error), and RSS at start and end with
// the verdict "flat within 10 %" or not. Everything runs on 127.0.0.1. See bench/README.md.
//
//   node bench/soak.mjs                      10 minutes at 50 % of the measured peak
//   node bench/soak.mjs --minutes 1 --no-build
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, availableParallelism } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { here, root, cli, ensureDnsperf, freePort, queryRcode, startProcess, stopProcess, startTypedns, dnsperf, rssTreeKb, sampleTree, parseOptions, LOAD_OPTIONS } from './run.mjs';
import { mix, kubernetesFixture } from './workloads.mjs';

const USAGE = `usage: node bench/soak.mjs [options]
  --minutes M          soak duration (10)
  --fraction F         load as a fraction of the measured peak qps (0.5)
  --qps N              soak at N qps instead of measuring the peak
  --peak-seconds S     length of the unthrottled peak run (10)
  --sample S           RSS sampling interval in seconds (10)
  --settle S           run S seconds at the soak rate before the soak starts (60): the unthrottled peak
                       run leaves the heap grown, and a start sample taken while V8 gives that back
                       would compare the burst with the steady state, not the start with the end
  -c, --clients N      dnsperf -c (8)
  -q, --outstanding N  dnsperf -q (200)
  --workers N|auto     typedns -workers N (1)
  --node-args "..."    extra node options for typedns
  --heap               start typedns with --inspect=127.0.0.1:0 and, through the inspector, read its
                       V8 heap at every sample and after a forced full GC at the start and the end
  --snapshots DIR      with --heap: also write start.heapsnapshot and end.heapsnapshot into DIR
                       (each pauses the server for a moment: expect lost queries)
  --keep               keep the temp dir (Corefile, data, query file) and print its path
  --no-build           skip npm run build
  --json FILE          also write the results as JSON`;

function parseArgs(argv) {
  const { o } = parseOptions(
    argv,
    {
      minutes: { key: 'minutes', type: 'number', default: 10 },
      fraction: { key: 'fraction', type: 'number', default: 0.5 },
      qps: { key: 'qps', type: 'number', default: 0 },
      'peak-seconds': { key: 'peakSeconds', type: 'number', default: 10 },
      sample: { key: 'sample', type: 'number', default: 10 },
      settle: { key: 'settle', type: 'number', default: 60 },
      ...LOAD_OPTIONS,
      'node-args': { key: 'nodeArgs', type: 'string', default: '' },
      heap: { key: 'heap', type: 'boolean', default: false },
      snapshots: { key: 'snapshots', type: 'string', default: undefined },
      keep: { key: 'keep', type: 'boolean', default: false },
    },
    USAGE,
  );
  o.nodeArgs = o.nodeArgs.split(/\s+/).filter(Boolean);
  if (o.snapshots !== undefined) o.heap = true;
  for (const [k, v] of Object.entries({ minutes: o.minutes, fraction: o.fraction, sample: o.sample, peakSeconds: o.peakSeconds })) {
    if (!(v > 0)) throw new Error(`--${k} must be > 0`);
  }
  if (o.heap && o.workers !== '1') throw new Error('--heap needs --workers 1');
  return o;
}

/** A Chrome DevTools Protocol client on typedns's inspector (ws from node_modules). */
async function inspector(output) {
  const m = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(output());
  if (!m) throw new Error(`no inspector URL in typedns's output:\n${output()}`);
  const WebSocket = createRequire(path.join(root, 'package.json'))('ws');
  const ws = new WebSocket(m[1]);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const waiting = new Map();
  let onChunk;
  ws.on('message', (d) => {
    const msg = JSON.parse(String(d));
    if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') onChunk?.(msg.params.chunk);
    else if (msg.id !== undefined && waiting.has(msg.id)) {
      waiting.get(msg.id)(msg);
      waiting.delete(msg.id);
    }
  });
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const i = ++id;
      waiting.set(i, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  return {
    /** process.memoryUsage() of typedns, in bytes; after a full GC when `gc`. */
    async memory(gc = false) {
      if (gc) await call('HeapProfiler.collectGarbage');
      const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      return JSON.parse(r.result.value);
    },
    async snapshot(file) {
      const fd = openSync(file, 'w');
      onChunk = (c) => writeSync(fd, c);
      try {
        await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      } finally {
        onChunk = undefined;
        closeSync(fd);
      }
    },
    close: () => ws.close(),
  };
}

const HOSTS = 1000;
const HOT = 1000; // upstream names asked over and over: cache hits, refreshed when the 30 s cache TTL runs out
const COLD_LINES = 50_000; // distinct upstream names, each asked once per pass over the query file: cache misses and evictions
const QUERY_LINES = 1_000_000;

/** The data, the Corefile and the query mix. Expected rcodes per kind are in `kinds`. */
function setup(dir, { port, upstreamPort, metricsPort }) {
  const hostsFile = path.join(dir, 'hosts');
  const lines = [];
  for (let i = 0; i < HOSTS; i++) lines.push(`10.0.${Math.floor(i / 250)}.${(i % 250) + 1} host-${i}.hosts.test`);
  writeFileSync(hostsFile, lines.join('\n') + '\n');
  const { mdir } = kubernetesFixture(dir); // 10,000 Services svc-S.ns-N, ClusterIP 10.96.x.y
  const svc = (i) => `svc-${(i * 37) % 100}.ns-${(i * 11) % 100}`;
  const ptr = (i) => {
    const k = ((i * 13) % 100) * 100 + ((i * 7) % 100);
    return `${k & 0xff}.${k >> 8}.96.10.in-addr.arpa.`;
  };
  // weights in percent; the comment says what the query should get
  const queries = mix(QUERY_LINES, [
    { weight: 15, line: (i) => `host-${(i * 7) % HOSTS}.hosts.test. A` }, // hosts: NOERROR
    { weight: 5, line: (i) => `host-${(i * 13) % HOSTS}.hosts.test. AAAA` }, // hosts: NODATA
    { weight: 5, line: (i) => `missing-${i % HOSTS}.hosts.test. A` }, // hosts: NXDOMAIN
    { weight: 15, line: (i) => `${svc(i)}.svc.cluster.local. A` }, // kubernetes: NOERROR
    { weight: 5, line: (i) => `_http._tcp.${svc(i + 1)}.svc.cluster.local. SRV` }, // kubernetes: NOERROR
    { weight: 5, line: (i) => `${ptr(i)} PTR` }, // kubernetes: NOERROR
    { weight: 5, line: (i) => `nosuch-${i % 1000}.ns-${i % 100}.svc.cluster.local. A` }, // kubernetes: NXDOMAIN
    { weight: 30, line: (i) => `name-${(i * 7) % HOT}.upstream.test. A` }, // cache hit (forward on expiry)
    { weight: 5, line: (i) => `cold-${i}.upstream.test. A` }, // cache miss → forward
    { weight: 5, line: (i) => `name-${(i * 3) % HOT}.upstream.test. AAAA` }, // forward: NODATA + SOA (denial cache)
    { weight: 5, line: (i) => `nx-${i % 5000}.upstream.test. A` }, // forward: NXDOMAIN + SOA (denial cache)
  ]);
  const block = (zones, body) => `${zones} {\n    bind 127.0.0.1\n    prometheus 127.0.0.1:${metricsPort}\n    errors\n${body}}\n`;
  const corefile = [
    block(`hosts.test:${port}`, `    hosts ${hostsFile}\n`),
    block(`cluster.local:${port} in-addr.arpa:${port}`, `    kubernetes cluster.local in-addr.arpa {\n        manifests ${mdir}\n    }\n`),
    block(`.:${port}`, `    cache 30\n    forward . 127.0.0.1:${upstreamPort}\n`),
  ].join('\n');
  return { corefile, queries };
}

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** A few counters/gauges from the prometheus endpoint (sum over label sets). */
async function scrape(metricsPort) {
  try {
    const text = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    const sum = (name) => {
      let s = 0;
      let found = false;
      for (const line of text.split('\n')) {
        if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
          s += Number(line.slice(line.lastIndexOf(' ') + 1));
          found = true;
        }
      }
      return found ? s : undefined;
    };
    const byRcode = {};
    for (const m of text.matchAll(/^coredns_dns_responses_total\{[^}]*rcode="(\w+)"[^}]*\} (\S+)$/gm)) byRcode[m[1]] = (byRcode[m[1]] ?? 0) + Number(m[2]);
    return {
      requests: sum('coredns_dns_requests_total'),
      responsesByRcode: byRcode,
      cacheEntries: sum('coredns_cache_entries'),
      forwardRequests: sum('coredns_proxy_request_duration_seconds_count'),
      panics: sum('coredns_panics_total'),
    };
  } catch (e) {
    return { error: String(e) };
  }
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const mb = (kb) => kb / 1024;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  ensureDnsperf();
  if (o.build || !existsSync(cli)) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  const dir = mkdtempSync(path.join(tmpdir(), 'typedns-soak-'));
  const procs = [];
  const out = (s) => process.stdout.write(s + '\n');
  try {
    const [port, upstreamPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const up = await startProcess('upstream', process.execPath, [path.join(here, 'upstream.mjs'), '--port', String(upstreamPort), '--negative'], async (x) => x().includes('ready'));
    procs.push(up);
    const data = setup(dir, { port, upstreamPort, metricsPort });
    const corefile = path.join(dir, 'Corefile');
    const queryFile = path.join(dir, 'queries.txt');
    writeFileSync(corefile, data.corefile);
    writeFileSync(queryFile, data.queries.join('\n') + '\n');
    out(`# typedns soak ${new Date().toISOString()} (node ${process.version}, ${availableParallelism()} CPUs)`);
    out(`Corefile:\n${data.corefile}`);
    const t = await startTypedns(corefile, port, ['svc-1.ns-1.svc.cluster.local.', 'A'], o.workers, [...(o.heap ? ['--inspect=127.0.0.1:0'] : []), ...o.nodeArgs]);
    procs.push(t);
    const ins = o.heap ? await inspector(t.output) : undefined;
    for (const [name, type] of [['host-1.hosts.test.', 'A'], ['name-1.upstream.test.', 'A'], ['nx-1.upstream.test.', 'A']]) {
      const rc = await queryRcode(port, name, type);
      if (rc !== 0 && !(rc === 3 && name.startsWith('nx-'))) throw new Error(`typedns answered ${name} ${type} with rcode ${rc}`);
    }
    const d = { clients: o.clients, outstanding: o.outstanding };
    let target = o.qps;
    let peak;
    if (!(target > 0)) {
      await dnsperf(port, queryFile, d, { duration: 5, latency: false }); // warm-up: caches, JIT, heap
      peak = await dnsperf(port, queryFile, d, { duration: o.peakSeconds, latency: false });
      target = peak.qps * o.fraction;
      out(`peak (${o.peakSeconds} s, unthrottled): ${f(peak.qps)} qps, lost ${peak.lost}, rcodes ${peak.rcodes}`);
    }
    const pid = t.child.pid;
    if (o.settle > 0) {
      const st = await dnsperf(port, queryFile, d, { duration: o.settle, latency: false, maxQps: target });
      out(`settle: ${o.settle} s at ${f(target)} qps, lost ${st.lost}, RSS ${f(mb(rssTreeKb(pid)), 1)} MB (not part of the soak's figures)`);
    }
    out(`soak: ${o.minutes} min at ${f(target)} qps (dnsperf -Q), RSS every ${o.sample} s`);
    const cpu0 = sampleTree(pid).reduce((s, p) => s + p.cpu, 0);
    const metrics0 = await scrape(metricsPort);
    const heap = {};
    if (ins) {
      if (o.snapshots) {
        mkdirSync(o.snapshots, { recursive: true });
        await ins.snapshot(path.join(o.snapshots, 'start.heapsnapshot'));
      }
      heap.start = await ins.memory(true);
      out(`heap after a full GC: used ${f(heap.start.heapUsed / 2 ** 20, 1)} MB, total ${f(heap.start.heapTotal / 2 ** 20, 1)} MB, external ${f(heap.start.external / 2 ** 20, 1)} MB (array buffers ${f(heap.start.arrayBuffers / 2 ** 20, 1)} MB), RSS ${f(heap.start.rss / 2 ** 20, 1)} MB`);
    }
    const samples = [];
    const t0 = performance.now();
    const timer = setInterval(async () => {
      const s = { t: Math.round((performance.now() - t0) / 1000), rssKb: rssTreeKb(pid) };
      samples.push(s);
      if (ins) {
        const m = await ins.memory().catch(() => undefined);
        if (m) Object.assign(s, { heapUsedMb: m.heapUsed / 2 ** 20, heapTotalMb: m.heapTotal / 2 ** 20, externalMb: m.external / 2 ** 20 });
      }
      out(`  t=${String(s.t).padStart(4)} s  RSS ${f(mb(s.rssKb), 1)} MB${s.heapUsedMb !== undefined ? `  heap used ${f(s.heapUsedMb, 1)} / total ${f(s.heapTotalMb, 1)} MB, external ${f(s.externalMb, 1)} MB` : ''}`);
    }, o.sample * 1000);
    let run;
    try {
      run = await dnsperf(port, queryFile, d, { duration: Math.round(o.minutes * 60), latency: false, maxQps: target });
    } finally {
      clearInterval(timer);
    }
    const cpu = sampleTree(pid).reduce((s, p) => s + p.cpu, 0) - cpu0;
    const metrics1 = await scrape(metricsPort);
    if (ins) {
      heap.end = await ins.memory(true);
      if (o.snapshots) await ins.snapshot(path.join(o.snapshots, 'end.heapsnapshot'));
      ins.close();
    }
    const hwmKb = sampleTree(pid).reduce((s, p) => s + p.hwmKb, 0);
    const alive = t.child.exitCode === null && t.child.signalCode === null;

    const rcodes = Object.fromEntries(run.rcodes.split(/\s+/).filter(Boolean).reduce((acc, tok, i, arr) => (i % 2 === 0 ? [...acc, [tok.replace(/:$/, ''), Number(arr[i + 1])]] : acc), []));
    const servfail = rcodes.SERVFAIL ?? 0;
    const unexpected = Object.entries(rcodes).filter(([k]) => !['NOERROR', 'NXDOMAIN'].includes(k));
    const start = samples[0];
    const end = samples[samples.length - 1];
    const growth = start && end ? (end.rssKb - start.rssKb) / start.rssKb : NaN;
    const flat = Math.abs(growth) <= 0.1;
    const rssMin = Math.min(...samples.map((s) => s.rssKb));
    const rssMax = Math.max(...samples.map((s) => s.rssKb));
    // least-squares slope of RSS over the second half of the samples, in MB per minute
    const half = samples.slice(Math.floor(samples.length / 2));
    let slope = NaN;
    if (half.length >= 2) {
      const mx = half.reduce((s, x) => s + x.t, 0) / half.length;
      const my = half.reduce((s, x) => s + x.rssKb, 0) / half.length;
      const num = half.reduce((s, x) => s + (x.t - mx) * (x.rssKb - my), 0);
      const den = half.reduce((s, x) => s + (x.t - mx) ** 2, 0);
      slope = den > 0 ? (num / den / 1024) * 60 : NaN;
    }

    out('');
    out(`sent ${run.sent}, completed ${run.completed}, lost ${run.lost}, ${f(run.qps)} qps achieved (target ${f(target)}), avg latency ${f(run.avgMs, 2)} ms`);
    out(`rcodes: ${run.rcodes}`);
    out(`errors: SERVFAIL ${servfail}${unexpected.length ? `; unexpected rcodes: ${unexpected.map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}; server ${alive ? 'still running' : 'EXITED'}`);
    out(`server CPU: ${f(cpu, 1)} s in ${f(o.minutes * 60)} s`);
    out(`RSS: start ${f(mb(start?.rssKb), 1)} MB (t=${start?.t} s), end ${f(mb(end?.rssKb), 1)} MB (t=${end?.t} s), min ${f(mb(rssMin), 1)}, max ${f(mb(rssMax), 1)}, peak (VmHWM, incl. the peak run) ${f(mb(hwmKb), 1)} MB`);
    out(`RSS trend over the second half: ${f(slope, 2)} MB/min`);
    if (heap.start && heap.end) {
      out(`heap used after a full GC: start ${f(heap.start.heapUsed / 2 ** 20, 1)} MB, end ${f(heap.end.heapUsed / 2 ** 20, 1)} MB; external ${f(heap.start.external / 2 ** 20, 1)} → ${f(heap.end.external / 2 ** 20, 1)} MB${o.snapshots ? `; snapshots in ${o.snapshots}` : ''}`);
    }
    out(`verdict: ${flat ? 'flat within 10 %' : 'NOT flat within 10 %'} (${growth >= 0 ? '+' : ''}${f(growth * 100, 1)} %)`);
    if (metrics1.requests !== undefined && metrics0.requests !== undefined) {
      out(`prometheus: ${metrics1.requests - metrics0.requests} requests during the soak; responses by rcode (since start) ${JSON.stringify(metrics1.responsesByRcode)}; cache entries ${metrics1.cacheEntries}; forward requests ${metrics1.forwardRequests}; panics ${metrics1.panics ?? 0}`);
    }
    const ok = run.lost === 0 && servfail === 0 && flat && alive;
    out(`result: ${ok ? 'PASS' : 'FAIL'} (lost ${run.lost}, SERVFAIL ${servfail}, RSS ${flat ? 'flat' : 'not flat'})`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), options: o, corefile: data.corefile, peak, target, run, rcodes, samples, heap, hwmKb, cpu, metrics: { start: metrics0, end: metrics1 }, growth, slopeMbPerMin: slope, ok }, null, 2));
    if (o.keep) out(`kept ${dir}`);
    process.exitCode = ok ? 0 : 2;
  } finally {
    for (const p of procs.reverse()) await stopProcess(p);
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
