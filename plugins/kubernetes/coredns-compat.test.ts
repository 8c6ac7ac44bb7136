// Compatibility with CoreDNS's own expectations for the kubernetes plugin: the clusters that
// CoreDNS's plugin/kubernetes unit tests fake (handler_test.go's APIConnServeTest, reverse_test.go's
// APIConnReverseTest, ns_test.go's APIConnTest) rebuilt as manifests, and the same queries asked
// over real sockets, checked against the answers CoreDNS's tables expect (rcode, answer, authority,
// additional). Only SOA serials are not compared (CoreDNS's fakes return a constant; typedns
// serves the time of the last change): every SOA serial is set to 0 before comparing.
// Differences that typedns keeps on purpose are marked "typedns:" and listed in README.md (Bugs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answer, DecodedPacket } from 'dns-packet';
import { sortAndCheck, startServer, type Case, type TestServer } from '../../src/testing/index.js';
import { startUpstream, type Upstream } from '../../test/support/upstream.js';
import { rr, rrText } from '../../src/plugin/api.js';
import { transferFrom } from '../transfer/xfr-client.js';

const Z = 'cluster.local.';

// ---- the cluster of handler_test.go (APIConnServeTest) ----------------------------------------
// Same names, addresses and ports; Endpoints subsets written as EndpointSlices (one slice per
// address family, as Kubernetes does). Namespaces exist implicitly when objects use them; the
// CoreDNS fake says every namespace exists except "pod-nons" and "nsnoexist", and those two are
// never used here. The pod 10.240.0.1 in podns is what PodIndex returns (pods verified).
const SERVE_CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: { name: podns }
---
apiVersion: v1
kind: Namespace
metadata: { name: svcns }
---
apiVersion: v1
kind: Service
metadata: { name: kubedns, namespace: kube-system }
spec: { clusterIP: 10.0.0.10, ports: [{ name: dns, protocol: UDP, port: 53 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: kubedns-1, namespace: kube-system, labels: { kubernetes.io/service-name: kubedns } }
addressType: IPv4
ports: [{ name: dns, protocol: UDP, port: 53 }]
endpoints: [{ addresses: [172.0.0.100] }]
---
apiVersion: v1
kind: Service
metadata: { name: svc1, namespace: testns }
spec: { clusterIP: 10.0.0.1, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc1-slice1, namespace: testns, labels: { kubernetes.io/service-name: svc1 } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints: [{ addresses: [172.0.0.1], hostname: ep1a }]
---
apiVersion: v1
kind: Service
metadata: { name: svcempty, namespace: testns }
spec: { clusterIP: 10.0.0.1, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svcempty-slice1, namespace: testns, labels: { kubernetes.io/service-name: svcempty } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints: []
---
apiVersion: v1
kind: Service
metadata: { name: svc6, namespace: testns }
spec: { clusterIP: "1234:abcd::1", ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: hdls1, namespace: testns }
spec: { clusterIP: None }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: hdls1-slice1, namespace: testns, labels: { kubernetes.io/service-name: hdls1 } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints:
  - { addresses: [172.0.0.2] }
  - { addresses: [172.0.0.3] }
  - { addresses: [172.0.0.4], hostname: dup-name }
  - { addresses: [172.0.0.5], hostname: dup-name }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: hdls1-slice2, namespace: testns, labels: { kubernetes.io/service-name: hdls1 } }
addressType: IPv6
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints:
  - { addresses: ["5678:abcd::1"] }
  - { addresses: ["5678:abcd::2"] }
---
apiVersion: v1
kind: Service
metadata: { name: external, namespace: testns }
spec: { type: ExternalName, externalName: ext.interwebs.test, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: external-to-service, namespace: testns }
spec: { type: ExternalName, externalName: svc1.testns.svc.cluster.local., ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: hdlsprtls, namespace: testns }
spec: { clusterIP: None }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: hdlsprtls-slice1, namespace: testns, labels: { kubernetes.io/service-name: hdlsprtls } }
addressType: IPv4
endpoints: [{ addresses: [172.0.0.20] }]
---
apiVersion: v1
kind: Service
metadata: { name: svc1, namespace: unexposedns }
spec: { clusterIP: 10.0.0.2, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc-dual-stack, namespace: testns }
spec: { clusterIP: 10.0.0.3, clusterIPs: [10.0.0.3, "10::3"], ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: foo, namespace: podns }
status: { phase: Running, podIP: 10.240.0.1, podIPs: [{ ip: 10.240.0.1 }] }
`;

// ---- the cluster of reverse_test.go (APIConnReverseTest) --------------------------------------
// 10.0.0.100 sits in two slices of svc1 (EndpointSlice skew); 10.0.0.99 is selected by svc1 and svc2.
const REVERSE_CLUSTER = `
apiVersion: v1
kind: Service
metadata: { name: svc1, namespace: testns }
spec: { clusterIP: 192.168.1.100, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc2, namespace: testns }
spec: { clusterIP: None, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc1-slice1, namespace: testns, labels: { kubernetes.io/service-name: svc1 } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints:
  - { addresses: [10.0.0.100], hostname: ep1a }
  - { addresses: [10.0.0.99], hostname: double-ep }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc1-slice2, namespace: testns, labels: { kubernetes.io/service-name: svc1 } }
addressType: IPv6
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints:
  - { addresses: ["1234:abcd::1"], hostname: ep1b }
  - { addresses: ["fd00:77:30::a"], hostname: ip6svc1ex }
  - { addresses: ["fd00:77:30::2:9ba6"], hostname: ip6svc1in }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc1-ccccc, namespace: testns, labels: { kubernetes.io/service-name: svc1 } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints: [{ addresses: [10.0.0.100], hostname: ep1a }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc2-slice1, namespace: testns, labels: { kubernetes.io/service-name: svc2 } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints: [{ addresses: [10.0.0.99], hostname: double-ep }]
`;

// ---- the cluster of ns_test.go (APIConnTest) ---------------------------------------------------
// The server's own address (here 127.0.0.1, the address the test queries) is an endpoint of three
// services: a ClusterIP one, a headless one and an IPv6 ClusterIP one.
const NS_CLUSTER = `
apiVersion: v1
kind: Service
metadata: { name: dns-service, namespace: kube-system }
spec: { clusterIP: 10.0.0.111, ports: [{ name: dns, protocol: UDP, port: 53 }] }
---
apiVersion: v1
kind: Service
metadata: { name: hdls-dns-service, namespace: kube-system }
spec: { clusterIP: None, ports: [{ name: dns, protocol: UDP, port: 53 }] }
---
apiVersion: v1
kind: Service
metadata: { name: dns6-service, namespace: kube-system }
spec: { clusterIP: "10::111", ports: [{ name: dns, protocol: UDP, port: 53 }] }
${['dns-service', 'hdls-dns-service', 'dns6-service']
  .map(
    (s) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${s}-aaaaa, namespace: kube-system, labels: { kubernetes.io/service-name: ${s} } }
addressType: IPv4
ports: [{ name: dns, protocol: UDP, port: 53 }]
endpoints: [{ addresses: [127.0.0.1] }]
`,
  )
  .join('')}`;

function writeCluster(yaml: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-compat-'));
  fs.writeFileSync(path.join(dir, 'cluster.yaml'), yaml);
  return dir;
}

/** A DNS message with every SOA serial set to 0 (serials are compared nowhere). */
function zeroSerials(m: DecodedPacket): DecodedPacket {
  for (const sec of [m.answers, m.authorities, m.additionals]) {
    for (const r of sec ?? []) if (r.type === 'SOA') (r.data as { serial: number }).serial = 0;
  }
  return m;
}

/** CoreDNS's SOA for a zone at TTL 5 (serial 0: not compared). */
const soa = (zone = Z): string => `${zone} 5 IN SOA ns.dns.${zone} hostmaster.${zone} 0 7200 1800 86400 5`;
const nx = (zone = Z): Case => ({ rcode: 'NXDOMAIN', aa: true, answer: [], ns: [soa(zone)] });
const nodata = (zone = Z): Case => ({ rcode: 'NOERROR', aa: true, answer: [], ns: [soa(zone)] });
const ok = (answer: string[], extra: string[] = []): Case => ({ rcode: 'NOERROR', aa: true, answer, ns: [], extra });

type Row = [name: string, type: string, want: Case];

async function runTable(srv: TestServer, rows: Row[]): Promise<void> {
  const failures: string[] = [];
  for (const [name, type, want] of rows) {
    // EDNS with a large buffer: CoreDNS's tables are checked without a wire (no 512-byte limit).
    const r = await srv.query(name, type, { edns: 4096 });
    try {
      sortAndCheck(zeroSerials(r.msg), want);
      // CoreDNS's test.CNAMEOrder: a CNAME never follows the records of its target.
      const answers = r.msg.answers ?? [];
      for (let i = 0; i < answers.length; i++) {
        const a = answers[i]!;
        if (a.type !== 'CNAME') continue;
        for (let j = 0; j < i; j++) if (answers[j]!.name.toLowerCase() === String(a.data).toLowerCase()) throw new Error(`CNAME ${a.name} after its target`);
      }
    } catch (e) {
      failures.push(`${name} ${type}: ${(e as Error).message}`);
    }
  }
  expect(failures).toEqual([]);
}

const cfgs: Record<string, string> = {};
let serveDir = '';
let upstream: Upstream;
const servers: TestServer[] = [];
async function server(block: string): Promise<TestServer> {
  const s = await startServer(block);
  servers.push(s);
  return s;
}

beforeAll(async () => {
  serveDir = writeCluster(SERVE_CLUSTER);
  cfgs.reverse = writeCluster(REVERSE_CLUSTER);
  cfgs.ns = writeCluster(NS_CLUSTER);
  // The "upstream" of ExternalName targets outside the cluster (CoreDNS's Upstub): it answers
  // ext.interwebs.test with the TC bit set, over UDP and TCP alike.
  upstream = await startUpstream();
  upstream.answer('ext.interwebs.test.', 'A', { answers: ['ext.interwebs.test. 5 IN A 1.2.3.4'], flags: 0x0200 });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await upstream?.stop();
});

const kube = (opts: string, after = ''): string => `.:0 {
  bind 127.0.0.1
  kubernetes cluster.local {
    manifests ${serveDir}
${opts}
  }
${after}
}`;

describe('CoreDNS handler_test.go: TestServeDNS (namespaces testns)', () => {
  it('answers every dnsTestCases query as CoreDNS expects', async () => {
    const srv = await server(kube('    namespaces testns', `  forward . 127.0.0.1:${upstream.port}`));
    const rows: Row[] = [
      // ClusterIP service
      [`svc1.testns.svc.${Z}`, 'A', ok([`svc1.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      [`svcempty.testns.svc.${Z}`, 'A', ok([`svcempty.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      [`svc1.testns.svc.${Z}`, 'SRV', ok([`svc1.testns.svc.${Z} 5 IN SRV 0 100 80 svc1.testns.svc.${Z}`], [`svc1.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      [`svcempty.testns.svc.${Z}`, 'SRV', ok([`svcempty.testns.svc.${Z} 5 IN SRV 0 100 80 svcempty.testns.svc.${Z}`], [`svcempty.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      [`svc6.testns.svc.${Z}`, 'SRV', ok([`svc6.testns.svc.${Z} 5 IN SRV 0 100 80 svc6.testns.svc.${Z}`], [`svc6.testns.svc.${Z} 5 IN AAAA 1234:abcd::1`])],
      [`_http._tcp.svc1.testns.svc.${Z}`, 'SRV', ok([`_http._tcp.svc1.testns.svc.${Z} 5 IN SRV 0 100 80 svc1.testns.svc.${Z}`], [`svc1.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      [`_http._tcp.svcempty.testns.svc.${Z}`, 'SRV', ok([`_http._tcp.svcempty.testns.svc.${Z} 5 IN SRV 0 100 80 svcempty.testns.svc.${Z}`], [`svcempty.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      // headless
      [`hdls1.testns.svc.${Z}`, 'A', ok(['172.0.0.2', '172.0.0.3', '172.0.0.4', '172.0.0.5'].map((ip) => `hdls1.testns.svc.${Z} 5 IN A ${ip}`))],
      [`hdlsprtls.testns.svc.${Z}`, 'A', ok([`hdlsprtls.testns.svc.${Z} 5 IN A 172.0.0.20`])],
      [`172-0-0-20.hdlsprtls.testns.svc.${Z}`, 'A', ok([`172-0-0-20.hdlsprtls.testns.svc.${Z} 5 IN A 172.0.0.20`])],
      [`172-0-0-2.hdls1.testns.svc.${Z}`, 'A', ok([`172-0-0-2.hdls1.testns.svc.${Z} 5 IN A 172.0.0.2`])],
      [`172-0-0-3.hdls1.testns.svc.${Z}`, 'A', ok([`172-0-0-3.hdls1.testns.svc.${Z} 5 IN A 172.0.0.3`])],
      [`dup-name.hdls1.testns.svc.${Z}`, 'A', ok([`dup-name.hdls1.testns.svc.${Z} 5 IN A 172.0.0.4`, `dup-name.hdls1.testns.svc.${Z} 5 IN A 172.0.0.5`])],
      [
        `_http._tcp.hdls1.testns.svc.${Z}`,
        'SRV',
        ok(
          ['172-0-0-2', '172-0-0-3', '5678-abcd--1', '5678-abcd--2', 'dup-name'].map((h) => `_http._tcp.hdls1.testns.svc.${Z} 5 IN SRV 0 16 80 ${h}.hdls1.testns.svc.${Z}`),
          [
            `172-0-0-2.hdls1.testns.svc.${Z} 5 IN A 172.0.0.2`,
            `172-0-0-3.hdls1.testns.svc.${Z} 5 IN A 172.0.0.3`,
            `5678-abcd--1.hdls1.testns.svc.${Z} 5 IN AAAA 5678:abcd::1`,
            `5678-abcd--2.hdls1.testns.svc.${Z} 5 IN AAAA 5678:abcd::2`,
            `dup-name.hdls1.testns.svc.${Z} 5 IN A 172.0.0.4`,
            `dup-name.hdls1.testns.svc.${Z} 5 IN A 172.0.0.5`,
          ],
        ),
      ],
      [`5678-abcd--2.hdls1.testns.svc.${Z}`, 'AAAA', ok([`5678-abcd--2.hdls1.testns.svc.${Z} 5 IN AAAA 5678:abcd::2`])],
      // ExternalName
      [`external.testns.svc.${Z}`, 'CNAME', ok([`external.testns.svc.${Z} 5 IN CNAME ext.interwebs.test.`])],
      // the target's answer came back truncated: so does ours
      [`external.testns.svc.${Z}`, 'A', { ...ok([`external.testns.svc.${Z} 5 IN CNAME ext.interwebs.test.`, 'ext.interwebs.test. 5 IN A 1.2.3.4']), tc: true }],
      [`external-to-service.testns.svc.${Z}`, 'A', ok([`external-to-service.testns.svc.${Z} 5 IN CNAME svc1.testns.svc.${Z}`, `svc1.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      // negative answers
      [`svc1.testns.svc.${Z}`, 'AAAA', nodata()],
      [`svc0.testns.svc.${Z}`, 'AAAA', nx()],
      [`svc0.testns.svc.${Z}`, 'A', nx()],
      [`svc0.svc-nons.svc.${Z}`, 'A', nx()],
      [`dns-version.${Z}`, 'TXT', ok([`dns-version.${Z} 28800 IN TXT "1.1.0"`])],
      [`bogusendpoint.hdls1.testns.svc.${Z}`, 'A', nx()],
      [`bogusendpoint.svc0.testns.svc.${Z}`, 'A', nx()],
      // IPv6
      [`svc6.testns.svc.${Z}`, 'AAAA', ok([`svc6.testns.svc.${Z} 5 IN AAAA 1234:abcd::1`])],
      [`_http._tcp.svc6.testns.svc.${Z}`, 'SRV', ok([`_http._tcp.svc6.testns.svc.${Z} 5 IN SRV 0 100 80 svc6.testns.svc.${Z}`], [`svc6.testns.svc.${Z} 5 IN AAAA 1234:abcd::1`])],
      [`hdls1.testns.svc.${Z}`, 'AAAA', ok([`hdls1.testns.svc.${Z} 5 IN AAAA 5678:abcd::1`, `hdls1.testns.svc.${Z} 5 IN AAAA 5678:abcd::2`])],
      [`5678-abcd--1.hdls1.testns.svc.${Z}`, 'AAAA', ok([`5678-abcd--1.hdls1.testns.svc.${Z} 5 IN AAAA 5678:abcd::1`])],
      // names between the zone and the services
      [`svc.${Z}`, 'A', nodata()],
      [`pod.${Z}`, 'A', nodata()],
      [`testns.svc.${Z}`, 'A', nodata()],
      [`svc.${Z}`, 'NS', nodata()],
      [`testns.svc.${Z}`, 'NS', nodata()],
      [`foo.${Z}`, 'NS', nx()],
      [`foo.svc.${Z}`, 'NS', nx()],
      // dual stack
      [`svc-dual-stack.testns.svc.${Z}`, 'A', ok([`svc-dual-stack.testns.svc.${Z} 5 IN A 10.0.0.3`])],
      [`svc-dual-stack.testns.svc.${Z}`, 'AAAA', ok([`svc-dual-stack.testns.svc.${Z} 5 IN AAAA 10::3`])],
      [
        `svc-dual-stack.testns.svc.${Z}`,
        'SRV',
        ok([`svc-dual-stack.testns.svc.${Z} 5 IN SRV 0 50 80 svc-dual-stack.testns.svc.${Z}`], [`svc-dual-stack.testns.svc.${Z} 5 IN A 10.0.0.3`, `svc-dual-stack.testns.svc.${Z} 5 IN AAAA 10::3`]),
      ],
      [`svc1.testns.svc.${Z}`, 'SOA', nodata()],
      [`endpoint.external.testns.svc.${Z}`, 'CNAME', nx()],
      // not in CoreDNS's table, same rules: the endpoint of a ClusterIP service by hostname, an
      // unexposed namespace's service
      [`ep1a.svc1.testns.svc.${Z}`, 'A', ok([`ep1a.svc1.testns.svc.${Z} 5 IN A 172.0.0.1`])],
      [`svc1.unexposedns.svc.${Z}`, 'A', nx()],
      // endpoints without ports (CoreDNS's port -1): addresses but no SRV records; a port name
      // they cannot have does not exist (an older CoreDNS table asked this with wildcards)
      [`hdlsprtls.testns.svc.${Z}`, 'SRV', nodata()],
      [`_http._tcp.hdlsprtls.testns.svc.${Z}`, 'SRV', nx()],
      // typedns: an ExternalName name answers its CNAME for every type, as RFC 1034 has it (the
      // client's resolver follows it); CoreDNS answers NODATA for types other than A/AAAA/CNAME
      // (its Services() drops CNAME results for SRV; TXT only knows dns-version).
      [`external.testns.svc.${Z}`, 'SRV', ok([`external.testns.svc.${Z} 5 IN CNAME ext.interwebs.test.`])],
      [`external.testns.svc.${Z}`, 'TXT', ok([`external.testns.svc.${Z} 5 IN CNAME ext.interwebs.test.`])],
    ];
    await runTable(srv, rows);
  });
});

describe('CoreDNS handler_test.go: TestServeNamespaceDNS (all namespaces exposed)', () => {
  it('serves existing namespaces and NXDOMAIN for one that does not exist', async () => {
    const srv = await server(kube(''));
    await runTable(srv, [
      [`svc1.testns.svc.${Z}`, 'A', ok([`svc1.testns.svc.${Z} 5 IN A 10.0.0.1`])],
      [`svc1.nsnoexist.svc.${Z}`, 'A', nx()],
      [`svc1.unexposedns.svc.${Z}`, 'A', ok([`svc1.unexposedns.svc.${Z} 5 IN A 10.0.0.2`])],
    ]);
  });
});

describe('CoreDNS handler_pod_*_test.go: pods disabled / insecure / verified', () => {
  it('pods disabled: pod names do not exist', async () => {
    const srv = await server(kube('    pods disabled'));
    await runTable(srv, [
      [`10-240-0-1.podns.pod.${Z}`, 'A', nx()],
      [`172-0-0-2.podns.pod.${Z}`, 'A', nx()],
    ]);
  });

  it('pods insecure: any well-formed address in an existing namespace', async () => {
    const srv = await server(kube('    pods insecure'));
    await runTable(srv, [
      [`10-240-0-1.podns.pod.${Z}`, 'A', ok([`10-240-0-1.podns.pod.${Z} 5 IN A 10.240.0.1`])],
      [`172-0-0-2.podns.pod.${Z}`, 'A', ok([`172-0-0-2.podns.pod.${Z} 5 IN A 172.0.0.2`])],
      [`blah.podns.pod.${Z}`, 'A', nx()],
      [`blah.podns.pod.${Z}`, 'AAAA', nx()],
      [`blah.podns.pod.${Z}`, 'HINFO', nx()],
      [`blah.pod-nons.pod.${Z}`, 'A', nx()],
      [`podns.pod.${Z}`, 'A', nodata()],
    ]);
  });

  it('pods verified: only addresses of pods in that namespace', async () => {
    const srv = await server(kube('    pods verified'));
    await runTable(srv, [
      [`10-240-0-1.podns.pod.${Z}`, 'A', ok([`10-240-0-1.podns.pod.${Z} 5 IN A 10.240.0.1`])],
      [`podns.pod.${Z}`, 'A', nodata()],
      [`svcns.svc.${Z}`, 'A', nodata()],
      [`pod-nons.pod.${Z}`, 'A', nx()],
      [`172-0-0-2.podns.pod.${Z}`, 'A', nx()],
    ]);
  });
});

describe('CoreDNS handler_ignore_emptyservice_test.go and handler_case_test.go (ignore empty_service)', () => {
  it('ignore empty_service: a ClusterIP service without endpoints does not exist; ExternalName still does', async () => {
    const srv = await server(kube('    ignore empty_service'));
    await runTable(srv, [
      [`svcempty.testns.svc.${Z}`, 'A', nx()],
      [`external.testns.svc.${Z}`, 'CNAME', ok([`external.testns.svc.${Z} 5 IN CNAME ext.interwebs.test.`])],
    ]);
  });

  it("keeps the query's case: the owner, and the zone part of SOA names, SRV targets and glue", async () => {
    const srv = await server(kube('    ignore empty_service'));
    // rrText lower-cases owners, so names are compared here as they came over the wire.
    const names = async (name: string, type: string): Promise<{ rcode: number; an: string[]; ns: string[]; ar: string[] }> => {
      const r = await srv.query(name, type, { edns: 4096 });
      const show = (a: { name: string; type: string; data?: unknown }): string => {
        const d = a.data as Record<string, unknown> | string;
        if (a.type === 'SOA' && typeof d === 'object') return `${a.name} SOA ${String(d.mname)} ${String(d.rname)}`;
        if (a.type === 'SRV' && typeof d === 'object') return `${a.name} SRV ${String(d.port)} ${String(d.target)}`;
        return `${a.name} ${a.type} ${String(d)}`;
      };
      return {
        rcode: r.rcode,
        an: (r.msg.answers ?? []).map(show),
        ns: (r.msg.authorities ?? []).map(show),
        ar: (r.msg.additionals ?? []).filter((a) => a.type !== 'OPT').map(show),
      };
    };
    expect(await names('not-a-service.testns.svc.ClUsTeR.lOcAl.', 'A')).toEqual({
      rcode: 3,
      an: [],
      ns: ['ClUsTeR.lOcAl SOA ns.dns.ClUsTeR.lOcAl hostmaster.ClUsTeR.lOcAl'],
      ar: [],
    });
    expect(await names('SvC1.TeStNs.SvC.cLuStEr.LoCaL.', 'A')).toEqual({ rcode: 0, an: ['SvC1.TeStNs.SvC.cLuStEr.LoCaL A 10.0.0.1'], ns: [], ar: [] });
    expect(await names('_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.', 'SRV')).toEqual({
      rcode: 0,
      an: ['_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL SRV 80 svc1.testns.svc.cLuStEr.LoCaL'],
      ns: [],
      ar: ['svc1.testns.svc.cLuStEr.LoCaL A 10.0.0.1'],
    });
    expect(await names('Cluster.local.', 'SOA')).toEqual({ rcode: 0, an: ['Cluster.local SOA ns.dns.Cluster.local hostmaster.Cluster.local'], ns: [], ar: [] });
  });
});

describe('CoreDNS kubernetes_apex_test.go: the zone apex', () => {
  it('SOA, NS (ns.dns.<zone> at the local address when no service holds it), NODATA for other types', async () => {
    const srv = await server(kube(''));
    await runTable(srv, [
      [Z, 'SOA', ok([soa()])],
      [Z, 'HINFO', nodata()],
      [Z, 'NS', ok([`${Z} 5 IN NS ns.dns.${Z}`], [`ns.dns.${Z} 5 IN A 127.0.0.1`])],
      [Z, 'A', nodata()],
      [Z, 'AAAA', nodata()],
      [Z, 'SRV', nodata()],
    ]);
  });
});

describe('CoreDNS ns_test.go: NS records when the server is an endpoint of services', () => {
  it('names every service whose endpoints hold the server address, with its addresses as glue', async () => {
    const srv = await server(`.:0 {
  bind 127.0.0.1
  kubernetes cluster.local {
    manifests ${cfgs.ns}
  }
}`);
    const dns = `dns-service.kube-system.svc.${Z}`;
    const hdls = `127-0-0-1.hdls-dns-service.kube-system.svc.${Z}`;
    const dns6 = `dns6-service.kube-system.svc.${Z}`;
    await runTable(srv, [
      [Z, 'NS', ok([`${Z} 5 IN NS ${dns}`, `${Z} 5 IN NS ${hdls}`, `${Z} 5 IN NS ${dns6}`], [`${dns} 5 IN A 10.0.0.111`, `${hdls} 5 IN A 127.0.0.1`, `${dns6} 5 IN AAAA 10::111`])],
      [`ns.dns.${Z}`, 'A', ok([`ns.dns.${Z} 5 IN A 10.0.0.111`, `ns.dns.${Z} 5 IN A 127.0.0.1`])],
      [`ns.dns.${Z}`, 'AAAA', ok([`ns.dns.${Z} 5 IN AAAA 10::111`])],
    ]);
  });
});

describe('CoreDNS reverse_test.go: PTR records', () => {
  it('answers PTR for ClusterIPs and endpoints in the reverse zones, NXDOMAIN elsewhere', async () => {
    const v6a = '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.';
    const v6b = '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.';
    const srv = await server(`.:0 {
  bind 127.0.0.1
  kubernetes cluster.local 0.10.in-addr.arpa 168.192.in-addr.arpa ${v6a} ${v6b} {
    manifests ${cfgs.reverse}
  }
}`);
    const R4 = '0.10.in-addr.arpa.';
    await runTable(srv, [
      ['100.0.0.10.in-addr.arpa.', 'PTR', ok([`100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.${Z}`])],
      ['100.1.168.192.in-addr.arpa.', 'PTR', ok([`100.1.168.192.in-addr.arpa. 5 IN PTR svc1.testns.svc.${Z}`])],
      [
        '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.',
        'PTR',
        ok([`1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 5 IN PTR ep1b.svc1.testns.svc.${Z}`]),
      ],
      [
        'a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.',
        'PTR',
        ok([`a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1ex.svc1.testns.svc.${Z}`]),
      ],
      [
        '6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.',
        'PTR',
        ok([`6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1in.svc1.testns.svc.${Z}`]),
      ],
      ['101.0.0.10.in-addr.arpa.', 'PTR', nx(R4)],
      [`example.org.${Z}`, 'PTR', nx()],
      [`svc1.testns.svc.${Z}`, 'PTR', nodata()],
      [`svc1.testns.svc.${R4}`, 'A', nx(R4)],
      [`100.0.0.10.${Z}`, 'PTR', nx()],
      ['99.0.0.10.in-addr.arpa.', 'PTR', ok([`99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc1.testns.svc.${Z}`, `99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc2.testns.svc.${Z}`])],
    ]);
  });
});

// ---- xfr_test.go: the zone transfer of the cluster zone ---------------------------------------
// expectedZone in CoreDNS's order, through `transfer` over TCP. typedns: the name server's address
// is the one the server was asked on (127.0.0.1 here; CoreDNS's test sets its bound address to
// 10.0.0.10). TestKubernetesMultiClusterAXFR is not replayed: `multicluster` is not implemented.
const XFR_ZONE = `
cluster.local.	5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. 3 7200 1800 86400 5
cluster.local.	5	IN	NS	ns.dns.cluster.local.
ns.dns.cluster.local.	5	IN	A	127.0.0.1
external.testns.svc.cluster.local.	5	IN	CNAME	ext.interwebs.test.
external-to-service.testns.svc.cluster.local.	5	IN	CNAME	svc1.testns.svc.cluster.local.
hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.2
172-0-0-2.hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.2
_http._tcp.hdls1.testns.svc.cluster.local.	5	IN	SRV	0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.
hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.3
172-0-0-3.hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.3
_http._tcp.hdls1.testns.svc.cluster.local.	5	IN	SRV	0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.
hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.4
dup-name.hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.4
_http._tcp.hdls1.testns.svc.cluster.local.	5	IN	SRV	0 16 80 dup-name.hdls1.testns.svc.cluster.local.
hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.5
dup-name.hdls1.testns.svc.cluster.local.	5	IN	A	172.0.0.5
_http._tcp.hdls1.testns.svc.cluster.local.	5	IN	SRV	0 16 80 dup-name.hdls1.testns.svc.cluster.local.
hdls1.testns.svc.cluster.local.	5	IN	AAAA	5678:abcd::1
5678-abcd--1.hdls1.testns.svc.cluster.local.	5	IN	AAAA	5678:abcd::1
_http._tcp.hdls1.testns.svc.cluster.local.	5	IN	SRV	0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.
hdls1.testns.svc.cluster.local.	5	IN	AAAA	5678:abcd::2
5678-abcd--2.hdls1.testns.svc.cluster.local.	5	IN	AAAA	5678:abcd::2
_http._tcp.hdls1.testns.svc.cluster.local.	5	IN	SRV	0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.
hdlsprtls.testns.svc.cluster.local.	5	IN	A	172.0.0.20
172-0-0-20.hdlsprtls.testns.svc.cluster.local.	5	IN	A	172.0.0.20
kubedns.kube-system.svc.cluster.local.	5	IN	A	10.0.0.10
kubedns.kube-system.svc.cluster.local.	5	IN	SRV	0 100 53 kubedns.kube-system.svc.cluster.local.
_dns._udp.kubedns.kube-system.svc.cluster.local.	5	IN	SRV	0 100 53 kubedns.kube-system.svc.cluster.local.
svc-dual-stack.testns.svc.cluster.local.	5	IN	A	10.0.0.3
svc-dual-stack.testns.svc.cluster.local.	5	IN	AAAA	10::3
svc-dual-stack.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svc-dual-stack.testns.svc.cluster.local.
_http._tcp.svc-dual-stack.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svc-dual-stack.testns.svc.cluster.local.
svc1.testns.svc.cluster.local.	5	IN	A	10.0.0.1
svc1.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svc1.testns.svc.cluster.local.
_http._tcp.svc1.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svc1.testns.svc.cluster.local.
svc6.testns.svc.cluster.local.	5	IN	AAAA	1234:abcd::1
svc6.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svc6.testns.svc.cluster.local.
_http._tcp.svc6.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svc6.testns.svc.cluster.local.
svcempty.testns.svc.cluster.local.	5	IN	A	10.0.0.1
svcempty.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svcempty.testns.svc.cluster.local.
_http._tcp.svcempty.testns.svc.cluster.local.	5	IN	SRV	0 100 80 svcempty.testns.svc.cluster.local.
cluster.local.	5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. 3 7200 1800 86400 5
`;

describe('CoreDNS xfr_test.go: AXFR and IXFR of the cluster zone', () => {
  const xfrServer = (): Promise<TestServer> => server(`.:0 {
  bind 127.0.0.1
  transfer {
    to 127.0.0.1
  }
  kubernetes cluster.local 10.in-addr.arpa {
    manifests ${serveDir}
    namespaces testns kube-system
  }
}`);
  const text = (records: readonly Answer[]): string[] => records.map((a) => rrText(a.type === 'SOA' ? { ...a, data: { ...a.data, serial: 3 } } : a));
  const expected = XFR_ZONE.trim().split('\n').map((l) => rrText(rr(l)));

  it('TestKubernetesAXFR (and TestKubernetesIXFRFallback): every record of expectedZone, in its order', async () => {
    const srv = await xfrServer();
    const r = await transferFrom(srv.port, Z);
    expect(r.rcode).toBe(0);
    expect(text(r.records)).toEqual(expected);
    // IXFR from an older serial: the whole zone
    const soaNow = r.records[0] as Answer & { data: { serial: number } };
    const older = await transferFrom(srv.port, Z, 'IXFR', { serial: soaNow.data.serial - 1 });
    expect(text(older.records)).toEqual(expected);
  });

  it('TestKubernetesIXFRCurrent: IXFR with the current serial gets the SOA alone', async () => {
    const srv = await xfrServer();
    const serial = ((await transferFrom(srv.port, Z)).records[0] as Answer & { data: { serial: number } }).data.serial;
    const r = await transferFrom(srv.port, Z, 'IXFR', { serial });
    expect(r.records.map((a) => a.type)).toEqual(['SOA']);
  });

  it('TestKubernetesTransferNonAuthZone: a name that is not a zone of kubernetes is not transferred by it', async () => {
    const srv = await xfrServer();
    // not a zone of any plugin of the block (CoreDNS: ErrNotAuthoritative, then the next plugin):
    // SERVFAIL at the end of the chain, REFUSED by kubernetes for a name inside its zone
    for (const [name, rcode] of [['example.com.', 2], [`svc.${Z}`, 5]] as const) {
      const r = await transferFrom(srv.port, name);
      expect(r.records).toHaveLength(0);
      expect(r.rcode).toBe(rcode);
    }
    // a reverse zone of kubernetes is not transferred either
    expect((await transferFrom(srv.port, '10.in-addr.arpa.')).rcode).toBe(5);
  });

  it('TestKubernetesAXFRMultipleNSAddrs: a dual-stack name server gets one NS and both addresses', async () => {
    // typedns: CoreDNS's test binds 10.0.0.10 and fd00::10; here the server's address is an
    // endpoint of a dual-stack Service, which names the zone's name server with both its ClusterIPs.
    const dir = writeCluster(`
apiVersion: v1
kind: Service
metadata: { name: dns, namespace: kube-system }
spec: { clusterIP: 10.0.0.10, clusterIPs: [10.0.0.10, "fd00::10"], ports: [{ name: dns, protocol: UDP, port: 53 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: dns-1, namespace: kube-system, labels: { kubernetes.io/service-name: dns } }
addressType: IPv4
ports: [{ name: dns, protocol: UDP, port: 53 }]
endpoints: [{ addresses: [127.0.0.1] }]
`);
    const srv = await server(`.:0 {\n  bind 127.0.0.1\n  transfer {\n    to *\n  }\n  kubernetes cluster.local {\n    manifests ${dir}\n  }\n}`);
    const r = await transferFrom(srv.port, Z);
    expect(r.records[0]!.type).toBe('SOA');
    expect(r.records.at(-1)!.type).toBe('SOA');
    const ns = `dns.kube-system.svc.${Z}`;
    expect(r.records.filter((a) => a.type === 'NS').map(rrText)).toEqual([`${Z} 5 IN NS ${ns}`]);
    expect(text(r.records.slice(1, 4))).toEqual([`${Z} 5 IN NS ${ns}`, `${ns} 5 IN A 10.0.0.10`, `${ns} 5 IN AAAA fd00::10`]);
  });
});
