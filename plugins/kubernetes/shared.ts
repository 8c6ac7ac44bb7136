// -workers N with an API source: one list/watch set for the whole process tree, not one per
// worker (src/server/share.ts). One worker's instance leads: it runs the API source into its
// store, and keeps a copy of the store as bytes (bytes.ts) in shared memory (a memfd of the
// native module, native/udp.c) that it rewrites after each commit; the other workers follow:
// they are told the segment (['M', leader pid, fd]) and map it read-only from
// /proc/<pid>/fd/<fd>, and answer from it (ByteClusterView: records decoded on demand, kept in a
// cache as large as the copy's Services, up to 16,384): one copy of the cluster for the process
// tree, and no store in a follower. A full write (compaction, growth) makes a new segment,
// announced the same way. When the leader leaves (its
// worker died, or a reload), a follower takes over and lists again into its own store; the
// others go on reading the old segment (mapped, it outlives its writer) until the new leader's
// first lists are in and it announces its own. A follower that cannot map the segment announced
// (or whose segment's writer died in an update) answers SERVFAIL (not synced), never NXDOMAIN from
// its empty store, and tries again; told that the new leader has no segment (its lists came as
// changes, then 'Y'), it answers from its own store again.
// Without the native module (TYPEDNS_NATIVE_UDP=0, no compiler), the leader publishes every
// change instead (a tee), and each follower applies them to its own store, as before.
// A follower's objects come out of v8.deserialize with a new string for every value and new port
// lists for every message: they are given the shared strings and port lists the leader's own
// objects have (watch/convert.ts) before the store keeps them, or each follower's copy would be
// ~3 MB larger than the leader's at 10,000 Services.
import type { Logger } from '../../src/plugin/api.js';
import { joinShare, type ShareHandlers, type ShareMember } from '../../src/server/share.js';
import type { ClusterStore } from './store.js';
import { nativeShm, type NativeShm } from '../../src/server/udp-native.js';
import { ByteClusterView, ClusterBytesWriter, segmentId } from './bytes.js';
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
  /** The leader's copy as bytes is this segment: map /proc/<pid>/fd/<fd>, whose id (bytes.ts segmentId) is the third number. */
  | ['M', number, number, number];

/** Segments the leader keeps open besides the current one (a follower told of one maps it right away). */
const KEEP_SEGMENTS = 1;

/** Process `pid` exists (signal 0). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long a follower waits before it tries again to map a segment it could not (doubled up to a minute). */
const MAP_RETRY_MS = 1000;

/** What a follower answers from while it has no copy to read: nothing, not synced (SERVFAIL, not NXDOMAIN). */
const NO_COPY: ClusterView = {
  synced: false,
  modified: 0,
  modifiedExternal: 0,
  generation: 0,
  service: () => undefined,
  namespaceExposed: () => false,
  byIp: () => [],
  externalByIp: () => [],
  podsWithIp: () => [],
  serviceEntries: () => [],
};

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

/** What SharedApiSource uses of the process (tests give their own). */
export interface SharedDeps {
  /** Shared memory (default: the native module's, if loaded; undefined: none). */
  shm?: NativeShm | undefined;
  /** Joins the group of instances with the same key (default: src/server/share.ts). */
  join?: (key: string, h: ShareHandlers) => ShareMember;
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
  private readonly shm: NativeShm | undefined;
  private readonly join: (key: string, h: ShareHandlers) => ShareMember;
  /**
   * As leader with shared memory: the segments made (fds, newest last), announced once `announce`;
   * `told`: written whole (a sliced full write fills its segment over several turns).
   */
  private segments: { fd: number; ab: ArrayBuffer; told: boolean }[] = [];
  /** As leader with shared memory: the writer of the copy (`lagging`: a full write under way has commits the told copy lacks). */
  private writer: ClusterBytesWriter | undefined;
  /** As leader: 'Y' waits for the copy to have the lists (a sliced full write of them under way). */
  private yLater = false;
  /** The last full write of the shared copy failed (logged once until one succeeds). */
  private writeFailed = false;
  private announce = false;
  /** As leader: the copy is in shared memory (else every change is published). */
  private sharing = false;
  /** As leader: this worker's own first lists are in (a snapshot says 'Y' only then). */
  private listed = false;
  /** As follower: the leader's segment mapped, and the view over it. */
  private mapped: ArrayBuffer | undefined;
  private mappedView: ByteClusterView | undefined;
  /** As follower: what the last 'M' or 'R' came with: the leader's copy is a segment ('M') or changes to the store ('R'). */
  private lastCopy: 'M' | 'R' | undefined;
  /** As follower: the leader said 'Y' (its source has synced). */
  private leaderSynced = false;
  /** As follower: the segment announced last could not be mapped (logged once until one is). */
  private mapFailed = false;
  private mapRetry: NodeJS.Timeout | undefined;
  private retryMs = MAP_RETRY_MS;
  /** As follower: the mapped segment's writer was said to be stuck (logged once per segment). */
  private stuckSaid = false;
  /** As follower: the process of the mapped segment's writer. */
  private mappedPid = 0;

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
    deps: SharedDeps = {},
  ) {
    this.view = new SwitchView(store);
    this.shm = 'shm' in deps ? deps.shm : nativeShm();
    this.join = deps.join ?? joinShare;
  }

  start(store: ClusterStore): Promise<void> {
    if (this.store) throw new Error('source already started');
    this.store = store;
    this.view.target = store;
    const started = new Promise<void>((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
    this.member = this.join(this.key, {
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
    this.stopRetry();
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
    this.stopRetry();
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
        // (until now, taking over: the old leader's segment was read; from now on, this store)
        if (shm !== undefined) this.startAnnouncing();
        else this.readStore();
        this.listed = true;
        // (followers told 'Y' answer from the copy: not before it has the lists)
        if (this.writer?.lagging === true) this.yLater = true;
        else this.publish(['Y']);
        this.markSynced();
      },
      (e: unknown) => this.rejectStart?.(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Keep the store's copy as bytes in shared memory segments (the first one written now). */
  private attachWriter(store: ClusterStore, shm: NativeShm): void {
    this.writer = ClusterBytesWriter.attach(store, {
      alloc: (size) => {
        const [fd, ab] = shm.create(size);
        this.segments.push({ fd, ab, told: false });
        return ab;
      },
      onSegment: (ab) => {
        if (this.writeFailed) this.log.info('the shared copy of the cluster is written again: the other workers follow the changes');
        this.writeFailed = false;
        const i = this.segments.findIndex((x) => x.ab === ab);
        if (i >= 0) this.segments[i]!.told = true;
        // before it: segments of full writes given up (never told) go; of the told, the last KEEP_SEGMENTS stay
        let kept = 0;
        for (let j = i - 1; j >= 0; j--) {
          const x = this.segments[j]!;
          if (x.told && kept < KEEP_SEGMENTS) kept++;
          else {
            shm.close(x.fd);
            this.segments.splice(j, 1);
          }
        }
        if (this.announce) this.announceSegment();
        if (this.yLater && this.writer?.lagging !== true) {
          this.yLater = false;
          this.publish(['Y']);
        }
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
    this.readStore();
    this.announceSegment();
  }

  /** Answer from this worker's own store (a leader; a follower of a leader without shared memory). */
  private readStore(): void {
    this.stopRetry();
    this.view.target = this.store!;
    this.mapped = undefined;
    this.mappedView = undefined;
  }

  /** The newest segment as announced: ['M', pid, fd, id]. */
  private segmentOp(): Op | undefined {
    // (not while a sliced full write has commits the told segment lacks: its end announces it)
    if (this.writer?.lagging === true) return undefined;
    let s: { fd: number; ab: ArrayBuffer; told: boolean } | undefined;
    for (let i = this.segments.length - 1; i >= 0 && s === undefined; i--) if (this.segments[i]!.told) s = this.segments[i];
    return s === undefined ? undefined : ['M', process.pid, s.fd, segmentId(s.ab)];
  }

  private announceSegment(): void {
    const op = this.segmentOp();
    if (op !== undefined) this.publish(op);
  }

  /**
   * Follow the leader's segment `fd` whose id is `id` (a follower): answer from it, or, when it
   * cannot be mapped, answer nothing (SERVFAIL) and try again later — the segment read until now
   * is no longer written, and the worker's own store is empty.
   */
  private follow(pid: number, fd: number, id: number): void {
    this.stopRetry();
    let ab: ArrayBuffer;
    try {
      if (this.shm === undefined) throw new Error('no native module in this worker');
      ab = this.shm.open(`/proc/${pid}/fd/${fd}`);
      // (the leader closed it and its descriptor was reused, by a newer segment or something else)
      if (segmentId(ab) !== id) throw new Error(`/proc/${pid}/fd/${fd} is no longer the segment announced`);
    } catch (e) {
      if (!this.mapFailed) this.log.warn(`could not map the leader's copy of the cluster (${(e as Error).message}): answering SERVFAIL until it can be (trying again)`);
      this.mapFailed = true;
      this.mapped = undefined;
      this.mappedView = undefined;
      this.view.target = NO_COPY;
      if (this.shm !== undefined) this.retryLater(pid, fd, id);
      return;
    }
    this.retryMs = MAP_RETRY_MS;
    if (this.mapFailed) this.log.info("the leader's copy of the cluster is mapped: answering from it again");
    this.mapFailed = false;
    this.stuckSaid = false;
    this.mapped = ab;
    this.mappedPid = pid;
    this.mappedView ??= new ByteClusterView(() => this.mapped!, {
      onStuck: () => {
        if (!this.stuckSaid) this.log.warn("the leader's copy of the cluster stays half updated (its worker died in an update?): answering SERVFAIL until a new copy is announced");
        this.stuckSaid = true;
      },
      writerAlive: () => alive(this.mappedPid),
    });
    this.view.target = this.mappedView;
    if (this.leaderSynced) this.markSynced();
  }

  /** Try to map the segment again after `retryMs` (which doubles, up to a minute, while it fails). */
  private retryLater(pid: number, fd: number, id: number): void {
    const ms = this.retryMs;
    this.retryMs = Math.min(ms * 2, 60_000);
    this.mapRetry = setTimeout(() => {
      this.mapRetry = undefined;
      if (!this.stopped && this.api === undefined) this.follow(pid, fd, id);
    }, ms);
    this.mapRetry.unref();
  }

  private stopRetry(): void {
    if (this.mapRetry !== undefined) clearTimeout(this.mapRetry);
    this.mapRetry = undefined;
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

  /**
   * The leader's store as changes that rebuild it from nothing. 'Y' only once this worker's own
   * lists are in: taking over, its store (empty if it read the old leader's segment) is not the
   * cluster yet, and a newcomer told 'Y' would answer NXDOMAIN from it.
   */
  private snapshot(): Op[] {
    if (this.sharing) {
      const ops: Op[] = [];
      const seg = this.segmentOp();
      if (this.announce && seg !== undefined) ops.push(seg);
      if (this.listed && !this.yLater) ops.push(['Y']);
      return ops;
    }
    const s = this.store!.snapshot();
    const ops: Op[] = [
      ['R', 'namespaces', s.namespaces],
      ['R', 'services', s.services],
      ['R', 'endpointslices', s.endpointslices],
      ['R', 'pods', s.pods],
    ];
    if (this.listed) ops.push(['Y']);
    return ops;
  }

  private apply(ops: readonly Op[]): void {
    if (this.stopped || this.api) return;
    const st = this.store!;
    // (of several segments announced in one batch, only the newest is mapped)
    let newest = -1;
    for (let i = 0; i < ops.length; i++) if (ops[i]![0] === 'M') newest = i;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
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
          this.lastCopy = 'R';
          break;
        case 'Y':
          this.leaderSynced = true;
          if (this.lastCopy !== 'M') {
            // a leader without shared memory: its lists came as changes to this store
            this.readStore();
            this.mapFailed = false;
            this.markSynced();
          } else if (this.mappedView !== undefined && this.view.target === this.mappedView) this.markSynced();
          // (else the segment could not be mapped: not synced, SERVFAIL, until it is)
          break;
        case 'M':
          this.lastCopy = 'M';
          if (i !== newest) break;
          this.retryMs = MAP_RETRY_MS;
          this.follow(op[1], op[2], op[3]);
          break;
      }
    }
  }
}
