#!/usr/bin/env node
// Steady load below the peak: for each workload of bench/workloads.mjs, start typedns as
// bench/run.mjs does, measure its peak qps with an unthrottled dnsperf run, then drive it with
// dnsperf rate-limited (-Q) at a fraction (default 80 %) of that peak for a minute. A server that
// keeps up must lose no query there. Prints lost queries, qps achieved, p50/p99 and RSS.
// Everything runs on 127.0.0.1. See bench/README.md.
//
//   node bench/steady.mjs cache kubernetes
//   node bench/steady.mjs hosts --fraction 0.9 --seconds 30 --no-build
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import path from 'node:path';
import { prepareWorkload, stopProcess, startTypedns, dnsperf, rssTreeKb, sampleTree, parseOptions, workloadNames, LOAD_OPTIONS, UPSTREAM_OPTION, prepareRun, checkUpstream, describeWith } from './run.mjs';
import { workloads } from './workloads.mjs';

const USAGE = `usage: node bench/steady.mjs WORKLOAD... | all [options]
workloads: ${Object.keys(workloads).join(', ')}
  --fraction F         steady load as a fraction of the measured peak (0.8)
  --seconds S          length of the rate-limited run (60)
  --peak-seconds S     length of the unthrottled run that measures the peak (10)
  --qps N              skip the peak run and drive N qps
  -c, --clients N      dnsperf -c (8)
  -q, --outstanding N  dnsperf -q (200)
  --workers N|auto     start typedns with -workers N (1)
  --upstream bench|knot  upstream of cache/forward: bench/upstream.mjs (default) or knotd
  --no-latency         do not pass -v to dnsperf (no p50/p99)
  --no-build           skip npm run build
  --json FILE          also write the results as JSON
Exit status 2 when a rate-limited run lost queries.`;

function parseArgs(argv) {
  const { o, positionals } = parseOptions(
    argv,
    {
      fraction: { key: 'fraction', type: 'number', default: 0.8 },
      seconds: { key: 'seconds', type: 'number', default: 60 },
      'peak-seconds': { key: 'peakSeconds', type: 'number', default: 10 },
      qps: { key: 'qps', type: 'number', default: 0 },
      ...LOAD_OPTIONS,
      ...UPSTREAM_OPTION,
      'no-latency': { key: 'latency', type: 'boolean', value: false, default: true },
    },
    USAGE,
    { positionals: true },
  );
  o.names = workloadNames(positionals, USAGE);
  checkUpstream(o);
  if (!(o.fraction > 0) || !(o.seconds > 0) || !(o.peakSeconds > 0)) throw new Error('--fraction, --seconds and --peak-seconds must be > 0');
  return o;
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const mb = (kb) => kb / 1024;

async function runWorkload(name, o, available) {
  const w = workloads[name];
  const missing = w.plugins.filter((p) => !available.has(p));
  if (missing.length > 0) return { workload: name, skipped: `plugin(s) not built in yet: ${missing.join(', ')}` };
  const dir = mkdtempSync(path.join(tmpdir(), `typedns-steady-${name}-`));
  const procs = [];
  try {
    const { port, data, corefile, queryFile } = await prepareWorkload(w, dir, procs, o.upstream);
    const t = await startTypedns(corefile, port, data.probe, o.workers);
    procs.push(t);
    const d = { clients: o.clients, outstanding: o.outstanding };
    if (w.warmup) await dnsperf(port, queryFile, d, { once: true, latency: false });
    // the peak is measured the way the steady run is made (same -c/-q, same -v), so that dnsperf's
    // own CPU cost, which shares the machine, is the same in both
    let peak;
    let target = o.qps;
    if (!(target > 0)) {
      peak = await dnsperf(port, queryFile, d, { duration: o.peakSeconds, latency: o.latency });
      target = peak.qps * o.fraction;
    }
    const pid = t.child.pid;
    const before = sampleTree(pid);
    const rssStartKb = rssTreeKb(pid);
    let rssMaxKb = rssStartKb;
    const timer = setInterval(() => (rssMaxKb = Math.max(rssMaxKb, rssTreeKb(pid))), 1000);
    let run;
    try {
      run = await dnsperf(port, queryFile, d, { duration: o.seconds, latency: o.latency, maxQps: target });
    } finally {
      clearInterval(timer);
    }
    const rssEndKb = rssTreeKb(pid);
    const after = sampleTree(pid);
    const cpu = after.reduce((s, p) => s + p.cpu, 0) - before.reduce((s, p) => s + p.cpu, 0);
    await stopProcess(t);
    return {
      workload: name,
      describe: describeWith(w, o),
      peak,
      target,
      run,
      rssStartMb: mb(rssStartKb),
      rssEndMb: mb(rssEndKb),
      rssMaxMb: mb(Math.max(rssMaxKb, rssEndKb)),
      hwmMb: mb(after.reduce((s, p) => s + p.hwmKb, 0)),
      cpuSec: cpu,
      processes: after.length,
    };
  } finally {
    for (const p of procs.reverse()) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r, o) {
  const lines = [`\n## ${r.workload}${r.describe ? `: ${r.describe}` : ''}`];
  if (r.skipped) {
    lines.push(`skipped: ${r.skipped}`);
    return lines.join('\n');
  }
  const v = o.latency ? ' -v' : '';
  if (r.peak) lines.push(`peak: dnsperf -c ${o.clients} -q ${o.outstanding} -l ${o.peakSeconds}${v} → ${f(r.peak.qps)} qps (lost ${r.peak.lost}, p50 ${f(r.peak.p50Ms, 2)} ms, p99 ${f(r.peak.p99Ms, 2)} ms)`);
  lines.push(`steady: dnsperf -c ${o.clients} -q ${o.outstanding} -l ${o.seconds} -Q ${Math.round(r.target)}${v}${r.peak ? ` (${f(o.fraction * 100)} % of the peak)` : ''}`);
  lines.push('| workload | target qps | achieved qps | sent | lost | p50 ms | p99 ms | avg ms | RSS start → end MB | max RSS MB | peak RSS (VmHWM) MB | server CPU s | rcodes |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |');
  const x = r.run;
  lines.push(`| ${r.workload}${r.processes > 1 ? ` (${r.processes} procs)` : ''} | ${f(r.target)} | ${f(x.qps)} | ${x.sent} | ${x.lost} | ${f(x.p50Ms, 2)} | ${f(x.p99Ms, 2)} | ${f(x.avgMs, 2)} | ${f(r.rssStartMb, 1)} → ${f(r.rssEndMb, 1)} | ${f(r.rssMaxMb, 1)} | ${f(r.hwmMb, 1)} | ${f(r.cpuSec, 1)} | ${x.rcodes} |`);
  lines.push(x.lost === 0 ? 'lost: 0 (PASS)' : `lost: ${x.lost} (FAIL: queries lost below the peak rate)`);
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const available = prepareRun(o);
  process.stdout.write(`# typedns steady load ${new Date().toISOString()} (node ${process.version}, ${availableParallelism()} CPUs)\n`);
  const all = [];
  let failed = false;
  for (const name of o.names) {
    const r = await runWorkload(name, o, available);
    all.push(r);
    if (r.run && r.run.lost !== 0) failed = true;
    process.stdout.write(report(r, o) + '\n');
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), options: o, results: all }, null, 2));
  if (failed) process.exitCode = 2;
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
