// An RFC 1035 master-file parser: $ORIGIN, $TTL, $INCLUDE (relative to the including file, its
// $ORIGIN and $TTL not leaking back), $GENERATE (as miekg/dns, CoreDNS's parser, reads it),
// relative names and '@', a blank owner meaning the previous owner, parentheses spanning lines,
// ';' comments, quoted strings and escapes, classes (IN, CH, HS, CS, NONE, CLASSn), every record type in
// rdata.ts plus the RFC 3597 generic forms (TYPEnnn, '\# LENGTH HEX'). Errors are CorefileErrors
// naming the file (the included one, for a record in it) and line ("db.example.org:12: …").
//
// Records of the types dns-packet encodes well (OBJECT_TYPES) are its objects; every other type
// is carried as RDATA bytes under dns-packet's name for an unknown type ("UNKNOWN_65"), which it
// writes as they are: rrTypeKey() gives the name a record of a type is stored under.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { CorefileError, encodeName, type RR } from '../../src/plugin/api.js';
import { canonicalName, nameLabels } from '../../src/dns/names.js';
import { encodeRdata, genericRdata, rrTypeNumber, splitString, unescapeBytes } from './rdata.js';

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

/** Types kept as dns-packet objects (the rest are RDATA bytes). */
const OBJECT_TYPES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 39: 'DNAME', 257: 'CAA' };
const typeKeys: string[] = [];
/** The `type` a record of type number `t` has in a parsed zone: dns-packet's name, or "UNKNOWN_t" for RDATA bytes. */
export function rrTypeKey(t: number): string {
  let k = typeKeys[t];
  if (k === undefined) typeKeys[t] = k = OBJECT_TYPES[t] ?? `UNKNOWN_${t}`;
  return k;
}
const CLASSES = new Set(['IN', 'CH', 'CS', 'HS', 'NONE']);
/** CLASSn spelled by name where dns-packet has one. */
const CLASS_NAMES: Record<number, string> = { 1: 'IN', 2: 'CS', 3: 'CH', 4: 'HS', 255: 'ANY' };
/** $INCLUDE nesting limit (miekg/dns's). */
const MAX_INCLUDE_DEPTH = 7;
/** Most records one $GENERATE may make (miekg/dns: (stop-start)/step ≤ 65535). */
const MAX_GENERATE = 65535;
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
      // The text between the quotes, escapes kept (decoded where the RDATA is built).
      const start = line;
      i++;
      const from = i;
      let closed = false;
      while (i < n) {
        const ch = buf[i]!;
        if (ch === BSL && i + 1 < n) {
          if (buf[i + 1] === NL) line++;
          i += 2;
          continue;
        }
        if (ch === QUOTE) {
          closed = true;
          break;
        }
        if (ch === NL) line++;
        i++;
      }
      if (!closed) throw new CorefileError(file, start, 'unterminated quoted string');
      push({ text: buf.toString('utf8', from, i), quoted: true }, start);
      i++;
      continue;
    }
    let from = i;
    // Parentheses inside a token open and close a group without splitting it ("7(2)00" is 7200),
    // as miekg/dns reads them.
    let head = '';
    while (i < n) {
      const ch = buf[i]!;
      if (ch === SP || ch === TAB || ch === CR || ch === NL || ch === SEMI || ch === QUOTE) break;
      if (ch === LPAR || ch === RPAR) {
        if (ch === LPAR) {
          if (depth === 0) parenLine = line;
          depth++;
        } else {
          if (depth === 0) throw new CorefileError(file, line, "unbalanced ')'");
          depth--;
        }
        head += buf.toString('utf8', from, i);
        from = ++i;
        continue;
      }
      i += ch === BSL && i + 1 < n ? 2 : 1;
    }
    const text = head + buf.toString('utf8', from, i);
    if (text !== '') push({ text, quoted: false }, line);
  }
  if (depth > 0) throw new CorefileError(file, parenLine, "unclosed '(': missing ')'");
  if (cur !== undefined && cur.toks.length > 0) yield cur;
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

/**
 * A name from nameOf as dns-packet writes it: without the final dot. nameOf already spelled a name
 * with escapes the one way query names are read in (`\\.` inside a label, `\\DDD` for a control
 * character or a byte above 126), which src/dns/packet-codec.ts writes byte for byte.
 */
const dnsPacketName = (fq: string): string => (fq === '.' ? '.' : fq.slice(0, -1));

/** Where a zone file is on disk, for $INCLUDE. */
export interface ZoneFileOptions {
  /**
   * The file's path on disk: $INCLUDE names relative to it. Defaults to `file` (the name used in
   * messages), taken from the working directory.
   */
  path?: string | undefined;
}

/** What $ORIGIN, $TTL and the records so far set: one per file (an $INCLUDE's does not leak back). */
interface Scope {
  origin: string;
  defaultTtl: number | undefined;
  lastTtl: number | undefined;
  prevOwner: string | undefined;
}

/** One file being read: its name for messages, its path on disk, and the files including it. */
interface Source {
  readonly shown: string;
  readonly disk: string;
  /** Resolved paths of this file and every file that includes it (cycle check, depth). */
  readonly stack: readonly string[];
}

interface Ctx {
  readonly zone: string;
  haveSoa: boolean;
}

/**
 * The records of a zone file for `origin` (a lower-case FQDN), one at a time: a caller can stop
 * early (readSerial) or pause between records (the file plugin's reload). Every record must be at
 * or below the origin and the origin must have an SOA (checked when the file ends).
 */
export function* zoneRecords(text: string | Uint8Array, origin: string, file: string, opts: ZoneFileOptions = {}): Generator<ZoneRecord> {
  const ctx: Ctx = { zone: origin, haveSoa: false };
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const disk = opts.path ?? file;
  const scope: Scope = { origin, defaultTtl: undefined, lastTtl: undefined, prevOwner: undefined };
  yield* fileRecords(bytes, scope, ctx, { shown: file, disk, stack: [path.resolve(disk)] });
  if (!ctx.haveSoa) throw new CorefileError(file, 1, `no SOA record for zone '${origin}'`);
}

function* fileRecords(bytes: Uint8Array, scope: Scope, ctx: Ctx, src: Source): Generator<ZoneRecord> {
  for (const e of entries(bytes, src.shown)) {
    const first = e.toks[0]!;
    if (!e.blankOwner && !first.quoted && first.text.charCodeAt(0) === 0x24 /* $ */) yield* directive(e, scope, ctx, src, false);
    else yield record(e, scope, ctx, src.shown);
  }
}

/** An absolute, lower-case-preserving name from a token (relative to the scope's origin). */
function nameOf(t: Tok | undefined, what: string, scope: Scope, err: (m: string) => CorefileError): string {
  if (t === undefined) throw err(`missing ${what}`);
  const s = t.text;
  let fq: string;
  if (s === '@') fq = scope.origin;
  else if (s.endsWith('.') && !s.endsWith('\\.')) fq = s;
  else fq = scope.origin === '.' ? `${s}.` : `${s}.${scope.origin}`;
  if (fq !== '.' && (fq.startsWith('.') || /(^|[^\\])\.\./.test(fq))) throw err(`bad ${what} '${s}': empty label`);
  if (plainNameFits(fq)) return fq;
  try {
    encodeName(fq);
  } catch (x) {
    throw err(`bad ${what} '${s}': ${(x as Error).message}`);
  }
  // one spelling per name (x\\046y and x\\.y are one name), the one query names are read in
  return canonicalName(fq);
}

function* directive(e: Entry, scope: Scope, ctx: Ctx, src: Source, generated: boolean): Generator<ZoneRecord> {
  const err = (msg: string): CorefileError => new CorefileError(src.shown, e.line, msg);
  const first = e.toks[0]!;
  const dir = first.text.toUpperCase();
  if (dir === '$ORIGIN') {
    if (e.toks.length !== 2) throw err('$ORIGIN takes exactly one name');
    scope.origin = nameOf(e.toks[1], '$ORIGIN', scope, err).toLowerCase();
  } else if (dir === '$TTL') {
    if (e.toks.length !== 2) throw err('$TTL takes exactly one value');
    const v = parseTtl(e.toks[1]!.text);
    if (v === undefined || v > MAX_TTL) throw err(`bad $TTL value '${e.toks[1]!.text}'`);
    scope.defaultTtl = v;
  } else if (dir === '$INCLUDE') {
    if (e.toks.length < 2 || e.toks.length > 3) throw err('$INCLUDE takes a file name and an optional origin');
    const inc = unescapeBytes(e.toks[1]!.text).toString('utf8');
    const shown = path.isAbsolute(inc) ? inc : path.join(path.dirname(src.shown), inc);
    const disk = path.isAbsolute(inc) ? inc : path.join(path.dirname(src.disk), inc);
    const abs = path.resolve(disk);
    if (src.stack.includes(abs)) throw err(`$INCLUDE cycle: '${inc}' includes itself (through ${src.stack.length} file${src.stack.length === 1 ? '' : 's'})`);
    if (src.stack.length > MAX_INCLUDE_DEPTH) throw err(`too deeply nested $INCLUDE (more than ${MAX_INCLUDE_DEPTH} levels)`);
    const child: Scope = { origin: e.toks.length === 3 ? nameOf(e.toks[2], '$INCLUDE origin', scope, err).toLowerCase() : scope.origin, defaultTtl: scope.defaultTtl, lastTtl: scope.lastTtl, prevOwner: undefined };
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(disk);
    } catch (x) {
      throw err(`cannot read $INCLUDE file '${inc}': ${(x as NodeJS.ErrnoException).code ?? (x as Error).message}`);
    }
    yield* fileRecords(bytes, child, ctx, { shown, disk, stack: [...src.stack, abs] });
  } else if (dir === '$GENERATE') {
    if (generated) throw err(`nested $GENERATE directive not allowed`);
    yield* generate(e, scope, ctx, src, err);
  } else {
    throw err(`unknown directive '${first.text}'`);
  }
}

/**
 * $GENERATE RANGE LHS [TTL] [CLASS] TYPE RHS, as miekg/dns reads it: RANGE is start-stop[/step]
 * (at most 65,536 records); in the rest of the line '$' is the counter, '${offset,width,base}'
 * a formatted one (base d, o, x or X), '$$' and '\$' a literal '$', '\\' a backslash, and a
 * backslash before any other character drops both. Each expansion is read as a line of its own.
 */
function* generate(e: Entry, scope: Scope, ctx: Ctx, src: Source, err: (m: string) => CorefileError): Generator<ZoneRecord> {
  const rangeTok = e.toks[1];
  if (rangeTok === undefined) throw err('bad start-stop in $GENERATE range');
  let range = rangeTok.text;
  let step = 1;
  const slash = range.indexOf('/');
  if (slash >= 0) {
    const st = range.slice(slash + 1);
    if (!/^\+?\d+$/.test(st) || Number(st) <= 0) throw err('bad step in $GENERATE range');
    step = Number(st);
    range = range.slice(0, slash);
  }
  const dash = range.indexOf('-');
  if (dash < 0) throw err('bad start-stop in $GENERATE range');
  const startS = range.slice(0, dash);
  const endS = range.slice(dash + 1);
  if (!/^[+-]?\d+$/.test(startS)) throw err('bad start in $GENERATE range');
  if (!/^[+-]?\d+$/.test(endS)) throw err('bad stop in $GENERATE range');
  const start = Number(startS);
  const end = Number(endS);
  if (end < 0 || start < 0 || end < start || Math.floor((end - start) / step) > MAX_GENERATE) throw err('bad range in $GENERATE range');
  if (e.toks.length < 3) throw err('garbage after $GENERATE range');
  const tpl = e.toks
    .slice(2)
    .map((t) => (t.quoted ? `"${t.text}"` : t.text))
    .join(' ');
  // As miekg/dns: the generated lines are read by a parser of their own whose default TTL is
  // 3600 (not the file's $TTL), and nothing they set outlives the directive.
  const child: Scope = { origin: scope.origin, defaultTtl: undefined, lastTtl: 3600, prevOwner: undefined };
  for (let cur = start; cur <= end; cur += step) {
    let line: string;
    try {
      line = expandGenerate(tpl, cur, start, end);
    } catch (x) {
      throw err((x as Error).message);
    }
    let subs: Entry[];
    try {
      subs = [...entries(Buffer.from(line, 'utf8'), src.shown)];
    } catch (x) {
      throw err(`bad data in $GENERATE directive: ${x instanceof CorefileError ? x.message.replace(/^.*?:\d+: /, '') : (x as Error).message}`);
    }
    for (const sub of subs) {
      sub.line = e.line;
      const first = sub.toks[0]!;
      if (!sub.blankOwner && !first.quoted && first.text.charCodeAt(0) === 0x24) yield* directive(sub, child, ctx, src, true);
      else yield record(sub, child, ctx, src.shown);
    }
  }
}

/** One $GENERATE line for counter value `cur` (see generate()). Throws with miekg/dns's messages. */
export function expandGenerate(tpl: string, cur: number, start: number, end: number): string {
  let out = '';
  let esc = false;
  for (let i = 0; i < tpl.length; i++) {
    const c = tpl[i]!;
    if (c === '\\') {
      if (esc) out += '\\';
      esc = !esc;
      continue;
    }
    if (c === '$') {
      if (esc) {
        esc = false;
        out += '$';
        continue;
      }
      if (i === tpl.length - 1) {
        out += String(cur);
        continue;
      }
      if (tpl[i + 1] === '$') {
        i++;
        out += '$';
        continue;
      }
      let offset = 0;
      let width = 0;
      let base = 'd';
      if (tpl[i + 1] === '{') {
        const close = tpl.indexOf('}', i + 2);
        if (close < 0) throw new Error('bad modifier in $GENERATE');
        const parts = tpl.slice(i + 2, close).split(',');
        if (parts.length > 3) throw new Error('bad modifier in $GENERATE');
        base = parts[2] ?? 'd';
        if (!['o', 'd', 'x', 'X'].includes(base)) throw new Error('bad base in $GENERATE');
        if (!/^[+-]?\d+$/.test(parts[0]!)) throw new Error('bad offset in $GENERATE');
        offset = Number(parts[0]);
        const w = parts[1] ?? '0';
        if (!/^\+?\d+$/.test(w) || Number(w) > 255) throw new Error('bad width in $GENERATE');
        width = Number(w);
        if (start + offset < 0 || end + offset > 2 ** 31 - 1) throw new Error('bad offset in $GENERATE');
        i = close;
      }
      const v = cur + offset;
      const digits = base === 'd' ? String(v) : base === 'o' ? v.toString(8) : base === 'x' ? v.toString(16) : v.toString(16).toUpperCase();
      out += digits.padStart(width, '0');
      continue;
    }
    if (esc) {
      // miekg/dns drops an escaped character other than '\' and '$' along with its backslash.
      esc = false;
      continue;
    }
    out += c;
  }
  return out;
}

/** One record line → a ZoneRecord (checked to be in the zone). */
function record(e: Entry, scope: Scope, ctx: Ctx, file: string): ZoneRecord {
  const err = (msg: string): CorefileError => new CorefileError(file, e.line, msg);
  const name = (t: Tok | undefined, what: string): string => nameOf(t, what, scope, err);
  const origin = ctx.zone;
  let k = 0;
  let owner: string;
  if (e.blankOwner) {
    if (scope.prevOwner === undefined) throw err('no owner name: the first record starts with white space');
    owner = scope.prevOwner;
  } else {
    owner = name(e.toks[k++], 'owner name').toLowerCase();
  }
  scope.prevOwner = owner;

  let ttl: number | undefined;
  let cls: string | undefined;
  let typeTok: Tok | undefined;
  while (k < e.toks.length) {
    const t = e.toks[k++]!;
    if (!t.quoted && ttl === undefined) {
      const v = parseTtl(t.text);
      if (v !== undefined) {
        if (v > MAX_TTL) throw err(`TTL '${t.text}' is too large`);
        ttl = v;
        continue;
      }
    }
    if (!t.quoted && cls === undefined) {
      const up = t.text.toUpperCase();
      if (CLASSES.has(up) || /^CLASS\d+$/.test(up)) {
        cls = up;
        continue;
      }
    }
    typeTok = t;
    break;
  }
  if (typeTok === undefined) throw err('missing record type');
  const typeName = typeTok.text.toUpperCase();
  // Another class (CH, HS, CS, NONE, CLASSn) is kept on the record, which is answered as it is
  // whatever the query's class, as CoreDNS's file does (its zone is keyed by name and type only).
  if (cls !== undefined && cls.startsWith('CLASS')) {
    const n = Number(cls.slice(5));
    if (n > 0xffff) throw err(`bad class '${cls}'`);
    cls = CLASS_NAMES[n] ?? cls;
  }
  const qtype = typeTok.quoted ? undefined : rrTypeNumber(typeName);
  if (qtype === undefined) throw err(`unknown record type '${typeTok.text}'`);
  if (qtype === 41 || qtype === 249 || qtype === 250 || (qtype >= 251 && qtype <= 255)) throw err(`record type '${typeName}' cannot be in a zone`);
  if (ttl !== undefined) scope.lastTtl = ttl;
  const effTtl = ttl ?? scope.defaultTtl ?? scope.lastTtl ?? 3600;
  const rd = e.toks.slice(k);
  const rrName = dnsPacketName(owner);
  let rr: RR;
  if (rd.length > 0 && !rd[0]!.quoted && rd[0]!.text === '\\#') {
    // RFC 3597: "\# LENGTH HEX" for any type; a type we know as an object is decoded into one.
    let bytes: Buffer;
    try {
      bytes = genericRdata(rd, typeName);
    } catch (x) {
      throw err((x as Error).message);
    }
    const objType = OBJECT_TYPES[qtype];
    if (objType === undefined) rr = { name: rrName, type: rrTypeKey(qtype), ttl: effTtl, data: bytes } as unknown as RR;
    else {
      const prefixed = Buffer.allocUnsafe(bytes.length + 2);
      prefixed.writeUInt16BE(bytes.length, 0);
      bytes.copy(prefixed, 2);
      let data: unknown;
      try {
        const decode = (dnsPacket as unknown as { record(t: string): { decode: ((b: Buffer, o: number) => unknown) & { bytes: number } } }).record(objType).decode;
        data = decode(prefixed, 0);
        if (decode.bytes !== prefixed.length) throw new Error('trailing bytes');
      } catch (x) {
        throw err(`bad ${typeName} record in RFC 3597 form: ${(x as Error).message}`);
      }
      rr = { name: rrName, type: objType, ttl: effTtl, data } as RR;
    }
  } else if (OBJECT_TYPES[qtype] === undefined) {
    let bytes: Buffer;
    try {
      bytes = encodeRdata(qtype, typeName, { toks: rd, name: (text, what) => name({ text, quoted: false }, what) });
    } catch (x) {
      if (x instanceof CorefileError) throw x;
      throw err((x as Error).message);
    }
    rr = { name: rrName, type: rrTypeKey(qtype), ttl: effTtl, data: bytes } as unknown as RR;
  } else {
    rr = objectRecord(qtype, OBJECT_TYPES[qtype]!, rrName, effTtl, rd, name, err);
  }
  if (cls !== undefined && cls !== 'IN') rr = { ...rr, class: cls } as RR;
  if (owner !== origin && !owner.endsWith(origin === '.' ? '.' : `.${origin}`)) throw err(`out-of-zone record '${owner}' for zone '${origin}'`);
  if (qtype === 6 && owner !== origin) throw err(`SOA record for '${owner}' is not at the zone apex '${origin}'`);
  if (qtype === 6) ctx.haveSoa = true;
  return { owner, qtype, rr, line: e.line };
}

/** A string for dns-packet when the bytes are UTF-8 that round-trips, else the bytes. */
function textOrBytes(b: Buffer): string | Buffer {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) {
    const s = b.toString('utf8');
    return Buffer.byteLength(s) === b.length && !s.includes('\ufffd') ? s : b;
  }
  return b.toString('latin1');
}

/** A record of one of the OBJECT_TYPES from its presentation RDATA. */
function objectRecord(qtype: number, typeName: string, rrName: string, effTtl: number, rd: Tok[], name: (t: Tok | undefined, what: string) => string, err: (m: string) => CorefileError): RR {
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
  switch (qtype) {
    case 1:
      want(1);
      if (!net.isIPv4(rd[0]!.text)) throw err(`bad A address '${rd[0]!.text}'`);
      return { name: rrName, type: 'A', ttl: effTtl, data: rd[0]!.text };
    case 28:
      want(1);
      if (!net.isIPv6(rd[0]!.text)) throw err(`bad AAAA address '${rd[0]!.text}'`);
      return { name: rrName, type: 'AAAA', ttl: effTtl, data: rd[0]!.text };
    case 5:
    case 39:
    case 2:
    case 12:
      want(1);
      return { name: rrName, type: typeName as 'NS', ttl: effTtl, data: rdName(rd[0], 'target') };
    case 15:
      want(2);
      return { name: rrName, type: 'MX', ttl: effTtl, data: { preference: u(rd[0]!, 16, 'preference'), exchange: rdName(rd[1], 'exchange') } };
    case 33:
      want(4);
      return {
        name: rrName,
        type: 'SRV',
        ttl: effTtl,
        data: { priority: u(rd[0]!, 16, 'priority'), weight: u(rd[1]!, 16, 'weight'), port: u(rd[2]!, 16, 'port'), target: rdName(rd[3], 'target') },
      };
    case 16: {
      if (rd.length === 0) throw err('TXT record needs at least one string');
      const strs: (string | Buffer)[] = [];
      for (const t of rd) {
        let b: Buffer;
        try {
          b = unescapeBytes(t.text);
        } catch (x) {
          throw err(`bad TXT string: ${(x as Error).message}`);
        }
        // Longer than 255 bytes: split into several strings, as miekg/dns does.
        for (const chunk of splitString(b)) strs.push(textOrBytes(chunk));
      }
      return { name: rrName, type: 'TXT', ttl: effTtl, data: strs as string[] };
    }
    case 6: {
      want(7);
      const t = (tok: Tok, what: string): number => {
        const v = parseTtl(tok.text);
        if (v === undefined) throw err(`bad SOA ${what} '${tok.text}'`);
        return v;
      };
      return {
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
    }
    case 257: {
      want(3);
      const tag = rd[1]!.text;
      if (!/^[a-z0-9]+$/i.test(tag)) throw err(`bad CAA tag '${tag}'`);
      return { name: rrName, type: 'CAA', ttl: effTtl, data: { flags: u(rd[0]!, 8, 'flags'), tag: tag.toLowerCase() as 'issue', value: unescapeBytes(rd[2]!.text).toString('utf8') } };
    }
    default:
      throw err(`unsupported record type '${typeName}'`);
  }
}

/** All records of a zone file (see zoneRecords). Throws a CorefileError naming file and line. */
export function parseZone(text: string | Uint8Array, origin: string, file: string, opts?: ZoneFileOptions): ZoneRecord[] {
  return [...zoneRecords(text, origin, file, opts)];
}

/** The SOA serial of a zone file, parsing only as far as the SOA record (usually the first). */
export function readSerial(text: string | Uint8Array, origin: string, file: string, opts?: ZoneFileOptions): number {
  for (const r of zoneRecords(text, origin, file, opts)) {
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
