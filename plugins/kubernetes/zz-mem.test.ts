import { it } from 'vitest';
import { Store } from './store.js';
import { convertService, convertSlice, convertNamespace } from './watch/convert.js';
import { KubernetesHandler } from './kubernetes.js';
import { Recorder, fakeRequest, nextReturning } from '../../src/testing/index.js';
import { Fall } from '../../src/plugin/api.js';

it('memory', async () => {
  const g = globalThis as { gc?: () => void };
  if (!g.gc) console.log('NO GC'); g.gc?.();
  const before = process.memoryUsage();
  const st = new Store();
  for (let n = 0; n < 50; n++) st.upsertNamespace(convertNamespace({ metadata: { name: `ns${n}`, labels: { team: 'x' } } })!);
  for (let i = 0; i < 10000; i++) {
    const ns = `ns${i % 50}`;
    const headless = i % 2 === 0;
    st.upsertService(convertService(JSON.parse(JSON.stringify({ metadata: { name: `svc-${i}`, namespace: ns, labels: { app: `svc-${i}`, tier: 'backend' } }, spec: { selector: { app: `svc-${i}` }, clusterIP: headless ? 'None' : `10.96.${i >> 8}.${i & 255}`, ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'metrics', protocol: 'TCP', port: 9090 }] } })))!);
    const eps = [];
    for (let j = 0; j < 10; j++) {
      const k = i * 10 + j;
      eps.push({ addresses: [`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`], conditions: { ready: true, serving: true, terminating: false }, nodeName: `node-${k % 100}`, targetRef: { kind: 'Pod', name: `svc-${i}-7d8f9c-${j}abcd`, namespace: ns, uid: `uid-${k}-aaaaaaaa-bbbb-cccc` }, zone: 'z1' });
    }
    st.upsertSlice(convertSlice(JSON.parse(JSON.stringify({ metadata: { name: `svc-${i}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } }, addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'metrics', protocol: 'TCP', port: 9090 }], endpoints: eps })))!);
  }
  g.gc?.(); const pre = process.memoryUsage().heapUsed; console.log('before commit +' + ((pre - before.heapUsed)/1048576).toFixed(1));
  st.commit();
  st.synced = true;
  g.gc?.();
  const mid = process.memoryUsage();
  const cfg = { zones: ['cluster.local.'], primaryZone: 'cluster.local.', namespaces: [], pods: 'disabled' as const, endpointPodNames: false, ttl: 5, noEndpoints: false, fall: Fall.none, ignoreEmptyService: false, apiserverQps: 0, apiserverBurst: 0, apiserverMaxInflight: 0, startupTimeout: 5000 };
  const h = new KubernetesHandler(cfg, st, { interfaceIps: () => [] });
  const next = nextReturning(0);
  for (let i = 0; i < 10000; i++) {
    const rec = new Recorder(fakeRequest(`svc-${i}.ns${i % 50}.svc.cluster.local.`, 'A'));
    h.serve(rec.req, rec, next);
    const r2 = new Recorder(fakeRequest(`_http._tcp.svc-${i}.ns${i % 50}.svc.cluster.local.`, 'SRV'));
    h.serve(r2.req, r2, next);
  }
  g.gc?.();
  const after = process.memoryUsage();
  const mb = (x: number) => (x / 1048576).toFixed(1);
  console.log(`store heap +${mb(mid.heapUsed - before.heapUsed)} MB, after answering all +${mb(after.heapUsed - before.heapUsed)} MB; rss ${mb(after.rss)} MB (baseline rss ${mb(before.rss)})`, st.size);
  // query timing
  const t0 = performance.now();
  const N = 200000;
  for (let q = 0; q < N; q++) {
    const i = q % 10000;
    const rec = new Recorder(fakeRequest(`svc-${i}.ns${i % 50}.svc.cluster.local.`, 'A'));
    h.serve(rec.req, rec, next);
  }
  console.log(`${((N / (performance.now() - t0)) * 1000).toFixed(0)} q/s through serve+encode (incl. fakeRequest build)`);
}, 120000);
