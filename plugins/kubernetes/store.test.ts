import { describe, expect, it } from 'vitest';
import { Recorder, fakeRequest, nextReturning, sortAndCheck, waitFor } from '../../src/testing/index.js';
import { Fall } from '../../src/plugin/api.js';
import { ClusterStore } from './store.js';
import { isServiceRecord } from './view.js';
import { KubernetesHandler } from './kubernetes.js';
import { parseName, podLabelIp, reverseIp } from './names.js';
import { canonIp, dashedIp } from './ip.js';
import { convertService, convertSlice } from './watch/convert.js';
import { parseSelector, selectorMatches } from './selector.js';
import { defaultConfig, type KubernetesConfig } from './setup.js';
import type { SlimEndpointSlice, SlimService } from './watch/objects.js';

const svc = (name: string, ns: string, o: Partial<SlimService> = {}): SlimService => ({
  namespace: ns,
  name,
  type: 'ClusterIP',
  clusterIPs: [],
  headless: false,
  externalName: '',
  ports: [{ name: 'http', protocol: 'tcp', port: 80 }],
  publishNotReadyAddresses: false,
  labels: {},
  ...o,
});
const slice = (name: string, ns: string, service: string, eps: Array<[string, boolean, string?]>): SlimEndpointSlice => ({
  namespace: ns,
  name,
  service,
  addressType: 'IPv4',
  ports: [{ name: 'http', protocol: 'tcp', port: 8080 }],
  endpoints: eps.map(([ip, ready, hostname]) => ({ addresses: [ip], hostname: hostname ?? '', podName: '', nodeName: '', ready })),
  labels: {},
});

describe('store', () => {
  it('merges slices, drops not-ready endpoints, indexes IPs, bumps modified only on real changes', () => {
    let now = 1_000_000;
    const st = new ClusterStore({ now: () => now });
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('h', 'ns', { headless: true }));
    st.upsertSlice(slice('h-1', 'ns', 'h', [['10.0.0.1', true, 'a'], ['10.0.0.2', false]]));
    st.upsertSlice(slice('h-2', 'ns', 'h', [['10.0.0.3', true], ['10.0.0.1', true, 'a']]));
    st.commit();
    const e = st.service('h', 'ns')!;
    expect(e.eps.map((x) => `${e.label(x)}=${x.ip}`)).toEqual(['a=10.0.0.1', '10-0-0-3=10.0.0.3']);
    expect(st.byIp('10.0.0.3').map((v) => (isServiceRecord(v) ? 'svc' : v.svc.label(v)))).toEqual(['10-0-0-3']);
    expect(st.byIp('10.0.0.2')).toHaveLength(0);
    expect(st.modified).toBe(1000);

    now = 2_000_000; // same data again: serial unchanged
    st.replaceAll('services', [svc('h', 'ns', { headless: true })]);
    st.replaceAll('endpointslices', [slice('h-1', 'ns', 'h', [['10.0.0.1', true, 'a'], ['10.0.0.2', false]]), slice('h-2', 'ns', 'h', [['10.0.0.3', true], ['10.0.0.1', true, 'a']])]);
    st.commit();
    expect(st.modified).toBe(1000);

    now = 3_000_000; // a slice disappears from the full list
    st.replaceAll('endpointslices', [slice('h-1', 'ns', 'h', [['10.0.0.1', true, 'a']])]);
    st.commit();
    expect(st.modified).toBe(3000);
    expect(st.byIp('10.0.0.3')).toHaveLength(0);
    expect(st.service('h', 'ns')!.eps.map((x) => x.ip)).toEqual(['10.0.0.1']);

    st.deleteService('ns', 'h');
    st.commit();
    expect(st.service('h', 'ns')).toBeUndefined();
    expect(st.byIp('10.0.0.1')).toHaveLength(0);
  });

  it('publishNotReadyAddresses serves not-ready endpoints; ClusterIPs come first in the reverse index', () => {
    const st = new ClusterStore();
    st.upsertService(svc('p', 'ns', { clusterIPs: ['10.96.0.9'], publishNotReadyAddresses: true }));
    st.upsertSlice(slice('p-1', 'ns', 'p', [['10.0.0.5', false]]));
    st.upsertService(svc('other', 'ns', { clusterIPs: ['10.0.0.5'] }));
    st.commit();
    expect(st.service('p', 'ns')!.eps.map((x) => x.ip)).toEqual(['10.0.0.5']);
    expect(st.byIp('10.0.0.5').map((v) => (isServiceRecord(v) ? `svc:${v.name}` : `ep:${v.svc.name}`))).toEqual(['svc:other', 'ep:p']);
  });

  it('the reverse index holds exactly the addresses served now, after changes within one commit and across commits', () => {
    const st = new ClusterStore();
    st.upsertService(svc('a', 'ns', { clusterIPs: ['10.96.0.1'] }));
    st.upsertSlice(slice('a-1', 'ns', 'a', [['10.0.0.1', true], ['10.0.0.2', true]]));
    st.upsertSlice(slice('a-1', 'ns', 'a', [['10.0.0.1', true], ['10.0.0.3', true]])); // twice before a commit
    st.commit();
    expect(st.reverseSize).toBe(3); // 10.96.0.1, 10.0.0.1, 10.0.0.3
    expect(st.byIp('10.0.0.3')).toHaveLength(1);
    // a new ClusterIP, an endpoint not ready any more, a second slice: what was indexed goes, what is served comes
    st.upsertService(svc('a', 'ns', { clusterIPs: ['10.96.0.2'] }));
    st.upsertSlice(slice('a-1', 'ns', 'a', [['10.0.0.1', true], ['10.0.0.3', false]]));
    st.upsertSlice(slice('a-2', 'ns', 'a', [['10.0.0.4', true]]));
    st.commit();
    expect(st.reverseSize).toBe(3); // 10.96.0.2, 10.0.0.1, 10.0.0.4
    expect(st.byIp('10.96.0.1')).toHaveLength(0);
    expect(st.byIp('10.96.0.2')).toHaveLength(1);
    // the slice moves to another Service; then the Service goes, then its last slice
    st.upsertService(svc('b', 'ns', { clusterIPs: ['10.96.0.3'] }));
    st.upsertSlice({ ...slice('a-2', 'ns', 'b', [['10.0.0.4', true]]) });
    st.commit();
    expect(st.byIp('10.0.0.4').map((v) => (isServiceRecord(v) ? v.name : v.svc.name))).toEqual(['b']);
    expect(st.reverseSize).toBe(4); // 10.96.0.2, 10.0.0.1, 10.96.0.3, 10.0.0.4
    st.deleteService('ns', 'a');
    st.commit();
    expect(st.reverseSize).toBe(2);
    st.deleteSlice('ns', 'a-1');
    st.deleteService('ns', 'b');
    st.commit();
    expect(st.reverseSize).toBe(0); // b's slice a-2 stays, but without its Service nothing of it is served
    st.upsertService(svc('b', 'ns', { clusterIPs: ['10.96.0.3'] })); // back: so is its slice
    st.commit();
    expect(st.reverseSize).toBe(2);
  });

  it('commits by itself after writes (microtask)', async () => {
    const st = new ClusterStore();
    st.upsertService(svc('x', 'ns', { clusterIPs: ['10.96.0.1'] }));
    await Promise.resolve();
    expect(st.byIp('10.96.0.1')).toHaveLength(1);
  });

  it('on hold (a first list coming in) commits only when told; that commit serves at once and indexes in the background', async () => {
    let now = 5_000_000;
    const st = new ClusterStore({ now: () => now });
    st.hold = true;
    // 1,200 services: more than one background slice of the index pass
    for (let i = 0; i < 1200; i++) {
      const ip = `10.1.${i >> 8}.${i & 255}`;
      st.upsertService(svc(`s${i}`, 'ns', { clusterIPs: [`10.96.${i >> 8}.${i & 255}`] }));
      st.upsertSlice(slice(`s${i}-1`, 'ns', `s${i}`, [[ip, true]]));
    }
    await new Promise((r) => setImmediate(r));
    expect(st.generation).toBe(0); // no commit of its own while on hold
    st.commit();
    expect(st.generation).toBe(1);
    expect(st.modified).toBe(5000);
    expect(st.service('s7', 'ns')!.eps.map((e) => e.ip)).toEqual(['10.1.0.7']);
    // the reverse index, asked for before the background pass is done, is complete
    expect(st.byIp('10.1.4.175').map((v) => (isServiceRecord(v) ? v.name : v.svc.name))).toEqual(['s1199']);
    expect(st.byIp('10.96.0.3').map((v) => (isServiceRecord(v) ? v.name : 'endpoint'))).toEqual(['s3']);
    st.hold = false;
    // after the pass, the signatures are there: the same data again is no change …
    now = 6_000_000;
    st.upsertSlice(slice('s5-1', 'ns', 's5', [['10.1.0.5', true]]));
    st.commit();
    expect([st.generation, st.modified]).toEqual([1, 5000]);
    // … and a changed endpoint moves in the reverse index
    st.upsertSlice(slice('s5-1', 'ns', 's5', [['10.2.0.5', true]]));
    st.commit();
    expect([st.generation, st.modified]).toEqual([2, 6000]);
    expect(st.byIp('10.1.0.5')).toHaveLength(0);
    expect(st.byIp('10.2.0.5')).toHaveLength(1);
    st.close();
  });

  it('a held commit leaves the index to a background pass, which needs no read to finish', async () => {
    const st = new ClusterStore();
    st.hold = true;
    for (let i = 0; i < 1200; i++) st.upsertService(svc(`s${i}`, 'ns', { clusterIPs: [`10.96.${i >> 8}.${i & 255}`], externalIPs: [`192.0.2.${i & 255}`] }));
    st.commit();
    st.hold = false;
    const pending = (): number => (st as unknown as { unindexed: unknown[] }).unindexed.length;
    expect(pending()).toBe(1200);
    await waitFor(() => pending() === 0, 2000);
    expect(st.externalByIp('192.0.2.4').map((e) => e.name)).toEqual(['s4', 's260', 's516', 's772', 's1028']);
  });

  it('namespaces: configured list drops other objects; namespace_labels decides exposure', () => {
    const st = new ClusterStore({ namespaces: ['a'] });
    st.upsertNamespace({ name: 'a', labels: {} });
    st.upsertNamespace({ name: 'b', labels: {} });
    st.upsertService(svc('s', 'b'));
    st.commit();
    expect(st.namespaceExposed('a')).toBe(true);
    expect(st.namespaceExposed('b')).toBe(false);
    expect(st.service('s', 'b')).toBeUndefined();
    const sl = new ClusterStore({ namespaceLabels: parseSelector('team=x') });
    sl.upsertNamespace({ name: 'a', labels: { team: 'x' } });
    sl.upsertNamespace({ name: 'b', labels: { team: 'y' } });
    expect([sl.namespaceExposed('a'), sl.namespaceExposed('b'), sl.namespaceExposed('c')]).toEqual([true, false, false]);
  });

  it('reports programming latency for slice changes after the first sync', () => {
    const seen: Array<[string, number]> = [];
    const st = new ClusterStore({ now: () => 10_000, onProgrammed: (k, s) => seen.push([k, s]) });
    st.upsertService(svc('h', 'ns', { headless: true, hasSelector: true }));
    st.upsertSlice({ ...slice('h-1', 'ns', 'h', [['10.0.0.1', true]]), lastChangeTriggerTime: 9_000 });
    st.commit();
    expect(seen).toEqual([]);
    st.synced = true;
    st.upsertSlice({ ...slice('h-1', 'ns', 'h', [['10.0.0.2', true]]), lastChangeTriggerTime: 7_500 });
    st.commit();
    expect(seen).toEqual([['headless_with_selector', 2.5]]);
  });
});

const cfg = (o: Partial<KubernetesConfig> = {}): KubernetesConfig => ({ ...defaultConfig(['cluster.local.'], 'cluster.local.'), ...o });

describe('handler', () => {
  it('SERVFAIL with SOA instead of NXDOMAIN until synced, then NXDOMAIN; answers are synchronous', () => {
    const st = new ClusterStore({ now: () => 42_000 });
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('web', 'ns', { clusterIPs: ['10.96.0.7'] }));
    st.commit();
    const h = new KubernetesHandler(cfg(), st, { interfaceIps: () => ['127.0.0.1'] });
    const soa = 'cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5';
    let rec = new Recorder(fakeRequest('nope.ns.svc.cluster.local.', 'A'));
    expect(h.serve(rec.req, rec, nextReturning(0))).toBe(2);
    sortAndCheck(rec.msg, { rcode: 'SERVFAIL', ns: [soa] });
    rec = new Recorder(fakeRequest('web.ns.svc.cluster.local.', 'A'));
    expect(h.serve(rec.req, rec, nextReturning(0))).toBe(0); // a number, not a promise
    sortAndCheck(rec.msg, { rcode: 'NOERROR', aa: true, answer: ['web.ns.svc.cluster.local. 5 IN A 10.96.0.7'] });
    st.synced = true;
    rec = new Recorder(fakeRequest('nope.ns.svc.cluster.local.', 'A'));
    expect(h.serve(rec.req, rec, nextReturning(0))).toBe(3);
    sortAndCheck(rec.msg, { rcode: 'NXDOMAIN', aa: true, ns: [soa] });
  });

  it('fallthrough passes NXDOMAIN names to next; names outside the zones always go next', () => {
    const st = new ClusterStore();
    st.synced = true;
    const h = new KubernetesHandler(cfg({ fall: Fall.from([]) }), st, { interfaceIps: () => [] });
    const next = nextReturning(5);
    const rec = new Recorder(fakeRequest('x.ns.svc.cluster.local.', 'A'));
    expect(h.serve(rec.req, rec, next)).toBe(5);
    const rec2 = new Recorder(fakeRequest('example.org.', 'A'));
    expect(h.serve(rec2.req, rec2, next)).toBe(5);
    expect(next.calls).toBe(2);
  });

  it('rebuilds a service’s precomputed answer after a change, not before', () => {
    const st = new ClusterStore();
    st.synced = true;
    st.upsertNamespace({ name: 'ns', labels: {} });
    st.upsertService(svc('web', 'ns', { clusterIPs: ['10.96.0.7'] }));
    st.commit();
    const h = new KubernetesHandler(cfg(), st, { interfaceIps: () => [] });
    const ask = () => {
      const rec = new Recorder(fakeRequest('web.ns.svc.cluster.local.', 'A'));
      h.serve(rec.req, rec, nextReturning(0));
      return rec.msg?.answers?.map((a) => (a as { data?: unknown }).data);
    };
    expect(ask()).toEqual(['10.96.0.7']);
    const views = st.service('web', 'ns')!.views;
    ask();
    expect(st.service('web', 'ns')!.views).toBe(views);
    st.upsertService(svc('web', 'ns', { clusterIPs: ['10.96.0.8'] }));
    st.commit();
    expect(st.service('web', 'ns')!.views).toBeUndefined();
    expect(ask()).toEqual(['10.96.0.8']);
  });
});

describe('names and helpers', () => {
  it('parses the query grammar', () => {
    const z = 'cluster.local.';
    expect(parseName('cluster.local.', z)).toEqual({ kind: 'apex' });
    expect(parseName('web.shop.svc.cluster.local.', z)).toEqual({ kind: 'service', namespace: 'shop', service: 'web', endpoint: '', port: '', protocol: '' });
    expect(parseName('_http._tcp.web.shop.svc.cluster.local.', z)).toMatchObject({ port: 'http', protocol: 'tcp' });
    expect(parseName('db-0.db.data.svc.cluster.local.', z)).toMatchObject({ endpoint: 'db-0', service: 'db' });
    expect(parseName('a.b.c.web.shop.svc.cluster.local.', z)).toEqual({ kind: 'invalid' });
    expect(parseName('1-2-3-4.ns.pod.cluster.local.', z)).toEqual({ kind: 'pod', namespace: 'ns', label: '1-2-3-4' });
    expect(parseName('shop.svc.cluster.local.', z)).toEqual({ kind: 'namespace', pod: false, namespace: 'shop' });
    expect(parseName('foo.cluster.local.', z)).toEqual({ kind: 'invalid' });
    expect(parseName('1.0.0.10.in-addr.arpa.', 'in-addr.arpa.')).toEqual({ kind: 'reverse', ip: '10.0.0.1' });
    expect(parseName('0.10.in-addr.arpa.', 'in-addr.arpa.')).toEqual({ kind: 'invalid' });
  });
  it('IP helpers', () => {
    expect(canonIp('FD00:0:0:0:0:0:0:1')).toBe('fd00::1');
    expect(canonIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(dashedIp('fd00::1')).toBe('fd00--1');
    expect(dashedIp('fd00::')).toBe('fd00--0');
    expect(podLabelIp('10-1-2-3')).toBe('10.1.2.3');
    expect(podLabelIp('fd00--1')).toBe('fd00::1');
    expect(podLabelIp('a-b-c-d')).toBeUndefined();
    expect(reverseIp('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.')).toBe('fd00::1');
  });
  it('converts API objects and selectors', () => {
    const s = convertService({ metadata: { name: 'h', namespace: 'n' }, spec: { clusterIP: 'None', selector: { a: 'b' }, ports: [{ name: 'HTTP', port: 80 }] } })!;
    expect([s.headless, s.clusterIPs, s.ports, s.hasSelector]).toEqual([true, [], [{ name: 'http', protocol: 'tcp', port: 80 }], true]);
    expect(convertSlice({ metadata: { name: 'x', namespace: 'n' }, addressType: 'IPv4', endpoints: [] })).toBeUndefined();
    const sl = convertSlice({
      metadata: { name: 'x', namespace: 'n', labels: { 'kubernetes.io/service-name': 'h' }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2024-01-01T00:00:00Z' } },
      addressType: 'IPv6',
      endpoints: [{ addresses: ['FD00:0::5'], conditions: {}, targetRef: { kind: 'Pod', name: 'p' } }, { addresses: ['fd00::6'], conditions: { ready: false } }],
    })!;
    expect(sl.endpoints.map((e) => [e.addresses[0], e.ready, e.podName])).toEqual([['fd00::5', true, 'p'], ['fd00::6', false, '']]);
    expect(sl.lastChangeTriggerTime).toBe(Date.parse('2024-01-01T00:00:00Z'));
    const sel = parseSelector('environment in (staging, qa),application=nginx,!canary');
    expect(selectorMatches(sel, { environment: 'qa', application: 'nginx' })).toBe(true);
    expect(selectorMatches(sel, { environment: 'qa', application: 'nginx', canary: 'y' })).toBe(false);
    expect(selectorMatches(sel, { environment: 'prod', application: 'nginx' })).toBe(false);
    expect(() => parseSelector('a in (b')).toThrow();
  });
});
