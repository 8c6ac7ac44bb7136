// API object JSON (as the API server returns it, or as written in a manifest) → slim records.
// Pure functions; `undefined` means "skip this object". Shared by watch/client.ts (the API source)
// and manifests.ts (the YAML source). Repeated strings (namespaces, port names, protocols, service
// names, labels) are interned so 100,000 endpoints share one copy of each. Node names are not: no
// store keeps them (a slice is packed without them), and the look-ups cost every sync 100,000 Map probes.
import { canonIp } from '../ip.js';
import type { SlimEndpoint, SlimEndpointSlice, SlimNamespace, SlimPod, SlimPort, SlimService } from './objects.js';

const pool = new Map<string, string>();
const POOL_MAX = 200_000;

/** One shared copy of a string that repeats across objects. */
export function intern(s: string): string {
  const hit = pool.get(s);
  if (hit !== undefined) return hit;
  if (pool.size >= POOL_MAX) pool.clear();
  pool.set(s, s);
  return s;
}

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({});
const EMPTY: readonly never[] = Object.freeze([]) as readonly never[];

const portLists = new Map<string, readonly SlimPort[]>();
const PORT_LISTS_MAX = 20_000;

/**
 * One shared copy of a list of ports: most Services and their EndpointSlices have the same few
 * lists (`http/tcp/80`), so 10,000 Services and 10,000 slices hold a handful of lists instead of
 * 20,000 arrays of objects (~1.8 MB; bench/README.md, "-workers"). The lists are never mutated.
 */
export function internPorts(list: readonly SlimPort[]): readonly SlimPort[] {
  if (list.length === 0) return EMPTY;
  let key = '';
  for (const p of list) key += `${p.name}/${p.protocol}/${p.port};`;
  const hit = portLists.get(key);
  if (hit !== undefined) return hit;
  if (portLists.size >= PORT_LISTS_MAX) portLists.clear();
  const own = list.map((p) => ({ name: intern(p.name), protocol: intern(p.protocol), port: p.port }));
  portLists.set(key, own);
  return own;
}

/** Labels with their keys and values shared (interned). */
export function internLabels(l: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let n = 0;
  const out: Record<string, string> = {};
  for (const k in l) {
    out[intern(k)] = intern(l[k]!);
    n++;
  }
  return n === 0 ? EMPTY_LABELS : out;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function labelsOf(meta: Json | undefined): Readonly<Record<string, string>> {
  const l = obj(meta?.labels);
  if (l === undefined) return EMPTY_LABELS;
  const out: Record<string, string> = {};
  let n = 0;
  for (const k in l) {
    const v = l[k];
    if (typeof v !== 'string') continue;
    out[intern(k)] = intern(v);
    n++;
  }
  return n === 0 ? EMPTY_LABELS : out;
}

function meta(o: unknown): { m: Json; name: string; namespace: string } | undefined {
  const m = obj(obj(o)?.metadata);
  if (m === undefined) return undefined;
  const name = str(m.name);
  if (name === '') return undefined;
  return { m, name, namespace: str(m.namespace) };
}

/** Lower-case an IPv6 address; IPv4 unchanged. (Addresses from the API are already canonical.) */
const ipOf = (v: unknown): string => {
  const s = str(v).trim();
  return s.includes(':') ? canonIp(s) : s;
};

function ports(list: unknown, named: boolean): readonly SlimPort[] {
  // The shared list's key first: the objects are made only for a list not seen before.
  let key = '';
  for (const p of arr(list)) {
    const o = obj(p);
    if (o === undefined) continue;
    const port = o.port;
    if (typeof port !== 'number' || !Number.isInteger(port)) continue; // slice port nil = "all ports": no SRV
    key += `${named ? str(o.name).toLowerCase() : ''}/${(str(o.protocol) || 'TCP').toLowerCase()}/${port};`;
  }
  if (key === '') return EMPTY;
  const hit = portLists.get(key);
  if (hit !== undefined) return hit;
  const out: SlimPort[] = [];
  for (const p of arr(list)) {
    const o = obj(p);
    if (o === undefined) continue;
    const port = o.port;
    if (typeof port !== 'number' || !Number.isInteger(port)) continue;
    out.push({ name: named ? str(o.name).toLowerCase() : '', protocol: (str(o.protocol) || 'TCP').toLowerCase(), port });
  }
  return internPorts(out);
}

export function convertService(o: unknown): SlimService | undefined {
  const md = meta(o);
  if (md === undefined || md.namespace === '') return undefined;
  const spec = obj(obj(o)?.spec) ?? {};
  const type = str(spec.type) || 'ClusterIP';
  const one = str(spec.clusterIP);
  const list = arr(spec.clusterIPs).map(ipOf).filter((ip) => ip !== '');
  const all = list.length > 0 ? list : one !== '' ? [ipOf(one)] : [];
  const headless = type !== 'ExternalName' && (one === 'None' || all[0] === 'None');
  const clusterIPs = headless || type === 'ExternalName' ? EMPTY : all.filter((ip) => ip !== 'None').slice();
  const sel = obj(spec.selector);
  const external: string[] = [];
  for (const ip of arr(spec.externalIPs)) {
    const v = ipOf(ip);
    if (v !== '') external.push(v);
  }
  for (const ing of arr(obj(obj(obj(o)?.status)?.loadBalancer)?.ingress)) {
    const io = obj(ing);
    if (io === undefined) continue;
    const ip = ipOf(io.ip);
    const host = str(io.hostname).trim().toLowerCase().replace(/\.$/, '');
    if (ip !== '') external.push(ip);
    else if (host !== '') external.push(host);
  }
  const s: SlimService = {
    namespace: intern(md.namespace),
    name: intern(md.name),
    rv: str(md.m.resourceVersion),
    type: intern(type),
    clusterIPs,
    headless,
    externalName: type === 'ExternalName' ? str(spec.externalName).toLowerCase().replace(/\.$/, '') : '',
    ports: ports(spec.ports, true),
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
    labels: labelsOf(md.m),
    hasSelector: sel !== undefined && Object.keys(sel).length > 0,
    ...(external.length > 0 ? { externalIPs: external } : {}),
  };
  return s;
}

export function convertSlice(o: unknown): SlimEndpointSlice | undefined {
  const md = meta(o);
  if (md === undefined || md.namespace === '') return undefined;
  const root = obj(o)!;
  const labels = labelsOf(md.m);
  const service = labels['kubernetes.io/service-name'];
  if (service === undefined || service === '') return undefined;
  const addressType = str(root.addressType) || 'IPv4';
  if (addressType !== 'IPv4' && addressType !== 'IPv6') return undefined; // FQDN slices are not served
  const endpoints: SlimEndpoint[] = [];
  for (const e of arr(root.endpoints)) {
    const eo = obj(e);
    if (eo === undefined) continue;
    // Exactly-sized arrays: a .filter()/.push() result keeps spare capacity, ×100,000 endpoints.
    const raw = arr(eo.addresses);
    let addresses = raw.length === 1 ? [ipOf(raw[0])] : raw.map(ipOf);
    if (addresses.includes('')) addresses = addresses.filter((a) => a !== '').slice();
    if (addresses.length === 0) continue;
    const cond = obj(eo.conditions);
    const ref = obj(eo.targetRef);
    endpoints.push({
      addresses,
      hostname: str(eo.hostname).toLowerCase(),
      podName: ref !== undefined && str(ref.kind) === 'Pod' ? str(ref.name) : '',
      nodeName: str(eo.nodeName),
      ready: cond?.ready !== false,
    });
  }
  const trigger = Date.parse(str(obj(md.m.annotations)?.['endpoints.kubernetes.io/last-change-trigger-time']));
  const s: SlimEndpointSlice = {
    namespace: intern(md.namespace),
    name: md.name,
    rv: str(md.m.resourceVersion),
    service: intern(service),
    addressType: intern(addressType),
    ports: ports(root.ports, true),
    endpoints,
    labels,
    ...(Number.isFinite(trigger) ? { lastChangeTriggerTime: trigger } : {}),
  };
  return s;
}

export function convertPod(o: unknown): SlimPod | undefined {
  const md = meta(o);
  if (md === undefined || md.namespace === '') return undefined;
  const status = obj(obj(o)?.status) ?? {};
  const phase = str(status.phase);
  if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Unknown') return undefined;
  let ips = arr(status.podIPs)
    .map((p) => ipOf(obj(p)?.ip))
    .filter((ip) => ip !== '');
  if (ips.length === 0 && str(status.podIP) !== '') ips = [ipOf(status.podIP)];
  return { namespace: intern(md.namespace), name: md.name, rv: str(md.m.resourceVersion), ips };
}

export function convertNamespace(o: unknown): SlimNamespace | undefined {
  const md = meta(o);
  if (md === undefined) return undefined;
  return { name: intern(md.name), labels: labelsOf(md.m) };
}
