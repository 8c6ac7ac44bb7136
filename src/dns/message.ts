// Reply builders and a zone-file-text record parser for plugins and tests:
//   reply(req, [rr('example.org. 30 IN A 10.0.0.1')], { aa: true })
import type { Answer } from 'dns-packet';
import './packet-codec.js';
import type { Message, Request } from '../plugin/types.js';
import { FLAG, RCODE } from './constants.js';

export type RR = Answer;

export interface ReplyOptions {
  rcode?: number;
  aa?: boolean;
  ra?: boolean;
  authorities?: RR[];
  additionals?: RR[];
}

/** A reply to `req` (the writer fills in ID, question and OPT). */
export function reply(_req: Request, answers: RR[], o: ReplyOptions = {}): Message {
  const rcode = o.rcode ?? RCODE.NOERROR;
  let flags = rcode & 0xf;
  if (o.aa) flags |= FLAG.AA;
  if (o.ra) flags |= FLAG.RA;
  const m: Message = { type: 'response', flags, answers, authorities: o.authorities ?? [], additionals: o.additionals ?? [] };
  if (rcode > 15) m.additionals = [...(m.additionals ?? []), { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: rcode >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as RR];
  return m;
}

/** The rcode of a Message (flags low bits + OPT extended bits). */
export function rcodeOf(m: Message): number {
  let r = (m.flags ?? 0) & 0xf;
  for (const a of m.additionals ?? []) if (a.type === 'OPT') r |= (a.extendedRcode ?? 0) << 4;
  return r;
}

/** NXDOMAIN (or NODATA with rcode 0) with the SOA in authority, authoritative. */
export function negative(req: Request, soa: RR, nxdomain: boolean): Message {
  return reply(req, [], { rcode: nxdomain ? RCODE.NXDOMAIN : RCODE.NOERROR, aa: true, authorities: [soa] });
}

function unquoteTxt(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

const strip = (n: string): string => (n === '.' ? '.' : n.replace(/\.$/, ''));

/**
 * Parse one record in zone-file text: "NAME TTL [CLASS] TYPE RDATA".
 * Supports A, AAAA, CNAME, NS, PTR, DNAME, MX, SRV, SOA, TXT, HINFO, CAA.
 */
export function rr(text: string): RR {
  const parts = text.trim().split(/\s+/);
  const name = strip(parts.shift() ?? '.');
  let ttl = 3600;
  let cls = 'IN';
  let p = parts.shift() ?? '';
  if (/^\d+$/.test(p)) {
    ttl = Number(p);
    p = parts.shift() ?? '';
  }
  if (['IN', 'CH', 'HS', 'CS', 'ANY'].includes(p.toUpperCase())) {
    cls = p.toUpperCase();
    p = parts.shift() ?? '';
  }
  const type = p.toUpperCase();
  const base = { name, ttl, class: cls as 'IN' };
  const rest = parts.join(' ');
  switch (type) {
    case 'A':
    case 'AAAA':
      return { ...base, type, data: parts[0]! };
    case 'CNAME':
    case 'NS':
    case 'PTR':
    case 'DNAME':
      return { ...base, type, data: strip(parts[0]!) };
    case 'MX':
      return { ...base, type, data: { preference: Number(parts[0]), exchange: strip(parts[1]!) } };
    case 'SRV':
      return { ...base, type, data: { priority: Number(parts[0]), weight: Number(parts[1]), port: Number(parts[2]), target: strip(parts[3]!) } };
    case 'SOA':
      return {
        ...base,
        type,
        data: {
          mname: strip(parts[0]!),
          rname: strip(parts[1]!),
          serial: Number(parts[2]),
          refresh: Number(parts[3]),
          retry: Number(parts[4]),
          expire: Number(parts[5]),
          minimum: Number(parts[6]),
        },
      };
    case 'TXT':
      return { ...base, type, data: unquoteTxt(rest) };
    case 'HINFO': {
      const [cpu, os] = unquoteTxt(rest);
      return { ...base, type, data: { cpu: cpu ?? '', os: os ?? '' } };
    }
    case 'CAA': {
      const [flags, tag, value] = unquoteTxt(rest);
      return { ...base, type, data: { flags: Number(flags), tag: tag as 'issue', value: value ?? '' } };
    }
    default:
      throw new Error(`rr: unsupported type '${type}' in '${text}'`);
  }
}

const fqdn = (s: string): string => (s === '' || s === '.' ? '.' : `${s.replace(/\.$/, '')}.`);

/**
 * The RDATA as master-file text for the types whose data carries domain names (NS, CNAME, PTR,
 * DNAME, MX, SRV, SOA), names fully qualified; undefined for any other type.
 */
export function nameRdataText(type: string, d: unknown): string | undefined {
  switch (type) {
    case 'CNAME':
    case 'NS':
    case 'PTR':
    case 'DNAME':
      return fqdn(String(d));
    case 'MX': {
      const m = d as { preference: number; exchange: string };
      return `${m.preference} ${fqdn(m.exchange)}`;
    }
    case 'SRV': {
      const s = d as { priority: number; weight: number; port: number; target: string };
      return `${s.priority} ${s.weight} ${s.port} ${fqdn(s.target)}`;
    }
    case 'SOA': {
      const s = d as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
      return `${fqdn(s.mname)} ${fqdn(s.rname)} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
    }
    default:
      return undefined;
  }
}

/** One record as zone-file text (for tests and logs): "example.org. 30 IN A 10.0.0.1". */
export function rrText(a: RR): string {
  const name = a.name === '.' || a.name === '' ? '.' : `${a.name.replace(/\.$/, '')}.`.toLowerCase();
  if (a.type === 'OPT') return `${name} OPT`;
  const ttl = (a as { ttl?: number }).ttl ?? 0;
  const cls = (a as { class?: string }).class ?? 'IN';
  const d = (a as { data?: unknown }).data;
  let rdata = nameRdataText(a.type, d);
  if (rdata === undefined) {
    switch (a.type) {
      case 'TXT': {
        const arr = Array.isArray(d) ? d : [d];
        rdata = arr.map((x) => `"${Buffer.isBuffer(x) ? x.toString() : String(x)}"`).join(' ');
        break;
      }
      case 'HINFO': {
        const h = d as { cpu: string; os: string };
        rdata = `"${h.cpu}" "${h.os}"`;
        break;
      }
      default:
        rdata = Buffer.isBuffer(d) ? d.toString('hex') : typeof d === 'object' ? JSON.stringify(d) : String(d);
    }
  }
  return `${name} ${ttl} ${cls} ${a.type} ${rdata}`;
}
