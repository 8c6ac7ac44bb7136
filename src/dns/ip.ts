// IP address text → bytes: the one parser behind CIDR filters (corefile keys, acl), reverse
// names, dnstap's addresses, rewrite's EDNS0 data and the kubernetes plugin's canonical IPv6 text.

/** The four bytes of a dotted IPv4 address, or undefined. */
function v4Bytes(s: string, out: Uint8Array, at: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return false;
    const v = Number(p);
    if (v > 255) return false;
    out[at + i] = v;
  }
  return true;
}

/** One IPv6 group (1 to 4 hex digits), or -1. */
function group(g: string): number {
  if (g.length === 0 || g.length > 4 || !/^[0-9a-fA-F]+$/.test(g)) return -1;
  return parseInt(g, 16);
}

/**
 * The bytes of an IP address: 4 for dotted IPv4, 16 for IPv6 (`::` compression, an embedded
 * IPv4 tail such as ::ffff:192.0.2.1, and a %zone, which is dropped). Undefined when the text is
 * not an address.
 */
export function ipBytes(ip: string): Uint8Array | undefined {
  if (!ip.includes(':')) {
    const out = new Uint8Array(4);
    return v4Bytes(ip, out, 0) ? out : undefined;
  }
  let s = ip;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const out = new Uint8Array(16);
  // an embedded IPv4 tail fills the last four bytes and stands for two groups
  let slots = 8;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    if (!v4Bytes(s.slice(lastColon + 1), out, 12)) return undefined;
    slots = 6;
    s = s.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "64:ff9b::1.2.3.4" leaves "64:ff9b::"; "1:2:3:4:5:6:1.2.3.4" leaves "1:2:3:4:5:6:"
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const gap = s.indexOf('::');
  if (gap !== s.lastIndexOf('::')) return undefined;
  const head = gap < 0 ? s : s.slice(0, gap);
  const tail = gap < 0 ? '' : s.slice(gap + 2);
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === '' ? [] : tail.split(':');
  if (gap < 0 ? hs.length !== slots : hs.length + ts.length >= slots) return undefined;
  for (let i = 0; i < hs.length; i++) {
    const v = group(hs[i]!);
    if (v < 0) return undefined;
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  for (let i = 0; i < ts.length; i++) {
    const v = group(ts[i]!);
    if (v < 0) return undefined;
    const k = slots - ts.length + i;
    out[k * 2] = v >> 8;
    out[k * 2 + 1] = v & 0xff;
  }
  return out;
}
