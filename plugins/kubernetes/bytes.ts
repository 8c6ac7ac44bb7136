// The cluster as bytes: a copy of what the answering code reads (view.ts's ClusterView), written
// by the store's owner after every commit into one ArrayBuffer, and read by decoding a record on
// demand. Nothing in it is a JavaScript object, so that a later step can put the buffer in
// memory that every worker maps and keep one copy of the cluster per process tree instead of one
// per worker (bench/README.md, "One copy of the cluster per worker").
//
// Layout (all offsets in bytes from the start of the buffer, numbers little-endian):
// - a header of 32-bit words (H_* below): generation, serials, flags, where the tables are;
// - records, appended: a Service with its slices (writeService), a list of the Services that
//   hold an address (reverse / external index), a pod, a list of the pods with an address, the
//   list of exposed namespaces;
// - tables: open addressing over 32-bit slots, a slot holds a record's offset (0 empty,
//   1 deleted), keyed by a hash of `name.namespace` (Services) or of the address (the others).
// A commit appends the changed Services and the address lists they touch and rewrites their
// slots; the old records become dead bytes. When the dead bytes pass the live ones, or a table or
// the buffer is full, the whole copy is written again into a new buffer (the `epoch` changes;
// readers drop what they decoded from the old one).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fnv, ServiceEntry, type ClusterStore } from './store.js';
import { holdersOf, type ClusterView, type Endpoint, type PackedSlice, type ServiceRecord } from './view.js';
import type { SlimPod, SlimPort, SlimService } from './watch/objects.js';

const MAGIC = 0x6b386273; // "k8bs"
// header words
const H_MAGIC = 0;
/** Odd while the writer changes the buffer in place (a reader that sees it, or sees it move, reads again). */
const H_SEQ = 1;
const H_EPOCH = 2;
const H_GENERATION = 3;
const H_MODIFIED = 4;
const H_MODIFIED_EXT = 5;
const H_FLAGS = 6;
const H_USED = 7;
const H_DEAD = 8;
const H_SVC_TAB = 9;
const H_SVC_CAP = 10;
const H_SVC_FILL = 11; // live + deleted slots
const H_REV_TAB = 12;
const H_REV_CAP = 13;
const H_REV_FILL = 14;
const H_EXT_TAB = 15;
const H_EXT_CAP = 16;
const H_EXT_FILL = 17;
const H_POD_TAB = 18;
const H_POD_CAP = 19;
const H_NS = 20;
const H_SVC_LIVE = 21;
const H_POD_FILL = 22;
/** A random number per buffer, announced with it: a follower checks that what it mapped is the buffer announced. */
const H_ID = 23;
const HEADER_WORDS = 24;
const HEADER = HEADER_WORDS * 4;

/** The tables' capacity and filled-slot header words. */
const TABLES: ReadonlyArray<readonly [number, number]> = [
  [H_SVC_CAP, H_SVC_FILL],
  [H_REV_CAP, H_REV_FILL],
  [H_EXT_CAP, H_EXT_FILL],
  [H_POD_CAP, H_POD_FILL],
];

const F_SYNCED = 1;
const F_POD_NAMES = 2;

const DONE = 0;
const COMPACT = 1;
const NO_ROOM = 2;

const EMPTY = 0;
const DELETED = 1;

// service record flags
const S_HEADLESS = 1;
const S_PUBLISH = 2;
const S_HAS_SELECTOR = 4;
const S_SELECTOR = 8;
const S_EXTERNAL_IPS = 16;
// slice flags
const L_HOSTS = 1;
const L_PODS = 2;
const L_NOT_READY = 4;

const hash = (s: string): number => fnv(0x811c9dc5, s);

/**
 * A table's slots for `n` entries: a power of two, at least 64, 2n + 8 (a table takes entries up to
 * half its slots) and 2.5n, so that a new table has room for a quarter more entries or deleted
 * slots before it is full (with 2n + 8 alone it could have 8: a full write every few changes).
 */
const capFor = (n: number): number => {
  let c = 64; // (256 bytes: a small table still has room to change in place)
  while (c < n * 2 + 8 || c < n * 2.5) c *= 2;
  return c;
};

/** Services whose key or addresses hold bytes other than ASCII are not in the copy's index (the store accepts none). */
const KEY_MAX = 0xffff;

/**
 * A length or count is 16 bits, or, from LONG up, LONG followed by 32 bits: every string and list
 * is written whole whatever its size (a 70,000-character pod name, 65,536 namespaces), never cut
 * to 16 bits to decode as something else.
 */
const LONG = 0xffff;
/** The bytes a count of `n` takes. */
const szCount = (n: number): number => (n < LONG ? 2 : 6);

/**
 * Tests only (test/integration/workers-kubernetes-takeover.test.ts): with
 * TYPEDNS_TEST_PAUSE_UPDATE=FILE, an in-place update that finds FILE empty stops halfway — the
 * sequence odd, the changed Services written and their slots set, the address lists not — writes
 * this process's PID into FILE and blocks, to be killed there: a leader that dies in the middle
 * of an update, at a known moment. Unset (production): one comparison per update.
 */
const PAUSE_FILE = process.env['TYPEDNS_TEST_PAUSE_UPDATE'];

function pauseForTest(file: string): void {
  let armed: string;
  try {
    armed = readFileSync(file, 'utf8');
  } catch {
    return; // (not armed)
  }
  if (armed !== '') return; // (paused once already)
  writeFileSync(file, String(process.pid));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000);
}

// ------------------------------------------------------------------------------------ writer

/** Bytes being written: grows by copying (a new buffer), which only a full write does. */
class Out {
  readonly buf: Buffer;
  readonly dv: DataView;
  /** The buffer as 32-bit words: the header and the tables' slots, written with Atomics.store. */
  readonly w32: Uint32Array;
  at: number;
  constructor(
    readonly ab: ArrayBuffer,
    at: number,
  ) {
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
    this.w32 = new Uint32Array(ab, 0, ab.byteLength >>> 2);
    this.at = at;
  }
  room(n: number): boolean {
    return this.at + n <= this.buf.length;
  }
  u8(v: number): void {
    this.buf[this.at++] = v;
  }
  u16(v: number): void {
    this.dv.setUint16(this.at, v, true);
    this.at += 2;
  }
  u32(v: number): void {
    this.dv.setUint32(this.at, v, true);
    this.at += 4;
  }
  count(n: number): void {
    if (n < LONG) return this.u16(n);
    this.u16(LONG);
    this.u32(n);
  }
  str(s: string): void {
    // (at most 3 bytes per UTF-16 unit: below 0x5555 units, the length fits 16 bits)
    if (s.length < 0x5555) {
      const n = this.buf.write(s, this.at + 2, 'utf8');
      this.dv.setUint16(this.at, n, true);
      this.at += 2 + n;
      return;
    }
    const n = this.buf.write(s, this.at + 6, 'utf8');
    this.u16(LONG); // (even when it is shorter: the reader takes either)
    this.u32(n);
    this.at += n;
  }
  strs(a: readonly string[]): void {
    this.count(a.length);
    for (const s of a) this.str(s);
  }
  ports(ps: readonly SlimPort[]): void {
    this.count(ps.length);
    for (const p of ps) {
      this.str(p.name);
      this.str(p.protocol);
      this.u16(p.port);
    }
  }
  align(): void {
    this.at = (this.at + 3) & ~3;
  }
}

/** An upper bound of the bytes a string takes. */
const sz = (s: string): number => (s.length < 0x5555 ? 2 : 6) + s.length * 3;
const szs = (a: readonly string[]): number => {
  let n = szCount(a.length);
  for (const s of a) n += sz(s);
  return n;
};
const szPorts = (ps: readonly SlimPort[]): number => {
  let n = szCount(ps.length);
  for (const p of ps) n += sz(p.name) + sz(p.protocol) + 2;
  return n;
};

function serviceSize(e: ServiceEntry): number {
  const s = e.svc!;
  let n = 8 + sz(e.key) + 1 + sz(s.type) + sz(s.externalName) + sz(s.rv ?? '') + szs(s.clusterIPs) + szs(s.externalIPs ?? []) + szPorts(s.ports) + szCount(e.slices?.size ?? 0);
  for (const [name, sl] of e.slices ?? []) {
    n += sz(name) + sz(sl.rv) + szPorts(sl.ports) + 1 + 4 + szs(sl.ips);
    if (sl.hostnames) n += szs(sl.hostnames);
    if (sl.podNames) n += szs(sl.podNames);
    if (sl.notReady) n += 4 + sl.notReady.length * 4;
  }
  return n;
}

export interface WriterOptions {
  /** A zero-filled buffer of `size` bytes for a full write (default: the heap; shared.ts: shared memory). */
  alloc?: (size: number) => ArrayBuffer;
  /** Told after each full write, with the new buffer (the old one is no longer written). */
  onSegment?: (ab: ArrayBuffer) => void;
  /**
   * Told when a full write after the first fails (alloc threw: no memory, no descriptor): the
   * copy stays as it was, readers keep the last consistent version, and the next commit tries a
   * full write again. Without it, the error is thrown out of the store's commit.
   */
  onError?: (e: Error) => void;
  /**
   * A full write of a copy of at least `sliceAbove` Services (default 1,000) that is not needed at
   * once (a compaction; the buffer crowded but not yet full) is done a slice at a time:
   * slices of about `sliceMs` ms (default 2; 0: every full write at once), each scheduled with
   * `schedule` (default setImmediate), so that the thread answers between them. Meanwhile the
   * current buffer takes the commits in place; the changes made during the write are applied to
   * the new buffer before it is told (onSegment).
   */
  sliceMs?: number;
  sliceAbove?: number;
  schedule?: (step: () => void) => void;
}

/**
 * A full write under way (phases: 0 sizing, 1 Services, 2 address lists, then the rest and the
 * changes made meanwhile). Its buffer and offsets are the writer's only while a slice runs.
 */
interface FullWrite {
  phase: number;
  entries: ServiceEntry[];
  /** The next entry (phases 0 and 1) or address (phase 2) to write. */
  i: number;
  size: number;
  ips: Set<string>;
  ext: Set<string>;
  /** ips then ext, as arrays (phase 2). */
  addrs: string[];
  nIps: number;
  out: Out | undefined;
  offsets: Map<string, number>;
  written: number;
  /** Commits made since the write began (sliced writes only): applied to the new buffer at the end. */
  changed: Set<ServiceEntry>;
  /** The addresses (reverse, external) those commits touched, before and after them. */
  touchedIps: Set<string>;
  touchedExt: Set<string>;
  /**
   * The current buffer could not take a commit (no room): it stays as it was, the commits made
   * until the write is told go to the write only (readers see the copy as it was before).
   */
  frozen: boolean;
}

/** Writes the store's content as bytes after each of its commits; `buffer` is the current copy. */
export class ClusterBytesWriter {
  private out!: Out;
  /** Offset of each Service's record, by key. */
  private offsets = new Map<string, number>();
  private epoch = 0;
  /** Full writes done (tests and the bench). */
  rewrites = 0;
  /** A full write failed: the copy misses changes until the next one succeeds. */
  private behind = false;
  /** Each table's filled slots after the last full write (TABLES' order). */
  private fills = [0, 0, 0, 0];
  /** The sliced full write under way. */
  private pending: FullWrite | undefined;
  /** Sliced full writes finished (tests and the bench). */
  slicedWrites = 0;

  /** Readers see the copy as it was before the last commits: a sliced write under way has them (frozen). */
  get lagging(): boolean {
    return this.pending?.frozen === true;
  }

  /** The phase of the sliced full write under way (0 sizing, 1 Services, 2 address lists), -1 none (tests). */
  get writing(): number {
    return this.pending?.phase ?? -1;
  }
  /** The store's onCommit that attach() set (a sliced write stops when it is no longer the store's). */
  private hook: ClusterStore['onCommit'];

  constructor(
    private readonly store: ClusterStore,
    private readonly opts: WriterOptions = {},
  ) {
    this.rewrite();
  }

  get buffer(): ArrayBuffer {
    return this.out.ab;
  }

  /** Bytes in use (records live and dead, tables, header). */
  get used(): number {
    return this.out.at;
  }

  /** Follow `store` from now on (its onCommit). */
  static attach(store: ClusterStore, opts: WriterOptions = {}): ClusterBytesWriter {
    const w = new ClusterBytesWriter(store, opts);
    store.onCommit = w.hook = (services, ns, pods) => w.update(services, ns, pods);
    return w;
  }

  /** Apply one commit: the Services that changed, and whether namespaces or pods did. */
  update(changed: ReadonlySet<ServiceEntry>, nsChanged: boolean, podIps: ReadonlySet<string>): void {
    this.store.indexNow(); // (the index work a held commit left: extIps, reverse entries)
    const p = this.pending;
    if (this.behind) {
      this.pending = undefined;
      return this.retry();
    }
    if (p?.frozen === true) return this.note(p, changed);
    let r: number;
    try {
      r = this.tryUpdate(changed, nsChanged, podIps, undefined, p);
    } catch (e) {
      // (left half applied: readers see it as it stands; a full write brings the whole copy back)
      this.behind = true;
      this.pending = undefined;
      this.retry(e);
      return;
    }
    if (p !== undefined) for (const e of changed) p.changed.add(e);
    // (a buffer written in place is left consistent, its sequence even, before any full write)
    if (r === DONE) {
      if (p === undefined && this.crowded() && this.sliced(0)) this.beginSliced();
      return;
    }
    if (r === COMPACT) {
      if (p !== undefined) return; // (the write under way compacts)
      if (this.sliced(0)) {
        this.beginSliced();
        return;
      }
    }
    if (r === NO_ROOM && this.sliced(changed.size)) {
      // a full write a slice at a time, of the store as it is now (one under way was sized
      // before this commit); readers keep the copy as it was before this commit until it is told
      this.beginSliced().frozen = true;
      return;
    }
    this.pending = undefined; // (a full write at once replaces it)
    if (this.opts.onError === undefined) return this.rewrite();
    // NO_ROOM left this commit's changes out: only a full write brings them in
    this.behind = r === NO_ROOM;
    this.retry();
  }

  /**
   * A full write whose failure is told, not thrown (alloc runs before anything is written);
   * without onError, thrown: `cause`, the error that made it needed, if any.
   */
  private retry(cause?: unknown): void {
    try {
      this.rewrite();
      this.behind = false;
    } catch (e) {
      this.rewrites--;
      if (this.opts.onError === undefined) throw cause ?? e;
      this.opts.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /**
   * Apply in place: DONE, COMPACT (applied, but the dead bytes pass the live ones) or NO_ROOM
   * (nothing written). The sequence is odd while it writes, even again when it returns or throws.
   */
  private tryUpdate(changed: ReadonlySet<ServiceEntry>, nsChanged: boolean, podIps: ReadonlySet<string>, seed?: FullWrite, collect?: FullWrite): number {
    const o = this.out;
    const h = this.words();
    // room: the records of the changed Services, their address lists, namespaces, pods
    let need = 64;
    // (seed: the addresses commits touched during a sliced write, whose lists are written again)
    const ips = new Set<string>(seed?.touchedIps);
    const ext = new Set<string>(seed?.touchedExt);
    let adds = 0;
    for (const e of changed) {
      const old = this.offsets.get(e.key);
      if (old !== undefined) this.recordAddresses(old, ips, ext);
      if (e.svc !== undefined) {
        need += serviceSize(e) + 8;
        if (old === undefined) adds++;
        addressesOf(e, ips, ext);
      }
    }
    if (collect !== undefined) {
      for (const ip of ips) collect.touchedIps.add(ip);
      for (const ip of ext) collect.touchedExt.add(ip);
    }
    need += this.listsSize(ips, ext);
    if (nsChanged) need += 8 + szs(this.store.exposedNamespaces());
    const pods = this.store.podIndex();
    for (const ip of podIps) need += podListSize(ip, pods.get(ip));
    if (!o.room(need)) return NO_ROOM;
    if ((h[H_SVC_FILL]! + adds) * 2 > h[H_SVC_CAP]! || (h[H_REV_FILL]! + ips.size) * 2 > h[H_REV_CAP]! || (h[H_EXT_FILL]! + ext.size) * 2 > h[H_EXT_CAP]! || (h[H_POD_FILL]! + podIps.size) * 2 > h[H_POD_CAP]!) return NO_ROOM;
    Atomics.store(h, H_SEQ, (h[H_SEQ]! + 1) | 0); // odd: changing
    try {
      const r = this.inPlace(h, changed, nsChanged, podIps, ips, ext);
      this.header();
      return r;
    } finally {
      // (on an exception too: readers that overlapped it read again)
      this.even(h);
    }
  }

  /** tryUpdate's writes, the sequence odd. */
  private inPlace(h: Uint32Array, changed: ReadonlySet<ServiceEntry>, nsChanged: boolean, podIps: ReadonlySet<string>, ips: ReadonlySet<string>, ext: ReadonlySet<string>): number {
    const o = this.out;
    const pods = this.store.podIndex();
    let dead = h[H_DEAD]!;
    for (const e of changed) {
      const old = this.offsets.get(e.key);
      if (old !== undefined) dead += recordSize(o.dv, old);
      if (e.svc === undefined) {
        if (old !== undefined) {
          this.offsets.delete(e.key);
          tableSet(o, h[H_SVC_TAB]!, h[H_SVC_CAP]!, e.key, DELETED);
          Atomics.store(h, H_SVC_LIVE, h[H_SVC_LIVE]! - 1);
        }
        continue;
      }
      const at = this.writeService(e);
      this.offsets.set(e.key, at);
      const r = tableSet(o, h[H_SVC_TAB]!, h[H_SVC_CAP]!, e.key, at);
      if (r === TOOK_EMPTY) Atomics.store(h, H_SVC_FILL, h[H_SVC_FILL]! + 1);
      if (r !== REPLACED) Atomics.store(h, H_SVC_LIVE, h[H_SVC_LIVE]! + 1); // (a deleted slot reused: live, not filled)
    }
    if (PAUSE_FILE !== undefined) pauseForTest(PAUSE_FILE);
    for (const ip of ips) {
      const list = this.store.reverseOf(ip);
      dead += this.replace(h, H_REV_TAB, H_REV_CAP, H_REV_FILL, ip, list.length === 0 ? DELETED : this.writeList(ip, list));
    }
    for (const ip of ext) {
      const list = this.store.externalByIp(ip) as readonly ServiceEntry[];
      dead += this.replace(h, H_EXT_TAB, H_EXT_CAP, H_EXT_FILL, ip, list.length === 0 ? DELETED : this.writeList(ip, list));
    }
    if (nsChanged) {
      dead += recordSize(o.dv, h[H_NS]!);
      Atomics.store(h, H_NS, this.writeNamespaces());
    }
    for (const ip of podIps) {
      const v = pods.get(ip);
      dead += this.replace(h, H_POD_TAB, H_POD_CAP, H_POD_FILL, ip, v === undefined ? DELETED : this.writePodList(ip, v));
    }
    Atomics.store(h, H_DEAD, dead);
    Atomics.store(h, H_USED, o.at);
    return dead <= Math.max(1 << 20, o.at - HEADER - dead) ? DONE : COMPACT;
  }

  /** The sequence even again (no update under way). */
  private even(h: Uint32Array): void {
    const seq = h[H_SEQ]!;
    if ((seq & 1) === 1) Atomics.store(h, H_SEQ, (seq + 1) | 0);
  }

  /**
   * Point `key`'s slot of the table whose offset, capacity and filled-slot count are the header
   * words `tab`, `cap` and `fill` at the record `at` (DELETED: none); the bytes of the record it
   * replaced, now dead.
   */
  private replace(h: Uint32Array, tab: number, cap: number, fill: number, key: string, at: number): number {
    const o = this.out;
    const old = tableGet(o.buf, o.dv, o.w32, h[tab]!, h[cap]!, key);
    if (tableSet(o, h[tab]!, h[cap]!, key, at) === TOOK_EMPTY) Atomics.store(h, fill, h[fill]! + 1);
    return old > DELETED ? recordSize(o.dv, old) : 0;
  }

  /** An upper bound of the bytes of the address lists of `ips` (reverse index) and `ext` (external addresses). */
  private listsSize(ips: ReadonlySet<string>, ext: ReadonlySet<string>): number {
    let n = 0;
    for (const ip of ips) n += sz(ip) + 16 + 4 * this.store.reverseOf(ip).length;
    for (const ip of ext) n += sz(ip) + 16 + 4 * this.store.externalByIp(ip).length;
    return n;
  }

  /** The addresses (reverse and external) a Service's record put in the index. */
  private recordAddresses(at: number, ips: Set<string>, ext: Set<string>): void {
    const e = decodeService(this.out.buf, this.out.dv, at, this.store.endpointPodNames);
    const s = e.svc!;
    for (const ip of s.clusterIPs) ips.add(ip);
    e.forEachServed((ip) => ips.add(ip));
    for (const x of s.externalIPs ?? []) if (net.isIP(x) !== 0) ext.add(x);
  }

  private words(): Uint32Array {
    return new Uint32Array(this.out.buf.buffer, this.out.buf.byteOffset, HEADER_WORDS);
  }

  private header(): void {
    const h = this.words();
    const st = this.store;
    Atomics.store(h, H_GENERATION, st.generation);
    Atomics.store(h, H_MODIFIED, st.modified);
    Atomics.store(h, H_MODIFIED_EXT, st.modifiedExternal);
    Atomics.store(h, H_FLAGS, (st.synced ? F_SYNCED : 0) | (st.endpointPodNames ? F_POD_NAMES : 0));
    Atomics.store(h, H_USED, this.out.at);
  }

  /** Write the whole copy into a new buffer; if that throws, the copy stays the buffer it was. */
  private rewrite(): void {
    const w = this.beginFull();
    this.step(w, Infinity);
  }

  /** A full write may be sliced: enabled, and a copy (or a commit of `n` Services) large enough for it to matter. */
  private sliced(n: number): boolean {
    return (this.opts.sliceMs ?? 2) > 0 && Math.max(this.offsets.size, n) >= (this.opts.sliceAbove ?? 1000);
  }

  /** A commit made while a frozen write is under way: for the write only (its Services, and the addresses they held and hold). */
  private note(w: FullWrite, changed: ReadonlySet<ServiceEntry>): void {
    for (const e of changed) {
      const old = this.offsets.get(e.key);
      if (old !== undefined) this.recordAddresses(old, w.touchedIps, w.touchedExt);
      if (e.svc !== undefined) addressesOf(e, w.touchedIps, w.touchedExt);
      w.changed.add(e);
    }
  }

  /**
   * Compact before a commit finds the buffer or a table full and needs a full write at once: less
   * than a fifth of the buffer free, or a table filled past 7/16 of its slots (half is full; deleted
   * slots count until a full write) with at least 1/16 of them taken since the last full write (a
   * table that a full write would leave as filled is not written again and again).
   */
  private crowded(): boolean {
    const o = this.out;
    if (o.at > o.buf.length * 0.8) return true;
    const h = this.words();
    for (let t = 0; t < TABLES.length; t++) {
      const [cap, fill] = [h[TABLES[t]![0]]!, h[TABLES[t]![1]]!];
      if (fill * 16 > cap * 7 && (fill - this.fills[t]!) * 16 >= cap) return true;
    }
    return false;
  }

  private beginFull(): FullWrite {
    this.rewrites++;
    this.store.indexNow();
    const empty = new Set<string>();
    return {
      ...{ phase: 0, entries: this.store.serviceEntries(), i: 0, size: HEADER + 64, ips: new Set(), ext: new Set(), addrs: [], nIps: 0 },
      ...{ out: undefined, offsets: new Map(), written: 0, changed: new Set(), touchedIps: empty, touchedExt: empty, frozen: false },
    };
  }

  /** Start a full write a slice at a time (the current buffer goes on taking commits unless frozen). */
  private beginSliced(): FullWrite {
    const w = this.beginFull();
    w.touchedIps = new Set();
    w.touchedExt = new Set();
    this.pending = w;
    this.schedule(w);
    return w;
  }

  private schedule(w: FullWrite): void {
    const run = (): void => {
      if (this.pending !== w) return; // (replaced by a full write at once, or by a failure)
      if (this.hook !== undefined && this.store.onCommit !== this.hook) {
        this.pending = undefined; // (the writer no longer follows the store)
        return;
      }
      let done: boolean;
      try {
        done = this.step(w, performance.now() + (this.opts.sliceMs ?? 2));
      } catch (e) {
        // (no buffer, or more to write than its room: the current one is up to date and goes on;
        // the next commit writes the copy at once, as after any failed full write)
        this.pending = undefined;
        this.rewrites--;
        this.behind = true;
        this.opts.onError?.(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (!done) this.schedule(w);
    };
    (this.opts.schedule ?? setImmediate)(run);
  }

  /**
   * Go on with full write `w` until it is done (true: its buffer is the copy now, told) or
   * `deadline` (performance.now() ms) passes. If it throws, the copy stays the buffer it was.
   */
  private step(w: FullWrite, deadline: number): boolean {
    const out = this.out;
    const offsets = this.offsets;
    let done = false;
    try {
      if (w.out !== undefined) {
        this.out = w.out;
        this.offsets = w.offsets;
      }
      done = this.stepIn(w, deadline);
    } finally {
      if (!done) {
        this.out = out;
        this.offsets = offsets;
      }
    }
    return done;
  }

  private stepIn(w: FullWrite, deadline: number): boolean {
    const st = this.store;
    const timeUp = (k: number): boolean => (k & 63) === 0 && performance.now() > deadline;
    let k = 0;
    if (w.phase === 0) {
      for (; w.i < w.entries.length; w.i++) {
        const e = w.entries[w.i]!;
        if (e.svc === undefined) continue; // (deleted since: a change, applied at the end)
        w.size += serviceSize(e) + 8 + sizeAddresses(e, w.ips, w.ext);
        if (timeUp(++k)) {
          w.i++;
          return false;
        }
      }
      this.allocate(w);
      w.phase = 1;
      w.i = 0;
      this.out = w.out!;
      this.offsets = w.offsets;
    }
    const o = this.out;
    const h = this.words();
    if (w.phase === 1) {
      for (; w.i < w.entries.length; w.i++) {
        const e = w.entries[w.i]!;
        if (e.svc === undefined) continue;
        const at = this.writeService(e);
        this.offsets.set(e.key, at);
        tableSet(o, h[H_SVC_TAB]!, h[H_SVC_CAP]!, e.key, at);
        w.written++;
        if (timeUp(++k)) {
          w.i++;
          return false;
        }
      }
      w.phase = 2;
      w.i = 0;
      w.nIps = w.ips.size;
      w.addrs = [...w.ips, ...w.ext];
      w.entries = [];
    }
    if (w.phase === 2) {
      for (; w.i < w.addrs.length; w.i++) {
        const ip = w.addrs[w.i]!;
        const rev = w.i < w.nIps;
        const list = rev ? st.reverseOf(ip) : (st.externalByIp(ip) as readonly ServiceEntry[]);
        if (list.length > 0) tableSet(o, h[rev ? H_REV_TAB : H_EXT_TAB]!, h[rev ? H_REV_CAP : H_EXT_CAP]!, ip, this.writeList(ip, list));
        if (timeUp(++k)) {
          w.i++;
          return false;
        }
      }
      w.phase = 3;
    }
    h[H_SVC_FILL] = w.written;
    h[H_SVC_LIVE] = w.written;
    h[H_REV_FILL] = w.nIps;
    h[H_EXT_FILL] = w.addrs.length - w.nIps;
    w.addrs = [];
    h[H_NS] = this.writeNamespaces();
    this.writePods(h);
    h[H_DEAD] = 0;
    this.header();
    // the commits made while it was written (sliced): in place, as on any buffer
    if (w.changed.size > 0 && this.tryUpdate(w.changed, false, new Set(), w) === NO_ROOM) {
      // (grown past its room meanwhile: rare; written again at once, from the store as it is)
      const again = this.beginFull();
      this.rewrites--;
      if (this.pending === w) this.pending = again; // (its end ends the write under way)
      return this.stepIn(again, Infinity);
    }
    for (let t = 0; t < TABLES.length; t++) this.fills[t] = h[TABLES[t]![1]]!;
    if (this.pending === w) {
      // (done before it is told: whoever is told sees the copy current, not lagging)
      this.pending = undefined;
      this.slicedWrites++;
    }
    this.opts.onSegment?.(o.ab);
    return true;
  }

  /** The new buffer of `w`, sized for what phase 0 counted (with room for changes), its header and empty tables. */
  private allocate(w: FullWrite): void {
    const st = this.store;
    let size = w.size + 8 + szs(st.exposedNamespaces()) + this.podsSize();
    const svcCap = capFor(w.entries.length);
    const revCap = capFor(w.ips.size);
    const extCap = capFor(w.ext.size);
    size += (svcCap + revCap + extCap) * 4 + 16;
    // room for changes before the next full write
    const bytes = Math.ceil(size * 1.5) + 4096;
    const o = (w.out = new Out(this.opts.alloc?.(bytes) ?? new ArrayBuffer(bytes), HEADER));
    const h = new Uint32Array(o.ab, 0, HEADER_WORDS);
    h[H_MAGIC] = MAGIC;
    h[H_ID] = randomBytes(4).readUInt32LE(0) || 1;
    h[H_EPOCH] = ++this.epoch;
    o.align();
    h[H_SVC_TAB] = o.at;
    h[H_SVC_CAP] = svcCap;
    o.at += svcCap * 4;
    h[H_REV_TAB] = o.at;
    h[H_REV_CAP] = revCap;
    o.at += revCap * 4;
    h[H_EXT_TAB] = o.at;
    h[H_EXT_CAP] = extCap;
    o.at += extCap * 4;
  }

  private writeService(e: ServiceEntry): number {
    const o = this.out;
    o.align();
    const start = o.at;
    const s = e.svc!;
    o.u32(0); // size, set below
    o.u16(e.name.length); // (at most 63: the store takes no other name)
    o.str(e.key);
    o.u8(
      (s.headless ? S_HEADLESS : 0) |
        (s.publishNotReadyAddresses ? S_PUBLISH : 0) |
        (s.hasSelector !== undefined ? S_HAS_SELECTOR : 0) |
        (s.hasSelector === true ? S_SELECTOR : 0) |
        (s.externalIPs !== undefined ? S_EXTERNAL_IPS : 0),
    );
    o.str(s.type);
    o.str(s.externalName);
    o.str(s.rv ?? '');
    o.strs(s.clusterIPs);
    o.strs(s.externalIPs ?? []);
    o.ports(s.ports);
    const slices = e.slices;
    o.count(slices === undefined ? 0 : slices.size);
    for (const [name, sl] of slices ?? []) {
      o.str(name);
      o.str(sl.rv);
      o.ports(sl.ports);
      o.u8((sl.hostnames ? L_HOSTS : 0) | (sl.podNames ? L_PODS : 0) | (sl.notReady ? L_NOT_READY : 0));
      o.u32(sl.ips.length);
      for (const ip of sl.ips) o.str(ip);
      if (sl.hostnames) for (const x of sl.hostnames) o.str(x);
      if (sl.podNames) for (const x of sl.podNames) o.str(x);
      if (sl.notReady) {
        o.u32(sl.notReady.length);
        for (const i of sl.notReady) o.u32(i);
      }
    }
    o.dv.setUint32(start, o.at - start, true);
    return start;
  }

  /** An address and the Services that hold it (offsets of their records). */
  private writeList(ip: string, list: readonly ServiceEntry[]): number {
    const o = this.out;
    o.align();
    const start = o.at;
    o.u32(0);
    o.u16(0);
    o.str(ip);
    let n = 0;
    const countAt = o.at;
    o.u32(0);
    for (const e of list) {
      const at = this.offsets.get(e.key);
      if (at === undefined) continue;
      o.u32(at);
      n++;
    }
    o.dv.setUint32(countAt, n, true);
    o.dv.setUint32(start, o.at - start, true);
    return start;
  }

  private writeNamespaces(): number {
    const o = this.out;
    o.align();
    const start = o.at;
    o.u32(0);
    o.strs(this.store.exposedNamespaces());
    o.dv.setUint32(start, o.at - start, true);
    return start;
  }

  private podsSize(): number {
    const idx = this.store.podIndex();
    let n = capFor(idx.size) * 4 + 8;
    for (const [ip, v] of idx) n += podListSize(ip, v);
    return n;
  }

  /** The pods table of a full write: address → its pods. */
  private writePods(h: Uint32Array): void {
    const o = this.out;
    const idx = this.store.podIndex();
    const cap = capFor(idx.size);
    o.align();
    const tab = o.at;
    o.at += cap * 4;
    o.buf.fill(0, tab, o.at);
    for (const [ip, v] of idx) tableSet(o, tab, cap, ip, this.writePodList(ip, v));
    h[H_POD_TAB] = tab;
    h[H_POD_CAP] = cap;
    h[H_POD_FILL] = idx.size;
  }

  /** An address and its pods. */
  private writePodList(ip: string, v: SlimPod | readonly SlimPod[]): number {
    const o = this.out;
    const pods = Array.isArray(v) ? (v as readonly SlimPod[]) : [v as SlimPod];
    o.align();
    const start = o.at;
    o.u32(0);
    o.u16(0);
    o.str(ip);
    o.u32(pods.length);
    for (const p of pods) {
      o.str(p.namespace);
      o.str(p.name);
      o.str(p.rv ?? '');
      o.strs(p.ips);
    }
    o.dv.setUint32(start, o.at - start, true);
    return start;
  }
}

const recordSize = (dv: DataView, at: number): number => dv.getUint32(at, true);

/** The addresses a Service has in the reverse index (ClusterIPs, served endpoints) and among the external ones. */
function addressesOf(e: ServiceEntry, ips: Set<string>, ext: Set<string>): void {
  for (const ip of e.svc!.clusterIPs) ips.add(ip);
  e.forEachServed((ip) => ips.add(ip));
  for (const x of e.extIps) ext.add(x);
}

/**
 * addressesOf, and an upper bound of the bytes its addresses add to the lists (listsSize): the
 * address itself when it is new to the sets, 4 per holder (a phase-0 slice of a full write).
 */
function sizeAddresses(e: ServiceEntry, ips: Set<string>, ext: Set<string>): number {
  let n = 0;
  const add = (set: Set<string>, ip: string): void => {
    if (!set.has(ip)) {
      set.add(ip);
      n += sz(ip) + 16;
    }
    n += 4;
  };
  for (const ip of e.svc!.clusterIPs) add(ips, ip);
  e.forEachServed((ip) => add(ips, ip));
  for (const x of e.extIps) add(ext, x);
  return n;
}

/** An upper bound of the bytes of an address's pod list. */
function podListSize(ip: string, v: SlimPod | readonly SlimPod[] | undefined): number {
  if (v === undefined) return 0;
  let n = 16 + sz(ip);
  for (const p of Array.isArray(v) ? (v as readonly SlimPod[]) : [v as SlimPod]) n += 8 + sz(p.namespace) + sz(p.name) + sz(p.rv ?? '') + szs(p.ips);
  return n;
}

/** Where a record's key string is (after its size and the name length). */
const keyAt = (at: number): number => at + 6;

/** tableSet: the key's own slot was written (or, for DELETED, the key was not there: nothing was). */
const REPLACED = 0;
/** tableSet: the key was not there; a deleted slot took it (the table holds one more key, no more filled slots). */
const REUSED = 1;
/** tableSet: the key was not there; an empty slot took it (one more key, one more filled slot). */
const TOOK_EMPTY = 2;

/**
 * Put `v` in the slot of `key` (the key's own slot, else the first free one): REPLACED, REUSED or
 * TOOK_EMPTY. Slots are written with Atomics.store: the record a slot names is written before it.
 */
function tableSet(o: Out, tab: number, cap: number, key: string, v: number): number {
  if (cap === 0) return REPLACED;
  const mask = cap - 1;
  const w = tab >>> 2;
  let i = hash(key) & mask;
  let free = -1;
  for (;;) {
    const cur = o.w32[w + i]!;
    if (cur === EMPTY) {
      if (v === DELETED) return REPLACED;
      Atomics.store(o.w32, free >= 0 ? free : w + i, v);
      return free >= 0 ? REUSED : TOOK_EMPTY;
    }
    if (cur === DELETED) {
      if (free < 0) free = w + i;
    } else if (strEquals(o.buf, o.dv, keyAt(cur), key)) {
      Atomics.store(o.w32, w + i, v);
      return REPLACED;
    }
    i = (i + 1) & mask;
  }
}

/** The record offset in the slot of `key`, or EMPTY (`w32`: the buffer as words; slots read with Atomics.load). */
function tableGet(buf: Uint8Array, dv: DataView, w32: Uint32Array, tab: number, cap: number, key: string): number {
  if (cap === 0) return EMPTY;
  const mask = cap - 1;
  const w = tab >>> 2;
  let i = hash(key) & mask;
  for (let n = 0; n < cap; n++) {
    const cur = Atomics.load(w32, w + i);
    if (cur === EMPTY) return EMPTY;
    if (cur !== DELETED && strEquals(buf, dv, keyAt(cur), key)) return cur;
    i = (i + 1) & mask;
  }
  return EMPTY;
}

/** The string at `at` (length-prefixed) equals `s` (ASCII: every key and address the store accepts is). */
function strEquals(buf: Uint8Array, dv: DataView, at: number, s: string): boolean {
  let n = dv.getUint16(at, true);
  at += 2;
  if (n === LONG) {
    n = dv.getUint32(at, true);
    at += 4;
  }
  if (n !== s.length) return false;
  for (let i = 0; i < n; i++) if (buf[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** The id of the buffer `ab` a ClusterBytesWriter wrote (a follower checks it against the announced one); 0 if it is not one. */
export function segmentId(ab: ArrayBuffer): number {
  if (ab.byteLength < HEADER) return 0;
  const h = new Uint32Array(ab, 0, HEADER_WORDS);
  return h[H_MAGIC] === MAGIC ? h[H_ID]! : 0;
}

// ------------------------------------------------------------------------------------ reader

class In {
  constructor(
    readonly buf: Buffer,
    readonly dv: DataView,
    public at: number,
  ) {}
  u8(): number {
    return this.buf[this.at++]!;
  }
  u16(): number {
    const v = this.dv.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(): number {
    const v = this.dv.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  count(): number {
    const n = this.u16();
    return n === LONG ? this.u32() : n;
  }
  str(): string {
    const n = this.count();
    const s = n === 0 ? '' : this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  skipStr(): void {
    const n = this.count();
    this.at += n;
  }
  strs(): string[] {
    const n = this.count();
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.str();
    return out;
  }
  ports(): SlimPort[] {
    const n = this.count();
    const out = new Array<SlimPort>(n);
    for (let i = 0; i < n; i++) out[i] = { name: this.str(), protocol: this.str(), port: this.u16() };
    return out;
  }
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** The Service record at `at`, as the ServiceEntry answer.ts reads (a new object, not kept in any store). */
function decodeService(buf: Buffer, dv: DataView, at: number, podNames: boolean): ServiceEntry {
  const r = new In(buf, dv, at + 4);
  const nameLen = r.u16();
  const key = r.str();
  const name = key.slice(0, nameLen);
  const namespace = key.slice(nameLen + 1);
  const f = r.u8();
  const type = r.str();
  const externalName = r.str();
  const rv = r.str();
  const clusterIPs = r.strs();
  const externalIPs = r.strs();
  const ports = r.ports();
  const svc: SlimService = {
    namespace,
    name,
    ...(rv !== '' ? { rv } : {}),
    type,
    clusterIPs,
    headless: (f & S_HEADLESS) !== 0,
    externalName,
    ports,
    publishNotReadyAddresses: (f & S_PUBLISH) !== 0,
    labels: NO_LABELS,
    ...((f & S_HAS_SELECTOR) !== 0 ? { hasSelector: (f & S_SELECTOR) !== 0 } : {}),
    ...((f & S_EXTERNAL_IPS) !== 0 ? { externalIPs } : {}),
  };
  const e = new ServiceEntry(key, name, namespace, podNames);
  e.svc = svc;
  const nSlices = r.count();
  if (nSlices > 0) {
    const slices = new Map<string, PackedSlice>();
    for (let k = 0; k < nSlices; k++) {
      const sname = r.str();
      const srv = r.str();
      const sports = r.ports();
      const lf = r.u8();
      const n = r.u32();
      const ips = new Array<string>(n);
      for (let i = 0; i < n; i++) ips[i] = r.str();
      let hostnames: string[] | undefined;
      let podNamesList: string[] | undefined;
      let notReady: number[] | undefined;
      if ((lf & L_HOSTS) !== 0) {
        hostnames = new Array<string>(n);
        for (let i = 0; i < n; i++) hostnames[i] = r.str();
      }
      if ((lf & L_PODS) !== 0) {
        podNamesList = new Array<string>(n);
        for (let i = 0; i < n; i++) podNamesList[i] = r.str();
      }
      if ((lf & L_NOT_READY) !== 0) {
        const m = r.u32();
        notReady = new Array<number>(m);
        for (let i = 0; i < m; i++) notReady[i] = r.u32();
      }
      slices.set(sname, { ports: sports, ips, hostnames, podNames: podNamesList, notReady, rv: srv });
    }
    e.slices = slices;
  }
  return e;
}

/**
 * Decoded Services kept per reader (with their precomputed answers): at least CACHE_MIN, and as
 * many as the copy has Services up to CACHE_CAP — a worker asked for every Service in turn then
 * decodes each once, not on most queries (bench/README.md, session 9: a follower asked for
 * ~5,000 Services of 10 endpoints grew by ~20 MB of RSS, ~4 KB each with their answers; fewer
 * than with 4,096 slots, which decoded and dropped a Service on most queries: +67–83 MB).
 */
const CACHE_MIN = 4096;
const CACHE_CAP = 16384;
const NO_RECORDS: readonly never[] = Object.freeze([]) as readonly never[];

/**
 * How long a reader waits for an update under way (the sequence odd) before it takes the writer
 * for dead in it (a leader killed mid-update): from then on, reads of that buffer with that
 * sequence number answer at once, as a copy not synced and empty, until it moves or a new buffer
 * comes. In-place updates take microseconds, a few milliseconds for thousands of Services: past
 * STUCK_MS, a writer whose process is known to be alive is waited for up to STUCK_ALIVE_MS.
 */
const STUCK_MS = 5;
const STUCK_ALIVE_MS = 250;
/** begin(): the writer is stuck in an update. */
const STUCK = -1;

export interface ByteViewOptions {
  /** Told (once per stuck sequence number) when the writer seems to have died in an update: the copy reads as not synced and empty. */
  onStuck?: () => void;
  /** Whether the writer's process still runs (asked once an update has lasted STUCK_MS). */
  writerAlive?: () => boolean;
}

/**
 * The cluster read from the bytes a ClusterBytesWriter wrote. `current()` gives the buffer to
 * read (the writer's current one: a full write replaces it), which may be shared memory that
 * another process writes while this one reads: every read is a seqlock's — the header's sequence
 * number is read before and after, and the read is done again when it was odd (an update under
 * way) or changed. The header and the tables' slots, the only words written in place, are read
 * and written with Atomics (a shared memory mapping is an external ArrayBuffer, not a
 * SharedArrayBuffer: Atomics.load/store still order them); a record is complete before any slot
 * names it, and records never change, so what a torn read can meet is a table or header half
 * updated, which the retry covers. Decoded Services are kept by record offset in a cache sized
 * from the copy's Services (CACHE_MIN to CACHE_CAP), which a new buffer (a full write) drops. A writer that stays in an update (it died there) makes
 * the copy read as not synced and empty (STUCK_MS), not a spin on every read.
 */
export class ByteClusterView implements ClusterView {
  private buf: Buffer | undefined;
  private dv!: DataView;
  private h!: Uint32Array;
  /** The buffer as 32-bit words (the tables' slots). */
  private w32!: Uint32Array;
  private podNames = false;
  // Where the tables are, and their sizes: fixed for a buffer (a full write makes a new one), read once.
  private svcTab = 0;
  private svcCap = 0;
  private revTab = 0;
  private revCap = 0;
  private extTab = 0;
  private extCap = 0;
  private podTab = 0;
  private podCap = 0;
  /** The odd sequence number the writer was left at (STUCK: none). */
  private stuck = STUCK;
  private readonly cache = new Map<number, ServiceEntry>();
  /** Entries the cache holds before it evicts (grows with the copy's Services, CACHE_MIN to CACHE_CAP). */
  private cacheMax = CACHE_MIN;
  /**
   * The cache's keys, for eviction: a random one goes when it is full (a query stream that walks
   * more names than the cache holds, in turn, would miss every time with first-in first-out).
   */
  private cacheKeys: number[] = [];
  private rand = 0x2545f491;
  private nsAt = -1;
  private ns = new Set<string>();
  private readonly pods = new Map<number, readonly SlimPod[]>();
  /** Services decoded (tests: the cache keeps the hot ones). */
  decoded = 0;

  /** Decoded Services held (tests). */
  get cached(): number {
    return this.cache.size;
  }

  constructor(
    private readonly current: () => ArrayBuffer,
    private readonly opts: ByteViewOptions = {},
  ) {}

  /**
   * Map the current buffer; drop what was decoded from an older one. (A buffer's epoch, tables
   * and pod-names flag are those of the full write that made it: a later one makes a new buffer.)
   */
  private sync(): void {
    const ab = this.current();
    if (this.buf !== undefined && this.buf.buffer === ab) return;
    // (checked before anything of it is kept: a later read of the same buffer checks nothing)
    if (segmentId(ab) === 0) throw new Error('kubernetes: not a cluster copy');
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
    const h = (this.h = new Uint32Array(ab, 0, HEADER_WORDS));
    this.w32 = new Uint32Array(ab, 0, ab.byteLength >>> 2);
    this.podNames = (Atomics.load(h, H_FLAGS) & F_POD_NAMES) !== 0;
    this.svcTab = Atomics.load(h, H_SVC_TAB);
    this.svcCap = Atomics.load(h, H_SVC_CAP);
    this.revTab = Atomics.load(h, H_REV_TAB);
    this.revCap = Atomics.load(h, H_REV_CAP);
    this.extTab = Atomics.load(h, H_EXT_TAB);
    this.extCap = Atomics.load(h, H_EXT_CAP);
    this.podTab = Atomics.load(h, H_POD_TAB);
    this.podCap = Atomics.load(h, H_POD_CAP);
    this.stuck = STUCK;
    this.cache.clear();
    this.cacheKeys = [];
    this.cacheMax = CACHE_MIN;
    this.pods.clear();
    this.nsAt = -1;
  }

  /** A header word, read consistently; while the writer is stuck in an update, 0, or (`asLeft`) the word as it was left. */
  private word(i: number, asLeft = false): number {
    for (;;) {
      const seq = this.begin();
      if (seq === STUCK) return asLeft ? Atomics.load(this.h, i) : 0;
      const v = Atomics.load(this.h, i);
      if (Atomics.load(this.h, H_SEQ) === seq) return v;
    }
  }

  /** The copy reads as not synced and empty while its writer is stuck in an update. */
  get synced(): boolean {
    return (this.word(H_FLAGS) & F_SYNCED) !== 0;
  }
  get modified(): number {
    return this.word(H_MODIFIED, true);
  }
  get modifiedExternal(): number {
    return this.word(H_MODIFIED_EXT, true);
  }
  get generation(): number {
    return this.word(H_GENERATION, true);
  }

  private entryAt(at: number): ServiceEntry {
    let e = this.cache.get(at);
    if (e === undefined) {
      e = decodeService(this.buf!, this.dv, at, this.podNames);
      this.decoded++;
      // full: as large as the Services in the copy now (one racy word: only a size)?
      if (this.cacheKeys.length >= this.cacheMax) this.cacheMax = Math.min(CACHE_CAP, Math.max(this.cacheMax, Atomics.load(this.h, H_SVC_LIVE)));
      if (this.cacheKeys.length >= this.cacheMax) {
        // xorshift: a slot to reuse
        let x = this.rand;
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        this.rand = x;
        const i = (x >>> 0) % this.cacheKeys.length;
        this.cache.delete(this.cacheKeys[i]!);
        this.cacheKeys[i] = at;
      } else this.cacheKeys.push(at);
      this.cache.set(at, e);
    }
    return e;
  }

  /** The header's sequence number once it is even (no update under way), or STUCK. */
  private begin(): number {
    this.sync();
    const seq = Atomics.load(this.h, H_SEQ);
    return (seq & 1) === 0 ? seq : this.wait(seq);
  }

  /** Wait for the update under way (the sequence at the odd `seq`) to end: its even sequence, or STUCK. */
  private wait(seq: number): number {
    if (seq === this.stuck) return STUCK;
    const t0 = performance.now();
    let limit = STUCK_MS;
    for (let i = 1; ; i++) {
      const s = Atomics.load(this.h, H_SEQ);
      if ((s & 1) === 0) return s;
      if ((i & 1023) === 0 && performance.now() - t0 > limit) {
        if (limit === STUCK_MS && this.opts.writerAlive?.() === true) {
          limit = STUCK_ALIVE_MS;
          continue;
        }
        this.stuck = s;
        this.opts.onStuck?.();
        return STUCK;
      }
    }
  }

  /** Run `f` as one consistent read of the buffer (`none` while the writer is stuck in an update). */
  private guard<A, B, R>(f: (this: ByteClusterView, a: A, b: B) => R, a: A, b: B, none: R): R {
    for (let tries = 0; ; tries++) {
      const seq = this.begin();
      if (seq === STUCK) return none;
      let r: R;
      try {
        r = f.call(this, a, b);
      } catch (e) {
        if (tries >= 100 || Atomics.load(this.h, H_SEQ) === seq) throw e;
        continue; // a torn read
      }
      if (Atomics.load(this.h, H_SEQ) === seq && this.buf!.buffer === this.current()) return r;
    }
  }

  service(name: string, namespace: string): ServiceRecord | undefined {
    return this.guard(this.serviceRaw, name, namespace, undefined);
  }

  private serviceRaw(name: string, namespace: string): ServiceRecord | undefined {
    const key = name.length + namespace.length + 1 > KEY_MAX ? '' : `${name}.${namespace}`;
    const at = tableGet(this.buf!, this.dv, this.w32, this.svcTab, this.svcCap, key);
    return at > DELETED ? this.entryAt(at) : undefined;
  }

  namespaceExposed(ns: string): boolean {
    // (the list is decoded outside the seqlock: a record never changes, and the buffer stays)
    const at = this.word(H_NS);
    if (at === 0) return false;
    if (at !== this.nsAt) {
      const r = new In(this.buf!, this.dv, at + 4);
      this.ns = new Set(r.strs());
      this.nsAt = at;
    }
    return this.ns.has(ns);
  }

  /** The Services of the address list for `ip` in the table at `tab` of `cap` slots. */
  private listed(tab: number, cap: number, ip: string): ServiceEntry[] | undefined {
    const at = tableGet(this.buf!, this.dv, this.w32, tab, cap, ip);
    if (at <= DELETED) return undefined;
    const r = new In(this.buf!, this.dv, at + 6);
    r.skipStr();
    const n = r.u32();
    const out = new Array<ServiceEntry>(n);
    for (let i = 0; i < n; i++) out[i] = this.entryAt(r.u32());
    return out;
  }

  byIp(ip: string): readonly (ServiceRecord | Endpoint)[] {
    return this.guard(this.byIpRaw, ip, undefined, NO_RECORDS);
  }

  private byIpRaw(ip: string): readonly (ServiceRecord | Endpoint)[] {
    const list = this.listed(this.revTab, this.revCap, ip);
    return list === undefined ? NO_RECORDS : holdersOf(list, ip);
  }

  externalByIp(ip: string): readonly ServiceRecord[] {
    return this.guard(this.externalRaw, ip, undefined, NO_RECORDS);
  }

  private externalRaw(ip: string): readonly ServiceRecord[] {
    return this.listed(this.extTab, this.extCap, ip) ?? NO_RECORDS;
  }

  podsWithIp(ip: string): readonly SlimPod[] {
    return this.guard(this.podsRaw, ip, undefined, NO_RECORDS);
  }

  private podsRaw(ip: string): readonly SlimPod[] {
    const at = tableGet(this.buf!, this.dv, this.w32, this.podTab, this.podCap, ip);
    if (at <= DELETED) return NO_RECORDS;
    let pods = this.pods.get(at);
    if (pods === undefined) {
      const r = new In(this.buf!, this.dv, at + 6);
      r.skipStr();
      const n = r.u32();
      const list: SlimPod[] = [];
      for (let i = 0; i < n; i++) {
        const namespace = r.str();
        const name = r.str();
        const rv = r.str();
        list.push({ namespace, name, ...(rv !== '' ? { rv } : {}), ips: r.strs() });
      }
      if (this.pods.size >= CACHE_MIN) this.pods.clear();
      this.pods.set(at, list);
      pods = list;
    }
    return pods;
  }

  /**
   * Every Service: the table's slots are copied under the seqlock (a memory copy, however many
   * Services), then the records decoded outside it — records never change, and the buffer read
   * is not written again once replaced — so that the writer's commits cannot make a listing of
   * thousands of Services start over and over (a zone transfer that never ends).
   */
  serviceEntries(): readonly ServiceRecord[] {
    const slots = this.guard(this.slotsRaw, undefined, undefined, undefined);
    if (slots === undefined) return NO_RECORDS;
    const out: ServiceRecord[] = [];
    for (let i = 0; i < slots.length; i++) {
      const at = slots[i]!;
      if (at > DELETED) out.push(this.entryAt(at));
    }
    return out;
  }

  private slotsRaw(): Uint32Array {
    const tab = this.svcTab >>> 2;
    return this.w32.slice(tab, tab + this.svcCap);
  }

  /** Services in the copy (tests, the bench). */
  get size(): number {
    return this.word(H_SVC_LIVE);
  }
}
