// Slim records: only the fields DNS answers need, cut from API objects as they arrive (CoreDNS's
// object/ package). The store keeps these, never the API's full objects. Shared contract between
// the sources (watch/client.ts for the API, manifests.ts for YAML files) and store.ts.

export interface SlimPort {
  /** Port name ('' when unnamed: no SRV record). */
  readonly name: string;
  /** 'tcp' | 'udp' | 'sctp' (lower case). */
  readonly protocol: string;
  readonly port: number;
}

export interface SlimService {
  readonly namespace: string;
  readonly name: string;
  /** metadata.resourceVersion as the source gave it ('' when none: manifests seldom have one), for explained queries. */
  readonly rv?: string;
  /** 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName'. */
  readonly type: string;
  /** ClusterIPs (spec.clusterIPs, else [spec.clusterIP]); empty for headless ("None"). */
  readonly clusterIPs: readonly string[];
  readonly headless: boolean;
  /** spec.externalName for ExternalName services. */
  readonly externalName: string;
  readonly ports: readonly SlimPort[];
  readonly publishNotReadyAddresses: boolean;
  /** Labels, for the `labels` selector. */
  readonly labels: Readonly<Record<string, string>>;
  /** spec.selector is non-empty (metrics: headless_with_selector vs headless_without_selector). */
  readonly hasSelector?: boolean;
  /**
   * spec.externalIPs, then status.loadBalancer.ingress (each entry's ip, else its hostname: lower
   * case, no trailing dot), as CoreDNS's object.Service.ExternalIPs; the k8s_external plugin serves them.
   */
  readonly externalIPs?: readonly string[];
}

export interface SlimEndpoint {
  /** Addresses of this endpoint (usually one). */
  readonly addresses: readonly string[];
  /** endpoints[].hostname, or ''. */
  readonly hostname: string;
  /** targetRef.name when targetRef.kind is Pod, or ''. */
  readonly podName: string;
  readonly nodeName: string;
  /** conditions.ready (nil counts as ready). */
  readonly ready: boolean;
}

export interface SlimEndpointSlice {
  readonly namespace: string;
  readonly name: string;
  /** metadata.resourceVersion as the source gave it ('' when none: manifests seldom have one), for explained queries. */
  readonly rv?: string;
  /** Label kubernetes.io/service-name. */
  readonly service: string;
  /** 'IPv4' | 'IPv6' | 'FQDN'. */
  readonly addressType: string;
  readonly ports: readonly SlimPort[];
  readonly endpoints: readonly SlimEndpoint[];
  readonly labels: Readonly<Record<string, string>>;
  /** Annotation endpoints.kubernetes.io/last-change-trigger-time, in ms since the epoch (programming-latency metric). */
  readonly lastChangeTriggerTime?: number;
}

export interface SlimPod {
  readonly namespace: string;
  readonly name: string;
  /** metadata.resourceVersion as the source gave it ('' when none: manifests seldom have one), for explained queries. */
  readonly rv?: string;
  readonly ips: readonly string[];
}

export interface SlimNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** What a source feeds the store. Each kind is replaced whole on (re)list. */
export interface ObjectSink {
  upsertService(s: SlimService): void;
  deleteService(namespace: string, name: string): void;
  upsertSlice(s: SlimEndpointSlice): void;
  deleteSlice(namespace: string, name: string): void;
  upsertPod(p: SlimPod): void;
  deletePod(namespace: string, name: string): void;
  upsertNamespace(n: SlimNamespace): void;
  deleteNamespace(name: string): void;
  /** A full list of one kind arrived: anything of that kind not in it is gone. */
  replaceAll(kind: 'services' | 'endpointslices' | 'pods' | 'namespaces', items: readonly unknown[]): void;
  /**
   * Optional: a compact form of a slim record for replaceAll/upsert (a source holding a whole list
   * until it is complete keeps these instead of the slim records).
   */
  prepare?(kind: Kind, item: unknown): unknown;
  /** Called after a batch of changes has been applied (rebuild precomputed answers lazily). */
  commit(): void;
}

/** A source of objects: the API (informers) or manifest files. */
export interface ObjectSource {
  /** Start feeding the sink; resolves when the first full list of every watched kind was applied. */
  start(sink: ObjectSink): Promise<void>;
  /** True after the first full sync. */
  hasSynced(): boolean;
  stop(): Promise<void>;
}

export type Kind = 'services' | 'endpointslices' | 'pods' | 'namespaces';
