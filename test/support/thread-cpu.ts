// CPU time of a thread or a process (Linux /proc), for tests that must tell "this thread did the
// work" or "it took little work" on a loaded machine: CPU time does not grow while a thread waits
// for a core, the wall clock does (a query waited 347 ms at load 10-14 for no fault of the server).
import { readFileSync } from 'node:fs';

/** Fields of a /proc stat line after "pid (comm) ": index 0 is field 3 (state). */
function statFields(file: string): string[] {
  const stat = readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const TICK_MS = 10;

/**
 * CPU time (ms) of thread `tid` of process `pid` — by default the main thread of this process,
 * the one an in-process server answers on: /proc's schedstat (nanoseconds), or utime + stime
 * (10 ms ticks) where the kernel keeps no schedstat.
 */
export function threadCpuMs(pid = process.pid, tid = pid): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    return (Number(f[14 - 3]) + Number(f[15 - 3])) * TICK_MS;
  }
}

/** CPU time (ms, 10 ms steps) of every thread of process `pid`: utime + stime. */
export function processCpuMs(pid = process.pid): number {
  const f = statFields(`/proc/${pid}/stat`);
  return (Number(f[14 - 3]) + Number(f[15 - 3])) * TICK_MS;
}

/** CPU time (ms, 10 ms steps) of this process's children that have ended and been waited for: cutime + cstime. */
export function childrenCpuMs(): number {
  const f = statFields('/proc/self/stat');
  return (Number(f[16 - 3]) + Number(f[17 - 3])) * TICK_MS;
}
