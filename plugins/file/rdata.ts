// RDATA in wire form from presentation tokens, for the record types the zone file carries as
// bytes (everything but the types dns-packet encodes as objects: see zonefile.ts). Each encoder
// takes the record's RDATA tokens (escapes still in them) and returns the RDATA bytes, or throws
// an Error whose message the parser turns into "file:line: message". Formats follow RFC 1035,
// 3597 (\# generic), 4034 (DNSSEC), 5155 (NSEC3), 6698 (TLSA), 4255 (SSHFP), 3403 (NAPTR),
// 1876 (LOC), 9460 (SVCB/HTTPS), 7553 (URI), 7043 (EUI48/64), 8976 (ZONEMD), 7477 (CSYNC).
import net from 'node:net';
import { encodeName, typeFromName } from '../../src/plugin/api.js';
import { typeBitmap as bitmapOf } from '../../src/dns/dnssec/sign.js';

/** Type names dns-packet does not know, with their numbers (IANA registry). */
export const EXTRA_TYPES: Record<string, number> = {
  SMIMEA: 53,
  HIP: 55,
  CDS: 59,
  CDNSKEY: 60,
  OPENPGPKEY: 61,
  CSYNC: 62,
  ZONEMD: 63,
  SVCB: 64,
  HTTPS: 65,
  EUI48: 108,
  EUI64: 109,
  URI: 256,
  AVC: 258,
  DOA: 259,
  RESINFO: 261,
  WALLET: 262,
  MB: 7,
  MG: 8,
  MR: 9,
  MINFO: 14,
  X25: 19,
  ISDN: 20,
  RT: 21,
  NSAP: 22,
  PX: 26,
  GPOS: 27,
  NINFO: 56,
  RKEY: 57,
  TALINK: 58,
  L32: 105,
  L64: 106,
  LP: 107,
  NID: 104,
  UINFO: 100,
  UID: 101,
  GID: 102,
  UNSPEC: 103,
};

/** A record type's number from its presentation name ("A", "https", "TYPE65"); undefined if unknown. */
export function rrTypeNumber(name: string): number | undefined {
  const u = name.toUpperCase();
  const x = EXTRA_TYPES[u];
  if (x !== undefined) return x;
  const n = typeFromName(u);
  return n === undefined || n > 0xffff ? undefined : n;
}

/** Bytes of a <character-string> or a domain label in presentation form: \DDD and \X escapes decoded, the rest UTF-8. */
export function unescapeBytes(s: string): Buffer {
  if (!s.includes('\\')) return Buffer.from(s, 'utf8');
  const out: number[] = [];
  let run = '';
  const flush = (): void => {
    if (run !== '') for (const b of Buffer.from(run, 'utf8')) out.push(b);
    run = '';
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      flush();
      const d = s.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new Error(`bad escape '\\${d}'`);
        out.push(v);
        i += 3;
      } else {
        const cp = s.codePointAt(i + 1)!;
        const ch = String.fromCodePoint(cp);
        for (const b of Buffer.from(ch, 'utf8')) out.push(b);
        i += ch.length;
      }
      continue;
    }
    run += c;
  }
  flush();
  return Buffer.from(out);
}

/** Accumulates RDATA bytes. */
class Out {
  private readonly parts: Uint8Array[] = [];
  private len = 0;
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.len += b.length;
    return this;
  }
  u8(v: number): this {
    return this.bytes(Uint8Array.of(v));
  }
  u16(v: number): this {
    return this.bytes(Uint8Array.of(v >>> 8, v & 0xff));
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    return this.bytes(b);
  }
  done(): Buffer {
    if (this.len > 0xffff) throw new Error('RDATA longer than 65535 bytes');
    return Buffer.concat(this.parts, this.len);
  }
}

/** What an encoder gets: the RDATA tokens and a way to make names absolute. */
export interface RdataInput {
  readonly toks: readonly { readonly text: string; readonly quoted: boolean }[];
  /** An absolute presentation name ("a.example.org.") from a (possibly relative) token. */
  name(text: string, what: string): string;
}

type Encoder = (r: Reader) => Buffer;

/** Walks the RDATA tokens of one record. */
export class Reader {
  i = 0;
  constructor(
    readonly type: string,
    readonly input: RdataInput,
  ) {}
  get left(): number {
    return this.input.toks.length - this.i;
  }
  next(what: string): string {
    const t = this.input.toks[this.i++];
    if (t === undefined) throw new Error(`${this.type} record: missing ${what}`);
    return t.text;
  }
  /** The remaining tokens joined (base64, hex split across lines). */
  rest(what: string, allowEmpty = false): string {
    const parts = this.input.toks.slice(this.i).map((t) => t.text);
    this.i = this.input.toks.length;
    if (parts.length === 0 && !allowEmpty) throw new Error(`${this.type} record: missing ${what}`);
    return parts.join('');
  }
  end(): void {
    if (this.i < this.input.toks.length) throw new Error(`${this.type} record: unexpected '${this.input.toks[this.i]!.text}'`);
  }
  int(what: string, bits: 8 | 16 | 32): number {
    const s = this.next(what);
    if (!/^\d+$/.test(s)) throw new Error(`bad ${this.type} ${what} '${s}'`);
    const v = Number(s);
    if (v >= 2 ** bits) throw new Error(`${this.type} ${what} '${s}' is out of range`);
    return v;
  }
  nameBytes(what: string): Uint8Array {
    const s = this.next(what);
    const fq = this.input.name(s, `${this.type} ${what}`);
    return encodeName(fq);
  }
  cstr(what: string): Buffer {
    const b = unescapeBytes(this.next(what));
    if (b.length > 255) throw new Error(`${this.type} ${what}: character-string longer than 255 bytes`);
    return b;
  }
  hex(what: string, s = this.rest(what)): Buffer {
    if (s === '-') return Buffer.alloc(0);
    if (!/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`bad ${this.type} ${what}: not hexadecimal '${s}'`);
    return Buffer.from(s, 'hex');
  }
  base64(what: string, s = this.rest(what)): Buffer {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error(`bad ${this.type} ${what}: not base64`);
    return Buffer.from(s, 'base64');
  }
}

const cs = (b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(b.length + 1);
  out[0] = b.length;
  out.set(b, 1);
  return out;
};

/** A type bitmap (RFC 4034 4.1.2) from type names (the signer's encoder, after the names are checked). */
function typeBitmap(names: readonly string[], type: string): Uint8Array {
  return bitmapOf(
    names.map((n) => {
      const t = rrTypeNumber(n);
      if (t === undefined) throw new Error(`${type} record: unknown type '${n}' in the type bitmap`);
      return t;
    }),
  );
}

const BASE32HEX = '0123456789ABCDEFGHIJKLMNOPQRSTUV';
function base32hex(s: string, type: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of s.toUpperCase()) {
    const v = BASE32HEX.indexOf(ch);
    if (v < 0) throw new Error(`bad ${type} next hashed owner '${s}'`);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RRSIG times: YYYYMMDDHHmmSS (UTC) or a number of seconds. */
function sigTime(s: string, type: string): number {
  if (/^\d{14}$/.test(s)) {
    const ms = Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(8, 10), +s.slice(10, 12), +s.slice(12, 14));
    return Math.floor(ms / 1000) % 2 ** 32;
  }
  if (/^\d{1,10}$/.test(s) && Number(s) < 2 ** 32) return Number(s);
  throw new Error(`bad ${type} time '${s}'`);
}

const ds: Encoder = (r) => new Out().u16(r.int('key tag', 16)).u8(r.int('algorithm', 8)).u8(r.int('digest type', 8)).bytes(r.hex('digest')).done();
const dnskey: Encoder = (r) => new Out().u16(r.int('flags', 16)).u8(r.int('protocol', 8)).u8(r.int('algorithm', 8)).bytes(r.base64('key')).done();
const tlsa: Encoder = (r) => new Out().u8(r.int('usage', 8)).u8(r.int('selector', 8)).u8(r.int('matching type', 8)).bytes(r.hex('certificate data')).done();
const txtLike: Encoder = (r) => {
  const o = new Out();
  if (r.left === 0) throw new Error(`${r.type} record needs at least one string`);
  while (r.left > 0) for (const chunk of splitString(unescapeBytes(r.next('string')))) o.bytes(cs(chunk));
  return o.done();
};
const nameOnly: Encoder = (r) => {
  const b = r.nameBytes('target');
  r.end();
  return Buffer.from(b);
};
const prefName: Encoder = (r) => {
  const o = new Out().u16(r.int('preference', 16)).bytes(r.nameBytes('target'));
  r.end();
  return o.done();
};

/** Strings longer than 255 bytes are split into 255-byte character-strings (as miekg/dns does for TXT). */
export function splitString(b: Buffer): Buffer[] {
  if (b.length <= 255) return [b];
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out;
}

const SVC_KEYS: Record<string, number> = { mandatory: 0, alpn: 1, 'no-default-alpn': 2, port: 3, ipv4hint: 4, ech: 5, ipv6hint: 6, dohpath: 7, ohttp: 8 };
function svcKey(k: string, type: string): number {
  const v = SVC_KEYS[k];
  if (v !== undefined) return v;
  const m = /^key(\d{1,5})$/.exec(k);
  if (m && Number(m[1]) < 65535) return Number(m[1]);
  throw new Error(`${type} record: unknown SvcParamKey '${k}'`);
}

/** A comma-separated list where '\,' is a literal comma (RFC 9460 appendix A.1). */
function commaList(value: string): Buffer[] {
  const items: Buffer[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      if (value[i + 1] === ',' || value[i + 1] === '\\') {
        cur += `\\${value[i + 1]}`;
        i++;
        continue;
      }
      cur += c;
      continue;
    }
    if (c === ',') {
      items.push(unescapeBytes(cur));
      cur = '';
      continue;
    }
    cur += c;
  }
  items.push(unescapeBytes(cur));
  return items;
}

const svcb: Encoder = (r) => {
  const prio = r.int('priority', 16);
  // The target lower-cased, as CoreDNS stores it (its additional-section lookup needs that).
  const t = r.input.toks[r.i];
  const target = t === undefined ? r.nameBytes('target') : (r.i++, encodeName(r.input.name(t.text.toLowerCase(), `${r.type} target`)));
  const params = new Map<number, Uint8Array>();
  const toks = r.input.toks;
  while (r.i < toks.length) {
    const t = toks[r.i++]!;
    let key: string;
    let value: string | undefined;
    const eq = t.text.indexOf('=');
    if (eq < 0) key = t.text.toLowerCase();
    else {
      key = t.text.slice(0, eq).toLowerCase();
      value = t.text.slice(eq + 1);
      // key= "quoted value": the value is the next token.
      if (value === '' && r.i < toks.length && toks[r.i]!.quoted) value = toks[r.i++]!.text;
    }
    const k = svcKey(key, r.type);
    if (params.has(k)) throw new Error(`${r.type} record: duplicate SvcParamKey '${key}'`);
    const bad = (): Error => new Error(`${r.type} record: bad ${key} value '${value ?? ''}'`);
    let wire: Uint8Array;
    switch (k) {
      case 0:
        if (value === undefined) throw bad();
        {
          // The keys in ascending order (RFC 9460 8), each once.
          const keys = value.split(',').map((x) => svcKey(x.toLowerCase(), r.type)).sort((a, b) => a - b);
          if (keys.some((x, i) => x === 0 || (i > 0 && keys[i - 1] === x))) throw bad();
          wire = Buffer.concat(keys.map((x) => Uint8Array.of(x >> 8, x & 0xff)));
        }
        break;
      case 1:
        if (value === undefined) throw bad();
        wire = Buffer.concat(
          commaList(value).map((x) => {
            if (x.length === 0 || x.length > 255) throw bad();
            return cs(x);
          }),
        );
        break;
      case 2:
        if (value !== undefined && value !== '') throw bad();
        wire = new Uint8Array(0);
        break;
      case 3: {
        if (value === undefined || !/^\d+$/.test(value) || Number(value) > 65535) throw bad();
        wire = Uint8Array.of(Number(value) >> 8, Number(value) & 0xff);
        break;
      }
      case 4:
        if (value === undefined) throw bad();
        wire = Buffer.concat(
          value.split(',').map((a) => {
            if (!net.isIPv4(a)) throw bad();
            return Uint8Array.from(a.split('.').map(Number));
          }),
        );
        break;
      case 6:
        if (value === undefined) throw bad();
        wire = Buffer.concat(
          value.split(',').map((a) => {
            if (!net.isIPv6(a)) throw bad();
            return ip6Bytes(a);
          }),
        );
        break;
      case 5:
        if (value === undefined) throw bad();
        wire = r.base64('ech', value.replace(/^"|"$/g, ''));
        break;
      case 8:
        if (value !== undefined && value !== '') throw bad();
        wire = new Uint8Array(0);
        break;
      default:
        wire = value === undefined ? new Uint8Array(0) : unescapeBytes(value);
    }
    params.set(k, wire);
  }
  const o = new Out().u16(prio).bytes(target);
  for (const k of [...params.keys()].sort((a, b) => a - b)) {
    const v = params.get(k)!;
    o.u16(k).u16(v.length).bytes(v);
  }
  return o.done();
};

function ip6Bytes(a: string): Uint8Array {
  const out = new Uint8Array(16);
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let tail: number[] = [];
  if (v4) {
    tail = v4[1]!.split('.').map(Number);
    s = s.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head === '' ? [] : head!.split(':');
  const t = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (v4) out.set(tail, 12);
  return out;
}

/** LOC size/precision: "10m" → mantissa/exponent byte (RFC 1876, BIND's rounding down). */
function locSize(s: string, type: string): number {
  const m = /^(\d+)(?:\.(\d{1,2}))?m?$/i.exec(s);
  if (!m) throw new Error(`bad ${type} size '${s}'`);
  const cm = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  let e = 0;
  while (e < 9 && cm >= 10 ** (e + 1)) e++;
  const mant = Math.min(9, Math.floor(cm / 10 ** e));
  return (mant << 4) | e;
}

const loc: Encoder = (r) => {
  const coord = (hemis: string, what: string): number => {
    const deg = Number(r.next(what));
    let min = 0;
    let sec = 0;
    let t = r.next(what);
    if (/^\d+$/.test(t)) {
      min = Number(t);
      t = r.next(what);
      if (/^\d+(\.\d+)?$/.test(t)) {
        sec = Number(t);
        t = r.next(what);
      }
    }
    const h = t.toUpperCase();
    if (h.length !== 1 || !hemis.includes(h) || !Number.isFinite(deg)) throw new Error(`bad ${r.type} ${what}`);
    const ms = Math.round(((deg * 60 + min) * 60 + sec) * 1000);
    return (h === hemis[0] ? 2 ** 31 + ms : 2 ** 31 - ms) >>> 0;
  };
  const lat = coord('NS', 'latitude');
  const lon = coord('EW', 'longitude');
  const altS = r.next('altitude').replace(/m$/i, '');
  if (!/^-?\d+(\.\d{1,2})?$/.test(altS)) throw new Error(`bad ${r.type} altitude '${altS}'`);
  const alt = Math.round(Number(altS) * 100) + 10000000;
  const size = r.left > 0 ? locSize(r.next('size'), r.type) : 0x12;
  const hp = r.left > 0 ? locSize(r.next('horizontal precision'), r.type) : 0x16;
  const vp = r.left > 0 ? locSize(r.next('vertical precision'), r.type) : 0x13;
  r.end();
  return new Out().u8(0).u8(size).u8(hp).u8(vp).u32(lat).u32(lon).u32(alt).done();
};

const ENCODERS: Record<number, Encoder> = {
  7: nameOnly, // MB
  8: nameOnly, // MG
  9: nameOnly, // MR
  13: (r) => {
    const o = new Out().bytes(cs(r.cstr('cpu'))).bytes(cs(r.cstr('os')));
    r.end();
    return o.done();
  }, // HINFO
  14: (r) => {
    const o = new Out().bytes(r.nameBytes('rmailbx')).bytes(r.nameBytes('emailbx'));
    r.end();
    return o.done();
  }, // MINFO
  17: (r) => {
    const o = new Out().bytes(r.nameBytes('mbox')).bytes(r.nameBytes('txt'));
    r.end();
    return o.done();
  }, // RP
  18: prefName, // AFSDB
  21: prefName, // RT
  29: loc,
  35: (r) => {
    const o = new Out().u16(r.int('order', 16)).u16(r.int('preference', 16)).bytes(cs(r.cstr('flags'))).bytes(cs(r.cstr('services'))).bytes(cs(r.cstr('regexp'))).bytes(r.nameBytes('replacement'));
    r.end();
    return o.done();
  }, // NAPTR
  36: prefName, // KX
  43: ds,
  44: (r) => new Out().u8(r.int('algorithm', 8)).u8(r.int('type', 8)).bytes(r.hex('fingerprint')).done(), // SSHFP
  46: (r) => {
    const covered = r.next('type covered');
    const t = rrTypeNumber(covered);
    if (t === undefined) throw new Error(`RRSIG record: unknown type covered '${covered}'`);
    const o = new Out().u16(t).u8(r.int('algorithm', 8)).u8(r.int('labels', 8)).u32(r.int('original TTL', 32));
    o.u32(sigTime(r.next('expiration'), r.type)).u32(sigTime(r.next('inception'), r.type)).u16(r.int('key tag', 16));
    return o.bytes(r.nameBytes("signer's name")).bytes(r.base64('signature')).done();
  }, // RRSIG
  47: (r) => {
    const next = r.nameBytes('next domain');
    const types = r.input.toks.slice(r.i).map((t) => t.text);
    return new Out().bytes(next).bytes(typeBitmap(types, r.type)).done();
  }, // NSEC
  48: dnskey,
  49: (r) => new Out().bytes(r.base64('data')).done(), // DHCID
  50: (r) => {
    const o = new Out().u8(r.int('hash algorithm', 8)).u8(r.int('flags', 8)).u16(r.int('iterations', 16));
    const salt = r.hex('salt', r.next('salt'));
    const next = base32hex(r.next('next hashed owner'), r.type);
    o.u8(salt.length).bytes(salt).u8(next.length).bytes(next);
    return o.bytes(typeBitmap(r.input.toks.slice(r.i).map((t) => t.text), r.type)).done();
  }, // NSEC3
  51: (r) => {
    const o = new Out().u8(r.int('hash algorithm', 8)).u8(r.int('flags', 8)).u16(r.int('iterations', 16));
    const salt = r.hex('salt', r.next('salt'));
    r.end();
    return o.u8(salt.length).bytes(salt).done();
  }, // NSEC3PARAM
  52: tlsa,
  53: tlsa, // SMIMEA
  59: ds, // CDS
  60: dnskey, // CDNSKEY
  61: (r) => new Out().bytes(r.base64('key')).done(), // OPENPGPKEY
  62: (r) => {
    const o = new Out().u32(r.int('serial', 32)).u16(r.int('flags', 16));
    return o.bytes(typeBitmap(r.input.toks.slice(r.i).map((t) => t.text), r.type)).done();
  }, // CSYNC
  63: (r) => new Out().u32(r.int('serial', 32)).u8(r.int('scheme', 8)).u8(r.int('hash algorithm', 8)).bytes(r.hex('digest')).done(), // ZONEMD
  64: svcb,
  65: svcb, // HTTPS
  99: txtLike, // SPF
  108: (r) => eui(r, 6),
  109: (r) => eui(r, 8),
  256: (r) => {
    const o = new Out().u16(r.int('priority', 16)).u16(r.int('weight', 16)).bytes(unescapeBytes(r.next('target')));
    r.end();
    return o.done();
  }, // URI
  257: (r) => {
    const flags = r.int('flags', 8);
    const tag = r.next('tag');
    if (!/^[a-z0-9]+$/i.test(tag)) throw new Error(`bad CAA tag '${tag}'`);
    const o = new Out().u8(flags).bytes(cs(Buffer.from(tag, 'ascii'))).bytes(unescapeBytes(r.next('value')));
    r.end();
    return o.done();
  }, // CAA
};

function eui(r: Reader, n: number): Buffer {
  const s = r.next('address');
  r.end();
  const re = n === 6 ? /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/i : /^[0-9a-f]{2}(-[0-9a-f]{2}){7}$/i;
  if (!re.test(s)) throw new Error(`bad ${r.type} address '${s}'`);
  return Buffer.from(s.replace(/-/g, ''), 'hex');
}

/** Whether this parser can read the presentation form of `type` (else only `\# len hex`). */
export const hasEncoder = (type: number): boolean => ENCODERS[type] !== undefined;

/** RDATA bytes of a record of `type` from its presentation tokens. */
export function encodeRdata(type: number, typeName: string, input: RdataInput): Buffer {
  const enc = ENCODERS[type];
  if (enc === undefined) throw new Error(`record type '${typeName}' can only be written in the RFC 3597 form '\\# LENGTH HEX'`);
  return enc(new Reader(typeName, input));
}

/** RDATA of the RFC 3597 generic form: the tokens after '\#' (length, then hex in any number of pieces). */
export function genericRdata(toks: readonly { readonly text: string }[], typeName: string): Buffer {
  const lenTok = toks[1];
  if (lenTok === undefined || !/^\d+$/.test(lenTok.text)) throw new Error(`bad ${typeName} record: '\\#' must be followed by the RDATA length`);
  const len = Number(lenTok.text);
  const hex = toks
    .slice(2)
    .map((t) => t.text)
    .join('');
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new Error(`bad ${typeName} record: RDATA is not hexadecimal`);
  if (hex.length / 2 !== len) throw new Error(`bad ${typeName} record: RDATA length ${len} but ${hex.length / 2} bytes of data`);
  if (len > 0xffff) throw new Error(`bad ${typeName} record: RDATA longer than 65535 bytes`);
  return Buffer.from(hex, 'hex');
}
