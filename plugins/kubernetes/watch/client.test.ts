// The API source against the fake API server (test/support): real HTTPS with a test CA, bearer
// tokens, client certificates or a kubeconfig file (client-node's KubeConfig), and faults injected on the
// server side (dropped watches, compaction → 410, refused connections, 500s, bad credentials).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../src/observe/log.js';
import { FakeApiServer } from '../../../test/support/fake-apiserver.js';
import { endpointSlice, namespace, pod, service } from '../../../test/support/k8s-objects.js';
import { listsServed } from '../../../test/support/k8s-dns.js';
import { createApiSource, kindsFor, TOKEN_ENV, type ApiSourceConfig, type ApiSourceOptions } from './client.js';
import type { Kind, ObjectSink, ObjectSource, SlimEndpointSlice, SlimNamespace, SlimPod, SlimService } from './objects.js';

class RecordingSink implements ObjectSink {
  readonly services = new Map<string, SlimService>();
  readonly slices = new Map<string, SlimEndpointSlice>();
  readonly pods = new Map<string, SlimPod>();
  readonly namespaces = new Map<string, SlimNamespace>();
  readonly replaced: Record<Kind, number> = { services: 0, endpointslices: 0, pods: 0, namespaces: 0 };
  commits = 0;
  upsertService(s: SlimService): void {
    this.services.set(`${s.namespace}/${s.name}`, s);
  }
  deleteService(ns: string, name: string): void {
    this.services.delete(`${ns}/${name}`);
  }
  upsertSlice(s: SlimEndpointSlice): void {
    this.slices.set(`${s.namespace}/${s.name}`, s);
  }
  deleteSlice(ns: string, name: string): void {
    this.slices.delete(`${ns}/${name}`);
  }
  upsertPod(p: SlimPod): void {
    this.pods.set(`${p.namespace}/${p.name}`, p);
  }
  deletePod(ns: string, name: string): void {
    this.pods.delete(`${ns}/${name}`);
  }
  upsertNamespace(n: SlimNamespace): void {
    this.namespaces.set(n.name, n);
  }
  deleteNamespace(name: string): void {
    this.namespaces.delete(name);
  }
  replaceAll(kind: Kind, items: readonly unknown[]): void {
    this.replaced[kind]++;
    const m = { services: this.services, endpointslices: this.slices, pods: this.pods, namespaces: this.namespaces }[kind] as Map<string, unknown>;
    m.clear();
    for (const it of items) {
      const o = it as { namespace?: string; name: string };
      m.set(kind === 'namespaces' ? o.name : `${o.namespace}/${o.name}`, it);
    }
  }
  commit(): void {
    this.commits++;
  }
}

/** How long a wait may take before the test gives up: a guard against a hang, not a bound. */
const HANG = 15_000;

async function until(cond: () => boolean, ms = HANG, what = 'condition'): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - t0;
}

const base: ApiSourceConfig = { namespaces: [], pods: 'disabled', endpointPodNames: false, noEndpoints: false };
const fast = { initialBackoffMs: 50, maxBackoffMs: 400 };

let fake: FakeApiServer;
const sources: ObjectSource[] = [];

function start(cfg: Partial<ApiSourceConfig> = {}, server = fake, opts: ApiSourceOptions = {}) {
  const log = memoryLogger();
  const sink = new RecordingSink();
  const full: ApiSourceConfig = { ...base, endpoint: server.url, ...(server.tls ? { tls: { cert: '', key: '', ca: server.caFile } } : {}), ...cfg };
  const src = createApiSource(full, log, { ...fast, ...opts });
  sources.push(src);
  const started = src.start(sink);
  return { log, sink, src, started };
}

beforeAll(async () => {
  fake = await FakeApiServer.start({ bookmarkMs: 200 });
  process.env[TOKEN_ENV] = fake.token;
  fake.load('namespaces', ['default', 'kube-system', 'shop'].map((n) => namespace(n, { team: n === 'shop' ? 'retail' : 'core' })));
  // 1,234 services (three pages of 500) with one slice each.
  const svcs = [];
  const slices = [];
  for (let i = 0; i < 1234; i++) {
    const ns = i % 2 === 0 ? 'default' : 'shop';
    const ip = `10.96.${i >> 8}.${i & 255}`;
    svcs.push(service(ns, `svc-${i}`, ip, { labels: { tier: i % 10 === 1 ? 'edge' : 'back' } }));
    slices.push(endpointSlice(ns, `svc-${i}`, `svc-${i}-abcde`, [{ ip: `10.244.${i >> 8}.${i & 255}`, pod: `svc-${i}-pod`, node: 'node-1' }]));
  }
  fake.load('services', svcs);
  fake.load('endpointslices', slices);
});

afterEach(async () => {
  fake.onListPage = undefined;
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  delete process.env[TOKEN_ENV];
  await fake.close();
});

describe('API source', () => {
  it('lists every kind with paging, then reports synced', async () => {
    const listsBefore = fake.count('services', 'list');
    const { sink, src, started } = start();
    expect(src.hasSynced()).toBe(false);
    await started;
    expect(src.hasSynced()).toBe(true);
    expect(sink.services.size).toBe(1234);
    expect(sink.slices.size).toBe(1234);
    expect(sink.namespaces.size).toBe(3);
    expect(sink.pods.size).toBe(0);
    expect(sink.commits).toBeGreaterThanOrEqual(1);
    expect(fake.count('services', 'list') - listsBefore).toBe(3); // 500 + 500 + 234
    expect(fake.count('pods', 'list')).toBe(0); // pods are not watched unless `pods verified`
    const s = sink.services.get('shop/svc-1')!;
    expect(s).toMatchObject({ type: 'ClusterIP', clusterIPs: ['10.96.0.1'], ports: [{ name: 'http', protocol: 'tcp', port: 80 }] });
    expect(sink.slices.get('shop/svc-1-abcde')!.endpoints[0]).toMatchObject({ addresses: ['10.244.0.1'], podName: 'svc-1-pod', ready: true });
    const pages = fake.requests.filter((r) => r.kind === 'services' && !r.watch);
    expect(pages.every((r) => r.query['limit'] === '500')).toBe(true);
    // as client-go: the first page at resourceVersion 0 (an API server's watch cache), the next
    // pages with their continue token only
    expect(pages.map((r) => r.query['resourceVersion'] ?? '-')).toEqual(['0', '-', '-']);
  });

  it('gets the whole list in one response from an API server with a watch cache', async () => {
    const cached = await FakeApiServer.start({ bookmarkMs: 0, watchCache: true, token: fake.token });
    try {
      cached.load('namespaces', [namespace('default')]);
      cached.load('services', Array.from({ length: 1234 }, (_, i) => service('default', `svc-${i}`, `10.96.${i >> 8}.${i & 255}`)));
      const { sink, started } = start({}, cached);
      await started;
      expect(sink.services.size).toBe(1234);
      expect(cached.count('services', 'list')).toBe(1);
    } finally {
      await Promise.all(sources.splice(0).map((s) => s.stop()));
      await cached.close();
    }
  });

  it('asks for the next page while the current one is still arriving, and puts the first list into the sink as it comes', async () => {
    const from = fake.requests.length;
    const nextPageAsked = (): boolean => fake.requests.slice(from).some((r) => r.kind === 'services' && !r.watch && r.query['continue'] !== undefined);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let continued = 0;
    // Page 1 of the services is only half sent until page 2 is asked for; page 2 is half sent
    // until the test has looked at the sink.
    fake.onListPage = (kind, page) => {
      if (kind !== 'services') return undefined;
      if (!page.continued) return until(nextPageAsked, 10_000, 'page 2 asked for').then(() => undefined);
      return ++continued === 1 ? released : undefined;
    };
    const { sink, src, started } = start();
    try {
      // page 1, and the items of page 2's first half (decoded as they arrive)
      await until(() => sink.services.size > 500, 10_000, "page 1's services in the sink");
      expect(sink.services.size).toBeLessThan(1000);
      expect(src.hasSynced()).toBe(false);
    } finally {
      release();
    }
    await started;
    expect(sink.services.size).toBe(1234);
    expect(sink.replaced.services).toBe(0);
  });

  it('lists again, whole, after a first list cut off mid-way, dropping what it had put in the sink and is gone', async () => {
    let cut = false;
    fake.onListPage = (kind, page) => {
      if (kind !== 'services' || !page.continued || cut) return undefined;
      cut = true;
      fake.delete('services', service('default', 'svc-0', '')); // on page 1, deleted before the list is retried
      return 'cut';
    };
    const { sink, started } = start();
    await started;
    expect(cut).toBe(true);
    expect(sink.services.has('default/svc-0')).toBe(false);
    expect(sink.services.size).toBe(1233);
    expect(sink.replaced.services).toBe(1);
    fake.create('services', service('default', 'svc-0', '10.96.0.0'));
  });

  it('applies ADDED, MODIFIED and DELETED as they come, through the open watches', async () => {
    const { sink, started } = start();
    await started;
    await until(() => fake.openWatches >= 3, HANG, 'watches open');
    // live: every change below arrives through the watches, with no list to catch up (counted,
    // not timed: a loaded machine takes seconds for anything)
    const lists = listsServed(fake);
    fake.create('services', service('default', 'fresh', '10.96.100.1'));
    await until(() => sink.services.has('default/fresh'), HANG, 'ADDED');
    fake.update('services', service('default', 'fresh', '10.96.100.2'));
    await until(() => sink.services.get('default/fresh')?.clusterIPs[0] === '10.96.100.2', HANG, 'MODIFIED');
    fake.create('endpointslices', endpointSlice('default', 'fresh', 'fresh-1', [{ ip: '10.244.100.1' }]));
    await until(() => sink.slices.has('default/fresh-1'), HANG, 'slice ADDED');
    fake.delete('services', service('default', 'fresh', ''));
    fake.delete('endpointslices', endpointSlice('default', 'fresh', 'fresh-1', []));
    await until(() => !sink.services.has('default/fresh') && !sink.slices.has('default/fresh-1'), HANG, 'DELETED');
    fake.create('namespaces', namespace('late'));
    await until(() => sink.namespaces.has('late'), HANG, 'namespace ADDED');
    fake.delete('namespaces', namespace('late'));
    await until(() => !sink.namespaces.has('late'), HANG, 'namespace DELETED');
    expect(listsServed(fake)).toBe(lists);
  });

  it('resumes a dropped watch from the last resourceVersion without listing again', async () => {
    const { sink, started } = start();
    await started;
    await until(() => fake.openWatches >= 3, HANG, 'watches open');
    const lists = fake.count('services', 'list');
    const watches = fake.count('services', 'watch');
    fake.dropWatches();
    // Changes made while no watch is open are replayed on resume.
    fake.create('services', service('shop', 'while-dropped', '10.96.101.1'));
    await until(() => sink.services.has('shop/while-dropped'), HANG, 'replayed event');
    expect(fake.count('services', 'list')).toBe(lists);
    expect(fake.count('services', 'watch')).toBeGreaterThan(watches);
    expect(sink.replaced.services).toBe(0); // the first list went into the sink item by item
    const resumed = fake.requests.filter((r) => r.kind === 'services' && r.watch).at(-1)!;
    expect(Number(resumed.query['resourceVersion'])).toBeGreaterThan(0);
    expect(resumed.query['allowWatchBookmarks']).toBe('true');
    fake.delete('services', service('shop', 'while-dropped', ''));
    await until(() => !sink.services.has('shop/while-dropped'), HANG, 'live event after resume');
    expect(fake.count('services', 'list')).toBe(lists);
  });

  it('lists again after 410 Gone and converges', async () => {
    const { sink, started } = start();
    await started;
    await until(() => fake.openWatches >= 3, HANG, 'watches open');
    const lists = fake.count('services', 'list');
    await fake.refuseConnections(true);
    fake.delete('services', service('default', 'svc-0', ''));
    fake.create('services', service('default', 'after-compaction', '10.96.102.1'));
    fake.compact();
    await fake.refuseConnections(false);
    await until(() => sink.services.has('default/after-compaction') && !sink.services.has('default/svc-0'), HANG, 'converged');
    expect(sink.replaced.services).toBe(1); // the relist replaced the kind at once
    expect(fake.count('services', 'list')).toBeGreaterThan(lists);
    // a consistent list, not the API server's cache: no resourceVersion
    const relist = fake.requests.filter((r) => r.kind === 'services' && !r.watch).slice(lists);
    expect(relist.every((r) => r.query['resourceVersion'] === undefined)).toBe(true);
    // Restore the fixture for the other tests.
    fake.create('services', service('default', 'svc-0', '10.96.0.0'));
    fake.delete('services', service('default', 'after-compaction', ''));
  });

  it('keeps the last state while the API refuses connections, logs the outage once, recovers', async () => {
    // requests that failed to connect (the source's onRequest hook, as for its metrics)
    let refused = 0;
    const { sink, log, started } = start({}, fake, { onRequest: (_verb, code) => void (code === '<error>' && refused++) });
    await started;
    await until(() => fake.openWatches >= 3, HANG, 'watches open');
    const before = sink.services.size;
    await fake.refuseConnections(true);
    // several back-off rounds: three refused requests for each of the three kinds
    await until(() => refused >= 9, HANG, 'three rounds of refused requests');
    expect(sink.services.size).toBe(before);
    expect(sink.slices.size).toBe(1234);
    const errors = log.lines.filter((l) => l.startsWith('[ERROR]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/failed to list\/watch/);
    // back, but failing: a few 500s (still the same outage: no second error) before it serves again
    const served500 = (): number => fake.requests.filter((r) => r.status === 500).length;
    const before500 = served500();
    fake.failWith500(true);
    await fake.refuseConnections(false);
    await until(() => served500() >= before500 + 3, HANG, 'three requests answered 500');
    fake.failWith500(false);
    fake.create('services', service('shop', 'after-outage', '10.96.103.1'));
    await until(() => sink.services.has('shop/after-outage'), HANG, 'recovered');
    await until(() => log.lines.some((l) => /restored/.test(l)), HANG, 'recovery logged');
    expect(log.lines.filter((l) => l.startsWith('[ERROR]'))).toHaveLength(1);
    expect(log.lines.filter((l) => /restored/.test(l))).toHaveLength(1);
    expect(sink.services.size).toBe(before + 1);
    fake.delete('services', service('shop', 'after-outage', ''));
  });

  it('never syncs with a wrong token', async () => {
    process.env[TOKEN_ENV] = 'not-the-token';
    try {
      const unauthorized = (): number => fake.requests.filter((r) => r.status === 401).length;
      const before = unauthorized();
      const { src, log, started } = start();
      let resolved = false;
      void started.then(() => (resolved = true));
      await until(() => log.lines.some((l) => l.startsWith('[ERROR]')), HANG, 'error logged');
      // it keeps trying (two more rounds for each of the three kinds), and is refused every time
      await until(() => unauthorized() >= before + 9, HANG, 'three rounds of 401s');
      expect(resolved).toBe(false);
      expect(src.hasSynced()).toBe(false);
      expect(log.lines.find((l) => l.startsWith('[ERROR]'))).toMatch(/Unauthorized|401/);
      await src.stop();
    } finally {
      process.env[TOKEN_ENV] = fake.token;
    }
  });

  it('RBAC refuses kinds (403): each named once in an error, retried with back-off, syncs once allowed', async () => {
    fake.forbid('services', 'endpointslices', 'namespaces');
    try {
      const { src, log, started } = start();
      const t0 = Date.now();
      const refused = (k: string): number => fake.requests.filter((r) => r.kind === k && r.status === 403).length;
      const errors = (): string[] => log.lines.filter((l) => l.startsWith('[ERROR]'));
      await until(() => errors().length >= 3, HANG, 'an error per refused kind');
      for (const [kind, resource] of [['services', 'services'], ['endpointslices', 'endpointslices.discovery.k8s.io'], ['namespaces', 'namespaces']]) {
        const lines = errors().filter((l) => l.includes(`failed to list/watch ${kind}:`));
        expect(lines, kind).toHaveLength(1);
        expect(lines[0]).toContain(`${resource} is forbidden`);
        expect(lines[0]).toContain(`needs list and watch on ${kind}`);
      }
      // Back-off (50 ms doubling to 400 ms here): 5 attempts take at least 0.8 × (50+100+200+400) ms.
      await until(() => refused('services') >= 5, HANG, '5 refused lists');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
      expect(src.hasSynced()).toBe(false);
      expect(errors()).toHaveLength(3); // not once per retry
      fake.forbid();
      await started;
      expect(src.hasSynced()).toBe(true);
      await until(() => log.lines.some((l) => l.includes('restored')), HANG, 'restored logged');
    } finally {
      fake.forbid();
    }
  });

  it('authenticates with a client certificate (tls CERT KEY CA)', async () => {
    delete process.env[TOKEN_ENV];
    try {
      const { sink, started } = start({ tls: { cert: fake.clientCertFile, key: fake.clientKeyFile, ca: fake.caFile } });
      await started;
      expect(sink.services.size).toBe(1234);
    } finally {
      process.env[TOKEN_ENV] = fake.token;
    }
  });

  it('reads a kubeconfig FILE CONTEXT (client-node KubeConfig) and watches with its credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'typedns-kc-'));
    try {
      const file = join(dir, 'config');
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- {name: fake, cluster: {server: "${fake.url}", certificate-authority: "${fake.caFile}"}}`,
          'users:',
          `- {name: bot, user: {token: "${fake.token}"}}`,
          '- {name: nobody, user: {token: "wrong"}}',
          'contexts:',
          '- {name: good, context: {cluster: fake, user: bot}}',
          '- {name: bad, context: {cluster: fake, user: nobody}}',
          'current-context: bad',
          '',
        ].join('\n'),
      );
      const { sink, started } = start({ kubeconfig: { file, context: 'good' } });
      await started;
      expect(sink.services.size).toBe(1234);
      fake.create('services', service('default', 'from-kubeconfig', '10.96.200.1'));
      await until(() => sink.services.has('default/from-kubeconfig'), HANG, 'watch event');
      fake.delete('services', { metadata: { name: 'from-kubeconfig', namespace: 'default' } });
      const missing = start({ kubeconfig: { file, context: 'nope' } });
      await expect(missing.started).rejects.toThrow(/context "nope" not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies labels, namespace_labels and the namespaces filter; watches pods only when verified', async () => {
    fake.create('pods', pod('shop', 'web-1', '10.244.9.1', 'Running', { tier: 'edge' }));
    fake.create('pods', pod('shop', 'web-2', '10.244.9.3', 'Running', { tier: 'back' })); // not selected
    fake.create('pods', pod('shop', 'done-1', '10.244.9.2', 'Succeeded', { tier: 'edge' })); // phase filtered
    fake.create('pods', pod('default', 'other-ns', '10.244.9.4', 'Running', { tier: 'edge' })); // namespace filtered
    const { sink, started } = start({ labels: 'tier=edge', namespaceLabels: 'team=retail', namespaces: ['shop'], pods: 'verified' });
    await started;
    expect([...sink.services.keys()].every((k) => k.startsWith('shop/'))).toBe(true);
    expect(sink.services.size).toBe(124); // i = 1, 11, …, 1231 (all in shop)
    expect([...sink.slices.keys()]).toEqual([]); // slices carry no tier label
    expect([...sink.namespaces.keys()]).toEqual(['shop']);
    expect([...sink.pods.keys()]).toEqual(['shop/web-1']);
    const podList = fake.requests.find((r) => r.kind === 'pods' && !r.watch)!;
    expect(podList.query['fieldSelector']).toBe('status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown');
    expect(podList.query['labelSelector']).toBe('tier=edge');
  });

  it('watches no EndpointSlices with noendpoints', () => {
    expect(kindsFor({ ...base, noEndpoints: true }).map((k) => k.kind)).toEqual(['services', 'namespaces']);
    expect(kindsFor({ ...base, pods: 'verified' }).map((k) => k.kind)).toEqual(['services', 'endpointslices', 'pods', 'namespaces']);
    expect(kindsFor({ ...base, pods: 'insecure', endpointPodNames: true }).map((k) => k.kind)).toEqual(['services', 'endpointslices', 'namespaces']);
  });

  it('talks plain HTTP to an http:// endpoint', async () => {
    const plain = await FakeApiServer.start({ tls: false, token: fake.token });
    try {
      plain.create('services', service('default', 'kubernetes', '10.96.0.1', { ports: [{ name: 'https', port: 443 }] }));
      const { sink, started } = start({}, plain);
      await started;
      expect([...sink.services.keys()]).toEqual(['default/kubernetes']);
    } finally {
      await Promise.all(sources.splice(0).map((s) => s.stop()));
      await plain.close();
    }
  });
});
