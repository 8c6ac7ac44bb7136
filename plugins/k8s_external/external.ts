// The k8s_external handler: names of a public zone answered from the kubernetes plugin's data.
// <svc>.<ns>.<zone> → A/AAAA of the Service's external addresses (externalIPs, load-balancer
// ingress IPs; an ingress host name → CNAME, resolved through the server), SRV per port; with
// `headless`, headless Services and endpoint names → endpoint addresses. The apex has SOA and NS
// (ns1.<apex>.<zone>, whose addresses are the kube-dns Service's external ones); every negative
// answer carries the SOA; NXDOMAIN falls through when configured.
import net from 'node:net';
import { FLAG, QTYPE, RCODE, Zones, reply, type Fall, type Message, type Next, type RR, type Rcode, type Request, type ResponseWriter } from '../../src/plugin/api.js';
import type { K8sExternalConfig } from './setup.js';

/** One address of a name in the external zone (the kubernetes plugin's ExternalRecord). */
export interface ExternalRecord {
  /** IP, host name (CNAME), or for PTR `<svc>.<ns>`. */
  readonly host: string;
  /** -1: the object has no ports (no SRV). */
  readonly port: number;
  /** The SRV target relative to the zone: `<svc>.<ns>` or `<endpoint>.<svc>.<ns>`. */
  readonly owner: string;
}

/** What a plugin must offer k8s_external (CoreDNS's Externaler); the kubernetes plugin does. */
export interface Externaler {
  /** What `name` (lower case FQDN strictly under `zone`) stands for; an empty list with NOERROR or NXDOMAIN. */
  external(name: string, zone: string, qtype: number, headless: boolean): { records: readonly ExternalRecord[]; rcode: number };
  /** The addresses of the zone's name server for a query that came in on `req`'s local address. */
  externalAddress(req: Request, headless: boolean): readonly string[];
  /** The zone's SOA serial. */
  externalSerial(zone: string): number;
}

export const isExternaler = (p: unknown): p is Externaler => {
  const x = p as Partial<Externaler> | undefined;
  return typeof x?.external === 'function' && typeof x.externalAddress === 'function' && typeof x.externalSerial === 'function';
};

/** Resolve a name through the whole server (CoreDNS's upstream.Lookup). */
export type Lookup = (req: Request, name: string, qtype: number) => Promise<Message>;

const strip = (n: string): string => (n === '.' ? '.' : n.endsWith('.') ? n.slice(0, -1) : n);
/** `label` under `zone` (FQDN), without the trailing dot. */
const join = (label: string, zone: string): string => (zone === '.' ? label : `${label}.${zone.slice(0, -1)}`);

export class K8sExternal {
  private readonly zones: Zones;
  private readonly fall: Fall;
  /** Set on startup, once every plugin of the block is set up. */
  ext: Externaler | undefined;

  constructor(
    private readonly cfg: K8sExternalConfig,
    private readonly lookup: Lookup,
  ) {
    this.zones = Zones.from(cfg.zones, cfg.zones);
    this.fall = cfg.fall;
  }

  serve(req: Request, w: ResponseWriter, next: Next): Rcode | Promise<Rcode> {
    const zone = this.zones.match(req.name);
    const ext = this.ext;
    if (zone === undefined || ext === undefined) return next(req, w);
    const name = req.name;
    if (name === zone) return this.apex(req, w, zone, ext);
    const apexName = `${this.cfg.apex}.${zone === '.' ? '' : zone}`;
    if (name === apexName || name.endsWith(`.${apexName}`)) return this.subApex(req, w, zone, ext, name.slice(0, name.length - apexName.length));
    const qt = req.qtype;
    const r = ext.external(name, zone, qt, this.cfg.headless);
    if (r.records.length === 0) {
      if (r.rcode === RCODE.NXDOMAIN && this.fall.through(name)) return next(req, w);
      return this.negative(req, w, zone, ext, r.rcode);
    }
    switch (qt) {
      case QTYPE.A:
      case QTYPE.AAAA:
        return this.address(req, w, zone, ext, r.records, qt === QTYPE.AAAA ? 6 : 4);
      case QTYPE.SRV:
        return this.srv(req, w, zone, ext, r.records);
      case QTYPE.PTR: {
        const seen = new Set<string>();
        const answers: RR[] = [];
        for (const x of r.records) {
          if (seen.has(x.host)) continue;
          seen.add(x.host);
          answers.push({ name: strip(req.qname), type: 'PTR', ttl: this.cfg.ttl, data: join(x.host, this.zones.list[0]!) } as RR);
        }
        w.write(reply(req, answers, { aa: true }));
        return RCODE.NOERROR;
      }
      default:
        return this.negative(req, w, zone, ext, RCODE.NOERROR);
    }
  }

  private soa(zone: string, ext: Externaler): RR {
    const ttl = this.cfg.ttl;
    const apex = join(this.cfg.apex, zone);
    return {
      name: strip(zone),
      type: 'SOA',
      ttl,
      data: { mname: `ns1.${apex}`, rname: `hostmaster.${apex}`, serial: ext.externalSerial(zone) >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
    } as RR;
  }

  /** NXDOMAIN or NODATA (or another rcode) with the zone's SOA, authoritative. */
  private negative(req: Request, w: ResponseWriter, zone: string, ext: Externaler, rcode: number): Rcode {
    w.write(reply(req, [], { rcode, aa: true, authorities: [this.soa(zone, ext)] }));
    return rcode;
  }

  /** The name server's address records, owned by `owner`. */
  private nsAddresses(req: Request, ext: Externaler, owner: string, family: 0 | 4 | 6): RR[] {
    const out: RR[] = [];
    for (const ip of ext.externalAddress(req, this.cfg.headless)) {
      const f = net.isIP(ip);
      if (f === 0 || (family !== 0 && f !== family)) continue;
      out.push({ name: owner, type: f === 4 ? 'A' : 'AAAA', ttl: this.cfg.ttl, data: ip } as RR);
    }
    return out;
  }

  private apex(req: Request, w: ResponseWriter, zone: string, ext: Externaler): Rcode {
    if (req.qtype === QTYPE.SOA) {
      w.write(reply(req, [{ ...this.soa(zone, ext), name: strip(req.qname) } as RR], { aa: true }));
      return RCODE.NOERROR;
    }
    if (req.qtype === QTYPE.NS) {
      const ns = `ns1.${join(this.cfg.apex, zone)}`;
      const answers = [{ name: strip(req.qname), type: 'NS', ttl: this.cfg.ttl, data: ns } as RR];
      w.write(reply(req, answers, { aa: true, additionals: this.nsAddresses(req, ext, ns, 0) }));
      return RCODE.NOERROR;
    }
    return this.negative(req, w, zone, ext, RCODE.NOERROR);
  }

  /** Names under `<apex>.<zone>`: the apex label itself is empty (NODATA), ns1 has the addresses, the rest do not exist. */
  private subApex(req: Request, w: ResponseWriter, zone: string, ext: Externaler, prefix: string): Rcode {
    if (prefix === '') return this.negative(req, w, zone, ext, RCODE.NOERROR);
    if (prefix !== 'ns1.') return this.negative(req, w, zone, ext, RCODE.NXDOMAIN);
    const qt = req.qtype;
    const answers = qt === QTYPE.A || qt === QTYPE.AAAA ? this.nsAddresses(req, ext, strip(req.qname), qt === QTYPE.A ? 4 : 6) : [];
    if (answers.length === 0) return this.negative(req, w, zone, ext, RCODE.NOERROR);
    w.write(reply(req, answers, { aa: true }));
    return RCODE.NOERROR;
  }

  /** A or AAAA: each address of the asked family once; an ingress host name → CNAME plus its addresses, asked of the server. */
  private async address(req: Request, w: ResponseWriter, zone: string, ext: Externaler, records: readonly ExternalRecord[], family: 4 | 6): Promise<Rcode> {
    const owner = strip(req.qname);
    const answers: RR[] = [];
    const seen = new Set<string>();
    let tc = false;
    for (const x of records) {
      if (seen.has(x.host)) continue;
      seen.add(x.host);
      const f = net.isIP(x.host);
      if (f === family) answers.push({ name: owner, type: f === 4 ? 'A' : 'AAAA', ttl: this.cfg.ttl, data: x.host } as RR);
      else if (f === 0) {
        answers.push({ name: owner, type: 'CNAME', ttl: this.cfg.ttl, data: x.host } as RR);
        const m = await this.resolve(req, x.host, req.qtype);
        if (m !== undefined) {
          answers.push(...(m.answers ?? []));
          if (((m.flags ?? 0) & FLAG.TC) !== 0) tc = true;
        }
      }
    }
    if (answers.length === 0) return this.negative(req, w, zone, ext, RCODE.NOERROR);
    const m = reply(req, answers, { aa: true });
    if (tc) m.flags = (m.flags ?? 0) | FLAG.TC;
    w.write(m);
    return RCODE.NOERROR;
  }

  /** SRV: one per target and port, the weight shared out as CoreDNS does; the targets' addresses as additionals. */
  private async srv(req: Request, w: ResponseWriter, zone: string, ext: Externaler, records: readonly ExternalRecord[]): Promise<Rcode> {
    const owner = strip(req.qname);
    const ttl = this.cfg.ttl;
    // every record has priority 0 and weight 100: each SRV gets 100 / n of the total (at least 1)
    const weight = Math.max(1, Math.floor(100 / records.length));
    const answers: RR[] = [];
    const extra: RR[] = [];
    const seenSrv = new Set<string>();
    const seenAddr = new Set<string>();
    for (const x of records) {
      if (x.port === -1) continue;
      const f = net.isIP(x.host);
      const target = f === 0 ? x.host : join(x.owner, zone);
      const key = `${target} ${x.port}`;
      if (!seenSrv.has(key)) {
        seenSrv.add(key);
        answers.push({ name: owner, type: 'SRV', ttl, data: { priority: 0, weight, port: x.port, target } } as RR);
      }
      const akey = `${target} ${x.host}`;
      if (seenAddr.has(akey)) continue;
      seenAddr.add(akey);
      if (f !== 0) extra.push({ name: target, type: f === 4 ? 'A' : 'AAAA', ttl, data: x.host } as RR);
      else {
        for (const qt of [QTYPE.A, QTYPE.AAAA]) {
          const m = await this.resolve(req, x.host, qt);
          if (m !== undefined) extra.push(...(m.answers ?? []));
        }
      }
    }
    if (answers.length === 0) return this.negative(req, w, zone, ext, RCODE.NOERROR);
    w.write(reply(req, answers, { aa: true, additionals: extra }));
    return RCODE.NOERROR;
  }

  /** A host name's records of `qtype`, asked of the whole server; undefined when that fails. */
  private async resolve(req: Request, host: string, qtype: number): Promise<Message | undefined> {
    try {
      const m = await this.lookup(req, `${host}.`, qtype);
      return ((m.flags ?? 0) & 0xf) === RCODE.NOERROR ? m : undefined;
    } catch {
      return undefined;
    }
  }
}
