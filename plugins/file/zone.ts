// One authoritative zone in memory: RRsets indexed by owner and type, the set of existing names
// (owners plus empty non-terminals) for NXDOMAIN vs NODATA and the RFC 4592 closest encloser, and
// the delegation points. lookup() never scans: it walks the query name's labels only.
import { isSubdomain, parentName, RCODE, type RR } from '../../src/plugin/api.js';
import { rrTypeKey, type ZoneRecord } from './zonefile.js';

const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, AAAA: 28, SRV: 33, DNAME: 39, DS: 43, ANY: 255 } as const;
/** Longest CNAME chain followed inside the zone. */
const MAX_CHASE = 8;
const RRSIG_TYPE = 46;
const NSEC_TYPE = 47;
const NSEC3_TYPE = 50;

export interface LookupResult {
  rcode: number;
  aa: boolean;
  answers: RR[];
  authorities: RR[];
  additionals: RR[];
  /**
   * Set when a CNAME chain leaves the zone: the target the server must be asked for (CoreDNS's
   * externalLookup). `answers` then holds the chain so far.
   */
  external?: string;
}

/**
 * The RRsets of one owner name, one array per type (usually one or two): much smaller than a Map
 * per name (about 30 bytes against 150 for a one-type owner, ×1,000,000 names).
 */
type Node = RR[][];

/** The RRset of `qtype` at a node (records are typed as zonefile.ts's rrTypeKey says). */
function setOf(node: Node, qtype: number): RR[] | undefined {
  const t = rrTypeKey(qtype);
  for (const set of node) if (set[0]!.type === t) return set;
  return undefined;
}

/** Same rdata (duplicate records in a file are kept once). */
function sameData(a: RR, b: RR): boolean {
  const x = dataOf(a);
  const y = dataOf(b);
  return typeof x === 'string' ? x === y : JSON.stringify(x) === JSON.stringify(y);
}

type Step =
  | { kind: 'answer'; rrs: RR[]; wild: boolean }
  | { kind: 'cname'; rr: RR; target: string; dname?: RR }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' };

const SVCB = rrTypeKey(64);
const HTTPS = rrTypeKey(65);

/** The TargetName of SVCB/HTTPS RDATA bytes (after the 2-byte priority), without the final dot; undefined for '.'. */
function svcbTarget(b: Buffer): string | undefined {
  let p = 2;
  let out = '';
  while (p < b.length) {
    const l = b[p]!;
    if (l === 0) break;
    out += (out === '' ? '' : '.') + b.toString('latin1', p + 1, p + 1 + l);
    p += 1 + l;
  }
  return out === '' ? undefined : out;
}

const fq = (n: string): string => (n === '.' ? '.' : `${n.toLowerCase()}.`);
const EMPTY: RR[] = [];
const dataOf = (r: RR): unknown => (r as { data?: unknown }).data;
const ttlOf = (r: RR): number => (r as { ttl?: number }).ttl ?? 0;

export class Zone {
  readonly nodes = new Map<string, Node>();
  /**
   * Names that exist without records of their own: ancestors of owners down to the apex (empty
   * non-terminals). A name exists when it is a key of `nodes` or in this set.
   */
  readonly ents = new Set<string>();
  /** Non-apex names with NS records: delegation points. */
  readonly cuts = new Set<string>();
  /** Names with a DNAME record: everything below them is redirected (RFC 6672). */
  readonly dnames = new Set<string>();
  soa!: RR;
  /** The SOA for negative answers: TTL = min(SOA TTL, SOA minimum) (RFC 2308). */
  negSoa!: RR;
  serial = 0;
  apexNs: RR[] = EMPTY;
  /** Additional-section records (in-zone addresses of MX/SRV/NS targets), memoised per RRset. */
  private readonly extraCache = new WeakMap<RR[], RR[]>();
  glueNs: RR[] = EMPTY;
  /** The zone has NSEC or NSEC3 records: DO queries get DNSSEC answers (signed.ts). */
  signed = false;
  private count = 0;

  /** A zone of `records`; without them, an empty zone to fill with add() and finish with seal(). */
  constructor(
    readonly origin: string,
    records?: Iterable<ZoneRecord>,
  ) {
    if (records === undefined) return;
    for (const r of records) this.add(r);
    this.seal();
  }

  /** Add one record (owner at or below the origin). Every record of an RRset gets the TTL of the first (RFC 2181 §5.2; RRSIGs excepted). */
  add(r: ZoneRecord): void {
    const owner = r.owner;
    let node = this.nodes.get(owner);
    if (node === undefined) {
      this.nodes.set(owner, [[r.rr]]);
      this.ents.delete(owner);
      // Ancestors up to the apex exist (empty non-terminals unless they have records).
      for (let n = owner === this.origin ? undefined : parentName(owner); n !== undefined && !this.ents.has(n) && !this.nodes.has(n); n = parentName(n)) {
        this.ents.add(n);
        if (n === this.origin) break;
      }
    } else {
      const set = setOf(node, r.qtype);
      if (set === undefined) node.push([r.rr]);
      else if (!set.some((x) => sameData(x, r.rr))) {
        // RRSIGs of one owner cover different RRsets, each with its own TTL: kept as they are.
        const ttl = r.qtype === RRSIG_TYPE ? ttlOf(r.rr) : ttlOf(set[0]!);
        set.push(ttlOf(r.rr) === ttl ? r.rr : ({ ...r.rr, ttl } as RR));
      } else return;
    }
    this.count++;
    if (r.qtype === T.NS && owner !== this.origin) this.cuts.add(owner);
    if (r.qtype === T.DNAME) this.dnames.add(owner);
    else if (r.qtype === NSEC_TYPE || r.qtype === NSEC3_TYPE) this.signed = true;
  }

  /** Check the apex SOA and derive what answers need from it; call once, after the last add(). */
  seal(): this {
    const apex = this.nodes.get(this.origin);
    const soa = apex === undefined ? undefined : setOf(apex, T.SOA)?.[0];
    if (soa === undefined || soa.type !== 'SOA') throw new Error(`no SOA record for zone '${this.origin}'`);
    this.soa = soa;
    const soaData = (soa as { data: { serial: number; minimum: number } }).data;
    this.serial = soaData.serial;
    this.negSoa = { ...soa, ttl: Math.min(ttlOf(soa), soaData.minimum) } as RR;
    this.apexNs = setOf(apex!, T.NS) ?? EMPTY;
    this.glueNs = this.glue(this.apexNs);
    return this;
  }

  /** The name exists: it owns records or is an empty non-terminal. */
  private exists(name: string): boolean {
    return this.nodes.has(name) || this.ents.has(name);
  }

  /** Number of records in the zone. */
  get size(): number {
    return this.count;
  }

  /** Answer `qname` (a lower-case FQDN at or below the origin). */
  lookup(qname: string, qtype: number): LookupResult {
    const cut = this.findCut(qname, qtype);
    if (cut !== undefined) return this.referral(cut);

    if (qname === this.origin) {
      if (qtype === T.SOA) return { rcode: RCODE.NOERROR, aa: true, answers: [this.soa], authorities: this.apexNs, additionals: this.glueNs };
      if (qtype === T.NS) return { rcode: RCODE.NOERROR, aa: true, answers: this.apexNs, authorities: EMPTY, additionals: this.glueNs };
    }

    let chain: RR[] | undefined;
    let name = qname;
    const seen = new Set<string>();
    for (let hop = 0; ; hop++) {
      const step = this.dnameAbove(name) ?? this.step(name, qtype);
      switch (step.kind) {
        case 'answer': {
          const answers = chain === undefined ? step.rrs : [...chain, ...step.rrs];
          const extra = step.wild ? this.extraFor(step.rrs) : this.extraMemo(step.rrs);
          return { rcode: RCODE.NOERROR, aa: true, answers, authorities: this.apexNs, additionals: extra };
        }
        case 'nodata':
          return { rcode: RCODE.NOERROR, aa: true, answers: chain ?? EMPTY, authorities: [this.negSoa], additionals: EMPTY };
        case 'nxdomain':
          return { rcode: RCODE.NXDOMAIN, aa: true, answers: chain ?? EMPTY, authorities: [this.negSoa], additionals: EMPTY };
        case 'cname': {
          const links = step.dname === undefined ? [step.rr] : [step.dname, step.rr];
          chain = chain === undefined ? links : [...chain, ...links];
          // A CNAME query is answered by the synthesised CNAME itself.
          if (step.dname !== undefined && qtype === T.CNAME) {
            return { rcode: RCODE.NOERROR, aa: true, answers: chain, authorities: this.apexNs, additionals: EMPTY };
          }
          seen.add(name);
          const target = step.target;
          // Out of the zone: the server resolves the target (file.ts asks it).
          if (!isSubdomain(target, this.origin) && hop + 1 < MAX_CHASE) {
            return { rcode: RCODE.NOERROR, aa: true, answers: chain, authorities: this.apexNs, additionals: EMPTY, external: target };
          }
          // Stop at a delegation, a loop, or the chase limit: the client resolves the rest.
          if (hop + 1 >= MAX_CHASE || seen.has(target) || !isSubdomain(target, this.origin) || this.findCut(target, qtype) !== undefined) {
            return { rcode: RCODE.NOERROR, aa: true, answers: chain, authorities: this.apexNs, additionals: EMPTY };
          }
          name = target;
        }
      }
    }
  }

  /** The delegation point at or above `name` (below the apex), if any. A DS query at the cut itself belongs to this side. */
  private findCut(name: string, qtype: number): string | undefined {
    if (this.cuts.size === 0 || name === this.origin) return undefined;
    let found: string | undefined;
    // Walk up to the apex; the cut closest to the apex wins (everything below it is occluded).
    for (let n: string | undefined = name; n !== undefined && n !== this.origin; n = parentName(n)) {
      if (this.cuts.has(n) && !(n === name && qtype === T.DS)) found = n;
    }
    return found;
  }

  private referral(cut: string): LookupResult {
    const ns = setOf(this.nodes.get(cut)!, T.NS)!;
    return { rcode: RCODE.NOERROR, aa: false, answers: EMPTY, authorities: ns, additionals: this.extraMemo(ns) };
  }

  /** A DNAME strictly above `name`: the DNAME and the CNAME it synthesises for `name` (RFC 6672 §2.2). */
  private dnameAbove(name: string): Step | undefined {
    if (this.dnames.size === 0 || name === this.origin) return undefined;
    for (let n = parentName(name); n !== undefined; n = parentName(n)) {
      if (this.dnames.has(n)) {
        const dname = setOf(this.nodes.get(n)!, T.DNAME)![0]!;
        const to = fq(String(dataOf(dname)));
        const target = name.slice(0, name.length - n.length) + (to === '.' ? '' : to);
        const rr = { name: name.slice(0, -1), type: 'CNAME', class: 'IN', ttl: ttlOf(dname), data: target.slice(0, -1) } as RR;
        return { kind: 'cname', rr, target, dname };
      }
      if (n === this.origin) break;
    }
    return undefined;
  }

  /** One name (no chasing): its RRset, a CNAME to follow, NODATA or NXDOMAIN; wildcards per RFC 4592. */
  private step(name: string, qtype: number): Step {
    const node = this.nodes.get(name);
    if (node !== undefined) return this.fromNode(node, qtype, undefined);
    if (this.ents.has(name)) return { kind: 'nodata' };
    // Closest encloser: the nearest existing ancestor. Its '*' child, if any, is the source of synthesis.
    let ce: string | undefined = parentName(name);
    while (ce !== undefined && !this.exists(ce)) ce = parentName(ce);
    if (ce === undefined) return { kind: 'nxdomain' };
    const wild = this.nodes.get(ce === '.' ? '*.' : `*.${ce}`);
    if (wild === undefined) return { kind: 'nxdomain' };
    return this.fromNode(wild, qtype, name);
  }

  private fromNode(node: Node, qtype: number, synthOwner: string | undefined): Step {
    const owner = synthOwner === undefined ? undefined : synthOwner === '.' ? '.' : synthOwner.slice(0, -1);
    const rename = (rrs: RR[]): RR[] => (owner === undefined ? rrs : rrs.map((r) => ({ ...r, name: owner }) as RR));
    if (qtype === T.ANY) {
      const all: RR[] = [];
      for (const set of node) all.push(...set);
      return { kind: 'answer', rrs: rename(all), wild: owner !== undefined };
    }
    const set = setOf(node, qtype);
    if (set !== undefined) return { kind: 'answer', rrs: rename(set), wild: owner !== undefined };
    const cname = setOf(node, T.CNAME)?.[0];
    if (cname !== undefined) {
      const rr = owner === undefined ? cname : ({ ...cname, name: owner } as RR);
      return { kind: 'cname', rr, target: fq(String((cname as { data: string }).data)) };
    }
    return { kind: 'nodata' };
  }

  private extraMemo(rrs: RR[]): RR[] {
    let e = this.extraCache.get(rrs);
    if (e === undefined) this.extraCache.set(rrs, (e = this.extraFor(rrs)));
    return e;
  }

  /** In-zone A/AAAA records for the targets of MX, SRV, SVCB, HTTPS and NS records (glue for referrals). */
  private extraFor(rrs: RR[]): RR[] {
    let out: RR[] | undefined;
    for (const r of rrs) {
      let target: string | undefined;
      if (r.type === 'MX') target = r.data.exchange;
      else if (r.type === 'SRV') target = r.data.target;
      else if (r.type === 'NS') target = r.data;
      else if ((r.type as string) === SVCB || (r.type as string) === HTTPS) target = svcbTarget(dataOf(r) as Buffer);
      if (target === undefined) continue;
      const node = this.nodes.get(fq(target));
      if (node === undefined) continue;
      for (const t of [T.A, T.AAAA]) {
        const set = setOf(node, t);
        if (set !== undefined) (out ??= []).push(...set);
      }
    }
    return out ?? EMPTY;
  }

  private glue(ns: RR[]): RR[] {
    return this.extraFor(ns);
  }

  /**
   * Every record, for a zone transfer: the SOA first, then the owners in the order they were
   * added (the apex's other records with the apex), each RRset whole; the SOA is not repeated.
   */
  *records(): Generator<RR> {
    yield this.soa;
    const apex = this.nodes.get(this.origin);
    if (apex !== undefined) for (const set of apex) for (const r of set) if (r !== this.soa) yield r;
    for (const [owner, node] of this.nodes) {
      if (owner === this.origin) continue;
      for (const set of node) yield* set;
    }
  }
}
