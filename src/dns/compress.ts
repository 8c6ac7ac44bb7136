// Fitting a reply to the client's size: name compression first (RFC 1035 4.1.4), then as many
// whole records as fit, in order (answer, authority, additional), with TC set when an answer or
// authority record had to go (RFC 2181 9: additional records are optional). The OPT record is
// always kept, as the last additional.
//
// Works on wire bytes, so it serves both dns-packet's output (which never compresses) and
// pre-encoded replies (hosts, kubernetes, cache). Only the slow path runs it: a reply larger than
// the client's size.
//
// Names are compressed in owner names and in the RDATA of the RFC 1035 types (RFC 3597 4). The
// names in SRV, NAPTR, RP, AFSDB, RT, PX, KX and DNAME RDATA are written whole (and decompressed
// if a sender compressed them) but later names may point into them, as miekg/dns does: the glue
// of a large SRV answer then costs a pointer per owner name instead of the whole target name.
import { FLAG, QTYPE } from './constants.js';

/** RDATA layout: bytes to copy, 'n' a name, 's' a character-string. Unlisted types are copied whole. */
type Field = number | 'n' | 's';
const LAYOUT = new Map<number, readonly Field[]>([
  [2, ['n']], // NS
  [3, ['n']], // MD
  [4, ['n']], // MF
  [5, ['n']], // CNAME
  [6, ['n', 'n', 20]], // SOA
  [7, ['n']], // MB
  [8, ['n']], // MG
  [9, ['n']], // MR
  [12, ['n']], // PTR
  [14, ['n', 'n']], // MINFO
  [15, [2, 'n']], // MX
  [17, ['n', 'n']], // RP
  [18, [2, 'n']], // AFSDB
  [21, [2, 'n']], // RT
  [26, [2, 'n', 'n']], // PX
  [33, [6, 'n']], // SRV
  [35, [4, 's', 's', 's', 'n']], // NAPTR
  [36, [2, 'n']], // KX
  [39, ['n']], // DNAME
]);
/** Types whose RDATA names may themselves be compressed (RFC 3597 4). */
const COMPRESSED_RDATA = new Set([2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15]);

class Malformed extends Error {
  constructor(what: string) {
    super(`malformed reply: ${what}`);
  }
}

/** Writes a message, compressing names against the ones already written. */
class Packer {
  out: Buffer;
  pos = 0;
  /** A name suffix (its wire labels as a latin1 string) → its offset in `out`. */
  private readonly names = new Map<string, number>();
  private readonly labels: number[] = [];

  constructor(
    private readonly src: Uint8Array,
    size: number,
  ) {
    this.out = Buffer.allocUnsafe(size);
  }

  room(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + n));
    this.out.copy(bigger, 0, 0, this.pos);
    this.out = bigger;
  }

  copy(from: number, n: number): void {
    if (from + n > this.src.length) throw new Malformed('record past the end');
    this.room(n);
    this.out.set(this.src.subarray(from, from + n), this.pos);
    this.pos += n;
  }

  /** Copy the name at `off` (following pointers), compressed when `compress`; the offset after it in src. */
  name(off: number, compress: boolean): number {
    const src = this.src;
    const labels = this.labels;
    labels.length = 0;
    let pos = off;
    let end = -1;
    let total = 1;
    for (let hops = 0; ; ) {
      if (pos >= src.length) throw new Malformed('name past the end');
      const l = src[pos]!;
      if (l === 0) break;
      if ((l & 0xc0) === 0xc0) {
        if (pos + 1 >= src.length) throw new Malformed('name past the end');
        const ptr = ((l & 0x3f) << 8) | src[pos + 1]!;
        if (end < 0) end = pos + 2;
        if (++hops > 126 || ptr >= pos) throw new Malformed('bad pointer');
        pos = ptr;
        continue;
      }
      if ((l & 0xc0) !== 0 || pos + 1 + l > src.length) throw new Malformed('bad label');
      total += l + 1;
      if (total > 255) throw new Malformed('name too long');
      labels.push(pos);
      pos += l + 1;
    }
    if (end < 0) end = pos + 1;
    const n = labels.length;
    // the suffix keys, longest first: key[i] is labels i..n-1
    const keys: string[] = new Array<string>(n);
    let suffix = '';
    for (let i = n - 1; i >= 0; i--) {
      const p = labels[i]!;
      suffix = Buffer.from(src.buffer, src.byteOffset + p, src[p]! + 1).toString('latin1') + suffix;
      keys[i] = suffix;
    }
    let upto = n;
    let pointer = -1;
    if (compress) {
      for (let i = 0; i < n; i++) {
        const at = this.names.get(keys[i]!);
        if (at !== undefined) {
          upto = i;
          pointer = at;
          break;
        }
      }
    }
    this.room(total + 2);
    for (let i = 0; i < upto; i++) {
      const p = labels[i]!;
      if (this.pos < 0x4000 && !this.names.has(keys[i]!)) this.names.set(keys[i]!, this.pos);
      const l = src[p]! + 1;
      this.out.set(src.subarray(p, p + l), this.pos);
      this.pos += l;
    }
    if (pointer >= 0) {
      this.out[this.pos++] = 0xc0 | (pointer >> 8);
      this.out[this.pos++] = pointer & 0xff;
    } else {
      this.out[this.pos++] = 0;
    }
    return end;
  }
}

/**
 * The reply in `wire` made to fit `size` bytes: compressed, then cut to whole records (TC set when
 * an answer or authority record is left out). Throws on a malformed message.
 */
export function fitReply(wire: Uint8Array, size: number): Buffer {
  if (wire.length < 12) throw new Malformed('short header');
  const count = (i: number): number => (wire[i]! << 8) | wire[i + 1]!;
  const qd = count(4);
  const an = count(6);
  const ns = count(8);
  const ar = count(10);
  const pk = new Packer(wire, Math.min(wire.length, size + 512));
  pk.copy(0, 12);
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = pk.name(pos, true);
    pk.copy(pos, 4);
    pos += 4;
  }
  const questionEnd = pk.pos;
  /** Where each written record ends, in order (the OPT is not among them). */
  const ends: number[] = [];
  let opt: Buffer | undefined;
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const start = pk.pos;
    pos = pk.name(pos, true);
    if (pos + 10 > wire.length) throw new Malformed('record past the end');
    const type = (wire[pos]! << 8) | wire[pos + 1]!;
    const rdlen = (wire[pos + 8]! << 8) | wire[pos + 9]!;
    pk.copy(pos, 10);
    pos += 10;
    const rdEnd = pos + rdlen;
    if (rdEnd > wire.length) throw new Malformed('record past the end');
    const lenAt = pk.pos - 2;
    const layout = LAYOUT.get(type);
    if (layout === undefined) {
      pk.copy(pos, rdlen);
    } else {
      const compress = COMPRESSED_RDATA.has(type);
      for (const f of layout) {
        if (f === 'n') pos = pk.name(pos, compress);
        else {
          const n = f === 's' ? (pos < rdEnd ? wire[pos]! + 1 : 0) : f;
          pk.copy(pos, n);
          pos += n;
        }
        if (pos > rdEnd) throw new Malformed('RDATA past its length');
      }
      pk.copy(pos, rdEnd - pos);
    }
    pos = rdEnd;
    const written = pk.pos - lenAt - 2;
    pk.out[lenAt] = written >> 8;
    pk.out[lenAt + 1] = written & 0xff;
    if (type === QTYPE.OPT && i >= an + ns && opt === undefined) {
      // set aside, appended last whatever else is cut (it holds no name anything points to)
      opt = Buffer.from(pk.out.subarray(start, pk.pos));
      pk.pos = start;
      continue;
    }
    ends.push(pk.pos);
  }
  const optLen = opt?.length ?? 0;
  let kept = ends.length;
  let bodyEnd = pk.pos;
  if (bodyEnd + optLen > size) {
    kept = 0;
    while (kept < ends.length && ends[kept]! + optLen <= size) kept++;
    bodyEnd = kept === 0 ? questionEnd : ends[kept - 1]!;
  }
  const out = Buffer.allocUnsafe(bodyEnd + optLen);
  pk.out.copy(out, 0, 0, bodyEnd);
  if (opt !== undefined) opt.copy(out, bodyEnd);
  const anOut = Math.min(kept, an);
  const nsOut = Math.min(kept - anOut, ns);
  const arOut = kept - anOut - nsOut + (opt !== undefined ? 1 : 0);
  out.writeUInt16BE(anOut, 6);
  out.writeUInt16BE(nsOut, 8);
  out.writeUInt16BE(arOut, 10);
  if (anOut < an || nsOut < ns) out[2] = out[2]! | (FLAG.TC >> 8);
  return out;
}
