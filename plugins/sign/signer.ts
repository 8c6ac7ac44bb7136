// Offline signing of one zone (CoreDNS's sign): the zone file is read (its DNSKEY, RRSIG, CDS,
// CDNSKEY, NSEC, NSEC3 and NSEC3PARAM records dropped), the SOA serial set to the signing time,
// a DNSKEY, two CDS (SHA-1, SHA-256) and a CDNSKEY added at the apex for every key, an NSEC chain
// made over the authoritative names (TTL: the SOA minimum), and every authoritative RRset signed
// by every key (a delegation's DS and NSEC only). The result is written as `db.<zone>.signed`
// through a temporary file and a rename. `resignReason` says whether a signed file needs doing
// again: CoreDNS's rule on the SOA's RRSIG (inception more than 6 days ago or in the future,
// expiration less than 7 days away), or the input's serial differs from the one it was signed from.
import fs from 'node:fs';
import path from 'node:path';
import { dsRdata, nsecRecord, rdataOf, signRRset, type SigningKey } from '../../src/dns/dnssec/index.js';
import { canonicalCompare } from '../../src/dns/names.js';
import type { RR } from '../../src/plugin/api.js';
import { zoneRecords, type ZoneRecord } from '../file/zonefile.js';
import { presentRecord } from './present.js';

const HOUR = 3600;
const DAY = 24 * HOUR;
export const DURATIONS = {
  /** Re-sign when the SOA's signature expires sooner than this. */
  expire: 7 * DAY,
  /** Re-sign when the SOA's signature was made longer ago than this. */
  resign: 6 * DAY,
  /** Signatures last this long (plus the expiration jitter). */
  validity: 32 * DAY,
  /** Inception this far back (minus the inception jitter). */
  inception: 3 * HOUR,
  /** Most inception jitter (subtracted) and expiration jitter (added). */
  inceptionJitter: 18 * HOUR,
  expirationJitter: 5 * DAY,
};

const DROPPED = new Set([46, 47, 48, 50, 51, 59, 60]);
const SOA = 6;
const NS = 2;
const DS = 43;

const isBelow = (name: string, zone: string): boolean => name.length > zone.length && name.endsWith(`.${zone}`);
const ttlOf = (r: RR): number => (r as { ttl?: number }).ttl ?? 0;
const raw = (owner: string, type: number, ttl: number, data: Buffer): RR => ({ name: owner, type: `UNKNOWN_${type}`, class: 'IN', ttl, data }) as unknown as RR;

export interface SignOutcome {
  /** The signed zone in master-file form. */
  text: string;
  /** The serial put in the signed SOA (the signing time). */
  serial: number;
  /** The input's own serial. */
  inputSerial: number;
  names: number;
  signatures: number;
}

/** Sign the zone file text for `origin` at `now` (seconds); jitters in seconds. */
export function signZone(text: string | Uint8Array, origin: string, file: string, keys: readonly SigningKey[], now: number, jitter: { inception: number; expiration: number }, diskPath?: string): SignOutcome {
  const nodes = new Map<string, Map<number, RR[]>>();
  const add = (owner: string, type: number, rr: RR): void => {
    let n = nodes.get(owner);
    if (n === undefined) nodes.set(owner, (n = new Map()));
    const set = n.get(type);
    if (set === undefined) n.set(type, [rr]);
    else set.push(rr);
  };
  let soa: ZoneRecord | undefined;
  for (const r of zoneRecords(text, origin, file, { path: diskPath })) {
    if (DROPPED.has(r.qtype)) continue;
    if (r.qtype === SOA) {
      if (r.owner !== origin) continue;
      soa = r;
    }
    add(r.owner, r.qtype, r.rr);
  }
  if (soa === undefined) throw new Error(`file "${file}" has no SOA record`);
  const soaData = (soa.rr as { data: { serial: number; minimum: number } }).data;
  const inputSerial = soaData.serial;
  const serial = now >>> 0;
  const soaRR = { ...soa.rr, data: { ...soaData, serial } } as RR;
  nodes.get(origin)!.set(SOA, [soaRR]);
  const ttl = ttlOf(soaRR);
  const minTtl = soaData.minimum;
  const inception = now - DURATIONS.inception - jitter.inception;
  const expiration = now + DURATIONS.validity + jitter.expiration;

  for (const k of keys) {
    const key = { ...k, owner: origin };
    add(origin, 48, raw(origin, 48, ttl, key.rdata));
    add(origin, 59, raw(origin, 59, ttl, dsRdata(key, 1)));
    add(origin, 59, raw(origin, 59, ttl, dsRdata(key, 2)));
    add(origin, 60, raw(origin, 60, ttl, key.rdata));
  }

  // zone cuts below the apex; names under a cut (glue) are not authoritative
  const cuts = [...nodes.keys()].filter((o) => o !== origin && nodes.get(o)!.has(NS));
  const underCut = (o: string): boolean => cuts.some((c) => isBelow(o, c));
  const owners = [...nodes.keys()].sort(canonicalCompare);
  const auth = owners.filter((o) => !underCut(o));

  let signatures = 0;
  const sigs = new Map<string, RR[]>();
  const sign = (set: RR[]): void => {
    const owner = (set[0] as { name: string }).name;
    let list = sigs.get(owner);
    if (list === undefined) sigs.set(owner, (list = []));
    for (const k of keys) {
      const rrsig = signRRset(set, { ...k, owner: origin }, { signer: origin, inception, expiration });
      list.push(raw(owner, 46, ttlOf(rrsig), rdataOf(rrsig)));
      signatures++;
    }
  };
  for (let i = 0; i < auth.length; i++) {
    const owner = auth[i]!;
    const node = nodes.get(owner)!;
    const types = [...node.keys(), 46, 47];
    const nsec = nsecRecord(owner, auth[(i + 1) % auth.length]!, types, minTtl);
    node.set(47, [nsec]);
    const cut = owner !== origin && node.has(NS);
    for (const [t, set] of node) {
      if (cut && t !== DS && t !== 47) continue; // the child's NS (and anything it occludes) is not ours to sign
      sign(set.map((r) => ({ ...r, name: owner }) as RR));
    }
  }

  const lines: string[] = [`; signed by typedns sign from ${path.basename(file)} serial ${inputSerial} at ${new Date(now * 1000).toISOString()}`];
  const emit = (owner: string, rrs: readonly RR[]): void => {
    for (const r of rrs) lines.push(presentRecord(owner, r));
  };
  // the SOA and its signatures first (resign reads them), then every name in canonical order
  emit(origin, [soaRR]);
  emit(origin, (sigs.get(origin) ?? []).filter((s) => (s as unknown as { data: Buffer }).data.readUInt16BE(0) === SOA));
  for (const owner of owners) {
    const node = nodes.get(owner)!;
    for (const t of [...node.keys()].sort((a, b) => a - b)) if (!(owner === origin && t === SOA)) emit(owner, node.get(t)!);
    emit(owner, (sigs.get(owner) ?? []).filter((s) => !(owner === origin && (s as unknown as { data: Buffer }).data.readUInt16BE(0) === SOA)));
  }
  return { text: `${lines.join('\n')}\n`, serial, inputSerial, names: auth.length, signatures };
}

/** Why the signed file must be made again, or undefined when it is good (CoreDNS's resign, plus the input serial). */
export function resignReason(signedText: string | undefined, origin: string, inputSerial: number, now: number): string | undefined {
  if (signedText === undefined) return 'there is no signed file';
  const m = /^; signed by typedns sign from .* serial (\d+) /.exec(signedText);
  if (m !== null && Number(m[1]) !== inputSerial) return `the input's serial ${inputSerial} is not the signed one's (${m[1]})`;
  let i = 0;
  try {
    for (const r of zoneRecords(signedText, origin, 'signed')) {
      if (r.qtype === 46) {
        const d = (r.rr as unknown as { data: Buffer }).data;
        if (d.readUInt16BE(0) !== SOA) continue;
        const expiration = d.readUInt32BE(8);
        const inception = d.readUInt32BE(12);
        const iso = (s: number): string => new Date(s * 1000).toISOString();
        if (now - inception > DURATIONS.resign) return `inception ${iso(inception)} was more than 6 days ago`;
        if (now < inception) return `inception ${iso(inception)} is in the future`;
        if (expiration - now < DURATIONS.expire) return `expiration ${iso(expiration)} is less than 7 days away`;
        return undefined;
      }
      if (++i > 100) return 'no SOA RRSIG found in the first 100 records';
    }
  } catch (e) {
    return `the signed file does not parse: ${(e as Error).message}`;
  }
  return 'no SOA RRSIG found';
}

export interface SignerOptions {
  dbfile: string;
  origin: string;
  directory: string;
  keys: readonly SigningKey[];
  /** Seconds of inception and expiration jitter, chosen once per zone. */
  jitter: { inception: number; expiration: number };
}

/** One zone's signer: check, sign, write. */
export class Signer {
  /** The input file's bytes as reason() read them: sign() right after uses them instead of reading the file again. */
  private input: Buffer | undefined;

  constructor(readonly o: SignerOptions) {}

  get signedPath(): string {
    return path.join(this.o.directory, `db.${this.o.origin}signed`);
  }

  /** Why to sign now (undefined: the signed file is good). */
  reason(now: number): string | undefined {
    const input = fs.readFileSync(this.o.dbfile);
    this.input = undefined;
    let serial = -1;
    for (const r of zoneRecords(input, this.o.origin, this.o.dbfile)) {
      if (r.qtype === SOA) {
        serial = (r.rr as { data: { serial: number } }).data.serial;
        break;
      }
    }
    let signed: string | undefined;
    try {
      signed = fs.readFileSync(this.signedPath, 'utf8');
    } catch {
      signed = undefined;
    }
    const why = resignReason(signed, this.o.origin, serial, now);
    if (why !== undefined) this.input = input;
    return why;
  }

  /** Sign the zone and put the signed file in place. */
  sign(now: number): SignOutcome {
    const input = this.input ?? fs.readFileSync(this.o.dbfile);
    this.input = undefined;
    const out = signZone(input, this.o.origin, this.o.dbfile, this.o.keys, now, this.o.jitter);
    fs.mkdirSync(this.o.directory, { recursive: true });
    const tmp = path.join(this.o.directory, `.signed-${process.pid}-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(tmp, out.text);
    fs.renameSync(tmp, this.signedPath);
    return out;
  }
}
