// IP helpers: canonical text (RFC 5952 for IPv6, so index keys and reverse lookups agree) and the
// dashed endpoint label CoreDNS uses when an endpoint has no hostname.
import net from 'node:net';
import { ip6Text } from '../../src/plugin/api.js';

/** The eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail expanded). */
function groups6(ip: string): number[] | undefined {
  let s = ip;
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const v4 = s.slice(lastColon + 1).split('.').map(Number);
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const a = head === '' ? [] : head.split(':');
  const b = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const missing = 8 - a.length - b.length;
  if (rest === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...a, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...b].map((g) => parseInt(g, 16));
  if (tail.length) all.splice(6, 2, ...tail);
  return all;
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
