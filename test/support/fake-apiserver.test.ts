// The fake API server speaks the list/watch protocol: checked here with plain node:https requests,
// independent of any Kubernetes client.
import https from 'node:https';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer, parseSelector, type KubeObject } from './fake-apiserver.js';

interface Got {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function svc(ns: string, name: string, labels: Record<string, string> = {}, ip = '10.0.0.1'): KubeObject {
  return { metadata: { name, namespace: ns, labels }, spec: { type: 'ClusterIP', clusterIP: ip, ports: [] } };
}

function request(fake: FakeApiServer, path: string, opts: { token?: string | null; cert?: boolean } = {}): http.ClientRequest {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? fake.token : opts.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const o: https.RequestOptions = { headers, agent: false };
  if (fake.tls) {
    o.ca = fake.caPem;
    if (opts.cert) {
      o.cert = readFileSync(fake.clientCertFile);
      o.key = readFileSync(fake.clientKeyFile);
    }
  }
  return (fake.tls ? https : http).get(fake.url + path, o);
}

function get(fake: FakeApiServer, path: string, opts: { token?: string | null; cert?: boolean } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(fake, path, opts);
    req.on('error', reject);
    req.on('response', (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (s += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: s.length ? JSON.parse(s) : undefined }));
    });
  });
}

/** Open a watch and collect its events; `done` resolves when the stream ends. */
function watch(fake: FakeApiServer, path: string) {
  const events: { type: string; object: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  const req = request(fake, path);
  const done = new Promise<number>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
  });
  return { events, done, close: () => req.destroy() };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('selectors', () => {
  it('parses equality, inequality, set and existence requirements', () => {
    expect(parseSelector('a=b,c!=d, e in (x, y),f notin (z),g,!h')).toEqual([
      { op: '=', key: 'a', value: 'b' },
      { op: '!=', key: 'c', value: 'd' },
      { op: 'in', key: 'e', values: ['x', 'y'] },
      { op: 'notin', key: 'f', values: ['z'] },
      { op: 'exists', key: 'g' },
      { op: '!exists', key: 'h' },
    ]);
    expect(parseSelector('')).toEqual([]);
  });
});

describe('fake API server over HTTPS', () => {
  let fake: FakeApiServer;
  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 0 });
  });
  afterAll(async () => {
    await fake.close();
  });

  it('authenticates by bearer token or client certificate', async () => {
    expect((await get(fake, '/api/v1/services', { token: null })).status).toBe(401);
    const bad = await get(fake, '/api/v1/services', { token: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    expect((await get(fake, '/api/v1/services')).status).toBe(200);
    expect((await get(fake, '/api/v1/services', { token: null, cert: true })).status).toBe(200);
    expect((await get(fake, '/api/v1/nodes')).status).toBe(404);
  });

  it('pages lists with limit and continue at one resourceVersion', async () => {
    for (let i = 0; i < 1203; i++) fake.create('services', svc(`ns${i % 3}`, `s${String(i).padStart(4, '0')}`));
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    let rv: string | undefined;
    do {
      const r = await get(fake, `/api/v1/services?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.kind).toBe('ServiceList');
      rv ??= r.body.metadata.resourceVersion;
      expect(r.body.metadata.resourceVersion).toBe(rv);
      if (pages === 0) expect(r.body.metadata.remainingItemCount).toBe(703);
      for (const it of r.body.items) {
        expect(it.metadata.resourceVersion).toMatch(/^\d+$/);
        names.push(`${it.metadata.namespace}/${it.metadata.name}`);
      }
      cont = r.body.metadata.continue ?? '';
      pages++;
    } while (cont);
    expect(pages).toBe(3);
    expect(new Set(names).size).toBe(1203);
    // Namespaced path.
    const one = await get(fake, '/api/v1/namespaces/ns1/services');
    expect(one.body.items).toHaveLength(401);
    expect(one.body.items.every((s: KubeObject) => s.metadata.namespace === 'ns1')).toBe(true);
  });

  it('filters by label and field selectors', async () => {
    fake.create('services', svc('sel', 'a', { app: 'web', tier: 'front' }));
    fake.create('services', svc('sel', 'b', { app: 'db' }));
    fake.create('services', svc('sel', 'c', { app: 'cache' }));
    const q = async (s: string): Promise<string[]> =>
      ((await get(fake, `/api/v1/namespaces/sel/services?${s}`)).body.items as KubeObject[]).map((o) => o.metadata.name);
    expect(await q('labelSelector=app%3Dweb')).toEqual(['a']);
    expect(await q('labelSelector=app!%3Dweb')).toEqual(['b', 'c']);
    expect(await q(`labelSelector=${encodeURIComponent('app in (db,cache)')}`)).toEqual(['b', 'c']);
    expect(await q('labelSelector=tier')).toEqual(['a']);
    expect(await q('fieldSelector=metadata.name%3Db')).toEqual(['b']);
    expect(await q('fieldSelector=metadata.name!%3Db')).toEqual(['a', 'c']);
  });

  it('watches from a resourceVersion: replay, live events, selector transitions, bookmarks', async () => {
    const start = fake.resourceVersion;
    fake.create('services', svc('w', 'x', { app: 'on' }));
    const w = watch(fake, `/api/v1/namespaces/w/services?watch=true&resourceVersion=${start}&labelSelector=app%3Don&allowWatchBookmarks=true`);
    await until(() => w.events.length === 1);
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'Service', apiVersion: 'v1', metadata: { name: 'x' } } });
    fake.update('services', svc('w', 'x', { app: 'on' }, '10.0.0.2'));
    fake.update('services', svc('w', 'x', { app: 'off' })); // leaves the selection: DELETED
    fake.create('services', svc('w', 'y', { app: 'off' })); // never selected: nothing
    fake.update('services', svc('w', 'y', { app: 'on' })); // enters the selection: ADDED
    fake.delete('services', svc('w', 'y'));
    fake.create('services', svc('other', 'z', { app: 'on' })); // other namespace: nothing
    await until(() => w.events.length === 5);
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED x', 'MODIFIED x', 'DELETED x', 'ADDED y', 'DELETED y']);
    expect(w.events[1]!.object.spec.clusterIP).toBe('10.0.0.2');
    fake.bookmark();
    await until(() => w.events.length === 6);
    expect(w.events[5]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { resourceVersion: fake.resourceVersion } } });
    fake.endWatches();
    expect(await w.done).toBe(200);
  });

  it('answers 410 after compaction, for watches and for list continuations', async () => {
    const page = await get(fake, '/api/v1/services?limit=10');
    const old = page.body.metadata.resourceVersion as string;
    fake.compact();
    const w = watch(fake, `/api/v1/services?watch=true&resourceVersion=${old}`);
    expect(await w.done).toBe(200);
    expect(w.events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
    const cont = await get(fake, `/api/v1/services?limit=10&continue=${encodeURIComponent(page.body.metadata.continue)}`);
    expect(cont.status).toBe(410);
    // From the current resourceVersion the watch works.
    const w2 = watch(fake, `/api/v1/services?watch=true&resourceVersion=${fake.resourceVersion}`);
    await until(() => fake.openWatches === 1);
    fake.create('services', svc('after', 'compaction'));
    await until(() => w2.events.length === 1);
    expect(w2.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'compaction' } } });
    fake.dropWatches();
    await w2.done.catch(() => 0);
    await until(() => fake.openWatches === 0);
  });

  it('serves 500s and refuses connections on demand', async () => {
    fake.failWith500(true);
    expect((await get(fake, '/api/v1/namespaces')).status).toBe(500);
    fake.failWith500(false);
    expect((await get(fake, '/api/v1/namespaces')).status).toBe(200);
    const before = (await get(fake, '/api/v1/services')).body.metadata.resourceVersion as string;
    await fake.refuseConnections(true);
    await expect(get(fake, '/api/v1/namespaces')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await fake.refuseConnections(false);
    expect((await get(fake, '/api/v1/namespaces')).status).toBe(200);
    // Back as a restarted API server (a new watch cache): a watch from before gets 410, as from a real one.
    const w = watch(fake, `/api/v1/services?watch=true&resourceVersion=${before}`);
    expect(await w.done).toBe(200);
    expect(w.events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ code: 410, reason: 'Expired' }) }]);
  });

  it("refuses forbidden kinds with RBAC's 403 Status; labels namespaces with their name", async () => {
    fake.forbid('endpointslices', 'services');
    try {
      const list = await get(fake, '/apis/discovery.k8s.io/v1/endpointslices?limit=500');
      expect(list.status).toBe(403);
      expect(list.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, details: { group: 'discovery.k8s.io', kind: 'endpointslices' } });
      expect(list.body.message).toBe(
        'endpointslices.discovery.k8s.io is forbidden: User "typedns-test" cannot list resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope',
      );
      const w = await get(fake, '/api/v1/namespaces/shop/services?watch=true');
      expect(w.status).toBe(403);
      expect(w.body.message).toBe('services is forbidden: User "typedns-test" cannot watch resource "services" in API group "" in the namespace "shop"');
      expect(w.body.details).toEqual({ kind: 'services' });
      expect((await get(fake, '/api/v1/namespaces')).status).toBe(200);
    } finally {
      fake.forbid();
    }
    expect((await get(fake, '/api/v1/services')).status).toBe(200);
    const ns = fake.create('namespaces', { metadata: { name: 'labelled', labels: { team: 'a' } } });
    expect(ns.metadata.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'labelled' });
    expect(ns.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(ns.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    fake.delete('namespaces', ns);
  });
});

describe('fake API server over plain HTTP', () => {
  it('serves the same API without TLS', async () => {
    const fake = await FakeApiServer.start({ tls: false });
    try {
      expect(fake.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      fake.create('namespaces', { metadata: { name: 'kube-system', labels: { a: 'b' } } });
      const r = await get(fake, '/api/v1/namespaces');
      expect(r.status).toBe(200);
      expect(r.body.items.map((n: KubeObject) => n.metadata.name)).toEqual(['kube-system']);
      expect(r.body.items[0].metadata.labels).toEqual({ a: 'b', 'kubernetes.io/metadata.name': 'kube-system' });
      expect(r.body.items[0].metadata.namespace).toBeUndefined();
      expect((await get(fake, '/api/v1/namespaces', { token: null })).status).toBe(401);
    } finally {
      await fake.close();
    }
  });
});
