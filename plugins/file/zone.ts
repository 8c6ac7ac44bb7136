// One authoritative zone in memory: RRsets indexed by owner and type, the set of existing names
// (owners plus empty non-terminals) for NXDOMAIN vs NODATA and the RFC 4592 closest encloser, and
// the delegation points. lookup() never scans: it walks the query name's labels only.
import { isSubdomain, parentName, RCODE, type RR } from '../../src/plugin/api.js';
import type { ZoneRecord } from './zonefile.js';

const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, AAAA: 28, SRV: 33, DNAME: 39, DS: 43, ANY: 255 } as const;
/** Longest CNAME chain followed inside the zone. */
const MAX_CHASE = 8;

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

type Node = Map<number, RR[]>;

type Step =
  | { kind: 'answer'; rrs: RR[]; wild: boolean }
  | { kind: 'cname'; rr: RR; target: string; dname?: RR }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' };

const fq = (n: string): string => (n === '.' ? '.' : `${n.toLowerCase()}.`);
const EMPTY: RR[] = [];
const dataOf = (r: RR): unknown => (r as { data?: unknown }).data;
const ttlOf = (r: RR): number => (r as { ttl?: number }).ttl ?? 0;

export class Zone {
  readonly nodes = new Map<string, Node>();
  /** Every name that exists: owners and their ancestors down to the apex (empty non-terminals). */
  readonly names = new Set<string>();
  /** Non-apex names with NS records: delegation points. */
  readonly cuts = new Set<string>();
  /** Names with a DNAME record: everything below them is redirected (RFC 6672). */
  readonly dnames = new Set<string>();
  readonly soa: RR;
  /** The SOA for negative answers: TTL = min(SOA TTL, SOA minimum) (RFC 2308). */
  readonly negSoa: RR;
  readonly serial: number;
  readonly apexNs: RR[];
  /** Additional-section records (in-zone addresses of MX/SRV/NS targets), memoised per RRset. */
  private readonly extraCache = new WeakMap<RR[], RR[]>();
  readonly glueNs: RR[];

  constructor(
    readonly origin: string,
    records: readonly ZoneRecord[],
  ) {
    for (const r of records) {
      let node = this.nodes.get(r.owner);
      if (node === undefined) this.nodes.set(r.owner, (node = new Map()));
      const set = node.get(r.qtype);
      if (set === undefined) node.set(r.qtype, [r.rr]);
      else if (!set.some((x) => JSON.stringify(dataOf(x)) === JSON.stringify(dataOf(r.rr)))) set.push(r.rr);
      let n: string | undefined = r.owner;
      while (n !== undefined && !this.names.has(n)) {
        this.names.add(n);
        if (n === origin) break;
        n = parentName(n);
      }
      if (r.qtype === T.NS && r.owner !== origin) this.cuts.add(r.owner);
      if (r.qtype === T.DNAME) this.dnames.add(r.owner);
    }
    const apex = this.nodes.get(origin);
    const soa = apex?.get(T.SOA)?.[0];
    if (soa === undefined || soa.type !== 'SOA') throw new Error(`no SOA record for zone '${origin}'`);
    // Every record of an RRset gets the TTL of the first (RFC 2181 §5.2).
    for (const node of this.nodes.values()) {
      for (const set of node.values()) {
        const ttl = ttlOf(set[0]!);
        for (let i = 1; i < set.length; i++) if (ttlOf(set[i]!) !== ttl) set[i] = { ...set[i]!, ttl } as RR;
      }
    }
    this.soa = apex!.get(T.SOA)![0]!;
    const soaData = (this.soa as { data: { serial: number; minimum: number } }).data;
    this.serial = soaData.serial;
    this.negSoa = { ...this.soa, ttl: Math.min(ttlOf(this.soa), soaData.minimum) } as RR;
    this.apexNs = apex!.get(T.NS) ?? EMPTY;
    this.glueNs = this.glue(this.apexNs);
  }

  /** Number of records in the zone. */
  get size(): number {
    let n = 0;
    for (const node of this.nodes.values()) for (const set of node.values()) n += set.length;
    return n;
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
    const ns = this.nodes.get(cut)!.get(T.NS)!;
    return { rcode: RCODE.NOERROR, aa: false, answers: EMPTY, authorities: ns, additionals: this.extraMemo(ns) };
  }

  /** A DNAME strictly above `name`: the DNAME and the CNAME it synthesises for `name` (RFC 6672 §2.2). */
  private dnameAbove(name: string): Step | undefined {
    if (this.dnames.size === 0 || name === this.origin) return undefined;
    for (let n = parentName(name); n !== undefined; n = parentName(n)) {
      if (this.dnames.has(n)) {
        const dname = this.nodes.get(n)!.get(T.DNAME)![0]!;
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
    if (this.names.has(name)) return { kind: 'nodata' };
    // Closest encloser: the nearest existing ancestor. Its '*' child, if any, is the source of synthesis.
    let ce: string | undefined = parentName(name);
    while (ce !== undefined && !this.names.has(ce)) ce = parentName(ce);
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
      for (const set of node.values()) all.push(...set);
      return { kind: 'answer', rrs: rename(all), wild: owner !== undefined };
    }
    const set = node.get(qtype);
    if (set !== undefined) return { kind: 'answer', rrs: rename(set), wild: owner !== undefined };
    const cname = node.get(T.CNAME)?.[0];
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

  /** In-zone A/AAAA records for the targets of MX, SRV and NS records (glue for referrals). */
  private extraFor(rrs: RR[]): RR[] {
    let out: RR[] | undefined;
    for (const r of rrs) {
      let target: string | undefined;
      if (r.type === 'MX') target = r.data.exchange;
      else if (r.type === 'SRV') target = r.data.target;
      else if (r.type === 'NS') target = r.data;
      if (target === undefined) continue;
      const node = this.nodes.get(fq(target));
      if (node === undefined) continue;
      for (const t of [T.A, T.AAAA]) {
        const set = node.get(t);
        if (set !== undefined) (out ??= []).push(...set);
      }
    }
    return out ?? EMPTY;
  }

  private glue(ns: RR[]): RR[] {
    return this.extraFor(ns);
  }
}
