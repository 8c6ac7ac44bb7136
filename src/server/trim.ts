// Resident pages nobody uses (#17). A node process that has started has touched much of the node
// binary: V8's parser and compilers, bootstrap code, ICU and snapshot data, the code that read the
// Corefile and set the plugins up; the optimizing compiler touches more while the server warms up.
// Those pages are file-backed and clean, yet they count in the process's RSS until the kernel
// reclaims them under memory pressure: in a bare node they are ~33 of its ~40 MB. malloc's arenas
// keep what start-up threads and compilations freed, too.
//
// So once a configuration serves (and after each reload), and every TRIM_INTERVAL after that, the
// CLI releases them (native trimPages, on a thread of libuv's pool: madvise MADV_DONTNEED on
// read-only private file mappings with no page of their own, then malloc_trim). The file pages
// stay in the page cache; those the server keeps using come back on their first touch, so RSS is
// what serving uses. bench/README.md ("Footprint") has the figures.
//
// TYPEDNS_TRIM_PAGES=0 turns it off; TYPEDNS_TRIM_INTERVAL sets the interval (a duration such as
// `1m` or a number of seconds; default 30s, at least 1s; 0: only at start and reload). Without the native module (not built, TYPEDNS_NATIVE_UDP=0)
// nothing is released.
import type { Logger } from '../observe/log.js';
import { parseDuration } from '../corefile/dispenser.js';
import { nativeModule } from './native-module.js';

let started = false;
let running = false;
/** The logger of the last call: the periodic release writes its debug line there. */
let lastLog: Logger | undefined;

/** The interval of the periodic release, ms (0: none); a bad value is warned about once, and 30 s used. */
function interval(log: Logger | undefined): number {
  const v = process.env.TYPEDNS_TRIM_INTERVAL;
  if (v === undefined || v === '') return 30_000;
  const ms = parseDuration(v);
  if (ms !== undefined && Number.isFinite(ms) && ms >= 0) return ms === 0 ? 0 : Math.max(1000, ms);
  log?.warn(`TYPEDNS_TRIM_INTERVAL: invalid duration '${v}', 30s used`);
  return 30_000;
}

/**
 * Release the pages now, and start the periodic release (once). Resolves with what was released
 * ([mappings, kB resident before]), or undefined when it did not run (turned off, no native
 * module, a release already running).
 */
export async function releasePages(log?: Logger): Promise<[number, number] | undefined> {
  if (process.env.TYPEDNS_TRIM_PAGES === '0') return undefined;
  const m = nativeModule();
  if (m?.trimPages === undefined || running) return undefined;
  if (log !== undefined) lastLog = log;
  if (!started) {
    started = true;
    const every = interval(log);
    if (every > 0) setInterval(() => void releasePages(), every).unref();
  }
  running = true;
  try {
    const [mappings, kb] = await m.trimPages();
    lastLog?.debug(`released ${(kb / 1024).toFixed(1)} MB of resident file pages (${mappings} mappings) and malloc's free memory`);
    return [mappings, kb];
  } finally {
    running = false;
  }
}
