import { describe, expect, it } from 'vitest';
import { waitFor } from '../../src/testing/index.js';
import { ClusterStore } from './store.js';
import { ByteClusterView, ClusterBytesWriter, segmentId } from './bytes.js';
import { isServiceRecord, type ClusterView, type ServiceRecord } from './view.js';
import type { SlimEndpointSlice, SlimService } from './watch/objects.js';

// A small random cluster changed step by step: after every commit the copy as bytes must read
// exactly as the store (every Service, every address of the reverse and external indexes, pods,
// namespaces, serials), while most commits are applied in place (appended records), not by a
// full write.

/** Full writes at once (as a small copy has them), except in the tests of sliced writes. */
const AT_ONCE = { sliceMs: 0 };

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

/** One random change of the cluster (not committed). */
function change(st: ClusterStore, r: () => number, step: number): void {
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
}

/** A ClusterIP Service ns/`name` of one address. */
const clusterIp = (name: string, ip: string): SlimService => ({ namespace: 'ns', name, type: 'ClusterIP', clusterIPs: [ip], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });

/**
 * A copy whose first sync (1,500 Services into the empty copy: no room) is being written a slice
 * at a time: the slices wait in `slices` for the test to run them; `told`, the buffers told.
 */
function firstSyncSliced(): { st: ClusterStore; slices: Array<() => void>; told: ArrayBuffer[]; w: ClusterBytesWriter; v: ByteClusterView } {
  const st = new ClusterStore();
  const slices: Array<() => void> = [];
  const told: ArrayBuffer[] = [];
  const w = ClusterBytesWriter.attach(st, { sliceMs: 1e-9, schedule: (f) => slices.push(f), onSegment: (b) => told.push(b) });
  st.upsertNamespace({ name: 'ns', labels: {} });
  for (let i = 0; i < 1500; i++) st.upsertService(clusterIp(`s${i}`, `10.1.${i >> 8}.${i & 255}`));
  st.synced = true;
  st.commit();
  return { st, slices, told, w, v: new ByteClusterView(() => w.buffer) };
}

describe('cluster copy as bytes', () => {
  it('reads as the store after every commit of a random cluster, mostly without a full write', () => {
    let now = 1_000_000;
    const st = new ClusterStore({ now: () => now, watchPods: true, endpointPodNames: true });
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
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
      change(st, r, step);
      st.commit();
      // reads between commits go through the decoded cache (decoded objects from older records too)
      if (step % 3 === 0) compare(st, v, ips);
    }
    compare(st, v, ips);
    // most commits appended in place; the full writes are the compactions and table growth
    expect(w.rewrites - full).toBeLessThan(steps / 10);
  });

  it('a compaction is written a slice at a time: the old buffer takes every commit meanwhile, the new one has them all when told', () => {
    let now = 1_000_000;
    const st = new ClusterStore({ now: () => now, watchPods: true, endpointPodNames: true });
    // slices of 64 records (the clock is read every 64), run by the test between commits
    const slices: Array<() => void> = [];
    const told: ArrayBuffer[] = [];
    const w = ClusterBytesWriter.attach(st, { sliceMs: 1e-9, sliceAbove: 20, schedule: (f) => slices.push(f), onSegment: (b) => told.push(b) });
    const v = new ByteClusterView(() => w.buffer);
    const r = rng(29);
    st.hold = true;
    for (const ns of NS.slice(0, 2)) st.upsertNamespace({ name: ns, labels: {} });
    for (const ns of NS) for (const n of NAMES) st.upsertService(service(r, n, ns));
    for (const ns of NS) for (const n of NAMES) st.upsertSlice(slice(r, `${n}-0`, ns, n));
    st.hold = false;
    st.synced = true;
    st.commit();
    const ips = ALL_IPS.concat(st.serviceEntries().flatMap((e) => e.svc!.clusterIPs));
    // (the first commit, all of it, had no room in the empty copy: a frozen write)
    expect(w.lagging).toBe(true);
    while (slices.length > 0) slices.shift()!();
    compare(st, v, ips);
    const atOnce = w.rewrites;
    const sliced = w.slicedWrites;
    let run = 0;
    let during = 0;
    let lagging = 0;
    for (let step = 0; step < 5000 && w.slicedWrites < sliced + 4; step++) {
      now += 1000;
      change(st, r, step);
      st.commit();
      if (slices.length > 0) {
        during++;
        // the reader still reads the old buffer, which the commits keep up to date (unless a
        // commit found no room in it: then it is as it was before, until the write is told)
        if (w.lagging) lagging++;
        else compare(st, v, ips);
        if (r() < 0.6) {
          run++;
          slices.shift()!();
        }
      }
    }
    expect(w.slicedWrites - sliced).toBe(4);
    // each write took several slices, with commits between them
    expect(run).toBeGreaterThan(4 * 4);
    expect(during).toBeGreaterThan(run);
    // compactions began before the buffer was full: readers lagged in few of those commits, if any
    // (the pods' table has 16 slots: full on the commit that crowds it)
    expect(lagging).toBeLessThan(during / 4);
    // no full write at once in this churn
    expect(w.rewrites - atOnce).toBe(w.slicedWrites - sliced + (w.writing >= 0 ? 1 : 0));
    expect(told.length).toBeGreaterThanOrEqual(1 + 4);
    compare(st, v, ips);
  });

  it('a commit a large copy has no room for: readers keep the copy as it was until the sliced write of it and of the commits after it is told', () => {
    // the first sync of 1,500 Services into the empty copy: no room, written a slice at a time
    const { st, slices, told, w, v } = firstSyncSliced();
    expect(w.lagging).toBe(true);
    expect(told).toHaveLength(1); // (the empty copy of attach())
    expect(v.synced).toBe(false);
    expect(v.service('s7', 'ns')).toBeUndefined();
    // commits meanwhile go to the write only: readers see the copy as it was
    st.upsertService(clusterIp('s7', '10.9.0.7'));
    st.deleteService('ns', 's8');
    st.upsertService(clusterIp('late', '10.9.0.1'));
    st.commit();
    expect(v.service('late', 'ns')).toBeUndefined();
    let n = 0;
    while (slices.length > 0) {
      expect(v.size).toBe(0);
      slices.shift()!();
      n++;
    }
    expect(n).toBeGreaterThan(10);
    expect(told).toHaveLength(2);
    expect(w.lagging).toBe(false);
    expect(v.synced).toBe(true);
    expect(v.generation).toBe(st.generation);
    expect(v.service('s7', 'ns')?.svc?.clusterIPs).toEqual(['10.9.0.7']);
    expect(v.service('s8', 'ns')).toBeUndefined();
    expect(v.service('late', 'ns')?.svc?.clusterIPs).toEqual(['10.9.0.1']);
    expect(v.byIp('10.1.0.7')).toHaveLength(0);
    expect(v.byIp('10.9.0.7').map((e) => (e as { name: string }).name)).toEqual(['s7']);
    expect(v.size).toBe(1500);
  });

  it('a frozen sliced write whose buffer has no room left for the commits made meanwhile ends with a write at once, and the copy follows commits again', () => {
    const { st, slices, told, w, v } = firstSyncSliced();
    expect(w.lagging).toBe(true);
    slices.shift()!();
    // three times as many Services while it is written: more than its buffer's room
    for (let i = 0; i < 4500; i++) st.upsertService(clusterIp(`t${i}`, `10.2.${i >> 8}.${i & 255}`));
    st.commit();
    while (slices.length > 0) slices.shift()!();
    expect(w.lagging).toBe(false);
    expect(told).toHaveLength(2);
    expect(v.size).toBe(6000);
    // and the next commit is applied to the copy (not kept for a write that ended)
    st.upsertService(clusterIp('after', '10.3.0.1'));
    st.commit();
    expect(v.service('after', 'ns')?.svc?.clusterIPs).toEqual(['10.3.0.1']);
  });

  it.each([
    ['a compaction (the old buffer takes the commits)', false],
    ['a commit with no room (the old buffer frozen)', true],
  ])('a sliced write, %s: a Service that took an external address after its record was written and left it before the end is not listed under it', (_, frozen) => {
    const st = new ClusterStore();
    const slices: Array<() => void> = [];
    const w = ClusterBytesWriter.attach(st, { sliceMs: 1e-9, sliceAbove: 20, schedule: (f) => slices.push(f) });
    const v = new ByteClusterView(() => w.buffer);
    // no cluster IPs: the write's addresses are the external ones only, in the order of the Services
    const svc = (name: string, externalIPs: string[]): SlimService => ({ namespace: 'ns', name, type: 'LoadBalancer', clusterIPs: [], headless: true, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {}, externalIPs });
    st.upsertNamespace({ name: 'ns', labels: {} });
    // first in the write's order: a holds 192.0.2.1 (so the address is listed early in the write), e does not
    st.upsertService(svc('a', ['192.0.2.1']));
    st.upsertService(svc('e', []));
    for (let i = 0; i < 200; i++) st.upsertService(svc(`f${i}`, [`198.51.100.${i + 1}`]));
    st.commit();
    // that commit had no room in the empty copy: the write under way is frozen
    expect(w.lagging).toBe(true);
    if (!frozen) {
      while (slices.length > 0) slices.shift()!();
      expect(w.slicedWrites).toBe(1);
      // changes until a full write begins (the buffer crowded: not frozen, it takes the commits)
      for (let i = 0; slices.length === 0 && i < 10_000; i++) {
        st.upsertService(svc(`f${i % 200}`, [`203.0.${(i >> 8) & 255}.${i & 255}`]));
        st.commit();
      }
    }
    const step = (): void => slices.shift()!();
    const phase = (): number => w.writing;
    while (phase() !== 1) step();
    step(); // e's record written (the first 64 Services), without the address
    st.upsertService(svc('e', ['192.0.2.1']));
    st.commit();
    expect(phase()).toBe(1);
    while (phase() !== 2) step();
    step(); // 192.0.2.1's list written (among the first 64 addresses): a and e
    expect(phase()).toBe(2);
    st.upsertService(svc('e', []));
    st.commit();
    expect(w.lagging).toBe(frozen);
    while (slices.length > 0) step();
    expect(w.slicedWrites).toBe(frozen ? 1 : 2);
    expect(st.externalByIp('192.0.2.1').map((e) => e.name)).toEqual(['a']);
    expect(v.externalByIp('192.0.2.1').map((e) => e.name)).toEqual(['a']);
  });

  it('a reader sees a full write (new buffer, new epoch) and drops what it decoded', () => {
    const st = new ClusterStore();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
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

describe('cluster copy as bytes: a full write that cannot get its buffer', () => {
  it('is told, not thrown out of the commit; readers keep the last copy, and the next commit brings every missed change in', () => {
    const svc = (name: string, ip: string): SlimService => ({ namespace: 'ns', name, type: 'ClusterIP', clusterIPs: [ip], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    const st = new ClusterStore();
    let fail = false;
    const errors: string[] = [];
    const w = ClusterBytesWriter.attach(st, {
      ...AT_ONCE,
      alloc: (size) => {
        if (fail) throw new Error('memfd_create: EMFILE');
        return new ArrayBuffer(size);
      },
      onError: (e) => errors.push(e.message),
    });
    const v = new ByteClusterView(() => w.buffer);
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('x', '10.0.0.1'));
    st.commit();
    const before = w.buffer;
    fail = true;
    // more than the buffer's room: a full write is needed, and its buffer cannot be had
    for (let i = 0; i < 2000; i++) st.upsertService(svc(`y${i}`, `10.1.${i >> 8}.${i & 255}`));
    st.upsertService(svc('x', '10.0.0.2'));
    expect(() => st.commit()).not.toThrow();
    expect(errors).toEqual(['memfd_create: EMFILE']);
    expect(w.buffer).toBe(before);
    expect(v.service('x', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.1']);
    expect(v.service('y7', 'ns')).toBeUndefined();
    // a later small change: still no buffer, still told, the copy unchanged and consistent
    st.deleteService('ns', 'y0');
    expect(() => st.commit()).not.toThrow();
    expect(errors).toHaveLength(2);
    expect(v.service('x', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.1']);
    // the buffer can be had again: one commit of one change brings in all the missed ones
    fail = false;
    st.upsertService(svc('z', '10.2.0.1'));
    st.commit();
    expect(w.buffer).not.toBe(before);
    expect(v.service('x', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.2']);
    expect(v.service('y7', 'ns')?.svc?.clusterIPs).toEqual(['10.1.0.7']);
    expect(v.service('y0', 'ns')).toBeUndefined();
    expect(v.service('z', 'ns')?.svc?.clusterIPs).toEqual(['10.2.0.1']);
    expect(v.serviceEntries()).toHaveLength(st.serviceEntries().length);
  });
});

describe('cluster copy as bytes: the decoded cache', () => {
  it('names asked in turn, more than the cache holds, still hit it mostly (no first-in first-out eviction)', () => {
    const st = new ClusterStore();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
    const v = new ByteClusterView(() => w.buffer);
    const n = 5000; // more than the cache's 4,096
    for (let i = 0; i < n; i++) st.upsertService({ namespace: 'ns', name: `s${i}`, type: 'ClusterIP', clusterIPs: [`10.1.${i >> 8}.${i & 255}`], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    st.commit();
    for (let i = 0; i < n; i++) v.service(`s${i}`, 'ns');
    const first = v.decoded;
    for (let round = 0; round < 3; round++) for (let i = 0; i < n; i++) expect(v.service(`s${i}`, 'ns')?.name).toBe(`s${i}`);
    // first-in first-out would decode every one of the 15,000 again
    expect(v.decoded - first).toBeLessThan(n * 3 * 0.5);
  });

  /** A store of `n` Services (ns/s0…) with its copy and a reader. */
  function copyOf(n: number): { st: ClusterStore; v: ByteClusterView } {
    const st = new ClusterStore();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
    for (let i = 0; i < n; i++) st.upsertService({ namespace: 'ns', name: `s${i}`, type: 'ClusterIP', clusterIPs: [`10.1.${i >> 8}.${i & 255}`], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    st.commit();
    return { st, v: new ByteClusterView(() => w.buffer) };
  }

  it('holds as many Services as the copy has (8,000 asked in turn: each decoded once), up to its cap', () => {
    const n = 8000;
    const { st, v } = copyOf(n);
    for (let i = 0; i < n; i++) v.service(`s${i}`, 'ns');
    expect(v.decoded).toBe(n);
    for (let round = 0; round < 3; round++) for (let i = 0; i < n; i++) expect(v.service(`s${i}`, 'ns')?.name).toBe(`s${i}`);
    // (a cache of 4,096 decoded about half of these 24,000 again)
    expect(v.decoded).toBe(n);
    expect(v.cached).toBe(n);
    // Services added in place: it grows with them
    for (let i = n; i < n + 500; i++) st.upsertService({ namespace: 'ns', name: `s${i}`, type: 'ClusterIP', clusterIPs: [`10.2.${i >> 8}.${i & 255}`], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
    st.commit();
    for (let round = 0; round < 2; round++) for (let i = 0; i < n + 500; i++) v.service(`s${i}`, 'ns');
    expect(v.cached).toBe(n + 500);
  });

  it('holds at most 16,384 Services, however many the copy has', () => {
    const n = 20_000;
    const { v } = copyOf(n);
    for (let round = 0; round < 2; round++) for (let i = 0; i < n; i++) expect(v.service(`s${i}`, 'ns')?.name).toBe(`s${i}`);
    expect(v.cached).toBe(16_384);
  });
});

/**
 * A thread that writes a cluster copy into SharedArrayBuffers, each full write's buffer posted as
 * a leader announces its segments. `body` runs with `st` (a ClusterStore with the writer attached
 * and the namespace `ns`), `parentPort` and `workerData` (`ctl`; its word 0 set means stop) in
 * scope, and posts 'done' when it has stopped. `latest()` is the newest buffer, `said(m)` whether
 * the thread posted `m`, `stop()` stops and ends it.
 */
async function writerThread(
  body: string,
  ctl: Int32Array,
): Promise<{ latest: () => ArrayBuffer | undefined; said: (m: string) => boolean; stop: () => Promise<void> }> {
  const { ensureBuilt, ROOT } = await import('../../test/support/build.js');
  const { Worker } = await import('node:worker_threads');
  const path = await import('node:path');
  const { pathToFileURL } = await import('node:url');
  await ensureBuilt();
  const url = (p: string): string => pathToFileURL(path.join(ROOT, 'dist/plugins/kubernetes', p)).href;
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { ClusterStore } = await import(${JSON.stringify(url('store.js'))});
      const { ClusterBytesWriter } = await import(${JSON.stringify(url('bytes.js'))});
      const st = new ClusterStore();
      ClusterBytesWriter.attach(st, { sliceMs: 0, alloc: (n) => new SharedArrayBuffer(n), onSegment: (b) => parentPort.postMessage(b) });
      st.upsertNamespace({ name: 'ns', labels: {} });
      ${body}
    })();`,
    { eval: true, workerData: ctl },
  );
  let current: ArrayBuffer | undefined;
  const said = new Set<string>();
  w.on('message', (m: unknown) => {
    if (typeof m === 'string') said.add(m);
    else current = m as ArrayBuffer;
  });
  return {
    latest: () => current,
    said: (m) => said.has(m),
    stop: async () => {
      Atomics.store(ctl, 0, 1);
      await waitFor(async () => (said.has('done') ? true : undefined), { timeout: 30_000, interval: 5, what: 'the writer thread to stop' });
      await w.terminate();
    },
  };
}

describe('cluster copy as bytes, read while another thread writes it', () => {
  it('every read is consistent (seqlock): a Service and its endpoints always of one version', async () => {
    // The writer: 50 Services rewritten over and over, each version's ClusterIP, endpoints and
    // resourceVersion derived from one number.
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const t = await writerThread(
      `const ip = (v, k) => '10.' + k + '.' + ((v >> 8) & 255) + '.' + (v & 255);
      let v = 0;
      while (Atomics.load(workerData, 0) === 0) {
        v = (v + 1) & 0xffff;
        const n = 's' + (v % 50);
        st.upsertService({ namespace: 'ns', name: n, rv: String(v), type: 'ClusterIP', clusterIPs: [ip(v, 0)], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
        st.upsertSlice({ namespace: 'ns', name: n + '-a', service: n, rv: String(v), addressType: 'IPv4', ports: [], labels: {},
          endpoints: [1, 2, 3].map((k) => ({ addresses: [ip(v, k)], hostname: 'h' + k, podName: '', nodeName: '', ready: true })) });
        st.commit();
      }
      parentPort.postMessage('done');`,
      stop,
    );
    await waitFor(async () => (t.latest() !== undefined ? true : undefined), { timeout: 10_000, interval: 5, what: 'the writer thread' });
    // (the writer is alive: a thread of this process that a loaded machine may not run for more
    // than the first 5 ms of an update; without this, reads then answered as from a dead writer)
    const v = new ByteClusterView(() => t.latest()!, { writerAlive: () => true });
    // (every Service written once: from then on each is always there, in some version)
    await waitFor(async () => (v.size === 50 ? true : undefined), { timeout: 10_000, interval: 5, what: 'the 50 Services written' });
    let reads = 0;
    let found = 0;
    const deadline = Date.now() + 1500;
    try {
      while (Date.now() < deadline) {
        for (let i = 0; i < 2000; i++) {
          const e = v.service(`s${i % 50}`, 'ns');
          reads++;
          if (e === undefined) continue;
          found++;
          const rv = Number(e.svc!.rv);
          const want = (k: number): string => `10.${k}.${(rv >> 8) & 255}.${rv & 255}`;
          expect(e.svc!.clusterIPs).toEqual([want(0)]);
          expect(e.eps.map((x) => x.ip)).toEqual([want(1), want(2), want(3)]);
          expect([...e.slices!.values()][0]!.rv).toBe(String(rv));
          const r = v.byIp(want(0));
          // (a newer version may have replaced it since: then the address is gone, never half there)
          if (r.length > 0) expect(r.every((x) => isServiceRecord(x) && x.name === e.name)).toBe(true);
        }
        await new Promise((r) => setImmediate(r)); // take the buffers the writer posted
      }
    } finally {
      await t.stop();
    }
    expect(found).toBe(reads);
    expect(reads).toBeGreaterThan(0);
  }, 30_000);
});

describe('cluster copy as bytes: what it must not get wrong', () => {
  const svc = (name: string, ip: string, ns = 'ns'): SlimService => ({ namespace: ns, name, type: 'ClusterIP', clusterIPs: [ip], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });
  /** The header's sequence word (odd while the writer updates in place). */
  const seqOf = (ab: ArrayBuffer): number => new Uint32Array(ab, 0, 24)[1]!;

  it('counts the Services right when a deleted one comes back (a deleted slot reused)', () => {
    const st = new ClusterStore();
    st.upsertNamespace({ name: 'ns', labels: {} });
    for (let i = 0; i < 5; i++) st.upsertService(svc(`s${i}`, `10.0.0.${i + 1}`));
    st.commit();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
    const v = new ByteClusterView(() => w.buffer);
    const full = w.rewrites;
    for (let k = 0; k < 4; k++) {
      st.deleteService('ns', 's1');
      st.commit();
      expect(v.size).toBe(4);
      st.upsertService(svc('s1', '10.0.0.2'));
      st.commit();
      expect(v.size).toBe(5);
    }
    expect(w.rewrites).toBe(full); // (all in place)
  });

  it('checks that a buffer is a cluster copy on every read, not only the first', () => {
    const junk = new ArrayBuffer(4096);
    new Uint8Array(junk).fill(0x41);
    const v = new ByteClusterView(() => junk);
    for (let i = 0; i < 3; i++) expect(() => v.service('a', 'b')).toThrow('kubernetes: not a cluster copy');
    expect(() => new ByteClusterView(() => new ArrayBuffer(8)).synced).toThrow('kubernetes: not a cluster copy');
  });

  it('writes strings and counts past 16 bits whole: a 70,000-character pod name, 65,537 namespaces', () => {
    const st = new ClusterStore({ endpointPodNames: true, warn: () => {} });
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('a', '10.0.0.1'));
    const long = 'p'.repeat(70_000);
    st.upsertSlice({ namespace: 'ns', name: 'a-1', service: 'a', addressType: 'IPv4', ports: [], labels: {}, endpoints: [
      { addresses: ['10.1.0.1'], hostname: '', podName: long, nodeName: '', ready: true },
      { addresses: ['10.1.0.2'], hostname: '', podName: 'good', nodeName: '', ready: true },
    ] });
    st.upsertService(svc('b', '10.0.0.2'));
    st.synced = true;
    st.commit();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
    const v = new ByteClusterView(() => w.buffer);
    const eps = (e: ServiceRecord | undefined): unknown => e?.eps.map((x) => [x.ip, x.podName.length, e.label(x)]);
    expect(eps(v.service('a', 'ns'))).toEqual([['10.1.0.1', 70_000, '10-1-0-1'], ['10.1.0.2', 4, 'good']]);
    expect(eps(v.service('a', 'ns'))).toEqual(eps(st.service('a', 'ns')));
    expect(v.service('b', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.2']);
    // a change to it, in place (the writer decodes the old record for its addresses)
    st.upsertService(svc('a', '10.0.0.9'));
    st.commit();
    expect(v.service('a', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.9']);
    expect(v.byIp('10.0.0.1')).toHaveLength(0);
    expect(v.byIp('10.1.0.1').map((x) => (isServiceRecord(x) ? x.name : x.podName.length))).toEqual([70_000]);

    const many = new ClusterStore();
    for (let i = 0; i < 65_537; i++) many.upsertNamespace({ name: `n${i}`, labels: {} });
    many.commit();
    const mw = ClusterBytesWriter.attach(many, AT_ONCE);
    const mv = new ByteClusterView(() => mw.buffer);
    for (const n of ['n0', 'n5', 'n65535', 'n65536']) expect(mv.namespaceExposed(n), n).toBe(true);
    expect(mv.namespaceExposed('n65537')).toBe(false);
  });

  /** A synced store with Service a (10.0.0.1) in namespace ns, and its copy as bytes. */
  const oneServiceCopy = (): ClusterBytesWriter => {
    const st = new ClusterStore();
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('a', '10.0.0.1'));
    st.synced = true;
    st.commit();
    return ClusterBytesWriter.attach(st, AT_ONCE);
  };

  it('a writer stopped in the middle of an update (killed): reads answer at once, as a copy not synced and empty, until it moves', () => {
    const w = oneServiceCopy();
    let stuck = 0;
    const v = new ByteClusterView(() => w.buffer, { onStuck: () => stuck++ });
    expect(v.service('a', 'ns')?.name).toBe('a');
    const h = new Uint32Array(w.buffer, 0, 24);
    h[1] = h[1]! | 1; // the sequence left odd
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < 1000; i++) {
      expect(v.synced).toBe(false);
      expect(v.service('a', 'ns')).toBeUndefined();
      expect(v.namespaceExposed('ns')).toBe(false);
      expect(v.byIp('10.0.0.1')).toHaveLength(0);
      expect(v.serviceEntries()).toHaveLength(0);
    }
    // (one wait of a few milliseconds, then none: a spin on every read took ~1.4 ms each, 7 s in
    // all.) The wait is a spin: this thread's CPU time, which a loaded machine does not stretch.
    const cpu = process.cpuUsage(cpu0);
    expect((cpu.user + cpu.system) / 1000, 'CPU ms of 5,000 reads').toBeLessThan(1000);
    expect(stuck).toBe(1);
    // it moves again: read as before
    h[1] = h[1]! + 1;
    expect(v.synced).toBe(true);
    expect(v.service('a', 'ns')?.name).toBe('a');
  });

  it('a writer whose process is alive is waited for past the first 5 ms (a long update is not taken for a dead writer)', () => {
    const w = oneServiceCopy();
    const h = new Uint32Array(w.buffer, 0, 24);
    let asked = 0;
    let stuck = 0;
    // (asked once the update has lasted 5 ms: it ends then, as a live writer's would)
    const v = new ByteClusterView(() => w.buffer, {
      onStuck: () => stuck++,
      writerAlive: () => {
        asked++;
        h[1] = h[1]! + 1;
        return true;
      },
    });
    h[1] = h[1]! | 1;
    expect(v.service('a', 'ns')?.name).toBe('a');
    expect(v.synced).toBe(true);
    expect([asked, stuck]).toEqual([1, 0]);
  });

  it('an exception in an update in place leaves the sequence even (readers can tell), and a full write brings the copy back', () => {
    const st = new ClusterStore();
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('a', '10.0.0.1'));
    st.commit();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
    const v = new ByteClusterView(() => w.buffer);
    const buf = w.buffer;
    const seq0 = seqOf(buf);
    const writer = w as unknown as { writeService: (e: unknown) => number };
    const writeService = writer.writeService;
    writer.writeService = () => {
      throw new Error('boom');
    };
    try {
      st.upsertService(svc('b', '10.0.0.2'));
      expect(() => st.commit()).toThrow('boom');
    } finally {
      writer.writeService = writeService;
    }
    // (the full write tried at once failed too: the copy is still that buffer, its sequence moved on and even)
    expect(w.buffer).toBe(buf);
    expect(seqOf(buf) & 1).toBe(0);
    expect(seqOf(buf)).not.toBe(seq0);
    expect(v.service('a', 'ns')?.name).toBe('a');
    st.upsertService(svc('c', '10.0.0.3'));
    st.commit();
    expect(w.buffer).not.toBe(buf);
    for (const n of ['a', 'b', 'c']) expect(v.service(n, 'ns')?.name).toBe(n);
    expect(v.size).toBe(3);
  });

  it('a new buffer gets a new id (announced with it: a follower checks it is the buffer it was told of)', () => {
    const st = new ClusterStore();
    const w = ClusterBytesWriter.attach(st, AT_ONCE);
    const first = segmentId(w.buffer);
    for (let i = 0; i < 2000; i++) st.upsertService(svc(`y${i}`, `10.1.${i >> 8}.${i & 255}`));
    st.commit();
    expect(first).not.toBe(0);
    expect(segmentId(w.buffer)).not.toBe(0);
    expect(segmentId(w.buffer)).not.toBe(first);
    expect(segmentId(new ArrayBuffer(4096))).toBe(0);
  });
});

describe('cluster copy as bytes: every Service listed while another thread commits', () => {
  it('a listing (zone transfer) of thousands of Services ends while the writer commits every few milliseconds', async () => {
    const N = 20_000; // (more than the decoded cache holds: every pass decodes most of them)
    // [0]: stop; [1]: commits done. The writer stops by itself after 5,000 commits (one every
    // 2 ms, 10 s or more): a listing that can only end once the commits stop ends after that.
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const t = await writerThread(
      `const svc = (i, v) => ({ namespace: 'ns', name: 's' + i, rv: String(v), type: 'ClusterIP', clusterIPs: ['10.' + (i >> 16) + '.' + ((i >> 8) & 255) + '.' + (i & 255)], headless: false, externalName: '', ports: [{ name: 'http', protocol: 'tcp', port: 80 }], publishNotReadyAddresses: false, labels: {} });
      for (let i = 0; i < ${N}; i++) st.upsertService(svc(i, 0));
      st.commit();
      parentPort.postMessage('ready');
      let v = 0;
      const tick = () => {
        if (Atomics.load(workerData, 0) !== 0 || v >= 5000) return parentPort.postMessage('done');
        v++;
        st.upsertService(svc(v % ${N}, v));
        st.commit();
        Atomics.store(workerData, 1, v);
        setTimeout(tick, 2);
      };
      tick();`,
      ctl,
    );
    try {
      await waitFor(async () => (t.said('ready') && Atomics.load(ctl, 1) > 0 ? true : undefined), { timeout: 20_000, interval: 5, what: 'the writer thread committing' });
      const v = new ByteClusterView(() => t.latest()!);
      const before = Atomics.load(ctl, 1);
      const list = v.serviceEntries();
      const during = Atomics.load(ctl, 1) - before;
      expect(list).toHaveLength(N);
      expect(new Set(list.map((e) => e.name)).size).toBe(N);
      // it ended while the writer was still committing (not only once it stopped)
      expect(Atomics.load(ctl, 1)).toBeLessThan(5000);
      console.log(`listed ${N} Services while the writer committed ${during} times`);
    } finally {
      await t.stop();
    }
  }, 90_000);
});
