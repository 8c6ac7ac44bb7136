// An RFC 1035 master-file parser: $ORIGIN, $TTL, relative names and '@', a blank owner meaning
// the previous owner, parentheses spanning lines, ';' comments, quoted strings, the IN class and
// the record types A AAAA CNAME DNAME NS MX TXT SRV PTR SOA CAA. Errors are CorefileErrors naming the
// file and line ("db.example.org:12: …" through `.short`).
import net from 'node:net';
import { CorefileError, encodeName, typeFromName, type RR } from '../../src/plugin/api.js';

/** One record as parsed: the lower-cased FQDN owner, the numeric type, and the dns-packet record. */
export interface ZoneRecord {
  readonly owner: string;
  readonly qtype: number;
  readonly rr: RR;
  readonly line: number;
}

interface Tok {
  text: string;
  quoted: boolean;
}

interface Entry {
  line: number;
  /** The line began with white space: the owner is the previous record's. */
  blankOwner: boolean;
  toks: Tok[];
}

const SUPPORTED: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, CAA: 257 };
const CLASSES = new Set(['IN', 'CH', 'CS', 'HS']);
const MAX_TTL = 2 ** 31 - 1;

// Byte values the tokenizer looks for.
const NL = 10;
const SP = 32;
const TAB = 9;
const CR = 13;
const SEMI = 59;
const LPAR = 40;
const RPAR = 41;
const QUOTE = 34;
const BSL = 92;
const DIGIT0 = 48;

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= DIGIT0 && c <= DIGIT0 + 9;

/**
 * Split master-file bytes into entries (logical lines), honouring quotes, comments and
 * parentheses, one entry at a time. Tokens are decoded from the bytes (fresh strings: a record
 * never keeps a slice of the whole file alive).
 */
function* entries(b: Uint8Array, file: string): Generator<Entry> {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let line = 1;
  let depth = 0;
  let parenLine = 0;
  let cur: Entry | undefined;
  let atLineStart = true;
  const n = buf.length;
  let i = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  const push = (t: Tok, at: number): void => {
    if (cur === undefined) cur = { line: at, blankOwner: false, toks: [] };
    cur.toks.push(t);
  };
  while (i < n) {
    const c = buf[i]!;
    if (c === NL) {
      line++;
      i++;
      if (depth === 0) {
        if (cur !== undefined && cur.toks.length > 0) yield cur;
        cur = undefined;
        atLineStart = true;
      }
      continue;
    }
    if (c === SP || c === TAB || c === CR) {
      if (atLineStart && depth === 0 && cur === undefined) cur = { line, blankOwner: true, toks: [] };
      atLineStart = false;
      i++;
      continue;
    }
    atLineStart = false;
    if (c === SEMI) {
      const nl = buf.indexOf(NL, i);
      i = nl < 0 ? n : nl;
      continue;
    }
    if (c === LPAR) {
      if (depth === 0) parenLine = line;
      depth++;
      i++;
      continue;
    }
    if (c === RPAR) {
      if (depth === 0) throw new CorefileError(file, line, "unbalanced ')'");
      depth--;
      i++;
      continue;
    }
    if (c === QUOTE) {
      const start = line;
      let s = '';
      i++;
      let run = i;
      let closed = false;
      while (i < n) {
        const ch = buf[i]!;
        if (ch === BSL && i + 1 < n) {
          s += buf.toString('utf8', run, i);
          if (isDigit(buf[i + 1]) && isDigit(buf[i + 2]) && isDigit(buf[i + 3])) {
            s += String.fromCharCode(((buf[i + 1]! - DIGIT0) * 100 + (buf[i + 2]! - DIGIT0) * 10 + (buf[i + 3]! - DIGIT0)) & 0xff);
            i += 4;
          } else {
            const w = (buf[i + 1]! & 0x80) === 0 ? 1 : utf8Width(buf[i + 1]!);
            s += buf.toString('utf8', i + 1, i + 1 + w);
            i += 1 + w;
          }
          run = i;
          continue;
        }
        if (ch === QUOTE) {
          s += buf.toString('utf8', run, i);
          closed = true;
          i++;
          break;
        }
        if (ch === NL) line++;
        i++;
      }
      if (!closed) throw new CorefileError(file, start, 'unterminated quoted string');
      push({ text: s, quoted: true }, start);
      continue;
    }
    const from = i;
    while (i < n) {
      const ch = buf[i]!;
      if (ch === SP || ch === TAB || ch === CR || ch === NL || ch === SEMI || ch === LPAR || ch === RPAR || ch === QUOTE) break;
      i += ch === BSL && i + 1 < n ? 2 : 1;
    }
    push({ text: buf.toString('utf8', from, i), quoted: false }, line);
  }
  if (depth > 0) throw new CorefileError(file, parenLine, "unclosed '(': missing ')'");
  if (cur !== undefined && cur.toks.length > 0) yield cur;
}

/** Bytes in the UTF-8 sequence that starts with `lead`. */
const utf8Width = (lead: number): number => (lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1);

/** A TTL: seconds, or BIND units ("1h30m", "2d", "1w"). Undefined if it is not a TTL. */
export function parseTtl(s: string): number | undefined {
  if (/^\d+$/.test(s)) {
    const v = Number(s);
    return v <= 0xffffffff ? v : undefined;
  }
  if (!/^(\d+[smhdw])+$/i.test(s)) return undefined;
  let total = 0;
  for (const m of s.toLowerCase().matchAll(/(\d+)([smhdw])/g)) {
    const mult = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's'];
    total += Number(m[1]) * mult;
  }
  return total <= 0xffffffff ? total : undefined;
}

const dnsPacketName = (fq: string): string => (fq === '.' ? '.' : fq.slice(0, -1));

/**
 * The records of a zone file for `origin` (a lower-case FQDN), one at a time: a caller can stop
 * early (readSerial) or pause between records (the file plugin's reload). Every record must be at
 * or below the origin and the origin must have an SOA (checked when the file ends).
 */
export function* zoneRecords(text: string | Uint8Array, origin: string, file: string): Generator<ZoneRecord> {
  let curOrigin = origin;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let prevOwner: string | undefined;
  let haveSoa = false;
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;

  for (const e of entries(bytes, file)) {
    const err = (msg: string): CorefileError => new CorefileError(file, e.line, msg);
    const name = (t: Tok | undefined, what: string): string => {
      if (t === undefined) throw err(`missing ${what}`);
      const s = t.text;
      let fq: string;
      if (s === '@') fq = curOrigin;
      else if (s.endsWith('.') && !s.endsWith('\\.')) fq = s;
      else fq = curOrigin === '.' ? `${s}.` : `${s}.${curOrigin}`;
      if (fq !== '.' && (fq.startsWith('.') || /(^|[^\\])\.\./.test(fq))) throw err(`bad ${what} '${s}': empty label`);
      if (plainNameFits(fq)) return fq;
      try {
        encodeName(fq);
      } catch (x) {
        throw err(`bad ${what} '${s}': ${(x as Error).message}`);
      }
      return fq;
    };
    const first = e.toks[0]!;

    if (!e.blankOwner && !first.quoted && first.text.startsWith('$')) {
      const dir = first.text.toUpperCase();
      if (dir === '$ORIGIN') {
        if (e.toks.length !== 2) throw err('$ORIGIN takes exactly one name');
        curOrigin = name(e.toks[1], '$ORIGIN').toLowerCase();
      } else if (dir === '$TTL') {
        if (e.toks.length !== 2) throw err('$TTL takes exactly one value');
        const v = parseTtl(e.toks[1]!.text);
        if (v === undefined || v > MAX_TTL) throw err(`bad $TTL value '${e.toks[1]!.text}'`);
        defaultTtl = v;
      } else if (dir === '$INCLUDE') {
        throw err('$INCLUDE is not supported');
      } else {
        throw err(`unknown directive '${first.text}'`);
      }
      continue;
    }

    let k = 0;
    let owner: string;
    if (e.blankOwner) {
      if (prevOwner === undefined) throw err('no owner name: the first record starts with white space');
      owner = prevOwner;
    } else {
      owner = name(e.toks[k++], 'owner name').toLowerCase();
    }
    prevOwner = owner;

    let ttl: number | undefined;
    let cls: string | undefined;
    let typeTok: Tok | undefined;
    while (k < e.toks.length) {
      const t = e.toks[k++]!;
      const up = t.text.toUpperCase();
      if (!t.quoted && ttl === undefined && parseTtl(t.text) !== undefined) {
        ttl = parseTtl(t.text)!;
        if (ttl > MAX_TTL) throw err(`TTL '${t.text}' is too large`);
        continue;
      }
      if (!t.quoted && cls === undefined && (CLASSES.has(up) || /^CLASS\d+$/.test(up))) {
        cls = up;
        continue;
      }
      typeTok = t;
      break;
    }
    if (typeTok === undefined) throw err('missing record type');
    const typeName = typeTok.text.toUpperCase();
    if (cls !== undefined && cls !== 'IN') throw err(`class ${cls} is not supported, only IN`);
    const qtype = SUPPORTED[typeName];
    if (qtype === undefined) {
      if (typeFromName(typeName) !== undefined) throw err(`unsupported record type '${typeName}'`);
      throw err(`unknown record type '${typeTok.text}'`);
    }
    if (ttl !== undefined) lastTtl = ttl;
    const effTtl = ttl ?? defaultTtl ?? lastTtl ?? 3600;
    const rd = e.toks.slice(k);
    const want = (count: number): void => {
      if (rd.length !== count) throw err(`${typeName} record needs ${count} rdata field${count === 1 ? '' : 's'}, got ${rd.length}`);
    };
    const u = (t: Tok, bits: 16 | 32 | 8, what: string): number => {
      if (!/^\d+$/.test(t.text)) throw err(`bad ${typeName} ${what} '${t.text}'`);
      const v = Number(t.text);
      if (v >= 2 ** bits) throw err(`${typeName} ${what} '${t.text}' is out of range`);
      return v;
    };
    const rdName = (t: Tok | undefined, what: string): string => dnsPacketName(name(t, `${typeName} ${what}`));
    // One object shape for every record (name, type, ttl, data): no class (IN is dns-packet's default).
    const rrName = dnsPacketName(owner);
    let rr: RR;
    switch (typeName) {
      case 'A':
        want(1);
        if (!net.isIPv4(rd[0]!.text)) throw err(`bad A address '${rd[0]!.text}'`);
        rr = { name: rrName, type: 'A', ttl: effTtl, data: rd[0]!.text };
        break;
      case 'AAAA':
        want(1);
        if (!net.isIPv6(rd[0]!.text)) throw err(`bad AAAA address '${rd[0]!.text}'`);
        rr = { name: rrName, type: 'AAAA', ttl: effTtl, data: rd[0]!.text };
        break;
      case 'CNAME':
      case 'DNAME':
      case 'NS':
      case 'PTR':
        want(1);
        rr = { name: rrName, type: typeName, ttl: effTtl, data: rdName(rd[0], 'target') };
        break;
      case 'MX':
        want(2);
        rr = { name: rrName, type: 'MX', ttl: effTtl, data: { preference: u(rd[0]!, 16, 'preference'), exchange: rdName(rd[1], 'exchange') } };
        break;
      case 'SRV':
        want(4);
        rr = {
          name: rrName,
          type: 'SRV',
          ttl: effTtl,
          data: { priority: u(rd[0]!, 16, 'priority'), weight: u(rd[1]!, 16, 'weight'), port: u(rd[2]!, 16, 'port'), target: rdName(rd[3], 'target') },
        };
        break;
      case 'TXT': {
        if (rd.length === 0) throw err('TXT record needs at least one string');
        const strs = rd.map((t) => (t.quoted ? t.text : t.text.replace(/\\(.)/g, '$1')));
        for (const s of strs) if (Buffer.byteLength(s) > 255) throw err('TXT string longer than 255 bytes');
        rr = { name: rrName, type: 'TXT', ttl: effTtl, data: strs };
        break;
      }
      case 'SOA': {
        want(7);
        const t = (tok: Tok, what: string): number => {
          const v = parseTtl(tok.text);
          if (v === undefined) throw err(`bad SOA ${what} '${tok.text}'`);
          return v;
        };
        rr = {
          name: rrName,
          type: 'SOA',
          ttl: effTtl,
          data: {
            mname: rdName(rd[0], 'mname'),
            rname: rdName(rd[1], 'rname'),
            serial: u(rd[2]!, 32, 'serial'),
            refresh: t(rd[3]!, 'refresh'),
            retry: t(rd[4]!, 'retry'),
            expire: t(rd[5]!, 'expire'),
            minimum: t(rd[6]!, 'minimum'),
          },
        };
        break;
      }
      case 'CAA': {
        want(3);
        const tag = rd[1]!.text;
        if (!/^[a-z0-9]+$/i.test(tag)) throw err(`bad CAA tag '${tag}'`);
        rr = { name: rrName, type: 'CAA', ttl: effTtl, data: { flags: u(rd[0]!, 8, 'flags'), tag: tag.toLowerCase() as 'issue', value: rd[2]!.text } };
        break;
      }
      default:
        throw err(`unsupported record type '${typeName}'`);
    }
    if (owner !== origin && !owner.endsWith(origin === '.' ? '.' : `.${origin}`)) throw err(`out-of-zone record '${owner}' for zone '${origin}'`);
    if (qtype === 6 && owner !== origin) throw err(`SOA record for '${owner}' is not at the zone apex '${origin}'`);
    if (qtype === 6) haveSoa = true;
    yield { owner, qtype, rr, line: e.line };
  }
  if (!haveSoa) throw new CorefileError(file, 1, `no SOA record for zone '${origin}'`);
}

/** All records of a zone file (see zoneRecords). Throws a CorefileError naming file and line. */
export function parseZone(text: string | Uint8Array, origin: string, file: string): ZoneRecord[] {
  return [...zoneRecords(text, origin, file)];
}

/** The SOA serial of a zone file, parsing only as far as the SOA record (usually the first). */
export function readSerial(text: string | Uint8Array, origin: string, file: string): number {
  for (const r of zoneRecords(text, origin, file)) {
    if (r.qtype === 6) return (r.rr as { data: { serial: number } }).data.serial;
  }
  throw new CorefileError(file, 1, `no SOA record for zone '${origin}'`);
}

/** A name without escapes whose labels (1..63 octets, ASCII) and length (≤ 255 encoded) fit the wire. */
function plainNameFits(fq: string): boolean {
  if (fq.length > 254) return false;
  let start = 0;
  for (let i = 0; i < fq.length; i++) {
    const c = fq.charCodeAt(i);
    if (c === 0x5c || c > 0x7e) return false;
    if (c === 0x2e) {
      if (i - start > 63) return false;
      start = i + 1;
    }
  }
  return true;
}
