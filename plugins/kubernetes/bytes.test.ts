import { describe, expect, it } from 'vitest';
import { ClusterStore } from './store.js';
import { ByteClusterView, ClusterBytesWriter } from './bytes.js';
import { isServiceRecord, type ClusterView, type ServiceRecord } from './view.js';
import type { SlimEndpointSlice, SlimService } from './watch/objects.js';

// A small random cluster changed step by step: after every commit the copy as bytes must read
// exactly as the store (every Service, every address of the reverse and external indexes, pods,
// namespaces, serials), while most commits are applied in place (appended records), not by a
// full write.

/** A deterministic pseudo-random sequence (xorshift). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const NS = ['a', 'b', 'c'];
const NAMES = Array.from({ length: 40 }, (_, i) => `s${i}`);

function service(r: () => number, name: string, ns: string): SlimService {
  const kind = Math.floor(r() * 4);
  const ip = `10.96.${Math.floor(r() * 4)}.${Math.floor(r() * 250) + 1}`;
  return {
    namespace: ns,
    name,
    rv: String(Math.floor(r() * 1000)),
    type: kind === 3 ? 'ExternalName' : kind === 2 ? 'LoadBalancer' : 'ClusterIP',
    clusterIPs: kind === 0 || kind === 3 ? [] : r() < 0.2 ? [ip, 'fd00::1'] : [ip],
    headless: kind === 0,
    externalName: kind === 3 ? `t${Math.floor(r() * 3)}.example.org` : '',
    ports: r() < 0.2 ? [] : [{ name: r() < 0.5 ? 'http' : '', protocol: r() < 0.8 ? 'tcp' : 'udp', port: 80 + Math.floor(r() * 3) }],
    publishNotReadyAddresses: r() < 0.2,
    labels: {},
    ...(r() < 0.5 ? { hasSelector: r() < 0.5 } : {}),
    ...(kind === 2 ? { externalIPs: [`192.0.2.${Math.floor(r() * 8)}`, r() < 0.3 ? 'lb.example.org' : `192.0.2.${Math.floor(r() * 8)}`] } : {}),
  };
}

function slice(r: () => number, name: string, ns: string, svc: string): SlimEndpointSlice {
  const n = Math.floor(r() * 5);
  return {
    namespace: ns,
    name,
    service: svc,
    rv: String(Math.floor(r() * 1000)),
    addressType: 'IPv4',
    ports: r() < 0.2 ? [] : [{ name: 'http', protocol: 'tcp', port: 8080 }],
    endpoints: Array.from({ length: n }, () => ({
      addresses: [`10.244.0.${Math.floor(r() * 60) + 1}`],
      hostname: r() < 0.3 ? `h${Math.floor(r() * 4)}` : '',
      podName: r() < 0.5 ? `pod-${Math.floor(r() * 9)}` : '',
      nodeName: '',
      ready: r() < 0.8,
    })),
    labels: {},
  };
}

/** Everything a ServiceRecord shows the answering code. */
function shape(e: ServiceRecord | undefined): unknown {
  if (e === undefined) return undefined;
  const { labels: _labels, ...svc } = e.svc!;
  return {
    name: e.name,
    namespace: e.namespace,
    svc,
    slices: [...(e.slices ?? [])].map(([k, v]) => [k, { ...v }]),
    eps: e.eps.map((x) => ({ ip: x.ip, hostname: x.hostname, podName: x.podName, ports: x.ports, label: e.label(x) })),
    external: e.isExternal,
  };
}

function compare(st: ClusterStore, v: ClusterView, ips: readonly string[]): void {
  expect(v.generation).toBe(st.generation);
  expect(v.modified).toBe(st.modified);
  expect(v.modifiedExternal).toBe(st.modifiedExternal);
  expect(v.synced).toBe(st.synced);
  for (const ns of NS) {
    expect(v.namespaceExposed(ns)).toBe(st.namespaceExposed(ns));
    for (const n of NAMES) expect(shape(v.service(n, ns))).toEqual(shape(st.service(n, ns)));
  }
  const keys = (l: readonly ServiceRecord[]): string[] => l.map((e) => `${e.name}.${e.namespace}`).sort();
  expect(keys(v.serviceEntries())).toEqual(keys(st.serviceEntries()));
  const rev = (l: ReturnType<ClusterView['byIp']>): string[] => l.map((x) => (isServiceRecord(x) ? `svc ${x.name}.${x.namespace}` : `ep ${x.svc.name}.${x.svc.namespace} ${x.svc.label(x)} ${x.ip}`));
  for (const ip of ips) {
    expect(rev(v.byIp(ip)), ip).toEqual(rev(st.byIp(ip)));
    expect(keys(v.externalByIp(ip)), ip).toEqual(keys(st.externalByIp(ip)));
    expect(v.podsWithIp(ip)).toEqual(st.podsWithIp(ip));
  }
}

const ALL_IPS = [
  ...Array.from({ length: 4 * 250 }, (_, i) => `10.96.${i >> 8}.${(i & 255) + 1}`).filter((_, i) => i % 7 === 0),
  'fd00::1',
  ...Array.from({ length: 61 }, (_, i) => `10.244.0.${i}`),
  ...Array.from({ length: 8 }, (_, i) => `192.0.2.${i}`),
];

describe('cluster copy as bytes', () => {
  it('reads as the store after every commit of a random cluster, mostly without a full write', () => {
    let now = 1_000_000;
    const st = new ClusterStore({ now: () => now, watchPods: true, endpointPodNames: true });
    const w = ClusterBytesWriter.attach(st);
    const v = new ByteClusterView(() => w.buffer);
    const r = rng(17);
    // the first list, held as the plugin holds it
    st.hold = true;
    for (const ns of NS.slice(0, 2)) st.upsertNamespace({ name: ns, labels: {} });
    for (const ns of NS) for (const n of NAMES.slice(0, 20)) st.upsertService(service(r, n, ns));
    st.hold = false;
    st.synced = true;
    st.commit();
    const ips = ALL_IPS.concat(st.serviceEntries().flatMap((e) => e.svc!.clusterIPs));
    compare(st, v, ips);
    const full = w.rewrites;
    const steps = 400;
    for (let step = 0; step < steps; step++) {
      now += 1000;
      const ns = NS[Math.floor(r() * NS.length)]!;
      const name = NAMES[Math.floor(r() * NAMES.length)]!;
      const op = r();
      if (op < 0.3) st.upsertService(service(r, name, ns));
      else if (op < 0.4) st.deleteService(ns, name);
      else if (op < 0.7) st.upsertSlice(slice(r, `${name}-${Math.floor(r() * 2)}`, ns, name));
      else if (op < 0.8) st.deleteSlice(ns, `${name}-${Math.floor(r() * 2)}`);
      else if (op < 0.9) st.upsertPod({ namespace: ns, name: `p${Math.floor(r() * 10)}`, rv: String(step), ips: [`10.244.0.${Math.floor(r() * 60) + 1}`] });
      else if (op < 0.95) st.deletePod(ns, `p${Math.floor(r() * 10)}`);
      else if (r() < 0.5) st.upsertNamespace({ name: ns, labels: {} });
      else st.deleteNamespace(ns);
      st.commit();
      // reads between commits go through the decoded cache (decoded objects from older records too)
      if (step % 3 === 0) compare(st, v, ips);
    }
    compare(st, v, ips);
    // most commits appended in place; the full writes are the compactions and table growth
    expect(w.rewrites - full).toBeLessThan(steps / 10);
  });

  it('a reader sees a full write (new buffer, new epoch) and drops what it decoded', () => {
    const st = new ClusterStore();
    const w = ClusterBytesWriter.attach(st);
    const v = new ByteClusterView(() => w.buffer);
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService({ namespace: 'ns', name: 'x', type: 'ClusterIP', clusterIPs: ['10.0.0.1'], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    st.commit();
    expect(v.service('x', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.1']);
    const before = w.buffer;
    // many Services at once: more than the buffer's room, written whole into a new one
    for (let i = 0; i < 2000; i++) st.upsertService({ namespace: 'ns', name: `y${i}`, type: 'ClusterIP', clusterIPs: [`10.1.${i >> 8}.${i & 255}`], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    st.upsertService({ namespace: 'ns', name: 'x', type: 'ClusterIP', clusterIPs: ['10.0.0.2'], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    st.commit();
    expect(w.buffer).not.toBe(before);
    expect(v.service('x', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.2']);
    expect(v.service('y1999', 'ns')?.svc?.clusterIPs).toEqual(['10.1.7.207']);
    expect(v.byIp('10.0.0.1')).toHaveLength(0);
    expect(v.size).toBe(2001);
  });
});
