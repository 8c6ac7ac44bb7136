// End to end: the kubernetes plugin behind real DNS sockets, fed by the API source from the fake
// API server (test/support/fake-apiserver.ts). Live updates, 410 Gone, flapping watches, a burst of
// events (with the heap afterwards), the namespaces/labels filters and in-addr.arpa fallthrough.
// The outages (API down for a while, down at start) are in outage.test.ts.
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { FakeApiServer } from '../../test/support/fake-apiserver.js';
import { endpointSlice, namespace, service, type EndpointSpec } from '../../test/support/k8s-objects.js';
import { aState, expectedA, mismatches, until, viaWatch, type AState } from '../../test/support/k8s-dns.js';

const fqdn = (ns: string, name: string): string => `${name}.${ns}.svc.cluster.local.`;

function corefile(fake: FakeApiServer, extra = ''): string {
  return `cluster.local:0 {
  bind 127.0.0.1
  kubernetes {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
${extra}  }
}`;
}

/**
 * How long a live change may take to show before the test gives up: a guard against a hang, not a
 * bound (that a change came live, through the open watch, is viaWatch's check).
 */
const LIVE = 30_000;

/** Wait until `name` answers `want`; returns the milliseconds it took. */
async function becomes(srv: TestServer, name: string, want: AState, ms = 5000): Promise<number> {
  let last: AState = 'NX';
  try {
    return await until(async () => JSON.stringify((last = await aState(srv, name))) === JSON.stringify(want), ms, `${name} → ${JSON.stringify(want)}`);
  } catch (e) {
    throw new Error(`${(e as Error).message} (last answer ${JSON.stringify(last)})`);
  }
}

/** A deterministic PRNG (mulberry32): the random schedules are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A way to collect garbage: --expose-gc's global.gc, else the same function fetched at run time. */
function gcFunction(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

describe('kubernetes API source end to end', () => {
  let fake: FakeApiServer;
  let srv: TestServer;

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 200 });
    fake.load('namespaces', ['live', 'gone', 'flap', 'burst'].map((n) => namespace(n)));
    fake.load('services', [service('gone', 'web', '10.96.9.1'), service('gone', 'hs', 'None')]);
    fake.load('endpointslices', [endpointSlice('gone', 'hs', 'hs-1', [{ ip: '10.244.9.1' }])]);
    srv = await startServer(corefile(fake));
  });

  afterAll(async () => {
    await srv?.close();
    await fake?.close();
  });

  describe('live updates, each through the open watch (no list)', () => {
    it('a Service created resolves; deleted → NXDOMAIN', async () => {
      expect(await aState(srv, fqdn('live', 'web'))).toBe('NX');
      fake.create('services', service('live', 'web', '10.96.1.10'));
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'web'), ['10.96.1.10'], LIVE));
      fake.update('services', service('live', 'web', '10.96.1.11'));
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'web'), ['10.96.1.11'], LIVE));
      fake.delete('services', { metadata: { name: 'web', namespace: 'live' } });
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'web'), 'NX', LIVE));
    });

    it('an endpoint turning ready is answered for the headless name; a second slice merges', async () => {
      fake.create('services', service('live', 'db', 'None'));
      fake.create('endpointslices', endpointSlice('live', 'db', 'db-a', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2', ready: false }]));
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'db'), ['10.244.1.1'], LIVE));
      fake.update('endpointslices', endpointSlice('live', 'db', 'db-a', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2' }]));
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'db'), ['10.244.1.1', '10.244.1.2'], LIVE));
      fake.create('endpointslices', endpointSlice('live', 'db', 'db-b', [{ ip: '10.244.2.1', hostname: 'db-2' }]));
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'db'), ['10.244.1.1', '10.244.1.2', '10.244.2.1'], LIVE));
      expect(await aState(srv, `db-2.${fqdn('live', 'db')}`)).toEqual(['10.244.2.1']);
      // And the first slice going away leaves the second.
      fake.delete('endpointslices', { metadata: { name: 'db-a', namespace: 'live' } });
      await viaWatch(fake, () => becomes(srv, fqdn('live', 'db'), ['10.244.2.1'], LIVE));
    });

    it('a namespace deleted → its names are NXDOMAIN', async () => {
      expect(await aState(srv, fqdn('gone', 'web'))).toEqual(['10.96.9.1']);
      expect(await aState(srv, fqdn('gone', 'hs'))).toEqual(['10.244.9.1']);
      fake.delete('namespaces', { metadata: { name: 'gone' } });
      await viaWatch(fake, () => becomes(srv, fqdn('gone', 'web'), 'NX', LIVE));
      expect(await aState(srv, fqdn('gone', 'hs'))).toBe('NX');
      // Back again (the Services were never deleted): they answer again.
      fake.create('namespaces', namespace('gone'));
      await viaWatch(fake, () => becomes(srv, fqdn('gone', 'web'), ['10.96.9.1'], LIVE));
    });
  });

  it('410 Gone: history compacted under a dropped watch → lists again; answers match the new state', async () => {
    const lists = fake.count('services', 'list');
    // A change the open watches never see (load() writes without history, as after a compaction),
    // then the watches drop: resuming from the old resourceVersion gets 410 and must re-list.
    fake.compact();
    fake.load('services', [service('live', 'silent', '10.96.1.99')]);
    fake.dropWatches();
    await becomes(srv, fqdn('live', 'silent'), ['10.96.1.99']);
    expect(fake.count('services', 'list')).toBeGreaterThan(lists);
    // Everything else is still right after the re-list, and watching resumed.
    expect(await aState(srv, fqdn('gone', 'web'))).toEqual(['10.96.9.1']);
    expect(await aState(srv, fqdn('live', 'db'))).toEqual(['10.244.2.1']);
    fake.create('services', service('live', 'after', '10.96.1.98'));
    await viaWatch(fake, () => becomes(srv, fqdn('live', 'after'), ['10.96.1.98'], LIVE));
  });

  it('flapping watches while changes happen: the final state matches the fake exactly', async () => {
    const rnd = prng(7);
    const names = Array.from({ length: 30 }, (_, i) => `s${i}`);
    const slices = ['hl-a', 'hl-b', 'hl-c'];
    fake.create('services', service('flap', 'hl', 'None'));
    const change = (): void => {
      if (rnd() < 0.7) {
        const n = names[Math.floor(rnd() * names.length)]!;
        const ip = `10.96.2.${1 + Math.floor(rnd() * 250)}`;
        if (fake.get('services', 'flap', n) === undefined) fake.create('services', service('flap', n, ip));
        else if (rnd() < 0.5) fake.update('services', service('flap', n, ip));
        else fake.delete('services', { metadata: { name: n, namespace: 'flap' } });
        return;
      }
      const s = slices[Math.floor(rnd() * slices.length)]!;
      const eps: EndpointSpec[] = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({
        ip: `10.244.3.${1 + Math.floor(rnd() * 250)}`,
        ready: rnd() < 0.7,
      }));
      // Keep the headless Service answerable (NOERROR with addresses) through one always-ready endpoint.
      if (s === 'hl-a') eps.push({ ip: '10.244.3.254' });
      if (fake.get('endpointslices', 'flap', s) === undefined) fake.create('endpointslices', endpointSlice('flap', 'hl', s, eps));
      else if (s === 'hl-a' || rnd() < 0.6) fake.update('endpointslices', endpointSlice('flap', 'hl', s, eps));
      else fake.delete('endpointslices', { metadata: { name: s, namespace: 'flap' } });
    };
    const pause = (): Promise<void> => new Promise((res) => setTimeout(res, rnd() * 6));
    const watches0 = fake.count('services', 'watch');
    const rewatched = (svc: number, eps: number): boolean =>
      fake.count('services', 'watch') > svc && fake.count('endpointslices', 'watch') > eps;
    const ROUNDS = 12;
    let ops = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < 20; i++, ops++) {
        change();
        if (i % 4 === 3) await pause();
      }
      const svc = fake.count('services', 'watch');
      const eps = fake.count('endpointslices', 'watch');
      fake.dropWatches();
      // Changes go on while the streams are down; each drop of a stream that was carrying events is
      // followed by a prompt re-watch (the back-off starts over: it must not climb to its 5 s cap).
      // The namespaces watch sees no events here; like client-go's "very short watch", its
      // back-off may grow, so it is not waited for. A back-off that climbed would wait 4-6 s (its
      // cap, ±20 %) from the 6th drop on; a prompt re-watch takes at most 250 ms ±20 % of it:
      // 4 s is far from both (it was 2 s, within reach of a loaded machine's delays).
      const t = Date.now();
      while (!rewatched(svc, eps)) {
        if (Date.now() - t > 4000) throw new Error(`round ${round}: watches not re-established within 4 s of the drop`);
        change();
        ops++;
        await pause();
      }
    }
    const want = [...names, 'hl'].map((n) => ({ fqdn: fqdn('flap', n), want: expectedA(fake, 'flap', n, slices) }));
    expect(want.some((w) => w.want === 'NX')).toBe(true);
    expect(want.some((w) => w.want !== 'NX')).toBe(true);
    let bad: Awaited<ReturnType<typeof mismatches>> = [];
    await until(async () => (bad = await mismatches(srv, want)).length === 0, 10_000, `final state after ${ops} changes`, 50).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(bad.slice(0, 5))}`);
    });
    expect(fake.count('services', 'watch') - watches0).toBeGreaterThanOrEqual(ROUNDS);
    // And the server keeps following: one more change comes through the watch.
    fake.create('services', service('flap', 'last', '10.96.2.251'));
    await viaWatch(fake, () => becomes(srv, fqdn('flap', 'last'), ['10.96.2.251'], LIVE));
  });

  it('a burst of 5,000 events: consistent within a few seconds; heap after GC stays bounded', async () => {
    const gc = gcFunction();
    const heap = (): number => {
      gc?.();
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    const rnd = prng(42);
    const N = 1000;
    const names = Array.from({ length: N }, (_, i) => `b${i}`);
    const ipOf = (i: number, gen: number): string => `10.${100 + gen}.${i >> 8}.${i & 255}`;
    const before = heap();
    let events = 0;
    // 1,000 creates, 2,500 updates, 1,000 deletes, 500 re-creates, in a shuffled-ish order.
    for (let i = 0; i < N; i++, events++) fake.create('services', service('burst', names[i]!, ipOf(i, 0)));
    for (let k = 0; k < 2500; k++, events++) {
      const i = Math.floor(rnd() * N);
      fake.update('services', service('burst', names[i]!, ipOf(i, 1 + (k % 50))));
    }
    const deleted = new Set<number>();
    while (deleted.size < 1000) {
      const i = Math.floor(rnd() * N);
      if (deleted.has(i)) continue;
      deleted.add(i);
      fake.delete('services', { metadata: { name: names[i]!, namespace: 'burst' } });
      events++;
    }
    for (let i = 0; i < 500; i++, events++) fake.create('services', service('burst', names[i]!, ipOf(i, 99)));
    expect(events).toBe(5000);
    // A marker after the burst: the watch stream is ordered and the store commits every pending
    // change at once, so when the marker answers, every event before it has been applied.
    fake.create('services', service('burst', 'marker', '10.99.0.1'));
    // the fake has sent every event (the watch stream may still be carrying them): from here the
    // catching up is this process's work, measured in its CPU time (a loaded machine stretches
    // the wall clock, not the CPU time)
    const cpu1 = process.cpuUsage();
    const want = names.map((n) => ({ fqdn: fqdn('burst', n), want: expectedA(fake, 'burst', n) }));
    expect(want.filter((w) => w.want !== 'NX').length).toBe(500);
    await becomes(srv, fqdn('burst', 'marker'), ['10.99.0.1'], LIVE);
    const spent = process.cpuUsage(cpu1);
    const took = Math.round((spent.user + spent.system) / 1000);
    // Caught up within a few seconds of CPU time (typically a few hundred ms) …
    expect(took, 'CPU ms to catch up').toBeLessThan(5000);
    // … and then every one of the 1,000 names answers exactly what the fake holds, at once.
    const bad = await mismatches(srv, want, 128);
    expect(bad.length, `${bad.length} wrong, e.g. ${JSON.stringify(bad.slice(0, 3))}`).toBe(0);

    // Heap. The fake API server lives in this process and keeps every event's objects as history:
    // drop it (compact) so what remains is the 500 Services left (fake + store) and nothing else.
    fake.compact();
    const after = heap();
    const grew = (after - before) / 1024 / 1024;
    // The bound: what legitimately remains is 500 Services, each ~1.5 KB as a stored object in the
    // fake plus its slim record and lazily built answers in the store (measured: ~2.8 MB in all).
    // Keeping anything per event would show: 5,000 events at even 2 KB each (a parsed ~1 KB watch
    // event is more) is 10 MB. 8 MB sits between the two. Without a real GC the figure is noisy:
    // then only a gross leak (tens of MB) is caught.
    const bound = gc ? 8 : 48;
    expect(grew, `heap grew ${grew.toFixed(1)} MB over the burst (gc ${gc ? 'on' : 'off'}), took ${took} CPU ms`).toBeLessThan(bound);
  });
});

describe('namespaces and labels filters, fallthrough for in-addr.arpa', () => {
  let fake: FakeApiServer;
  let srv: TestServer;

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 200 });
    fake.load('namespaces', [namespace('keep'), namespace('other')]);
    fake.load('services', [
      service('keep', 'web', '10.96.5.1', { labels: { expose: 'yes' } }),
      service('keep', 'hidden', '10.96.5.2'),
      service('other', 'web', '10.96.5.3', { labels: { expose: 'yes' } }),
      service('keep', 'db', 'None', { labels: { expose: 'yes' } }),
    ]);
    fake.load('endpointslices', [
      endpointSlice('keep', 'db', 'db-1', [{ ip: '10.244.5.1', hostname: 'db-0' }], { labels: { expose: 'yes' } }),
      endpointSlice('keep', 'db', 'db-2', [{ ip: '10.244.5.2' }]), // not labelled: not seen
    ]);
    srv = await startServer(`cluster.local:0 in-addr.arpa:0 {
  bind 127.0.0.1
  kubernetes cluster.local in-addr.arpa {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
    namespaces keep
    labels expose=yes
    fallthrough in-addr.arpa
  }
  whoami
}`);
  });

  afterAll(async () => {
    await srv?.close();
    await fake?.close();
  });

  it('only labelled objects in the listed namespaces answer', async () => {
    expect(await aState(srv, fqdn('keep', 'web'))).toEqual(['10.96.5.1']);
    expect(await aState(srv, fqdn('keep', 'hidden'))).toBe('NX');
    expect(await aState(srv, fqdn('other', 'web'))).toBe('NX');
    expect(await aState(srv, fqdn('keep', 'db'))).toEqual(['10.244.5.1']);
    // The selector went to the API: no list or watch asked for everything.
    const asked = fake.requests.filter((r) => r.kind === 'services' || r.kind === 'endpointslices');
    expect(asked.length).toBeGreaterThan(0);
    for (const r of asked) expect(r.query['labelSelector']).toBe('expose=yes');
  });

  it('labels follow updates: gaining the label adds, losing it removes', async () => {
    fake.update('services', service('keep', 'hidden', '10.96.5.2', { labels: { expose: 'yes' } }));
    await viaWatch(fake, () => becomes(srv, fqdn('keep', 'hidden'), ['10.96.5.2'], LIVE));
    fake.update('services', service('keep', 'web', '10.96.5.1'));
    await viaWatch(fake, () => becomes(srv, fqdn('keep', 'web'), 'NX', LIVE));
    fake.update('endpointslices', endpointSlice('keep', 'db', 'db-2', [{ ip: '10.244.5.2' }], { labels: { expose: 'yes' } }));
    await viaWatch(fake, () => becomes(srv, fqdn('keep', 'db'), ['10.244.5.1', '10.244.5.2'], LIVE));
    // Changes outside the namespaces stay invisible.
    fake.create('services', service('other', 'new', '10.96.5.4', { labels: { expose: 'yes' } }));
    fake.create('services', service('keep', 'marker', '10.96.5.5', { labels: { expose: 'yes' } }));
    await becomes(srv, fqdn('keep', 'marker'), ['10.96.5.5']);
    expect(await aState(srv, fqdn('other', 'new'))).toBe('NX');
  });

  it('reverse names: cluster IPs answer PTR; other addresses fall through to whoami; forward names do not', async () => {
    const ptr = await srv.query('2.5.96.10.in-addr.arpa.', 'PTR');
    expect(ptr.rcode).toBe(0);
    expect(ptr.msg.answers?.map((a) => (a.type === 'PTR' ? `PTR ${a.data}` : a.type))).toEqual(['PTR hidden.keep.svc.cluster.local']);
    // An address the cluster does not hold: whoami (next in the chain) answers with the client's address.
    const other = await srv.query('9.9.9.9.in-addr.arpa.', 'PTR');
    expect(other.rcode).toBe(0);
    expect(other.msg.answers ?? []).toEqual([]);
    expect(other.msg.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.1')).toBe(true);
    // The address of a Service outside the namespaces is not the cluster's either.
    const outside = await srv.query('3.5.96.10.in-addr.arpa.', 'PTR');
    expect(outside.msg.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.1')).toBe(true);
    // No fallthrough for cluster.local: NXDOMAIN with the zone's SOA, not whoami.
    const nx = await srv.query(fqdn('keep', 'nothing'), 'A');
    expect(nx.rcode).toBe(3);
    expect(nx.msg.authorities?.[0]?.type).toBe('SOA');
    expect(nx.msg.additionals ?? []).toEqual([]);
  });
});

describe('kubernetes API source: the first answers after a large first sync', () => {
  it('answers PTR and A exactly from the first moment it listens (the reverse index is built after the sync)', async () => {
    const fake = await FakeApiServer.start({});
    let srv: TestServer | undefined;
    try {
      // 3,000 Services with one endpoint each: the background index pass takes several turns.
      const N = 3000;
      const ip = (i: number): string => `10.${120 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      const cip = (i: number): string => `10.96.${i >> 8}.${i & 255}`;
      fake.load('namespaces', [namespace('big')]);
      fake.load('services', Array.from({ length: N }, (_, i) => service('big', `s${i}`, cip(i))));
      fake.load('endpointslices', Array.from({ length: N }, (_, i) => endpointSlice('big', `s${i}`, `s${i}-1`, [{ ip: ip(i) }])));
      srv = await startServer(`cluster.local:0 in-addr.arpa:0 {
  bind 127.0.0.1
  kubernetes cluster.local in-addr.arpa {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
  }
}`);
      // The server listens once synced: ask at once, the last Services listed first.
      const rev = (a: string): string => `${a.split('.').reverse().join('.')}.in-addr.arpa.`;
      const ptr = async (a: string): Promise<string[]> => {
        const r = await srv!.query(rev(a), 'PTR', { timeout: 8000 });
        expect(r.rcode, `PTR ${a}`).toBe(0);
        return (r.msg.answers ?? []).map((x) => (x.type === 'PTR' ? String(x.data) : x.type));
      };
      const [p1, p2, p3] = await Promise.all([ptr(ip(N - 1)), ptr(cip(N - 1)), ptr(ip(7))]);
      expect(p1).toEqual([`${ip(N - 1).replace(/\./g, '-')}.s${N - 1}.big.svc.cluster.local`]);
      expect(p2).toEqual([`s${N - 1}.big.svc.cluster.local`]);
      expect(p3).toEqual([`${ip(7).replace(/\./g, '-')}.s7.big.svc.cluster.local`]);
      expect(await aState(srv, fqdn('big', 's2999'))).toEqual([cip(2999)]);
      const nx = await srv.query(rev('10.96.250.250'), 'PTR', { timeout: 8000 });
      expect(nx.rcode).toBe(3);
    } finally {
      await srv?.close();
      await fake.close();
    }
  }, 60_000);
});
