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
import net from 'node:net';
import { fnv, ServiceEntry, type ClusterStore } from './store.js';
import type { ClusterView, Endpoint, PackedSlice, ServiceRecord } from './view.js';
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
const HEADER_WORDS = 24;
const HEADER = HEADER_WORDS * 4;

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

const capFor = (n: number): number => {
  let c = 16;
  while (c < n * 2 + 8) c *= 2;
  return c;
};

/** Services whose key or addresses hold bytes other than ASCII are not in the copy's index (the store accepts none). */
const KEY_MAX = 0xffff;

// ------------------------------------------------------------------------------------ writer

/** Bytes being written: grows by copying (a new buffer), which only a full write does. */
class Out {
  readonly buf: Buffer;
  readonly dv: DataView;
  at: number;
  constructor(
    readonly ab: ArrayBuffer,
    at: number,
  ) {
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
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
  str(s: string): void {
    const n = this.buf.write(s, this.at + 2, 'utf8');
    this.dv.setUint16(this.at, n, true);
    this.at += 2 + n;
  }
  strs(a: readonly string[]): void {
    this.u16(a.length);
    for (const s of a) this.str(s);
  }
  ports(ps: readonly SlimPort[]): void {
    this.u16(ps.length);
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
const sz = (s: string): number => 2 + s.length * 3;
const szs = (a: readonly string[]): number => {
  let n = 2;
  for (const s of a) n += sz(s);
  return n;
};
const szPorts = (ps: readonly SlimPort[]): number => {
  let n = 2;
  for (const p of ps) n += sz(p.name) + sz(p.protocol) + 2;
  return n;
};

function serviceSize(e: ServiceEntry): number {
  const s = e.svc!;
  let n = 8 + sz(e.key) + 1 + sz(s.type) + sz(s.externalName) + sz(s.rv ?? '') + szs(s.clusterIPs) + szs(s.externalIPs ?? []) + szPorts(s.ports) + 2;
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
}

/** Writes the store's content as bytes after each of its commits; `buffer` is the current copy. */
export class ClusterBytesWriter {
  private out!: Out;
  /** Offset of each Service's record, by key. */
  private readonly offsets = new Map<string, number>();
  private epoch = 0;
  /** Full writes done (tests and the bench). */
  rewrites = 0;
  /** A full write failed: the copy misses changes until the next one succeeds. */
  private behind = false;

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
    store.onCommit = (services, ns, pods) => w.update(services, ns, pods);
    return w;
  }

  /** Apply one commit: the Services that changed, and whether namespaces or pods did. */
  update(changed: ReadonlySet<ServiceEntry>, nsChanged: boolean, podIps: ReadonlySet<string>): void {
    this.store.indexNow(); // (the index work a held commit left: extIps, reverse entries)
    if (this.behind) return this.retry();
    const r = this.tryUpdate(changed, nsChanged, podIps);
    // (a buffer written in place is left consistent, its sequence even, before any full write)
    if (r !== NO_ROOM) this.header();
    if (r === DONE) return;
    if (this.opts.onError === undefined) return this.rewrite();
    // NO_ROOM left this commit's changes out: only a full write brings them in
    this.behind = r === NO_ROOM;
    this.retry();
  }

  /** A full write whose failure is told, not thrown (alloc runs before anything is written). */
  private retry(): void {
    try {
      this.rewrite();
      this.behind = false;
    } catch (e) {
      this.rewrites--;
      this.opts.onError!(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Apply in place: DONE, COMPACT (applied, but the dead bytes pass the live ones) or NO_ROOM (nothing written). */
  private tryUpdate(changed: ReadonlySet<ServiceEntry>, nsChanged: boolean, podIps: ReadonlySet<string>): number {
    const o = this.out;
    const h = this.words();
    const dead0 = h[H_DEAD]!;
    // room: the records of the changed Services, their address lists, namespaces, pods
    let need = 64;
    const ips = new Set<string>();
    const ext = new Set<string>();
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
    need += this.listsSize(ips, ext);
    if (nsChanged) need += 8 + szs(this.store.exposedNamespaces());
    const pods = this.store.podIndex();
    for (const ip of podIps) need += podListSize(ip, pods.get(ip));
    if (!o.room(need)) return NO_ROOM;
    if ((h[H_SVC_FILL]! + adds) * 2 > h[H_SVC_CAP]! || (h[H_REV_FILL]! + ips.size) * 2 > h[H_REV_CAP]! || (h[H_EXT_FILL]! + ext.size) * 2 > h[H_EXT_CAP]! || (h[H_POD_FILL]! + podIps.size) * 2 > h[H_POD_CAP]!) return NO_ROOM;
    h[H_SEQ] = (h[H_SEQ]! + 1) | 0; // odd: changing
    let dead = dead0;
    for (const e of changed) {
      const old = this.offsets.get(e.key);
      if (old !== undefined) dead += recordSize(o.dv, old);
      if (e.svc === undefined) {
        if (old !== undefined) {
          this.offsets.delete(e.key);
          tableSet(o, h[H_SVC_TAB]!, h[H_SVC_CAP]!, e.key, DELETED);
          h[H_SVC_LIVE] = h[H_SVC_LIVE]! - 1;
        }
        continue;
      }
      const at = this.writeService(e);
      this.offsets.set(e.key, at);
      if (tableSet(o, h[H_SVC_TAB]!, h[H_SVC_CAP]!, e.key, at)) {
        h[H_SVC_FILL] = h[H_SVC_FILL]! + 1;
        h[H_SVC_LIVE] = h[H_SVC_LIVE]! + 1;
      }
    }
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
      h[H_NS] = this.writeNamespaces();
    }
    for (const ip of podIps) {
      const v = pods.get(ip);
      dead += this.replace(h, H_POD_TAB, H_POD_CAP, H_POD_FILL, ip, v === undefined ? DELETED : this.writePodList(ip, v));
    }
    h[H_DEAD] = dead;
    h[H_USED] = o.at;
    return dead <= Math.max(1 << 20, o.at - HEADER - dead) ? DONE : COMPACT;
  }

  /**
   * Point `key`'s slot of the table whose offset, capacity and filled-slot count are the header
   * words `tab`, `cap` and `fill` at the record `at` (DELETED: none); the bytes of the record it
   * replaced, now dead.
   */
  private replace(h: Uint32Array, tab: number, cap: number, fill: number, key: string, at: number): number {
    const o = this.out;
    const old = tableGet(o.buf, o.dv, h[tab]!, h[cap]!, key);
    if (tableSet(o, h[tab]!, h[cap]!, key, at)) h[fill] = h[fill]! + 1;
    return old > DELETED ? recordSize(o.dv, old) : 0;
  }

  /** An upper bound of the bytes of the address lists of `ips` (reverse index) and `ext` (external addresses). */
  private listsSize(ips: ReadonlySet<string>, ext: ReadonlySet<string>): number {
    let n = 0;
    for (const ip of ips) n += sz(ip) + 8 + 4 * this.store.reverseOf(ip).length;
    for (const ip of ext) n += sz(ip) + 8 + 4 * this.store.externalByIp(ip).length;
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
    h[H_GENERATION] = st.generation;
    h[H_MODIFIED] = st.modified;
    h[H_MODIFIED_EXT] = st.modifiedExternal;
    h[H_FLAGS] = (st.synced ? F_SYNCED : 0) | (st.endpointPodNames ? F_POD_NAMES : 0);
    h[H_USED] = this.out.at;
    if ((h[H_SEQ]! & 1) === 1) h[H_SEQ] = (h[H_SEQ]! + 1) | 0; // even: done
  }

  /** Write the whole copy into a new buffer. */
  private rewrite(): void {
    this.rewrites++;
    const st = this.store;
    st.indexNow();
    const entries = st.serviceEntries() as ServiceEntry[];
    const ips = new Set<string>();
    const ext = new Set<string>();
    let size = HEADER + 64;
    for (const e of entries) {
      size += serviceSize(e) + 8;
      addressesOf(e, ips, ext);
    }
    size += this.listsSize(ips, ext);
    size += 8 + szs(st.exposedNamespaces()) + this.podsSize();
    const svcCap = capFor(entries.length);
    const revCap = capFor(ips.size);
    const extCap = capFor(ext.size);
    size += (svcCap + revCap + extCap) * 4 + 16;
    // room for changes before the next full write
    const bytes = Math.ceil(size * 1.5) + 4096;
    const o = (this.out = new Out(this.opts.alloc?.(bytes) ?? new ArrayBuffer(bytes), HEADER));
    const h = this.words();
    h[H_MAGIC] = MAGIC;
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
    this.offsets.clear();
    for (const e of entries) {
      const at = this.writeService(e);
      this.offsets.set(e.key, at);
      tableSet(o, h[H_SVC_TAB]!, svcCap, e.key, at);
    }
    h[H_SVC_FILL] = entries.length;
    h[H_SVC_LIVE] = entries.length;
    for (const ip of ips) {
      const list = st.reverseOf(ip);
      if (list.length > 0) tableSet(o, h[H_REV_TAB]!, revCap, ip, this.writeList(ip, list));
    }
    h[H_REV_FILL] = ips.size;
    for (const ip of ext) {
      const list = st.externalByIp(ip) as readonly ServiceEntry[];
      if (list.length > 0) tableSet(o, h[H_EXT_TAB]!, extCap, ip, this.writeList(ip, list));
    }
    h[H_EXT_FILL] = ext.size;
    h[H_NS] = this.writeNamespaces();
    this.writePods(h);
    h[H_DEAD] = 0;
    this.header();
    this.opts.onSegment?.(o.ab);
  }

  private writeService(e: ServiceEntry): number {
    const o = this.out;
    o.align();
    const start = o.at;
    const s = e.svc!;
    o.u32(0); // size, set below
    o.u16(e.name.length);
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
    o.u16(slices === undefined ? 0 : slices.size);
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
    o.u16(0);
    for (const e of list) {
      const at = this.offsets.get(e.key);
      if (at === undefined) continue;
      o.u32(at);
      n++;
    }
    o.dv.setUint16(countAt, n, true);
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
    o.u16(pods.length);
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

/** An upper bound of the bytes of an address's pod list. */
function podListSize(ip: string, v: SlimPod | readonly SlimPod[] | undefined): number {
  if (v === undefined) return 0;
  let n = 16 + sz(ip);
  for (const p of Array.isArray(v) ? (v as readonly SlimPod[]) : [v as SlimPod]) n += 8 + sz(p.namespace) + sz(p.name) + sz(p.rv ?? '') + szs(p.ips);
  return n;
}

/** Where a record's key string is (after its size and the name length). */
const keyAt = (at: number): number => at + 6;

/** Put `v` in the slot of `key` (the key's own slot, else the first free one); true if a free slot was taken. */
function tableSet(o: Out, tab: number, cap: number, key: string, v: number): boolean {
  if (cap === 0) return false;
  const mask = cap - 1;
  let i = hash(key) & mask;
  let free = -1;
  for (;;) {
    const slot = tab + i * 4;
    const cur = o.dv.getUint32(slot, true);
    if (cur === EMPTY) {
      if (v === DELETED) return false;
      o.dv.setUint32(free >= 0 ? free : slot, v, true);
      return free < 0;
    }
    if (cur === DELETED) {
      if (free < 0) free = slot;
    } else if (strEquals(o.buf, o.dv, keyAt(cur), key)) {
      o.dv.setUint32(slot, v, true);
      return false;
    }
    i = (i + 1) & mask;
  }
}

/** The record offset in the slot of `key`, or EMPTY. */
function tableGet(buf: Uint8Array, dv: DataView, tab: number, cap: number, key: string): number {
  if (cap === 0) return EMPTY;
  const mask = cap - 1;
  let i = hash(key) & mask;
  for (let n = 0; n < cap; n++) {
    const cur = dv.getUint32(tab + i * 4, true);
    if (cur === EMPTY) return EMPTY;
    if (cur !== DELETED && strEquals(buf, dv, keyAt(cur), key)) return cur;
    i = (i + 1) & mask;
  }
  return EMPTY;
}

/** The string at `at` (length-prefixed) equals `s` (ASCII: every key and address the store accepts is). */
function strEquals(buf: Uint8Array, dv: DataView, at: number, s: string): boolean {
  const n = dv.getUint16(at, true);
  if (n !== s.length) return false;
  at += 2;
  for (let i = 0; i < n; i++) if (buf[at + i] !== s.charCodeAt(i)) return false;
  return true;
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
  str(): string {
    const n = this.dv.getUint16(this.at, true);
    const s = n === 0 ? '' : this.buf.toString('utf8', this.at + 2, this.at + 2 + n);
    this.at += 2 + n;
    return s;
  }
  strs(): string[] {
    const n = this.u16();
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.str();
    return out;
  }
  ports(): SlimPort[] {
    const n = this.u16();
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
  const nSlices = r.u16();
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

/** Decoded Services kept per reader (the hot names, with their precomputed answers). */
const CACHE_MAX = 4096;
const NO_RECORDS: readonly never[] = Object.freeze([]) as readonly never[];

/** Reads retried before a read goes ahead while the writer seems to be stuck in an update (it died in one). */
const SPINS = 1_000_000;

/**
 * The cluster read from the bytes a ClusterBytesWriter wrote. `current()` gives the buffer to
 * read (the writer's current one: a full write replaces it), which may be shared memory that
 * another process writes while this one reads: every read is a seqlock's — the header's sequence
 * number is read before and after, and the read is done again when it was odd (an update under
 * way) or changed. (A shared memory mapping is an external ArrayBuffer, not a SharedArrayBuffer:
 * no Atomics; a record is complete before any slot names it, and records never change, so what
 * a torn read can meet is a table or header half updated, which the retry covers.) Decoded
 * Services are kept by record offset in a bounded cache, which a new epoch (a full write) drops.
 */
export class ByteClusterView implements ClusterView {
  private buf: Buffer | undefined;
  private dv!: DataView;
  private h!: Uint32Array;
  private epoch = -1;
  private readonly cache = new Map<number, ServiceEntry>();
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

  constructor(private readonly current: () => ArrayBuffer) {}

  /** Map the current buffer; drop what was decoded from an older one. */
  private sync(): void {
    const ab = this.current();
    if (this.buf === undefined || this.buf.buffer !== ab) {
      this.buf = Buffer.from(ab);
      this.dv = new DataView(ab);
      this.h = new Uint32Array(ab, 0, HEADER_WORDS);
      if (this.h[H_MAGIC] !== MAGIC) throw new Error('kubernetes: not a cluster copy');
      this.epoch = -1; // (another writer's buffer counts its epochs from 1 again)
    }
    if (this.h[H_EPOCH] !== this.epoch) {
      this.epoch = this.h[H_EPOCH]!;
      this.cache.clear();
      this.cacheKeys = [];
      this.pods.clear();
      this.nsAt = -1;
    }
  }

  /** A header word, read consistently. */
  private word(i: number): number {
    for (;;) {
      const seq = this.begin();
      const v = this.h[i]!;
      if (this.h[H_SEQ] === seq) return v;
    }
  }

  get synced(): boolean {
    return (this.word(H_FLAGS) & F_SYNCED) !== 0;
  }
  get modified(): number {
    return this.word(H_MODIFIED);
  }
  get modifiedExternal(): number {
    return this.word(H_MODIFIED_EXT);
  }
  get generation(): number {
    return this.word(H_GENERATION);
  }

  private entryAt(at: number): ServiceEntry {
    let e = this.cache.get(at);
    if (e === undefined) {
      e = decodeService(this.buf!, this.dv, at, (this.h[H_FLAGS]! & F_POD_NAMES) !== 0);
      this.decoded++;
      if (this.cacheKeys.length >= CACHE_MAX) {
        // xorshift: a slot to reuse
        let x = this.rand;
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        this.rand = x;
        const i = (x >>> 0) % CACHE_MAX;
        this.cache.delete(this.cacheKeys[i]!);
        this.cacheKeys[i] = at;
      } else this.cacheKeys.push(at);
      this.cache.set(at, e);
    }
    return e;
  }

  /** The header's sequence number once it is even (no update under way). */
  private begin(): number {
    this.sync();
    let seq = this.h[H_SEQ]!;
    for (let i = 0; (seq & 1) === 1 && i < SPINS; i++) seq = this.h[H_SEQ]!;
    return seq;
  }

  /** Run `f` as one consistent read of the buffer. */
  private guard<A, B, R>(f: (this: ByteClusterView, a: A, b: B) => R, a: A, b: B): R {
    for (let tries = 0; ; tries++) {
      const seq = this.begin();
      let r: R;
      try {
        r = f.call(this, a, b);
      } catch (e) {
        if (tries >= 100 || this.h[H_SEQ] === seq) throw e;
        continue; // a torn read
      }
      if (this.h[H_SEQ] === seq && this.buf!.buffer === this.current()) return r;
    }
  }

  service(name: string, namespace: string): ServiceRecord | undefined {
    return this.guard(this.serviceRaw, name, namespace);
  }

  private serviceRaw(name: string, namespace: string): ServiceRecord | undefined {
    const key = name.length + namespace.length + 1 > KEY_MAX ? '' : `${name}.${namespace}`;
    const at = tableGet(this.buf!, this.dv, this.h[H_SVC_TAB]!, this.h[H_SVC_CAP]!, key);
    return at > DELETED ? this.entryAt(at) : undefined;
  }

  namespaceExposed(ns: string): boolean {
    return this.guard(this.namespaceRaw, ns, undefined);
  }

  private namespaceRaw(ns: string): boolean {
    const at = this.h[H_NS]!;
    if (at !== this.nsAt) {
      const r = new In(this.buf!, this.dv, at + 4);
      this.ns = new Set(r.strs());
      this.nsAt = at;
    }
    return this.ns.has(ns);
  }

  /** The Services of the address list for `ip` in table `tab`. */
  private listed(tab: number, cap: number, ip: string): ServiceEntry[] | undefined {
    const at = tableGet(this.buf!, this.dv, this.h[tab]!, this.h[cap]!, ip);
    if (at <= DELETED) return undefined;
    const r = new In(this.buf!, this.dv, at + 6);
    r.at += 2 + r.dv.getUint16(r.at, true);
    const n = r.u16();
    const out = new Array<ServiceEntry>(n);
    for (let i = 0; i < n; i++) out[i] = this.entryAt(r.u32());
    return out;
  }

  byIp(ip: string): readonly (ServiceRecord | Endpoint)[] {
    return this.guard(this.byIpRaw, ip, undefined);
  }

  private byIpRaw(ip: string): readonly (ServiceRecord | Endpoint)[] {
    const list = this.listed(H_REV_TAB, H_REV_CAP, ip);
    if (list === undefined) return NO_RECORDS;
    const out: (ServiceRecord | Endpoint)[] = [];
    for (const e of list) if (e.svc !== undefined && e.svc.clusterIPs.includes(ip)) out.push(e);
    for (const e of list) {
      const ep = e.endpointWithIp(ip);
      if (ep !== undefined) out.push(ep);
    }
    return out;
  }

  externalByIp(ip: string): readonly ServiceRecord[] {
    return this.guard(this.externalRaw, ip, undefined);
  }

  private externalRaw(ip: string): readonly ServiceRecord[] {
    return this.listed(H_EXT_TAB, H_EXT_CAP, ip) ?? NO_RECORDS;
  }

  podsWithIp(ip: string): readonly SlimPod[] {
    return this.guard(this.podsRaw, ip, undefined);
  }

  private podsRaw(ip: string): readonly SlimPod[] {
    const at = tableGet(this.buf!, this.dv, this.h[H_POD_TAB]!, this.h[H_POD_CAP]!, ip);
    if (at <= DELETED) return NO_RECORDS;
    let pods = this.pods.get(at);
    if (pods === undefined) {
      const r = new In(this.buf!, this.dv, at + 6);
      r.str();
      const n = r.u16();
      const list: SlimPod[] = [];
      for (let i = 0; i < n; i++) {
        const namespace = r.str();
        const name = r.str();
        const rv = r.str();
        list.push({ namespace, name, ...(rv !== '' ? { rv } : {}), ips: r.strs() });
      }
      if (this.pods.size >= CACHE_MAX) this.pods.clear();
      this.pods.set(at, list);
      pods = list;
    }
    return pods;
  }

  serviceEntries(): readonly ServiceRecord[] {
    return this.guard(this.entriesRaw, undefined, undefined);
  }

  private entriesRaw(): readonly ServiceRecord[] {
    const out: ServiceRecord[] = [];
    const tab = this.h[H_SVC_TAB]!;
    const cap = this.h[H_SVC_CAP]!;
    for (let i = 0; i < cap; i++) {
      const at = this.dv.getUint32(tab + i * 4, true);
      if (at > DELETED) out.push(this.entryAt(at));
    }
    return out;
  }

  /** Services in the copy (tests, the bench). */
  get size(): number {
    return this.word(H_SVC_LIVE);
  }
}
