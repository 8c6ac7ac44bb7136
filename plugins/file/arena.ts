// Off-heap storage for zones (zone.ts): bytes in a few large Buffers (an Arena), growable typed
// arrays, a name → id hash table in a typed array, and a compact byte form of the parsed records
// (dns-packet-style objects) that decodes back to equal objects. A million-record zone is then a
// handful of ArrayBuffers the garbage collector never walks, instead of millions of small objects
// filling the old generation (bench/README.md, "Session 8").

import { ip6Text as groupsText, ipBytes } from '../../src/plugin/api.js';

/** Largest chunk of an arena, and so the largest item (an address keeps a 24-bit offset). */
const MAX_CHUNK = 1 << 24;
/** First chunk (a small zone stays small), doubled up to MAX_CHUNK. */
const FIRST_CHUNK = 64 * 1024;

/**
 * Append-only bytes in chunks of up to 16 MB. An item never spans two chunks; its address is
 * chunk × 2^24 + offset (at most 256 chunks).
 */
export class Arena {
  chunks: Buffer[] = [];
  private cur: Buffer | undefined;
  private pos = 0;
  private next = FIRST_CHUNK;

  /** Room for `n` bytes at the end of the last chunk: returns their address. */
  alloc(n: number): number {
    if (n > MAX_CHUNK) throw new Error(`zone item of ${n} bytes is too large (at most ${MAX_CHUNK})`);
    if (this.cur === undefined || this.pos + n > this.cur.length) {
      this.trim();
      if (this.chunks.length >= 256) throw new Error('zone too large for its arena (4 GB)');
      while (this.next < n) this.next *= 2;
      this.cur = Buffer.allocUnsafeSlow(this.next);
      if (this.next < MAX_CHUNK) this.next *= 2;
      this.chunks.push(this.cur);
      this.pos = 0;
    }
    const addr = (this.chunks.length - 1) * MAX_CHUNK + this.pos;
    this.pos += n;
    return addr;
  }

  /** Store `bytes[0, n)`; returns the address. */
  put(bytes: Buffer, n: number): number {
    const a = this.alloc(n);
    bytes.copy(this.cur!, this.pos - n, 0, n);
    return a;
  }

  /** Give back the unused end of the current chunk (a copy of the used part). */
  trim(): void {
    if (this.cur === undefined || this.pos === this.cur.length) return;
    const exact = Buffer.allocUnsafeSlow(this.pos);
    this.cur.copy(exact, 0, 0, this.pos);
    this.chunks[this.chunks.length - 1] = exact;
    this.cur = exact;
  }

  get bytes(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }
}

export const chunkOf = (addr: number): number => Math.floor(addr / MAX_CHUNK);
export const offsetOf = (addr: number): number => addr % MAX_CHUNK;

/** A growable Uint32Array / Int32Array / Uint16Array / Uint8Array. */
type Typed = Uint32Array | Int32Array | Uint16Array | Uint8Array;
export class Vec<T extends Typed> {
  a: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.a = make(16);
  }

  push(v: number): number {
    if (this.length === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.length] = v;
    return this.length++;
  }

  /** The used part as an array of its own (the spare capacity given back). */
  exact(): T {
    return this.a.slice(0, this.length) as T;
  }
}
export const u32 = (): Vec<Uint32Array> => new Vec((n) => new Uint32Array(n));
export const i32 = (): Vec<Int32Array> => new Vec((n) => new Int32Array(n));
export const u16 = (): Vec<Uint16Array> => new Vec((n) => new Uint16Array(n));
export const u8 = (): Vec<Uint8Array> => new Vec((n) => new Uint8Array(n));

/** FNV-1a over the UTF-16 code units of a name (names are looked up as JS strings). */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// ---- Writing: records are encoded into a scratch buffer, then copied into an arena at their exact size.

/** The scratch buffer writes go to (grown as needed; one per process: encoding is synchronous). */
export class Writer {
  b = Buffer.allocUnsafeSlow(4096);
  p = 0;

  /** Room for `n` more bytes at p. */
  room(n: number): void {
    if (this.p + n <= this.b.length) return;
    let size = this.b.length * 2;
    while (size < this.p + n) size *= 2;
    const nb = Buffer.allocUnsafeSlow(size);
    this.b.copy(nb, 0, 0, this.p);
    this.b = nb;
  }

  u8(v: number): void {
    this.room(1);
    this.b[this.p++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.b.writeUInt16LE(v, this.p);
    this.p += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.b.writeUInt32LE(v >>> 0, this.p);
    this.p += 4;
  }

  /** An unsigned integer below 2^32, 7 bits a byte. */
  varint(v: number): void {
    this.room(5);
    while (v >= 0x80) {
      this.b[this.p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.b[this.p++] = v;
  }

  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.room(n);
    this.p += this.b.write(s, this.p, n, 'utf8');
  }

  bytes(x: Uint8Array): void {
    this.varint(x.length);
    this.room(x.length);
    this.b.set(x, this.p);
    this.p += x.length;
  }
}

/** Interned strings (record types, object keys) of one zone: a small table, not per record. */
export class Strings {
  readonly list: string[] = [];
  private readonly ids = new Map<string, number>();
  id(s: string): number {
    let i = this.ids.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.ids.set(s, i);
    }
    return i;
  }

  find(s: string): number | undefined {
    return this.ids.get(s);
  }
}

// Value tags of the byte form.
const UNDEF = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const UINT = 4;
const FLOAT = 5;
const STR = 6;
const BUF = 7;
const U8A = 8;
const ARR = 9;
const OBJ = 10;
const IP4 = 11;
const IP6 = 12;

/**
 * The four bytes of a dotted quad written the one way it is read back (no leading zeros), or
 * false. (Not ipBytes: this runs for every A record of a zone being built, and allocates nothing.)
 */
function ip4(s: string, out: Writer): boolean {
  if (s.length < 7 || s.length > 15) return false;
  let part = 0;
  let digits = 0;
  let parts = 0;
  let lead0 = false;
  const start = out.p;
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 0x2e : s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || parts === 4) return false;
      out.b[start + parts++] = part;
      part = 0;
      digits = 0;
      lead0 = false;
    } else if (c >= 0x30 && c <= 0x39) {
      if (lead0) return false;
      if (digits === 0 && c === 0x30) lead0 = true;
      part = part * 10 + c - 0x30;
      if (++digits > 3 || part > 255) return false;
    } else return false;
  }
  return parts === 4;
}

/** RFC 5952 text of 16 address bytes at `o` (names.ts's ip6Text over their eight groups). */
const groups = new Uint16Array(8);
export function ip6Text(b: Uint8Array, o: number): string {
  for (let i = 0; i < 8; i++) groups[i] = (b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!;
  return groupsText(groups);
}

/** The 16 bytes of an IPv6 address written exactly as ip6Text() writes it back (ipBytes parses it), or false. */
function ip6(s: string, out: Writer): boolean {
  if (!s.includes(':')) return false;
  const b = ipBytes(s);
  if (b === undefined || b.length !== 16 || ip6Text(b, 0) !== s) return false;
  out.b.set(b, out.p);
  return true;
}

/**
 * Write any value a parsed or transferred record holds (strings, numbers, booleans, Buffers,
 * arrays, plain objects), so that readValue() gives back an equal one. `addr` packs a string
 * that is an IPv4 (4) or IPv6 (6) address in its canonical text as its bytes.
 */
export function writeValue(w: Writer, v: unknown, keys: Strings, addr: 0 | 4 | 6 = 0): void {
  switch (typeof v) {
    case 'undefined':
      return w.u8(UNDEF);
    case 'boolean':
      return w.u8(v ? TRUE : FALSE);
    case 'number':
      if (Number.isInteger(v) && v >= 0 && v < 2 ** 32 && !Object.is(v, -0)) {
        w.u8(UINT);
        return w.varint(v);
      }
      w.u8(FLOAT);
      w.room(8);
      w.b.writeDoubleLE(v, w.p);
      w.p += 8;
      return;
    case 'string':
      if (addr !== 0) {
        // tag, then the address bytes; back to a string if it does not read back the same
        w.room(17);
        const at = w.p;
        w.b[w.p++] = addr === 4 ? IP4 : IP6;
        if (addr === 4 ? ip4(v, w) : ip6(v, w)) {
          w.p += addr === 4 ? 4 : 16;
          return;
        }
        w.p = at;
      }
      w.u8(STR);
      return w.str(v);
    case 'object': {
      if (v === null) return w.u8(NULL);
      if (Buffer.isBuffer(v)) {
        w.u8(BUF);
        return w.bytes(v);
      }
      if (v instanceof Uint8Array) {
        w.u8(U8A);
        return w.bytes(v);
      }
      if (Array.isArray(v)) {
        w.u8(ARR);
        w.varint(v.length);
        for (const x of v) writeValue(w, x, keys);
        return;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) break;
      const ks = Object.keys(v);
      w.u8(OBJ);
      w.varint(ks.length);
      for (const k of ks) {
        w.varint(keys.id(k));
        writeValue(w, (v as Record<string, unknown>)[k], keys);
      }
      return;
    }
  }
  throw new Error(`a zone record cannot hold ${Object.prototype.toString.call(v)}`);
}

/** A reading position: the buffer and the offset, advanced as values are read. */
export class Reader {
  b: Buffer = Buffer.alloc(0);
  p = 0;

  at(b: Buffer, p: number): this {
    this.b = b;
    this.p = p;
    return this;
  }

  u8(): number {
    return this.b[this.p++]!;
  }

  u16(): number {
    const v = this.b.readUInt16LE(this.p);
    this.p += 2;
    return v;
  }

  u32(): number {
    const v = this.b.readUInt32LE(this.p);
    this.p += 4;
    return v;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const x = this.b[this.p++]!;
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 128;
    }
  }

  str(): string {
    const n = this.varint();
    const s = this.b.toString('utf8', this.p, this.p + n);
    this.p += n;
    return s;
  }

  /** Step over one value. */
  skip(): void {
    const tag = this.u8();
    switch (tag) {
      case UINT:
        this.varint();
        return;
      case FLOAT:
        this.p += 8;
        return;
      case STR:
      case BUF:
      case U8A: {
        const n = this.varint(); // (read before p is)
        this.p += n;
        return;
      }
      case IP4:
        this.p += 4;
        return;
      case IP6:
        this.p += 16;
        return;
      case ARR:
        for (let n = this.varint(); n > 0; n--) this.skip();
        return;
      case OBJ:
        for (let n = this.varint(); n > 0; n--) {
          this.varint();
          this.skip();
        }
        return;
    }
  }

  value(keys: readonly string[]): unknown {
    const tag = this.u8();
    switch (tag) {
      case UNDEF:
        return undefined;
      case NULL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case UINT:
        return this.varint();
      case FLOAT: {
        const v = this.b.readDoubleLE(this.p);
        this.p += 8;
        return v;
      }
      case STR:
        return this.str();
      case BUF:
      case U8A: {
        const n = this.varint();
        const out = Buffer.allocUnsafe(n);
        this.b.copy(out, 0, this.p, this.p + n);
        this.p += n;
        return tag === BUF ? out : new Uint8Array(out.buffer, out.byteOffset, n);
      }
      case IP4: {
        const b = this.b;
        const p = this.p;
        this.p += 4;
        return `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}`;
      }
      case IP6: {
        const s = ip6Text(this.b, this.p);
        this.p += 16;
        return s;
      }
      case ARR: {
        const n = this.varint();
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(keys));
        return out;
      }
      case OBJ: {
        const n = this.varint();
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = keys[this.varint()]!;
          out[k] = this.value(keys);
        }
        return out;
      }
    }
    throw new Error(`corrupt zone arena (tag ${tag})`);
  }
}
