// In-process benchmark of the kubernetes plugin's query path (serveQuery: wire parse → route →
// chain → writer → reply bytes, no sockets) on a 1,000-Service cluster from manifests, next to
// hosts for scale; and the heap its store keeps for 10,000 Services / 100,000 endpoints. Run:
//   NODE_OPTIONS=--expose-gc npx vitest bench --run bench/kubernetes.bench.ts
//
// Measured 2026-11-22 (2 vCPU VM, Node 20.20, --expose-gc), store for 10k Services / 100k
// endpoints (10 per Service, half headless) fed through watch/convert.ts:
//   slim objects kept as given:                 42.4 MB heap (~240 B per endpoint in SlimEndpoint
//                                               objects + a merged Endpoint object + reverse index)
//   packed slices, lazy merge (store.ts today): 21.8 MB heap
//   + A and _http._tcp SRV asked once for every Service: +25 MB (precomputed answers; SRV sets of
//   more than 8 records are rebuilt per query instead of kept: before that bound, +35 MB).
// Query path, same run: hosts A 301k q/s; kubernetes ClusterIP A 230k q/s (answers are shared,
// precomputed records); a mix of A, headless A, SRV, PTR and NXDOMAIN 112k q/s.
import { afterAll, bench, describe } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildQuery } from '../src/testing/client.js';
import { harness } from './harness.js';
import { ClusterStore } from '../plugins/kubernetes/store.js';
import { convertService, convertSlice } from '../plugins/kubernetes/watch/convert.js';

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-k8s-bench-'));
const N = 1000;
const items: unknown[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } }];
for (let i = 0; i < N; i++) {
  const headless = i % 2 === 1;
  items.push({ kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench' }, spec: { clusterIP: headless ? 'None' : `10.96.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80 }] } });
  items.push({
    kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-x`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: Array.from({ length: 3 }, (_, j) => ({ addresses: [`10.244.${(i * 3 + j) >> 8}.${(i * 3 + j) & 255}`], conditions: { ready: true } })),
  });
}
writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify({ kind: 'List', items }));
const hostsFile = path.join(dir, 'hosts');
writeFileSync(hostsFile, Array.from({ length: N }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1} host-${i}.bench.test`).join('\n') + '\n');

const h = harness(dir);
const { contextFor, driver } = h;

const k8s = await contextFor(`.:0 {\n    kubernetes cluster.local in-addr.arpa {\n        manifests ${dir}\n    }\n}\n`);
const hosts = await contextFor(`.:0 {\n    hosts ${hostsFile}\n}\n`);
const svcA = Array.from({ length: N }, (_, i) => buildQuery(`svc-${i - (i % 2)}.bench.svc.cluster.local`, 'A', { id: i }));
const mix = Array.from({ length: N }, (_, i) =>
  buildQuery(
    i % 5 === 0 ? `missing-${i}.bench.svc.cluster.local` : i % 5 === 1 ? `_http._tcp.svc-${i}.bench.svc.cluster.local` : i % 5 === 2 ? `${(i * 3) & 255}.${(i * 3) >> 8}.244.10.in-addr.arpa` : `svc-${i}.bench.svc.cluster.local`,
    i % 5 === 1 ? 'SRV' : i % 5 === 2 ? 'PTR' : 'A',
    { id: i },
  ),
);
const hostsQ = Array.from({ length: N }, (_, i) => buildQuery(`host-${i}.bench.test`, 'A', { id: i }));

describe('serveQuery (in process, no sockets)', () => {
  bench('hosts: A', driver(hosts, hostsQ), { time: 1500 });
  bench('kubernetes: ClusterIP A', driver(k8s, svcA), { time: 1500 });
  bench('kubernetes: A/headless A/SRV/PTR/NXDOMAIN mix', driver(k8s, mix), { time: 1500 });
});

// The store alone at 10,000 Services / 100,000 endpoints.
const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};
const h0 = heap();
const store = new ClusterStore();
for (let i = 0; i < 10_000; i++) {
  const headless = i % 2 === 0;
  store.upsertService(convertService({ metadata: { name: `svc-${i}`, namespace: `ns${i % 50}` }, spec: { clusterIP: headless ? 'None' : `10.96.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80 }] } })!);
  const endpoints = Array.from({ length: 10 }, (_, j) => {
    const k = i * 10 + j;
    return { addresses: [`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`], conditions: { ready: true }, nodeName: `node-${k % 100}`, targetRef: { kind: 'Pod', name: `svc-${i}-7d8f9c-${j}abcd` } };
  });
  store.upsertSlice(convertSlice({ metadata: { name: `svc-${i}-abcde`, namespace: `ns${i % 50}`, labels: { 'kubernetes.io/service-name': `svc-${i}` } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints })!);
}
store.commit();
const h1 = heap();

afterAll(async () => {
  const how = gc ? 'after a forced GC' : 'without a forced GC (set NODE_OPTIONS=--expose-gc)';
  process.stdout.write(`kubernetes store, 10k Services / 100k endpoints: ${((h1 - h0) / 1048576).toFixed(1)} MB heap ${how}; ${(h.bytes / 1048576).toFixed(0)} MB of replies\n`);
  await h.close();
});
