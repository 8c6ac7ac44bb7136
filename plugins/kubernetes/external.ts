// The kubernetes plugin's side of k8s_external (CoreDNS's Externaler: External, ExternalAddress,
// ExternalSerial): what a name in an external zone stands for, read from the store. Pure, no I/O.
// <svc>.<ns>.<zone> → the Service's external addresses (spec.externalIPs, load-balancer ingress),
// once per port; with `headless`, a headless Service (or an endpoint name) → its endpoints.
import net from 'node:net';
import { QTYPE, RCODE } from '../../src/plugin/api.js';
import { reverseIp } from './names.js';
import { isServiceRecord, type ClusterView } from './view.js';
import type { SlimPort } from './watch/objects.js';

/** One address of a name in the external zone, with a port (-1: the object has no ports). */
export interface ExternalRecord {
  /** An IP address, a host name (load-balancer ingress: answered as a CNAME) or, for PTR, `<svc>.<ns>`. */
  readonly host: string;
  readonly port: number;
  /** The name the SRV target is built from, relative to the zone: `<svc>.<ns>` or `<endpoint>.<svc>.<ns>`. */
  readonly owner: string;
}

export interface ExternalResult {
  readonly records: readonly ExternalRecord[];
  /** NOERROR or NXDOMAIN: what an empty `records` means. */
  readonly rcode: number;
}

/** CoreDNS's sentinel for an object without ports: its addresses are answered, no SRV. */
const NO_PORTS: readonly SlimPort[] = [{ name: '', protocol: '', port: -1 }];

const under = (s: string): string => (s.startsWith('_') ? s.slice(1) : s);

/** An empty port or protocol in the query matches any. */
const matches = (port: string, protocol: string, p: SlimPort): boolean => (port === '' || port === p.name) && (protocol === '' || protocol === p.protocol);

const NX: ExternalResult = { records: [], rcode: RCODE.NXDOMAIN };
const NODATA: ExternalResult = { records: [], rcode: RCODE.NOERROR };

/** What `name` (lower case, fully qualified, strictly under `zone`) stands for in the external zone. */
export function externalLookup(store: ClusterView, name: string, zone: string, qtype: number, headless: boolean): ExternalResult {
  if (qtype === QTYPE.PTR) {
    const ip = reverseIp(name);
    if (ip !== undefined) {
      const svcs = store.externalByIp(ip);
      if (svcs.length === 0) return NX;
      return { records: svcs.map((e) => ({ host: `${e.name}.${e.namespace}`, port: 0, owner: '' })), rcode: RCODE.NOERROR };
    }
    // not a reverse name: NXDOMAIN or NODATA as for any other type, below
  }
  const base = zone === '.' ? name.slice(0, -1) : name.slice(0, name.length - zone.length - 1);
  if (base === '') return { records: [], rcode: RCODE.SERVFAIL };
  const segs = base.split('.');
  const ns = segs[segs.length - 1]!;
  if (!store.namespaceExposed(ns)) return NX;
  if (segs.length === 1) return NODATA;
  const svcName = segs[segs.length - 2]!;
  let endpoint = '';
  let port = '';
  let protocol = '';
  if (segs.length === 3) endpoint = under(segs[0]!);
  else if (segs.length === 4) {
    port = under(segs[0]!);
    protocol = under(segs[1]!);
  } else if (segs.length > 4) return NX;
  const e = store.service(svcName, ns);
  const svc = e?.svc;
  if (e === undefined || svc === undefined) return NX;
  const records: ExternalRecord[] = [];
  const external = svc.externalIPs ?? [];
  if (headless && external.length === 0 && (svc.headless || endpoint !== '')) {
    // the endpoints of a headless Service, or the one an endpoint name asks for
    for (const ep of e.eps) {
      const label = e.label(ep);
      if (endpoint !== '' && label !== endpoint) continue;
      for (const p of ep.ports.length > 0 ? ep.ports : NO_PORTS) {
        if (matches(port, protocol, p)) records.push({ host: ep.ip, port: p.port, owner: `${label}.${svcName}.${ns}` });
      }
    }
  } else if (endpoint === '') {
    for (const x of external) {
      for (const p of svc.ports.length > 0 ? svc.ports : NO_PORTS) {
        if (matches(port, protocol, p)) records.push({ host: x, port: p.port, owner: `${svcName}.${ns}` });
      }
    }
  }
  if (records.length === 0) return NX;
  // a PTR question for a name that is no reverse name: the name exists, no PTR
  if (qtype === QTYPE.PTR) return NODATA;
  return { records, rcode: RCODE.NOERROR };
}

/**
 * The addresses of the name server of the external zone (ns1.dns.<zone>): the external addresses
 * of the Services whose endpoints hold one of `localIps` (the kube-dns Service), with `headless`
 * a headless one's endpoint addresses; when no endpoint holds our address, `localIps` themselves
 * (CoreDNS's nsAddrs with external set).
 */
export function externalNsIps(store: ClusterView, localIps: readonly string[], headless: boolean): string[] {
  const out = new Set<string>();
  let found = false;
  for (const ip of localIps) {
    for (const v of store.byIp(ip)) {
      if (isServiceRecord(v)) continue;
      found = true;
      const e = v.svc;
      const s = e.svc;
      if (s === undefined) continue;
      if (headless && s.headless) for (const ep of e.eps) out.add(ep.ip);
      else for (const x of s.externalIPs ?? []) if (net.isIP(x) !== 0) out.add(x);
    }
  }
  return found ? [...out] : [...localIps];
}
