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

/** Split master-file text into entries (logical lines), honouring quotes, comments and parentheses. */
function entries(text: string, file: string): Entry[] {
  const out: Entry[] = [];
  let line = 1;
  let depth = 0;
  let parenLine = 0;
  let cur: Entry | undefined;
  let atLineStart = true;
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const push = (t: Tok, at: number): void => {
    if (cur === undefined) cur = { line: at, blankOwner: false, toks: [] };
    cur.toks.push(t);
  };
  const endEntry = (): void => {
    if (cur !== undefined && cur.toks.length > 0) out.push(cur);
    cur = undefined;
  };
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      if (depth === 0) {
        endEntry();
        atLineStart = true;
      }
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      if (atLineStart && depth === 0 && cur === undefined) cur = { line, blankOwner: true, toks: [] };
      atLineStart = false;
      i++;
      continue;
    }
    atLineStart = false;
    if (c === ';') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '(') {
      if (depth === 0) parenLine = line;
      depth++;
      i++;
      continue;
    }
    if (c === ')') {
      if (depth === 0) throw new CorefileError(file, line, "unbalanced ')'");
      depth--;
      i++;
      continue;
    }
    if (c === '"') {
      const start = line;
      let s = '';
      i++;
      let closed = false;
      while (i < n) {
        const ch = text[i]!;
        if (ch === '\\' && i + 1 < n) {
          const d = text.slice(i + 1, i + 4);
          if (/^\d{3}$/.test(d)) {
            s += String.fromCharCode(Number(d) & 0xff);
            i += 4;
          } else {
            s += text[i + 1];
            i += 2;
          }
          continue;
        }
        if (ch === '"') {
          closed = true;
          i++;
          break;
        }
        if (ch === '\n') line++;
        s += ch;
        i++;
      }
      if (!closed) throw new CorefileError(file, start, 'unterminated quoted string');
      push({ text: s, quoted: true }, start);
      continue;
    }
    let s = '';
    while (i < n) {
      const ch = text[i]!;
      if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n' || ch === ';' || ch === '(' || ch === ')' || ch === '"') break;
      if (ch === '\\' && i + 1 < n) {
        s += ch + text[i + 1];
        i += 2;
        continue;
      }
      s += ch;
      i++;
    }
    push({ text: s, quoted: false }, line);
  }
  if (depth > 0) throw new CorefileError(file, parenLine, "unclosed '(': missing ')'");
  endEntry();
  return out;
}

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
 * Parse a zone file for `origin` (a lower-case FQDN). Every record must be at or below the origin
 * and the origin must have an SOA.
 */
export function parseZone(text: string, origin: string, file: string): ZoneRecord[] {
  let curOrigin = origin;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let prevOwner: string | undefined;
  const out: ZoneRecord[] = [];

  for (const e of entries(text, file)) {
    const err = (msg: string): CorefileError => new CorefileError(file, e.line, msg);
    const name = (t: Tok | undefined, what: string): string => {
      if (t === undefined) throw err(`missing ${what}`);
      const s = t.text;
      let fq: string;
      if (s === '@') fq = curOrigin;
      else if (s.endsWith('.') && !s.endsWith('\\.')) fq = s;
      else fq = curOrigin === '.' ? `${s}.` : `${s}.${curOrigin}`;
      if (fq !== '.' && (fq.startsWith('.') || /(^|[^\\])\.\./.test(fq))) throw err(`bad ${what} '${s}': empty label`);
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
    const base = { name: dnsPacketName(owner), ttl: effTtl, class: 'IN' as const };
    let rr: RR;
    switch (typeName) {
      case 'A':
        want(1);
        if (!net.isIPv4(rd[0]!.text)) throw err(`bad A address '${rd[0]!.text}'`);
        rr = { ...base, type: 'A', data: rd[0]!.text };
        break;
      case 'AAAA':
        want(1);
        if (!net.isIPv6(rd[0]!.text)) throw err(`bad AAAA address '${rd[0]!.text}'`);
        rr = { ...base, type: 'AAAA', data: rd[0]!.text };
        break;
      case 'CNAME':
      case 'DNAME':
      case 'NS':
      case 'PTR':
        want(1);
        rr = { ...base, type: typeName, data: rdName(rd[0], 'target') };
        break;
      case 'MX':
        want(2);
        rr = { ...base, type: 'MX', data: { preference: u(rd[0]!, 16, 'preference'), exchange: rdName(rd[1], 'exchange') } };
        break;
      case 'SRV':
        want(4);
        rr = {
          ...base,
          type: 'SRV',
          data: { priority: u(rd[0]!, 16, 'priority'), weight: u(rd[1]!, 16, 'weight'), port: u(rd[2]!, 16, 'port'), target: rdName(rd[3], 'target') },
        };
        break;
      case 'TXT': {
        if (rd.length === 0) throw err('TXT record needs at least one string');
        const strs = rd.map((t) => (t.quoted ? t.text : t.text.replace(/\\(.)/g, '$1')));
        for (const s of strs) if (Buffer.byteLength(s) > 255) throw err('TXT string longer than 255 bytes');
        rr = { ...base, type: 'TXT', data: strs };
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
          ...base,
          type: 'SOA',
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
        rr = { ...base, type: 'CAA', data: { flags: u(rd[0]!, 8, 'flags'), tag: tag.toLowerCase() as 'issue', value: rd[2]!.text } };
        break;
      }
      default:
        throw err(`unsupported record type '${typeName}'`);
    }
    if (owner !== origin && !owner.endsWith(origin === '.' ? '.' : `.${origin}`)) throw err(`out-of-zone record '${owner}' for zone '${origin}'`);
    if (qtype === 6 && owner !== origin) throw err(`SOA record for '${owner}' is not at the zone apex '${origin}'`);
    out.push({ owner, qtype, rr, line: e.line });
  }
  if (!out.some((r) => r.qtype === 6)) throw new CorefileError(file, 1, `no SOA record for zone '${origin}'`);
  return out;
}
