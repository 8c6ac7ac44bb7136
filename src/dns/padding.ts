// Wire helpers for the encrypted transports: EDNS(0) padding (RFC 7830, with RFC 8467's block
// policy: a padded reply is a multiple of 468 bytes, and only a query that carried the padding
// option gets one) and the reply's smallest TTL (DoH's Cache-Control max-age, RFC 8484 §5.1).
import { QTYPE } from './constants.js';
import { RecordCursor, findOpt } from './wire.js';

/** EDNS(0) option code of Padding (RFC 7830). */
export const OPT_PADDING = 12;
/** RFC 8467 §4.1: responses padded to a multiple of this many bytes. */
export const PAD_BLOCK = 468;

/** Where a message's OPT record is: `type` is the offset of its TYPE field, `end` just past its RDATA. */
function optBounds(buf: Uint8Array): { type: number; end: number } | undefined {
  const at = findOpt(buf);
  if (at < 0) return undefined;
  const type = at + 1;
  return { type, end: type + 10 + ((buf[type + 8]! << 8) | buf[type + 9]!) };
}

/** True when the query's OPT record carries a Padding option (the client asks for padded replies). */
export function queryWantsPadding(query: Uint8Array): boolean {
  return queryHasOption(query, OPT_PADDING);
}

/** True when the message's OPT record carries an EDNS(0) option with this code. */
export function queryHasOption(query: Uint8Array, code: number): boolean {
  if (query.length < 12) return false;
  const opt = optBounds(query);
  if (opt === undefined) return false;
  let o = opt.type + 10;
  while (o + 4 <= opt.end) {
    if (((query[o]! << 8) | query[o + 1]!) === code) return true;
    o += 4 + ((query[o + 2]! << 8) | query[o + 3]!);
  }
  return false;
}

/**
 * The message with `records` (whole wire records, their names uncompressed or pointing before
 * them) added to its additional section: just before the OPT record when that is the last one (so
 * padding, which wants OPT last, still applies), else at the end.
 */
export function addAdditional(msg: Uint8Array, records: readonly Uint8Array[]): Buffer {
  const opt = optBounds(msg);
  const at = opt !== undefined && opt.end === msg.length ? optStart(msg, opt.type) : msg.length;
  const out = Buffer.concat([msg.subarray(0, at), ...records, msg.subarray(at)]);
  const ar = ((out[10]! << 8) | out[11]!) + records.length;
  out[10] = ar >> 8;
  out[11] = ar & 0xff;
  return out;
}

/** The start of the record whose TYPE field is at `type` (its owner is the root, one zero byte, for OPT). */
function optStart(msg: Uint8Array, type: number): number {
  return type >= 1 && msg[type - 1] === 0 ? type - 1 : msg.length;
}

/**
 * The reply with a Padding option in its OPT record, sized so the whole message is a multiple of
 * `block` bytes (any Padding option already there is replaced). The reply is returned unchanged
 * when it has no OPT, when its OPT is not the last record (moving records would break compression
 * pointers into them), or when padding would take it past 65,535 bytes.
 */
export function padReply(reply: Uint8Array, block = PAD_BLOCK): Uint8Array {
  if (reply.length < 12) return reply;
  const opt = optBounds(reply);
  if (opt === undefined || opt.end !== reply.length) return reply;
  const rdStart = opt.type + 10;
  // the options to keep (all but Padding), and their length
  let keep = 0;
  let hasPad = false;
  for (let o = rdStart; o + 4 <= opt.end; ) {
    const len = 4 + ((reply[o + 2]! << 8) | reply[o + 3]!);
    if (((reply[o]! << 8) | reply[o + 1]!) === OPT_PADDING) hasPad = true;
    else keep += len;
    o += len;
  }
  const base = rdStart + keep + 4;
  const pad = (block - (base % block)) % block;
  const total = base + pad;
  if (total > 65535) return reply;
  const out = Buffer.alloc(total);
  out.set(reply.subarray(0, rdStart), 0);
  let w = rdStart;
  if (hasPad) {
    for (let o = rdStart; o + 4 <= opt.end; ) {
      const len = 4 + ((reply[o + 2]! << 8) | reply[o + 3]!);
      if (((reply[o]! << 8) | reply[o + 1]!) !== OPT_PADDING) {
        out.set(reply.subarray(o, o + len), w);
        w += len;
      }
      o += len;
    }
  } else {
    out.set(reply.subarray(rdStart, opt.end), w);
    w += keep;
  }
  const rdlen = total - rdStart;
  out[opt.type + 8] = rdlen >> 8;
  out[opt.type + 9] = rdlen & 0xff;
  out[w] = 0;
  out[w + 1] = OPT_PADDING;
  out[w + 2] = pad >> 8;
  out[w + 3] = pad & 0xff;
  // the padding bytes themselves are zero (Buffer.alloc)
  return out;
}

/** CoreDNS's bounds for a reply's cache lifetime (dnsutil.MinimalDefaultTTL, MaximumDefaultTTL). */
export const MIN_DEFAULT_TTL = 5;
export const MAX_DEFAULT_TTL = 3600;

const cursor = new RecordCursor();

/**
 * Seconds a reply may be cached (DoH's Cache-Control max-age), as CoreDNS computes it: the smallest
 * TTL of its records (OPT aside), at most an hour; 5 s for an error, a delegation, or a reply with
 * no records.
 */
export function replyMaxAge(reply: Uint8Array): number {
  if (reply.length < 12) return MIN_DEFAULT_TTL;
  const rcode = reply[3]! & 0xf;
  if (rcode !== 0 && rcode !== 3) return MIN_DEFAULT_TTL;
  const an = (reply[6]! << 8) | reply[7]!;
  const c = cursor;
  if (!c.reset(reply)) return MIN_DEFAULT_TTL;
  let min = MAX_DEFAULT_TTL;
  let records = 0;
  let nsRecords = 0;
  let soa = false;
  while (c.next()) {
    const type = c.type;
    if (type === QTYPE.OPT) continue;
    if (c.authority) {
      if (type === QTYPE.NS) nsRecords++;
      if (type === QTYPE.SOA) soa = true;
    }
    records++;
    const p = c.at;
    const ttl = ((reply[p + 4]! << 24) | (reply[p + 5]! << 16) | (reply[p + 6]! << 8) | reply[p + 7]!) >>> 0;
    if (ttl < min) min = ttl;
  }
  if (!c.ok) return MIN_DEFAULT_TTL;
  if (records === 0) return MIN_DEFAULT_TTL;
  if (rcode === 0 && an === 0 && nsRecords > 0 && !soa) return MIN_DEFAULT_TTL; // a delegation
  return min;
}
