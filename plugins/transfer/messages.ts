// A zone transfer's records as DNS messages: each message holds as many whole records as fit in
// 64 KB once names are compressed (RFC 5936 2.2), with the request's ID and question, QR and AA.
import dnsPacket from 'dns-packet';
import { FLAG, type Request, type RR } from '../../src/plugin/api.js';
import { fitReply } from '../../src/dns/compress.js';

/** Largest message over TCP. */
const MAX_MESSAGE = 65_535;
/** Uncompressed record bytes to gather before the first compression; later ones follow the ratio seen. */
const FIRST_BUDGET = 60_000;

/** Header + question of every message of the reply to `req`, with `count` answers. */
function message(req: Request, parts: readonly Buffer[], from: number, to: number): Buffer {
  const wire = req.wire;
  const qend = req.questionEnd;
  let len = qend;
  for (let i = from; i < to; i++) len += parts[i]!.length;
  const out = Buffer.allocUnsafe(len);
  out[0] = wire[0]!;
  out[1] = wire[1]!;
  const reqFlags = (wire[2]! << 8) | wire[3]!;
  const flags = FLAG.QR | FLAG.AA | (reqFlags & (0x7800 | FLAG.RD | FLAG.CD));
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(qend > 12 ? 1 : 0, 4);
  out.writeUInt16BE(to - from, 6);
  out.writeUInt32BE(0, 8);
  out.set(wire.subarray(12, qend), 12);
  let p = qend;
  for (let i = from; i < to; i++) {
    out.set(parts[i]!, p);
    p += parts[i]!.length;
  }
  return out;
}

/** The records in parts[from, to) as one or more compressed messages of at most 64 KB. */
function* compressed(req: Request, parts: readonly Buffer[], from: number, to: number): Generator<Buffer> {
  const out = fitReply(message(req, parts, from, to), MAX_MESSAGE);
  if (out.readUInt16BE(6) === to - from || to - from === 1) {
    yield out;
    return;
  }
  const mid = (from + to) >> 1; // did not fit even compressed: halves
  yield* compressed(req, parts, from, mid);
  yield* compressed(req, parts, mid, to);
}

/**
 * The messages that carry `records` (the closing SOA included) in answer to `req`. Records are
 * encoded one at a time as the generator is pulled, so a large zone is never all in memory as wire.
 */
export function* transferMessages(req: Request, records: Iterable<RR>): Generator<Buffer> {
  let parts: Buffer[] = [];
  let len = 0;
  let budget = FIRST_BUDGET;
  const flush = function* (): Generator<Buffer> {
    for (const m of compressed(req, parts, 0, parts.length)) {
      // the next message gathers as much as the last one compressed to, aiming just under 64 KB
      const ratio = Math.max(0.2, (m.length - req.questionEnd) / Math.max(1, len));
      budget = Math.min(4 * FIRST_BUDGET, Math.floor((MAX_MESSAGE - 2048 - req.questionEnd) / ratio));
      yield m;
    }
    parts = [];
    len = 0;
  };
  for (const r of records) {
    const b = dnsPacket.answer.encode(r as never) as Buffer;
    if (len + b.length > budget && parts.length > 0) yield* flush();
    parts.push(b);
    len += b.length;
  }
  if (parts.length > 0) yield* flush();
}
