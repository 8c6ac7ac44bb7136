// Domain name helpers: presentation ⇄ wire, label walks, reverse names.
import net from 'node:net';
import { ipBytes } from './ip.js';

/** Lower-case and fully qualify. */
export function fqdn(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : n + '.';
}

/** Split a presentation name into raw label byte arrays, honouring \. and \DDD escapes. */
export function nameLabels(name: string): Uint8Array[] {
  const labels: Uint8Array[] = [];
  if (name === '.' || name === '') return labels;
  let cur: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c && i + 1 < name.length) {
      const d = name.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d)) {
        cur.push(Number(d) & 0xff);
        i += 3;
      } else {
        cur.push(name.charCodeAt(i + 1));
        i += 1;
      }
      continue;
    }
    if (c === 0x2e) {
      labels.push(Uint8Array.from(cur));
      cur = [];
      continue;
    }
    cur.push(c & 0xff);
  }
  if (cur.length) labels.push(Uint8Array.from(cur));
  return labels;
}

/**
 * One byte of a label in presentation form, the one spelling of names (query names read by
 * wire.ts readName, zone names, signed zone files): `.` `\` `"` `(` `)` `;` `@` `$` escaped with a
 * backslash, other printable characters plain, the rest as `\DDD`.
 */
export function escapeLabelByte(c: number): string {
  if (c === 0x2e || c === 0x5c || c === 0x22 || c === 0x28 || c === 0x29 || c === 0x3b || c === 0x40 || c === 0x24) return '\\' + String.fromCharCode(c);
  if (c > 0x20 && c < 0x7f) return String.fromCharCode(c);
  return '\\' + String(c).padStart(3, '0');
}

/**
 * A presentation name spelled as the server spells query names (escapeLabelByte).
 * `x\046y.` and `x\.y.` are the same name, spelled `x\.y.`.
 */
export function canonicalName(name: string): string {
  if (!/[\\@$]/.test(name)) return name;
  let out = '';
  for (const l of nameLabels(name)) {
    for (const c of l) out += escapeLabelByte(c);
    out += '.';
  }
  return out === '' ? '.' : name.endsWith('.') ? out : out.slice(0, -1);
}

/**
 * A name's labels in the order RFC 4034 §6.1 sorts names: right to left, as bytes with ASCII
 * letters lower-cased (`\.` and `\DDD` escapes read as the bytes they stand for).
 */
export function canonicalLabels(name: string): Uint8Array[] {
  const labels = nameLabels(name).reverse();
  for (const l of labels) for (let i = 0; i < l.length; i++) if (l[i]! >= 0x41 && l[i]! <= 0x5a) l[i]! |= 0x20;
  return labels;
}

/** Canonical order (RFC 4034 §6.1) of two names given as canonicalLabels. */
export function compareCanonicalLabels(a: readonly Uint8Array[], b: readonly Uint8Array[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Canonical order (RFC 4034 §6.1) of two presentation names. */
export const canonicalCompare = (a: string, b: string): number => compareCanonicalLabels(canonicalLabels(a), canonicalLabels(b));

/** Uncompressed wire form of a presentation name. */
export function encodeName(name: string): Uint8Array {
  const labels = nameLabels(name);
  let len = 1;
  for (const l of labels) len += l.length + 1;
  const out = new Uint8Array(len);
  let p = 0;
  for (const l of labels) {
    if (l.length > 63) throw new Error(`label too long in '${name}'`);
    out[p++] = l.length;
    out.set(l, p);
    p += l.length;
  }
  out[p] = 0;
  if (len > 255) throw new Error(`name too long: '${name}'`);
  return out;
}

/** The parent of a name ("a.b.c." → "b.c.", "c." → ".", "." → undefined). Escaped dots are respected. */
export function parentName(name: string): string | undefined {
  if (name === '.' || name === '') return undefined;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c) {
      i++;
      continue;
    }
    if (c === 0x2e) return i + 1 >= name.length ? '.' : name.slice(i + 1);
  }
  return '.';
}

/** True if `name` equals `zone` or is below it (both lower-case FQDNs). */
export function isSubdomain(name: string, zone: string): boolean {
  if (zone === '.') return true;
  if (name.length < zone.length) return false;
  if (name.length === zone.length) return name === zone;
  return name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 0x2e && !isEscapedDot(name, name.length - zone.length - 1);
}

function isEscapedDot(name: string, at: number): boolean {
  let n = 0;
  for (let i = at - 1; i >= 0 && name.charCodeAt(i) === 0x5c; i--) n++;
  return n % 2 === 1;
}

/** Number of labels ("a.b." → 2, "." → 0). */
export function countLabels(name: string): number {
  let n = 0;
  let cur: string | undefined = name;
  while ((cur = parentName(cur)) !== undefined) n++;
  return n;
}

/** The reverse lookup name for an IP ("10.0.0.1" → "1.0.0.10.in-addr.arpa."). */
export function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return ip.split('.').reverse().join('.') + '.in-addr.arpa.';
  const b = ipBytes(ip)!;
  const nib: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nib.push((b[i]! & 0xf).toString(16), (b[i]! >> 4).toString(16));
  }
  return nib.join('.') + '.ip6.arpa.';
}

export { reverseToIp } from '../corefile/keys.js';

/**
 * RFC 5952 text of an IPv6 address given as eight 16-bit groups: lower-case hex without leading
 * zeros, the longest run of two or more zero groups (the first on a tie) written as "::".
 */
export function ip6Text(g: ArrayLike<number>): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => {
    let out = '';
    for (let i = from; i < to; i++) out += (i > from ? ':' : '') + g[i]!.toString(16);
    return out;
  };
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}
