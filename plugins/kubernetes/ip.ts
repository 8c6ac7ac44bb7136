// IP helpers: canonical text (RFC 5952 for IPv6, so index keys and reverse lookups agree) and the
// dashed endpoint label CoreDNS uses when an endpoint has no hostname.
import net from 'node:net';
import { ip6Text, ipBytes } from '../../src/plugin/api.js';

/** The eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail expanded). */
function groups6(ip: string): number[] | undefined {
  const b = ipBytes(ip);
  if (b === undefined || b.length !== 16) return undefined;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  return g;
}

/** Canonical text of an IP: IPv4 unchanged, IPv6 lower-case and compressed (RFC 5952). */
export function canonIp(ip: string): string {
  const fam = net.isIP(ip);
  if (fam !== 6) return ip;
  const g = groups6(ip);
  if (g === undefined) return ip.toLowerCase();
  return ip6Text(g);
}

/** "10.3.0.100" → "10-3-0-100"; "fd00::1" → "fd00--1" (":" → "-", a trailing "-" padded with "0"). */
export function dashedIp(ip: string): string {
  if (!ip.includes(':')) return ip.replaceAll('.', '-');
  let s = ip.replaceAll(':', '-');
  if (s.endsWith('-')) s += '0';
  return s;
}

export const isV6 = (ip: string): boolean => ip.includes(':');
