// Pre-encoded record sets and replies built from them: the fast path for answers that live in
// memory (hosts, kubernetes, template). Records are encoded once, when the data changes; a
// query then costs one buffer allocation and a few copies — no dns-packet encode per query.
//
// A record whose owner is the query name is stored with a compression pointer to offset 12
// (where the question's name starts in every reply), so the answer carries the name exactly as
// the client spelled it, as CoreDNS does.
import dnsPacket from 'dns-packet';
import type { Request } from '../plugin/types.js';
import type { RR } from './message.js';
import { FLAG } from './constants.js';
import { writeOpt } from './wire.js';

/** Encoded records of one section. */
export interface Packed {
  readonly bytes: Uint8Array;
  readonly count: number;
  /** Offsets of each record's TTL field within `bytes` (for TTL rewriting). */
  readonly ttlOffsets: readonly number[];
}

export const EMPTY: Packed = { bytes: new Uint8Array(0), count: 0, ttlOffsets: [] };

/**
 * Encode records. `atQuestion(rr)` says which owners are the query name (encoded as a pointer to
 * the question); the rest are encoded with their own names, uncompressed.
 */
export function pack(records: readonly RR[], atQuestion: (rr: RR, i: number) => boolean = () => true): Packed {
  const parts: Buffer[] = [];
  const ttlOffsets: number[] = [];
  let len = 0;
  records.forEach((r, i) => {
    let buf: Buffer;
    if (atQuestion(r, i)) {
      const enc = dnsPacket.answer.encode({ ...r, name: '.' } as never) as Buffer;
      buf = Buffer.allocUnsafe(enc.length + 1);
      buf[0] = 0xc0;
      buf[1] = 0x0c;
      enc.copy(buf, 2, 1);
      ttlOffsets.push(len + 2 + 4);
    } else {
      buf = dnsPacket.answer.encode(r as never) as Buffer;
      const nameLen = dnsPacket.name.encodingLength(r.name);
      ttlOffsets.push(len + nameLen + 4);
    }
    parts.push(buf);
    len += buf.length;
  });
  return { bytes: Buffer.concat(parts, len), count: records.length, ttlOffsets };
}

/** Concatenate packed sections (e.g. an A set and an AAAA set). */
export function concatPacked(...ps: Packed[]): Packed {
  let off = 0;
  const ttl: number[] = [];
  for (const p of ps) {
    for (const t of p.ttlOffsets) ttl.push(off + t);
    off += p.bytes.length;
  }
  return { bytes: Buffer.concat(ps.map((p) => p.bytes)), count: ps.reduce((n, p) => n + p.count, 0), ttlOffsets: ttl };
}

/**
 * A complete reply to `req` from packed sections: the request's ID and question, QR + the given
 * flags (AA, …) + RD/CD copied, the rcode, and an OPT when the request had one. Write it with
 * `w.write(bytes)`; if it is larger than the client takes, the writer truncates it.
 */
export function packedReply(req: Request, flags: number, rcode: number, an: Packed = EMPTY, ns: Packed = EMPTY, ar: Packed = EMPTY): Buffer {
  const wire = req.wire;
  const qend = req.questionEnd;
  const opt = req.edns ? 11 : 0;
  const out = Buffer.allocUnsafe(qend + an.bytes.length + ns.bytes.length + ar.bytes.length + opt);
  out[0] = wire[0]!;
  out[1] = wire[1]!;
  const reqFlags = (wire[2]! << 8) | wire[3]!;
  const f = FLAG.QR | (reqFlags & (0x7800 | FLAG.RD | FLAG.CD)) | (flags & ~(FLAG.QR | 0x7800 | 0xf)) | (rcode & 0xf);
  out[2] = f >> 8;
  out[3] = f & 0xff;
  out[4] = 0;
  out[5] = 1;
  out[6] = an.count >> 8;
  out[7] = an.count & 0xff;
  out[8] = ns.count >> 8;
  out[9] = ns.count & 0xff;
  const arc = ar.count + (opt ? 1 : 0);
  out[10] = arc >> 8;
  out[11] = arc & 0xff;
  (wire as Buffer).copy(out, 12, 12, qend);
  let p = qend;
  out.set(an.bytes, p);
  p += an.bytes.length;
  out.set(ns.bytes, p);
  p += ns.bytes.length;
  out.set(ar.bytes, p);
  p += ar.bytes.length;
  if (opt) writeOpt(out, p, rcode >> 4, req.do);
  return out;
}
