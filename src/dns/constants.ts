// Numeric DNS constants used on the hot path (no string conversions per query).
import dnsTypes from 'dns-packet/types.js';
import dnsRcodes from 'dns-packet/rcodes.js';

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADVERS: 16,
} as const;

/**
 * Return this from serve() to send no reply at all (the acl plugin's `drop`): the core writes
 * nothing when the chain returns DROP without writing. Not an rcode.
 */
export const DROP = -1;

export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DNAME: 39,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NSEC3: 50,
  HTTPS: 65,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const QCLASS = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

/** Header flag bits (in the 16-bit flags word). */
export const FLAG = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  Z: 0x0040,
  AD: 0x0020,
  CD: 0x0010,
} as const;

const typeNameCache: string[] = [];
/** "A", "AAAA", … or "TYPE123" for types dns-packet does not name. */
export function typeName(t: number): string {
  let s = typeNameCache[t];
  if (s === undefined) {
    const n = dnsTypes.toString(t);
    s = n.startsWith('UNKNOWN') ? `TYPE${t}` : n;
    if (t < 65536) typeNameCache[t] = s;
  }
  return s;
}

/** Numeric type from a name ("A", "aaaa", "TYPE65"); undefined if unknown. */
export function typeFromName(name: string): number | undefined {
  const u = name.toUpperCase();
  const m = /^TYPE(\d+)$/.exec(u);
  if (m) return Number(m[1]);
  const n = dnsTypes.toType(u);
  return n === 0 ? undefined : n;
}

const RCODE_NAMES: Record<number, string> = { 16: 'BADVERS', 17: 'BADKEY', 18: 'BADTIME', 19: 'BADMODE', 20: 'BADNAME', 21: 'BADALG', 22: 'BADTRUNC', 23: 'BADCOOKIE' };
export function rcodeName(r: number): string {
  if (r < 16) return dnsRcodes.toString(r);
  return RCODE_NAMES[r] ?? `RCODE${r}`;
}

export function rcodeFromName(name: string): number | undefined {
  const u = name.toUpperCase();
  if (/^\d+$/.test(u)) return Number(u);
  for (const [k, v] of Object.entries(RCODE_NAMES)) if (v === u) return Number(k);
  const r = dnsRcodes.toRcode(u);
  if (r === 0 && u !== 'NOERROR') return undefined;
  return r;
}

export function className(c: number): string {
  switch (c) {
    case 1:
      return 'IN';
    case 3:
      return 'CH';
    case 4:
      return 'HS';
    case 254:
      return 'NONE';
    case 255:
      return 'ANY';
    default:
      return `CLASS${c}`;
  }
}
