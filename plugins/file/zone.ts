// One authoritative zone in memory: RRsets indexed by owner and type, the set of existing names
// (owners plus empty non-terminals) for NXDOMAIN vs NODATA and the RFC 4592 closest encloser, and
// the delegation points. lookup() never scans: it walks the query name's labels only.
//
// The zone is kept off the JavaScript heap (arena.ts): every existing name is an id in a hash
// table of typed arrays (with flags: owns records, delegation point, DNAME), its name's bytes are
// in one arena and its RRsets, in a compact byte form, in another. Nothing per record or per name
// is a JS object once the zone is sealed: a million records are about 60 bytes each in a few
// dozen Buffers the garbage collector does not walk, where they were 380 bytes each in a million
// objects that made every scavenge scan 1,300 old-generation pages (bench/README.md, "Session 8").
// A lookup decodes only the RRsets it answers with (short-lived objects).
import { isSubdomain, parentName, RCODE, type RR } from '../../src/plugin/api.js';
import { Arena, chunkOf, hashName, i32, offsetOf, Reader, Strings, u16, u32, u8, writeValue, Writer, type Vec } from './arena.js';
import { rrTypeKey, type ZoneRecord } from './zonefile.js';

const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, AAAA: 28, SRV: 33, DNAME: 39, DS: 43, ANY: 255 } as const;
/** Longest CNAME chain followed inside the zone. */
const MAX_CHASE = 8;
const RRSIG_TYPE = 46;
const NSEC_TYPE = 47;
const NSEC3_TYPE = 50;

export interface LookupResult {
  rcode: number;
  aa: boolean;
  answers: RR[];
  authorities: RR[];
  additionals: RR[];
  /**
   * Set when a CNAME chain leaves the zone: the target the server must be asked for (CoreDNS's
   * externalLookup). `answers` then holds the chain so far.
   */
  external?: string;
}

type Step =
  | { kind: 'answer'; rrs: RR[]; wild: boolean }
  | { kind: 'cname'; rr: RR; target: string; dname?: RR }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' };

const SVCB = rrTypeKey(64);
const HTTPS = rrTypeKey(65);

/** The TargetName of SVCB/HTTPS RDATA bytes (after the 2-byte priority), without the final dot; undefined for '.'. */
function svcbTarget(b: Buffer): string | undefined {
  let p = 2;
  let out = '';
  while (p < b.length) {
    const l = b[p]!;
    if (l === 0) break;
    out += (out === '' ? '' : '.') + b.toString('latin1', p + 1, p + 1 + l);
    p += 1 + l;
  }
  return out === '' ? undefined : out;
}

/** The owner as records spell it (no final dot, the root '.'). */
const shown = (owner: string): string => (owner === '.' ? '.' : owner.slice(0, -1));
/** `name` (a record's) is `owner` (a lower-case FQDN) spelled as shown() does. */
const isShown = (name: unknown, owner: string): boolean =>
  typeof name === 'string' && (owner === '.' ? name === '.' : name.length === owner.length - 1 && owner.startsWith(name));

// Name flags.
const NODE = 1; // owns records (otherwise an empty non-terminal)
const CUT = 2; // a delegation point (NS below the apex)
const DNAME = 4;

// Record flags: which of its fields follow (the byte form of one record).
const R_TTL = 1; // u32
const R_DATA = 2; // a value (packed as an address for A and AAAA)
const R_NAME = 4; // a value: the record's name is not the owner as shown()
const R_CLASS = 8; // a value
const R_TYPE = 16; // varint type id: the record's type is not its RRset's
const R_EXTRA = 32; // an object of the record's other fields
const FIELDS = new Set(['name', 'type', 'class', 'ttl', 'data']);

/** One scratch buffer for encoding (zones are built synchronously, one record at a time). */
const scratch = new Writer();
const rd = new Reader();
const rd2 = new Reader();

const fq = (n: string): string => (n === '.' ? '.' : `${n.toLowerCase()}.`);
const EMPTY: RR[] = [];
const dataOf = (r: RR): unknown => (r as { data?: unknown }).data;
const ttlOf = (r: RR): number => (r as { ttl?: number }).ttl ?? 0;

/** What add() keeps until seal(): the records as written, chained per owner. */
interface Build {
  recs: Arena;
  /**
   * Per record: its address in `recs`, byte length, next record of its owner (-1), its RRset's type
   * id and the RRset's number at the owner (two sets can have one type: a record whose `type` is not
   * rrTypeKey's name for its number, e.g. a transferred 'RRSIG', starts a set of its own each time).
   */
  addr: Vec<Uint32Array>;
  len: Vec<Uint32Array>;
  next: Vec<Int32Array>;
  set: Vec<Uint16Array>;
  no: Vec<Uint32Array>;
  /** Per name id: first and last record (-1). */
  head: Vec<Int32Array>;
  tail: Vec<Int32Array>;
  /** Name ids with records, in the order of their first record (zone transfers keep it). */
  order: Vec<Uint32Array>;
}

export class Zone {
  soa!: RR;
  /** The SOA for negative answers: TTL = min(SOA TTL, SOA minimum) (RFC 2308). */
  negSoa!: RR;
  serial = 0;
  apexNs: RR[] = EMPTY;
  glueNs: RR[] = EMPTY;
  /** The zone has NSEC or NSEC3 records: DO queries get DNSSEC answers (signed.ts). */
  signed = false;
  private count = 0;
  private cuts = 0;
  private dnames = 0;

  /** Every existing name (owners and empty non-terminals) as an id: its bytes, hash and flags. */
  private readonly names = new Arena();
  private nameAt: Vec<Uint32Array> = u32();
  private hashes: Vec<Uint32Array> = u32();
  private flags: Vec<Uint8Array> = u8();
  /** Open addressing: id + 1 per slot, 0 for an empty slot; a power of two long. */
  private table = new Int32Array(16);
  /** After seal(): each owner's RRsets in `data` (by name id), and the owners in transfer order. */
  private nodeAt: Uint32Array = new Uint32Array(0);
  private order: Uint32Array = new Uint32Array(0);
  private readonly data = new Arena();
  /** Record type names and object keys, interned. */
  private readonly types = new Strings();
  private readonly keys = new Strings();
  private build: Build | undefined = {
    recs: new Arena(),
    addr: u32(),
    len: u32(),
    next: i32(),
    set: u16(),
    no: u32(),
    head: i32(),
    tail: i32(),
    order: u32(),
  };

  /** A zone of `records`; without them, an empty zone to fill with add() and finish with seal(). */
  constructor(
    readonly origin: string,
    records?: Iterable<ZoneRecord>,
  ) {
    if (records === undefined) return;
    for (const r of records) this.add(r);
    this.seal();
  }

  // ---- names

  /** The id of an existing name, or -1. */
  private find(name: string): number {
    const h = hashName(name);
    const t = this.table;
    const mask = t.length - 1;
    const hashes = this.hashes.a;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = t[i]!;
      if (e === 0) return -1;
      if (hashes[e - 1] === h && this.nameIs(e - 1, name)) return e - 1;
    }
  }

  private nameIs(id: number, name: string): boolean {
    const a = this.nameAt.a[id]!;
    const r = rd2.at(this.names.chunks[chunkOf(a)]!, offsetOf(a));
    const n = r.varint();
    if (n < name.length) return false;
    const b = r.b;
    const p = r.p;
    if (n > name.length) return b.toString('utf8', p, p + n) === name;
    for (let i = 0; i < n; i++) if (b[p + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private nameOf(id: number): string {
    const a = this.nameAt.a[id]!;
    return rd2.at(this.names.chunks[chunkOf(a)]!, offsetOf(a)).str();
  }

  /** A new name (not in the table yet). */
  private insert(name: string, flags: number): number {
    const b = this.build!;
    const h = hashName(name);
    scratch.p = 0;
    scratch.str(name);
    const id = this.hashes.push(h);
    this.nameAt.push(this.names.put(scratch.b, scratch.p));
    this.flags.push(flags);
    b.head.push(-1);
    b.tail.push(-1);
    if ((id + 1) * 10 > this.table.length * 7) this.grow();
    else this.place(this.table, id, h);
    return id;
  }

  private place(t: Int32Array, id: number, h: number): void {
    const mask = t.length - 1;
    let i = h & mask;
    while (t[i] !== 0) i = (i + 1) & mask;
    t[i] = id + 1;
  }

  private grow(): void {
    const t = new Int32Array(this.table.length * 2);
    const n = this.hashes.length;
    const hashes = this.hashes.a;
    for (let id = 0; id < n; id++) this.place(t, id, hashes[id]!);
    this.table = t;
  }

  /** The name exists: it owns records or is an empty non-terminal. */
  exists(name: string): boolean {
    return this.find(name) >= 0;
  }

  /** The name owns records. */
  has(name: string): boolean {
    return this.owned(name) >= 0;
  }

  /** The id of a name that owns records, or -1 (also for an empty non-terminal). */
  private owned(name: string): number {
    const id = this.find(name);
    return id >= 0 && (this.flags.a[id]! & NODE) !== 0 ? id : -1;
  }

  /** The names that own records, in the order they were added. */
  *owners(): Generator<string> {
    for (const id of this.order) yield this.nameOf(id);
  }

  /** Number of records in the zone. */
  get size(): number {
    return this.count;
  }

  // ---- building

  /** Add one record (owner at or below the origin). Every record of an RRset gets the TTL of the first (RFC 2181 §5.2; RRSIGs excepted). */
  add(r: ZoneRecord): void {
    const b = this.build;
    if (b === undefined) throw new Error(`zone '${this.origin}' is sealed: no more records`);
    const owner = r.owner;
    let id = this.find(owner);
    let setType: number;
    let setNo = 0;
    let ttl: number | undefined;
    if (id < 0 || (this.flags.a[id]! & NODE) === 0) {
      if (id < 0) {
        id = this.insert(owner, NODE);
        // Ancestors up to the apex exist (empty non-terminals unless they have records).
        for (let n = owner === this.origin ? undefined : parentName(owner); n !== undefined && this.find(n) < 0; n = parentName(n)) {
          this.insert(n, 0);
          if (n === this.origin) break;
        }
      } else this.flags.a[id]! |= NODE;
      b.order.push(id);
      setType = this.types.id(r.rr.type);
    } else {
      // The RRset of the record's type: the records of the owner whose RRset's type is rrTypeKey(qtype).
      const want = this.types.find(rrTypeKey(r.qtype));
      let first = -1;
      for (let x = b.head.a[id]!; x >= 0; x = b.next.a[x]!) {
        if (b.set.a[x] === want) {
          first = x;
          break;
        }
        setNo = Math.max(setNo, b.no.a[x]! + 1);
      }
      if (first < 0) setType = this.types.id(r.rr.type);
      else {
        setType = want!;
        setNo = b.no.a[first]!;
        // RRSIGs of one owner cover different RRsets, each with its own TTL: kept as they are.
        const setTtl = r.qtype === RRSIG_TYPE ? ttlOf(r.rr) : this.storedTtl(first);
        if (ttlOf(r.rr) !== setTtl) ttl = setTtl;
        this.encode(r.rr, owner, setType, ttl);
        for (let x = first; x >= 0; x = b.next.a[x]!) if (b.no.a[x] === setNo && this.sameData(x)) return;
      }
    }
    if (ttl === undefined) this.encode(r.rr, owner, setType, undefined);
    const x = b.addr.push(b.recs.put(scratch.b, scratch.p));
    b.len.push(scratch.p);
    b.next.push(-1);
    b.set.push(setType);
    b.no.push(setNo);
    if (b.tail.a[id]! < 0) b.head.a[id] = x;
    else b.next.a[b.tail.a[id]!] = x;
    b.tail.a[id] = x;
    this.count++;
    if (r.qtype === T.NS && owner !== this.origin && (this.flags.a[id]! & CUT) === 0) {
      this.flags.a[id]! |= CUT;
      this.cuts++;
    }
    if (r.qtype === T.DNAME) {
      if ((this.flags.a[id]! & DNAME) === 0) this.dnames++;
      this.flags.a[id]! |= DNAME;
    } else if (r.qtype === NSEC_TYPE || r.qtype === NSEC3_TYPE) this.signed = true;
  }

  /** Encode `rr` (of `owner`, in the RRset of type id `setType`) into the scratch buffer; `ttl` replaces its TTL. */
  private encode(rr: RR, owner: string, setType: number, ttl: number | undefined): void {
    const o = rr as unknown as Record<string, unknown>;
    const w = scratch;
    w.p = 0;
    let f = 0;
    const t = ttl ?? o.ttl;
    if (t !== undefined) f |= R_TTL;
    if (o.data !== undefined) f |= R_DATA;
    if (!isShown(o.name, owner)) f |= R_NAME;
    if (o.class !== undefined) f |= R_CLASS;
    const type = this.types.id(rr.type);
    if (type !== setType) f |= R_TYPE;
    let extra: Record<string, unknown> | undefined;
    for (const k in o) if (!FIELDS.has(k) && Object.hasOwn(o, k)) (extra ??= {})[k] = o[k];
    if (extra !== undefined) f |= R_EXTRA;
    w.u8(f);
    if (f & R_TTL) w.u32(t as number);
    if (f & R_DATA) writeValue(w, o.data, this.keys, rr.type === 'A' ? 4 : rr.type === 'AAAA' ? 6 : 0);
    if (f & R_NAME) writeValue(w, o.name, this.keys);
    if (f & R_CLASS) writeValue(w, o.class, this.keys);
    if (f & R_TYPE) w.varint(type);
    if (extra !== undefined) writeValue(w, extra, this.keys);
  }

  /** Start and end of the data of the record at `r`'s position (left after it). */
  private static dataSpan(r: Reader): [number, number] {
    const f = r.u8();
    if (f & R_TTL) r.p += 4;
    const start = r.p;
    if (f & R_DATA) r.skip();
    return [start, r.p];
  }

  /** The TTL of build record `x` (0 without one). */
  private storedTtl(x: number): number {
    const a = this.build!.addr.a[x]!;
    const r = rd.at(this.build!.recs.chunks[chunkOf(a)]!, offsetOf(a));
    return r.u8() & R_TTL ? r.u32() : 0;
  }

  /** Build record `x` has the same data as the record in the scratch buffer (duplicates are kept once). */
  private sameData(x: number): boolean {
    const a = this.build!.addr.a[x]!;
    const [s1, e1] = Zone.dataSpan(rd.at(this.build!.recs.chunks[chunkOf(a)]!, offsetOf(a)));
    const [s2, e2] = Zone.dataSpan(rd2.at(scratch.b, 0));
    return e1 - s1 === e2 - s2 && rd.b.compare(scratch.b, s2, e2, s1, e1) === 0;
  }

  /** Lay the records out by owner and RRset, check the apex SOA and derive what answers need from it; call once, after the last add(). */
  seal(): this {
    const steps = this.sealing();
    while (!steps.next().done);
    return this;
  }

  /** seal() in steps (about a thousand owners each), so a caller can let other work run between them. */
  *sealing(): Generator<void, this> {
    const b = this.build;
    if (b === undefined) return this;
    const nodeAt = new Uint32Array(this.hashes.length);
    const w = scratch;
    for (let k = 0; k < b.order.length; k++) {
      const id = b.order.a[k]!;
      let sets = 0;
      for (let x = b.head.a[id]!; x >= 0; x = b.next.a[x]!) sets = Math.max(sets, b.no.a[x]! + 1);
      w.p = 0;
      w.varint(sets);
      // the sets in the order they were started, each with its records in the order they were added
      for (let s = 0; s < sets; s++) {
        let n = 0;
        let bytes = 0;
        let type = 0;
        for (let x = b.head.a[id]!; x >= 0; x = b.next.a[x]!) {
          if (b.no.a[x] !== s) continue;
          if (n++ === 0) type = b.set.a[x]!;
          bytes += b.len.a[x]!;
        }
        w.varint(type);
        w.varint(n);
        w.varint(bytes);
        w.room(bytes);
        for (let x = b.head.a[id]!; x >= 0; x = b.next.a[x]!) {
          if (b.no.a[x] !== s) continue;
          const a = b.addr.a[x]!;
          w.p += b.recs.chunks[chunkOf(a)]!.copy(w.b, w.p, offsetOf(a), offsetOf(a) + b.len.a[x]!);
        }
      }
      nodeAt[id] = this.data.put(w.b, w.p);
      if ((k & 1023) === 1023) yield;
    }
    this.data.trim();
    this.names.trim();
    this.order = b.order.exact();
    this.nodeAt = nodeAt;
    this.nameAt.a = this.nameAt.exact();
    this.hashes.a = this.hashes.exact();
    this.flags.a = this.flags.exact();
    this.build = undefined;
    if (w.b.length > 1 << 20) scratch.b = Buffer.allocUnsafeSlow(4096);

    const soa = this.rrset(this.origin, rrTypeKey(T.SOA))?.[0];
    if (soa === undefined || soa.type !== 'SOA') throw new Error(`no SOA record for zone '${this.origin}'`);
    this.soa = soa;
    const soaData = (soa as { data: { serial: number; minimum: number } }).data;
    this.serial = soaData.serial;
    this.negSoa = { ...soa, ttl: Math.min(ttlOf(soa), soaData.minimum) } as RR;
    this.apexNs = this.rrset(this.origin, rrTypeKey(T.NS)) ?? EMPTY;
    this.glueNs = this.extraFor(this.apexNs);
    return this;
  }

  // ---- reading

  /** `rd` at the RRset of type id `type` of owner `id` (at its first record): its record count, or -1. */
  private seek(id: number, type: number): number {
    const a = this.nodeAt[id]!;
    const r = rd.at(this.data.chunks[chunkOf(a)]!, offsetOf(a));
    for (let sets = r.varint(); sets > 0; sets--) {
      const t = r.varint();
      const n = r.varint();
      const bytes = r.varint();
      if (t === type) return n;
      r.p += bytes;
    }
    return -1;
  }

  /** Decode `n` records at `rd`'s position (an RRset of type id `type` at `owner`). */
  private decode(n: number, owner: string, type: number): RR[] {
    const r = rd;
    const keys = this.keys.list;
    const setType = this.types.list[type]!;
    const out: RR[] = [];
    const own = shown(owner);
    for (let i = 0; i < n; i++) {
      const f = r.u8();
      const ttl = f & R_TTL ? r.u32() : undefined;
      const data = f & R_DATA ? r.value(keys) : undefined;
      if (f === (R_TTL | R_DATA)) {
        out.push({ name: own, type: setType, ttl, data } as RR);
        continue;
      }
      const rr: Record<string, unknown> = { name: f & R_NAME ? r.value(keys) : own, type: setType };
      // (the parser's order: name, type, ttl, data, then class)
      const cls = f & R_CLASS ? r.value(keys) : undefined;
      if (f & R_TTL) rr.ttl = ttl;
      if (f & R_DATA) rr.data = data;
      if (f & R_CLASS) rr.class = cls;
      if (f & R_TYPE) rr.type = this.types.list[r.varint()];
      if (f & R_EXTRA) Object.assign(rr, r.value(keys));
      out.push(rr as unknown as RR);
    }
    return out;
  }

  /** The records of type `type` (rrTypeKey's name) at `owner`, decoded afresh. */
  rrset(owner: string, type: string): RR[] | undefined {
    const id = this.owned(owner);
    return id < 0 ? undefined : this.setAt(id, owner, type);
  }

  /** `owner` has records of type `type` (rrTypeKey's name); nothing is decoded. */
  hasType(owner: string, type: string): boolean {
    const id = this.owned(owner);
    const t = this.types.find(type);
    return id >= 0 && t !== undefined && this.seek(id, t) >= 0;
  }

  private setAt(id: number, owner: string, type: string): RR[] | undefined {
    const t = this.types.find(type);
    if (t === undefined) return undefined;
    const n = this.seek(id, t);
    return n < 0 ? undefined : this.decode(n, owner, t);
  }

  /** Every RRset at `owner` (in the order their types were first added), decoded afresh; undefined when it owns no records. */
  node(owner: string): RR[][] | undefined {
    const id = this.owned(owner);
    return id < 0 ? undefined : this.setsAt(id, owner);
  }

  /** The RRsets of owner `id`; the set of type id `skipFirst`, if any, without its first record. */
  private setsAt(id: number, owner: string, skipFirst = -1): RR[][] {
    const a = this.nodeAt[id]!;
    const out: RR[][] = [];
    let p = offsetOf(a);
    const chunk = this.data.chunks[chunkOf(a)]!;
    const r = rd.at(chunk, p);
    for (let sets = r.varint(); sets > 0; sets--) {
      const t = r.varint();
      const n = r.varint();
      const bytes = r.varint();
      p = r.p + bytes;
      const set = this.decode(n, owner, t);
      if (t === skipFirst) set.shift();
      out.push(set);
      rd.at(chunk, p);
    }
    return out;
  }

  /** Answer `qname` (a lower-case FQDN at or below the origin). */
  lookup(qname: string, qtype: number): LookupResult {
    const cut = this.findCut(qname, qtype);
    if (cut !== undefined) return this.referral(cut);

    if (qname === this.origin) {
      if (qtype === T.SOA) return { rcode: RCODE.NOERROR, aa: true, answers: [this.soa], authorities: this.apexNs, additionals: this.glueNs };
      if (qtype === T.NS) return { rcode: RCODE.NOERROR, aa: true, answers: this.apexNs, authorities: EMPTY, additionals: this.glueNs };
    }

    let chain: RR[] | undefined;
    let name = qname;
    const seen = new Set<string>();
    for (let hop = 0; ; hop++) {
      const step = this.dnameAbove(name) ?? this.step(name, qtype);
      switch (step.kind) {
        case 'answer': {
          const answers = chain === undefined ? step.rrs : [...chain, ...step.rrs];
          return { rcode: RCODE.NOERROR, aa: true, answers, authorities: this.apexNs, additionals: this.extraFor(step.rrs) };
        }
        case 'nodata':
          return { rcode: RCODE.NOERROR, aa: true, answers: chain ?? EMPTY, authorities: [this.negSoa], additionals: EMPTY };
        case 'nxdomain':
          return { rcode: RCODE.NXDOMAIN, aa: true, answers: chain ?? EMPTY, authorities: [this.negSoa], additionals: EMPTY };
        case 'cname': {
          const links = step.dname === undefined ? [step.rr] : [step.dname, step.rr];
          chain = chain === undefined ? links : [...chain, ...links];
          // A CNAME query is answered by the synthesised CNAME itself.
          if (step.dname !== undefined && qtype === T.CNAME) {
            return { rcode: RCODE.NOERROR, aa: true, answers: chain, authorities: this.apexNs, additionals: EMPTY };
          }
          seen.add(name);
          const target = step.target;
          // Out of the zone: the server resolves the target (file.ts asks it).
          if (!isSubdomain(target, this.origin) && hop + 1 < MAX_CHASE) {
            return { rcode: RCODE.NOERROR, aa: true, answers: chain, authorities: this.apexNs, additionals: EMPTY, external: target };
          }
          // Stop at a delegation, a loop, or the chase limit: the client resolves the rest.
          if (hop + 1 >= MAX_CHASE || seen.has(target) || !isSubdomain(target, this.origin) || this.findCut(target, qtype) !== undefined) {
            return { rcode: RCODE.NOERROR, aa: true, answers: chain, authorities: this.apexNs, additionals: EMPTY };
          }
          name = target;
        }
      }
    }
  }

  /** The delegation point at or above `name` (below the apex), if any. A DS query at the cut itself belongs to this side. */
  private findCut(name: string, qtype: number): string | undefined {
    if (this.cuts === 0 || name === this.origin) return undefined;
    let found: string | undefined;
    // Walk up to the apex; the cut closest to the apex wins (everything below it is occluded).
    for (let n: string | undefined = name; n !== undefined && n !== this.origin; n = parentName(n)) {
      if (!(n === name && qtype === T.DS) && this.flagged(n, CUT)) found = n;
    }
    return found;
  }

  private flagged(name: string, flag: number): boolean {
    const id = this.find(name);
    return id >= 0 && (this.flags.a[id]! & flag) !== 0;
  }

  private referral(cut: string): LookupResult {
    const ns = this.rrset(cut, rrTypeKey(T.NS))!;
    return { rcode: RCODE.NOERROR, aa: false, answers: EMPTY, authorities: ns, additionals: this.extraFor(ns) };
  }

  /** A DNAME strictly above `name`: the DNAME and the CNAME it synthesises for `name` (RFC 6672 §2.2). */
  private dnameAbove(name: string): Step | undefined {
    if (this.dnames === 0 || name === this.origin) return undefined;
    for (let n = parentName(name); n !== undefined; n = parentName(n)) {
      if (this.flagged(n, DNAME)) {
        const dname = this.rrset(n, rrTypeKey(T.DNAME))![0]!;
        const to = fq(String(dataOf(dname)));
        const target = name.slice(0, name.length - n.length) + (to === '.' ? '' : to);
        const rr = { name: name.slice(0, -1), type: 'CNAME', class: 'IN', ttl: ttlOf(dname), data: target.slice(0, -1) } as RR;
        return { kind: 'cname', rr, target, dname };
      }
      if (n === this.origin) break;
    }
    return undefined;
  }

  /** One name (no chasing): its RRset, a CNAME to follow, NODATA or NXDOMAIN; wildcards per RFC 4592. */
  private step(name: string, qtype: number): Step {
    const id = this.find(name);
    if (id >= 0) return (this.flags.a[id]! & NODE) !== 0 ? this.fromNode(id, name, qtype, undefined) : { kind: 'nodata' };
    // Closest encloser: the nearest existing ancestor. Its '*' child, if any, is the source of synthesis.
    let ce: string | undefined = parentName(name);
    while (ce !== undefined && !this.exists(ce)) ce = parentName(ce);
    if (ce === undefined) return { kind: 'nxdomain' };
    const wildName = ce === '.' ? '*.' : `*.${ce}`;
    const wild = this.owned(wildName);
    if (wild < 0) return { kind: 'nxdomain' };
    return this.fromNode(wild, wildName, qtype, name);
  }

  private fromNode(id: number, owner: string, qtype: number, synthOwner: string | undefined): Step {
    const as = synthOwner === undefined ? undefined : shown(synthOwner);
    const rename = (rrs: RR[]): RR[] => {
      if (as !== undefined) for (const r of rrs) r.name = as;
      return rrs;
    };
    if (qtype === T.ANY) {
      const all: RR[] = [];
      for (const set of this.setsAt(id, owner)) all.push(...set);
      return { kind: 'answer', rrs: rename(all), wild: as !== undefined };
    }
    const set = this.setAt(id, owner, rrTypeKey(qtype));
    if (set !== undefined) return { kind: 'answer', rrs: rename(set), wild: as !== undefined };
    const cname = this.setAt(id, owner, rrTypeKey(T.CNAME))?.[0];
    if (cname !== undefined) {
      if (as !== undefined) cname.name = as;
      return { kind: 'cname', rr: cname, target: fq(String((cname as { data: string }).data)) };
    }
    return { kind: 'nodata' };
  }

  /** In-zone A/AAAA records for the targets of MX, SRV, SVCB, HTTPS and NS records (glue for referrals). */
  private extraFor(rrs: RR[]): RR[] {
    let out: RR[] | undefined;
    for (const r of rrs) {
      let target: string | undefined;
      if (r.type === 'MX') target = r.data.exchange;
      else if (r.type === 'SRV') target = r.data.target;
      else if (r.type === 'NS') target = r.data;
      else if ((r.type as string) === SVCB || (r.type as string) === HTTPS) target = svcbTarget(dataOf(r) as Buffer);
      if (target === undefined) continue;
      const owner = fq(target);
      const id = this.owned(owner);
      if (id < 0) continue;
      for (const t of ADDRESS_TYPES) {
        const set = this.setAt(id, owner, t);
        if (set !== undefined) (out ??= []).push(...set);
      }
    }
    return out ?? EMPTY;
  }

  /**
   * Every record, for a zone transfer: the SOA first, then the owners in the order they were
   * added (the apex's other records with the apex), each RRset whole; the SOA is not repeated.
   */
  *records(): Generator<RR> {
    yield this.soa;
    const apex = this.find(this.origin);
    // the apex's records with the SOA left out (yielded first)
    if (apex >= 0) for (const set of this.setsAt(apex, this.origin, this.types.find(rrTypeKey(T.SOA)) ?? -1)) yield* set;
    for (const id of this.order) {
      if (id === apex) continue;
      for (const set of this.setsAt(id, this.nameOf(id))) yield* set;
    }
  }
}

const ADDRESS_TYPES = [rrTypeKey(T.A), rrTypeKey(T.AAAA)];
