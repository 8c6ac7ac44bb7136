// What a follower keeps of the leader's changes (-workers N, shared.ts): the objects come out of
// v8.deserialize (src/server/share.ts) with a copy of every string and list; the follower gives
// them the shared port lists the leader's own objects have, so its copy of the cluster is no
// larger than the leader's. The whole path through real workers: test/integration/workers-kubernetes.test.ts.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/plugin/api.js';
import type { ShareHandlers, ShareMember } from '../../src/server/share.js';
import { nativeShm, type NativeShm } from '../../src/server/udp-native.js';
import { waitFor } from '../../src/testing/index.js';
import { ClusterStore } from './store.js';
import { SharedApiSource, shareDecoded } from './shared.js';
import { convertService, convertSlice } from './watch/convert.js';
import { endpointSlice, service } from '../../test/support/k8s-objects.js';
import type { ObjectSource, SlimEndpointSlice, SlimService } from './watch/objects.js';

const roundTrip = <T>(x: T): T => v8.deserialize(v8.serialize(x)) as T;

describe('a follower of the shared API source', () => {
  it('keeps one port list for Services (and their slices) that have the same ports, as the leader does', () => {
    const leader = new ClusterStore();
    for (let i = 0; i < 3; i++) {
      leader.upsertService(convertService(service('ns', `s${i}`, `10.96.0.${i + 1}`, { ports: [{ name: 'http', port: 80 }] }))!);
      leader.upsertSlice(leader.prepare('endpointslices', convertSlice(endpointSlice('ns', `s${i}`, `s${i}-a`, [{ ip: `10.1.0.${i + 1}` }], { ports: [{ name: 'http', port: 8080 }] }))!) as SlimEndpointSlice);
    }
    leader.commit();
    const lp = [0, 1, 2].map((i) => leader.service(`s${i}`, 'ns')!.svc!.ports);
    expect(lp[1]).toBe(lp[0]); // convert.ts shares them in the leader
    expect(lp[2]).toBe(lp[0]);

    const snap = roundTrip(leader.snapshot());
    const follower = new ClusterStore();
    follower.replaceAll('services', snap.services.map((s) => shareDecoded<SlimService>('services', s)));
    follower.replaceAll('endpointslices', snap.endpointslices.map((s) => shareDecoded<SlimEndpointSlice>('endpointslices', s)));
    follower.commit();
    const fp = [0, 1, 2].map((i) => follower.service(`s${i}`, 'ns')!.svc!.ports);
    expect(fp[1]).toBe(fp[0]);
    expect(fp[2]).toBe(fp[0]);
    expect(fp[0]).toEqual([{ name: 'http', protocol: 'tcp', port: 80 }]);
    const eps = [0, 1, 2].map((i) => follower.service(`s${i}`, 'ns')!.eps);
    expect(eps.map((e) => e.map((x) => x.ip))).toEqual([['10.1.0.1'], ['10.1.0.2'], ['10.1.0.3']]);
    expect(eps[1]![0]!.ports).toBe(eps[0]![0]!.ports);
    expect(eps[0]![0]!.ports).toEqual([{ name: 'http', protocol: 'tcp', port: 8080 }]);

    // a change in a later message (v8.serialize keeps shared objects shared within one message only) shares them too
    const later = shareDecoded<SlimService>('services', roundTrip(convertService(service('ns', 's3', '10.96.0.4', { ports: [{ name: 'http', port: 80 }] }))!));
    expect(later.ports).toBe(fp[0]);
  });
});

// The leader's copy in shared memory (-workers N with the native module): SharedApiSource driven
// through the handlers src/server/share.ts would call (lead / follow / ops / snapshot), with
// segments in plain ArrayBuffers opened by path, and API sources whose first lists the test
// finishes when it wants. (The path through real workers: test/integration/workers-kubernetes-shared.test.ts.)
describe('a worker of the shared API source, with the copy in shared memory', () => {
  const svc = (name: string, ip: string): SlimService => ({ namespace: 'ns', name, type: 'ClusterIP', clusterIPs: [ip], headless: false, externalName: '', ports: [], publishNotReadyAddresses: false, labels: {} });

  /** Segments by /proc path; `openFails` makes the next opens throw. */
  class FakeShm implements NativeShm {
    readonly files = new Map<string, ArrayBuffer>();
    private nextFd = 10;
    createFails = false;
    openFails = 0;
    create(size: number): [number, ArrayBuffer] {
      if (this.createFails) throw new Error('memfd_create: EMFILE');
      const fd = this.nextFd++;
      const ab = new ArrayBuffer(size);
      this.files.set(`/proc/${process.pid}/fd/${fd}`, ab);
      return [fd, ab];
    }
    open(path: string): ArrayBuffer {
      if (this.openFails > 0) {
        this.openFails--;
        throw new Error('open: EACCES');
      }
      const ab = this.files.get(path);
      if (ab === undefined) throw new Error(`open ${path}: ENOENT`);
      return ab;
    }
    close(fd: number): void {
      this.files.delete(`/proc/${process.pid}/fd/${fd}`);
    }
  }

  /** One worker's instance: its store, source, the handlers share.ts calls, what it published, what it logged. */
  function worker(shm: NativeShm | undefined, lists: () => { services: SlimService[] }) {
    const store = new ClusterStore();
    const published: unknown[][] = [];
    const logged: string[] = [];
    let handlers: ShareHandlers | undefined;
    let finish: (() => void) | undefined;
    const api = (): ObjectSource => ({
      start: (sink) =>
        new Promise<void>((resolve) => {
          finish = () => {
            sink.replaceAll('namespaces', [{ name: 'ns', labels: {} }]);
            sink.replaceAll('services', lists().services);
            sink.replaceAll('endpointslices', []);
            sink.replaceAll('pods', []);
            sink.commit();
            resolve();
          };
        }),
      hasSynced: () => true,
      stop: async () => {},
    });
    const log = { debug: () => {}, info: (m: string) => logged.push(`info ${m}`), warn: (m: string) => logged.push(`warn ${m}`), error: (m: string) => logged.push(`error ${m}`) } as unknown as Logger;
    const src = new SharedApiSource('k', api, log, store, {
      shm,
      join: (_key, h) => {
        handlers = h;
        return { publish: (ops) => published.push(ops), leave: () => {} } as ShareMember;
      },
    });
    let synced = false;
    // (as the plugin does: its store is synced once the source's start resolves)
    void src.start(store).then(() => {
      synced = true;
      store.synced = true;
      store.commit();
    });
    return {
      store,
      src,
      published,
      logged,
      h: handlers!,
      /** The API source's first lists are in (as leader). */
      finishLists: () => finish!(),
      started: () => synced,
    };
  }

  /** Everything `w` published so far, in one batch (published once per turn of the event loop). */
  async function drain(w: ReturnType<typeof worker>): Promise<unknown[]> {
    await new Promise((r) => setImmediate(r));
    return w.published.splice(0).flat();
  }

  /** A leader whose lists are in: its announcement ['M', …] and 'Y'. */
  async function leader(shm: FakeShm, services: SlimService[]): Promise<{ w: ReturnType<typeof worker>; ops: unknown[] }> {
    const w = worker(shm, () => ({ services }));
    w.h.lead();
    w.finishLists();
    await waitFor(async () => (w.started() ? true : undefined), { timeout: 5000, interval: 1, what: 'the leader synced' });
    return { w, ops: await drain(w) };
  }

  it("announces a segment with its id; a follower maps it, and refuses a descriptor that is no longer that segment", async () => {
    const shm = new FakeShm();
    const { w: a, ops } = await leader(shm, [svc('old', '10.0.0.1')]);
    expect(ops).toHaveLength(2);
    const [m, y] = ops as [[string, number, number, number], [string]];
    expect(m[0]).toBe('M');
    expect(m[3]).toBeGreaterThan(0);
    expect(y).toEqual(['Y']);
    const b = worker(shm, () => ({ services: [] }));
    b.h.follow();
    b.h.ops([m, y]);
    await waitFor(async () => (b.started() ? true : undefined), { timeout: 5000, interval: 1, what: 'the follower synced' });
    expect(b.src.view.service('old', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.1']);
    // the same descriptor, now another segment (closed by the leader, its number reused)
    const c = worker(shm, () => ({ services: [] }));
    c.h.follow();
    c.h.ops([['M', m[1], m[2], (m[3] + 1) >>> 0], ['Y']]);
    expect(c.src.view.synced).toBe(false);
    expect(c.logged.join('\n')).toMatch(/^warn could not map the leader's copy of the cluster \(.*no longer the segment announced\)/);
    await Promise.resolve();
    expect(c.started()).toBe(false);
    for (const w of [a, b, c]) await w.src.stop();
  });

  it('a worker that joins while another takes over waits for the new leader (no NXDOMAIN from its empty store)', async () => {
    const shm = new FakeShm();
    const { w: a, ops } = await leader(shm, [svc('old', '10.0.0.1')]);
    const c = worker(shm, () => ({ services: [svc('old', '10.0.0.1'), svc('new', '10.0.0.2')] }));
    c.h.follow();
    c.h.ops(ops);
    await waitFor(async () => (c.started() ? true : undefined), { timeout: 5000, interval: 1, what: 'c synced' });
    // a leaves; c takes over: until its lists are in, it reads a's segment
    await a.src.stop();
    c.h.lead();
    expect(c.src.view.service('old', 'ns')?.name).toBe('old');
    // d joins now: what c gives it must not say "synced" over an empty store
    const d = worker(shm, () => ({ services: [] }));
    d.h.follow();
    d.h.ops(c.h.snapshot());
    await new Promise((r) => setImmediate(r));
    expect(d.started()).toBe(false);
    expect(d.src.view.synced).toBe(false); // SERVFAIL, not NXDOMAIN
    // c's lists are in: it announces its segment, then 'Y'; d follows it
    c.finishLists();
    const announced = await waitFor(async () => {
      const o = await drain(c);
      return o.length > 0 ? o : undefined;
    }, { timeout: 5000, interval: 1, what: "c's announcement" });
    expect((announced as unknown[][]).map((o) => o[0])).toEqual(['M', 'Y']);
    d.h.ops(announced);
    await waitFor(async () => (d.started() ? true : undefined), { timeout: 5000, interval: 1, what: 'd synced' });
    expect(d.src.view.synced).toBe(true);
    expect(d.src.view.service('new', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.2']);
    for (const w of [c, d]) await w.src.stop();
  });

  it('taking over without shared memory, the new leader answers from its own lists, not the old leader\'s segment; so do its followers', async () => {
    const shm = new FakeShm();
    const { w: a, ops } = await leader(shm, [svc('old', '10.0.0.1')]);
    const c = worker(shm, () => ({ services: [svc('new', '10.0.0.2')] }));
    const e = worker(shm, () => ({ services: [] }));
    for (const w of [c, e]) {
      w.h.follow();
      w.h.ops(ops);
    }
    await waitFor(async () => (c.started() && e.started() ? true : undefined), { timeout: 5000, interval: 1, what: 'c and e synced' });
    expect(e.src.view.service('old', 'ns')?.name).toBe('old');
    await a.src.stop();
    shm.createFails = true;
    c.h.lead();
    expect(c.logged.join('\n')).toMatch(/warn no shared memory for the cluster \(memfd_create: EMFILE\)/);
    c.finishLists();
    // its changes go out as they are (no segment), then 'Y'
    const changes = await waitFor(async () => {
      const o = await drain(c);
      return o.length > 0 ? o : undefined;
    }, { timeout: 5000, interval: 1, what: "c's changes" });
    expect((changes as unknown[][]).map((o) => o[0])).toEqual(['R', 'R', 'R', 'R', 'Y']);
    expect(c.src.view.service('new', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.2']);
    expect(c.src.view.service('old', 'ns')).toBeUndefined();
    // e, told there is no segment, answers from its store, which those changes rebuilt
    e.h.ops(changes);
    expect(e.src.view.service('new', 'ns')?.svc?.clusterIPs).toEqual(['10.0.0.2']);
    expect(e.src.view.service('old', 'ns')).toBeUndefined();
    for (const w of [c, e]) await w.src.stop();
  });

  it("a follower whose leader died in the middle of an update answers as not synced, and says so once", async () => {
    const shm = new FakeShm();
    const { w: a, ops } = await leader(shm, [svc('old', '10.0.0.1')]);
    const f = worker(shm, () => ({ services: [] }));
    f.h.follow();
    f.h.ops(ops);
    await waitFor(async () => (f.started() ? true : undefined), { timeout: 5000, interval: 1, what: 'the follower synced' });
    expect(f.src.view.service('old', 'ns')?.name).toBe('old');
    const [, pid, fd] = ops[0] as [string, number, number];
    const h = new Uint32Array(shm.files.get(`/proc/${pid}/fd/${fd}`)!, 0, 24);
    h[1] = h[1]! | 1; // (its process, this one, lives on: waited for 250 ms, then taken as stuck)
    for (let i = 0; i < 3; i++) {
      expect(f.src.view.synced).toBe(false);
      expect(f.src.view.service('old', 'ns')).toBeUndefined();
    }
    expect(f.logged.filter((l) => l.startsWith('warn '))).toEqual(["warn the leader's copy of the cluster stays half updated (its worker died in an update?): answering SERVFAIL until a new copy is announced"]);
    for (const w of [a, f]) await w.src.stop();
  });

  it('a follower that cannot map the segment announced is not synced (SERVFAIL), says so, and maps it when it can', async () => {
    const shm = new FakeShm();
    const { w: a, ops } = await leader(shm, [svc('old', '10.0.0.1')]);
    const f = worker(shm, () => ({ services: [] }));
    f.h.follow();
    shm.openFails = 1;
    f.h.ops(ops);
    await new Promise((r) => setImmediate(r));
    expect(f.started()).toBe(false);
    expect(f.src.view.synced).toBe(false);
    expect(f.logged).toEqual(["warn could not map the leader's copy of the cluster (open: EACCES): answering SERVFAIL until it can be (trying again)"]);
    // tried again a second later: mapped, synced
    await waitFor(async () => (f.started() ? true : undefined), { timeout: 10_000, interval: 10, what: 'the follower mapping the segment on a later try' });
    expect(f.src.view.service('old', 'ns')?.name).toBe('old');
    expect(f.logged[1]).toBe("info the leader's copy of the cluster is mapped: answering from it again");
    // a follower already synced whose newest segment cannot be mapped stops answering from the old one (no longer written)
    shm.openFails = 100;
    a.store.upsertService(svc('old', '10.0.0.9'));
    for (let i = 0; i < 3000; i++) a.store.upsertService(svc(`y${i}`, `10.1.${i >> 8}.${i & 255}`)); // (a full write: a new segment)
    a.store.commit();
    // (written a slice at a time: announced when whole)
    const more: unknown[] = [];
    await waitFor(async () => (more.push(...(await drain(a))), more.some((o) => (o as unknown[])[0] === 'M') ? true : undefined), { timeout: 10_000, interval: 1, what: 'the new segment announced' });
    f.h.ops(more);
    expect(f.src.view.synced).toBe(false);
    expect(f.src.view.service('old', 'ns')).toBeUndefined();
    for (const w of [a, f]) await w.src.stop();
  });
});

describe.skipIf(nativeShm() === undefined)('shared memory segments and V8 (the native module)', () => {
  /** --expose-gc's global.gc, else the same function fetched at run time. */
  const gc = (): void => {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') return g();
    v8.setFlagsFromString('--expose-gc');
    (vm.runInNewContext('gc') as () => void)();
  };
  const external = (): number => process.memoryUsage().external;

  it('a segment counts once in V8\'s external memory while mapped (its whole size, created or opened), and leaves it when unmapped', async () => {
    const shm = nativeShm()!;
    const size = 32 << 20;
    const MB = 1 << 20;
    const t0 = external();
    let [fd, created]: [number, ArrayBuffer | undefined] = shm.create(size);
    const t1 = external();
    let opened: ArrayBuffer | undefined = shm.open(`/proc/${process.pid}/fd/${fd}`);
    const t2 = external();
    shm.close(fd);
    expect(created.byteLength + opened.byteLength).toBe(2 * size);
    // (V8 counts an external ArrayBuffer's length itself: the native module adds nothing to it)
    expect(t1 - t0).toBeGreaterThanOrEqual(size);
    expect(t1 - t0).toBeLessThan(size + MB);
    expect(t2 - t1).toBeGreaterThanOrEqual(size);
    expect(t2 - t1).toBeLessThan(size + MB);
    created = opened = undefined;
    const mapped = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('memfd:typedns-cluster')).length;
    await waitFor(
      async () => {
        gc();
        await new Promise((r) => setImmediate(r));
        return external() < t0 + MB && mapped() === 0 ? true : undefined;
      },
      { timeout: 10_000, interval: 20, what: `the segments unmapped and out of the external memory (${external() - t0} bytes over, ${mapped()} mapped)` },
    );
  });
});
