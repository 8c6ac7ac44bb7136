// Zone transfers out of the cluster zone (CoreDNS's kubernetes Transfer): the SOA, the NS records
// and their addresses, then the records of every Service of an exposed namespace, Services in
// name order: a ClusterIP Service's A/AAAA, an SRV at its name and one at _port._proto for each
// named port; a headless Service's endpoints, each as an address of the Service, an address of its
// own name and an SRV at _port._proto per named port; an ExternalName Service's CNAME. Pods and
// PTR records are not listed, as in CoreDNS. The serial is the store's last change. CoreDNS sends
// no NOTIFY for these zones: neither does typedns (a secondary polls at the SOA refresh).
import type { Request, RR } from '../../src/plugin/api.js';
import type { Transferer, XfrZone } from '../transfer/source.js';
import type { KubernetesConfig } from './setup.js';
import type { ClusterView, Endpoint, ServiceRecord } from './view.js';
import { addressRecord, externalTarget, nsAddresses, nsRecords, serverAddresses, serviceOwner, soaRecord, srvWeight } from './answer.js';
import { isReverseZone } from './names.js';
import { fitsWire } from './valid.js';

/** One Service as it was when the transfer began (later changes make new objects, these stay). */
interface Snap {
  readonly e: ServiceRecord;
  readonly svc: NonNullable<ServiceRecord['svc']>;
  readonly eps: readonly Endpoint[];
}

function* serviceRecords(s: Snap, zone: string, ttl: number): Generator<RR> {
  const { e, svc } = s;
  const base = serviceOwner(e, zone);
  if (!fitsWire(base)) return;
  if (svc.type === 'ExternalName') {
    const t = externalTarget(svc);
    if (t !== '') yield { name: base, type: 'CNAME', ttl, data: t };
    return;
  }
  if (!svc.headless && svc.clusterIPs.length > 0) {
    for (const ip of svc.clusterIPs) yield addressRecord(base, ip, ttl);
    for (const p of svc.ports) {
      // an SRV at the Service's own name for every port (peer-finder), and at _port._proto for named ones
      yield { name: base, type: 'SRV', ttl, data: { priority: 0, weight: 100, port: p.port, target: base } };
      if (p.name === '') continue;
      yield { name: `_${p.name}._${p.protocol}.${base}`, type: 'SRV', ttl, data: { priority: 0, weight: 100, port: p.port, target: base } };
    }
    return;
  }
  // Weighed over all of the Service's endpoints, as its SRV answers are (CoreDNS: per EndpointSlice).
  const weight = srvWeight(s.eps.length);
  for (const ep of s.eps) {
    const own = `${e.label(ep)}.${base}`;
    yield addressRecord(base, ep.ip, ttl);
    if (!fitsWire(own)) continue;
    yield addressRecord(own, ep.ip, ttl);
    for (const p of ep.ports) {
      if (p.name === '') continue;
      yield { name: `_${p.name}._${p.protocol}.${base}`, type: 'SRV', ttl, data: { priority: 0, weight, port: p.port, target: own } };
    }
  }
}

/** The zone's copy at this moment; records are made as the transfer pulls them. */
function snapshot(cfg: KubernetesConfig, store: ClusterView, zone: string, localIps: readonly string[]): XfrZone {
  const ttl = cfg.ttl;
  const serial = store.modified >>> 0;
  const soa = soaRecord(zone, ttl, serial);
  const ns = nsAddresses(store, localIps);
  const snaps: Snap[] = [];
  for (const e of store.serviceEntries()) {
    if (!store.namespaceExposed(e.namespace)) continue;
    snaps.push({ e, svc: e.svc!, eps: e.svc!.type === 'ExternalName' ? [] : e.eps });
  }
  // CoreDNS sorts by name only; the namespace breaks ties so that the order is always the same
  snaps.sort((a, b) => (a.e.name < b.e.name ? -1 : a.e.name > b.e.name ? 1 : a.e.namespace < b.e.namespace ? -1 : a.e.namespace > b.e.namespace ? 1 : 0));
  return {
    origin: zone,
    soa,
    serial,
    *records() {
      yield soa;
      const { answers, extra } = nsRecords(soa.name, zone, ns, ttl);
      yield* answers;
      yield* extra;
      for (const s of snaps) yield* serviceRecords(s, zone, ttl);
    },
  };
}

/**
 * The kubernetes plugin as a source of zone transfers: its forward zones (reverse zones are not
 * transferred), once synced with the API (before that: SERVFAIL). `localIps` are the addresses
 * named as name servers when the request's own address is unspecified.
 */
export function kubernetesTransferer(cfg: KubernetesConfig, store: ClusterView, localIps: () => readonly string[]): Transferer {
  const zones = new Set(cfg.zones.filter((z) => !isReverseZone(z)));
  return {
    xfrZone(zone: string, req?: Request) {
      if (!zones.has(zone)) return undefined;
      if (!store.synced) return null;
      return snapshot(cfg, store, zone, req === undefined ? localIps() : serverAddresses(req, localIps));
    },
    // no NOTIFY for cluster zones, as in CoreDNS
    xfrZones: () => [],
    onXfrChange() {},
  };
}
