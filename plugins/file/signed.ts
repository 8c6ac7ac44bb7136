// Answers from a pre-signed zone for a query with the DO bit (RFC 4035 §3.1, RFC 5155 §7.2): the
// RRSIGs covering every RRset returned, and the NSEC or NSEC3 records (with their RRSIGs) proving
// NXDOMAIN, NODATA, a wildcard expansion or an unsigned delegation. The zone's RRSIG, NSEC, NSEC3
// and NSEC3PARAM records are RDATA bytes (zonefile.ts); the ordered NSEC owners and NSEC3 hashes
// are built on the first DO query to a zone and kept with it. Queries without DO never come here.
import { createHash } from 'node:crypto';
import { encodeName, parentName, type RR } from '../../src/plugin/api.js';
import { canonicalLabels, compareCanonicalLabels } from '../../src/dns/names.js';
import { rrTypeKey } from './zonefile.js';
import type { LookupResult, Zone } from './zone.js';

const RRSIG = rrTypeKey(46);
const NSEC = rrTypeKey(47);
const NSEC3 = rrTypeKey(50);
const NSEC3PARAM = rrTypeKey(51);
const DS = rrTypeKey(43);

interface Index {
  /** NSEC owners in canonical order (RFC 4034 §6.1), each with its labels right to left. */
  nsec: { owner: string; labels: Uint8Array[] }[];
  /** NSEC3 owner hashes (base32hex, lower case) in order, with their owner names. */
  nsec3: { hash: string; owner: string }[];
  hashes: Set<string>;
  salt: Buffer;
  iterations: number;
}

const indexes = new WeakMap<Zone, Index | null>();


const setIn = (zone: Zone, owner: string, type: string): RR[] | undefined => zone.rrset(owner, type);

/** The index of a signed zone; null for an unsigned one (no NSEC or NSEC3 records). */
function indexOf(zone: Zone): Index | null {
  if (!zone.signed) return null;
  let ix = indexes.get(zone);
  if (ix !== undefined) return ix;
  const nsec: Index['nsec'] = [];
  const nsec3: Index['nsec3'] = [];
  const suffix = zone.origin === '.' ? '' : `.${zone.origin}`;
  for (const owner of zone.owners()) {
    if (zone.hasType(owner, NSEC)) nsec.push({ owner, labels: canonicalLabels(owner) });
    if (owner.endsWith(suffix) && zone.hasType(owner, NSEC3)) nsec3.push({ hash: owner.slice(0, owner.length - suffix.length), owner });
  }
  nsec.sort((a, b) => compareCanonicalLabels(a.labels, b.labels));
  nsec3.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  let salt = Buffer.alloc(0);
  let iterations = 0;
  const param = setIn(zone, zone.origin, NSEC3PARAM)?.[0];
  if (param !== undefined) {
    const b = (param as unknown as { data: Buffer }).data;
    iterations = b.readUInt16BE(2);
    salt = Buffer.from(b.subarray(5, 5 + b[4]!));
  }
  ix = nsec.length === 0 && nsec3.length === 0 ? null : { nsec, nsec3, hashes: new Set(nsec3.map((x) => x.hash)), salt, iterations };
  indexes.set(zone, ix);
  return ix;
}

const B32 = '0123456789abcdefghijklmnopqrstuv';
function base32hex(b: Buffer): string {
  let out = '';
  let bits = 0;
  let v = 0;
  for (const x of b) {
    v = (v << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += B32[(v >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(v << (5 - bits)) & 31];
  return out;
}

/** RFC 5155 §5: the SHA-1 hash of a name, iterated with the zone's salt. */
function nsec3Hash(ix: Index, name: string): string {
  let h = createHash('sha1').update(encodeName(name.toLowerCase())).update(ix.salt).digest();
  for (let i = 0; i < ix.iterations; i++) h = createHash('sha1').update(h).update(ix.salt).digest();
  return base32hex(h);
}

/**
 * The RRSIGs at `owner` covering `type` (renamed to `as`, for a wildcard expansion), with the TTL
 * of the RRset they cover when `ttl` is given (the negative-answer SOA's is lowered, RFC 2308).
 */
function sigsFor(zone: Zone, owner: string, type: number, as?: string, ttl?: number): RR[] {
  const sigs = setIn(zone, owner, RRSIG);
  if (sigs === undefined) return [];
  const out: RR[] = [];
  for (const s of sigs) {
    if ((s as unknown as { data: Buffer }).data.readUInt16BE(0) !== type) continue;
    const sameTtl = ttl === undefined || (s as { ttl?: number }).ttl === ttl;
    out.push(as === undefined && sameTtl ? s : ({ ...s, name: as ?? s.name, ...(sameTtl ? {} : { ttl }) } as RR));
  }
  return out;
}

const typeNumber = (r: RR): number => {
  const t = r.type as string;
  if (t.startsWith('UNKNOWN_')) return Number(t.slice(8));
  return TYPE_NUMBERS[t] ?? 0;
};
const TYPE_NUMBERS: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, CAA: 257 };
const fq = (n: string): string => (n === '.' || n === '' ? '.' : `${n.toLowerCase()}.`);

/** The nearest existing ancestor of a name that does not exist (its closest encloser). */
function closestEncloser(zone: Zone, name: string): string | undefined {
  let ce = parentName(name);
  while (ce !== undefined && !zone.exists(ce)) ce = parentName(ce);
  return ce;
}

const wildOf = (ce: string): string => (ce === '.' ? '*.' : `*.${ce}`);
/** The ancestor of `name` one label longer than `ce` (RFC 5155's next closer name). */
function nextCloser(name: string, ce: string): string {
  let n = name;
  for (let p = parentName(n); p !== undefined && p !== ce; p = parentName(p)) n = p;
  return n;
}

class Proof {
  readonly out: RR[] = [];
  private readonly seen = new Set<string>();
  constructor(
    private readonly zone: Zone,
    private readonly ix: Index,
  ) {}

  /** Add the NSEC (type 47) or NSEC3 (50) RRset at `owner` with its RRSIGs, once. */
  private add(owner: string, type: string, num: number): void {
    if (this.seen.has(owner)) return;
    const set = setIn(this.zone, owner, type);
    if (set === undefined) return;
    this.seen.add(owner);
    this.out.push(...set, ...sigsFor(this.zone, owner, num));
  }

  /** The NSEC whose owner is `name` or the last before it in canonical order (it covers `name`). */
  nsec(name: string): void {
    const list = this.ix.nsec;
    if (list.length === 0) return;
    const key = canonicalLabels(name);
    let lo = 0;
    let hi = list.length - 1;
    let at = list.length - 1; // before the first: the last NSEC (its next name wraps to the apex)
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareCanonicalLabels(list[mid]!.labels, key) <= 0) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    this.add(list[at]!.owner, NSEC, 47);
  }

  /** The NSEC3 matching or covering the hash of `name`; true when it matches. */
  nsec3(name: string): boolean {
    const list = this.ix.nsec3;
    if (list.length === 0) return false;
    const h = nsec3Hash(this.ix, name);
    let lo = 0;
    let hi = list.length - 1;
    let at = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.hash <= h) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    this.add(list[at]!.owner, NSEC3, 50);
    return list[at]!.hash === h;
  }

  /**
   * `name` has no NSEC3 of its own (an insecure delegation of an opt-out zone, RFC 5155 §7.2.3
   * and §7.2.4): the closest provable encloser's matching NSEC3 and the one covering the next
   * closer name (an opt-out NSEC3 there tells the validator the delegation is unsigned).
   */
  closestProvable(name: string, apex: string): void {
    for (let ce = parentName(name); ce !== undefined; ce = parentName(ce)) {
      if (ce !== apex && !this.ix.hashes.has(nsec3Hash(this.ix, ce))) continue;
      this.nsec3(ce);
      this.nsec3(nextCloser(name, ce));
      return;
    }
  }

  get useNsec3(): boolean {
    return this.ix.nsec.length === 0;
  }
}

/**
 * `r` (the zone's answer to qname) with the DNSSEC records a DO query gets. Unsigned zones
 * get `r` itself.
 */
export function withDnssec(zone: Zone, qname: string, r: LookupResult): LookupResult {
  const ix = indexOf(zone);
  if (ix === null) {
    // An unsigned zone (signed online by the dnssec plugin, if at all): a referral carries the
    // delegation's DS RRset for DO queries, as CoreDNS's file does.
    if (r.aa || r.answers.length !== 0 || r.authorities.length === 0 || r.authorities[0]!.type !== 'NS') return r;
    const ds = setIn(zone, fq(r.authorities[0]!.name), DS);
    return ds === undefined ? r : { ...r, authorities: [...ds, ...r.authorities] };
  }
  const p = new Proof(zone, ix);
  const answers: RR[] = [];
  const authorities: RR[] = [];

  // The RRSIGs of each RRset, after its last record; a wildcard expansion also proves that no closer name exists.
  const signAll = (rrs: RR[], into: RR[]): void => {
    // An ANY answer already holds the owner's RRSIGs: not added twice.
    let sigOwners: Set<string> | undefined;
    for (const rr of rrs) if ((rr.type as string) === RRSIG) (sigOwners ??= new Set()).add(rr.name);
    for (let i = 0; i < rrs.length; i++) {
      const rr = rrs[i]!;
      into.push(rr);
      const next = rrs[i + 1];
      if (next !== undefined && next.name === rr.name && next.type === rr.type) continue;
      const t = typeNumber(rr);
      if (t === 46 || sigOwners?.has(rr.name)) continue;
      const owner = fq(rr.name);
      if (zone.has(owner)) {
        into.push(...sigsFor(zone, owner, t, undefined, (rr as { ttl?: number }).ttl));
        continue;
      }
      if (i > 0 && rrs[i - 1]!.type === 'DNAME') continue; // a CNAME synthesised from a DNAME is unsigned
      const ce = closestEncloser(zone, owner);
      if (ce === undefined || !zone.has(wildOf(ce))) continue;
      into.push(...sigsFor(zone, wildOf(ce), t, rr.name));
      if (p.useNsec3) p.nsec3(nextCloser(owner, ce));
      else p.nsec(owner);
    }
  };
  signAll(r.answers, answers);

  const negative = r.authorities.length === 1 && r.authorities[0] === zone.negSoa;
  if (!r.aa && r.answers.length === 0 && r.authorities.length > 0) {
    // A referral: the DS RRset and its RRSIGs, or the proof that there is none (an insecure delegation).
    authorities.push(...r.authorities);
    const cut = fq(r.authorities[0]!.name);
    const ds = setIn(zone, cut, DS);
    if (ds !== undefined) authorities.push(...ds, ...sigsFor(zone, cut, 43));
    else if (p.useNsec3) {
      if (!p.nsec3(cut)) p.closestProvable(cut, zone.origin);
    } else p.nsec(cut);
  } else if (negative) {
    signAll(r.authorities, authorities);
    // The name the denial is about: the end of the CNAME chain, if any.
    const last = r.answers[r.answers.length - 1];
    const name = last !== undefined && last.type === 'CNAME' ? fq(String((last as { data: unknown }).data)) : qname;
    denial(zone, p, name);
  } else signAll(r.authorities, authorities);
  authorities.push(...p.out);
  return { ...r, answers, authorities };
}

/** Add the NSEC or NSEC3 records proving that `name` does not exist or lacks the type asked for. */
function denial(zone: Zone, p: Proof, name: string): void {
  const exists = zone.exists(name);
  if (exists) {
    // NODATA: the record at the name (NSEC3 exist for empty non-terminals; an NSEC covers one).
    if (p.useNsec3) {
      if (!p.nsec3(name)) p.closestProvable(name, zone.origin);
    } else p.nsec(name);
    return;
  }
  const ce = closestEncloser(zone, name) ?? zone.origin;
  const wild = wildOf(ce);
  if (p.useNsec3) {
    p.nsec3(ce); // the closest encloser exists
    p.nsec3(nextCloser(name, ce)); // the next closer name does not
    p.nsec3(wild); // the wildcard: does not exist (NXDOMAIN) or lacks the type (wildcard NODATA)
  } else {
    p.nsec(name); // no such name
    p.nsec(wild); // no wildcard (covers it), or the wildcard without the type (matches it)
  }
}
