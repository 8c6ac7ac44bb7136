// The query-name grammar (CoreDNS plugin/kubernetes/parse.go), pure:
//   [_port._proto.|endpoint.]service.namespace.(svc|pod).zone
// plus the zone apex, dns-version.<zone>, ns.dns.<zone> and full reverse names.
import net from 'node:net';
import { canonIp } from './ip.js';

export type RecordRequest =
  /** The zone itself. */
  | { readonly kind: 'apex' }
  /** dns-version.<zone> (TXT only). */
  | { readonly kind: 'version' }
  /** ns.dns.<zone>: the name server's own addresses. */
  | { readonly kind: 'nsname' }
  /** svc.<zone> or pod.<zone>: exists, holds no records. */
  | { readonly kind: 'empty' }
  /** <ns>.svc.<zone> or <ns>.pod.<zone>: exists when the namespace is exposed. */
  | { readonly kind: 'namespace'; readonly pod: boolean; readonly namespace: string }
  | {
      readonly kind: 'service';
      readonly namespace: string;
      readonly service: string;
      /** Endpoint label ('' when none). */
      readonly endpoint: string;
      /** Port name and protocol without the leading '_' ('' when none). */
      readonly port: string;
      readonly protocol: string;
    }
  /** <a-b-c-d>.<ns>.pod.<zone> */
  | { readonly kind: 'pod'; readonly namespace: string; readonly label: string }
  /** A full reverse name (in-addr.arpa / ip6.arpa) → the IP, canonical. */
  | { readonly kind: 'reverse'; readonly ip: string }
  /** Anything else: NXDOMAIN. */
  | { readonly kind: 'invalid' };

const APEX: RecordRequest = { kind: 'apex' };
const VERSION: RecordRequest = { kind: 'version' };
const NSNAME: RecordRequest = { kind: 'nsname' };
const EMPTY: RecordRequest = { kind: 'empty' };
const INVALID: RecordRequest = { kind: 'invalid' };

const strip = (s: string): string => (s.charCodeAt(0) === 0x5f ? s.slice(1) : s);

/** The IP a full reverse name stands for, canonical; undefined for partial or malformed names. */
export function reverseIp(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa.')) {
    const parts = name.slice(0, -'.in-addr.arpa.'.length).split('.');
    if (parts.length !== 4) return undefined;
    for (const p of parts) if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    return `${parts[3]}.${parts[2]}.${parts[1]}.${parts[0]}`;
  }
  if (name.endsWith('.ip6.arpa.')) {
    const parts = name.slice(0, -'.ip6.arpa.'.length).split('.');
    if (parts.length !== 32) return undefined;
    let hex = '';
    for (let i = 31; i >= 0; i--) {
      const p = parts[i]!;
      if (!/^[0-9a-f]$/.test(p)) return undefined;
      hex += p;
      if (i % 4 === 0 && i > 0) hex += ':';
    }
    return canonIp(hex);
  }
  return undefined;
}

export const isReverseZone = (zone: string): boolean => zone.endsWith('in-addr.arpa.') || zone.endsWith('ip6.arpa.');

/**
 * Parse a lower-cased FQDN under `zone` (also a lower-cased FQDN, which contains it).
 * Reverse zones give 'reverse' or 'invalid' (or 'apex').
 */
export function parseName(name: string, zone: string): RecordRequest {
  if (name === zone) return APEX;
  if (isReverseZone(zone)) {
    const ip = reverseIp(name);
    return ip === undefined ? INVALID : { kind: 'reverse', ip };
  }
  const rest = zone === '.' ? name.slice(0, -1) : name.slice(0, name.length - zone.length - 1);
  if (rest === 'dns-version') return VERSION;
  if (rest === 'ns.dns') return NSNAME;
  const labels = rest.split('.');
  const n = labels.length;
  const base = labels[n - 1]!;
  const pod = base === 'pod';
  if (!pod && base !== 'svc') return INVALID;
  if (n === 1) return EMPTY;
  const namespace = labels[n - 2]!;
  if (namespace === '') return INVALID;
  if (n === 2) return { kind: 'namespace', pod, namespace };
  const service = labels[n - 3]!;
  if (service === '') return INVALID;
  if (pod) return n === 3 ? { kind: 'pod', namespace, label: service } : INVALID;
  switch (n - 3) {
    case 0:
      return { kind: 'service', namespace, service, endpoint: '', port: '', protocol: '' };
    case 1:
      return labels[0] === '' ? INVALID : { kind: 'service', namespace, service, endpoint: labels[0]!, port: '', protocol: '' };
    case 2:
      return { kind: 'service', namespace, service, endpoint: '', port: strip(labels[0]!), protocol: strip(labels[1]!) };
    default:
      return INVALID;
  }
}

/** The IP a pod label stands for ("10-0-0-1" → "10.0.0.1", "fd00--1" → "fd00::1"), or undefined. */
export function podLabelIp(label: string): string | undefined {
  let dashes = 0;
  for (let i = 0; i < label.length; i++) if (label.charCodeAt(i) === 0x2d) dashes++;
  const ip = dashes === 3 && !label.includes('--') ? label.replaceAll('-', '.') : label.replaceAll('-', ':');
  const fam = net.isIP(ip);
  if (fam === 4) return ip;
  if (fam === 6) return canonIp(ip);
  return undefined;
}
