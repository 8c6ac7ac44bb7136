// Record building for the kubernetes plugin: pure functions from store entries to resource records.
// Service-level answers (A/AAAA/SRV/CNAME of <svc>.<ns>.svc.<zone>) are built once per service and
// zone after a change and reused by every query (the RR objects are shared: never mutate them);
// endpoint and _port._proto answers are built from the precomputed endpoint index per query or
// cached per name. Owners are lower-case; kubernetes.ts restores the query's case.
import net from 'node:net';
import { pack, type Packed, type Request, type RR } from '../../src/plugin/api.js';
import { isServiceRecord, type ClusterView, type Endpoint, type ServiceRecord } from './view.js';
import { isV6 } from './ip.js';
import { fitsWire } from './valid.js';

export interface AnswerOptions {
  readonly ttl: number;
  readonly ignoreEmptyService: boolean;
}

/**
 * Records for one name: what A/AAAA/CNAME queries get, and whether the name exists. SRV records
 * and their glue are built on the first SRV query only (most names are never asked for SRV; for
 * a headless service they are the largest part).
 */
export class NameRecords {
  private srvSet: { srv: RR[]; extra: RR[] } | undefined;
  private wireA: Packed | undefined;
  private wireAAAA: Packed | undefined;
  private wireSrv: PackedSrv | undefined;
  private addrSet: { a: readonly RR[]; aaaa: readonly RR[] } | (() => { a: readonly RR[]; aaaa: readonly RR[] });
  constructor(
    readonly exists: boolean,
    addrs: { a: readonly RR[]; aaaa: readonly RR[] } | (() => { a: readonly RR[]; aaaa: readonly RR[] }),
    /** ExternalName services: the CNAME (its target in `target`). */
    readonly cname: RR | undefined,
    readonly target: string,
    private readonly makeSrv: (() => { srv: RR[]; extra: RR[] }) | undefined,
  ) {
    this.addrSet = addrs;
  }
  private addrs(): { a: readonly RR[]; aaaa: readonly RR[] } {
    if (typeof this.addrSet === 'function') this.addrSet = this.addrSet();
    return this.addrSet;
  }
  get a(): readonly RR[] {
    return this.addrs().a;
  }
  get aaaa(): readonly RR[] {
    return this.addrs().aaaa;
  }
  /**
   * The A records as wire bytes, encoded on first use and kept with the records. Every address
   * record of a NameRecords is owned by the name asked, so the owner is a pointer to the question
   * (the answer carries the name as the client spelled it).
   */
  packedA(): Packed {
    return (this.wireA ??= pack(this.a));
  }
  packedAAAA(): Packed {
    return (this.wireAAAA ??= pack(this.aaaa));
  }
  /** SRV records (owned by the name asked) and their glue (owned by the targets) as wire bytes. */
  packedSrv(s: { srv: RR[]; extra: RR[] } = this.srv()): PackedSrv {
    if (this.wireSrv !== undefined) return this.wireSrv;
    const p: PackedSrv = { an: pack(s.srv), ar: pack(s.extra, notAtQuestion) };
    if (this.srvSet !== undefined) this.wireSrv = p;
    return p;
  }
  /**
   * SRV records and their A/AAAA glue. Kept for later queries when small; a large set (a headless
   * service with many endpoints: ~200 bytes per endpoint and port) is rebuilt per SRV query
   * instead, which costs about what encoding it costs, so the memory of views stays bounded.
   */
  srv(): { srv: RR[]; extra: RR[] } {
    if (this.srvSet !== undefined) return this.srvSet;
    const s = this.makeSrv ? this.makeSrv() : { srv: [], extra: [] };
    if (s.srv.length + s.extra.length <= SRV_CACHE_MAX) this.srvSet = s;
    return s;
  }
}

/** SRV answer and additional sections, encoded. */
export interface PackedSrv {
  readonly an: Packed;
  readonly ar: Packed;
}

const notAtQuestion = (): boolean => false;

export interface ServiceView {
  readonly zone: string;
  readonly recs: NameRecords;
  /** _port._proto names, cached once seen (existing ones only); created on first use. */
  sub: Map<string, NameRecords> | undefined;
}

/** Largest SRV answer (records + glue) kept precomputed. */
export const SRV_CACHE_MAX = 8;

const NONE: readonly RR[] = Object.freeze([]) as readonly RR[];
export const MISSING: NameRecords = new NameRecords(false, { a: NONE, aaaa: NONE }, undefined, '', undefined);

const addr = (owner: string, ip: string, ttl: number): RR => (isV6(ip) ? { name: owner, type: 'AAAA', ttl, data: ip } : { name: owner, type: 'A', ttl, data: ip });

interface SrvItem {
  readonly target: string;
  readonly ip: string;
  /** -1: an address without declared ports (counts for the weight, gives no SRV). */
  readonly port: number;
}

/** CoreDNS's calcSRVWeight: 100 split over n targets, at least 1. */
export const srvWeight = (n: number): number => Math.max(1, Math.floor(100 / Math.max(1, n)));

/** The owner name of a Service in `zone`: <svc>.<ns>.svc.<zone>, lower-case, no trailing dot. */
export const serviceOwner = (e: ServiceRecord, zone: string): string => `${e.name}.${e.namespace}.svc.${zone === '.' ? '' : zone}`.replace(/\.$/, '');

/** SRV records (priority 0, weight floor(100/N) min 1) and their A/AAAA glue, deduplicated. */
export function buildSrv(owner: string, items: readonly SrvItem[], ttl: number): { srv: RR[]; extra: RR[] } {
  const srv: RR[] = [];
  const extra: RR[] = [];
  if (items.length === 0) return { srv, extra };
  const weight = srvWeight(items.length);
  const seenSrv = new Set<string>();
  const seenAddr = new Set<string>();
  for (const it of items) {
    if (it.port < 0) continue;
    const k = `${it.target} ${it.port}`;
    if (!seenSrv.has(k)) {
      seenSrv.add(k);
      srv.push({ name: owner, type: 'SRV', ttl, data: { priority: 0, weight, port: it.port, target: it.target } });
    }
    if (it.ip === '') continue;
    const ka = `${it.target} ${it.ip}`;
    if (!seenAddr.has(ka)) {
      seenAddr.add(ka);
      extra.push(addr(it.target, it.ip, ttl));
    }
  }
  return { srv, extra };
}

const portMatch = (port: string, proto: string, p: { name: string; protocol: string }): boolean =>
  (port === '' || port === p.name) && (proto === '' || proto === p.protocol);

/** An ExternalName target that is a host name (an IP is not a CNAME target: not served); '' when none. */
export const externalTarget = (svc: ServiceRecord['svc']): string => {
  const t = svc?.externalName ?? '';
  return t !== '' && net.isIP(t) === 0 && fitsWire(t) ? t : '';
};

/** Records of `owner` (= <svc>.<ns>.svc.<zone> or a _port._proto name below it), built from scratch. */
function build(e: ServiceRecord, zone: string, owner: string, port: string, proto: string, o: AnswerOptions): NameRecords {
  const svc = e.svc;
  if (svc === undefined) return MISSING;
  const ttl = o.ttl;
  const base = serviceOwner(e, zone);
  // The store accepts only valid names, but their sum with the zone can still be too long.
  if (!fitsWire(owner)) return MISSING;
  if (svc.type === 'ExternalName') {
    const target = externalTarget(svc);
    if (target === '' || port !== '' || proto !== '') return MISSING;
    const cname: RR = { name: owner, type: 'CNAME', ttl, data: target };
    // No SRV records: an ExternalName has no ports to publish (kubernetes.ts answers its CNAME).
    return new NameRecords(true, { a: NONE, aaaa: NONE }, cname, target, undefined);
  }
  const filtered = port !== '' || proto !== '';
  if (!svc.headless) {
    if (o.ignoreEmptyService && e.eps.length === 0) return MISSING;
    const ports = svc.ports.filter((p) => portMatch(port, proto, p));
    if (filtered && ports.length === 0) return MISSING;
    const addrs = (): { a: readonly RR[]; aaaa: readonly RR[] } => {
      const a: RR[] = [];
      const aaaa: RR[] = [];
      for (const ip of svc.clusterIPs) (isV6(ip) ? aaaa : a).push(addr(owner, ip, ttl));
      return { a: trim(a), aaaa: trim(aaaa) };
    };
    const makeSrv = (): { srv: RR[]; extra: RR[] } => {
      const items: SrvItem[] = [];
      for (const p of ports) for (const ip of svc.clusterIPs) items.push({ target: base, ip, port: p.port });
      return buildSrv(owner, items, ttl);
    };
    return new NameRecords(true, filtered ? addrs : addrs(), undefined, '', makeSrv);
  }
  const matches = (ep: Endpoint): boolean => (ep.ports.length === 0 ? !filtered : ep.ports.some((p) => portMatch(port, proto, p)));
  let any = false;
  for (const ep of e.eps) if (matches(ep)) any = true;
  if (!any) return MISSING;
  const addrs = (): { a: readonly RR[]; aaaa: readonly RR[] } => {
    const a: RR[] = [];
    const aaaa: RR[] = [];
    for (const ep of e.eps) if (matches(ep)) (isV6(ep.ip) ? aaaa : a).push(addr(owner, ep.ip, ttl));
    return { a: trim(a), aaaa: trim(aaaa) };
  };
  const makeSrv = (): { srv: RR[]; extra: RR[] } => {
    const items: SrvItem[] = [];
    for (const ep of e.eps) {
      const target = `${e.label(ep)}.${base}`;
      if (!fitsWire(target)) continue;
      if (ep.ports.length === 0) {
        if (!filtered) items.push({ target, ip: ep.ip, port: -1 });
        continue;
      }
      for (const p of ep.ports) if (portMatch(port, proto, p)) items.push({ target, ip: ep.ip, port: p.port });
    }
    return buildSrv(owner, items, ttl);
  };
  return new NameRecords(true, filtered ? addrs : addrs(), undefined, '', makeSrv);
}

const trim = (a: RR[]): readonly RR[] => (a.length === 0 ? NONE : a.slice());

/** The precomputed records of <svc>.<ns>.svc.<zone> (owner lower-case, no trailing dot). */
export function serviceRecords(e: ServiceRecord, zone: string, o: AnswerOptions): NameRecords {
  return view(e, zone, o).recs;
}

function view(e: ServiceRecord, zone: string, o: AnswerOptions): ServiceView {
  const views = e.views;
  if (views !== undefined) {
    for (const v of views) if (v.zone === zone) return v;
  }
  const owner = serviceOwner(e, zone);
  const v: ServiceView = { zone, recs: build(e, zone, owner, '', '', o), sub: undefined };
  if (views === undefined) e.views = [v];
  else views.push(v);
  return v;
}

/** Records of a `_port._proto.<svc>…` name; `owner` is the query name, lower-case, no trailing dot. */
export function portRecords(e: ServiceRecord, zone: string, owner: string, port: string, proto: string, o: AnswerOptions): NameRecords {
  const v = view(e, zone, o);
  const hit = v.sub?.get(owner);
  if (hit !== undefined) return hit;
  const r = build(e, zone, owner, port, proto, o);
  if (r.exists) (v.sub ??= new Map()).set(owner, r);
  return r;
}

/** Records of `<label>.<svc>.<ns>.svc.<zone>` (an endpoint), built per query from the label index. */
export function endpointRecords(e: ServiceRecord, zone: string, owner: string, label: string, o: AnswerOptions): NameRecords {
  if (e.isExternal) return MISSING;
  const eps: readonly Endpoint[] | undefined = e.endpointsNamed(label);
  if (eps === undefined || eps.length === 0) return MISSING;
  const ttl = o.ttl;
  const a: RR[] = [];
  const aaaa: RR[] = [];
  for (const ep of eps) (isV6(ep.ip) ? aaaa : a).push(addr(owner, ep.ip, ttl));
  return new NameRecords(true, { a, aaaa }, undefined, '', () => {
    const items: SrvItem[] = [];
    for (const ep of eps) {
      if (ep.ports.length === 0) items.push({ target: owner, ip: ep.ip, port: -1 });
      for (const p of ep.ports) items.push({ target: owner, ip: ep.ip, port: p.port });
    }
    return buildSrv(owner, items, ttl);
  });
}

/** PTR targets for an IP (FQDNs with trailing dot): ClusterIP services first, else endpoints. */
export function ptrTargets(store: ClusterView, ip: string, zone: string): string[] {
  const vals = store.byIp(ip);
  if (vals.length === 0) return [];
  const z = zone === '.' ? '' : zone;
  const out: string[] = [];
  for (const v of vals) {
    if (!isServiceRecord(v)) continue;
    if (v.svc === undefined || !store.namespaceExposed(v.namespace)) continue;
    out.push(`${v.name}.${v.namespace}.svc.${z}`);
  }
  if (out.length > 0) return dedupe(out.filter(fitsWire));
  for (const v of vals) {
    if (isServiceRecord(v)) continue;
    const s = v.svc;
    if (s.svc === undefined || !store.namespaceExposed(s.namespace)) continue;
    out.push(`${s.label(v)}.${s.name}.${s.namespace}.svc.${z}`);
  }
  return dedupe(out.filter(fitsWire));
}

const dedupe = (a: string[]): string[] => (a.length < 2 ? a : [...new Set(a)]);

/** The zone's SOA (CoreDNS shape): owner = zone, TTL min(ttl, 300), minimum = ttl. */
export function soaRecord(zone: string, ttl: number, serial: number): RR {
  const z = zone === '.' ? '' : zone;
  return {
    name: zone === '.' ? '.' : zone.slice(0, -1),
    type: 'SOA',
    ttl: Math.min(ttl, 300),
    data: { mname: `ns.dns.${z}`.replace(/\.$/, ''), rname: `hostmaster.${z}`.replace(/\.$/, ''), serial: serial >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
  };
}

/** A name server address: `host` is the name relative to the zone (lower-case), `ip` its address. */
export interface NsAddress {
  readonly host: string;
  readonly ip: string;
}

/**
 * The addresses a reply names the name server by: the address the query came to, or (when the
 * listener is bound to every address) `all()`, the host's own addresses. IPv4-mapped IPv6 as IPv4.
 */
export function serverAddresses(req: Request, all: () => readonly string[]): readonly string[] {
  let ip = req.local.ip;
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  return ip === '' || ip === '0.0.0.0' || ip === '::' ? all() : [ip];
}

/** The apex NS records (one per name server name) of `zone`, owned by `owner`, and their addresses. */
export function nsRecords(owner: string, zone: string, ns: readonly NsAddress[], ttl: number): { answers: RR[]; extra: RR[] } {
  const z = zone === '.' ? '' : zone;
  const answers: RR[] = [];
  const extra: RR[] = [];
  const seen = new Set<string>();
  for (const n of ns) {
    const host = `${n.host}.${z}`.replace(/\.$/, '');
    extra.push(addr(host, n.ip, ttl));
    if (seen.has(host)) continue;
    seen.add(host);
    answers.push({ name: owner, type: 'NS', ttl, data: host });
  }
  return { answers, extra };
}

/**
 * The name servers of the zone, as CoreDNS names them: every Service whose endpoints hold one of
 * our own addresses — named after the Service with its ClusterIPs, or for a headless Service after
 * each of its endpoints with that endpoint's address. When no Service holds our address: `ns.dns`
 * with our own addresses.
 */
export function nsAddresses(store: ClusterView, localIps: readonly string[]): NsAddress[] {
  const out: NsAddress[] = [];
  const seen = new Set<string>();
  const add = (host: string, ip: string): void => {
    const k = `${host} ${ip}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ host, ip });
  };
  for (const ip of localIps) {
    for (const v of store.byIp(ip)) {
      if (isServiceRecord(v)) continue;
      const e = v.svc;
      const s = e.svc;
      if (s === undefined || s.type === 'ExternalName' || !store.namespaceExposed(e.namespace)) continue;
      const host = `${e.name}.${e.namespace}.svc`;
      if (s.headless) for (const ep of e.eps) add(`${e.label(ep)}.${host}`, ep.ip);
      else for (const cip of s.clusterIPs) add(host, cip);
    }
  }
  if (out.length === 0) for (const ip of localIps) add('ns.dns', ip);
  return out;
}

export { addr as addressRecord };
