// The dnssec handler: online signing of the replies of every plugin below it for queries with
// the DO bit (CoreDNS's dnssec plugin). RRsets of the answer, authority and additional sections
// whose owner is in one of our zones get RRSIGs (original TTL 3600, inception three hours ago,
// expiration in eight days); NXDOMAIN and NODATA replies become NODATA with an NSEC "black lie"
// whose next name is `\000.<qname>`; a DNSKEY query at a zone apex is answered here. Signatures
// are kept in a bounded cache and re-made when they would expire within two days.
import dnsPacket from 'dns-packet';
import { FLAG, QTYPE, RCODE, WrappedWriter, type Message, type Next, type Rcode, type Request, type ResponseWriter, type RR } from '../../src/plugin/api.js';
import { isKsk, isZsk, nsecRecord, rdataOf, rrType, signRRset, type SigningKey } from '../../src/dns/dnssec/index.js';
import type { DnssecConfig } from './setup.js';

const HOUR = 3600;
const DAY = 24 * HOUR;
/** The original TTL of every RRSIG made here: the plugin cannot see the records' own. */
export const ORIGINAL_TTL = 3600;
/** A cached signature is used only while it stays valid for this much longer. */
const REFRESH = 2 * DAY;

export const incepExpir = (now: number): [number, number] => [now - 3 * HOUR, now + 8 * DAY];

/** The kind of reply, as CoreDNS's response.Typify tells them apart (the cases signing cares about). */
const enum Kind {
  NoError,
  NameError,
  NoData,
  Delegation,
  Other,
}

function typify(m: Message, qtype: number): Kind {
  const opcode = ((m.flags ?? 0) >> 11) & 0xf;
  if (opcode === 5 || opcode === 4) return Kind.Other;
  if (qtype === QTYPE.AXFR || qtype === QTYPE.IXFR) return Kind.Other;
  const rcode = (m.flags ?? 0) & 0xf;
  const an = m.answers?.length ?? 0;
  if (an > 0) return rcode === RCODE.NOERROR ? Kind.NoError : Kind.Other;
  let soa = false;
  let ns = 0;
  for (const r of m.authorities ?? []) {
    if (r.type === 'SOA') soa = true;
    else if (r.type === 'NS') ns++;
  }
  if (soa && rcode === RCODE.NOERROR) return Kind.NoData;
  if (rcode === RCODE.NXDOMAIN) return Kind.NameError;
  if (ns > 0 && rcode === RCODE.NOERROR) return Kind.Delegation;
  return rcode === RCODE.NOERROR ? Kind.NoError : Kind.Other;
}

// The black lies' type bitmaps (CoreDNS's black_lies.go).
const T = { A: 1, NS: 2, SOA: 6, HINFO: 13, MX: 15, TXT: 16, AAAA: 28, LOC: 29, SRV: 33, CERT: 37, SSHFP: 44, RRSIG: 46, NSEC: 47, DNSKEY: 48, TLSA: 52, HIP: 55, OPENPGPKEY: 61, SPF: 99 };
const DELEGATION = [T.A, T.NS, T.HINFO, T.TXT, T.AAAA, T.LOC, T.SRV, T.CERT, T.SSHFP, T.RRSIG, T.NSEC, T.TLSA, T.HIP, T.OPENPGPKEY, T.SPF];
const ZONE = [T.A, T.HINFO, T.TXT, T.AAAA, T.LOC, T.SRV, T.CERT, T.SSHFP, T.RRSIG, T.NSEC, T.TLSA, T.HIP, T.OPENPGPKEY, T.SPF];
const APEX = [T.A, T.NS, T.SOA, T.HINFO, T.MX, T.TXT, T.AAAA, T.LOC, T.SRV, T.CERT, T.SSHFP, T.RRSIG, T.NSEC, T.DNSKEY, T.TLSA, T.HIP, T.OPENPGPKEY, T.SPF];

/** The bitmap without the asked type, for a denial (the asked type must not show as present). */
function filtered(qtype: number, bitmap: readonly number[], kind: Kind): readonly number[] {
  if ((kind !== Kind.NoData && kind !== Kind.NameError) || qtype === QTYPE.NSEC) return bitmap;
  return bitmap.filter((t) => t !== qtype);
}

/** The labels of a presentation name split on unescaped dots. */
function splitLabels(name: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '\\' && i + 1 < name.length) {
      cur += c + name[++i];
      continue;
    }
    if (c === '.') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

const fq = (n: string): string => (n.endsWith('.') ? n : `${n}.`);
const ttlOf = (r: RR): number => (r as { ttl?: number }).ttl ?? 0;

export interface DnssecMetrics {
  hit(): void;
  miss(): void;
  entries(n: number): void;
}

/** A bounded map of signatures: the oldest entry goes when a new one would exceed the capacity. */
class SigCache {
  private readonly map = new Map<string, RR[]>();
  constructor(private readonly capacity: number) {}
  get(key: string): RR[] | undefined {
    return this.map.get(key);
  }
  set(key: string, sigs: RR[]): void {
    if (this.capacity <= 0) return;
    this.map.delete(key);
    while (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, sigs);
  }
  get size(): number {
    return this.map.size;
  }
}

export class Dnssec {
  private readonly cache: SigCache;
  private readonly zoneList: readonly string[];
  /** Each zone's DNSKEY RRset, built at the first DNSKEY query (the keys never change in a generation). */
  private readonly keySets = new Map<string, RR[]>();

  constructor(
    private readonly cfg: DnssecConfig,
    private readonly metrics: DnssecMetrics,
    /** Seconds since the epoch; injectable for tests. */
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.cache = new SigCache(cfg.capacity);
    this.zoneList = cfg.zones;
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** The longest of our zones holding `name`, or undefined. */
  match(name: string): string | undefined {
    const n = name.toLowerCase();
    let best: string | undefined;
    for (const z of this.zoneList) {
      if ((z === '.' || n === z || n.endsWith(`.${z}`)) && (best === undefined || z.length > best.length)) best = z;
    }
    return best;
  }

  serve(req: Request, w: ResponseWriter, next: Next): Rcode | Promise<Rcode> {
    // a zone's own DNSKEY is ours to answer; any other query without DO passes untouched, and
    // needs no zone lookup
    if (req.qtype === QTYPE.DNSKEY && this.zoneList.includes(req.name)) {
      w.write(this.dnskeyReply(req.name, req.do));
      return RCODE.NOERROR;
    }
    if (!req.do) return next(req, w);
    const zone = this.match(req.name);
    if (zone === undefined) return next(req, w);
    return next(req, new SigningWriter(w, this, req, zone));
  }

  /** The zone's DNSKEY RRset (every key, owned by the zone), with its RRSIGs for DO. */
  dnskeyReply(zone: string, doBit: boolean): Message {
    let keys = this.keySets.get(zone);
    if (keys === undefined) {
      keys = this.cfg.keys.map((k) => ({ name: zone, type: 'DNSKEY', class: 'IN', ttl: k.ttl, data: { flags: k.flags, algorithm: k.algorithm, key: k.publicKey } }) as unknown as RR);
      this.keySets.set(zone, keys);
    }
    const answers = [...keys];
    if (doBit) {
      const [inception, expiration] = incepExpir(this.now());
      answers.push(...this.sign(keys, zone, 3600, inception, expiration));
    }
    return { type: 'response', flags: FLAG.AA, answers, authorities: [], additionals: [] };
  }

  /** RRSIGs over one RRset by the keys that sign it, from the cache when still good for two days. */
  sign(rrs: RR[], signer: string, ttl: number, inception: number, expiration: number): RR[] {
    const dnskey = rrType(rrs[0]!) === QTYPE.DNSKEY;
    const key = this.cacheKey(rrs, signer);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      const at = this.now() + REFRESH;
      if (hit.every((s) => ((s as { data: { expiration: number } }).data.expiration >>> 0) >= at)) {
        this.metrics.hit();
        return ttl === ttlOf(hit[0]!) ? hit : hit.map((s) => ({ ...s, ttl }) as RR);
      }
    }
    this.metrics.miss();
    const sigs: RR[] = [];
    const withTtl = rrs.map((r) => (ttlOf(r) === ttl ? r : ({ ...r, ttl } as RR)));
    for (const k of this.cfg.keys) {
      if (!this.signs(k, dnskey)) continue;
      sigs.push(signRRset(withTtl, k, { signer, inception, expiration, originalTTL: ORIGINAL_TTL }));
    }
    if (sigs.length > 0) {
      this.cache.set(key, sigs);
      this.metrics.entries(this.cache.size);
    }
    return sigs;
  }

  private signs(k: SigningKey, dnskey: boolean): boolean {
    if (!this.cfg.split) return true;
    return dnskey ? isKsk(k) : isZsk(k);
  }

  /** What identifies an RRset's signatures: signer, owner, type, TTL and every RDATA. */
  private cacheKey(rrs: RR[], signer: string): string {
    let k = `${signer}|${rrs[0]!.name.toLowerCase()}|${rrType(rrs[0]!)}|${ttlOf(rrs[0]!)}`;
    for (const r of rrs) k += `|${rdataOf(r).toString('latin1')}`;
    return k;
  }

  /** The signed form of a reply to `req` (a new Message; `m` is not changed). */
  signReply(req: Request, m: Message, zone: string): Message {
    const kind = typify(m, req.qtype);
    const [inception, expiration] = incepExpir(this.now());
    const out: Message = { ...m, flags: (m.flags ?? 0) & ~FLAG.AD, answers: [...(m.answers ?? [])], authorities: [...(m.authorities ?? [])], additionals: [...(m.additionals ?? [])] };
    const ns = out.authorities!;
    if (kind === Kind.Delegation) {
      if (ns.length === 0) return out;
      const ttl = ttlOf(ns[0]!);
      const ds = ns.filter((r) => rrType(r) === QTYPE.DS);
      if (ds.length === 0) ns.push(...this.nsec(req, zone, kind, ttl, inception, expiration));
      else ns.push(...this.sign(ds, zone, ttlOf(ds[0]!), inception, expiration));
      return out;
    }
    if (kind === Kind.NameError || kind === Kind.NoData) {
      if (ns.length !== 1 || ns[0]!.type !== 'SOA') return out;
      const ttl = ttlOf(ns[0]!);
      ns.push(...this.sign(ns, zone, ttl, inception, expiration));
      const proof = this.nsec(req, zone, kind, ttl, inception, expiration);
      ns.push(...proof);
      if (ns.length > 1) {
        out.flags = (out.flags ?? 0) & ~0xf; // NOERROR: the black lie says the name exists
        out.additionals = out.additionals!.map((a) => (a.type === 'OPT' ? ({ ...a, extendedRcode: 0 } as RR) : a));
        if (req.qtype === QTYPE.NSEC) {
          out.answers = proof;
          out.authorities = [];
        }
      }
      return out;
    }
    out.answers = this.signSection(out.answers!);
    out.authorities = this.signSection(ns);
    out.additionals = this.signSection(out.additionals!);
    return out;
  }

  /** The section with the RRSIGs of each of its RRsets in our zones appended. */
  private signSection(rrs: RR[]): RR[] {
    if (rrs.length === 0) return rrs;
    const sets = new Map<string, RR[]>();
    for (const r of rrs) {
      if (r.type === 'RRSIG' || r.type === 'OPT') continue;
      const k = `${r.name.toLowerCase()}|${r.type}`;
      const s = sets.get(k);
      if (s === undefined) sets.set(k, [r]);
      else s.push(r);
    }
    if (sets.size === 0) return rrs;
    const [inception, expiration] = incepExpir(this.now());
    const out = [...rrs];
    for (const set of sets.values()) {
      const signer = this.match(fq(set[0]!.name));
      if (signer === undefined) continue;
      out.push(...this.sign(set, signer, ttlOf(set[0]!), inception, expiration));
    }
    return out;
  }

  /** The black lie for the query's name: an NSEC to `\000.<qname>` and its RRSIGs. */
  private nsec(req: Request, zone: string, kind: Kind, ttl: number, inception: number, expiration: number): RR[] {
    const qname = fq(req.qname);
    let next = qname === '.' ? '\\000.' : `\\000.${qname}`;
    let bitmap: readonly number[];
    if (req.name === zone) bitmap = filtered(req.qtype, APEX, kind);
    else if (kind === Kind.Delegation || req.qtype === QTYPE.DS) {
      bitmap = DELEGATION;
      if (kind === Kind.Delegation) {
        const labels = splitLabels(qname);
        labels[0] += '\\000';
        next = `${labels.join('.')}.`;
      }
    } else bitmap = filtered(req.qtype, ZONE, kind);
    const nsec = nsecRecord(qname, next, bitmap, ttl);
    return [...this.sign([nsec], zone, ttl, inception, expiration), nsec];
  }
}

/** Signs the reply written through it (wire bytes are decoded first). */
class SigningWriter extends WrappedWriter {
  constructor(
    inner: ResponseWriter,
    private readonly d: Dnssec,
    private readonly req: Request,
    /** The zone of the question, found once by serve(). */
    private readonly zone: string,
  ) {
    super(inner);
  }
  override write(res: Message | Uint8Array): void {
    const zone = this.zone;
    const m = res instanceof Uint8Array ? (dnsPacket.decode(Buffer.from(res.buffer, res.byteOffset, res.byteLength)) as Message) : res;
    this.inner.write(this.d.signReply(this.req, m, zone));
  }
}
