// The kubernetes plugin's serve(): zone check → parse the name → answer from the store's
// precomputed records, synchronously. NXDOMAIN and NODATA carry the zone's SOA and are
// authoritative; NXDOMAIN falls through when configured, and becomes SERVFAIL until the first sync
// (CoreDNS plugin/kubernetes/handler.go).
import { CaptureWriter, EMPTY_PACKED, FLAG, QTYPE, RCODE, Zones, negative, pack, packedReply, reply, type Next, type Packed, type RR, type Rcode, type Request, type ResponseWriter, type Trace, typeName } from '../../src/plugin/api.js';
import type { KubernetesConfig } from './setup.js';
import { isServiceRecord, type ClusterView } from './view.js';
import { parseName, podLabelIp, type RecordRequest } from './names.js';
import { MISSING, addressRecord, endpointRecords, nsAddresses, nsRecords, portRecords, ptrTargets, serverAddresses, serviceRecords, soaRecord, type AnswerOptions, type NameRecords, type NsAddress } from './answer.js';
import { isV6 } from './ip.js';


/** Schema version of the Kubernetes DNS specification served (dns-version TXT). */
export const DNS_SCHEMA_VERSION = '1.1.0';

const NX = 1;
const NODATA = 0;
interface Found {
  answers: RR[];
  extra: RR[];
  /** An ExternalName target outside our zones: resolve it through the rest of the chain. */
  upstream?: string;
  /**
   * The same answer as wire bytes (owners that are the query name point to the question), when
   * it is precomputed: served without encoding unless the zone must be re-spelled.
   */
  an?: Packed;
  ar?: Packed;
}
type Outcome = Found | typeof NX | typeof NODATA;

const MAX_CHASE = 8;
/** Addresses whose encoded PTR answer is kept (cleared when full or when the store changes). */
const PTR_CACHE_MAX = 65_536;

export interface HandlerDeps {
  /** The server's own addresses when the query's local address is unspecified (0.0.0.0 / ::). */
  readonly interfaceIps: () => readonly string[];
  /** Plugins follow this one in the chain: resolve ExternalName targets outside our zones through them. */
  readonly upstream?: boolean;
}

export class KubernetesHandler {
  private readonly zones: Zones;
  private readonly o: AnswerOptions;
  private readonly soaWire = new Map<string, { serial: number; bytes: Packed }>();
  private readonly ptrWire = new Map<string, { targets: readonly string[]; an: Packed }>();
  private ptrGen = -1;

  constructor(
    private readonly cfg: KubernetesConfig,
    readonly store: ClusterView,
    private readonly deps: HandlerDeps,
  ) {
    this.zones = Zones.from(cfg.zones, cfg.zones);
    this.o = { ttl: cfg.ttl, ignoreEmptyService: cfg.ignoreEmptyService };
  }

  serve(req: Request, w: ResponseWriter, next: Next): Rcode | Promise<Rcode> {
    const zone = this.zones.match(req.name);
    if (zone === undefined) return next(req, w);
    const qt = req.qtype;
    if (qt === QTYPE.AXFR || qt === QTYPE.IXFR) return RCODE.REFUSED;
    const out = this.lookup(req.name, qt, zone, req, 0);
    if (req.trace !== undefined) this.explain(req.trace, req.name, qt, zone, out);
    // The zone as the client spelled it, when that differs from lower case: names we build inside
    // the zone (SOA, SRV targets, NS names, glue) use it, as CoreDNS builds them from the asked zone.
    const asked = req.qname === req.name || zone === '.' ? undefined : req.qname.slice(req.qname.length - zone.length, -1);
    const zl = zone.slice(0, -1);
    // The zone spelled in lower case (almost every query): answers from wire bytes.
    const plain = asked === undefined || asked === zl;
    if (out === NX) {
      if (this.cfg.fall.through(req.name)) return next(req, w);
      if (plain && this.store.synced) {
        w.write(packedReply(req, FLAG.AA, RCODE.NXDOMAIN, EMPTY_PACKED, this.packedSoa(zone)));
        return RCODE.NXDOMAIN;
      }
      const soa = recaseRR(soaRecord(zone, this.cfg.ttl, this.store.modified), zl, asked);
      if (!this.store.synced) {
        w.write(reply(req, [], { rcode: RCODE.SERVFAIL, aa: true, authorities: [soa] }));
        return RCODE.SERVFAIL;
      }
      w.write(negative(req, soa, true));
      return RCODE.NXDOMAIN;
    }
    if (out === NODATA || out.answers.length === 0) {
      if (plain) {
        w.write(packedReply(req, FLAG.AA, RCODE.NOERROR, EMPTY_PACKED, this.packedSoa(zone)));
        return RCODE.NOERROR;
      }
      w.write(negative(req, recaseRR(soaRecord(zone, this.cfg.ttl, this.store.modified), zl, asked), false));
      return RCODE.NOERROR;
    }
    if (plain && out.an !== undefined && out.upstream === undefined) {
      w.write(packedReply(req, FLAG.AA, RCODE.NOERROR, out.an, EMPTY_PACKED, out.ar));
      return RCODE.NOERROR;
    }
    let answers = out.answers;
    let extra = out.extra;
    if (req.qname !== req.name) answers = fixCase(answers, strip(req.name), strip(req.qname));
    if (asked !== undefined && asked !== zl) {
      answers = answers.map((a) => (a.type === 'SRV' || a.type === 'NS' || a.type === 'SOA' ? recaseRR(a, zl, asked) : a));
      extra = extra.map((a) => recaseRR(a, zl, asked));
    }
    if (out.upstream !== undefined) return this.resolveUpstream(req, w, next, answers, out.upstream);
    w.write(reply(req, answers, { aa: true, additionals: extra }));
    return RCODE.NOERROR;
  }

  /** What an explained query found: the objects behind the records (with their resourceVersion), or why NXDOMAIN / NODATA. */
  private explain(t: Trace, name: string, qt: number, zone: string, out: Outcome): void {
    const r = parseName(name, zone);
    const result =
      out === NX ? 'NXDOMAIN (the name does not exist)' : out === NODATA || out.answers.length === 0 ? `NODATA (the name exists, with no ${typeName(qt)} record)` : `${out.answers.length} record(s)`;
    if (!this.store.synced) t.note(`not synced with the API yet: ${out === NX ? 'SERVFAIL' : 'answering from what is known'}`);
    if (out === NX && this.cfg.fall.through(name)) t.note('no such name, and fallthrough covers it: the next plugin is asked');
    const svcOf = (ns: string, svc: string): string => {
      if (!this.store.namespaceExposed(ns)) return `namespace ${ns} is not exposed (or not known)`;
      const e = this.store.service(svc, ns);
      if (e === undefined || e.svc === undefined) return `no Service ${ns}/${svc}`;
      const v = e.svc;
      const kind = v.type === 'ExternalName' ? `ExternalName → ${v.externalName || '(none)'}` : v.headless ? 'headless' : `${v.type} ${v.clusterIPs.join(' ')}`;
      return `Service ${ns}/${svc} (${kind}${rvOf(v.rv)})`;
    };
    switch (r.kind) {
      case 'service': {
        t.note(`${r.endpoint !== '' ? `endpoint ${r.endpoint} of ` : r.port !== '' || r.protocol !== '' ? `port _${r.port}._${r.protocol} of ` : ''}${svcOf(r.namespace, r.service)}: ${result}`);
        const e = this.store.service(r.service, r.namespace);
        const v = e?.svc;
        if (e === undefined || v === undefined) return;
        if (v.type === 'ExternalName') {
          if (out !== NX && out !== NODATA && out.upstream !== undefined) t.note(`the target ${out.upstream} is outside the zones: asking the next plugins`);
          return;
        }
        if (!v.headless && r.endpoint === '') {
          if (out === NX && this.o.ignoreEmptyService) t.note('ignore_empty_service: the Service has no ready endpoint');
          return;
        }
        // headless (or an endpoint name): each address, with the EndpointSlice (and pod) it came from
        const ips = new Set(out === NX || out === NODATA ? [] : out.answers.map((a) => String((a as { data?: unknown }).data)));
        for (const [slice, sl] of e.slices ?? []) {
          for (let i = 0; i < sl.ips.length; i++) {
            const ip = sl.ips[i]!;
            const ready = sl.notReady === undefined || !sl.notReady.includes(i);
            // the pod: from the store when pods are kept (pods verified), else the endpoint's name for it
            const known = this.store.podsWithIp(ip).find((p) => p.namespace === r.namespace);
            const pod = known !== undefined ? `, pod ${r.namespace}/${known.name}${rvOf(known.rv, ' ')}` : sl.podNames?.[i] ? `, pod ${r.namespace}/${sl.podNames[i]}` : '';
            const host = sl.hostnames?.[i] ? `, hostname ${sl.hostnames[i]}` : '';
            const served = ips.has(ip) ? 'answered' : ready || v.publishNotReadyAddresses ? 'not this type or name' : 'not ready: left out';
            t.note(`${ip} from EndpointSlice ${r.namespace}/${slice}${rvOf(sl.rv, ' ')}${host}${pod}: ${served}`);
          }
        }
        if (e.slices === undefined) t.note(`no EndpointSlice for Service ${r.namespace}/${r.service}`);
        return;
      }
      case 'pod': {
        const ip = podIp(r.label);
        const known = ip === undefined ? [] : this.store.podsWithIp(ip).filter((p) => p.namespace === r.namespace);
        const pods = known.map((p) => `, Pod ${p.namespace}/${p.name}${rvOf(p.rv, ' ')}`).join('');
        t.note(`pod name ${r.label} in namespace ${r.namespace} (pods ${this.cfg.pods})${pods}: ${result}`);
        return;
      }
      case 'reverse': {
        const owners = this.store.byIp(r.ip).map((v) => (isServiceRecord(v) ? `Service ${v.namespace}/${v.name}` : `endpoint of Service ${v.svc.namespace}/${v.svc.name}`));
        t.note(`address ${r.ip}: ${owners.length > 0 ? owners.join(', ') : 'no Service or endpoint has it'}: ${result}`);
        return;
      }
      case 'namespace':
        t.note(`namespace ${r.namespace} ${this.store.namespaceExposed(r.namespace) ? 'exists: the name has no records' : 'is not exposed (or not known)'}: ${result}`);
        return;
      case 'invalid':
        t.note(`${name} is not a name of the Kubernetes DNS schema: NXDOMAIN`);
        return;
      default:
        t.note(`${r.kind} name of zone ${zone}: ${result}`);
    }
  }

  /** The zone's SOA for negative answers, encoded once per zone and serial. */
  private packedSoa(zone: string): Packed {
    const serial = this.store.modified;
    const hit = this.soaWire.get(zone);
    if (hit !== undefined && hit.serial === serial) return hit.bytes;
    const bytes = pack([soaRecord(zone, this.cfg.ttl, serial)], () => false);
    this.soaWire.set(zone, { serial, bytes });
    return bytes;
  }

  /** PTR answer of an address, encoded once per store generation. */
  private packedPtr(ip: string, targets: readonly string[]): Packed {
    const gen = this.store.generation;
    if (this.ptrGen !== gen) {
      this.ptrWire.clear();
      this.ptrGen = gen;
    }
    // the targets are compared too: their order can change without a DNS-relevant change
    const hit = this.ptrWire.get(ip);
    if (hit !== undefined && sameStrings(hit.targets, targets)) return hit.an;
    const an = pack(targets.map((t) => ({ name: '.', type: 'PTR', ttl: this.cfg.ttl, data: strip(t) }) as RR));
    if (this.ptrWire.size >= PTR_CACHE_MAX) this.ptrWire.clear();
    this.ptrWire.set(ip, { targets, an });
    return an;
  }

  /**
   * ExternalName → CNAME to a name outside our zones: ask the plugins after this one (forward)
   * for the target, as CoreDNS asks its upstream, and append what they answer after the CNAME.
   * Whatever happens there, the CNAME is answered.
   */
  private async resolveUpstream(req: Request, w: ResponseWriter, next: Next, answers: RR[], target: string): Promise<Rcode> {
    const cap = new CaptureWriter();
    try {
      await next(req.withQuestion(`${target}.`, req.qtype), cap);
    } catch {
      // the CNAME alone
    }
    const more = cap.msg?.answers ?? [];
    const all = more.length > 0 ? [...answers, ...more.filter((a) => a.type === 'CNAME' || a.type === 'A' || a.type === 'AAAA')] : answers;
    const m = reply(req, all, { aa: true });
    // The target's answer was truncated: so is ours, so that the client asks again over TCP
    // (CoreDNS copies the upstream's TC bit; the core writer keeps a TC a plugin sets).
    if (((cap.msg?.flags ?? 0) & FLAG.TC) !== 0) m.flags = (m.flags ?? 0) | FLAG.TC;
    w.write(m);
    return RCODE.NOERROR;
  }

  /** Answer `name` (lower-case FQDN inside `zone`) for `qt`. */
  lookup(name: string, qt: number, zone: string, req: Request, depth: number): Outcome {
    if (qt === QTYPE.SOA && name !== zone) return NODATA;
    const r = parseName(name, zone);
    switch (r.kind) {
      case 'apex':
        if (qt === QTYPE.SOA) return { answers: [{ ...soaRecord(zone, this.cfg.ttl, this.store.modified), name: strip(name) }], extra: [] };
        if (qt === QTYPE.NS) {
          // NS: one per name server name, their addresses as glue (CoreDNS plugin.NS + nsAddrs).
          return nsRecords(strip(name), zone, this.nsIps(req), this.cfg.ttl);
        }
        return NODATA;
      case 'version':
        if (qt !== QTYPE.TXT) return NX;
        return { answers: [{ name: strip(name), type: 'TXT', ttl: 28800, data: [DNS_SCHEMA_VERSION] }], extra: [] };
      case 'nsname': {
        // ns.dns.<zone>: every name server address of the asked family.
        if (qt !== QTYPE.A && qt !== QTYPE.AAAA) return NODATA;
        const want6 = qt === QTYPE.AAAA;
        const owner = strip(name);
        const ips = new Set<string>();
        for (const n of this.nsIps(req)) if (isV6(n.ip) === want6) ips.add(n.ip);
        return { answers: [...ips].map((ip) => addressRecord(owner, ip, this.cfg.ttl)), extra: [] };
      }
      case 'empty':
        return NODATA;
      case 'namespace':
        if (r.pod && this.cfg.pods === 'disabled') return NX;
        return this.store.namespaceExposed(r.namespace) ? NODATA : NX;
      case 'pod':
        return this.pod(r, qt, name);
      case 'reverse': {
        const targets = ptrTargets(this.store, r.ip, this.cfg.primaryZone);
        if (targets.length === 0) return NX;
        if (qt !== QTYPE.PTR) return NODATA;
        const owner = strip(name);
        return { answers: targets.map((t) => ({ name: owner, type: 'PTR', ttl: this.cfg.ttl, data: strip(t) })), extra: [], an: this.packedPtr(r.ip, targets) };
      }
      case 'invalid':
        return NX;
      case 'service':
        return this.service(r, qt, name, zone, req, depth);
    }
  }

  private service(r: Extract<RecordRequest, { kind: 'service' }>, qt: number, name: string, zone: string, req: Request, depth: number): Outcome {
    if (!this.store.namespaceExposed(r.namespace)) return NX;
    const e = this.store.service(r.service, r.namespace);
    if (e === undefined) return NX;
    let recs: NameRecords;
    if (r.endpoint !== '') recs = endpointRecords(e, zone, strip(name), r.endpoint, this.o);
    else if (r.port !== '' || r.protocol !== '') recs = portRecords(e, zone, strip(name), r.port, r.protocol, this.o);
    else recs = serviceRecords(e, zone, this.o);
    if (!recs.exists || recs === MISSING) return NX;
    if (recs.cname !== undefined) {
      // An ExternalName: its CNAME answers every type (SRV included; CoreDNS answers NODATA for
      // types other than A, AAAA and CNAME), chased here for A/AAAA.
      const answers: RR[] = [recs.cname];
      if ((qt === QTYPE.A || qt === QTYPE.AAAA) && depth < MAX_CHASE) {
        // A target inside our zones is answered here, after its CNAME (CNAME before target).
        const target = `${recs.target}.`;
        const tz = this.zones.match(target);
        if (tz !== undefined) {
          const more = this.lookup(target, qt, tz, req, depth + 1);
          if (more !== NX && more !== NODATA) {
            answers.push(...more.answers);
            if (more.upstream !== undefined) return { answers, extra: [], upstream: more.upstream };
          }
        } else if (this.deps.upstream === true) {
          return { answers, extra: [], upstream: recs.target };
        }
      }
      return { answers, extra: [] };
    }
    if (qt === QTYPE.SRV) {
      const s = recs.srv();
      if (s.srv.length === 0) return NODATA;
      const p = recs.packedSrv(s);
      return { answers: s.srv, extra: s.extra, an: p.an, ar: p.ar };
    }
    if (qt === QTYPE.A) return recs.a.length === 0 ? NODATA : { answers: recs.a as RR[], extra: [], an: recs.packedA() };
    if (qt === QTYPE.AAAA) return recs.aaaa.length === 0 ? NODATA : { answers: recs.aaaa as RR[], extra: [], an: recs.packedAAAA() };
    return NODATA;
  }

  private pod(r: Extract<RecordRequest, { kind: 'pod' }>, qt: number, name: string): Outcome {
    const mode = this.cfg.pods;
    if (mode === 'disabled' || !this.store.namespaceExposed(r.namespace)) return NX;
    const ip = podLabelIp(r.label);
    if (ip === undefined) return NX;
    if (mode === 'verified') {
      let found = false;
      for (const p of this.store.podsWithIp(ip)) if (p.namespace === r.namespace) found = true;
      if (!found) return NX;
    }
    const v6 = isV6(ip);
    if ((qt === QTYPE.A && !v6) || (qt === QTYPE.AAAA && v6)) return { answers: [addressRecord(strip(name), ip, this.cfg.ttl)], extra: [] };
    return NODATA;
  }

  private nsIps(req: Request): readonly NsAddress[] {
    return nsAddresses(this.store, serverAddresses(req, this.deps.interfaceIps));
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const strip = (n: string): string => (n === '.' ? '.' : n.endsWith('.') ? n.slice(0, -1) : n);

/** `name` with its zone part `zl` (lower case, no trailing dot) spelled as `asked`. */
function recaseName(name: string, zl: string, asked: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length < zl.length || n.slice(n.length - zl.length).toLowerCase() !== zl) return name;
  const at = n.length - zl.length;
  if (at > 0 && n.charCodeAt(at - 1) !== 0x2e) return name;
  return n.slice(0, at) + asked;
}

/** A copy of `a` with the zone part of its owner and of the names in its data spelled as asked. */
function recaseRR(a: RR, zl: string, asked: string | undefined): RR {
  if (asked === undefined || asked === zl) return a;
  const name = recaseName(a.name, zl, asked);
  switch (a.type) {
    case 'SOA':
      return { ...a, name, data: { ...a.data, mname: recaseName(a.data.mname, zl, asked), rname: recaseName(a.data.rname, zl, asked) } };
    case 'SRV':
      return { ...a, name, data: { ...a.data, target: recaseName(a.data.target, zl, asked) } };
    case 'NS':
      return { ...a, name, data: recaseName(a.data, zl, asked) };
    default:
      return name === a.name ? a : { ...a, name };
  }
}

/** Copies of the records owned by `lower`, owned by `asAsked` instead (the query's case). */
function fixCase(rrs: RR[], lower: string, asAsked: string): RR[] {
  const out = new Array<RR>(rrs.length);
  for (let i = 0; i < rrs.length; i++) {
    const a = rrs[i]!;
    out[i] = a.name === lower ? { ...a, name: asAsked } : a;
  }
  return out;
}

/** ", resourceVersion N" (or " (resourceVersion N)" with sep ' ') for an explained record; '' when not known. */
function rvOf(rv: string | undefined, sep = ', '): string {
  if (rv === undefined || rv === '') return '';
  return sep === ' ' ? ` (resourceVersion ${rv})` : `, resourceVersion ${rv}`;
}

/** The address a pod query's label spells (1-2-3-4 → 1.2.3.4, IPv6 with dashes for colons), or undefined. */
function podIp(label: string): string | undefined {
  if (/^\d{1,3}(-\d{1,3}){3}$/.test(label)) return label.replace(/-/g, '.');
  if (label.includes('--') || /^[0-9a-f-]+$/.test(label)) {
    const v6 = label.replace(/-/g, ':');
    return v6.includes(':') ? v6 : undefined;
  }
  return undefined;
}
