// What the TypeScript benches share beside the Kubernetes fixture: a free UDP port on 127.0.0.1,
// and a process's memory and children from /proc (test/integration/workers.test.ts too).
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

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

/** The pids of process `pid`'s children (its workers under -workers N), from /proc. */
export function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}
