// What the answering code reads of the cluster: answer.ts, kubernetes.ts (explain too), xfr.ts
// and external.ts (k8s_external's side) use only this interface, never the store that a source
// writes. ClusterStore implements it from its own maps; bytes.ts implements it from an encoded
// copy (records in an ArrayBuffer, an index in typed arrays) decoded on demand.
import type { ServiceView } from './answer.js';
import type { SlimPod, SlimPort, SlimService } from './watch/objects.js';

/**
 * An EndpointSlice as the store keeps it: parallel arrays, one entry per address (~60 bytes per
 * endpoint instead of ~240 for the slim objects, which are dropped). Hostnames and pod names are
 * kept only when some endpoint has one (pod names only with endpoint_pod_names).
 */
export interface PackedSlice {
  readonly ports: readonly SlimPort[];
  readonly ips: readonly string[];
  readonly hostnames: readonly string[] | undefined;
  readonly podNames: readonly string[] | undefined;
  /** Indexes of endpoints that are not ready (usually none). */
  readonly notReady: readonly number[] | undefined;
  /** The slice's resourceVersion ('' when not known). */
  readonly rv: string;
}

/** One ready (or published) address of a service, merged across its slices (built on first use). */
export interface Endpoint {
  readonly ip: string;
  /** endpoints[].hostname, or ''. */
  readonly hostname: string;
  /** The pod's name (kept only with endpoint_pod_names), or ''. */
  readonly podName: string;
  /** The ports of the slice the address came from. */
  readonly ports: readonly SlimPort[];
  readonly svc: ServiceRecord;
}

/** A Service (or the slices of one not seen yet) as answers read it. */
export interface ServiceRecord {
  readonly name: string;
  readonly namespace: string;
  /** The Service; undefined while only its EndpointSlices are known. */
  readonly svc: SlimService | undefined;
  /** Its EndpointSlices by name (explained queries list them). */
  readonly slices: ReadonlyMap<string, PackedSlice> | undefined;
  /** Served endpoints (ready, or all with publishNotReadyAddresses), merged over slices, deduplicated by address. */
  readonly eps: readonly Endpoint[];
  /** True for an ExternalName service. */
  readonly isExternal: boolean;
  /** Precomputed answers, one per zone, built and read by answer.ts; dropped with the record on change. */
  views: ServiceView[] | undefined;
  /** The DNS label of one of its endpoints. */
  label(e: Endpoint): string;
  /** Its endpoints with this label. */
  endpointsNamed(label: string): readonly Endpoint[] | undefined;
  /** The served endpoint with this address. */
  endpointWithIp(ip: string): Endpoint | undefined;
}

/** The cluster as the answering code reads it. */
export interface ClusterView {
  /** The source's first full sync is done (before: SERVFAIL instead of NXDOMAIN). */
  readonly synced: boolean;
  /** Unix seconds of the last DNS-relevant change (the SOA serial). */
  readonly modified: number;
  /** Unix seconds of the last change to a Service with external addresses (k8s_external's SOA serial). */
  readonly modifiedExternal: number;
  /** Incremented with every DNS-relevant change (caches of answers compare it). */
  readonly generation: number;
  service(name: string, namespace: string): ServiceRecord | undefined;
  /** The namespace exists and is exposed (namespaces / namespace_labels). */
  namespaceExposed(ns: string): boolean;
  /** Services (by ClusterIP) or endpoints holding this IP; ClusterIP entries come first. */
  byIp(ip: string): readonly (ServiceRecord | Endpoint)[];
  /** Services that have this IP among their external addresses. */
  externalByIp(ip: string): readonly ServiceRecord[];
  /** Pods with this IP (pods verified; none otherwise). */
  podsWithIp(ip: string): readonly SlimPod[];
  /** Every Service (ExternalName included), in no particular order (zone transfers walk them). */
  serviceEntries(): readonly ServiceRecord[];
}

/** A Service (not one of its endpoints) among what byIp() returns. */
export const isServiceRecord = (v: ServiceRecord | Endpoint): v is ServiceRecord => (v as Partial<Endpoint>).ip === undefined;

/**
 * What holds `ip` among the services indexed under it (the reverse index's entry), as byIp answers:
 * the services with it as a ClusterIP first, then their endpoints with it. The store and the copy
 * as bytes both answer with this.
 */
export function holdersOf(list: readonly ServiceRecord[], ip: string): (ServiceRecord | Endpoint)[] {
  const out: (ServiceRecord | Endpoint)[] = [];
  for (const e of list) if (e.svc !== undefined && e.svc.clusterIPs.includes(ip)) out.push(e);
  for (const e of list) {
    const ep = e.endpointWithIp(ip);
    if (ep !== undefined) out.push(ep);
  }
  return out;
}
