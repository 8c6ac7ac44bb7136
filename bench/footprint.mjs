// Memory footprint of the small configurations (#17): starts typedns (dist/, `npm run build`
// first) with the hosts, cache and forward workloads of workloads.mjs, reads /proc/PID/smaps_rollup
// when idle (after start and a probe) and every 200 ms under dnsperf load, and prints RSS and the
// private (not shared with other processes) part: Private_Dirty is the process's own memory (heap,
// code compiled at run time); the rest of RSS is the node binary's pages, shared by every node
// process on the host. The floor is a bare `node -e 'setInterval(() => {}, 1e9)'`.
//
//   node bench/footprint.mjs [--seconds 10] [--warmup 0] [--workloads hosts,cache,forward] [--node-flags "..."] [--breakdown]
//
// --warmup S loads the server for S seconds (dnsperf, same options, not measured) before the
// measured run: with S past the server's first periodic release of unused pages (30 s after it
// is ready, src/server/trim.ts) the measured run shows RSS once the optimizing compiler has
// warmed up, without the compiler's pages of the warm-up.
//
// The server gets the node flags the typedns binary sets for itself (the first line of
// dist/src/bin.js) unless --node-flags says otherwise (--node-flags "": node's defaults).
//
// --breakdown preloads bench/heap-report.mjs into the server and prints, idle and at the end of the
// load, where its memory is: V8's spaces (committed / used MB), external and ArrayBuffer memory.
//
// Needs dnsperf. Traffic stays on 127.0.0.1 (the upstream is bench/upstream.mjs).
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { workloads } from './workloads.mjs';
import { binNodeArgs } from './run.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const seconds = Number(opt('--seconds', '10'));
const warmup = Number(opt('--warmup', '0'));
const names = opt('--workloads', 'hosts,cache,forward').split(',');
// By default the server runs with the flags the typedns binary gives node (its first line,
// src/bin.ts); --node-flags "" runs it with node's defaults.
const nodeFlags = args.includes('--node-flags') ? opt('--node-flags', '').split(' ').filter(Boolean) : binNodeArgs();
const breakdown = args.includes('--breakdown');
const reportFile = path.join(tmpdir(), `typedns-heap-report-${process.pid}.jsonl`);

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** Rss, Private_Dirty and Private_Clean+Private_Dirty of a process, in MB. */
function smaps(pid) {
  const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)[1]);
  return { rss: kb('Rss') / 1024, dirty: kb('Private_Dirty') / 1024, priv: (kb('Private_Dirty') + kb('Private_Clean')) / 1024 };
}

/** Start `cmd`, resolve with the child once its output matches `re`. */
function start(cmd, argv, re) {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const on = (d) => {
      out += d;
      if (re.test(out)) resolve(child);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (c) => reject(new Error(`${argv.join(' ')} exited ${c}: ${out}`)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (m) => `${m.rss.toFixed(1)} / ${m.dirty.toFixed(1)}`;

async function floor() {
  const c = spawn(process.execPath, [...nodeFlags, '-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
  await sleep(1500);
  const m = smaps(c.pid);
  c.kill();
  return m;
}

async function one(name) {
  const w = workloads[name];
  const dir = mkdtempSync(path.join(tmpdir(), 'typedns-footprint-'));
  const port = await freePort();
  let upstream;
  try {
    let upstreamPort;
    if (w.upstream) {
      upstreamPort = await freePort();
      upstream = await start(process.execPath, [path.join(ROOT, 'bench/upstream.mjs'), '--port', String(upstreamPort)], /ready/);
    }
    const s = w.setup(dir, { port, upstreamPort });
    writeFileSync(path.join(dir, 'Corefile'), s.corefile);
    writeFileSync(path.join(dir, 'queries'), s.queries.join('\n') + '\n');
    const preload = breakdown ? ['--import', path.join(ROOT, 'bench/heap-report.mjs')] : [];
    if (breakdown) process.env.HEAP_REPORT_FILE = reportFile;
    rmSync(reportFile, { force: true });
    const server = await start(process.execPath, [...nodeFlags, ...preload, path.join(ROOT, 'dist/src/bin.js'), '-conf', path.join(dir, 'Corefile')], /typedns-\d/);
    const perf = (secs) =>
      new Promise((resolve) =>
        execFile('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', path.join(dir, 'queries'), '-c', '8', '-q', '200', '-l', String(secs)], (_e, so) => resolve(so)),
      );
    try {
      await sleep(2000);
      const idle = smaps(server.pid);
      if (breakdown) server.kill('SIGUSR2');
      if (warmup > 0) await perf(warmup);
      let peak = { rss: 0, dirty: 0, priv: 0 };
      const t = setInterval(() => {
        const m = smaps(server.pid);
        if (m.rss > peak.rss) peak = m;
      }, 200);
      const out = await perf(seconds);
      clearInterval(t);
      const after = smaps(server.pid);
      if (breakdown) {
        server.kill('SIGUSR2');
        await sleep(300);
        const lines = readFileSync(reportFile, 'utf8').trim().split('\n');
        for (const [i, l] of lines.entries()) console.log(`  ${name} ${i === 0 ? 'idle' : 'after load'}: ${l}`);
      }
      const qps = /Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? '?';
      const lost = /Queries lost:\s+(\d+)/.exec(out)?.[1] ?? '?';
      return { name, idle, peak, after, qps: Math.round(Number(qps)), lost };
    } finally {
      server.kill('SIGTERM');
    }
  } finally {
    upstream?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = await floor();
console.log(`node ${process.version} ${nodeFlags.join(' ')}; MB as RSS / Private_Dirty; ${seconds} s of dnsperf -c 8 -q 200${warmup > 0 ? ` after ${warmup} s of it` : ''}`);
console.log(`| workload | idle | peak under load | after load | qps | lost |`);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
console.log(`| bare node (floor) | ${fmt(f)} | | | | |`);
for (const n of names) {
  const r = await one(n);
  console.log(`| ${r.name} | ${fmt(r.idle)} | ${fmt(r.peak)} | ${fmt(r.after)} | ${r.qps} | ${r.lost} |`);
}
