// The kubernetes plugin's serve(): zone check → parse the name → answer from the store's
// precomputed records, synchronously. NXDOMAIN and NODATA carry the zone's SOA and are
// authoritative; NXDOMAIN falls through when configured, and becomes SERVFAIL until the first sync
// (CoreDNS plugin/kubernetes/handler.go).
import { QTYPE, RCODE, Zones, negative, reply, type Next, type RR, type Rcode, type Request, type ResponseWriter } from '../../src/plugin/api.js';
import type { KubernetesConfig } from './setup.js';
import type { Store } from './store.js';
import { parseName, podLabelIp, type RecordRequest } from './names.js';
import { MISSING, addressRecord, endpointRecords, nsAddresses, portRecords, ptrTargets, serviceRecords, soaRecord, type AnswerOptions, type NameRecords } from './answer.js';
import { isV6 } from './ip.js';
import dnsPacket from 'dns-packet';
import type { Message } from '../../src/plugin/api.js';

/** A writer that keeps what the rest of the chain answers for an ExternalName target. */
class Capture implements ResponseWriter {
  msg: Message | undefined;
  written = false;
  rcode = -1;
  length = 0;
  flags = 0;
  answers = 0;
  write(res: Message | Uint8Array): void {
    if (this.written) return;
    this.written = true;
    this.msg = res instanceof Uint8Array ? dnsPacket.decode(Buffer.from(res.buffer, res.byteOffset, res.byteLength)) : res;
    this.rcode = (this.msg.flags ?? 0) & 0xf;
    this.answers = this.msg.answers?.length ?? 0;
  }
}

/** Schema version of the Kubernetes DNS specification served (dns-version TXT). */
export const DNS_SCHEMA_VERSION = '1.1.0';

const NX = 1;
const NODATA = 0;
interface Found {
  answers: RR[];
  extra: RR[];
  /** An ExternalName target outside our zones: resolve it through the rest of the chain. */
  upstream?: string;
}
type Outcome = Found | typeof NX | typeof NODATA;

const MAX_CHASE = 8;

export interface HandlerDeps {
  /** The server's own addresses when the query's local address is unspecified (0.0.0.0 / ::). */
  readonly interfaceIps: () => readonly string[];
  /** Plugins follow this one in the chain: resolve ExternalName targets outside our zones through them. */
  readonly upstream?: boolean;
}

export class KubernetesHandler {
  private readonly zones: Zones;
  private readonly o: AnswerOptions;

  constructor(
    private readonly cfg: KubernetesConfig,
    readonly store: Store,
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
    if (out === NX) {
      if (this.cfg.fall.through(req.name)) return next(req, w);
      const soa = soaRecord(zone, this.cfg.ttl, this.store.modified);
      if (!this.store.synced) {
        w.write(reply(req, [], { rcode: RCODE.SERVFAIL, aa: true, authorities: [soa] }));
        return RCODE.SERVFAIL;
      }
      w.write(negative(req, soa, true));
      return RCODE.NXDOMAIN;
    }
    if (out === NODATA || out.answers.length === 0) {
      w.write(negative(req, soaRecord(zone, this.cfg.ttl, this.store.modified), false));
      return RCODE.NOERROR;
    }
    let answers = out.answers;
    if (req.qname !== req.name) answers = fixCase(answers, strip(req.name), strip(req.qname));
    if (out.upstream !== undefined) return this.resolveUpstream(req, w, next, answers, out.upstream);
    w.write(reply(req, answers, { aa: true, additionals: out.extra }));
    return RCODE.NOERROR;
  }

  /**
   * ExternalName → CNAME to a name outside our zones: ask the plugins after this one (forward)
   * for the target, as CoreDNS asks its upstream, and append what they answer after the CNAME.
   * Whatever happens there, the CNAME is answered.
   */
  private async resolveUpstream(req: Request, w: ResponseWriter, next: Next, answers: RR[], target: string): Promise<Rcode> {
    const cap = new Capture();
    try {
      await next(req.withQuestion(`${target}.`, req.qtype), cap);
    } catch {
      // the CNAME alone
    }
    const more = cap.msg?.answers ?? [];
    const all = more.length > 0 ? [...answers, ...more.filter((a) => a.type === 'CNAME' || a.type === 'A' || a.type === 'AAAA')] : answers;
    w.write(reply(req, all, { aa: true }));
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
          const ns = `ns.dns.${zone === '.' ? '' : zone}`.replace(/\.$/, '');
          return {
            answers: [{ name: strip(name), type: 'NS', ttl: this.cfg.ttl, data: ns }],
            extra: this.nsIps(req).map((ip) => addressRecord(ns, ip, this.cfg.ttl)),
          };
        }
        return NODATA;
      case 'version':
        if (qt !== QTYPE.TXT) return NX;
        return { answers: [{ name: strip(name), type: 'TXT', ttl: 28800, data: [DNS_SCHEMA_VERSION] }], extra: [] };
      case 'nsname': {
        if (qt !== QTYPE.A && qt !== QTYPE.AAAA) return NODATA;
        const want6 = qt === QTYPE.AAAA;
        const owner = strip(name);
        return { answers: this.nsIps(req).filter((ip) => isV6(ip) === want6).map((ip) => addressRecord(owner, ip, this.cfg.ttl)), extra: [] };
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
        return { answers: targets.map((t) => ({ name: owner, type: 'PTR', ttl: this.cfg.ttl, data: strip(t) })), extra: [] };
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
    if (qt === QTYPE.SRV) {
      const s = recs.srv();
      return s.srv.length === 0 ? NODATA : { answers: s.srv, extra: s.extra };
    }
    if (recs.cname !== undefined) {
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
    if (qt === QTYPE.A) return recs.a.length === 0 ? NODATA : { answers: recs.a as RR[], extra: [] };
    if (qt === QTYPE.AAAA) return recs.aaaa.length === 0 ? NODATA : { answers: recs.aaaa as RR[], extra: [] };
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

  private nsIps(req: Request): readonly string[] {
    let ip = req.local.ip;
    if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    if (ip === '' || ip === '0.0.0.0' || ip === '::') return nsAddresses(this.store, this.deps.interfaceIps());
    return nsAddresses(this.store, [ip]);
  }
}

const strip = (n: string): string => (n === '.' ? '.' : n.endsWith('.') ? n.slice(0, -1) : n);

/** Copies of the records owned by `lower`, owned by `asAsked` instead (the query's case). */
function fixCase(rrs: RR[], lower: string, asAsked: string): RR[] {
  const out = new Array<RR>(rrs.length);
  for (let i = 0; i < rrs.length; i++) {
    const a = rrs[i]!;
    out[i] = a.name === lower ? { ...a, name: asAsked } : a;
  }
  return out;
}
