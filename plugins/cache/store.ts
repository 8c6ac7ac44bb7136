// The cache's store: one Map per cache (success, denial) in insertion order, bounded by an entry
// count and a byte budget; the oldest insertion goes first. CoreDNS splits its caches into 256
// locked shards so goroutines do not contend; JavaScript runs one query at a time, and a
// benchmark showed the shards (an FNV hash of every key, 256 Maps) bought nothing here (see
// bench/README.md, "cache: one Map instead of 256 shards").
import type { Parsed } from './wire.js';

export type Kind = 'success' | 'denial';

/** What an entry costs beside its reply bytes: the key, the offsets, the objects (measured roughly). */
const ENTRY_OVERHEAD = 200;

export interface Entry {
  p: Parsed;
  kind: Kind;
  /** Time stored (Date.now() ms). */
  stored: number;
  /** TTL given to the entry, seconds. */
  ttl: number;
  hits: number;
  lastHit: number;
  refreshing: boolean;
  /** serve_stale: until this time (ms) after a failed refresh, stale answers go out without a new one. */
  recheckUntil: number;
}

/** Seconds left (may be negative once expired). */
export function remaining(e: Entry, now: number): number {
  return e.ttl - Math.floor((now - e.stored) / 1000);
}

/** Bytes an entry holds: its reply, its TTL offsets, its key (UTF-16) and a fixed overhead. */
function entryCost(key: string, e: Entry): number {
  return e.p.bytes.length + e.p.ttlOffsets.byteLength + key.length * 2 + ENTRY_OVERHEAD;
}

export class Store {
  private readonly m = new Map<string, Entry>();
  bytes = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxBytes: number,
    private readonly onEvict: () => void,
    private readonly onSize: (n: number, bytes: number) => void,
  ) {}

  get size(): number {
    return this.m.size;
  }

  get(key: string): Entry | undefined {
    return this.m.get(key);
  }

  /**
   * Insert. While the cache is full, or over its byte budget, evict the oldest insertion (O(1):
   * Map keeps insertion order). An entry larger than the whole budget is not kept.
   */
  set(key: string, e: Entry): void {
    const cost = entryCost(key, e);
    this.remove(key);
    if (cost > this.maxBytes) {
      this.onSize(this.m.size, this.bytes);
      return;
    }
    while (this.m.size >= this.capacity || (this.bytes + cost > this.maxBytes && this.m.size > 0)) this.evictOldest();
    this.m.set(key, e);
    this.bytes += cost;
    this.onSize(this.m.size, this.bytes);
  }

  delete(key: string): void {
    if (this.remove(key)) this.onSize(this.m.size, this.bytes);
  }

  private remove(key: string): boolean {
    const e = this.m.get(key);
    if (e === undefined) return false;
    this.m.delete(key);
    this.bytes -= entryCost(key, e);
    return true;
  }

  private evictOldest(): void {
    const first = this.m.keys().next();
    if (first.done) return;
    this.remove(first.value);
    this.onEvict();
  }
}
