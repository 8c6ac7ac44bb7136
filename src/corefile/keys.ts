// Server block keys: `[SCHEME://]ZONE[:PORT]` (dns, tls, https, grpc), reverse zones in CIDR form, and
// the duplicate check.
import net from 'node:net';
import { CorefileError, type Token } from './lexer.js';
import type { ServerBlock } from './parser.js';
import { ipBytes } from '../dns/ip.js';

export interface ZoneKey {
  /** Normalised zone: lower case, fully qualified ("example.org.", "0.0.10.in-addr.arpa."). */
  readonly zone: string;
  readonly port: number;
  /** dns (UDP+TCP), tls (DNS over TLS, RFC 7858), https (DNS over HTTPS, RFC 8484) or grpc (CoreDNS's DnsService). */
  readonly scheme: Scheme;
  /** For a classless reverse key (10.0.0.0/25): the network queries must fall in, else REFUSED. */
  readonly filter?: Cidr;
  /** The key as written. */
  readonly text: string;
}

export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

export type Scheme = 'dns' | 'tls' | 'https' | 'grpc';

/** The port of a key without one, per scheme (CoreDNS's transport ports); dns:// takes -dns.port. */
const SCHEME_PORT: Record<Exclude<Scheme, 'dns'>, number> = { tls: 853, https: 443, grpc: 443 };
/** Schemes CoreDNS serves that typedns does not. */
const UNSUPPORTED: Record<string, number> = { 'quic': 853, 'https3': 443 };

/** Lower-case and fully qualify a domain name. */
export function fqdn(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : n + '.';
}

export function parseKeys(block: ServerBlock, defaultPort: number): ZoneKey[] {
  const out: ZoneKey[] = [];
  for (const k of block.keys) for (const z of parseKey(k, defaultPort)) out.push(z);
  return out;
}

export function parseKey(tok: Token, defaultPort: number): ZoneKey[] {
  let s = tok.text;
  const fail = (msg: string): never => {
    throw new CorefileError(tok.file, tok.line, msg);
  };
  let scheme: Scheme = 'dns';
  const sm = /^([a-z0-9]+):\/\//i.exec(s);
  if (sm) {
    const name = sm[1]!.toLowerCase();
    if (name !== 'dns' && name !== 'tls' && name !== 'https' && name !== 'grpc') {
      if (name in UNSUPPORTED) fail(`${name}:// servers are not supported yet (key '${tok.text}'), expected dns://, tls://, https:// or grpc://`);
      fail(`unknown scheme '${name}://' in key '${tok.text}', expected dns://, tls://, https:// or grpc://`);
    }
    scheme = name as Scheme;
    s = s.slice(sm[0].length);
  }
  if (s === '') fail(`empty zone in key '${tok.text}'`);
  let host = s;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) fail(`unterminated '[' in key '${tok.text}'`);
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
    else if (rest.startsWith('/')) {
      // [fd00::]/64 or [fd00::]/64:53
      const m = /^\/(\d+)(?::(.*))?$/.exec(rest);
      if (!m) fail(`bad CIDR in key '${tok.text}'`);
      host = `${host}/${m![1]}`;
      portText = m![2];
    } else if (rest !== '') fail(`unexpected '${rest}' in key '${tok.text}'`);
  } else {
    const slash = s.indexOf('/');
    const colonCount = (s.match(/:/g) ?? []).length;
    if (slash >= 0 && colonCount > 1) {
      // IPv6 CIDR without brackets: fd00::/64 (no port possible)
      host = s;
    } else if (colonCount === 1) {
      const c = s.lastIndexOf(':');
      host = s.slice(0, c);
      portText = s.slice(c + 1);
    }
  }
  let port = scheme === 'dns' ? defaultPort : SCHEME_PORT[scheme];
  if (portText !== undefined) {
    if (!/^\d+$/.test(portText) || Number(portText) > 65535) fail(`invalid port '${portText}' in key '${tok.text}', expected 0-65535`);
    port = Number(portText);
  }
  if (host === '') fail(`empty zone in key '${tok.text}'`);
  if (host.includes('/')) {
    return reverseZones(host, fail).map((r) => ({ zone: r.zone, port, scheme, ...(r.filter ? { filter: r.filter } : {}), text: tok.text }));
  }
  if (!/^[^\s/\\]+$/.test(host) || host.includes('..')) fail(`invalid zone '${host}' in key '${tok.text}'`);
  return [{ zone: host === '.' ? '.' : fqdn(host), port, scheme, text: tok.text }];
}

function reverseZones(cidr: string, fail: (m: string) => never): Array<{ zone: string; filter?: Cidr }> {
  const [ip, bitsText] = cidr.split('/') as [string, string];
  const family = net.isIP(ip);
  if (family === 0 || !/^\d+$/.test(bitsText)) fail(`invalid CIDR '${cidr}', expected e.g. 10.0.0.0/24 or fd00::/64`);
  const bits = Number(bitsText);
  const total = family === 4 ? 32 : 128;
  if (bits > total) fail(`invalid CIDR '${cidr}': prefix longer than ${total}`);
  const bytes = ipBytes(ip)!;
  // zero host bits
  const net0 = maskBytes(bytes, bits);
  const step = family === 4 ? 8 : 4; // octets / nibbles
  if (bits % step === 0) return [{ zone: reverseName(net0, bits, family) }];
  const cidrObj: Cidr = { family: family as 4 | 6, bytes: net0, prefix: bits };
  const maxZoneBits = total - step; // a zone needs at least one label left for the host part
  if (bits > maxZoneBits) {
    const zb = Math.floor(bits / step) * step;
    return [{ zone: reverseName(maskBytes(net0, zb), zb, family), filter: cidrObj }];
  }
  // Round up to the next label boundary and enumerate the zones it spans.
  const zb = Math.ceil(bits / step) * step;
  const count = 1 << (zb - bits);
  const out: Array<{ zone: string }> = [];
  for (let i = 0; i < count; i++) {
    const b = Uint8Array.from(net0);
    addAtBit(b, zb, i);
    out.push({ zone: reverseName(b, zb, family) });
  }
  return out;
}

function maskBytes(b: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = out[i]! & (keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function addAtBit(b: Uint8Array, bitEnd: number, value: number): void {
  // add `value` so that its lowest bit lands at bit position bitEnd-1
  let carry = value;
  let bit = bitEnd - 1;
  while (carry > 0 && bit >= 0) {
    if (carry & 1) {
      const byte = bit >> 3;
      const mask = 0x80 >> (bit & 7);
      b[byte] = b[byte]! | mask;
    }
    carry >>= 1;
    bit--;
  }
}

function reverseName(b: Uint8Array, bits: number, family: number): string {
  if (family === 4) {
    const labels: string[] = [];
    for (let i = 0; i < bits / 8; i++) labels.unshift(String(b[i]));
    return labels.length ? `${labels.join('.')}.in-addr.arpa.` : 'in-addr.arpa.';
  }
  const nibbles: string[] = [];
  for (let i = 0; i < bits / 4; i++) {
    const byte = b[i >> 1]!;
    nibbles.unshift(((i & 1) === 0 ? byte >> 4 : byte & 0xf).toString(16));
  }
  return nibbles.length ? `${nibbles.join('.')}.ip6.arpa.` : 'ip6.arpa.';
}

/** The address a reverse name denotes, if it names a whole address ("4.3.2.1.in-addr.arpa." → 1.2.3.4). */
export function reverseToIp(name: string): string | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.in-addr.arpa.')) {
    const parts = n.slice(0, -'.in-addr.arpa.'.length).split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa.')) {
    const parts = n.slice(0, -'.ip6.arpa.'.length).split('.');
    if (parts.length !== 32 || parts.some((p) => !/^[0-9a-f]$/.test(p))) return undefined;
    const hex = parts.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    return groups.join(':');
  }
  return undefined;
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const fam = net.isIP(ip);
  if (fam !== c.family) return false;
  const b = ipBytes(ip)!;
  for (let bit = 0; bit < c.prefix; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((b[bit >> 3]! & mask) !== (c.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** Parse "IP/BITS" (or a bare IP as a host route) into a Cidr; undefined if invalid. */
export function parseCidr(s: string): Cidr | undefined {
  const [ip, bitsText] = s.split('/');
  const fam = net.isIP(ip ?? '');
  if (fam === 0) return undefined;
  const total = fam === 4 ? 32 : 128;
  const bits = bitsText === undefined ? total : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > total) return undefined;
  return { family: fam as 4 | 6, bytes: maskBytes(ipBytes(ip!)!, bits), prefix: bits };
}

/** Check that no scheme+zone+port appears twice across the blocks, and that each block has one scheme. */
export function checkDuplicates(blocks: Array<{ block: ServerBlock; keys: ZoneKey[]; filtered?: boolean }>): void {
  const seen = new Map<string, Token>();
  for (const { block, keys } of blocks) {
    for (const k of keys) {
      const tok = block.keys.find((t) => t.text === k.text) ?? block.keys[0]!;
      if (k.scheme !== keys[0]!.scheme) {
        throw new CorefileError(tok.file, tok.line, `key '${k.text}' is ${k.scheme}:// but the block's first key is ${keys[0]!.scheme}://: one block serves one scheme`);
      }
    }
  }
  for (const { block, keys, filtered } of blocks) {
    // A block with a view filter may share zone and port with others (CoreDNS: not registered).
    if (filtered === true) continue;
    for (const k of keys) {
      const id = `${k.scheme}://${k.zone}:${k.port}`;
      const prev = seen.get(id);
      const tok = block.keys.find((t) => t.text === k.text) ?? block.keys[0]!;
      if (prev !== undefined) {
        throw new CorefileError(tok.file, tok.line, `cannot serve ${k.scheme}://${k.zone}:${k.port} - it is already defined at ${prev.file}:${prev.line}`);
      }
      seen.set(id, tok);
    }
  }
}
