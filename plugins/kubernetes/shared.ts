// -workers N with an API source: one list/watch set for the whole process tree, not one per
// worker (src/server/share.ts). One worker's instance leads: it runs the API source into its
// store, and keeps a copy of the store as bytes (bytes.ts) in shared memory (a memfd of the
// native module, native/udp.c) that it rewrites after each commit; the other workers follow:
// they are told the segment (['M', leader pid, fd]) and map it read-only from
// /proc/<pid>/fd/<fd>, and answer from it (ByteClusterView: records decoded on demand, a bounded
// cache): one copy of the cluster for the process tree, and no store in a follower. A full write
// (compaction, growth) makes a new segment, announced the same way. When the leader leaves (its
// worker died, or a reload), a follower takes over and lists again into its own store; the
// others go on reading the old segment (mapped, it outlives its writer) until the new leader's
// first lists are in and it announces its own.
// Without the native module (TYPEDNS_NATIVE_UDP=0, no compiler), the leader publishes every
// change instead (a tee), and each follower applies them to its own store, as before.
// A follower's objects come out of v8.deserialize with a new string for every value and new port
// lists for every message: they are given the shared strings and port lists the leader's own
// objects have (watch/convert.ts) before the store keeps them, or each follower's copy would be
// ~3 MB larger than the leader's at 10,000 Services.
import type { Logger } from '../../src/plugin/api.js';
import { joinShare, type ShareMember } from '../../src/server/share.js';
import type { ClusterStore } from './store.js';
import { nativeShm, type NativeShm } from '../../src/server/udp-native.js';
import { ByteClusterView, ClusterBytesWriter } from './bytes.js';
import type { ClusterView, Endpoint, ServiceRecord } from './view.js';
import { intern, internLabels, internPorts } from './watch/convert.js';
import type { Kind, ObjectSink, ObjectSource, SlimEndpointSlice, SlimNamespace, SlimPod, SlimPort, SlimService } from './watch/objects.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A Service as decoded from the leader's message, with the strings and port lists a leader shares. */
function sharedService(s: SlimService): SlimService {
  const m = s as Mutable<SlimService>;
  m.namespace = intern(s.namespace);
  m.name = intern(s.name);
  m.type = intern(s.type);
  m.ports = internPorts(s.ports);
  m.labels = internLabels(s.labels);
  return s;
}

/** The same for an EndpointSlice (the snapshot sends the store's packed form: its ports too). */
function sharedSlice(s: SlimEndpointSlice): SlimEndpointSlice {
  const m = s as Mutable<SlimEndpointSlice>;
  m.namespace = intern(s.namespace);
  m.service = intern(s.service);
  m.addressType = intern(s.addressType);
  m.ports = internPorts(s.ports);
  m.labels = internLabels(s.labels);
  const packed = (s as { packed?: { ports: readonly SlimPort[] } }).packed;
  if (packed !== undefined) packed.ports = internPorts(packed.ports);
  return s;
}

function sharedPod(p: SlimPod): SlimPod {
  (p as Mutable<SlimPod>).namespace = intern(p.namespace);
  return p;
}

function sharedNamespace(n: SlimNamespace): SlimNamespace {
  const m = n as Mutable<SlimNamespace>;
  m.name = intern(n.name);
  m.labels = internLabels(n.labels);
  return n;
}

const SHARED: Record<Kind, (x: never) => unknown> = { services: sharedService, endpointslices: sharedSlice, pods: sharedPod, namespaces: sharedNamespace };

/** An object of `kind` decoded from the leader's message, given the strings and port lists the leader's objects share (in place). */
export function shareDecoded<T>(kind: Kind, x: T): T {
  return (SHARED[kind] as (x: T) => T)(x);
}

/** One change, as published: [op, ...args]. */
type Op =
  | ['S', SlimService]
  | ['s', string, string]
  | ['E', SlimEndpointSlice]
  | ['e', string, string]
  | ['P', SlimPod]
  | ['p', string, string]
  | ['N', SlimNamespace]
  | ['n', string]
  | ['R', Kind, unknown[]]
  /** The leader's source has synced. */
  | ['Y']
  /** The leader's copy as bytes is this segment: map /proc/<pid>/fd/<fd>. */
  | ['M', number, number];

/** Segments the leader keeps open besides the current one (a follower told of one maps it right away). */
const KEEP_SEGMENTS = 1;

/** What the answers read: the worker's own store, or the leader's segment. */
export class SwitchView implements ClusterView {
  constructor(public target: ClusterView) {}
  get synced(): boolean {
    return this.target.synced;
  }
  get modified(): number {
    return this.target.modified;
  }
  get modifiedExternal(): number {
    return this.target.modifiedExternal;
  }
  get generation(): number {
    return this.target.generation;
  }
  service(name: string, namespace: string): ServiceRecord | undefined {
    return this.target.service(name, namespace);
  }
  namespaceExposed(ns: string): boolean {
    return this.target.namespaceExposed(ns);
  }
  byIp(ip: string): readonly (ServiceRecord | Endpoint)[] {
    return this.target.byIp(ip);
  }
  externalByIp(ip: string): readonly ServiceRecord[] {
    return this.target.externalByIp(ip);
  }
  podsWithIp(ip: string): readonly SlimPod[] {
    return this.target.podsWithIp(ip);
  }
  serviceEntries(): readonly ServiceRecord[] {
    return this.target.serviceEntries();
  }
}

/** Applies to the store and publishes. */
class Tee implements ObjectSink {
  constructor(
    private readonly store: ClusterStore,
    private readonly out: (op: Op) => void,
  ) {}
  upsertService(s: SlimService): void {
    this.store.upsertService(s);
    this.out(['S', s]);
  }
  deleteService(ns: string, name: string): void {
    this.store.deleteService(ns, name);
    this.out(['s', ns, name]);
  }
  upsertSlice(s: SlimEndpointSlice): void {
    this.store.upsertSlice(s);
    this.out(['E', s]);
  }
  deleteSlice(ns: string, name: string): void {
    this.store.deleteSlice(ns, name);
    this.out(['e', ns, name]);
  }
  upsertPod(p: SlimPod): void {
    this.store.upsertPod(p);
    this.out(['P', p]);
  }
  deletePod(ns: string, name: string): void {
    this.store.deletePod(ns, name);
    this.out(['p', ns, name]);
  }
  upsertNamespace(n: SlimNamespace): void {
    this.store.upsertNamespace(n);
    this.out(['N', n]);
  }
  deleteNamespace(name: string): void {
    this.store.deleteNamespace(name);
    this.out(['n', name]);
  }
  replaceAll(kind: Kind, items: readonly unknown[]): void {
    this.store.replaceAll(kind, items);
    this.out(['R', kind, items as unknown[]]);
  }
  prepare(kind: Kind, item: unknown): unknown {
    return this.store.prepare(kind, item);
  }
  commit(): void {
    this.store.commit();
  }
}

export class SharedApiSource implements ObjectSource {
  private member: ShareMember | undefined;
  private api: ObjectSource | undefined;
  private store: ClusterStore | undefined;
  private synced = false;
  private followed = false;
  private stopped = false;
  private queue: Op[] = [];
  private flushing = false;
  private resolveStart: (() => void) | undefined;
  private rejectStart: ((e: Error) => void) | undefined;
  /** What this worker's answers read. */
  readonly view: SwitchView;
  private readonly shm: NativeShm | undefined = nativeShm();
  /** As leader with shared memory: the segments written (fds, newest last), announced once `announce`. */
  private segments: { fd: number; ab: ArrayBuffer }[] = [];
  /** The last full write of the shared copy failed (logged once until one succeeds). */
  private writeFailed = false;
  private announce = false;
  /** As leader: the copy is in shared memory (else every change is published). */
  private sharing = false;
  /** As follower: the leader's segment mapped, and the view over it. */
  private mapped: ArrayBuffer | undefined;
  private mappedView: ByteClusterView | undefined;

  /**
   * @param key the API configuration: instances with the same key share one source
   * @param createApi the API source to run when leading (`replace`: its first lists replace the
   *   store's content, taking over from another leader)
   */
  constructor(
    private readonly key: string,
    private readonly createApi: (replace: boolean) => ObjectSource,
    private readonly log: Logger,
    store: ClusterStore,
  ) {
    this.view = new SwitchView(store);
  }

  start(store: ClusterStore): Promise<void> {
    if (this.store) throw new Error('source already started');
    this.store = store;
    this.view.target = store;
    const started = new Promise<void>((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
    this.member = joinShare(this.key, {
      lead: () => this.lead(),
      follow: () => {
        this.followed = true;
        this.log.debug('another worker watches the API: following its changes');
      },
      ops: (ops) => this.apply(ops as Op[]),
      snapshot: () => {
        this.flush();
        return this.snapshot();
      },
    });
    return started;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.member?.leave();
    this.resolveStart?.();
    await this.api?.stop();
    if (this.store?.onCommit !== undefined) this.store.onCommit = undefined;
    for (const s of this.segments) this.shm?.close(s.fd);
    this.segments = [];
  }

  private lead(): void {
    if (this.stopped || this.api) return;
    if (this.followed) this.log.info('taking over the API watch from a worker that left');
    this.api = this.createApi(this.followed);
    const store = this.store!;
    let shm = this.shm;
    if (shm !== undefined) {
      // the followers read the copy in shared memory: no change is published, only segments
      try {
        this.attachWriter(store, shm);
        this.sharing = true;
      } catch (e) {
        this.log.warn(`no shared memory for the cluster (${(e as Error).message}): each worker keeps its own copy`);
        store.onCommit = undefined;
        shm = undefined;
      }
    }
    const tee = new Tee(store, shm !== undefined ? () => {} : (op) => this.publish(op));
    this.api.start(tee).then(
      () => {
        if (this.stopped) return;
        if (shm !== undefined) this.startAnnouncing();
        this.publish(['Y']);
        this.markSynced();
      },
      (e: unknown) => this.rejectStart?.(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Keep the store's copy as bytes in shared memory segments (the first one written now). */
  private attachWriter(store: ClusterStore, shm: NativeShm): void {
    ClusterBytesWriter.attach(store, {
      alloc: (size) => {
        const [fd, ab] = shm.create(size);
        this.segments.push({ fd, ab });
        return ab;
      },
      onSegment: () => {
        if (this.writeFailed) this.log.info('the shared copy of the cluster is written again: the other workers follow the changes');
        this.writeFailed = false;
        while (this.segments.length > KEEP_SEGMENTS + 1) shm.close(this.segments.shift()!.fd);
        if (this.announce) this.announceSegment();
      },
      // (said once per failing stretch; each later commit tries again)
      onError: (e) => {
        if (!this.writeFailed) this.log.error(`could not write a new shared copy of the cluster (${e.message}): the other workers answer from the last one until a later commit succeeds`);
        this.writeFailed = true;
      },
    });
    // taking over: the others read the old leader's segment until this store has its lists
    if (!this.followed) this.startAnnouncing();
  }

  private startAnnouncing(): void {
    if (this.announce) return;
    this.announce = true;
    this.view.target = this.store!;
    this.mapped = undefined;
    this.mappedView = undefined;
    this.announceSegment();
  }

  private announceSegment(): void {
    const s = this.segments[this.segments.length - 1];
    if (s !== undefined) this.publish(['M', process.pid, s.fd]);
  }

  /** Follow the leader's segment `fd` (a follower). */
  private map(pid: number, fd: number): void {
    if (this.shm === undefined) return;
    try {
      this.mapped = this.shm.open(`/proc/${pid}/fd/${fd}`);
    } catch (e) {
      // (the leader closed it already: a newer one is announced)
      this.log.debug(`could not map the leader's copy of the cluster: ${(e as Error).message}`);
      return;
    }
    if (this.mappedView === undefined) this.mappedView = new ByteClusterView(() => this.mapped!);
    this.view.target = this.mappedView;
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.resolveStart?.();
  }

  /** Changes go out in batches, one message per turn of the event loop. */
  private publish(op: Op): void {
    this.queue.push(op);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    if (this.queue.length === 0) return;
    const ops = this.queue;
    this.queue = [];
    this.member?.publish(ops);
  }

  /** The leader's store as changes that rebuild it from nothing. */
  private snapshot(): Op[] {
    if (this.sharing) {
      const seg = this.segments[this.segments.length - 1];
      const ops: Op[] = [];
      if (this.announce && seg !== undefined) ops.push(['M', process.pid, seg.fd]);
      if (this.synced) ops.push(['Y']);
      return ops;
    }
    const s = this.store!.snapshot();
    const ops: Op[] = [
      ['R', 'namespaces', s.namespaces],
      ['R', 'services', s.services],
      ['R', 'endpointslices', s.endpointslices],
      ['R', 'pods', s.pods],
    ];
    if (this.synced) ops.push(['Y']);
    return ops;
  }

  private apply(ops: readonly Op[]): void {
    if (this.stopped || this.api) return;
    const st = this.store!;
    for (const op of ops) {
      switch (op[0]) {
        case 'S':
          st.upsertService(shareDecoded('services', op[1]));
          break;
        case 's':
          st.deleteService(op[1], op[2]);
          break;
        case 'E':
          st.upsertSlice(shareDecoded('endpointslices', op[1]));
          break;
        case 'e':
          st.deleteSlice(op[1], op[2]);
          break;
        case 'P':
          st.upsertPod(shareDecoded('pods', op[1]));
          break;
        case 'p':
          st.deletePod(op[1], op[2]);
          break;
        case 'N':
          st.upsertNamespace(shareDecoded('namespaces', op[1]));
          break;
        case 'n':
          st.deleteNamespace(op[1]);
          break;
        case 'R':
          for (const x of op[2]) shareDecoded(op[1], x);
          st.replaceAll(op[1], op[2]);
          break;
        case 'Y':
          this.markSynced();
          break;
        case 'M':
          this.map(op[1], op[2]);
          break;
      }
    }
  }
}
