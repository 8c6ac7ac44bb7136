// A synthetic cluster for the kubernetes plugin's scale benchmark: N Services (default 10,000) in
// a number of namespaces and M endpoints (default 100,000) in EndpointSlices of at most 100
// endpoints each, as the EndpointSlice controller cuts them. Every 50th Service is big (250
// endpoints: three slices), every 10th is headless (endpoints carry hostnames), the rest share the
// remaining endpoints (`bigEvery: 0`: every Service gets the same share). Deterministic: the same options give the same cluster.
import type { FakeApiServer, KubeObject } from '../test/support/fake-apiserver.js';
import { endpointSlice, namespace, service, type EndpointSpec } from '../test/support/k8s-objects.js';

export interface FixtureOptions {
  services?: number;
  endpoints?: number;
  namespaces?: number;
  /** Endpoints per slice (the controller's default maximum is 100). */
  perSlice?: number;
  /** Every this-many-th Service is big (250 endpoints); 0: none, every Service gets the same share. */
  bigEvery?: number;
}

export interface Fixture {
  namespaces: KubeObject[];
  services: KubeObject[];
  slices: KubeObject[];
  endpoints: number;
  /** A ClusterIP service to probe: name, namespace, IP. */
  probe: { name: string; namespace: string; ip: string };
  /** A headless service and its number of (ready) endpoints. */
  headless: { name: string; namespace: string; endpoints: number };
}

/** 10.96.0.0/12 for Service IPs, 10.128.0.0/10 for endpoint IPs. */
export const serviceIp = (i: number): string => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
export const endpointIp = (k: number): string => `10.${128 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

export function makeFixture(opts: FixtureOptions = {}): Fixture {
  const nSvc = opts.services ?? 10_000;
  const nEp = opts.endpoints ?? 100_000;
  const nNs = opts.namespaces ?? Math.max(1, Math.min(100, Math.ceil(nSvc / 100)));
  const perSlice = opts.perSlice ?? 100;
  const bigEvery = opts.bigEvery ?? 50;
  const big = (i: number): boolean => bigEvery > 0 && i % bigEvery === bigEvery - 1;
  const nBig = Array.from({ length: nSvc }, (_, i) => i).filter(big).length;
  const bigSize = Math.min(250, Math.floor(nEp / Math.max(1, nSvc)) * 25);
  const rest = Math.max(0, nEp - nBig * bigSize);
  const nSmall = nSvc - nBig;
  const fixture: Fixture = {
    namespaces: [],
    services: [],
    slices: [],
    endpoints: 0,
    probe: { name: 'svc-0', namespace: 'ns-0', ip: serviceIp(1) },
    headless: { name: '', namespace: '', endpoints: 0 },
  };
  for (let n = 0; n < nNs; n++) fixture.namespaces.push(namespace(`ns-${n}`, { team: `t${n % 7}` }));
  let k = 0;
  let small = 0;
  for (let i = 0; i < nSvc; i++) {
    const ns = `ns-${i % nNs}`;
    const name = `svc-${i}`;
    const headless = i % 10 === 5;
    let count: number;
    if (big(i)) count = bigSize;
    else {
      count = Math.floor(rest / Math.max(1, nSmall)) + (small < rest % Math.max(1, nSmall) ? 1 : 0);
      small++;
    }
    const ports = [
      { name: 'http', port: 80 },
      { name: 'metrics', port: 9090 },
    ];
    fixture.services.push(service(ns, name, headless ? 'None' : serviceIp(i + 1), { ports, labels: { tier: i % 3 === 0 ? 'front' : 'back' } }));
    const eps: EndpointSpec[] = [];
    for (let e = 0; e < count; e++, k++) {
      eps.push({ ip: endpointIp(k), pod: `${name}-${e}`, node: `node-${k % 500}`, ready: e % 20 !== 19, ...(headless ? { hostname: `${name}-${e}` } : {}) });
    }
    for (let s = 0; s * perSlice < eps.length; s++) {
      fixture.slices.push(endpointSlice(ns, name, `${name}-${s.toString(36).padStart(5, 'x')}`, eps.slice(s * perSlice, (s + 1) * perSlice), { ports }));
    }
    if (headless && fixture.headless.name === '' && count > 0) {
      fixture.headless = { name, namespace: ns, endpoints: eps.filter((e) => e.ready !== false).length };
    }
  }
  fixture.endpoints = k;
  return fixture;
}

/** Put a fixture into the fake API server as its initial state. */
export function loadFixture(fake: FakeApiServer, f: Fixture): void {
  fake.load('namespaces', f.namespaces);
  fake.load('services', f.services);
  fake.load('endpointslices', f.slices);
}
