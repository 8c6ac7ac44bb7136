import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sortAndCheck, startServer, waitFor, type Case, type TestServer } from '../../src/testing/index.js';
import { endpointSlice, manifestYaml, namespace, pod, service } from '../../test/support/k8s-objects.js';

// A small cluster, written as YAML the way `kubectl get -o yaml` shows it.
const CLUSTER = manifestYaml(
  ['Namespace', namespace('shop', { team: 'storefront' })],
  ['Namespace', namespace('data')],
  ['Service', service('shop', 'web', '10.96.10.10', { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }] })],
  ['EndpointSlice', endpointSlice('shop', 'web', 'web-1', [{ ip: '10.244.1.10', pod: 'web-abc' }, { ip: '10.244.3.12', ready: false }], { ports: [{ name: 'http', port: 8080 }] })],
  ['Service', service('shop', 'api', '10.96.10.20', { clusterIPs: ['10.96.10.20', 'fd00:10:96::20'], ports: [{ name: 'http', port: 8080 }] })],
  ['Service', service('shop', 'search', '', { type: 'ExternalName', externalName: 'www.example.com' })],
  ['Service', service('shop', 'alias', '', { type: 'ExternalName', externalName: 'web.shop.svc.cluster.local.' })],
  ['Service', service('shop', 'checkout', '10.96.10.40')],
  ['Service', service('data', 'db', 'None', { ports: [{ name: 'postgres', port: 5432 }] })],
  ['EndpointSlice', endpointSlice('data', 'db', 'db-a', [{ ip: '10.244.1.20', hostname: 'db-0' }, { ip: '10.244.2.21', hostname: 'db-1' }], { ports: [{ name: 'postgres', port: 5432 }] })],
  ['EndpointSlice', endpointSlice('data', 'db', 'db-b', [{ ip: '10.244.3.22', hostname: 'db-2' }, { ip: '10.244.1.20', hostname: 'db-0' }], { ports: [{ name: 'postgres', port: 5432 }] })],
  ['Pod', pod('shop', 'web-abc', '10.244.1.10')],
);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-'));
fs.writeFileSync(path.join(dir, 'cluster.yaml'), CLUSTER);
// A zone served by a plugin after kubernetes (file): the "upstream" of ExternalName targets.
const zoneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-zone-'));
const zoneFile = path.join(zoneDir, 'db.example.com');
fs.writeFileSync(
  zoneFile,
  '$ORIGIN example.com.\n@ 3600 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 3600\n@ 3600 IN NS ns.example.com.\nwww 3600 IN A 192.0.2.80\n',
);

const Z = 'cluster.local.';

describe('kubernetes over sockets (manifests source)', () => {
  let srv: TestServer;
  let soa: string;
  beforeAll(async () => {
    srv = await startServer(`.:0 {
  bind 127.0.0.1
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    manifests ${dir}
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
  }
  file ${zoneFile} example.com
  whoami
}`);
    const r = await srv.query('cluster.local', 'SOA');
    const s = (r.msg.answers?.[0] as { data: { serial: number } }).data;
    soa = `cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. ${s.serial} 7200 1800 86400 5`;
  });
  afterAll(async () => {
    await srv.close();
  });

  const nx = (): Case => ({ rcode: 'NXDOMAIN', aa: true, answer: [], ns: [soa] });
  const nodata = (): Case => ({ rcode: 'NOERROR', aa: true, answer: [], ns: [soa] });
  const ok = (answer: string[], extra?: string[]): Case => ({ rcode: 'NOERROR', aa: true, answer, ...(extra ? { extra } : {}) });

  const table: Array<[string, string, () => Case]> = [
    // ClusterIP A/AAAA, dual-stack
    [`web.shop.svc.${Z}`, 'A', () => ok([`web.shop.svc.${Z} 5 IN A 10.96.10.10`])],
    [`web.shop.svc.${Z}`, 'AAAA', nodata],
    [`api.shop.svc.${Z}`, 'A', () => ok([`api.shop.svc.${Z} 5 IN A 10.96.10.20`])],
    [`api.shop.svc.${Z}`, 'AAAA', () => ok([`api.shop.svc.${Z} 5 IN AAAA fd00:10:96::20`])],
    [`checkout.shop.svc.${Z}`, 'A', () => ok([`checkout.shop.svc.${Z} 5 IN A 10.96.10.40`])],
    // SRV: named port, all ports, dual-stack weight
    [`_http._tcp.web.shop.svc.${Z}`, 'SRV', () => ok([`_http._tcp.web.shop.svc.${Z} 5 IN SRV 0 100 80 web.shop.svc.${Z}`], [`web.shop.svc.${Z} 5 IN A 10.96.10.10`])],
    [`web.shop.svc.${Z}`, 'SRV', () => ok([`web.shop.svc.${Z} 5 IN SRV 0 50 80 web.shop.svc.${Z}`, `web.shop.svc.${Z} 5 IN SRV 0 50 9090 web.shop.svc.${Z}`], [`web.shop.svc.${Z} 5 IN A 10.96.10.10`])],
    [`_http._tcp.api.shop.svc.${Z}`, 'SRV', () => ok([`_http._tcp.api.shop.svc.${Z} 5 IN SRV 0 50 8080 api.shop.svc.${Z}`], [`api.shop.svc.${Z} 5 IN A 10.96.10.20`, `api.shop.svc.${Z} 5 IN AAAA fd00:10:96::20`])],
    [`_http._udp.web.shop.svc.${Z}`, 'SRV', nx],
    [`_nope._tcp.web.shop.svc.${Z}`, 'SRV', nx],
    // headless: ready endpoints merged over two slices, deduplicated
    [`db.data.svc.${Z}`, 'A', () => ok([`db.data.svc.${Z} 5 IN A 10.244.1.20`, `db.data.svc.${Z} 5 IN A 10.244.2.21`, `db.data.svc.${Z} 5 IN A 10.244.3.22`])],
    [`db.data.svc.${Z}`, 'AAAA', nodata],
    [`db-1.db.data.svc.${Z}`, 'A', () => ok([`db-1.db.data.svc.${Z} 5 IN A 10.244.2.21`])],
    [`db-9.db.data.svc.${Z}`, 'A', nx],
    [
      `_postgres._tcp.db.data.svc.${Z}`,
      'SRV',
      () =>
        ok(
          [0, 1, 2].map((i) => `_postgres._tcp.db.data.svc.${Z} 5 IN SRV 0 33 5432 db-${i}.db.data.svc.${Z}`),
          [`db-0.db.data.svc.${Z} 5 IN A 10.244.1.20`, `db-1.db.data.svc.${Z} 5 IN A 10.244.2.21`, `db-2.db.data.svc.${Z} 5 IN A 10.244.3.22`],
        ),
    ],
    // endpoint of a ClusterIP service by dashed IP; not-ready endpoints are not served
    [`10-244-1-10.web.shop.svc.${Z}`, 'A', () => ok([`10-244-1-10.web.shop.svc.${Z} 5 IN A 10.244.1.10`])],
    [`10-244-3-12.web.shop.svc.${Z}`, 'A', nx],
    // ExternalName
    // (the target is resolved by the plugins after kubernetes, here file, as CoreDNS asks its upstream)
    [`search.shop.svc.${Z}`, 'A', () => ({ ...ok([`search.shop.svc.${Z} 5 IN CNAME www.example.com.`, 'www.example.com. 3600 IN A 192.0.2.80']), ordered: true })],
    [`search.shop.svc.${Z}`, 'AAAA', () => ok([`search.shop.svc.${Z} 5 IN CNAME www.example.com.`])],
    [`search.shop.svc.${Z}`, 'CNAME', () => ok([`search.shop.svc.${Z} 5 IN CNAME www.example.com.`])],
    [`x.search.shop.svc.${Z}`, 'A', nx],
    [`alias.shop.svc.${Z}`, 'A', () => ({ ...ok([`alias.shop.svc.${Z} 5 IN CNAME web.shop.svc.${Z}`, `web.shop.svc.${Z} 5 IN A 10.96.10.10`]), ordered: true })],
    // spec version, apex
    [`dns-version.${Z}`, 'TXT', () => ok([`dns-version.${Z} 28800 IN TXT "1.1.0"`])],
    [Z, 'SOA', () => ok([soa])],
    [Z, 'NS', () => ok([`${Z} 5 IN NS ns.dns.${Z}`], [`ns.dns.${Z} 5 IN A 127.0.0.1`])],
    [Z, 'A', nodata],
    [`ns.dns.${Z}`, 'A', () => ok([`ns.dns.${Z} 5 IN A 127.0.0.1`])],
    // negative answers
    [`nope.shop.svc.${Z}`, 'A', nx],
    [`web.nope.svc.${Z}`, 'A', nx],
    [`shop.svc.${Z}`, 'A', nodata],
    [`nope.svc.${Z}`, 'A', nx],
    [`svc.${Z}`, 'A', nodata],
    [`foo.${Z}`, 'A', nx],
    [`foo.${Z}`, 'NS', nx],
    [`a.b.c.web.shop.svc.${Z}`, 'A', nx],
    [`web.shop.svc.${Z}`, 'TXT', nodata],
    [`web.shop.svc.${Z}`, 'MX', nodata],
    [`web.shop.svc.${Z}`, 'SOA', nodata],
    // PTR: ClusterIPs (v4, v6) and endpoints
    ['10.10.96.10.in-addr.arpa.', 'PTR', () => ok([`10.10.96.10.in-addr.arpa. 5 IN PTR web.shop.svc.${Z}`])],
    ['20.1.244.10.in-addr.arpa.', 'PTR', () => ok([`20.1.244.10.in-addr.arpa. 5 IN PTR db-0.db.data.svc.${Z}`])],
    [
      '0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.',
      'PTR',
      () => ok([`0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 IN PTR api.shop.svc.${Z}`]),
    ],
    // pods insecure
    [`10-244-9-9.shop.pod.${Z}`, 'A', () => ok([`10-244-9-9.shop.pod.${Z} 5 IN A 10.244.9.9`])],
    [`fd00--1.shop.pod.${Z}`, 'AAAA', () => ok([`fd00--1.shop.pod.${Z} 5 IN AAAA fd00::1`])],
    [`not-an-ip.shop.pod.${Z}`, 'A', nx],
    [`10-244-9-9.nope.pod.${Z}`, 'A', nx],
    [`shop.pod.${Z}`, 'A', nodata],
  ];

  for (const [name, type, want] of table) {
    it(`${name} ${type}`, async () => {
      sortAndCheck((await srv.query(name, type)).msg, want());
    });
  }

  // Lower-case zones are answered from precomputed wire bytes; a zone spelled otherwise goes
  // through the record objects and dns-packet. Both must say the same thing.
  it('answers from wire bytes exactly as from the encoded records', async () => {
    const norm = (m: { answers?: unknown[] | undefined; authorities?: unknown[] | undefined; additionals?: unknown[] | undefined }): string[][] =>
      [m.answers ?? [], m.authorities ?? [], m.additionals ?? []].map((sec) => sec.map((r) => JSON.stringify(r).toLowerCase()).sort());
    let compared = 0;
    for (const [name, type] of table) {
      if (name.startsWith('search.') || name.startsWith('alias.') || name === Z) continue;
      const upper = name.replace(/cluster\.local\.$/, 'CLUSTER.LOCAL.').replace(/in-addr\.arpa\.$/, 'IN-ADDR.ARPA.').replace(/ip6\.arpa\.$/, 'IP6.ARPA.');
      for (let i = 0; i < 2; i++) {
        const fast = await srv.query(name, type);
        const slow = await srv.query(upper, type);
        expect(fast.rcode, `${name} ${type}`).toBe(slow.rcode);
        expect(fast.msg.flags, `${name} ${type}`).toBe(slow.msg.flags);
        expect(norm(fast.msg), `${name} ${type}`).toEqual(norm(slow.msg));
        if (fast.msg.answers?.length) expect(fast.msg.answers[0]!.name, `${name} ${type}`).toBe(name.replace(/\.$/, ''));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(60);
  });

  it('reverse names it does not know fall through to the next plugin (whoami)', async () => {
    const r = await srv.query('9.9.9.9.in-addr.arpa.', 'PTR');
    expect(r.rcode).toBe(0);
    expect(r.msg.answers ?? []).toHaveLength(0);
    expect((r.msg.additionals ?? []).some((a) => a.type === 'A' && (a as { data?: unknown }).data === '127.0.0.1')).toBe(true);
  });

  it('names outside its zones go to the next plugin', async () => {
    const r = await srv.query('example.org.', 'A');
    expect((r.msg.additionals ?? []).some((a) => a.type === 'A' && (a as { data?: unknown }).data === '127.0.0.1')).toBe(true);
  });

  it('answers in the query’s case', async () => {
    const r = await srv.query('WEB.Shop.SVC.Cluster.Local.', 'A');
    expect(r.msg.answers?.map((a) => `${a.name} ${a.type} ${String((a as { data?: unknown }).data)}`)).toEqual(['WEB.Shop.SVC.Cluster.Local A 10.96.10.10']);
    const s = await srv.query('_HTTP._tcp.Web.shop.svc.cluster.local.', 'SRV');
    expect(s.msg.answers?.[0]?.name).toBe('_HTTP._tcp.Web.shop.svc.cluster.local');
  });

  it('refuses zone transfers', async () => {
    const r = await srv.query('cluster.local.', 'AXFR', { tcp: true });
    expect(r.rcode).toBe(5);
  });
});

describe('kubernetes options: namespaces, pods verified, endpoint_pod_names, ignore empty_service, ttl', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer(`cluster.local:0 in-addr.arpa:0 {
  bind 127.0.0.1
  kubernetes {
    manifests ${dir}
    namespaces shop
    pods verified
    endpoint_pod_names
    ignore empty_service
    ttl 30
  }
}`);
  });
  afterAll(async () => {
    await srv.close();
  });

  it('uses the ttl', async () => {
    sortAndCheck((await srv.query(`web.shop.svc.${Z}`, 'A')).msg, { rcode: 'NOERROR', answer: [`web.shop.svc.${Z} 30 IN A 10.96.10.10`] });
  });
  it('hides namespaces not listed', async () => {
    sortAndCheck((await srv.query(`db.data.svc.${Z}`, 'A')).msg, { rcode: 'NXDOMAIN', answer: [] });
    sortAndCheck((await srv.query('20.1.244.10.in-addr.arpa.', 'PTR')).msg, { rcode: 'NXDOMAIN', answer: [] });
    sortAndCheck((await srv.query(`data.svc.${Z}`, 'A')).msg, { rcode: 'NXDOMAIN' });
  });
  it('ignores ClusterIP services without endpoints', async () => {
    sortAndCheck((await srv.query(`checkout.shop.svc.${Z}`, 'A')).msg, { rcode: 'NXDOMAIN', answer: [] });
  });
  it('names endpoints after their pods', async () => {
    sortAndCheck((await srv.query(`web-abc.web.shop.svc.${Z}`, 'A')).msg, { rcode: 'NOERROR', answer: [`web-abc.web.shop.svc.${Z} 30 IN A 10.244.1.10`] });
    sortAndCheck((await srv.query('10.1.244.10.in-addr.arpa.', 'PTR')).msg, { rcode: 'NOERROR', answer: [`10.1.244.10.in-addr.arpa. 30 IN PTR web-abc.web.shop.svc.${Z}`] });
  });
  it('answers pod names only for pods that exist (verified)', async () => {
    sortAndCheck((await srv.query(`10-244-1-10.shop.pod.${Z}`, 'A')).msg, { rcode: 'NOERROR', answer: [`10-244-1-10.shop.pod.${Z} 30 IN A 10.244.1.10`] });
    sortAndCheck((await srv.query(`10-244-9-9.shop.pod.${Z}`, 'A')).msg, { rcode: 'NXDOMAIN' });
  });
  it('without fallthrough an unknown reverse name is NXDOMAIN with the reverse zone SOA', async () => {
    const r = await srv.query('9.9.9.9.in-addr.arpa.', 'PTR');
    expect(r.rcode).toBe(3);
    expect(r.msg.authorities?.[0]?.name).toBe('in-addr.arpa');
  });
});

describe('kubernetes live updates from manifests', () => {
  it('re-reads the files on change; a broken file keeps the last good data', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-live-'));
    const file = path.join(d, 'svc.yaml');
    const svc = (ip: string): string => `apiVersion: v1\nkind: Service\nmetadata: { name: live, namespace: default }\nspec: { clusterIP: ${ip}, ports: [{ port: 80 }] }\n`;
    fs.writeFileSync(file, svc('10.96.0.50'));
    const srv = await startServer(`.:0 {\n  bind 127.0.0.1\n  kubernetes cluster.local in-addr.arpa {\n    manifests ${file}\n  }\n}`);
    try {
      const a = async (): Promise<string | undefined> => ((await srv.query('live.default.svc.cluster.local.', 'A')).msg.answers?.[0] as { data?: string } | undefined)?.data;
      const ptr = async (ip: string): Promise<number> => (await srv.query(`${ip.split('.').reverse().join('.')}.in-addr.arpa.`, 'PTR')).rcode;
      expect(await a()).toBe('10.96.0.50');
      expect(await ptr('10.96.0.50')).toBe(0);
      // (the deadline only guards against a hang: a loaded machine takes seconds for a re-read)
      const until = async (want: string | undefined): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          if ((await a()) === want) return;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(await a()).toBe(want);
      };
      const reloads = (): number => srv.log.lines.filter((l) => l.includes('manifests reloaded from')).length;
      const before = reloads();
      fs.writeFileSync(file, svc('10.96.0.51'));
      await until('10.96.0.51');
      // one re-read (fs.watch's or the poll's) applied the change, not several
      expect(reloads() - before).toBe(1);
      // the PTR of the old address is gone, the new one answers (encoded PTRs follow changes)
      expect(await ptr('10.96.0.51')).toBe(0);
      expect(await ptr('10.96.0.50')).toBe(3);
      fs.writeFileSync(file, 'kind: Service\nmetadata: [unclosed\n');
      // the poll has read the broken file (its error logged) and finished ("reloaded", with the
      // file's last good objects): the last good data still answers
      await waitFor(() => {
        const i = srv.log.lines.findIndex((l) => l.includes('keeping the last good data') && l.includes('svc.yaml:'));
        return i >= 0 && srv.log.lines.slice(i + 1).some((l) => l.includes('manifests reloaded from'));
      }, { timeout: 30_000, what: 'the poll that read the broken manifest to finish' });
      expect(await a()).toBe('10.96.0.51');
      fs.writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata: { name: default }\n');
      await until(undefined);
    } finally {
      await srv.close();
      fs.rmSync(d, { recursive: true, force: true });
    }
  }, 120_000);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(zoneDir, { recursive: true, force: true });
});
