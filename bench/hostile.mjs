#!/usr/bin/env node
// The hostile mix: dnsperf measures UDP answers from a hosts file at a fixed rate, once on a quiet
// server and once while, at the same time,
//   - TCP clients pipeline queries and never read the replies,
//   - one TCP client pipelines queries that go to forward (and reads them),
//   - a slowloris holds hundreds of half-sent HTTP requests on /metrics and /health,
//   - the Corefile is replaced by one that imports itself and SIGUSR1 asks for a reload (then the
//     good one comes back),
//   - a big zone file (1,000,000 records by default) is touched so that every reload tick of
//     `file` looks at it.
// With --doh the Corefile also has an `https://` block (DoH with a throw-away certificate from the
// openssl CLI), present in both runs, and the hostile run adds DoH attackers against it:
//   - HTTP/2 sessions with a zero flow-control window, 100 streams of ~48 KB answers each,
//   - HTTP/1.1 (TLS) connections that pipeline requests for those answers and never read,
//   - slow POSTs: HTTP/2 streams and HTTP/1.1 connections whose bodies come a byte at a time,
//   - an HTTP/2 session that sends 100 POST bodies of 64,000 bytes short of their Content-Length;
// each reconnects (or opens a new stream) when the server closes it. An honest DoH client asks
// every 20 ms on its own HTTP/2 session in both runs; its answers, failures and p99 are printed.
// It prints lost queries, p50/p99 of both runs, the server's RSS (sampled every 250 ms), the CPU
// seconds each process spent in each run (server, bench upstream, this process — the attackers —
// and dnsperf), and the replies the forward client got, by rcode.
//
// dnsperf is its own process and times every query itself, so this process's event loop (the
// attackers run in it) does not enter the latencies; its CPU does compete for the cores, which is
// why it is printed.
//
//   npm run build && node bench/hostile.mjs [--duration 20] [--rate 20000] [--zone-records 1000000] [--no-build]
//     [--skip tcp,forward,slowloris,reload,touch] [--cpu-prof DIR] [--upstream-udp-only] [--doh]
// --skip leaves attackers out (to find which one costs what); --cpu-prof DIR writes the server's
// V8 CPU profile there when it stops (open it in Chrome's DevTools). The bench upstream answers
// over UDP and TCP (forward asks over TCP what came over TCP); --upstream-udp-only makes it refuse
// TCP, as it did before: then every query of the forward client fails (SERVFAIL) after its
// upstream connections are refused.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { RCODE_NAMES, binNodeArgs, dnsperf, ensureDnsperf, freePort, here, parseOptions, root, rssTreeKb, sampleTree, startProcess, startTypedns, stopProcess } from './run.mjs';

const USAGE = 'node bench/hostile.mjs [--duration S] [--rate QPS] [--zone-records N] [--no-build] [--skip tcp,forward,slowloris,reload,touch] [--cpu-prof DIR] [--upstream-udp-only] [--loop-delay] [--nice N] [--node-flags="..."] [--doh]';
const { o } = parseOptions(
  process.argv.slice(2),
  {
    duration: { key: 'duration', type: 'number', default: 20 },
    rate: { key: 'rate', type: 'number', default: 20000 },
    'zone-records': { key: 'zoneRecords', type: 'number', default: 1_000_000 },
    'no-build': { key: 'build', type: 'boolean', value: false, default: true },
    skip: { key: 'skip', type: 'string', default: '' },
    'cpu-prof': { key: 'cpuProf', type: 'string', default: '' },
    'upstream-udp-only': { key: 'upstreamTcp', type: 'boolean', value: false, default: true },
    'loop-delay': { key: 'loopDelay', type: 'boolean', value: true, default: false },
    nice: { key: 'nice', type: 'number', default: 0 },
    'node-flags': { key: 'nodeFlags', type: 'string', default: undefined },
    doh: { key: 'doh', type: 'boolean', default: false },
  },
  USAGE,
);
const { duration, rate, zoneRecords } = o;
const skip = new Set(o.skip.split(',').filter((x) => x !== ''));
for (const x of skip) if (!['tcp', 'forward', 'slowloris', 'reload', 'touch', 'doh-h2', 'doh-h1', 'doh-slow', 'doh-big'].includes(x)) throw new Error(`--skip: unknown attacker '${x}'`);

/** What the DoH attackers saw: connections (or streams) the server closed, by attacker; replies by status. */
const dohSeen = { closed: {}, statuses: {} };

/** The forward client's queries sent, and its replies by rcode name. */
const fwdSent = { n: 0 };
const fwdReplies = {};

if (o.build) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
ensureDnsperf();

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-hostile-'));
const procs = [];
const sockets = [];
try {
  const port = await freePort();
  const httpPort = await freePort();
  const healthPort = await freePort();
  const upstreamPort = await freePort();
  const upstream = await startProcess('upstream', process.execPath, [path.join(here, 'upstream.mjs'), '--port', String(upstreamPort), ...(o.upstreamTcp ? ['--tcp'] : [])], async (out) => out().includes('ready'));
  procs.push(upstream);
  if (o.nice !== 0) {
    // the attackers (this process) and the bench upstream stand for other machines: with --nice
    // they get the cores after the server and dnsperf (which is given priority 0 again)
    setPriority(upstream.child.pid, o.nice);
    setPriority(o.nice);
  }

  const hostsFile = path.join(dir, 'hosts');
  const lines = [];
  for (let i = 0; i < 1000; i++) lines.push(`10.0.${Math.floor(i / 250)}.${(i % 250) + 1} host-${i}.bench.test`);
  writeFileSync(hostsFile, lines.join('\n') + '\n');
  const zoneFile = path.join(dir, 'db.big.zone');
  {
    const z = ['$ORIGIN big.zone.', '@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300', '@ 3600 IN NS ns1', 'ns1 3600 IN A 192.0.2.1'];
    for (let i = 0; i < zoneRecords; i++) z.push(`r${i} 3600 IN A 10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`);
    writeFileSync(zoneFile, z.join('\n') + '\n');
  }
  const corefile = path.join(dir, 'Corefile');
  let good = `.:${port} {
    bind 127.0.0.1
    prometheus 127.0.0.1:${httpPort}
    health 127.0.0.1:${healthPort}
    hosts ${hostsFile} {
        fallthrough
    }
    forward . 127.0.0.1:${upstreamPort}
}
big.zone:${port} {
    bind 127.0.0.1
    file ${zoneFile} {
        reload 2s
    }
}
`;
  let dohPort = 0;
  let ca;
  if (o.doh) {
    // the DoH block: a throw-away certificate, and a name with a ~48 KB answer (3,000 A records)
    dohPort = await freePort();
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
    ca = readFileSync(path.join(dir, 'cert.pem'));
    const dohHosts = path.join(dir, 'doh-hosts');
    writeFileSync(dohHosts, [...lines, ...Array.from({ length: 3000 }, (_, i) => `10.9.${i >> 8}.${i & 255} big.doh.test`)].join('\n') + '\n');
    good += `https://.:${dohPort} {
    bind 127.0.0.1
    tls ${path.join(dir, 'cert.pem')} ${path.join(dir, 'key.pem')}
    hosts ${dohHosts}
}
`;
  }
  writeFileSync(corefile, good);
  const queryFile = path.join(dir, 'queries.txt');
  writeFileSync(queryFile, Array.from({ length: 10_000 }, (_, i) => `host-${(i * 7) % 1000}.bench.test. A`).join('\n') + '\n');

  const t0 = Date.now();
  // --node-flags: the server's node flags; by default the ones the typedns binary sets for itself
  // (--node-flags= for node's defaults)
  o.nodeFlags ??= binNodeArgs().join(' ');
  const nodeArgs = [...o.nodeFlags.split(' ').filter((x) => x !== ''), ...(o.cpuProf === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(o.cpuProf)])];
  const delayFile = path.join(dir, 'loop-delay.txt');
  if (o.loopDelay) {
    process.env.TYPEDNS_LOOP_DELAY_FILE = delayFile;
    process.env.TYPEDNS_LOOP_GC_FILE = path.join(dir, 'gc.txt');
    process.env.TYPEDNS_UDP_GAPS_FILE = path.join(dir, 'udp-gaps.txt');
    if (o.cpuProf !== '') process.env.TYPEDNS_LOOP_STALLS_FILE = path.join(path.resolve(o.cpuProf), 'stalls.txt');
    nodeArgs.push('-r', path.join(here, 'loop-delay.cjs'));
  }
  const server = await startTypedns(corefile, port, ['host-1.bench.test.', 'A'], '1', nodeArgs);
  procs.push(server);
  const pid = server.child.pid;
  console.log(`typedns up in ${((Date.now() - t0) / 1000).toFixed(1)} s with a ${zoneRecords.toLocaleString()}-record zone; RSS ${(rssTreeKb(pid) / 1024).toFixed(0)} MB`);

  const load = { clients: 4, outstanding: 100, latency: true, duration };
  const cpuOf = (p) => sampleTree(p).reduce((s, x) => s + x.cpu, 0);
  const selfCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  /** The server's GC pauses between t0 and t1 (epoch ms), from bench/loop-delay.cjs: by kind, count and ms; the longest. */
  const gcPauses = (t0, t1) => {
    const f = path.join(dir, 'gc.txt');
    if (!existsSync(f)) return '';
    // the file's times are CLOCK_MONOTONIC µs, this process's clock too
    const mono = (epochMs) => Number(process.hrtime.bigint() / 1000n) - (Date.now() - epochMs) * 1000;
    const [m0, m1] = [mono(t0), mono(t1)];
    const names = { 1: 'scavenge', 2: 'minor mark-sweep', 4: 'mark-compact', 8: 'incremental', 16: 'weak callbacks' };
    const by = new Map();
    for (const [t, ms, kind] of readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split(' ').map(Number))) {
      if (t < m0 || t > m1) continue;
      const k = names[kind] ?? String(kind);
      const e = by.get(k) ?? { n: 0, ms: 0, max: 0 };
      e.n++;
      e.ms += ms;
      e.max = Math.max(e.max, ms);
      by.set(k, e);
    }
    return [...by].map(([k, e]) => `${k} ${e.n} × (${e.ms.toFixed(0)} ms, longest ${e.max.toFixed(1)})`).join(', ');
  };
  /** The server's event-loop delay in the run started at t0 (epoch ms), from bench/loop-delay.cjs's lines. */
  const loopDelay = (t0, t1) => {
    t1 = Math.min(t1, t0 + (duration + 1) * 1000); // the dnsperf run, not its wait for late replies
    if (!o.loopDelay || !existsSync(delayFile)) return undefined;
    const secs = readFileSync(delayFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split(' ').map(Number)).filter(([t]) => t > t0 && t <= t1);
    if (secs.length === 0) return undefined;
    return {
      max: Math.max(...secs.map((x) => x[1])),
      p99: secs.reduce((a, x) => a + x[2], 0) / secs.length,
      over10: secs.filter((x) => x[1] > 10).length,
      over20: secs.filter((x) => x[1] > 20).length,
      maxes: secs.map((x) => x[1].toFixed(0)).join(' '),
      gc: gcPauses(t0, t1),
      gaps: udpGaps(t0, t1),
    };
  };
  /** Gaps between the server's reads of its UDP listener in the run (src/server/udp-native.ts TYPEDNS_UDP_GAPS_FILE; native listener only). */
  const udpGaps = (t0, t1) => {
    const f = path.join(dir, 'udp-gaps.txt');
    if (!existsSync(f)) return '';
    const secs = readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split(' ').map(Number)).filter(([t]) => t > t0 + 2000 && t <= t1);
    // (from the run's third second: the lines are a second apart from any phase, and the one that
    // holds the run's first read has the pause before the run as its longest gap)
    if (secs.length === 0) return '';
    const sum = (k) => secs.reduce((a, x) => a + x[k], 0);
    const most = (k) => Math.max(...secs.map((x) => x[k] ?? 0)).toFixed(1);
    return `${sum(1).toLocaleString()} reads; longest gap ${most(2)} ms, gaps over 1 / 2 / 5 ms: ${sum(3)} / ${sum(4)} / ${sum(5)}; the server's own CPU in a gap: longest ${most(6)} ms, over 1 / 2 / 5 ms: ${sum(7)} / ${sum(8)} / ${sum(9)}`;
  };
  /** The server's main thread: seconds it waited for a core (run queue) and its involuntary switches (/proc schedstat, status). */
  const schedOf = () => {
    try {
      const [, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      const inv = Number(/nonvoluntary_ctxt_switches:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))?.[1] ?? NaN);
      return [wait / 1e9, inv];
    } catch {
      return [NaN, NaN];
    }
  };
  /** The server's read and write system calls so far (/proc io: syscr, syscw; TCP reads and writes, not the UDP batches' recvmmsg/sendmmsg). */
  const ioOf = () => {
    try {
      const t = readFileSync(`/proc/${pid}/io`, 'utf8');
      return [Number(/syscr:\s*(\d+)/.exec(t)?.[1]), Number(/syscw:\s*(\d+)/.exec(t)?.[1])];
    } catch {
      return [NaN, NaN];
    }
  };
  const run = async (label, during) => {
    const tStart = Date.now();
    const sched0 = schedOf();
    const io0 = ioOf();
    // CLOCK_MONOTONIC µs, the clock of a V8 CPU profile's timestamps: the run's window in --cpu-prof
    const mono0 = Number(process.hrtime.bigint() / 1000n);
    const cpu0 = [cpuOf(pid), cpuOf(upstream.child.pid), selfCpu()];
    let maxRss = 0;
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, rssTreeKb(pid));
    }, 250);
    const stop = during?.();
    const probe = o.doh ? dohProbe(dohPort, ca) : undefined;
    const r = await dnsperf(port, queryFile, load, { maxQps: rate, priority: o.nice === 0 ? undefined : 0 });
    await stop?.();
    const doh = await probe?.();
    clearInterval(sampler);
    maxRss = Math.max(maxRss, rssTreeKb(pid));
    const cpu1 = [cpuOf(pid), cpuOf(upstream.child.pid), selfCpu()];
    const cpu = { server: cpu1[0] - cpu0[0], upstream: cpu1[1] - cpu0[1], bench: cpu1[2] - cpu0[2], dnsperf: r.dnsperfCpu };
    const sched1 = schedOf();
    const io1 = ioOf();
    const waited = { wait: sched1[0] - sched0[0], preempted: sched1[1] - sched0[1], reads: io1[0] - io0[0], writes: io1[1] - io0[1] };
    return { label, ...r, doh, waited, maxRssMb: maxRss / 1024, cpu, delay: loopDelay(tStart, Date.now()), window: [mono0, mono0 + duration * 1e6] };
  };

  const quiet = await run('quiet');
  const hostile = await run('hostile mix', () => attack({ port, httpPort, healthPort, corefile, good, zoneFile, pid, dohPort, ca }));
  const after = rssTreeKb(pid) / 1024;

  console.log('\n| run | qps | lost | p50 ms | p99 ms | max RSS MB | rcodes |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of [quiet, hostile]) console.log(`| ${r.label} | ${r.qps.toFixed(0)} | ${r.lost} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxRssMb.toFixed(0)} | ${r.rcodes} |`);
  console.log('\nCPU seconds in each run (server / bench upstream / this process: the attackers / dnsperf):');
  for (const r of [quiet, hostile]) console.log(`  ${r.label}: ${r.cpu.server.toFixed(2)} / ${r.cpu.upstream.toFixed(2)} / ${r.cpu.bench.toFixed(2)} / ${r.cpu.dnsperf.toFixed(2)}`);
  console.log("The server's main thread waited for a core (run queue, s) and was preempted (involuntary switches):");
  for (const r of [quiet, hostile]) console.log(`  ${r.label}: ${r.waited.wait.toFixed(2)} s, ${r.waited.preempted} times; its read / write system calls: ${r.waited.reads} / ${r.waited.writes}`);
  if (o.cpuProf !== '') console.log(`\nThe runs in the CPU profile's clock (µs): quiet ${quiet.window.join('–')}, hostile ${hostile.window.join('–')}.`);
  if (o.loopDelay) {
    console.log('\nServer event-loop delay per second (max ms; mean of the seconds\' p99; seconds with max > 10 / > 20 ms):');
    for (const r of [quiet, hostile]) {
      const d = r.delay;
      if (d !== undefined) console.log(`  ${r.label}: max ${d.max.toFixed(1)}, p99 ${d.p99.toFixed(1)}, ${d.over10} / ${d.over20} s; maxima: ${d.maxes}`);
      if (d?.gc) console.log(`    GC: ${d.gc}`);
      if (d?.gaps) console.log(`    UDP reads: ${d.gaps}`);
    }
  }
  if (!skip.has('forward')) {
    const got = Object.entries(fwdReplies).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`The forward client sent ${fwdSent.n.toLocaleString()} queries and got ${got || 'no reply'}${o.upstreamTcp ? '' : ' (--upstream-udp-only: upstream TCP refused)'}.`);
  }
  if (o.doh) {
    console.log('\nThe honest DoH client (one HTTP/2 session, a GET every 20 ms):');
    for (const r of [quiet, hostile]) console.log(`  ${r.label}: ${r.doh.sent} asked, ${r.doh.ok} answered, ${r.doh.failed} failed; p99 ${r.doh.p99.toFixed(1)} ms, max ${r.doh.max.toFixed(1)} ms`);
    const closed = Object.entries(dohSeen.closed).map(([k, v]) => `${k} ${v}`).join(', ');
    const statuses = Object.entries(dohSeen.statuses).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`The DoH attackers were closed by the server (connections; slow HTTP/2 POSTs: streams): ${closed || 'never'}; the statuses they got: ${statuses || 'none'}.`);
  }
  console.log(`\nRSS after the attackers left: ${after.toFixed(0)} MB. p99 hostile / quiet: ${(hostile.p99Ms / quiet.p99Ms).toFixed(2)}×.`);
  if (skip.size > 0) console.log(`Left out: ${[...skip].join(', ')}.`);
  console.log(`Load: ${rate} qps for ${duration} s (dnsperf -c 4 -q 100 -Q ${rate}); command: node bench/hostile.mjs --duration ${duration} --rate ${rate} --zone-records ${zoneRecords}${o.upstreamTcp ? '' : ' --upstream-udp-only'}${o.doh ? ' --doh' : ''}${o.nodeFlags === '' ? '' : ` --node-flags="${o.nodeFlags}"`}`);
} finally {
  for (const s of sockets) s.destroy();
  for (const p of procs.reverse()) await stopProcess(p);
  rmSync(dir, { recursive: true, force: true });
}

/** Start every attacker; resolves to a function that stops them. */
function attack({ port, httpPort, healthPort, corefile, good, zoneFile, pid, dohPort, ca }) {
  const timers = [];
  const stopDoh = o.doh ? attackDoh(dohPort, ca) : undefined;
  const frame = (name, type, id) => {
    const q = dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] });
    const b = Buffer.alloc(2 + q.length);
    b.writeUInt16BE(q.length, 0);
    q.copy(b, 2);
    return b;
  };
  // 1. never-reading TCP clients: each writes 20,000 pipelined queries and reads nothing
  for (let c = 0; c < (skip.has('tcp') ? 0 : 8); c++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    sockets.push(s);
    s.on('connect', () => {
      s.pause();
      const chunk = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(`host-${i}.bench.test`, 'TXT', i)));
      let n = 0;
      const push = () => {
        while (n < 20 && s.write(chunk)) n++;
        if (n < 20) s.once('drain', push);
      };
      push();
    });
  }
  // 2. one client pipelining 5,000 queries that go to forward, reading the answers; again every 2 s
  const fwdBurst = Buffer.concat(Array.from({ length: 5000 }, (_, i) => frame(`f${i}.fwd.example`, 'A', i)));
  const fwd = () => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    sockets.push(s);
    let held = Buffer.alloc(0);
    s.on('data', (d) => {
      const b = held.length === 0 ? d : Buffer.concat([held, d]);
      let pos = 0;
      for (let len; pos + 2 <= b.length && pos + 2 + (len = b.readUInt16BE(pos)) <= b.length; pos += 2 + len) {
        const rc = RCODE_NAMES[b[pos + 2 + 3] & 0x0f] ?? String(b[pos + 2 + 3] & 0x0f);
        fwdReplies[rc] = (fwdReplies[rc] ?? 0) + 1;
      }
      held = Buffer.from(b.subarray(pos));
    });
    s.on('connect', () => {
      fwdSent.n += 5000;
      s.write(fwdBurst);
    });
    timers.push(setTimeout(() => s.destroy(), 1900));
  };
  if (!skip.has('forward')) {
    fwd();
    timers.push(setInterval(fwd, 2000));
  }
  // 3. slowloris: 500 connections to each HTTP listener, one header byte every second (only to
  // them: a DNS connection still connecting has no remotePort yet, and a stray byte would shift
  // its frames)
  const lorises = [];
  for (const p of skip.has('slowloris') ? [] : [httpPort, healthPort]) {
    for (let c = 0; c < 500; c++) {
      const s = net.connect({ host: '127.0.0.1', port: p });
      s.on('error', () => {});
      sockets.push(s);
      lorises.push(s);
      s.on('connect', () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
    }
  }
  timers.push(
    setInterval(() => {
      for (const s of lorises) if (!s.destroyed) s.write('X');
    }, 1000),
  );
  // 4. a self-importing Corefile and SIGUSR1, every 3 s; the good one back in between
  let bad = false;
  if (!skip.has('reload')) timers.push(
    setInterval(() => {
      bad = !bad;
      writeFileSync(corefile, bad ? `import ${path.basename(corefile)}\n` : good);
      process.kill(pid, 'SIGUSR1');
    }, 3000),
  );
  // 5. the big zone touched: every reload tick of `file` sees a new mtime (same serial)
  if (!skip.has('touch')) timers.push(
    setInterval(() => {
      const t = new Date();
      utimesSync(zoneFile, t, t);
    }, 1000),
  );
  return async () => {
    for (const t of timers) clearInterval(t);
    stopDoh?.();
    writeFileSync(corefile, good);
    for (const s of sockets.splice(0)) s.destroy();
  };
}

/** The path of a DoH GET for `name` A (a function: the run above starts before the module's end is evaluated). */
function dohGet(name) {
  return `/dns-query?dns=${dnsPacket.encode({ id: 0, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] }).toString('base64url')}`;
}

/** An honest DoH client: one HTTP/2 session, a GET every 20 ms; resolves, when stopped, to what it saw. */
function dohProbe(port, ca) {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
  session.on('error', () => {});
  const took = [];
  let sent = 0;
  let failed = 0;
  const ask = () => {
    sent++;
    const t0 = performance.now();
    const s = session.request({ ':path': dohGet(`host-${sent % 1000}.bench.test`) });
    let ok = false;
    s.setTimeout(2000, () => s.close(http2.constants.NGHTTP2_CANCEL));
    s.on('response', (h) => (ok = h[':status'] === 200));
    s.on('error', () => {});
    s.resume();
    s.on('close', () => {
      if (ok) took.push(performance.now() - t0);
      else failed++;
    });
    s.end();
  };
  const timer = setInterval(() => {
    if (!session.destroyed) ask();
  }, 20);
  return async () => {
    clearInterval(timer);
    await new Promise((r) => setTimeout(r, 500)); // the last answers
    session.destroy();
    took.sort((a, b) => a - b);
    return { sent, ok: took.length, failed, p99: took[Math.floor(took.length * 0.99)] ?? NaN, max: took[took.length - 1] ?? NaN };
  };
}

/** The DoH attackers (--doh); returns a function that stops them. */
function attackDoh(port, ca) {
  const url = `https://127.0.0.1:${port}`;
  let stopped = false;
  const live = new Set();
  const timers = [];
  const closed = (what) => (dohSeen.closed[what] = (dohSeen.closed[what] ?? 0) + 1);
  const status = (st) => (dohSeen.statuses[st] = (dohSeen.statuses[st] ?? 0) + 1);
  /** Run `open` again 100 ms after the server closed what it opened. */
  const again = (what, open) => () => {
    if (stopped) return;
    closed(what);
    timers.push(setTimeout(open, 100));
  };
  const session = (settings = {}) => {
    const s = http2.connect(url, { ca, settings });
    s.on('error', () => {});
    live.add(s);
    s.once('close', () => live.delete(s));
    return s;
  };
  // 1. 4 HTTP/2 sessions with a zero window, 100 streams each of the ~48 KB answer (--skip doh-h2)
  for (let c = 0; c < (skip.has('doh-h2') ? 0 : 4); c++) {
    const open = () => {
      const s = session({ initialWindowSize: 0 });
      s.on('close', again('h2-never-reading', open));
      s.on('remoteSettings', () => {
        for (let i = 0; i < 100 && !s.destroyed; i++) {
          const st = s.request({ ':path': dohGet('big.doh.test') });
          st.on('error', () => {});
          st.on('response', (h) => status(h[':status']));
          st.end();
        }
      });
    };
    open();
  }
  // 2. 4 HTTP/1.1 connections that pipeline 400 requests for it and never read, and one more every
  // second (a paused socket does not see the server's close: the write does) (--skip doh-h1)
  const h1 = (onConnect, what) => {
    const open = () => {
      const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => onConnect(s));
      s.on('error', () => {});
      s.on('close', again(what, open));
      live.add(s);
      s.once('close', () => live.delete(s));
      return s;
    };
    return open;
  };
  const pipelined = Array.from({ length: 400 }, () => `GET ${dohGet('big.doh.test')} HTTP/1.1\r\nHost: doh\r\n\r\n`).join('');
  const oneMore = `GET ${dohGet('big.doh.test')} HTTP/1.1\r\nHost: doh\r\n\r\n`;
  for (let c = 0; c < (skip.has('doh-h1') ? 0 : 4); c++) h1((s) => {
    s.pause();
    s.write(pipelined);
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write(oneMore)), 1000);
    timers.push(t);
  }, 'h1-never-reading')();
  // 3. slow POSTs: 2 HTTP/2 sessions of 100 streams and 20 HTTP/1.1 connections, a body byte per
  // stream every 500 ms (--skip doh-slow)
  const slowHead = `POST /dns-query HTTP/1.1\r\nHost: doh\r\nContent-Type: application/dns-message\r\nContent-Length: 512\r\n\r\n`;
  const slow = [];
  const slowOnes = skip.has('doh-slow') ? 0 : 1;
  for (let c = 0; c < 20 * slowOnes; c++) h1((s) => {
    s.on('data', (d) => {
      const m = /^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'));
      if (m) status(m[1]);
    });
    s.write(slowHead);
    slow.push(s);
  }, 'h1-slow-post')();
  const postHeaders = (len) => ({ ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message', 'content-length': String(len) });
  for (let c = 0; c < 2 * slowOnes; c++) {
    const open = () => {
      const s = session();
      s.on('close', again('h2-slow-post session', open));
      const stream = () => {
        if (stopped || s.destroyed || s.closed) return;
        const st = s.request(postHeaders(512));
        st.on('error', () => {});
        st.on('response', (h) => status(h[':status']));
        st.resume();
        st.on('close', () => {
          if (stopped) return;
          closed('h2-slow-post stream');
          stream();
        });
        slow.push(st);
      };
      for (let i = 0; i < 100; i++) stream();
    };
    open();
  }
  timers.push(
    setInterval(() => {
      for (let i = slow.length - 1; i >= 0; i--) {
        const x = slow[i];
        if (x.destroyed || x.closed) slow.splice(i, 1);
        else x.write(Buffer.of(0));
      }
    }, 500),
  );
  // 4. an HTTP/2 session of 100 POST bodies of 64,000 bytes that never end (one Buffer, sent 100
  // times); again every second (--skip doh-big)
  const part = Buffer.alloc(64_000);
  const big = () => {
    const s = session();
    let mine = false;
    s.on('close', () => {
      if (!stopped && !mine) closed('h2-big-bodies');
    });
    for (let i = 0; i < 100; i++) {
      const st = s.request(postHeaders(65_000));
      st.on('error', () => {});
      st.write(part);
    }
    timers.push(
      setTimeout(() => {
        mine = true; // not closed by the server within the second
        s.destroy();
      }, 950),
    );
  };
  if (!skip.has('doh-big')) {
    big();
    timers.push(setInterval(big, 1000));
  }
  return () => {
    stopped = true;
    for (const t of timers) clearInterval(t);
    for (const x of live) x.destroy();
  };
}
