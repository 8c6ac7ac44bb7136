// The plugin fed by the API source (watch/client.ts) from the fake API server of test/support:
// sync, live watch updates, the programming-latency metric, and start-up with an unreachable API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sortAndCheck, startServer, type TestServer } from '../../src/testing/index.js';
import { FakeApiServer } from '../../test/support/fake-apiserver.js';
import { endpointSlice, namespace, service } from '../../test/support/k8s-objects.js';

let fake: FakeApiServer;
let srv: TestServer;

async function until(f: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
}

beforeAll(async () => {
  fake = await FakeApiServer.start({ bookmarkMs: 200 });
  fake.load('namespaces', [namespace('shop'), namespace('default')]);
  fake.load('services', [service('shop', 'web', '10.96.1.10', { ports: [{ name: 'http', port: 80 }] }), service('shop', 'db', 'None')]);
  fake.load('endpointslices', [endpointSlice('shop', 'db', 'db-1', [{ ip: '10.244.0.5', hostname: 'db-0' }, { ip: '10.244.0.6', ready: false }])]);
  srv = await startServer(`cluster.local:0 {
  bind 127.0.0.1
  kubernetes {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
  }
}`);
});

afterAll(async () => {
  await srv?.close();
  await fake?.close();
});

describe('kubernetes with the API source', () => {
  it('answers from the first sync', async () => {
    sortAndCheck((await srv.query('web.shop.svc.cluster.local.', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['web.shop.svc.cluster.local. 5 IN A 10.96.1.10'] });
    sortAndCheck((await srv.query('db.shop.svc.cluster.local.', 'A')).msg, { rcode: 'NOERROR', answer: ['db.shop.svc.cluster.local. 5 IN A 10.244.0.5'] });
    sortAndCheck((await srv.query('nope.shop.svc.cluster.local.', 'A')).msg, { rcode: 'NXDOMAIN' });
  });

  it("counts its API requests in CoreDNS's rest_client metrics", async () => {
    const host = new URL(fake.url).host;
    const reqs = await srv.metrics.registry.getSingleMetricAsString('coredns_kubernetes_rest_client_requests_total');
    const m = new RegExp(`coredns_kubernetes_rest_client_requests_total\\{method="GET",code="200",host="${host.replace(/[.]/g, '\\.')}"\\} (\\d+)`).exec(reqs);
    expect(m, reqs).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(3); // a list per kind at least
    const lat = await srv.metrics.registry.getSingleMetricAsString('coredns_kubernetes_rest_client_request_duration_seconds');
    expect(lat).toContain(`coredns_kubernetes_rest_client_request_duration_seconds_count{verb="GET",host="${host}"}`);
  });

  it('follows watch events and observes programming latency', async () => {
    fake.create('services', service('shop', 'cart', '10.96.1.20'));
    await until(async () => (await srv.query('cart.shop.svc.cluster.local.', 'A')).rcode === 0);
    const slice = endpointSlice('shop', 'db', 'db-1', [{ ip: '10.244.0.5', hostname: 'db-0' }, { ip: '10.244.0.7', hostname: 'db-1' }]);
    (slice.metadata as { annotations?: Record<string, string> }).annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': new Date(Date.now() - 1000).toISOString() };
    fake.update('endpointslices', slice);
    await until(async () => (await srv.query('db-1.db.shop.svc.cluster.local.', 'A')).rcode === 0);
    const text = await srv.metrics.registry.getSingleMetricAsString('coredns_kubernetes_dns_programming_duration_seconds');
    expect(text).toMatch(/coredns_kubernetes_dns_programming_duration_seconds_count\{service_kind="headless_with_selector"\} 1/);
    fake.delete('services', { metadata: { name: 'web', namespace: 'shop' } });
    await until(async () => (await srv.query('web.shop.svc.cluster.local.', 'A')).rcode === 3);
  });
});

describe('kubernetes with an unreachable API', () => {
  it('starts after startup_timeout and answers SERVFAIL (with SOA) where it would say NXDOMAIN', async () => {
    const t0 = Date.now();
    const s = await startServer(`cluster.local:0 {
  bind 127.0.0.1
  kubernetes {
    endpoint http://127.0.0.1:1
    startup_timeout 300ms
  }
}`);
    try {
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      const r = await s.query('web.shop.svc.cluster.local.', 'A');
      expect(r.rcode).toBe(2);
      expect(r.msg.authorities?.[0]?.type).toBe('SOA');
      expect(s.log.lines.some((l) => l.includes('unsynced'))).toBe(true);
    } finally {
      await s.close();
    }
  });
});
