#!/usr/bin/env node
// The dnsperf benchmark runner. For each workload: build typedns, start it on 127.0.0.1 with a
// generated Corefile, load it with dnsperf for a bounded time, then load the naive reference
// server (bench/naive-server.mjs) the same way, in the same run, and print both with the
// typedns/naive ratios. See bench/README.md.
//
//   npm run bench -- hosts                  one workload (hosts, cache, kubernetes, forward, whoami)
//   npm run bench -- all -d 5 --workers 2   every workload whose plugins exist, 5 s each, typedns with -workers 2
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync, openSync, closeSync, createReadStream } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs as nodeParseArgs } from 'node:util';
import dnsPacket from 'dns-packet';
import { workloads } from './workloads.mjs';
import { knotFiles, knotMissing, KNOTD } from './knot.mjs';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
// TYPEDNS_BENCH_CLI: another build's cli.js (e.g. an older tree built elsewhere, to compare)
export const cli = process.env.TYPEDNS_BENCH_CLI ?? path.join(root, 'dist/src/cli.js');

const USAGE = `usage: node bench/run.mjs WORKLOAD... | all [options]
workloads: ${Object.keys(workloads).join(', ')}
  -d, --duration SEC   dnsperf run time per server (10)
  -c, --clients N      dnsperf -c (8)
  -q, --outstanding N  dnsperf -q (200)
  --workers N|auto     start typedns with -workers N (1)
  --compare-workers N  run typedns twice: -workers 1, then -workers N (no naive run)
  --no-naive           typedns only
  --no-latency         do not pass -v to dnsperf (no p50/p99; a little less dnsperf CPU)
  --coredns PATH       also run this CoreDNS binary (\`PATH -conf Corefile -quiet\`) on the same
                       Corefile and load, as a column beside typedns (not for kubernetes, whose
                       workload reads manifests, which only typedns has)
  --upstream bench|knot  upstream of cache/forward: bench/upstream.mjs (default) or knotd; with
                       knot, Knot's own qps (dnsperf straight at it) is printed too
  --no-build           skip npm run build
  --json FILE          also write the results as JSON`;

/**
 * Command-line options of the bench scripts, with node:util's parseArgs. `spec` maps each option
 * (as typed, without "--") to { key, type: 'number' | 'string' | 'boolean', default, short?,
 * value? } — `value` is what a boolean flag sets (`--no-build` → build: false). -h/--help prints
 * `usage` and exits; an unknown option or a missing value throws with `usage`.
 */
export function parseOptions(argv, spec, usage, { positionals = false } = {}) {
  const options = { help: { type: 'boolean', short: 'h' } };
  for (const [flag, s] of Object.entries(spec)) options[flag] = { type: s.type === 'boolean' ? 'boolean' : 'string', ...(s.short ? { short: s.short } : {}) };
  let r;
  try {
    r = nodeParseArgs({ args: argv, options, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new Error(`${e.message}\n${usage}`);
  }
  if (r.values.help) {
    process.stdout.write(usage + '\n');
    process.exit(0);
  }
  const o = {};
  for (const [flag, s] of Object.entries(spec)) {
    const v = r.values[flag];
    if (o[s.key] !== undefined && v === undefined) continue; // another flag for the same key was given
    o[s.key] = v === undefined ? s.default : s.type === 'number' ? Number(v) : s.type === 'boolean' ? (s.value ?? true) : v;
  }
  return { o, positionals: r.positionals };
}

/** The workloads named on the command line (`all`: every one); throws on none or an unknown one. */
export function workloadNames(names, usage) {
  if (names.length === 0) throw new Error(usage);
  if (names.includes('all')) return Object.keys(workloads);
  for (const n of names) if (!workloads[n]) throw new Error(`unknown workload '${n}'\n${usage}`);
  return names;
}

/** dnsperf installed, typedns built (unless --no-build and built already): the plugins it has. */
export function prepareRun(o) {
  ensureDnsperf();
  if (o.build || !existsSync(cli)) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  const listing = execFileSync(process.execPath, [cli, '-plugins'], { encoding: 'utf8' });
  return new Set([...listing.matchAll(/dns\.([\w-]+)/g)].map((m) => m[1]));
}

/** dnsperf load options shared by the scripts. */
export const LOAD_OPTIONS = {
  clients: { key: 'clients', type: 'number', default: 8, short: 'c' },
  outstanding: { key: 'outstanding', type: 'number', default: 200, short: 'q' },
  workers: { key: 'workers', type: 'string', default: '1' },
  'no-build': { key: 'build', type: 'boolean', value: false, default: true },
  json: { key: 'json', type: 'string', default: undefined },
};

/** --upstream of run.mjs and steady.mjs. */
export const UPSTREAM_OPTION = { upstream: { key: 'upstream', type: 'string', default: 'bench' } };

/** A workload's description, naming the upstream actually used. */
export function describeWith(w, o) {
  return w.upstream && o.upstream === 'knot' ? w.describe.replace('bench/upstream.mjs', 'knotd (bench/knot.mjs)') : w.describe;
}

/** --upstream: 'bench' (bench/upstream.mjs) or 'knot' (knotd, bench/knot.mjs); throws otherwise. */
export function checkUpstream(o) {
  if (o.upstream !== 'bench' && o.upstream !== 'knot') throw new Error(`--upstream: bench or knot, not '${o.upstream}'`);
  if (o.upstream === 'knot') {
    const why = knotMissing();
    if (why) throw new Error(`--upstream knot: ${why}`);
  }
}

function parseArgs(argv) {
  const { o, positionals } = parseOptions(
    argv,
    {
      duration: { key: 'duration', type: 'number', default: 10, short: 'd' },
      ...LOAD_OPTIONS,
      ...UPSTREAM_OPTION,
      'compare-workers': { key: 'compareWorkers', type: 'string', default: undefined },
      'no-naive': { key: 'naive', type: 'boolean', value: false, default: true },
      coredns: { key: 'coredns', type: 'string', default: undefined },
      'no-latency': { key: 'latency', type: 'boolean', value: false, default: true },
    },
    USAGE,
    { positionals: true },
  );
  if (o.compareWorkers !== undefined) o.naive = false;
  checkUpstream(o);
  o.names = workloadNames(positionals, USAGE);
  return o;
}

/** dnsperf on PATH, installed with apt-get when missing and we are root. */
export function ensureDnsperf() {
  if (spawnSync('dnsperf', ['-h'], { stdio: 'ignore' }).error === undefined) return;
  if (process.getuid?.() !== 0) throw new Error('dnsperf is not installed: apt-get install dnsperf (needs root)');
  process.stderr.write('installing dnsperf with apt-get…\n');
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'dnsperf'], { stdio: 'inherit' });
}

/** A port free for both UDP and TCP on 127.0.0.1. */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const tcpOk = await new Promise((resolve) => {
      const t = net.createServer();
      t.once('error', () => resolve(false));
      t.listen(port, '127.0.0.1', () => t.close(() => resolve(true)));
    });
    if (tcpOk) return port;
  }
}

/** One UDP query; resolves to the reply's rcode, or -1 on timeout. */
export function queryRcode(port, name, type, timeout = 1000) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const id = (Math.random() * 65535) | 0;
    const timer = setTimeout(() => {
      s.close();
      resolve(-1);
    }, timeout);
    s.on('message', (buf) => {
      if (buf.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      s.close();
      resolve(buf[3] & 0xf);
    });
    s.send(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] }), port, '127.0.0.1');
  });
}

/**
 * One UDP query over `sock` (a bound socket a probe loop reuses); the decoded reply, or undefined
 * after `timeout` ms. `rd`: set the RD bit.
 */
export function askOver(sock, port, name, type, { rd = true, timeout = 1000 } = {}) {
  const id = (Math.random() * 65535) | 0;
  return new Promise((resolve) => {
    const t = setTimeout(() => (sock.off('message', on), resolve(undefined)), timeout);
    const on = (m) => {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(t);
      sock.off('message', on);
      resolve(dnsPacket.decode(m));
    };
    sock.on('message', on);
    sock.send(dnsPacket.encode({ type: 'query', id, flags: rd ? dnsPacket.RECURSION_DESIRED : 0, questions: [{ type, name }] }), port, '127.0.0.1');
  });
}

export const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** Start a process; resolves once `ready()` says so, rejects if it exits first or `timeoutMs` passes. */
export async function startProcess(label, cmd, args, ready, timeoutMs = 60_000) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  let out = '';
  const collect = (d) => {
    if (out.length < 20_000) out += d;
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
  const t0 = performance.now();
  for (;;) {
    const gone = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 50))]);
    if (gone !== undefined) throw new Error(`${label} exited (${gone.code ?? gone.sig}) before it was ready:\n${out}`);
    if (await ready(() => out)) break;
    if (performance.now() - t0 > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`${label} not ready after ${timeoutMs} ms:\n${out}`);
    }
  }
  return { child, exited, readyMs: performance.now() - t0, output: () => out };
}

export async function stopProcess(p) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r(undefined), 8000))]);
  if (done === undefined) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/** The process and its descendants (cluster workers). */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      // gone
    }
  }
  return out;
}

/** Peak RSS (VmHWM, kB) and CPU seconds (utime+stime; user: utime) of each process in the tree. */
export function sampleTree(pid) {
  const ticks = 100; // USER_HZ on Linux
  return processTree(pid).map((p) => {
    let hwm = 0;
    let cpu = 0;
    let user = 0;
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      hwm = m ? Number(m[1]) : 0;
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user = Number(f[11]) / ticks;
      cpu = user + Number(f[12]) / ticks;
    } catch {
      // gone
    }
    return { pid: p, hwmKb: hwm, cpu, user };
  });
}

/** Current RSS (VmRSS, kB) summed over the process and its descendants. */
export function rssTreeKb(pid) {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
    } catch {
      // gone
    }
  }
  return kb;
}

/** CPU seconds (user, sys) of this process's children that have been waited for (cutime, cstime). */
function reapedChildrenCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[13]) / 100, sys: Number(f[14]) / 100 };
}

/**
 * Run dnsperf once; parse its statistics and, with -v, every query's latency. dnsperf writes to a
 * temp file that is read after it exits, so that this process spends no CPU during the run (the
 * machine's cores are shared by dnsperf and the server). `dnsperfCpu` is dnsperf's own CPU time.
 * `extra`: more dnsperf arguments (`-m dot`, `-O doh-uri=…`: bench/transports.mjs).
 */
export async function dnsperf(port, queryFile, o, { duration = o.duration, once = false, latency = o.latency, maxQps = 0, extra = [], priority } = {}) {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-c', String(o.clients), '-q', String(o.outstanding), ...extra];
  if (maxQps > 0) args.push('-Q', String(Math.round(maxQps)));
  if (once) args.push('-n', '1');
  else args.push('-l', String(duration));
  if (latency) args.push('-v');
  const dir = mkdtempSync(path.join(tmpdir(), 'typedns-dnsperf-'));
  try {
    const outFile = path.join(dir, 'out');
    const fd = openSync(outFile, 'w');
    const cpu0 = reapedChildrenCpu();
    let child;
    try {
      child = spawn('dnsperf', args, { stdio: ['ignore', fd, 'pipe'] });
      // a caller that lowered its own priority (bench/hostile.mjs --nice) gives dnsperf this one
      if (priority !== undefined) setPriority(child.pid, priority);
    } finally {
      closeSync(fd);
    }
    let err = '';
    child.stderr.on('data', (d) => {
      if (err.length < 10_000) err += d;
    });
    // dnsperf's CPU during the timed run: sampled when the run's time is up (afterwards it only
    // waits for lost queries to time out); its whole-life figure when it ended before that.
    let inRun = NaN;
    const timer = once ? undefined : setTimeout(() => {
      try {
        const st = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fs = st.slice(st.lastIndexOf(')') + 2).split(' ');
        inRun = (Number(fs[11]) + Number(fs[12])) / 100;
      } catch {
        // already gone
      }
    }, duration * 1000);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    const cpu1 = reapedChildrenCpu();
    let lat = new Float64Array(1 << 20);
    let n = 0;
    const text = [];
    const rl = readline.createInterface({ input: createReadStream(outFile), crlfDelay: Infinity });
    for await (const line of rl) {
      // "> NOERROR name A 0.000213" (dnsperf -v: one line per answered query, latency in seconds)
      if (line.charCodeAt(0) === 62 && line.charCodeAt(1) === 32) {
        if (n === lat.length) {
          const bigger = new Float64Array(lat.length * 2);
          bigger.set(lat);
          lat = bigger;
        }
        lat[n++] = Number(line.slice(line.lastIndexOf(' ') + 1));
      } else text.push(line);
    }
    const all = text.join('\n');
    const num = (re) => {
      const m = re.exec(all);
      return m ? Number(m[1]) : NaN;
    };
    const res = {
      sent: num(/Queries sent:\s+(\d+)/),
      completed: num(/Queries completed:\s+(\d+)/),
      lost: num(/Queries lost:\s+(\d+)/),
      qps: num(/Queries per second:\s+([\d.]+)/),
      avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
      rcodes: (/Response codes:\s+(.*)/.exec(all)?.[1] ?? '').replace(/ \([\d.]+%\)/g, ''),
      p50Ms: NaN,
      p99Ms: NaN,
      dnsperfCpu: Number.isFinite(inRun) ? inRun : cpu1.user - cpu0.user + (cpu1.sys - cpu0.sys),
    };
    if (code !== 0 || Number.isNaN(res.qps)) throw new Error(`dnsperf failed (${code}):\n${all}\n${err}`);
    if (n > 0) {
      const s = lat.subarray(0, n).sort();
      res.p50Ms = s[Math.min(n - 1, Math.floor(n * 0.5))] * 1000;
      res.p99Ms = s[Math.min(n - 1, Math.floor(n * 0.99))] * 1000;
    }
    return res;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Load one server: optional warm-up pass, the timed run, then peak RSS and CPU of its process tree. */
export async function measure(label, proc, port, queryFile, o, warmup, upstream) {
  if (warmup) await dnsperf(port, queryFile, o, { once: true, latency: false });
  const before = sampleTree(proc.child.pid);
  const upBefore = upstream ? sampleTree(upstream.child.pid) : [];
  const r = await dnsperf(port, queryFile, o);
  const after = sampleTree(proc.child.pid);
  const upAfter = upstream ? sampleTree(upstream.child.pid) : [];
  const sum = (a, k) => a.reduce((s, p) => s + p[k], 0);
  const cpu = sum(after, 'cpu') - sum(before, 'cpu');
  const user = sum(after, 'user') - sum(before, 'user');
  // the upstream's CPU during the run (it shares the cores): undefined when there is none
  const upstreamCpu = upstream ? sum(upAfter, 'cpu') - sum(upBefore, 'cpu') : undefined;
  return { server: label, ...r, rssMb: sum(after, 'hwmKb') / 1024, processes: after.length, cpuSec: cpu, userSec: user, usPerQuery: (cpu * 1e6) / r.completed, readyMs: proc.readyMs, upstreamCpu };
}

/**
 * The node flags the typedns binary starts node with: the first line of dist/src/bin.js
 * (`#!/usr/bin/env -S node FLAGS`, src/bin.ts). The benches run `node FLAGS dist/src/cli.js`, so
 * that they measure what the `typedns` command runs.
 */
export function binNodeArgs() {
  const first = readFileSync(path.join(root, 'dist/src/bin.js'), 'utf8').split('\n')[0];
  return (/^#!.*\bnode((?:\s+-\S+)*)\s*$/.exec(first)?.[1] ?? '').split(' ').filter(Boolean);
}

/** A server that reads the same Corefile (CoreDNS: `-conf FILE -quiet`), ready once the probe answers. */
function startPeer(label, cmd, args, port, probe) {
  return startProcess(label, cmd, args, async () => {
    const rc = await queryRcode(port, probe[0], probe[1], 500);
    return rc !== -1 && rc !== 2 && rc !== 5;
  });
}

export async function startTypedns(corefile, port, probe, workers, nodeArgs = binNodeArgs()) {
  const args = [...nodeArgs, cli, '-conf', corefile, '-quiet'];
  if (workers !== '1') args.push('-workers', workers);
  return startPeer(`typedns (${corefile})`, process.execPath, args, port, probe);
}

/**
 * A workload's data in `dir`: free port, the upstream when it needs one (pushed onto `procs` for
 * the caller to stop; `upstream` 'knot': knotd, else bench/upstream.mjs), and its Corefile and
 * dnsperf query file written out. `upstreamProc` is the upstream's process (or undefined).
 */
export async function prepareWorkload(w, dir, procs, upstream = 'bench') {
  const port = await freePort();
  let upstreamPort = 0;
  let upstreamProc;
  if (w.upstream) {
    upstreamPort = await freePort();
    if (upstream === 'knot') {
      // ready once it answers a name of the zone (NOERROR)
      upstreamProc = await startProcess('knotd', KNOTD, knotFiles(dir, upstreamPort), async () => (await queryRcode(upstreamPort, 'name-1.upstream.test.', 'A', 300)) === 0);
    } else {
      upstreamProc = await startProcess('upstream', process.execPath, [path.join(here, 'upstream.mjs'), '--port', String(upstreamPort)], async (out) => out().includes('ready'));
    }
    procs.push(upstreamProc);
  }
  const data = w.setup(dir, { port, upstreamPort });
  const corefile = path.join(dir, 'Corefile');
  const queryFile = path.join(dir, 'queries.txt');
  writeFileSync(corefile, data.corefile);
  writeFileSync(queryFile, data.queries.join('\n') + '\n');
  return { port, upstreamPort, upstreamProc, data, corefile, queryFile };
}

async function runWorkload(name, o, available) {
  const w = workloads[name];
  const missing = w.plugins.filter((p) => !available.has(p));
  if (missing.length > 0) return { workload: name, skipped: `plugin(s) not built in yet: ${missing.join(', ')}` };
  const dir = mkdtempSync(path.join(tmpdir(), `typedns-bench-${name}-`));
  const procs = [];
  try {
    const { port, upstreamPort, upstreamProc, data, corefile, queryFile } = await prepareWorkload(w, dir, procs, o.upstream);
    const recordsFile = path.join(dir, 'records.json');
    writeFileSync(recordsFile, JSON.stringify(data.records));
    const results = [];
    let missRcode = 'NXDOMAIN';
    const runs = o.compareWorkers ? ['1', o.compareWorkers] : [o.workers];
    for (const workers of runs) {
      const t = await startTypedns(corefile, port, data.probe, workers);
      procs.push(t);
      if (data.miss) {
        const rc = await queryRcode(port, data.miss[0], data.miss[1]);
        if (rc >= 0) missRcode = RCODE_NAMES[rc] ?? String(rc);
      }
      results.push(await measure(workers === '1' ? 'typedns' : `typedns -workers ${workers}`, t, port, queryFile, o, w.warmup, upstreamProc));
      await stopProcess(t);
    }
    if (o.coredns !== undefined) {
      if (name === 'kubernetes') {
        results.push({ server: 'coredns', skipped: 'the kubernetes workload reads manifests (typedns only); CoreDNS needs an API server (bench/k8s-scale.ts)' });
      } else {
        // the same Corefile, port and load (the port is free again: typedns has stopped)
        const c = await startPeer('coredns', o.coredns, ['-conf', corefile, '-quiet'], port, data.probe);
        procs.push(c);
        results.push(await measure('coredns', c, port, queryFile, o, w.warmup, upstreamProc));
        await stopProcess(c);
      }
    }
    if (o.naive) {
      const naivePort = await freePort();
      const nv = await startProcess('naive', process.execPath, [path.join(here, 'naive-server.mjs'), '--port', String(naivePort), '--records', recordsFile, '--miss-rcode', missRcode], async (out) => out().includes('ready'));
      procs.push(nv);
      results.push(await measure('naive', nv, naivePort, queryFile, o, false));
      await stopProcess(nv);
    }
    if (o.upstream === 'knot' && upstreamProc !== undefined) {
      // Knot queried directly, same load: what the upstream alone does on these cores
      results.push(await measure('knot (direct)', upstreamProc, upstreamPort, queryFile, o, false));
    }
    return { workload: name, describe: describeWith(w, o), corefile: data.corefile, results };
  } finally {
    for (const p of procs) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const cores = (await import('node:os')).availableParallelism();

function report(r, o) {
  const lines = [];
  lines.push(`\n## ${r.workload}${r.describe ? `: ${r.describe}` : ''}`);
  if (r.skipped) {
    lines.push(`skipped: ${r.skipped}`);
    return lines.join('\n');
  }
  lines.push(`dnsperf -c ${o.clients} -q ${o.outstanding} -l ${o.duration}${o.latency ? ' -v' : ''}`);
  lines.push('| server | qps | p50 ms | p99 ms | avg ms | lost | peak RSS MB | server CPU s (user) | server CPU µs/query | dnsperf CPU s | ready ms | rcodes |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const x of r.results.filter((y) => y.skipped !== undefined)) lines.push(`${x.server}: not run: ${x.skipped}`);
  r = { ...r, results: r.results.filter((y) => y.skipped === undefined) };
  for (const x of r.results) {
    lines.push(
      `| ${x.server}${x.processes > 1 ? ` (${x.processes} procs)` : ''} | ${f(x.qps)} | ${f(x.p50Ms, 2)} | ${f(x.p99Ms, 2)} | ${f(x.avgMs, 2)} | ${x.lost} | ${f(x.rssMb, 1)} | ${f(x.cpuSec, 1)} (${f(x.userSec, 1)}) | ${f(x.usPerQuery, 2)} | ${f(x.dnsperfCpu, 1)} | ${f(x.readyMs)} | ${x.rcodes} |`,
    );
  }
  const base = r.results.find((x) => x.server === 'naive') ?? r.results[0];
  const knot = r.results.find((x) => x.server === 'knot (direct)');
  const coredns = r.results.find((x) => x.server === 'coredns');
  for (const x of r.results) {
    if (x === knot) continue;
    if (coredns !== undefined && x !== coredns && x.server !== 'naive') {
      lines.push(`${x.server} / coredns: qps ${f(x.qps / coredns.qps, 2)}, p99 ${f(x.p99Ms / coredns.p99Ms, 2)}, peak RSS ${f(x.rssMb / coredns.rssMb, 2)}, queries per server CPU second ${f(coredns.usPerQuery / x.usPerQuery, 2)}`);
    }
    if (knot !== undefined) lines.push(`${x.server} / knot (direct): qps ${f(x.qps / knot.qps, 2)}, p99 ${f(x.p99Ms / knot.p99Ms, 2)}`);
    if (x === base) continue;
    lines.push(
      `${x.server} / ${base.server}: qps ${f(x.qps / base.qps, 2)}, p99 ${f(x.p99Ms / base.p99Ms, 2)}, peak RSS ${f(x.rssMb / base.rssMb, 2)}, queries per server CPU second ${f(base.usPerQuery / x.usPerQuery, 2)}`,
    );
  }
  // dnsperf (a sender and a receiver thread) and the server share the machine's cores; when both
  // are busy, qps ≈ cores / (server + dnsperf CPU per query): a server's qps depends on what it
  // costs dnsperf as well as on its own cost, and dnsperf's cost per query falls as the server
  // answers faster (fewer idle wake-ups).
  for (const x of r.results) {
    if (!Number.isFinite(x.dnsperfCpu) || !(x.completed > 0)) continue;
    const d = (x.dnsperfCpu * 1e6) / x.completed;
    const up = x.upstreamCpu ?? 0;
    const busy = (x.cpuSec + x.dnsperfCpu + up) / (o.duration * cores);
    const upText = x.upstreamCpu === undefined ? '' : ` + ${f((up * 1e6) / x.completed, 2)} µs upstream`;
    lines.push(`${x.server}: CPU per query ${f(x.usPerQuery, 2)} µs server + ${f(d, 2)} µs dnsperf${upText}; ${cores} cores ${f(100 * busy)} % busy`);
  }
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const available = prepareRun(o);
  process.stdout.write(`# typedns benchmark ${new Date().toISOString()} (node ${process.version}, ${(await import('node:os')).availableParallelism()} CPUs)\n`);
  const all = [];
  for (const name of o.names) {
    const r = await runWorkload(name, o, available);
    all.push(r);
    process.stdout.write(report(r, o) + '\n');
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), options: o, results: all }, null, 2));
}

// bench/steady.mjs and bench/soak.mjs import the helpers above; only `node bench/run.mjs` runs main.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
