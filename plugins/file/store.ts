// Zones shared between config generations. A Corefile reload builds a new generation with its
// own file plugin; without this, it parsed every zone file again (a million-record zone: seconds
// of work and a second copy in memory). The process keeps one store (ctx.process.shared): a zone
// is held by (absolute file path, origin, SHA-256 of the file's bytes), with the stat stamp the
// file last had for those bytes. A new generation whose file has that stamp takes the zone
// without reading the file; one whose file has another stamp hashes it (on a thread of its own) and takes the
// zone if the bytes are the same (a touched file). Each generation that takes a zone holds a
// reference until it closes; the last one to let go drops the zone. Two generations that want
// the same new bytes parsed share one parse.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../src/plugin/api.js';
import type { Zone } from './zone.js';

/** Builds a zone from bytes; `stop()` true abandons it (nobody holds it any more). */
/** Parses a zone; `disk` is the file's path on disk ($INCLUDE paths are relative to it). */
export type ZoneBuilder = (bytes: Uint8Array, origin: string, shown: string, stop: () => boolean, disk: string) => Promise<Zone>;

/** One parsed (or being parsed) version of one zone file for one origin. */
export interface ZoneEntry {
  readonly file: string;
  readonly origin: string;
  readonly digest: string;
  /** The stat stamp (mtime, size, inode) the file last had with these bytes. */
  stamp: string;
  /** The zone; rejects with the parse error ("file:line: reason"). */
  readonly zone: Promise<Zone>;
  /** Generations holding it. */
  refs: number;
}

/** How much of a file is hashed before the event loop gets a turn (bytes): ~1-3 ms. */
const HASH_CHUNK = 1 << 20;
const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** SHA-256 of `bytes`, a chunk at a time so that queries are answered meanwhile. */
export async function digestOf(bytes: Uint8Array): Promise<string> {
  const h = createHash('sha256');
  for (let i = 0; i < bytes.length; i += HASH_CHUNK) {
    if (i > 0) await yieldLoop();
    h.update(bytes.subarray(i, i + HASH_CHUNK));
  }
  return h.digest('base64');
}

/**
 * The hashing thread (CommonJS, run with `eval`): reads the file named by workerData a chunk at a
 * time into one buffer, hashes it, posts { digest } or { error }.
 */
const HASH_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
try {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(${HASH_CHUNK});
  const fd = fs.openSync(workerData, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  parentPort.postMessage({ digest: h.digest('base64') });
} catch (e) {
  parentPort.postMessage({ error: e.message });
}
`;

/**
 * SHA-256 of a file (the same as digestOf its bytes), read and hashed on a thread of its own: a
 * touched big file is recognised without holding it in memory and without taking the thread that
 * answers queries (hashing 30 MB there took ~0.15 s in 1 MB steps).
 */
export function digestFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HASH_THREAD, { eval: true, workerData: file, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
    w.once('message', (m: { digest?: string; error?: string }) => {
      if (m.digest !== undefined) resolve(m.digest);
      else reject(new Error(m.error ?? 'hashing failed'));
    });
    w.once('error', reject);
    // after a message this changes nothing; without one (the thread died) the promise fails
    w.once('exit', (code) => reject(new Error(`hashing thread exited (${code})`)));
  });
}

export class ZoneStore {
  private readonly entries = new Map<string, ZoneEntry>();
  /** Parses started since the process began (the reload test reads it). */
  parses = 0;

  constructor(private readonly build: ZoneBuilder) {}

  /** Zones held now (tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Whether some zone of this file is held. */
  holds(file: string): boolean {
    for (const e of this.entries.values()) if (e.file === file) return true;
    return false;
  }

  /** The zone held for this file and origin whose file had `stamp`, with a reference taken; undefined if none. */
  byStamp(file: string, origin: string, stamp: string): ZoneEntry | undefined {
    for (const e of this.entries.values()) {
      if (e.file === file && e.origin === origin && e.stamp === stamp) {
        e.refs++;
        return e;
      }
    }
    return undefined;
  }

  /** The zone held for this file and origin with these bytes, with a reference taken (its stamp becomes `stamp`); undefined if none. */
  byDigest(file: string, origin: string, digest: string, stamp: string): ZoneEntry | undefined {
    const e = this.entries.get(`${file}\0${origin}\0${digest}`);
    if (e === undefined) return undefined;
    e.refs++;
    e.stamp = stamp;
    return e;
  }

  /**
   * The zone of these bytes, with a reference taken: the one held (its stamp becomes `stamp`), or
   * a new parse. The caller awaits `zone` and, whatever the outcome, calls release() once.
   */
  acquire(file: string, origin: string, shown: string, bytes: Uint8Array, digest: string, stamp: string, log: Logger): ZoneEntry {
    const key = `${file}\0${origin}\0${digest}`;
    const held = this.entries.get(key);
    if (held !== undefined) {
      held.refs++;
      held.stamp = stamp;
      log.debug(`zone '${origin}' from '${shown}' is unchanged: the zone already loaded is used`);
      return held;
    }
    log.debug(`parsing zone '${origin}' from '${shown}'`);
    this.parses++;
    let entry: ZoneEntry | undefined;
    const zone = this.build(bytes, origin, shown, () => entry !== undefined && entry.refs === 0, file);
    entry = { file, origin, digest, stamp, zone, refs: 1 };
    this.entries.set(key, entry);
    const e = entry;
    // A broken file is not kept: the next try parses (and fails) again, with its own message.
    zone.catch(() => {
      if (this.entries.get(key) === e) this.entries.delete(key);
    });
    return e;
  }

  /** Give back a reference; the last one drops the zone (and abandons its parse if unfinished). */
  release(e: ZoneEntry): void {
    if (e.refs <= 0) return;
    e.refs--;
    if (e.refs > 0) return;
    const key = `${e.file}\0${e.origin}\0${e.digest}`;
    if (this.entries.get(key) === e) this.entries.delete(key);
  }
}
