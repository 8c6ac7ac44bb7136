// RRSIG creation over an RRset in canonical form (RFC 4034 §3.1.8.1, §6), and NSEC records
// (RFC 4034 §4) with their type bitmaps. Records are dns-packet answers, as plugins write them;
// names with \DDD escapes (the "\000" of a black lie) are encoded by encodeName.
import dnsPacket from 'dns-packet';
import dnsTypes from 'dns-packet/types.js';
import type { RR } from '../message.js';
import { encodeName, nameLabels } from '../names.js';
import type { SigningKey } from './keys.js';

/** A record's type number ("A", "UNKNOWN_65", "TYPE65"). */
export function rrType(rr: RR): number {
  const t = rr.type as string;
  if (t.startsWith('TYPE')) return Number(t.slice(4));
  return dnsTypes.toType(t);
}

/** A type number as dns-packet names it (its own name, or UNKNOWN_N). */
export const typeString = (t: number): string => dnsTypes.toString(t);

const CLASSES: Record<string, number> = { IN: 1, CS: 2, CH: 3, HS: 4, ANY: 255 };
const classOf = (rr: RR): number => CLASSES[((rr as { class?: string }).class ?? 'IN').toUpperCase()] ?? 1;

/** The canonical wire form of a name (RFC 4034 §6.2): uncompressed, ASCII letters lower-cased. */
export function canonicalWire(name: string): Buffer {
  const b = Buffer.from(encodeName(name));
  let p = 0;
  while (p < b.length && b[p] !== 0) {
    const n = b[p]!;
    for (let i = p + 1; i <= p + n; i++) if (b[i]! >= 0x41 && b[i]! <= 0x5a) b[i] = b[i]! + 0x20;
    p += n + 1;
  }
  return b;
}

const lc = (s: unknown): unknown => (typeof s === 'string' ? s.toLowerCase() : s);

/** RDATA with its embedded names lower-cased, for the types RFC 4034 §6.2 (and RFC 6840 §5.1) list. */
function canonicalData(type: string, data: unknown): unknown {
  switch (type) {
    case 'NS':
    case 'CNAME':
    case 'PTR':
    case 'DNAME':
      return lc(data);
    case 'MX': {
      const d = data as { exchange: string };
      return { ...d, exchange: lc(d.exchange) };
    }
    case 'SRV': {
      const d = data as { target: string };
      return { ...d, target: lc(d.target) };
    }
    case 'SOA': {
      const d = data as { mname: string; rname: string };
      return { ...d, mname: lc(d.mname), rname: lc(d.rname) };
    }
    case 'RP': {
      const d = data as { mbox: string; txt: string };
      return { ...d, mbox: lc(d.mbox), txt: lc(d.txt) };
    }
    case 'NAPTR': {
      const d = data as { replacement: string };
      return { ...d, replacement: lc(d.replacement) };
    }
    default:
      return data;
  }
}

/** A record's RDATA in canonical form. */
export function rdataOf(rr: RR): Buffer {
  const type = rr.type as string;
  const data = (rr as { data?: unknown }).data;
  if (Buffer.isBuffer(data) && (type.startsWith('UNKNOWN_') || type === 'NULL')) return data;
  // dns-packet's per-type RDATA encoder (not in its type declarations): RDLENGTH, then RDATA
  const enc = (dnsPacket as unknown as { record(t: string): { encode(d: unknown): Buffer } }).record(type);
  return enc.encode(canonicalData(type, data)).subarray(2);
}

/** The RRSIG's owner label count: the owner's labels, a leading "*" not counted (RFC 4034 §3.1.3). */
export function sigLabels(owner: string): number {
  const labels = nameLabels(owner);
  return labels.length > 0 && labels[0]!.length === 1 && labels[0]![0] === 0x2a ? labels.length - 1 : labels.length;
}

export interface RrsigFields {
  typeCovered: number;
  algorithm: number;
  labels: number;
  originalTTL: number;
  expiration: number;
  inception: number;
  keyTag: number;
  signer: string;
}

/** RFC 4034 §3.1.8.1: RRSIG RDATA without the signature, then the RRset in canonical form and order. */
export function signedData(f: RrsigFields, rrs: readonly RR[]): Buffer {
  const head = Buffer.alloc(18);
  head.writeUInt16BE(f.typeCovered, 0);
  head[2] = f.algorithm;
  head[3] = f.labels;
  head.writeUInt32BE(f.originalTTL >>> 0, 4);
  head.writeUInt32BE(f.expiration >>> 0, 8);
  head.writeUInt32BE(f.inception >>> 0, 12);
  head.writeUInt16BE(f.keyTag, 16);
  const owner = canonicalWire(rrs[0]!.name);
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16BE(f.typeCovered, 0);
  fixed.writeUInt16BE(classOf(rrs[0]!), 2);
  fixed.writeUInt32BE(f.originalTTL >>> 0, 4);
  const rdatas = rrs.map(rdataOf).sort(Buffer.compare);
  const parts: Buffer[] = [head, canonicalWire(f.signer)];
  let prev: Buffer | undefined;
  for (const rd of rdatas) {
    if (prev !== undefined && prev.equals(rd)) continue; // duplicates count once (§6.3)
    prev = rd;
    const len = Buffer.alloc(2);
    len.writeUInt16BE(rd.length, 0);
    parts.push(owner, fixed, len, rd);
  }
  return Buffer.concat(parts);
}

export interface SignOptions {
  /** The zone signing (the RRSIG's signer name). */
  signer: string;
  inception: number;
  expiration: number;
  /** The RRSIG's original TTL; the RRset's own TTL when not given. */
  originalTTL?: number;
}

/** The RRSIG of `rrs` (one owner, type and class) by `key`, with the RRset's TTL. */
export function signRRset(rrs: readonly RR[], key: SigningKey, o: SignOptions): RR {
  const first = rrs[0]!;
  const ttl = (first as { ttl?: number }).ttl ?? 0;
  const f: RrsigFields = {
    typeCovered: rrType(first),
    algorithm: key.algorithm,
    labels: sigLabels(first.name),
    originalTTL: o.originalTTL ?? ttl,
    expiration: o.expiration,
    inception: o.inception,
    keyTag: key.tag,
    signer: o.signer,
  };
  const signature = key.sign(signedData(f, rrs));
  return {
    name: first.name,
    type: 'RRSIG',
    class: 'IN',
    ttl,
    data: {
      typeCovered: typeString(f.typeCovered),
      algorithm: f.algorithm,
      labels: f.labels,
      originalTTL: f.originalTTL,
      expiration: f.expiration >>> 0,
      inception: f.inception >>> 0,
      keyTag: f.keyTag,
      signersName: o.signer,
      signature,
    },
  } as unknown as RR;
}

/** RFC 4034 §4.1.2: the type bitmap of a set of types (windows of 32 bytes at most). */
export function typeBitmap(types: Iterable<number>): Buffer {
  const sorted = [...new Set(types)].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let i = 0;
  while (i < sorted.length) {
    const win = sorted[i]! >> 8;
    const bits = Buffer.alloc(32);
    let len = 0;
    for (; i < sorted.length && sorted[i]! >> 8 === win; i++) {
      const low = sorted[i]! & 0xff;
      bits[low >> 3]! |= 0x80 >> (low & 7);
      len = (low >> 3) + 1;
    }
    parts.push(Buffer.from([win, len]), bits.subarray(0, len));
  }
  return Buffer.concat(parts);
}

/**
 * An NSEC record: owner, next name (escapes such as "\000" allowed), the types at the owner.
 * Carried as raw RDATA (type UNKNOWN_47) so the next name's escapes survive encoding.
 */
export function nsecRecord(owner: string, next: string, types: Iterable<number>, ttl: number): RR {
  const data = Buffer.concat([Buffer.from(encodeName(next)), typeBitmap(types)]);
  return { name: owner, type: 'UNKNOWN_47', class: 'IN', ttl, data } as unknown as RR;
}
