// One data source for all workers (-workers N): for each key (e.g. one Kubernetes API
// configuration), one instance in one worker leads — it runs the source (lists and watches) and
// publishes every change — and the others follow, fed the changes through the primary. The
// primary keeps no data, only who leads and who follows:
//   - join(key): the first instance of a key leads; a later one follows, and the leader is asked
//     for a snapshot for it (sent before any further change, over the same ordered channel);
//   - the leader's publish(ops) goes to every follower that has had its snapshot;
//   - when the leader leaves (closed, reloaded, its worker died), a follower is made the leader
//     and takes over (it lists again, which replaces what the followers hold).
// The changes cross the primary as opaque strings (v8.serialize, base64: the IPC channel is
// JSON), cut in parts of at most 256 KiB: the primary never builds their objects, and a snapshot
// of a large cluster passes through it a part at a time instead of growing its heap (and its
// RSS, which does not shrink back) to hold and re-encode every object at once.
// Used by the kubernetes plugin (plugins/kubernetes/shared.ts).
import cluster, { type Worker } from 'node:cluster';
import v8 from 'node:v8';

const JOIN = 'typedns:share:join';
const LEAVE = 'typedns:share:leave';
const OPS = 'typedns:share:ops';
const ROLE = 'typedns:share:role';
const SNAP = 'typedns:share:snap';

interface ShareMsg {
  type?: string;
  key?: string;
  /** The instance (worker pid + sequence number) a message comes from or goes to. */
  inst?: string;
  /** OPS: the follower a snapshot is for; SNAP: the follower to send one to. */
  for?: string;
  lead?: boolean;
  /** OPS: the changes, encoded (encodeOps), or one part of them. */
  data?: string;
  /** OPS: the part's index (0: the first part of a batch). */
  part?: number;
  /** OPS: more parts of this batch follow. */
  more?: boolean;
}

/** Characters of encoded changes per message. */
const PART = 256 * 1024;

const encodeOps = (ops: unknown[]): string => v8.serialize(ops).toString('base64');
const decodeOps = (data: string): unknown[] => v8.deserialize(Buffer.from(data, 'base64')) as unknown[];

interface Group {
  leader: string | undefined;
  /** Followers, in joining order; true once they have had their snapshot. */
  readonly followers: Map<string, boolean>;
}

/** The primary's side: routes the share messages of `workers`. */
export class ShareRelay {
  private readonly groups = new Map<string, Group>();
  private readonly owner = new Map<string, Worker>();

  /** A message from worker `w`; true if it was a share message. */
  message(w: Worker, m: ShareMsg): boolean {
    if (typeof m?.type !== 'string' || !m.type.startsWith('typedns:share:') || m.key === undefined || m.inst === undefined) return false;
    const key = m.key;
    let g = this.groups.get(key);
    switch (m.type) {
      case JOIN:
        this.owner.set(m.inst, w);
        if (g === undefined) this.groups.set(key, (g = { leader: undefined, followers: new Map() }));
        if (g.leader === undefined) {
          g.leader = m.inst;
          this.send(m.inst, { type: ROLE, key, lead: true });
        } else {
          g.followers.set(m.inst, false);
          this.send(m.inst, { type: ROLE, key, lead: false });
          this.send(g.leader, { type: SNAP, key, for: m.inst });
        }
        break;
      case OPS:
        if (g === undefined || g.leader !== m.inst) break; // from a leader that was replaced
        if (m.data === undefined) break;
        if (m.for !== undefined) {
          if (!g.followers.has(m.for)) break;
          g.followers.set(m.for, true);
          this.send(m.for, { type: OPS, key, data: m.data, part: m.part ?? 0, more: m.more === true });
        } else {
          for (const [f, fed] of g.followers) if (fed) this.send(f, { type: OPS, key, data: m.data, part: m.part ?? 0, more: m.more === true });
        }
        break;
      case LEAVE:
        this.leave(m.inst);
        break;
    }
    return true;
  }

  /** Worker `w` exited: its instances leave. */
  gone(w: Worker): void {
    for (const [inst, owner] of [...this.owner]) if (owner === w) this.leave(inst);
  }

  private leave(inst: string): void {
    this.owner.delete(inst);
    for (const [key, g] of this.groups) {
      g.followers.delete(inst);
      if (g.leader !== inst) continue;
      g.leader = undefined;
      // The first follower that has the data (else any) takes over, and sends the ones still
      // waiting their snapshot.
      const next = [...g.followers].find(([, fed]) => fed)?.[0] ?? g.followers.keys().next().value;
      if (next === undefined) {
        this.groups.delete(key);
        continue;
      }
      g.followers.delete(next);
      g.leader = next;
      this.send(next, { type: ROLE, key, lead: true });
      for (const [f, fed] of g.followers) if (!fed) this.send(next, { type: SNAP, key, for: f });
    }
  }

  private send(inst: string, m: ShareMsg): void {
    const w = this.owner.get(inst);
    if (w !== undefined && w.isConnected()) w.send({ ...m, inst });
  }
}

/** What a worker's instance is told. */
export interface ShareHandlers {
  /** This instance leads (at join, or taking over from a leader that left). */
  lead(): void;
  /** This instance follows (at join). */
  follow(): void;
  /** Changes from the leader (the first batch after follow() is the snapshot). */
  ops(ops: unknown[]): void;
  /** The leader is asked for a snapshot for a new follower: return it (its ops). */
  snapshot(): unknown[];
}

/** A worker's membership of one key's group. */
export interface ShareMember {
  /** As leader: send changes to the followers. */
  publish(ops: unknown[]): void;
  leave(): void;
}

let seq = 0;

/** True in a worker of typedns's primary (runPrimary sets TYPEDNS_WORKERS) that has siblings. */
export const canShare = (): boolean => cluster.isWorker && typeof process.send === 'function' && Number(process.env.TYPEDNS_WORKERS) > 1;

/** Join `key`'s group from a worker (canShare() must be true). */
export function joinShare(key: string, h: ShareHandlers): ShareMember {
  const inst = `${process.pid}:${seq++}`;
  let left = false;
  /** The parts of a batch so far (a leader that died in the middle of one leaves them: the next part 0 drops them). */
  let parts: string[] = [];
  const onMessage = (m: ShareMsg): void => {
    if (left || m?.inst !== inst || m.key !== key) return;
    if (m.type === ROLE) {
      if (m.lead) h.lead();
      else h.follow();
    } else if (m.type === OPS && m.data !== undefined) {
      if (!m.part) parts = [];
      parts.push(m.data);
      if (m.more) return;
      const data = parts.length === 1 ? parts[0]! : parts.join('');
      parts = [];
      h.ops(decodeOps(data));
    } else if (m.type === SNAP && m.for !== undefined) {
      sendOps(h.snapshot(), m.for);
    }
  };
  /** The changes `ops` in parts of at most PART characters, in order (the channel keeps it). */
  const sendOps = (ops: unknown[], to?: string): void => {
    const data = encodeOps(ops);
    for (let at = 0, part = 0; at < data.length || part === 0; at += PART, part++) {
      const m: ShareMsg = { type: OPS, key, inst, data: data.slice(at, at + PART), part, more: at + PART < data.length };
      if (to !== undefined) m.for = to;
      process.send?.(m);
    }
  };
  process.on('message', onMessage);
  process.send?.({ type: JOIN, key, inst });
  return {
    publish(ops) {
      if (!left && ops.length > 0) sendOps(ops);
    },
    leave() {
      if (left) return;
      left = true;
      process.off('message', onMessage);
      if (process.connected) process.send?.({ type: LEAVE, key, inst });
    },
  };
}
