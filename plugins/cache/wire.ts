// Wire-level work for the cache: read a reply once at store time (question, rcode, TTL field
// offsets, SOA minimum, OPT position) so a hit is a copy plus a few in-place patches.
import dnsPacket, { type Answer } from 'dns-packet';
import { QTYPE, sameQuestion, skipName, type Message, type Request } from '../../src/plugin/api.js';

const { OPT, SOA, NS, RRSIG } = QTYPE;

/** 2^31 s: RRSIG times are serial numbers (RFC 4034 3.1.5), compared as Go's dns.RRSIG.ValidityPeriod does. */
const YEAR68 = 2 ** 31;

/** Whether an RRSIG with these inception/expiration times is outside its validity period at `now` (s). */
export function sigExpired(inception: number, expiration: number, now: number): boolean {
  const ti = inception + Math.trunc((inception - now) / YEAR68) * YEAR68;
  const te = expiration + Math.trunc((expiration - now) / YEAR68) * YEAR68;
  return !(ti <= now && now <= te);
}

export interface Parsed {
  /** The reply without its OPT record, ID 0. */
  bytes: Buffer;
  /** Offsets of every record's 32-bit TTL field in `bytes`. */
  ttlOffsets: Uint32Array;
  rcode: number;
  flags: number;
  answers: number;
  /** Smallest TTL of all records (SOA: also its MINIMUM, RFC 2308); -1 when there are no records. */
  minTtl: number;
  soa: boolean;
  ns: boolean;
  /** An RRSIG in some section is outside its validity period (CoreDNS does not cache such a reply for a DO query). */
  expiredSig: boolean;
}


/** True when the reply's question is the request's (names compared case-insensitively). */
export function questionMatches(reply: Uint8Array, req: Request): boolean {
  return sameQuestion(reply, req.wire, req.questionEnd);
}

/** Read a reply whose question matched `req`. Undefined when malformed or not storable (OPT not last). */
export function parseReply(buf: Uint8Array, questionEnd: number): Parsed | undefined {
  if (buf.length < 12) return undefined;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  const total = an + ns + ar;
  const offs: number[] = [];
  let pos = questionEnd;
  let minTtl = -1;
  let soa = false;
  let hasNs = false;
  let optStart = -1;
  let optEnd = -1;
  let ext = 0;
  let expiredSig = false;
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < total; i++) {
    const start = pos;
    const p = skipName(buf, pos);
    if (p < 0 || p + 10 > buf.length) return undefined;
    const type = (buf[p]! << 8) | buf[p + 1]!;
    const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
    const end = p + 10 + rdlen;
    if (end > buf.length) return undefined;
    if (type === OPT && i >= an + ns) {
      if (optStart >= 0) return undefined;
      optStart = start;
      optEnd = end;
      ext = buf[p + 4]!;
    } else {
      if (optStart >= 0) return undefined; // a record after OPT: keep it simple, do not store
      const ttl = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
      let t = ttl;
      if (type === SOA && i >= an && i < an + ns) {
        soa = true;
        if (rdlen >= 20) {
          const m = end - 4;
          const minimum = ((buf[m]! << 24) | (buf[m + 1]! << 16) | (buf[m + 2]! << 8) | buf[m + 3]!) >>> 0;
          if (minimum < t) t = minimum;
        }
      }
      if (type === NS && i >= an && i < an + ns) hasNs = true;
      if (type === RRSIG && rdlen >= 18 && !expiredSig) {
        const r = p + 10;
        const exp = ((buf[r + 8]! << 24) | (buf[r + 9]! << 16) | (buf[r + 10]! << 8) | buf[r + 11]!) >>> 0;
        const inc = ((buf[r + 12]! << 24) | (buf[r + 13]! << 16) | (buf[r + 14]! << 8) | buf[r + 15]!) >>> 0;
        expiredSig = sigExpired(inc, exp, now);
      }
      if (minTtl < 0 || t < minTtl) minTtl = t;
      offs.push(p + 4);
    }
    pos = end;
  }
  // Stored entries live for minutes: allocate them outside Node's shared 8 KB buffer pool, or each
  // one would pin a whole slab (with the short-lived replies sliced from it) for as long as it lives.
  let bytes: Buffer;
  if (optStart >= 0) {
    bytes = Buffer.allocUnsafeSlow(optStart + (buf.length - optEnd));
    bytes.set(buf.subarray(0, optStart), 0);
    bytes.set(buf.subarray(optEnd), optStart);
    const nar = ar - 1;
    bytes[10] = nar >> 8;
    bytes[11] = nar & 0xff;
  } else {
    bytes = Buffer.allocUnsafeSlow(pos);
    bytes.set(buf.subarray(0, pos), 0);
  }
  bytes[0] = 0;
  bytes[1] = 0;
  const flags = (bytes[2]! << 8) | bytes[3]!;
  return { bytes, ttlOffsets: Uint32Array.from(offs), rcode: (ext << 4) | (flags & 0xf), flags, answers: an, minTtl, soa, ns: hasNs, expiredSig };
}

/** Encode a Message as the full (untruncated) reply to `req`, question copied from the request. */
export function encodeReply(m: Message, req: Request): Buffer {
  const additionals: Answer[] = [];
  let ext = 0;
  for (const a of m.additionals ?? []) {
    if (a.type === 'OPT') {
      ext = (a as { extendedRcode?: number }).extendedRcode ?? 0;
      continue;
    }
    additionals.push(a);
  }
  const flagsIn = m.flags ?? 0;
  const rcode = ((ext << 4) | (flagsIn & 0xf)) & 0xf;
  const reqFlags = ((req.wire[2]! << 8) | req.wire[3]!) & 0x0110; // RD, CD
  const flags = (0x8000 | (flagsIn & ~(0xf | 0x7800 | 0x0200 | 0x8000)) | reqFlags | rcode) & 0xffff;
  const buf = dnsPacket.encode({ id: 0, type: 'response', flags: flags & 0x7fff, questions: [], answers: m.answers ?? [], authorities: m.authorities ?? [], additionals });
  const qlen = req.questionEnd - 12;
  const out = Buffer.allocUnsafe(buf.length + qlen);
  buf.copy(out, 0, 0, 12);
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = 1;
  out.set(req.wire.subarray(12, req.questionEnd), 12);
  buf.copy(out, 12 + qlen, 12);
  return out;
}
