// k8s_external: CoreDNS's tables (plugin/k8s_external/external_test.go TestExternal, apex_test.go
// TestApex, setup_test.go TestSetup, v1.10.1 plus the fallthrough rows added after it) replayed as
// data through real servers: the cluster CoreDNS's fake APIConn holds is written as manifests and
// served by the kubernetes plugin; k8s_external finds that plugin at startup. Then what the tables
// do not cover: the data from the (fake) API server as it changes, the kube-dns Service's external
// address as the name server's, a load-balancer host name resolved through the server, ttl, apex,
// fallthrough, and the errors `typedns check` reports.
//
// Compared as CoreDNS's SortAndCheck compares, except: SOA serials are set to 0 (CoreDNS's fake
// returns a constant, typedns the time of the last change to an external Service; a test below
// checks it), and the SOA's mailbox is compared too — it is hostmaster.<apex>.<zone>, as
// CoreDNS's code and apex_test.go have it (external_test.go's rows write hostmaster.<zone>, which
// CoreDNS's checker never compares).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { parsePlugin, sortAndCheck, startServer, waitFor, type Case, type TestServer } from '../../src/testing/index.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import { FakeApiServer } from '../../test/support/fake-apiserver.js';
import { endpointSlice, namespace, service } from '../../test/support/k8s-objects.js';
import { startUpstream, type Upstream } from '../../test/support/upstream.js';
import k8sExternal from './index.js';

// The objects of external_test.go's fake (svcIndexExternal, epIndexExternal).
const CLUSTER = `
apiVersion: v1
kind: Service
metadata: { name: svc1, namespace: testns }
spec: { type: ClusterIP, clusterIP: 10.0.0.1, externalIPs: [1.2.3.4], ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc6, namespace: testns }
spec: { type: ClusterIP, clusterIP: 10.0.0.3, externalIPs: ["1:2::5"], ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc11, namespace: testns }
spec: { type: LoadBalancer, clusterIP: 10.0.0.3, ports: [{ name: http, protocol: TCP, port: 80 }] }
status: { loadBalancer: { ingress: [{ ip: 2.3.4.5 }] } }
---
apiVersion: v1
kind: Service
metadata: { name: svc12, namespace: testns }
spec: { type: LoadBalancer, clusterIP: 10.0.0.3, ports: [{ name: http, protocol: TCP, port: 80 }] }
status: { loadBalancer: { ingress: [{ hostname: dummy.hostname }] } }
---
apiVersion: v1
kind: Service
metadata: { name: svc-headless, namespace: testns }
spec: { type: ClusterIP, clusterIP: None, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc-headless-1, namespace: testns, labels: { kubernetes.io/service-name: svc-headless } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints:
  - { addresses: [1.2.3.4], hostname: endpoint-svc-0, nodeName: test-node, targetRef: { kind: Pod, name: endpoint-svc-0 } }
  - { addresses: [1.2.3.5], hostname: endpoint-svc-1, nodeName: test-node, targetRef: { kind: Pod, name: endpoint-svc-1 } }
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-external-'));
fs.writeFileSync(path.join(dir, 'cluster.yaml'), CLUSTER);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});
async function server(corefile: string): Promise<TestServer> {
  const s = await startServer(corefile);
  servers.push(s);
  return s;
}

/** Every SOA serial set to 0 (compared separately). */
function zeroSerials(m: DecodedPacket): DecodedPacket {
  for (const sec of [m.answers, m.authorities, m.additionals]) for (const r of sec ?? []) if (r.type === 'SOA') (r.data as { serial: number }).serial = 0;
  return m;
}

type Row = [name: string, type: string, want: Case];

/** Ask every row (EDNS, so no 512-byte cut, as CoreDNS's tables are checked without a wire); the rows that differ. */
async function replay(s: TestServer, rows: readonly Row[]): Promise<string[]> {
  const failures: string[] = [];
  for (const [name, type, want] of rows) {
    const r = await s.query(name, type, { edns: 4096 });
    try {
      sortAndCheck(zeroSerials(r.msg), { aa: true, ...want });
    } catch (e) {
      failures.push(`${name} ${type}: ${(e as Error).message}`);
    }
  }
  return failures;
}

const SOA = 'example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5';
const nx: Case = { rcode: 'NXDOMAIN', answer: [], ns: [SOA] };
const nodata: Case = { rcode: 'NOERROR', answer: [], ns: [SOA] };
const ok = (answer: string[], extra: string[] = []): Case => ({ rcode: 'NOERROR', answer, ns: [], extra });

// external_test.go: tests
const EXTERNAL: Row[] = [
  ['4.3.2.1.in-addr.arpa.', 'PTR', ok(['4.3.2.1.in-addr.arpa. 5 IN PTR svc1.testns.example.com.'])],
  ['svc1.testns.example.com.', 'PTR', nodata],
  ['not-existing.testns.example.com.', 'PTR', nx],
  ['svc1.testns.example.com.', 'A', ok(['svc1.testns.example.com. 5 IN A 1.2.3.4'])],
  ['svc1.testns.example.com.', 'SRV', ok(['svc1.testns.example.com. 5 IN SRV 0 100 80 svc1.testns.example.com.'], ['svc1.testns.example.com. 5 IN A 1.2.3.4'])],
  ['*._not-udp-or-tcp.svc1.testns.example.com.', 'SRV', nx],
  ['_http._tcp.svc1.testns.example.com.', 'SRV', ok(['_http._tcp.svc1.testns.example.com. 5 IN SRV 0 100 80 svc1.testns.example.com.'], ['svc1.testns.example.com. 5 IN A 1.2.3.4'])],
  ['svc1.testns.example.com.', 'AAAA', nodata],
  ['svc0.testns.example.com.', 'AAAA', nx],
  ['svc0.testns.example.com.', 'A', nx],
  ['svc0.svc-nons.example.com.', 'A', nx],
  ['svc6.testns.example.com.', 'AAAA', ok(['svc6.testns.example.com. 5 IN AAAA 1:2::5'])],
  ['_http._tcp.svc6.testns.example.com.', 'SRV', ok(['_http._tcp.svc6.testns.example.com. 5 IN SRV 0 100 80 svc6.testns.example.com.'], ['svc6.testns.example.com. 5 IN AAAA 1:2::5'])],
  ['svc6.testns.example.com.', 'SRV', ok(['svc6.testns.example.com. 5 IN SRV 0 100 80 svc6.testns.example.com.'], ['svc6.testns.example.com. 5 IN AAAA 1:2::5'])],
  ['testns.example.com.', 'A', nodata],
  ['testns.example.com.', 'SOA', nodata],
  ['svc11.testns.example.com.', 'A', ok(['svc11.testns.example.com. 5 IN A 2.3.4.5'])],
  ['_http._tcp.svc11.testns.example.com.', 'SRV', ok(['_http._tcp.svc11.testns.example.com. 5 IN SRV 0 100 80 svc11.testns.example.com.'], ['svc11.testns.example.com. 5 IN A 2.3.4.5'])],
  ['svc11.testns.example.com.', 'SRV', ok(['svc11.testns.example.com. 5 IN SRV 0 100 80 svc11.testns.example.com.'], ['svc11.testns.example.com. 5 IN A 2.3.4.5'])],
  ['svc12.testns.example.com.', 'A', ok(['svc12.testns.example.com. 5 IN CNAME dummy.hostname.'])],
  ['_http._tcp.svc12.testns.example.com.', 'SRV', ok(['_http._tcp.svc12.testns.example.com. 5 IN SRV 0 100 80 dummy.hostname.'])],
  ['svc12.testns.example.com.', 'SRV', ok(['svc12.testns.example.com. 5 IN SRV 0 100 80 dummy.hostname.'])],
  ['svc-headless.testns.example.com.', 'A', ok(['svc-headless.testns.example.com. 5 IN A 1.2.3.4', 'svc-headless.testns.example.com. 5 IN A 1.2.3.5'])],
  [
    'svc-headless.testns.example.com.',
    'SRV',
    ok(
      ['svc-headless.testns.example.com. 5 IN SRV 0 50 80 endpoint-svc-0.svc-headless.testns.example.com.', 'svc-headless.testns.example.com. 5 IN SRV 0 50 80 endpoint-svc-1.svc-headless.testns.example.com.'],
      ['endpoint-svc-0.svc-headless.testns.example.com. 5 IN A 1.2.3.4', 'endpoint-svc-1.svc-headless.testns.example.com. 5 IN A 1.2.3.5'],
    ),
  ],
  [
    '_http._tcp.svc-headless.testns.example.com.',
    'SRV',
    ok(
      ['_http._tcp.svc-headless.testns.example.com. 5 IN SRV 0 50 80 endpoint-svc-0.svc-headless.testns.example.com.', '_http._tcp.svc-headless.testns.example.com. 5 IN SRV 0 50 80 endpoint-svc-1.svc-headless.testns.example.com.'],
      ['endpoint-svc-0.svc-headless.testns.example.com. 5 IN A 1.2.3.4', 'endpoint-svc-1.svc-headless.testns.example.com. 5 IN A 1.2.3.5'],
    ),
  ],
  ['endpoint-svc-0.svc-headless.testns.example.com.', 'SRV', ok(['endpoint-svc-0.svc-headless.testns.example.com. 5 IN SRV 0 100 80 endpoint-svc-0.svc-headless.testns.example.com.'], ['endpoint-svc-0.svc-headless.testns.example.com. 5 IN A 1.2.3.4'])],
  ['endpoint-svc-1.svc-headless.testns.example.com.', 'SRV', ok(['endpoint-svc-1.svc-headless.testns.example.com. 5 IN SRV 0 100 80 endpoint-svc-1.svc-headless.testns.example.com.'], ['endpoint-svc-1.svc-headless.testns.example.com. 5 IN A 1.2.3.5'])],
  ['endpoint-svc-0.svc-headless.testns.example.com.', 'A', ok(['endpoint-svc-0.svc-headless.testns.example.com. 5 IN A 1.2.3.4'])],
  ['endpoint-svc-1.svc-headless.testns.example.com.', 'A', ok(['endpoint-svc-1.svc-headless.testns.example.com. 5 IN A 1.2.3.5'])],
];

// apex_test.go: testsApex. CoreDNS's fake externalAddress is 127.0.0.1; here no endpoint holds the
// server's address (127.0.0.1), so the name server's address is that address, as CoreDNS's
// nsAddrs falls back to its own.
const APEX: Row[] = [
  ['example.com.', 'SOA', ok([SOA])],
  ['example.com.', 'NS', ok(['example.com. 5 IN NS ns1.dns.example.com.'], ['ns1.dns.example.com. 5 IN A 127.0.0.1'])],
  ['example.com.', 'SRV', nodata],
  ['dns.example.com.', 'SRV', nodata],
  ['dns.example.com.', 'NS', nodata],
  ['ns1.dns.example.com.', 'SRV', nodata],
  ['ns1.dns.example.com.', 'NS', nodata],
  ['ns1.dns.example.com.', 'AAAA', nodata],
  ['ns1.dns.example.com.', 'A', ok(['ns1.dns.example.com. 5 IN A 127.0.0.1'])],
];

const corefile = (zones: string, opts: string, kube = '', after = ''): string => `.:0 {
  bind 127.0.0.1
  k8s_external ${zones} {
${opts}
  }
  kubernetes cluster.local {
    manifests ${dir}
${kube}
  }
${after}
}`;

describe('k8s_external: CoreDNS external_test.go TestExternal and apex_test.go TestApex through a real server', () => {
  let s: TestServer;
  let started = 0;
  beforeAll(async () => {
    started = Math.floor(Date.now() / 1000);
    s = await server(corefile('example.com in-addr.arpa', '    headless'));
  });

  it(`TestExternal: ${EXTERNAL.length} rows`, async () => {
    const failures = await replay(s, EXTERNAL);
    expect(failures).toEqual([]);
    console.log(`k8s_external: CoreDNS external_test.go TestExternal: ${EXTERNAL.length - failures.length}/${EXTERNAL.length} rows passed`);
  });

  it(`TestApex: ${APEX.length} rows (zone example.com only, as apex_test.go)`, async () => {
    const apex = await server(corefile('example.com', '    headless'));
    const failures = await replay(apex, APEX);
    expect(failures).toEqual([]);
    console.log(`k8s_external: CoreDNS apex_test.go TestApex: ${APEX.length - failures.length}/${APEX.length} rows passed`);
  });

  it('the SOA serial is the time of the last change to a Service with external addresses', async () => {
    const r = await s.query('example.com.', 'SOA');
    const serial = ((r.msg.answers?.[0] as { data?: unknown } | undefined)?.data as { serial: number }).serial;
    expect(serial).toBeGreaterThanOrEqual(started - 1);
    expect(serial).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('without `headless` a headless Service and endpoint names are not answered', async () => {
    const plain = await server(corefile('example.com', ''));
    const failures = await replay(plain, [
      ['svc-headless.testns.example.com.', 'A', nx],
      ['endpoint-svc-0.svc-headless.testns.example.com.', 'A', nx],
      ['svc1.testns.example.com.', 'A', ok(['svc1.testns.example.com. 5 IN A 1.2.3.4'])],
      // an endpoint name under a Service with external addresses is no name of them (typedns: see README)
      ['x.svc1.testns.example.com.', 'A', nx],
    ]);
    expect(failures).toEqual([]);
  });
});

describe('k8s_external: CoreDNS setup_test.go TestSetup (and the fallthrough rows added after 1.10.1)', () => {
  const rows: Array<{ input: string; zone: string; apex: string; headless: boolean; fall: readonly string[] | null }> = [
    { input: 'k8s_external', zone: '.', apex: 'dns', headless: false, fall: null },
    { input: 'k8s_external example.org', zone: 'example.org.', apex: 'dns', headless: false, fall: null },
    { input: 'k8s_external example.org {\n apex testdns\n}', zone: 'example.org.', apex: 'testdns', headless: false, fall: null },
    { input: 'k8s_external example.org {\n headless\n}', zone: 'example.org.', apex: 'dns', headless: true, fall: null },
    { input: 'k8s_external example.org {\n fallthrough\n}', zone: 'example.org.', apex: 'dns', headless: false, fall: ['.'] },
    { input: 'k8s_external example.org {\n fallthrough ip6.arpa inaddr.arpa foo.com\n}', zone: 'example.org.', apex: 'dns', headless: false, fall: ['ip6.arpa.', 'inaddr.arpa.', 'foo.com.'] },
  ];
  let passed = 0;
  it.each(rows)('$input', async ({ input, zone, apex, headless, fall }) => {
    const c = parsePlugin(k8sExternal, input);
    expect(c.zones[0]).toBe(zone);
    expect(c.apex).toBe(apex);
    expect(c.headless).toBe(headless);
    expect(c.fall.toJSON()).toEqual(fall);
    expect(checkStanza(`${input}\nkubernetes cluster.local`)).toEqual([]);
    passed++;
  });
  it('replayed every row', () => {
    expect(passed).toBe(rows.length);
    console.log(`k8s_external: CoreDNS setup_test.go TestSetup: ${passed}/${rows.length} rows passed`);
  });

  it('typedns check reports option errors with file:line', () => {
    expect(checkStanza('k8s_external example.org {\n ttl 3601\n}')).toEqual(['Corefile:3: plugin/k8s_external: ttl must be in range [0, 3600]: 3601']);
    expect(checkStanza('k8s_external example.org {\n ttl -1\n}')).toEqual(['Corefile:3: plugin/k8s_external: ttl must be in range [0, 3600]: -1']);
    expect(checkStanza('k8s_external example.org {\n ttl\n}')).toEqual(["Corefile:3: plugin/k8s_external: wrong argument count or unexpected line ending after 'ttl'"]);
    expect(checkStanza('k8s_external example.org {\n ttl five\n}')).toEqual(["Corefile:3: plugin/k8s_external: invalid ttl 'five': not an integer"]);
    expect(checkStanza('k8s_external example.org {\n apex\n}')).toEqual(["Corefile:3: plugin/k8s_external: wrong argument count or unexpected line ending after 'apex'"]);
    expect(checkStanza('k8s_external example.org {\n\n giraffe\n}')).toEqual(["Corefile:4: plugin/k8s_external: unknown property 'giraffe'"]);
  });

  it('a block without the kubernetes plugin fails at start (as CoreDNS since 1.11)', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n k8s_external example.org\n whoami\n}')).rejects.toThrow(/Corefile:3 - Error during parsing: plugin\/k8s_external: kubernetes plugin not loaded/);
    expect(checkStanza('k8s_external example.org')).toEqual([]); // a setup error, as in CoreDNS: check runs parsers only
  });
});

describe('k8s_external: options, the name server, host names and live data', () => {
  let up: Upstream;
  beforeAll(async () => {
    up = await startUpstream();
    up.answer('lb.cloud.test.', 'A', ['lb.cloud.test. 60 IN A 198.51.100.7']);
  });
  afterAll(() => up?.stop());

  it('ttl, apex and fallthrough', async () => {
    const s = await server(corefile('example.com', '    ttl 30\n    apex ns-zone\n    fallthrough', '', '  whoami'));
    const r = await s.query('svc1.testns.example.com.', 'A');
    sortAndCheck(r.msg, { rcode: 'NOERROR', aa: true, answer: ['svc1.testns.example.com. 30 IN A 1.2.3.4'] });
    const soa = await s.query('example.com.', 'SOA');
    sortAndCheck(zeroSerials(soa.msg), { answer: ['example.com. 30 IN SOA ns1.ns-zone.example.com. hostmaster.ns-zone.example.com. 0 7200 1800 86400 30'] });
    expect((await s.query('ns1.ns-zone.example.com.', 'A')).msg.answers?.map((a) => (a as { data?: unknown }).data)).toEqual(['127.0.0.1']);
    // NXDOMAIN falls through to whoami; NODATA does not
    const fell = await s.query('nope.testns.example.com.', 'A');
    expect(fell.rcode).toBe(0);
    expect(fell.msg.authorities ?? []).toEqual([]); // whoami's answer, not a negative one with the SOA
    const nodataR = await s.query('svc1.testns.example.com.', 'TXT');
    expect(nodataR.rcode).toBe(0);
    expect(nodataR.msg.authorities?.[0]?.type).toBe('SOA');
  });

  it('the name server ns1.dns.<zone> has the kube-dns Service\'s external address when its endpoint is this server', async () => {
    const d2 = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-external-ns-'));
    fs.writeFileSync(
      path.join(d2, 'cluster.yaml'),
      `${CLUSTER}---
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system }
spec: { type: LoadBalancer, clusterIP: 10.96.0.10, ports: [{ name: dns, protocol: UDP, port: 53 }] }
status: { loadBalancer: { ingress: [{ ip: 203.0.113.53 }, { ip: "2001:db8::53" }] } }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: kube-dns-1, namespace: kube-system, labels: { kubernetes.io/service-name: kube-dns } }
addressType: IPv4
ports: [{ name: dns, protocol: UDP, port: 53 }]
endpoints: [{ addresses: [127.0.0.1] }]
`,
    );
    try {
      const s = await server(`.:0 {\n bind 127.0.0.1\n k8s_external example.com\n kubernetes cluster.local {\n  manifests ${d2}\n }\n}`);
      const failures = await replay(s, [
        ['example.com.', 'NS', ok(['example.com. 5 IN NS ns1.dns.example.com.'], ['ns1.dns.example.com. 5 IN A 203.0.113.53', 'ns1.dns.example.com. 5 IN AAAA 2001:db8::53'])],
        ['ns1.dns.example.com.', 'A', ok(['ns1.dns.example.com. 5 IN A 203.0.113.53'])],
        ['ns1.dns.example.com.', 'AAAA', ok(['ns1.dns.example.com. 5 IN AAAA 2001:db8::53'])],
        ['ns2.dns.example.com.', 'A', nx],
        ['kube-dns.kube-system.example.com.', 'AAAA', ok(['kube-dns.kube-system.example.com. 5 IN AAAA 2001:db8::53'])],
      ]);
      expect(failures).toEqual([]);
    } finally {
      fs.rmSync(d2, { recursive: true, force: true });
    }
  });

  it('a load-balancer host name: CNAME, then its address asked of the server (forward here)', async () => {
    const fake = await FakeApiServer.start({ bookmarkMs: 0 });
    try {
      fake.load('namespaces', [namespace('shop')]);
      const web = service('shop', 'web', '10.96.1.1', { type: 'LoadBalancer', ports: [{ name: 'https', port: 443 }] });
      (web['status'] as Record<string, unknown>)['loadBalancer'] = { ingress: [{ hostname: 'LB.cloud.test.' }] };
      fake.load('services', [web]);
      const s = await server(`.:0 {
  bind 127.0.0.1
  k8s_external example.com
  kubernetes cluster.local {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
  }
  forward . ${up.addr}
}`);
      const r = await s.query('web.shop.example.com.', 'A');
      sortAndCheck(r.msg, { rcode: 'NOERROR', aa: true, ordered: true, answer: ['web.shop.example.com. 5 IN CNAME lb.cloud.test.', 'lb.cloud.test. 60 IN A 198.51.100.7'] });
      const srv = await s.query('_https._tcp.web.shop.example.com.', 'SRV');
      sortAndCheck(srv.msg, { rcode: 'NOERROR', answer: ['_https._tcp.web.shop.example.com. 5 IN SRV 0 100 443 lb.cloud.test.'], extra: ['lb.cloud.test. 60 IN A 198.51.100.7'] });
    } finally {
      await fake.close();
    }
  });

  it('from the API server: externalIPs and ingress IPs appear, change and go with the Service; a bad address is left out', async () => {
    const fake = await FakeApiServer.start({ bookmarkMs: 0 });
    try {
      fake.load('namespaces', [namespace('shop')]);
      fake.load('services', [service('shop', 'web', '10.96.1.1')]);
      fake.load('endpointslices', [endpointSlice('shop', 'web', 'web-1', [{ ip: '10.244.0.5' }])]);
      const s = await server(`.:0 {
  bind 127.0.0.1
  k8s_external example.com in-addr.arpa
  kubernetes cluster.local {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
  }
}`);
      const a = async (): Promise<string[] | number> => {
        const r = await s.query('web.shop.example.com.', 'A');
        return r.rcode !== 0 ? r.rcode : (r.msg.answers ?? []).map((x) => String((x as { data?: unknown }).data)).sort();
      };
      // no external address: the name does not exist in the external zone
      expect(await a()).toBe(3);
      const serial0 = (((await s.query('example.com.', 'SOA')).msg.answers?.[0] as { data?: unknown } | undefined)?.data as { serial: number }).serial;
      const withExt = service('shop', 'web', '10.96.1.1');
      (withExt['spec'] as Record<string, unknown>)['externalIPs'] = ['192.0.2.10', '999.1.2.3'];
      (withExt['status'] as Record<string, unknown>)['loadBalancer'] = { ingress: [{ ip: '192.0.2.20' }] };
      fake.update('services', withExt);
      await waitFor(async () => JSON.stringify(await a()) === JSON.stringify(['192.0.2.10', '192.0.2.20']), { what: 'the external addresses to be served' });
      expect(s.log.lines.some((l) => /Service shop\/web: external address '999\.1\.2\.3' is not an IP address: left out/.test(l))).toBe(true);
      // PTR of an external address, in the first zone of the plugin
      sortAndCheck((await s.query('20.2.0.192.in-addr.arpa.', 'PTR')).msg, { rcode: 'NOERROR', answer: ['20.2.0.192.in-addr.arpa. 5 IN PTR web.shop.example.com.'] });
      // the serial moved with the change
      const serial1 = (((await s.query('example.com.', 'SOA')).msg.answers?.[0] as { data?: unknown } | undefined)?.data as { serial: number }).serial;
      expect(serial1).toBeGreaterThanOrEqual(serial0);
      // the in-cluster answer is unchanged
      expect((await s.query('web.shop.svc.cluster.local.', 'A')).msg.answers?.map((x) => (x as { data?: unknown }).data)).toEqual(['10.96.1.1']);
      fake.delete('services', { metadata: { name: 'web', namespace: 'shop' } });
      await waitFor(async () => (await a()) === 3, { what: 'the deleted Service to be gone' });
      expect((await s.query('20.2.0.192.in-addr.arpa.', 'PTR')).rcode).toBe(3);
    } finally {
      await fake.close();
    }
  });
});
