// Wire-level reading and writing of the parts of a message the hot path needs: the header, the
// question and the OPT record. A query is answered without a full dns-packet decode unless a
// plugin asks for `req.msg`, and empty replies (REFUSED, SERVFAIL, …) are built by copying the
// question bytes.
import { FLAG, QTYPE } from './constants.js';
import { escapeLabelByte } from './names.js';

export const enum Parse {
  OK = 0,
  /** Not even a header: drop silently. */
  DROP = 1,
  FORMERR = 2,
  NOTIMP = 3,
  BADVERS = 4,
  /** A response (QR=1) sent to us: ignore. */
  IGNORE = 5,
}

/** The parts of a query read straight from the wire. Reused fields, no per-query allocation beyond the names. */
export class QueryHead {
  id = 0;
  flags = 0;
  opcode = 0;
  qname = '';
  name = '';
  qtype = 0;
  qclass = 0;
  /** Offset just past the question (12 when there is none). */
  questionEnd = 12;
  edns = false;
  bufsize = 0;
  do = false;
  ednsVersion = 0;
}

/** The labels of the name being read, decompressed: bytes with a '.' after each label. */
const nameBytes = Buffer.allocUnsafe(256);
/** Where each label of nameBytes ends (its '.'): a byte '.' inside a label is not an end. */
const labelEnds = new Int32Array(128);

/**
 * Read a domain name at `off`. Returns the offset after the name (in the original position,
 * not following pointers), or -1 when malformed. Sets `nameOut[0]` (as written) and `nameOut[1]` (lower case).
 *
 * The labels are copied into one scratch buffer and, for a host name (letters, digits, '-', '_',
 * '*'), made a string in one step (a flat string, not one concatenation per character); a name
 * with any other byte is written out with zone-file escapes by escapedName.
 */
export function readName(buf: Uint8Array, off: number, nameOut: [string, string]): number {
  let pos = off;
  let end = -1;
  let hops = 0;
  let n = 0;
  let labels = 0;
  let hasUpper = false;
  let escapes = false;
  const len = buf.length;
  const out = nameBytes;
  for (;;) {
    if (pos >= len) return -1;
    const l = buf[pos]!;
    if (l === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = l & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= len) return -1;
      const ptr = ((l & 0x3f) << 8) | buf[pos + 1]!;
      if (end < 0) end = pos + 2;
      // pointers must go backwards (no loops) and not into the 12-byte header, which is no name
      if (++hops > 126 || ptr >= pos || ptr < 12) return -1;
      pos = ptr;
      continue;
    }
    if (kind !== 0) return -1;
    if (pos + 1 + l > len) return -1;
    if (n + l + 1 > 254) return -1;
    for (let i = pos + 1; i <= pos + l; i++) {
      const c = buf[i]!;
      if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2a) {
        // host-name character as it is
      } else if (c >= 0x41 && c <= 0x5a) hasUpper = true;
      else escapes = true;
      out[n++] = c;
    }
    labelEnds[labels++] = n;
    out[n++] = 0x2e;
    pos += l + 1;
  }
  if (n === 0) {
    nameOut[0] = '.';
    nameOut[1] = '.';
    return end;
  }
  if (escapes) {
    escapedName(labels, nameOut);
    return end;
  }
  const text = out.toString('latin1', 0, n);
  nameOut[0] = text;
  nameOut[1] = hasUpper ? text.toLowerCase() : text;
  return end;
}

/** The name in nameBytes/labelEnds with zone-file escapes (\. \\ \DDD …), one character at a time. */
function escapedName(labels: number, nameOut: [string, string]): void {
  let text = '';
  let lower = '';
  let i = 0;
  for (let k = 0; k < labels; k++) {
    const to = labelEnds[k]!;
    for (; i < to; i++) {
      const c = nameBytes[i]!;
      if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2a) {
        const ch = String.fromCharCode(c);
        text += ch;
        lower += ch;
      } else if (c >= 0x41 && c <= 0x5a) {
        text += String.fromCharCode(c);
        lower += String.fromCharCode(c + 32);
      } else {
        const esc = escapeLabelByte(c);
        text += esc;
        lower += esc;
      }
    }
    i++; // the '.' after the label
    text += '.';
    lower += '.';
  }
  nameOut[0] = text;
  nameOut[1] = lower;
}

const nameTmp: [string, string] = ['', ''];

/** Skip a name without decoding it; the offset after it, or -1 if malformed or past the end. */
export function skipName(buf: Uint8Array, off: number): number {
  let pos = off;
  const len = buf.length;
  for (;;) {
    if (pos >= len) return -1;
    const l = buf[pos]!;
    if (l === 0) return pos + 1;
    if ((l & 0xc0) === 0xc0) return pos + 2 <= len ? pos + 2 : -1;
    if ((l & 0xc0) !== 0) return -1;
    pos += l + 1;
  }
}

/**
 * Check the name at `off`, following its compression pointers: the offset just past the name (in
 * its own place), or -1 when it runs past the end, has a reserved label type, is longer than 255
 * bytes, or has a pointer into the header or not strictly before the previous place the name was
 * read from (BIND's rule: each jump goes further back, so no pointer chain can loop).
 */
export function checkName(buf: Uint8Array, off: number): number {
  let pos = off;
  let end = -1;
  let lowest = off;
  let n = 0;
  const len = buf.length;
  for (;;) {
    if (pos >= len) return -1;
    const l = buf[pos]!;
    if (l === 0) return end < 0 ? pos + 1 : end;
    const kind = l & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= len) return -1;
      const ptr = ((l & 0x3f) << 8) | buf[pos + 1]!;
      if (end < 0) end = pos + 2;
      if (ptr >= lowest || ptr < 12) return -1;
      lowest = ptr;
      pos = ptr;
      continue;
    }
    if (kind !== 0) return -1;
    n += l + 1;
    if (n > 254) return -1; // with the root's byte, at most 255
    pos += l + 1;
  }
}

/** True when the names inside a record's RDATA (types whose RDATA holds names that may be compressed) are well-formed and fill it exactly. */
function rdataNamesOk(buf: Uint8Array, type: number, rd: number, end: number): boolean {
  switch (type) {
    case 2: // NS
    case 3: // MD
    case 4: // MF
    case 5: // CNAME
    case 7: // MB
    case 8: // MG
    case 9: // MR
    case 12: // PTR
    case 39: // DNAME
      return checkName(buf, rd) === end;
    case 14: // MINFO
    case 17: {
      // RP
      const p = checkName(buf, rd);
      return p > 0 && p < end && checkName(buf, p) === end;
    }
    case 15: // MX
    case 18: // AFSDB
    case 21: // RT
    case 36: // KX
      return checkName(buf, rd + 2) === end;
    case 33: // SRV
      return checkName(buf, rd + 6) === end;
    case 6: {
      // SOA: MNAME RNAME, then five 32-bit numbers
      const p = checkName(buf, rd);
      if (p < 0 || p >= end) return false;
      const q = checkName(buf, p);
      return q > 0 && q + 20 === end;
    }
    default:
      return true;
  }
}

/**
 * True when a whole message parses: the header's counts of questions and records are all there,
 * and every name (owners, and the names inside NS, CNAME, SOA, PTR, MX, SRV, DNAME, … RDATA) is
 * well-formed by checkName, so no compression loop or pointer past the end is passed on. Bytes
 * after the last record are allowed.
 */
export function wellFormedMessage(buf: Uint8Array): boolean {
  const len = buf.length;
  if (len < 12) return false;
  const qd = (buf[4]! << 8) | buf[5]!;
  const n = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!) + ((buf[10]! << 8) | buf[11]!);
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = checkName(buf, pos);
    if (pos < 0 || pos + 4 > len) return false;
    pos += 4;
  }
  for (let i = 0; i < n; i++) {
    const p = checkName(buf, pos);
    if (p < 0 || p + 10 > len) return false;
    const rd = p + 10;
    const end = rd + ((buf[p + 8]! << 8) | buf[p + 9]!);
    if (end > len || !rdataNamesOk(buf, (buf[p]! << 8) | buf[p + 1]!, rd, end)) return false;
    pos = end;
  }
  return true;
}

/** Skip one resource record; returns the offset after it or -1. */
export function skipRecord(buf: Uint8Array, off: number): number {
  const p = skipName(buf, off);
  if (p < 0 || p + 10 > buf.length) return -1;
  const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
  const end = p + 10 + rdlen;
  return end > buf.length ? -1 : end;
}

/** The offset just past a message's question section, or -1 when the header or a question is cut short. */
export function questionsEnd(buf: Uint8Array): number {
  if (buf.length < 12) return -1;
  const qd = (buf[4]! << 8) | buf[5]!;
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = skipName(buf, pos);
    if (pos < 0 || pos + 4 > buf.length) return -1;
    pos += 4;
  }
  return pos;
}

const NO_BYTES = new Uint8Array(0);

/**
 * A walk over a message's resource records: the answer section, then authority, then additional,
 * without decoding them. The one record loop of the wire readers (findOpt, replyRcode, padding,
 * rewrite's OPT, …). next() allocates nothing, so a module keeps one cursor and resets it per
 * message (a walk is synchronous: nothing else uses the cursor in between).
 *
 *     if (c.reset(buf)) while (c.next()) if (c.type === QTYPE.OPT && c.additional) …
 *
 * A malformed record (name or RDATA past the end) ends the walk with `ok` false.
 */
export class RecordCursor {
  private buf: Uint8Array = NO_BYTES;
  private pos = 0;
  private total = 0;
  /** Records in the answer and authority sections. */
  an = 0;
  ns = 0;
  /** Index of the current record over all three sections (-1 before the first). */
  index = -1;
  /** Offset of the current record's owner name. */
  start = 0;
  /** Offset of its TYPE field (just past the owner name): TTL at +4, RDLENGTH at +8, RDATA at +10. */
  at = 0;
  /** Offset just past its RDATA. */
  end = 0;
  type = 0;
  /** False once the walk met a malformed record (or reset() a malformed header or question). */
  ok = true;

  /**
   * Start before the first record. `from` is the offset just past the question section when the
   * caller knows it (it is found otherwise). False when the header or the question section is
   * malformed.
   */
  reset(buf: Uint8Array, from = -1): boolean {
    this.buf = buf;
    this.index = -1;
    this.total = 0;
    this.an = 0;
    this.ns = 0;
    this.start = this.at = this.end = 0;
    this.type = 0;
    const pos = from >= 0 && buf.length >= 12 ? from : questionsEnd(buf);
    this.ok = pos >= 0;
    if (pos < 0) return false;
    this.pos = pos;
    this.an = (buf[6]! << 8) | buf[7]!;
    this.ns = (buf[8]! << 8) | buf[9]!;
    this.total = this.an + this.ns + ((buf[10]! << 8) | buf[11]!);
    return true;
  }

  /** Move to the next record: false at the end of the message's records or at a malformed one. */
  next(): boolean {
    if (this.index + 1 >= this.total || !this.ok) return false;
    const buf = this.buf;
    const start = this.pos;
    const p = skipName(buf, start);
    if (p < 0 || p + 10 > buf.length) return (this.ok = false);
    const end = p + 10 + ((buf[p + 8]! << 8) | buf[p + 9]!);
    if (end > buf.length) return (this.ok = false);
    this.index++;
    this.start = start;
    this.at = p;
    this.end = end;
    this.type = (buf[p]! << 8) | buf[p + 1]!;
    this.pos = end;
    return true;
  }

  /** The current record is in the additional section. */
  get additional(): boolean {
    return this.index >= this.an + this.ns;
  }

  /** The current record is in the authority section. */
  get authority(): boolean {
    return this.index >= this.an && this.index < this.an + this.ns;
  }
}

const cursor = new RecordCursor();

/** Parse a query's header, question and OPT into `h`. */
export function parseQuery(buf: Uint8Array, h: QueryHead): Parse {
  if (buf.length < 12) return Parse.DROP;
  h.id = (buf[0]! << 8) | buf[1]!;
  const flags = (buf[2]! << 8) | buf[3]!;
  h.flags = flags;
  h.opcode = (flags >> 11) & 0xf;
  h.questionEnd = 12;
  h.edns = false;
  h.bufsize = 0;
  h.do = false;
  h.ednsVersion = 0;
  h.qname = '';
  h.name = '';
  h.qtype = 0;
  h.qclass = 0;
  if (flags & FLAG.QR) return Parse.IGNORE;
  const qd = (buf[4]! << 8) | buf[5]!;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  // The question is read even for other opcodes, so NOTIMP can echo it.
  let pos = 12;
  if (qd === 1) {
    const p = readName(buf, 12, nameTmp);
    if (p < 0 || p + 4 > buf.length) return Parse.FORMERR;
    h.qname = nameTmp[0];
    h.name = nameTmp[1];
    h.qtype = (buf[p]! << 8) | buf[p + 1]!;
    h.qclass = (buf[p + 2]! << 8) | buf[p + 3]!;
    pos = p + 4;
    h.questionEnd = pos;
  }
  // QUERY and NOTIFY (RFC 1996: a secondary plugin takes it; as miekg/dns's default accept function)
  if (h.opcode !== 0 && h.opcode !== 4) return Parse.NOTIMP;
  if (qd !== 1 || (flags & FLAG.Z) !== 0 || an > 1 || ns > 1 || ar > 2) return Parse.FORMERR;
  if (ar === 0) return Parse.OK;
  for (let i = 0; i < an + ns; i++) {
    pos = skipRecord(buf, pos);
    if (pos < 0) return Parse.FORMERR;
  }
  let sawOpt = false;
  for (let i = 0; i < ar; i++) {
    const start = pos;
    const p = skipName(buf, pos);
    if (p < 0 || p + 10 > buf.length) return Parse.FORMERR;
    const type = (buf[p]! << 8) | buf[p + 1]!;
    const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
    if (p + 10 + rdlen > buf.length) return Parse.FORMERR;
    if (type === QTYPE.OPT) {
      if (sawOpt || p !== start + 1 || buf[start] !== 0) return Parse.FORMERR; // one OPT, owned by the root
      sawOpt = true;
      h.edns = true;
      h.bufsize = (buf[p + 2]! << 8) | buf[p + 3]!;
      h.ednsVersion = buf[p + 5]!;
      h.do = (buf[p + 6]! & 0x80) !== 0;
      // options must be well-formed
      let o = p + 10;
      const oend = o + rdlen;
      while (o < oend) {
        if (o + 4 > oend) return Parse.FORMERR;
        const olen = (buf[o + 2]! << 8) | buf[o + 3]!;
        o += 4 + olen;
        if (o > oend) return Parse.FORMERR;
      }
    }
    pos = p + 10 + rdlen;
  }
  if (h.edns && h.ednsVersion !== 0) return Parse.BADVERS;
  return Parse.OK;
}

/** The size our OPT advertises. */
export const OUR_UDP_SIZE = 1232;

/**
 * An empty reply to the query in `q`: its header (ID, opcode, RD, CD), its question if it has one,
 * the given rcode and flags, and an OPT when the query had one (carrying the extended rcode bits).
 */
export function emptyReply(q: Uint8Array, questionEnd: number, rcode: number, extraFlags: number, edns: boolean, doBit: boolean): Buffer {
  const qlen = questionEnd - 12;
  const optLen = edns ? 11 : 0;
  const out = Buffer.allocUnsafe(12 + qlen + optLen);
  out[0] = q[0]!;
  out[1] = q[1]!;
  const reqFlags = (q[2]! << 8) | q[3]!;
  const flags = FLAG.QR | (reqFlags & (0x7800 | FLAG.RD | FLAG.CD)) | extraFlags | (rcode & 0xf);
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = qlen > 0 ? 1 : 0;
  out[6] = 0;
  out[7] = 0;
  out[8] = 0;
  out[9] = 0;
  out[10] = 0;
  out[11] = edns ? 1 : 0;
  if (qlen > 0) out.set(q.subarray(12, questionEnd), 12);
  if (edns) writeOpt(out, 12 + qlen, rcode >> 4, doBit);
  return out;
}

/** Write an 11-byte OPT record with our UDP size at `off`. */
export function writeOpt(out: Uint8Array, off: number, extRcode: number, doBit: boolean): void {
  out[off] = 0; // root
  out[off + 1] = 0;
  out[off + 2] = QTYPE.OPT;
  out[off + 3] = OUR_UDP_SIZE >> 8;
  out[off + 4] = OUR_UDP_SIZE & 0xff;
  out[off + 5] = extRcode & 0xff;
  out[off + 6] = 0; // version
  out[off + 7] = doBit ? 0x80 : 0;
  out[off + 8] = 0;
  out[off + 9] = 0; // rdlen
  out[off + 10] = 0;
}

/**
 * Where the OPT record of a message (query or reply) starts: the offset of its root owner name
 * byte, so the type is at +1, the UDP size at +3, the extended rcode at +5, the flags at +7, the
 * RDLENGTH at +9 and the options at +11. -1 when there is none, its owner is not the root, or the
 * message is malformed. `from` is the offset past the question section when the caller knows it
 * (a Request's questionEnd).
 */
export function findOpt(buf: Uint8Array, from = -1): number {
  if (buf.length < 12 || ((buf[10]! << 8) | buf[11]!) === 0) return -1;
  const c = cursor;
  if (!c.reset(buf, from)) return -1;
  while (c.next()) {
    if (c.type === QTYPE.OPT && c.additional) return c.at === c.start + 1 ? c.start : -1;
  }
  return -1;
}

/** Set the ID of a wire message in place. */
export function setId(buf: Uint8Array, id: number): void {
  buf[0] = id >> 8;
  buf[1] = id & 0xff;
}

/** Read the rcode (with the extended bits from OPT if present) of a wire reply cheaply. */
export function replyRcode(buf: Uint8Array): number {
  if (buf.length < 12) return -1;
  const rcode = buf[3]! & 0xf;
  if (((buf[10]! << 8) | buf[11]!) === 0) return rcode;
  const c = cursor;
  if (!c.reset(buf)) return rcode;
  while (c.next()) {
    if (c.type === QTYPE.OPT && c.additional) return rcode | (buf[c.at + 4]! << 4);
  }
  return rcode;
}

/**
 * True when `reply`'s question equals the one in `query` (bytes 12..qEnd), names compared
 * case-insensitively: the anti-spoofing check for upstream replies and cache fills. Label length
 * bytes are at most 63, so folding only A-Z never confuses a length with a letter.
 */
export function sameQuestion(reply: Uint8Array, query: Uint8Array, qEnd: number): boolean {
  if (reply.length < qEnd || reply[4] !== 0 || reply[5] !== 1) return false;
  for (let i = 12; i < qEnd; i++) {
    let a = reply[i]!;
    let b = query[i]!;
    if (a === b) continue;
    if (a >= 0x41 && a <= 0x5a) a += 32;
    if (b >= 0x41 && b <= 0x5a) b += 32;
    if (a !== b) return false;
  }
  return true;
}
