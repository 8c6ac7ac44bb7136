// What the TypeScript benches share beside the Kubernetes fixture: a free UDP port on 127.0.0.1,
// a process's memory and children from /proc (test/integration/workers.test.ts too), and the
// moment a server first answers a name.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildQuery } from '../src/testing/client.js';

/**
 * The node flags the typedns binary starts node with (the first line of dist/src/bin.js, from
 * src/bin.ts), for benches that start `node FLAGS dist/src/cli.js` (bench/run.mjs has the same).
 */
export function binNodeArgs(root: string): string[] {
  const first = readFileSync(join(root, 'dist/src/bin.js'), 'utf8').split('\n')[0]!;
  return (/^#!.*\bnode((?:\s+-\S+)*)\s*$/.exec(first)?.[1] ?? '').split(' ').filter(Boolean);
}

/** A UDP port of 127.0.0.1 that was free a moment ago (bound, then released). */
export function freeUdpPort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = dgram.createSocket('udp4');
    s.on('error', rej);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

/** RSS and its high-water mark (MB) of process `pid`, from /proc/PID/status. */
export function procStatus(pid: number): { rssMb: number; hwmMb: number } {
  const txt = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(txt)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/**
 * Proportional set size (MB) of process `pid`, from /proc/PID/smaps_rollup: its RSS with every
 * shared page divided among the processes that map it (the workers' shared copy of the cluster
 * counts once in their sum, as it is in memory once; RSS counts it in each).
 */
export function procPssMb(pid: number): number {
  return smapsRollup(pid)('Pss') / 1024;
}

/** kB of process `pid`'s RSS that are not anonymous memory: pages of mapped files (smaps_rollup: Rss − Anonymous). */
export function procFileKb(pid: number): number {
  const kb = smapsRollup(pid);
  return kb('Rss') - kb('Anonymous');
}

/** /proc/PID/smaps_rollup, read once: its fields in kB (NaN when missing). */
function smapsRollup(pid: number): (field: string) => number {
  const txt = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(txt)?.[1] ?? NaN);
}

/** The pids of process `pid`'s children (its workers under -workers N), from /proc. */
export function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/**
 * Milliseconds from `t0` (performance.now()) until `port` answers `name` A with NOERROR and at
 * least one record, and the first moment it answered anything. One socket asks again every
 * `everyMs` (a server not listening yet drops the datagrams, and a query that waits out a
 * timeout would measure the timeout): the figures are exact to `everyMs`.
 */
export function firstAnswer(port: number, name: string, t0: number, o: { everyMs?: number; timeoutMs?: number; alive?: () => boolean } = {}): Promise<{ readyMs: number; firstReplyMs: number }> {
  const every = o.everyMs ?? 5;
  return new Promise((res, rej) => {
    const s = dgram.createSocket('udp4');
    let firstReplyMs = NaN;
    let id = 0;
    const end = (e: Error | undefined, readyMs = NaN): void => {
      clearInterval(timer);
      s.close();
      if (e) rej(e);
      else res({ readyMs, firstReplyMs });
    };
    s.on('error', (e) => end(e));
    s.on('message', (m) => {
      if (m.length < 12) return;
      const now = performance.now() - t0;
      if (Number.isNaN(firstReplyMs)) firstReplyMs = now;
      const rcode = m[3]! & 0xf;
      const ancount = m.readUInt16BE(6);
      if (rcode === 0 && ancount > 0) end(undefined, now);
    });
    const timer = setInterval(() => {
      if (performance.now() - t0 > (o.timeoutMs ?? 120_000)) return end(new Error(`${name}: no answer from port ${port}`));
      if (o.alive !== undefined && !o.alive()) return end(new Error('the server exited'));
      s.send(buildQuery(name, 'A', { id: id++ & 0xffff }), port, '127.0.0.1');
    }, every);
  });
}
