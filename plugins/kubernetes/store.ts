// The kubernetes plugin's data: slim objects from a source (API watch or manifests), indexed for
// answering without scans. Writes arrive through ObjectSink; commit() (also scheduled as a
// microtask after any write) merges each changed service's EndpointSlices, updates the reverse
// index and the `modified` serial, and drops the service's precomputed answers, which answer.ts
// rebuilds on the first query that needs them.
import net from 'node:net';
import type { ObjectSink, SlimEndpointSlice, SlimNamespace, SlimPod, SlimPort, SlimService } from './watch/objects.js';
import { selectorMatches, type Selector } from './selector.js';
import { dashedIp } from './ip.js';
import type { ServiceView } from './answer.js';
import { holdersOf, type ClusterView, type Endpoint, type PackedSlice, type ServiceRecord } from './view.js';
import { badHostName, badIp, badLabel, badServiceName, isLabel } from './valid.js';

export type ServiceKind = 'cluster_ip' | 'headless_with_selector' | 'headless_without_selector';

export interface StoreOptions {
  /** Exposed namespaces (empty = all). Objects elsewhere are not even kept. */
  namespaces?: readonly string[];
  /** namespace_labels: a namespace is exposed only when its labels match. */
  namespaceLabels?: Selector;
  /** endpoint_pod_names: an endpoint without hostname is named after its pod. */
  endpointPodNames?: boolean;
  /** noendpoints: EndpointSlices are ignored. */
  noEndpoints?: boolean;
  /** Keep pods (pods verified). */
  watchPods?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Called with the programming latency of a changed EndpointSlice (seconds), after the first sync. */
  onProgrammed?: (kind: ServiceKind, seconds: number) => void;
  /** Told once per object (and problem) when an object or an address is skipped as invalid. */
  warn?: (msg: string) => void;
}

/** The DNS label of an endpoint: hostname, else pod name (endpoint_pod_names, < 64 chars), else dashed IP. */
export function endpointLabel(e: Endpoint, podNames: boolean): string {
  if (e.hostname !== '') return e.hostname;
  if (podNames && e.podName !== '' && isLabel(e.podName.toLowerCase())) return e.podName.toLowerCase();
  return dashedIp(e.ip);
}

/** A slice as ClusterStore.prepare() returns it: endpoints dropped, already packed. */
interface PreparedSlice extends SlimEndpointSlice {
  readonly packed: PackedSlice;
}

function packSlice(s: SlimEndpointSlice, keepPodNames: boolean): PackedSlice {
  const ready = (s as Partial<PreparedSlice>).packed;
  if (ready !== undefined) return ready;
  let n = 0;
  let hosts = false;
  let pods = false;
  let notReady: number[] | undefined;
  for (const ep of s.endpoints) {
    n += ep.addresses.length;
    if (ep.hostname !== '') hosts = true;
    if (keepPodNames && ep.podName !== '') pods = true;
  }
  const ips = new Array<string>(n);
  const hostnames = hosts ? new Array<string>(n) : undefined;
  const podNames = pods ? new Array<string>(n) : undefined;
  let i = 0;
  for (const ep of s.endpoints) {
    for (const ip of ep.addresses) {
      ips[i] = ip;
      if (hostnames) hostnames[i] = ep.hostname;
      if (podNames) podNames[i] = ep.podName;
      if (!ep.ready) (notReady ??= []).push(i);
      i++;
    }
  }
  return { ports: s.ports, ips, hostnames, podNames, notReady, rv: s.rv ?? '' };
}

export type { Endpoint, PackedSlice } from './view.js';

export class ServiceEntry implements ServiceRecord {
  svc: SlimService | undefined = undefined;
  slices: Map<string, PackedSlice> | undefined = undefined;
  private merged: readonly Endpoint[] | undefined = undefined;
  private ipIndex: Map<string, Endpoint> | undefined = undefined;
  /** Endpoints by label (built on first use). */
  byLabel: Map<string, Endpoint[]> | undefined = undefined;
  /** Precomputed answers, one per zone, built and read by answer.ts; cleared on change. */
  views: ServiceView[] | undefined = undefined;
  /** Hash of the DNS-relevant data, to tell real changes from no-op updates. */
  sig = 0;
  /**
   * While the entry has changes not committed yet: the IPs (ClusterIPs and served endpoint
   * addresses) the last commit put in the reverse index for it, taken before the first change, to
   * take out. Not kept between commits: they can be worked out from the entry (10,000 Services ×
   * 11 addresses held that way cost 1.8 MB in every copy of the cluster).
   */
  indexed: readonly string[] | undefined = undefined;
  /** External IPs (externalIPs, load-balancer ingress IPs) this entry put in the external reverse index. */
  extIps: readonly string[] = [];
  /** The service had external addresses (IPs or host names) at the last rebuild. */
  hasExternal = false;
  /** Number of served endpoint addresses (set by the store's index; `eps.length` is the same count). */
  served = 0;
  /** Pending EndpointSlice trigger times (programming-latency metric). */
  triggers: number[] | undefined = undefined;

  constructor(
    readonly key: string,
    readonly name: string,
    readonly namespace: string,
    /** endpoint_pod_names (labels depend on it). */
    readonly podNames: boolean,
  ) {}

  label(e: Endpoint): string {
    return endpointLabel(e, this.podNames);
  }

  /** Served endpoints (ready, or all with publishNotReadyAddresses), merged over slices, deduplicated by address. */
  get eps(): readonly Endpoint[] {
    return (this.merged ??= this.merge());
  }

  /** Visit every served address once (slices in name order, first occurrence wins). */
  forEachServed(fn: (ip: string, sl: PackedSlice, i: number) => void): void {
    const svc = this.svc;
    if (svc === undefined || this.slices === undefined || svc.type === 'ExternalName') return;
    const all = svc.publishNotReadyAddresses;
    const names = this.slices.size === 1 ? [...this.slices.keys()] : [...this.slices.keys()].sort();
    const seen = names.length === 1 && this.slices.get(names[0]!)!.ips.length < 2 ? undefined : new Set<string>();
    for (const n of names) {
      const sl = this.slices.get(n)!;
      for (let i = 0; i < sl.ips.length; i++) {
        if (!all && sl.notReady !== undefined && sl.notReady.includes(i)) continue;
        const ip = sl.ips[i]!;
        if (seen !== undefined) {
          if (seen.has(ip)) continue;
          seen.add(ip);
        }
        fn(ip, sl, i);
      }
    }
  }

  private merge(): readonly Endpoint[] {
    const out: Endpoint[] = [];
    this.forEachServed((ip, sl, i) => out.push({ ip, hostname: sl.hostnames?.[i] ?? '', podName: sl.podNames?.[i] ?? '', ports: sl.ports, svc: this }));
    return out.length === 0 ? EMPTY_EPS : out;
  }

  /** The served endpoint with this address (an index is built for services with many endpoints). */
  endpointWithIp(ip: string): Endpoint | undefined {
    const eps = this.eps;
    if (eps.length <= 32) {
      for (const e of eps) if (e.ip === ip) return e;
      return undefined;
    }
    if (this.ipIndex === undefined) {
      this.ipIndex = new Map();
      for (const e of eps) this.ipIndex.set(e.ip, e);
    }
    return this.ipIndex.get(ip);
  }

  /** Forget merged and precomputed data (after a change). */
  reset(): void {
    this.merged = undefined;
    this.byLabel = undefined;
    this.ipIndex = undefined;
    this.views = undefined;
  }

  /** True for an ExternalName service whose target is a name (an IP target is not served). */
  get isExternal(): boolean {
    return this.svc !== undefined && this.svc.type === 'ExternalName';
  }

  endpointsNamed(label: string): Endpoint[] | undefined {
    if (this.byLabel === undefined) {
      const m = new Map<string, Endpoint[]>();
      for (const e of this.eps) {
        const label = this.label(e);
        const l = m.get(label);
        if (l === undefined) m.set(label, [e]);
        else l.push(e);
      }
      this.byLabel = m;
    }
    return this.byLabel.get(label);
  }
}

type RevVal = ServiceRecord | Endpoint;

/** FNV-1a of `s`'s UTF-16 code units, continued from `h` (0x811c9dc5 to start). */
export function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const EMPTY_EPS: readonly Endpoint[] = Object.freeze([]) as readonly Endpoint[];
const EMPTY_IPS: readonly string[] = Object.freeze([]) as readonly string[];
const EMPTY_ENTRIES: readonly ServiceEntry[] = Object.freeze([]) as readonly ServiceEntry[];
const EMPTY_SET: ReadonlySet<ServiceEntry> = new Set();
const EMPTY_ENDPOINTS: readonly SlimEndpointSlice['endpoints'][number][] = Object.freeze([]);

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

/** What is wrong with a list of ports (names become `_name` labels of SRV owners). */
function badPorts(ports: readonly SlimPort[], problems: string[]): void {
  for (const p of ports) {
    if (p.name !== '' && !isLabel(p.name)) problems.push(`port name '${p.name.slice(0, 64)}' is not a DNS label`);
    if (!PROTOCOLS.has(p.protocol)) problems.push(`port protocol '${p.protocol.slice(0, 16)}' is not TCP, UDP or SCTP`);
    if (p.port < 1 || p.port > 65535) problems.push(`port ${p.port} is out of range`);
  }
}

const cut = (s: string): string => (s.length > 64 ? `${s.slice(0, 40)}…` : s);
/** "Kind ns/name" for messages (a long name cut short). */
const objectName = (kind: string, ns: string, name: string): string => `${kind} ${ns === '' ? '' : `${cut(ns)}/`}${cut(name)}`;

/** Warnings about skipped objects already given: one per object and problem, not one per event. */
const WARNED_MAX = 10_000;

export class ClusterStore implements ObjectSink, ClusterView {
  private readonly services = new Map<string, ServiceEntry>();
  /** "ns/slice" → service key. */
  private readonly sliceOwner = new Map<string, string>();
  /** Namespace name → exposed. Absent = does not exist. */
  private readonly nsExposed = new Map<string, boolean>();
  private readonly nsObjects = new Map<string, SlimNamespace>();
  private readonly pods = new Map<string, SlimPod>();
  private readonly podsByIp = new Map<string, SlimPod | SlimPod[]>();
  /** IP → services holding it as a ClusterIP or as a served endpoint address. */
  private readonly reverse = new Map<string, ServiceEntry | ServiceEntry[]>();
  /** IP → services holding it as an external address (k8s_external's PTR). */
  private readonly extReverse = new Map<string, ServiceEntry | ServiceEntry[]>();
  /** A service with external addresses (before or after) changed in this commit. */
  private externalChanged = false;
  private readonly dirty = new Set<ServiceEntry>();
  private readonly configured: ReadonlySet<string> | undefined;
  /** "Kind ns/name" → the problem last reported for it (cleared when the object is fine or deleted). */
  private readonly warned = new Map<string, string>();
  private scheduled = false;
  private changed = false;
  /**
   * Services committed on hold whose index work (reverse entries, external addresses, signature)
   * is still to do, from `unindexedAt` on: done a slice at a time after the commit, and at once
   * by any read or commit that needs it.
   */
  private unindexed: ServiceEntry[] = [];
  private unindexedAt = 0;
  private indexing: NodeJS.Immediate | undefined;
  private readonly now: () => number;
  /** Unix seconds of the last DNS-relevant change (the SOA serial). */
  modified: number;
  private modifiedExt: number;
  /**
   * While true, writes do not schedule a commit: the source's first full list goes in without a
   * commit after every chunk (each service would be indexed again as each of its objects came),
   * and the one commit that ends it leaves the index to be built after it (see commit()). The
   * plugin holds a store until its source's first sync (or the startup timeout); explicit
   * commit() calls work as ever.
   */
  hold = false;
  /** Set by the plugin after the source's first full sync. */
  synced = false;
  /** Incremented with every DNS-relevant change (caches of answers compare it). */
  generation = 0;
  /**
   * Told at the end of every commit: the Services whose Service or slices changed, whether
   * namespaces changed, and the addresses whose pods changed (bytes.ts keeps an encoded copy of
   * the store up to date).
   */
  onCommit: ((services: ReadonlySet<ServiceEntry>, namespaces: boolean, podIps: ReadonlySet<string>) => void) | undefined = undefined;
  private nsDirty = false;
  private podIpsDirty = new Set<string>();

  constructor(private readonly opts: StoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.modified = Math.floor(this.now() / 1000);
    this.modifiedExt = this.modified;
    this.configured = opts.namespaces && opts.namespaces.length > 0 ? new Set(opts.namespaces) : undefined;
  }

  /** Unix seconds of the last change to a Service with external addresses (k8s_external's SOA serial). */
  get modifiedExternal(): number {
    this.indexNow();
    return this.modifiedExt;
  }

  // ---------------------------------------------------------------- reads (hot path)

  service(name: string, namespace: string): ServiceEntry | undefined {
    const e = this.services.get(`${name}.${namespace}`);
    return e !== undefined && e.svc !== undefined ? e : undefined;
  }

  /** The namespace exists and is exposed (namespaces / namespace_labels). */
  namespaceExposed(ns: string): boolean {
    return this.nsExposed.get(ns) === true;
  }

  /** Services (by ClusterIP) or endpoints holding this IP; ClusterIP entries come first. */
  byIp(ip: string): readonly RevVal[] {
    this.indexNow();
    const v = this.reverse.get(ip);
    if (v === undefined) return EMPTY_EPS;
    return holdersOf(Array.isArray(v) ? v : [v], ip);
  }

  /** Services that have this IP among their external addresses. */
  externalByIp(ip: string): readonly ServiceEntry[] {
    this.indexNow();
    const v = this.extReverse.get(ip);
    if (v === undefined) return [];
    return Array.isArray(v) ? v : [v];
  }

  podsWithIp(ip: string): readonly SlimPod[] {
    const v = this.podsByIp.get(ip);
    if (v === undefined) return [];
    return Array.isArray(v) ? v : [v];
  }

  /** Every Service (ExternalName included), in no particular order (zone transfers walk them). */
  serviceEntries(): ServiceEntry[] {
    const out: ServiceEntry[] = [];
    for (const e of this.services.values()) if (e.svc !== undefined) out.push(e);
    return out;
  }

  /** Addresses in the reverse index (PTR): those of the Services and endpoints served now, no more. */
  get reverseSize(): number {
    return this.reverse.size;
  }

  get size(): { services: number; endpoints: number; pods: number; namespaces: number } {
    let eps = 0;
    let svcs = 0;
    for (const e of this.services.values()) {
      if (e.svc !== undefined) svcs++;
      eps += e.eps.length;
    }
    return { services: svcs, endpoints: eps, pods: this.pods.size, namespaces: this.nsObjects.size };
  }

  // ---------------------------------------------------------------- ObjectSink

  private keep(ns: string): boolean {
    return this.configured === undefined || this.configured.has(ns);
  }

  private entry(name: string, ns: string, create: boolean): ServiceEntry | undefined {
    const key = `${name}.${ns}`;
    let e = this.services.get(key);
    if (e === undefined && create) {
      e = new ServiceEntry(key, name, ns, this.opts.endpointPodNames === true);
      this.services.set(key, e);
    }
    return e;
  }

  /** Call before changing `e`'s Service or slices: remember what the reverse index holds for it. */
  private changing(e: ServiceEntry): void {
    if (e.indexed !== undefined || this.dirty.has(e)) return;
    const svc = e.svc;
    if (svc === undefined) {
      e.indexed = EMPTY_IPS;
      return;
    }
    const ips = svc.clusterIPs.slice();
    e.forEachServed((ip) => ips.push(ip));
    e.indexed = ips;
  }

  private touch(e: ServiceEntry): void {
    this.dirty.add(e);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.hold) return;
    this.scheduled = true;
    queueMicrotask(() => this.commit());
  }

  // ---------------------------------------------------------------- validation

  /** Report `problems` of an object once (the same problems again, on the next event, are not repeated). */
  private report(what: string, problems: readonly string[], skipped: boolean): void {
    const text = problems.join('; ');
    if (this.warned.get(what) === text) return;
    if (this.warned.size >= WARNED_MAX) this.warned.clear();
    this.warned.set(what, text);
    this.opts.warn?.(skipped ? `skipping ${what}: ${text}` : `${what}: ${text}`);
  }

  private fine(what: string): void {
    if (this.warned.size > 0) this.warned.delete(what);
  }

  /** The Service if it can be served as it is, else undefined (reported). */
  private validService(s: SlimService): SlimService | undefined {
    const what = objectName('Service', s.namespace, s.name);
    const problems: string[] = [];
    const ns = badLabel(s.namespace, 'namespace');
    if (ns !== undefined) problems.push(ns);
    const name = badServiceName(s.name);
    if (name !== undefined) problems.push(name);
    for (const ip of s.clusterIPs) {
      const bad = badIp(ip, 'clusterIP');
      if (bad !== undefined) problems.push(bad);
    }
    if (s.type === 'ExternalName' && s.externalName !== '' && net.isIP(s.externalName) === 0) {
      const bad = badHostName(s.externalName, 'externalName');
      if (bad !== undefined) problems.push(bad);
    }
    badPorts(s.ports, problems);
    if (problems.length > 0) {
      this.report(what, problems, true);
      return undefined;
    }
    // A bad external address is left out (the Service's other answers stay).
    let external: string[] | undefined;
    const ext = s.externalIPs ?? EMPTY_IPS;
    ext.forEach((x, i) => {
      const bad = badExternal(x);
      if (bad === undefined) external?.push(x);
      else {
        problems.push(`${bad}: left out`);
        external ??= ext.slice(0, i);
      }
    });
    if (problems.length > 0) this.report(what, problems, false);
    else this.fine(what);
    return external === undefined ? s : { ...s, externalIPs: external };
  }

  /** The slice with bad addresses and endpoints left out; undefined if the slice itself is bad (reported). */
  private validSlice(s: SlimEndpointSlice): SlimEndpointSlice | undefined {
    if ((s as Partial<PreparedSlice>).packed !== undefined) return s; // checked by prepare()
    const what = objectName('EndpointSlice', s.namespace, s.name);
    const problems: string[] = [];
    const ns = badLabel(s.namespace, 'namespace');
    if (ns !== undefined) problems.push(ns);
    const svc = badServiceName(s.service);
    if (svc !== undefined) problems.push(`service-name label: ${svc}`);
    badPorts(s.ports, problems);
    if (problems.length > 0) {
      this.report(what, problems, true);
      return undefined;
    }
    const v6 = s.addressType === 'IPv6';
    let endpoints: SlimEndpointSlice['endpoints'][number][] | undefined;
    // (loops, not forEach: no closure per endpoint, ×100,000 at a sync)
    for (let i = 0; i < s.endpoints.length; i++) {
      const ep = s.endpoints[i]!;
      let drop = ep.hostname !== '' ? badLabel(ep.hostname, 'hostname') : undefined;
      let addresses: string[] | undefined;
      for (let j = 0; j < ep.addresses.length; j++) {
        const ip = ep.addresses[j]!;
        // (net.isIP once per address: badIp's own test, then the family)
        const family = net.isIP(ip);
        const bad = family === 0 || ip.includes('%') ? badIp(ip, 'address') : family === (v6 ? 6 : 4) ? undefined : `address '${ip}' is not ${s.addressType}`;
        if (bad === undefined) addresses?.push(ip);
        else {
          problems.push(bad);
          addresses ??= ep.addresses.slice(0, j);
        }
      }
      if (drop === undefined && addresses !== undefined && addresses.length === 0) drop = '';
      if (drop !== undefined && drop !== '') problems.push(`${drop}: endpoint left out`);
      if (drop === undefined && addresses === undefined) {
        endpoints?.push(ep);
        continue;
      }
      endpoints ??= s.endpoints.slice(0, i);
      if (drop === undefined) endpoints.push({ ...ep, addresses: addresses! });
    }
    if (problems.length > 0) this.report(what, problems, false);
    else this.fine(what);
    return endpoints === undefined ? s : { ...s, endpoints };
  }

  private validPod(p: SlimPod): SlimPod | undefined {
    const what = objectName('Pod', p.namespace, p.name);
    const ns = badLabel(p.namespace, 'namespace');
    if (ns !== undefined) {
      this.report(what, [ns], true);
      return undefined;
    }
    const problems: string[] = [];
    for (const ip of p.ips) {
      const bad = badIp(ip, 'podIP');
      if (bad !== undefined) problems.push(bad);
    }
    if (problems.length === 0) {
      this.fine(what);
      return p;
    }
    this.report(what, problems, false);
    return { ...p, ips: p.ips.filter((ip) => badIp(ip, '') === undefined) };
  }

  prepare(kind: 'services' | 'endpointslices' | 'pods' | 'namespaces', item: unknown): unknown {
    if (kind !== 'endpointslices') return item;
    const s = this.validSlice(item as SlimEndpointSlice);
    if (s === undefined) return item; // upsertSlice skips it
    const p: PreparedSlice = { ...s, endpoints: EMPTY_ENDPOINTS, packed: packSlice(s, this.opts.endpointPodNames === true) };
    return p;
  }

  upsertService(input: SlimService): void {
    if (!this.keep(input.namespace)) return;
    const s = this.validService(input);
    if (s === undefined) return this.dropService(input.namespace, input.name);
    const e = this.entry(s.name, s.namespace, true)!;
    this.changing(e);
    e.svc = s;
    this.touch(e);
  }

  deleteService(namespace: string, name: string): void {
    this.fine(objectName('Service', namespace, name));
    this.dropService(namespace, name);
  }

  private dropService(namespace: string, name: string): void {
    const e = this.entry(name, namespace, false);
    if (e === undefined || e.svc === undefined) return;
    this.changing(e);
    e.svc = undefined;
    this.touch(e);
  }

  upsertSlice(input: SlimEndpointSlice): void {
    if (this.opts.noEndpoints || !this.keep(input.namespace)) return;
    const s = this.validSlice(input);
    if (s === undefined) return this.dropSlice(input.namespace, input.name);
    const sk = `${s.namespace}/${s.name}`;
    const owner = this.sliceOwner.get(sk);
    const key = `${s.service}.${s.namespace}`;
    if (owner !== undefined && owner !== key) this.deleteSlice(s.namespace, s.name);
    const e = this.entry(s.service, s.namespace, true)!;
    this.changing(e);
    (e.slices ??= new Map()).set(s.name, packSlice(s, this.opts.endpointPodNames === true));
    this.sliceOwner.set(sk, key);
    if (this.synced && s.lastChangeTriggerTime !== undefined && this.opts.onProgrammed) (e.triggers ??= []).push(s.lastChangeTriggerTime);
    this.touch(e);
  }

  deleteSlice(namespace: string, name: string): void {
    this.fine(objectName('EndpointSlice', namespace, name));
    this.dropSlice(namespace, name);
  }

  private dropSlice(namespace: string, name: string): void {
    const sk = `${namespace}/${name}`;
    const key = this.sliceOwner.get(sk);
    if (key === undefined) return;
    this.sliceOwner.delete(sk);
    const e = this.services.get(key);
    if (e === undefined || e.slices === undefined) return;
    this.changing(e);
    e.slices.delete(name);
    if (e.slices.size === 0) e.slices = undefined;
    this.touch(e);
  }

  upsertPod(input: SlimPod): void {
    if (!this.opts.watchPods || !this.keep(input.namespace)) return;
    const p = this.validPod(input);
    if (p === undefined) return this.dropPod(input.namespace, input.name);
    const key = `${p.namespace}/${p.name}`;
    const old = this.pods.get(key);
    if (old !== undefined) {
      if (old.ips.length === p.ips.length && old.ips.every((ip, i) => ip === p.ips[i])) {
        this.pods.set(key, p);
        for (const ip of p.ips) this.podIndexReplace(ip, old, p);
        if (this.onCommit !== undefined) {
          for (const ip of p.ips) this.podIpsDirty.add(ip); // (explained queries show its resourceVersion)
          this.schedule();
        }
        return; // no DNS-relevant change (PR #8338)
      }
      this.unindexPod(old);
      if (this.onCommit !== undefined) for (const ip of old.ips) this.podIpsDirty.add(ip);
    }
    if (this.onCommit !== undefined) for (const ip of p.ips) this.podIpsDirty.add(ip);
    this.pods.set(key, p);
    for (const ip of p.ips) {
      const v = this.podsByIp.get(ip);
      this.podsByIp.set(ip, v === undefined ? p : Array.isArray(v) ? [...v, p] : [v, p]);
    }
    this.changed = true;
    this.schedule();
  }

  deletePod(namespace: string, name: string): void {
    this.fine(objectName('Pod', namespace, name));
    this.dropPod(namespace, name);
  }

  private dropPod(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.pods.get(key);
    if (old === undefined) return;
    this.pods.delete(key);
    this.unindexPod(old);
    if (this.onCommit !== undefined) for (const ip of old.ips) this.podIpsDirty.add(ip);
    this.changed = true;
    this.schedule();
  }

  private podIndexReplace(ip: string, old: SlimPod, p: SlimPod): void {
    const v = this.podsByIp.get(ip);
    if (v === old) this.podsByIp.set(ip, p);
    else if (Array.isArray(v)) this.podsByIp.set(ip, v.map((x) => (x === old ? p : x)));
  }

  private unindexPod(p: SlimPod): void {
    for (const ip of p.ips) {
      const v = this.podsByIp.get(ip);
      if (v === p) this.podsByIp.delete(ip);
      else if (Array.isArray(v)) {
        const rest = v.filter((x) => x !== p);
        if (rest.length === 1) this.podsByIp.set(ip, rest[0]!);
        else if (rest.length === 0) this.podsByIp.delete(ip);
        else this.podsByIp.set(ip, rest);
      }
    }
  }

  upsertNamespace(n: SlimNamespace): void {
    const bad = badLabel(n.name, 'name');
    if (bad !== undefined) {
      this.report(objectName('Namespace', '', n.name), [bad], true);
      return this.deleteNamespace(n.name);
    }
    this.nsObjects.set(n.name, n);
    const exposed = this.keep(n.name) && (this.opts.namespaceLabels === undefined || selectorMatches(this.opts.namespaceLabels, n.labels));
    if (this.nsExposed.get(n.name) !== exposed) {
      this.nsExposed.set(n.name, exposed);
      this.changed = true;
      this.nsDirty = true;
      this.schedule();
    }
  }

  deleteNamespace(name: string): void {
    this.nsObjects.delete(name);
    if (this.nsExposed.delete(name)) {
      this.changed = true;
      this.nsDirty = true;
      this.schedule();
    }
  }

  replaceAll(kind: 'services' | 'endpointslices' | 'pods' | 'namespaces', items: readonly unknown[]): void {
    switch (kind) {
      case 'services': {
        const keep = new Set<string>();
        for (const it of items as SlimService[]) {
          keep.add(`${it.name}.${it.namespace}`);
          this.upsertService(it);
        }
        for (const e of this.services.values()) if (e.svc !== undefined && !keep.has(e.key)) this.deleteService(e.namespace, e.name);
        break;
      }
      case 'endpointslices': {
        const keep = new Set<string>();
        for (const it of items as SlimEndpointSlice[]) {
          keep.add(`${it.namespace}/${it.name}`);
          this.upsertSlice(it);
        }
        for (const sk of [...this.sliceOwner.keys()]) {
          if (keep.has(sk)) continue;
          const at = sk.indexOf('/');
          this.deleteSlice(sk.slice(0, at), sk.slice(at + 1));
        }
        break;
      }
      case 'pods': {
        const keep = new Set<string>();
        for (const it of items as SlimPod[]) {
          keep.add(`${it.namespace}/${it.name}`);
          this.upsertPod(it);
        }
        for (const [k, p] of [...this.pods]) if (!keep.has(k)) this.deletePod(p.namespace, p.name);
        break;
      }
      case 'namespaces': {
        const keep = new Set<string>();
        for (const it of items as SlimNamespace[]) {
          keep.add(it.name);
          this.upsertNamespace(it);
        }
        for (const n of [...this.nsObjects.keys()]) if (!keep.has(n)) this.deleteNamespace(n);
        break;
      }
    }
  }

  /**
   * Everything the store holds, as lists for replaceAll() that rebuild it in an empty store (a
   * worker following another worker's API source, plugins/kubernetes/shared.ts). Slices go in
   * their packed form.
   */
  snapshot(): { services: SlimService[]; endpointslices: SlimEndpointSlice[]; pods: SlimPod[]; namespaces: SlimNamespace[] } {
    const services: SlimService[] = [];
    const endpointslices: PreparedSlice[] = [];
    for (const e of this.services.values()) {
      if (e.svc !== undefined) services.push(e.svc);
      if (e.slices === undefined) continue;
      for (const [name, packed] of e.slices) {
        endpointslices.push({ namespace: e.namespace, name, service: e.name, addressType: '', ports: packed.ports, endpoints: EMPTY_ENDPOINTS, labels: {}, rv: packed.rv, packed });
      }
    }
    return { services, endpointslices, pods: [...this.pods.values()], namespaces: [...this.nsObjects.values()] };
  }

  /**
   * Apply the writes since the last commit. On hold (the first full list) the services' answers
   * are ready at once (they are built from the services and slices on the first query), but their
   * index work — reverse (PTR) entries, external addresses, signatures — is left to a background
   * pass (a slice of services per turn of the event loop) that any read of the index, and the next
   * commit, finishes first: the server answers its first queries while the index of 10,000
   * services is still being built. At the first list every service is new, so the commit counts
   * as a change without comparing signatures.
   */
  commit(): void {
    this.scheduled = false;
    const told = this.onCommit !== undefined && this.dirty.size > 0 ? new Set(this.dirty) : EMPTY_SET;
    if (this.dirty.size > 0) {
      const now = this.now();
      this.indexNow();
      if (this.hold) {
        for (const e of this.dirty) {
          e.reset();
          this.unindexed.push(e);
        }
        this.changed = true;
        this.indexing ??= setImmediate(() => this.indexSome());
      } else {
        for (const e of this.dirty) if (this.rebuild(e, now)) this.changed = true;
      }
      this.dirty.clear();
    }
    if (this.changed) {
      this.changed = false;
      this.generation++;
      this.modified = Math.floor(this.now() / 1000);
    }
    this.externalCommitted();
    if (this.onCommit !== undefined) {
      const ns = this.nsDirty;
      const pods = this.podIpsDirty;
      this.nsDirty = false;
      if (pods.size > 0) this.podIpsDirty = new Set();
      this.onCommit(told, ns, pods);
    }
  }

  /** The Services the reverse index holds for `ip` (ClusterIPs and served endpoint addresses), in its order. */
  reverseOf(ip: string): readonly ServiceEntry[] {
    this.indexNow();
    const v = this.reverse.get(ip);
    return v === undefined ? EMPTY_ENTRIES : Array.isArray(v) ? v : [v];
  }

  /** Every pod (pods verified), and the pods by address. */
  podIndex(): ReadonlyMap<string, SlimPod | readonly SlimPod[]> {
    return this.podsByIp;
  }

  /** The exposed namespaces. */
  exposedNamespaces(): string[] {
    const out: string[] = [];
    for (const [n, exposed] of this.nsExposed) if (exposed) out.push(n);
    return out;
  }

  get endpointPodNames(): boolean {
    return this.opts.endpointPodNames === true;
  }

  private externalCommitted(): void {
    if (this.externalChanged) {
      this.externalChanged = false;
      this.modifiedExt = Math.floor(this.now() / 1000);
    }
  }

  /** Index the services a held commit left (all of them): the reverse index and external addresses complete. */
  indexNow(): void {
    if (this.unindexed.length > 0) this.indexSome(Infinity);
  }

  /** Index up to `n` services of those a held commit left; the rest on the next turn. */
  private indexSome(n = 500): void {
    if (this.indexing !== undefined) clearImmediate(this.indexing);
    this.indexing = undefined;
    const list = this.unindexed;
    const end = Math.min(list.length, this.unindexedAt + n);
    const now = this.now();
    for (let i = this.unindexedAt; i < end; i++) this.rebuild(list[i]!, now);
    this.unindexedAt = end;
    if (end < list.length) {
      this.indexing = setImmediate(() => this.indexSome());
      return;
    }
    this.unindexed = [];
    this.unindexedAt = 0;
    this.externalCommitted();
  }

  /** Stop the background index pass (the store is dropped). */
  close(): void {
    if (this.indexing !== undefined) clearImmediate(this.indexing);
    this.indexing = undefined;
  }

  // ---------------------------------------------------------------- commit work

  /** Recompute one service's reverse entries and signature; true if DNS data changed. */
  private rebuild(e: ServiceEntry, now: number): boolean {
    for (const ip of e.indexed ?? EMPTY_IPS) this.revRemove(ip, e);
    e.indexed = undefined;
    const hadExternal = e.hasExternal;
    e.hasExternal = false;
    for (const ip of e.extIps) mapRemove(this.extReverse, ip, e);
    e.extIps = EMPTY_IPS;
    e.reset();
    const before = e.sig;
    const svc = e.svc;
    if (svc === undefined) {
      if (hadExternal && before !== 0) this.externalChanged = true;
      e.sig = 0;
      e.served = 0;
      e.triggers = undefined;
      if (e.slices === undefined) this.services.delete(e.key);
      return before !== 0;
    }
    for (const ip of svc.clusterIPs) this.revAdd(ip, e);
    // Signature of everything an answer can show.
    const external = svc.externalIPs ?? EMPTY_IPS;
    let h = fnv(0x811c9dc5, `${svc.type}|${svc.headless}|${svc.externalName}|${svc.clusterIPs.join(',')}|${external.join(',')}|`);
    if (external.length > 0) {
      const ext: string[] = [];
      for (const x of external) {
        if (net.isIP(x) === 0 || ext.includes(x)) continue;
        mapAdd(this.extReverse, x, e);
        ext.push(x);
      }
      e.extIps = ext.length === 0 ? EMPTY_IPS : ext;
    }
    for (const p of svc.ports) h = fnv(h, `${p.name}/${p.protocol}/${p.port};`);
    let served = 0;
    let lastPorts: readonly SlimPort[] | undefined;
    e.forEachServed((ip, sl, i) => {
      served++;
      this.revAdd(ip, e);
      h = fnv(h, ip);
      const host = sl.hostnames?.[i];
      if (host) h = fnv(h, host);
      const pod = sl.podNames?.[i];
      if (pod) h = fnv(h, pod);
      if (sl.ports !== lastPorts) {
        lastPorts = sl.ports;
        for (const p of sl.ports) h = fnv(h, `${p.name}/${p.protocol}/${p.port};`);
      }
    });
    e.served = served;
    e.sig = h === 0 ? 1 : h;
    e.hasExternal = external.length > 0;
    if ((hadExternal || e.hasExternal) && e.sig !== before) this.externalChanged = true;
    if (e.triggers !== undefined) {
      const kind: ServiceKind = !svc.headless ? 'cluster_ip' : svc.hasSelector === false ? 'headless_without_selector' : 'headless_with_selector';
      for (const t of e.triggers) this.opts.onProgrammed?.(kind, Math.max(0, (now - t) / 1000));
      e.triggers = undefined;
    }
    return e.sig !== before;
  }

  private revAdd(ip: string, e: ServiceEntry): void {
    const cur = this.reverse.get(ip);
    if (cur === undefined) this.reverse.set(ip, e);
    else if (Array.isArray(cur)) {
      if (!cur.includes(e)) cur.push(e);
    } else if (cur !== e) this.reverse.set(ip, [cur, e]);
  }

  private revRemove(ip: string, e: ServiceEntry): void {
    const cur = this.reverse.get(ip);
    if (cur === undefined) return;
    if (!Array.isArray(cur)) {
      if (cur === e) this.reverse.delete(ip);
      return;
    }
    const rest = cur.filter((v) => v !== e);
    if (rest.length === 0) this.reverse.delete(ip);
    else if (rest.length === 1) this.reverse.set(ip, rest[0]!);
    else this.reverse.set(ip, rest);
  }
}

/** What is wrong with an external address: an IP, or (load-balancer ingress) a host name. */
function badExternal(x: string): string | undefined {
  if (x.includes(':') || /^[\d.]+$/.test(x)) return badIp(x, 'external address');
  return badHostName(x, 'external host name');
}

function mapAdd(m: Map<string, ServiceEntry | ServiceEntry[]>, ip: string, e: ServiceEntry): void {
  const cur = m.get(ip);
  if (cur === undefined) m.set(ip, e);
  else if (Array.isArray(cur)) {
    if (!cur.includes(e)) cur.push(e);
  } else if (cur !== e) m.set(ip, [cur, e]);
}

function mapRemove(m: Map<string, ServiceEntry | ServiceEntry[]>, ip: string, e: ServiceEntry): void {
  const cur = m.get(ip);
  if (cur === undefined) return;
  if (!Array.isArray(cur)) {
    if (cur === e) m.delete(ip);
    return;
  }
  const rest = cur.filter((v) => v !== e);
  if (rest.length === 0) m.delete(ip);
  else if (rest.length === 1) m.set(ip, rest[0]!);
  else m.set(ip, rest);
}
