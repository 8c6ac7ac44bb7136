// autopath: CoreDNS's tables (plugin/autopath/setup_test.go, autopath_test.go) as data, replayed
// through real servers; then autopath @kubernetes with `pods verified` against the fake API
// server, replaying what a pod with ndots:5 sends for example.org with and without autopath.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispense, parsePlugin, responder, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { RCODE, rr } from '../../src/plugin/api.js';
import { FakeApiServer } from '../../test/support/fake-apiserver.js';
import { namespace, pod, service } from '../../test/support/k8s-objects.js';
import { startUpstream, type Upstream } from '../../test/support/upstream.js';
import autopath from './index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-autopath-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const resolv = path.join(dir, 'resolv.conf');
fs.writeFileSync(resolv, 'nameserver 1.2.3.4\ndomain foo.com\nsearch bar.com baz.com\noptions ndots:5\n');

describe('autopath: setup (CoreDNS TestSetupAutoPath)', () => {
  const ok: Array<{ input: string; zone?: string; plugin?: string; search?: string[] }> = [
    { input: 'autopath @kubernetes', plugin: 'kubernetes', zone: '.' },
    { input: 'autopath example.org @kubernetes', plugin: 'kubernetes', zone: 'example.org.' },
    { input: 'autopath 10.0.0.0/8 @kubernetes', plugin: 'kubernetes', zone: '10.in-addr.arpa.' },
    { input: `autopath ${resolv}`, search: ['bar.com.', 'baz.com.', ''], zone: '.' },
  ];
  it.each(ok)('$input', ({ input, zone, plugin, search }) => {
    const c = parsePlugin(autopath, input);
    expect(c.plugin).toBe(plugin);
    expect(c.zones[0]).toBe(zone);
    if (search) expect(c.search).toEqual(search);
  });
  it.each([
    ['autopath kubernetes', /failed to parse "kubernetes": ENOENT/],
    ['autopath', /Testfile:1 .*no resolv-conf specified/],
    ['autopath ""', /failed to parse "": E/],
  ])('rejects %j', (input, re) => {
    expect(() => autopath.parse(dispense(input), ['.'])).toThrow(re);
  });
  it('a plugin named after @ that cannot give search paths is a setup error', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n autopath @hosts\n hosts {\n  10.0.0.1 a.test\n }\n}')).rejects.toThrow(/hosts does not implement the AutoPather interface/);
  });
});

describe('autopath: search path expansion through a real server (CoreDNS TestAutoPath, TestAutoPathNoAnswer)', () => {
  // CoreDNS's nextHandler: NXDOMAIN (with a SOA) or an A record per name; SERVFAIL unwritten for the rest.
  const table: Record<string, number> = { 'b.example.org.': RCODE.NXDOMAIN, 'b.com.': RCODE.NOERROR, 'a.example.com.': RCODE.NOERROR };
  const next = responder(
    'apnext',
    (req, w) => {
      const rc = table[req.name];
      if (rc === undefined) return RCODE.SERVFAIL;
      if (rc === RCODE.NXDOMAIN) {
        w.write({ type: 'response', flags: RCODE.NXDOMAIN, answers: [], authorities: [rr('example.org. 1800 IN SOA example.org. example.org. 1502165581 14400 3600 604800 14400')] });
        return rc;
      }
      w.write({ type: 'response', flags: 0, answers: [rr(`${req.qname} 3600 IN A 127.0.0.53`)] });
      return rc;
    },
    { position: { after: 'autopath' } },
  );
  let s: TestServer;
  beforeAll(async () => {
    const rc = path.join(dir, 'resolv-test.conf');
    fs.writeFileSync(rc, 'search example.org example.com com\n');
    s = await startServer(`.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n autopath ${rc}\n apnext\n}`, { plugins: [next] });
  });
  afterAll(() => s?.close());

  it('b.example.org. → the CNAME to b.com. first, then its answer', async () => {
    const r = await s.query('b.example.org.', 'A');
    expect(r.rcode).toBe(0);
    expect(r.msg.questions?.[0]?.name).toBe('b.example.org');
    expect(r.msg.answers?.map((a) => `${a.name} ${a.type} ${(a as { data: string }).data}`)).toEqual(['b.example.org CNAME b.com', 'b.com A 127.0.0.53']);
    expect(r.msg.answers?.[0]).toMatchObject({ ttl: 3600 });
  });

  it('a.example.com. is not under the first search element: no expansion', async () => {
    const r = await s.query('a.example.com.', 'A');
    expect(r.msg.answers?.map((a) => `${a.name} ${a.type}`)).toEqual(['a.example.com A']);
  });

  it('c.example.org.: every try fails without writing → the first rcode, SERVFAIL', async () => {
    expect((await s.query('c.example.org.', 'A')).rcode).toBe(RCODE.SERVFAIL);
  });

  it('counts coredns_autopath_success_total', async () => {
    const t = await s.metrics.registry.getSingleMetricAsString('coredns_autopath_success_total');
    expect(t).toMatch(/coredns_autopath_success_total\{server="dns:\/\/127\.0\.0\.1:0"\} [1-9]/);
  });
});

describe('autopath @kubernetes with pods verified: what a pod with ndots:5 sends for example.org', () => {
  let fake: FakeApiServer;
  let up: Upstream;
  const servers: TestServer[] = [];
  const SEARCH = ['default.svc.cluster.local.', 'svc.cluster.local.', 'cluster.local.'];

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 0 });
    fake.load('namespaces', [namespace('default')]);
    fake.load('services', [service('default', 'web', '10.96.0.10')]);
    // the client of these tests is 127.0.0.1: it is "the pod"
    fake.load('pods', [pod('default', 'client', '127.0.0.1')]);
    up = await startUpstream();
    up.answer('example.org.', 'A', ['example.org. 300 IN A 93.184.216.34']);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await up?.stop();
    await fake?.close();
  });

  const corefile = (auto: boolean): string => `.:0 {
  bind 127.0.0.1
  ${auto ? 'autopath @kubernetes' : ''}
  kubernetes cluster.local {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
    pods verified
  }
  forward . ${up.addr} {
    max_fails 0
  }
}`;

  /** glibc's walk for a name with fewer than ndots dots: each search domain, then the name as is. */
  async function resolveAsPod(s: TestServer, name: string): Promise<{ queries: number; answer: string[] }> {
    let queries = 0;
    for (const suffix of [...SEARCH, '']) {
      const q = suffix === '' ? `${name}.` : `${name}.${suffix}`;
      queries++;
      const r = await s.query(q, 'A');
      if (r.rcode !== RCODE.NXDOMAIN) return { queries, answer: (r.msg.answers ?? []).map((a) => `${a.name} ${a.type} ${(a as { data: string }).data}`) };
    }
    return { queries, answer: [] };
  }

  it('one query answered with autopath, four (three NXDOMAIN) without', async () => {
    const withAp = await startServer(corefile(true));
    servers.push(withAp);
    const without = await startServer(corefile(false));
    servers.push(without);
    const a = await resolveAsPod(withAp, 'example.org');
    const b = await resolveAsPod(without, 'example.org');
    expect(a.queries).toBe(1);
    expect(a.answer).toEqual(['example.org.default.svc.cluster.local CNAME example.org', 'example.org A 93.184.216.34']);
    expect(b.queries).toBe(4);
    expect(b.answer).toEqual(['example.org A 93.184.216.34']);
    // in-cluster names are answered by the first try, as before
    const c = await resolveAsPod(withAp, 'web');
    expect(c).toEqual({ queries: 1, answer: ['web.default.svc.cluster.local A 10.96.0.10'] });
    console.log(`autopath: a pod with ndots:5 sends ${a.queries} query for example.org with autopath, ${b.queries} without`);
  });

  it('a client that is no known pod gets no autopath (its search path is unknown)', async () => {
    const s = await startServer(corefile(true));
    servers.push(s);
    const r = await s.query('example.org.default.svc.cluster.local.', 'A', { source: '127.0.0.2' });
    expect(r.rcode).toBe(RCODE.NXDOMAIN);
    // and once a pod with that address appears, it does
    fake.create('pods', pod('default', 'client2', '127.0.0.2'));
    await waitFor(async () => (await s.query('example.org.default.svc.cluster.local.', 'A', { source: '127.0.0.2' })).rcode === 0, { what: 'autopath for the new pod' });
  });
});
