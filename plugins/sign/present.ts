// Records in master-file (presentation) form for the signed zone file: the DNSSEC types sign
// writes (RRSIG, NSEC, DNSKEY, CDNSKEY, DS, CDS) in their own formats, the types dns-packet
// carries as objects in theirs, anything else in RFC 3597's generic form (TYPEnnn \# LEN HEX).
import type { RR } from '../../src/plugin/api.js';
import { typeName } from '../../src/dns/constants.js';
import { nameRdataText } from '../../src/dns/message.js';
import { escapeLabelByte } from '../../src/dns/names.js';

/** A wire name at `off` in `b` (uncompressed) as presentation text, with its end offset. */
function wireName(b: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  let p = off;
  while (p < b.length && b[p] !== 0) {
    const n = b[p]!;
    let s = '';
    for (let i = p + 1; i <= p + n; i++) s += escapeLabelByte(b[i]!);
    labels.push(s);
    p += n + 1;
  }
  return [labels.length === 0 ? '.' : `${labels.join('.')}.`, p + 1];
}

/** RRSIG time: YYYYMMDDHHmmSS (UTC). */
function sigTime(s: number): string {
  return new Date(s * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function bitmapTypes(b: Buffer, off: number): string[] {
  const out: string[] = [];
  let p = off;
  while (p + 2 <= b.length) {
    const win = b[p]!;
    const len = b[p + 1]!;
    for (let i = 0; i < len; i++) {
      const byte = b[p + 2 + i]!;
      for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) out.push(typeName(win * 256 + i * 8 + bit));
    }
    p += 2 + len;
  }
  return out;
}

function charString(b: Buffer | string): string {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  let s = '"';
  for (const c of buf) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c < 0x20 || c >= 0x7f) s += `\\${String(c).padStart(3, '0')}`;
    else s += String.fromCharCode(c);
  }
  return `${s}"`;
}

const fq = (n: string): string => (n === '' || n === '.' ? '.' : n.endsWith('.') ? n : `${n}.`);

/** The RDATA of raw bytes of type `t` as text. */
function rawRdata(t: number, d: Buffer): string {
  switch (t) {
    case 46: {
      const [signer, end] = wireName(d, 18);
      return `${typeName(d.readUInt16BE(0))} ${d[2]} ${d[3]} ${d.readUInt32BE(4)} ${sigTime(d.readUInt32BE(8))} ${sigTime(d.readUInt32BE(12))} ${d.readUInt16BE(16)} ${signer} ${d.subarray(end).toString('base64')}`;
    }
    case 47: {
      const [next, end] = wireName(d, 0);
      return `${next} ${bitmapTypes(d, end).join(' ')}`;
    }
    case 48:
    case 60:
      return `${d.readUInt16BE(0)} ${d[2]} ${d[3]} ${d.subarray(4).toString('base64')}`;
    case 43:
    case 59:
      return `${d.readUInt16BE(0)} ${d[2]} ${d[3]} ${d.subarray(4).toString('hex').toUpperCase()}`;
    default:
      return d.length === 0 ? '\\# 0' : `\\# ${d.length} ${d.toString('hex')}`;
  }
}

const KNOWN_RAW = new Set([43, 46, 47, 48, 59, 60]);
const NAMED: Record<number, string> = { 59: 'CDS', 60: 'CDNSKEY' };

/** One record as a master-file line, owned by `owner` (a FQDN). */
export function presentRecord(owner: string, r: RR): string {
  const ttl = (r as { ttl?: number }).ttl ?? 0;
  const type = r.type as string;
  const d = (r as { data?: unknown }).data;
  let t = type;
  let rdata: string;
  if (type.startsWith('UNKNOWN_')) {
    const n = Number(type.slice(8));
    t = KNOWN_RAW.has(n) ? (NAMED[n] ?? typeName(n)) : `TYPE${n}`;
    rdata = rawRdata(n, d as Buffer);
  } else {
    const named = nameRdataText(type, d);
    if (named !== undefined) rdata = named;
    else {
      switch (type) {
        case 'A':
        case 'AAAA':
          rdata = String(d);
          break;
        case 'TXT':
          rdata = (Array.isArray(d) ? d : [d]).map((x) => charString(x as Buffer | string)).join(' ');
          break;
        case 'CAA': {
          const c = d as { flags?: number; issuerCritical?: boolean; tag: string; value: string };
          rdata = `${c.flags ?? (c.issuerCritical ? 128 : 0)} ${c.tag} ${charString(c.value)}`;
          break;
        }
        default:
          throw new Error(`cannot write a ${type} record`);
      }
    }
  }
  return `${fq(owner)}\t${ttl}\tIN\t${t}\t${rdata}`;
}
