// TCP listener: 2-byte length framing, several and pipelined queries per connection (answers
// may go out of order, RFC 7766), half-closed connections still answered, and limits against
// clients that hold resources: a cap on open connections and on connections per client address,
// an idle timeout (no complete query), a read deadline for each started message (slow senders),
// and a bound on the replies queued for a client that does not read them (the connection stops
// reading queries above a high-water mark and is closed over a hard limit or after a time limit).
// DoT (tls.ts) serves its handshaken connections through the same StreamListener and Conn.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Client } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { parseDuration } from '../corefile/dispenser.js';
import { serveQuery, type ServeContext } from './serve.js';
import { clientOf } from './udp.js';
import { udpFirst } from './udp-native.js';
import { FrameGather, FrameReader } from '../dns/frame.js';
import { padReply, queryWantsPadding } from '../dns/padding.js';

export interface TcpOptions {
  /** Close a connection with no complete query for this long (ms). CoreDNS: 10 s. */
  idleTimeout: number;
  /** A started message must complete within this (ms) of its first byte. CoreDNS read timeout: 3 s. */
  readTimeout: number;
  /** Replies queued above `highWater` for this long (ms) close the connection. CoreDNS write timeout: 5 s. */
  writeTimeout: number;
  /** Open connections at most; more are closed at once. */
  maxConnections: number;
  /** Open connections from one client address at most; more are closed at once (0: no cap). */
  maxPerClient: number;
  /** Stop reading queries while more reply bytes than this wait for the client to read them. */
  highWater: number;
  /** Close the connection at once when more reply bytes than this are queued. */
  maxQueued: number;
  /** Queries served on one connection at most, then it is closed once their replies are written (-1: no limit). */
  maxTcpQueries: number;
  /** Queries of one connection being answered at once at most; its next ones are read when half of those are done. */
  maxInflight: number;
}

export const DEFAULT_TCP: TcpOptions = {
  idleTimeout: 10_000,
  readTimeout: 3_000,
  writeTimeout: 5_000,
  maxConnections: 1000,
  maxPerClient: 250,
  highWater: 64 * 1024,
  maxQueued: 1024 * 1024,
  maxTcpQueries: -1,
  maxInflight: 128,
};

/** The environment variables that set TcpOptions (README "Limits"). */
const ENV: ReadonlyArray<[string, keyof TcpOptions, 'duration' | 'count']> = [
  ['TYPEDNS_TCP_IDLE_TIMEOUT', 'idleTimeout', 'duration'],
  ['TYPEDNS_TCP_READ_TIMEOUT', 'readTimeout', 'duration'],
  ['TYPEDNS_TCP_WRITE_TIMEOUT', 'writeTimeout', 'duration'],
  ['TYPEDNS_TCP_MAX_CONNECTIONS', 'maxConnections', 'count'],
  ['TYPEDNS_TCP_MAX_PER_CLIENT', 'maxPerClient', 'count'],
  ['TYPEDNS_TCP_HIGH_WATER', 'highWater', 'count'],
  ['TYPEDNS_TCP_MAX_QUEUED', 'maxQueued', 'count'],
  ['TYPEDNS_TCP_MAX_INFLIGHT', 'maxInflight', 'count'],
];

/** TcpOptions set in the environment; throws on a value that is not a duration or a count. */
export function tcpOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<TcpOptions> {
  const out: Partial<TcpOptions> = {};
  for (const [name, key, kind] of ENV) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const n = kind === 'duration' ? parseDuration(v) : /^\d+$/.test(v) ? Number(v) : undefined;
    // 0 only means something for the per-client cap (none)
    if (n === undefined || !Number.isSafeInteger(n) || n < 0 || (n === 0 && key !== 'maxPerClient')) {
      throw new Error(`${name}: invalid ${kind === 'duration' ? 'duration' : 'number'} '${v}'`);
    }
    out[key] = n;
  }
  return out;
}

/**
 * Queries the connections of one listener serve in one turn of the event loop, all together; the
 * rest of their pipelined bursts wait for the next turn (the connections take their turns in the
 * order they ran out), so UDP is read in between however many connections pipeline at once (a
 * 64 KB read holds ~2,000 queries).
 */
const PER_TURN = 64;

/** Open connections per client address against a cap (0: none), so one address cannot hold every connection. */
export class PerClient {
  /** Only addresses with one connection or more. */
  private readonly open = new Map<string, number>();
  /** Connections refused for the cap. */
  refused = 0;

  /** Count one more connection from `ip`; false (and counted as refused) when `ip` is at `cap`. */
  take(ip: string, cap: number): boolean {
    const n = this.open.get(ip) ?? 0;
    if (cap > 0 && n >= cap) {
      this.refused++;
      return false;
    }
    this.open.set(ip, n + 1);
    return true;
  }

  /** A connection `take` counted has closed. */
  release(ip: string): void {
    const n = (this.open.get(ip) ?? 1) - 1;
    if (n > 0) this.open.set(ip, n);
    else this.open.delete(ip);
  }
}

/**
 * timeouts maxtcpqueries on one TCP or DoT connection: counts the queries served and, at the limit,
 * stops reading (what is buffered unserved is dropped); the connection ends once the replies are out.
 */
class QueryLimit {
  private served = 0;
  /** The limit was reached: nothing more is read. */
  reached = false;
  /** Count a query served on `sock` under the limit `max` (0 or less: none); true when it was the last. */
  count(max: number, pending: FrameReader, sock: net.Socket): boolean {
    if (max <= 0 || ++this.served < max) return false;
    this.reached = true;
    pending.clear();
    sock.pause();
    return true;
  }
}

class Conn implements Sender {
  /** Bytes received and not yet served: a started message, or whole ones while reading is held. */
  private readonly pending = new FrameReader();
  /** When the started message's first byte came (0: none started). */
  private msgStart = 0;
  /** When the last complete, non-empty query came (or the connection opened). */
  private lastQuery: number;
  /** When the queued replies went over highWater (0: they are not). */
  private heldSince = 0;
  /** Queries whose chain went asynchronous and has not finished. */
  private outstanding = 0;
  /** Reading stopped at maxInflight outstanding queries: served again when half of them finished. */
  private full = false;
  /** The replies of this turn of the event loop, framed, for one write at its end (flush()). */
  private readonly out = new FrameGather();
  /** In the listener's list of connections to flush at the end of this turn. */
  flushQueued = false;
  /** In the listener's queue for the next turn. */
  deferred = false;
  /** DoT: the queued replies went over maxQueued; judgeCap runs after this turn's writes. */
  private capPending = false;
  /** The client sent FIN: answer what it asked, then end our side. */
  private peerEnded = false;
  /** maxTcpQueries: once they were served, the connection closes when their replies are written. */
  private readonly limit = new QueryLimit();
  readonly client: Client;

  constructor(
    readonly sock: net.Socket,
    private readonly owner: StreamListener,
    now: number,
  ) {
    this.client = clientOf(sock.remoteAddress ?? '', sock.remotePort ?? 0, sock.remoteFamily === 'IPv6');
    this.lastQuery = now;
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('drain', () => this.release());
    sock.on('end', () => this.onEnd());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.pending.clear();
      this.out.clear();
      owner.remove(this);
    });
  }

  /** Its turn: serve the rest of a burst (the socket is paused until then). */
  turn(): void {
    this.deferred = false;
    if (this.sock.destroyed) return;
    if (this.heldSince === 0 && !this.peerEnded) this.sock.resume();
    this.serve();
  }

  private readonly settled = (): void => {
    // (a forwarded burst's replies finish here one after another, in one run of microtasks)
    udpFirst();
    this.outstanding--;
    if (this.full) {
      // Room again once half are done: the rest of the burst on a later turn (not inside this
      // promise's callback), in batches, not one query per reply (which cost a write upstream and
      // a read back for each query, e.g. through forward's pipelined upstream connections).
      if (this.outstanding > this.owner.opts.maxInflight >> 1) return;
      this.full = false;
      this.owner.defer(this);
      return;
    }
    if (this.peerEnded) this.maybeEnd();
  };

  /** The replies gathered so far go out: one write(2) for all of them. */
  flush(): void {
    const b = this.out.take();
    if (b === undefined) return;
    const sock = this.sock;
    if (sock.destroyed || sock.writableEnded) this.out.clear();
    else sock.write(b);
  }

  private onData(d: Buffer): void {
    if (this.limit.reached) return; // past the query limit: nothing more is read
    if (this.msgStart === 0 && this.heldSince === 0) this.msgStart = performance.now();
    this.pending.push(d);
    this.serve();
  }

  /** Serve the complete messages in `pending` until it is empty or replies are held back. */
  private serve(): void {
    const r = this.pending;
    if (r.held === 0) return;
    const o = this.owner;
    const sock = this.sock;
    let took = false;
    let served = false;
    let later = false;
    const inflight = o.opts.maxInflight;
    while (r.ready) {
      if (this.heldSince !== 0 || sock.destroyed) break;
      if (this.outstanding >= inflight) {
        this.full = true;
        break;
      }
      if (!o.take()) {
        later = true;
        break;
      }
      // UDP first: datagrams that came while this turn served stream queries are read now
      udpFirst();
      // copied: a view would keep the whole chunk alive as long as the request lives
      const msg = r.nextCopy()!;
      took = true;
      if (msg.length === 0) continue; // an empty frame is no query: it does not count as activity
      served = true;
      const p = serveQuery(o.ctx, msg, this.client, o.local, 'tcp', this);
      if (p !== undefined) {
        this.outstanding++;
        p.then(this.settled, this.settled);
      }
      if (this.limit.count(o.opts.maxTcpQueries, r, sock)) {
        // the limit (timeouts maxtcpqueries): read nothing more, close once the replies are out
        this.msgStart = 0;
        this.peerEnded = true;
        this.lastQuery = performance.now();
        this.maybeEnd();
        return;
      }
    }
    if (served) this.lastQuery = performance.now();
    if (r.held === 0) {
      r.clear();
      this.msgStart = 0;
    } else {
      if (took) {
        // a started message is copied (the rest of the chunk can go); whole ones left for the
        // next turn or for after a hold are served soon, from the chunk as it is
        r.compact(!(later || this.full || this.heldSince !== 0));
        // the deadline is for the message started now, not for the connection
        this.msgStart = this.heldSince === 0 && !later && !this.full ? performance.now() : 0;
      }
      if (later || this.full) {
        // waiting for its turn, or for room: not the client's delay
        this.msgStart = 0;
        sock.pause();
        if (later) o.defer(this);
      }
    }
    if (this.peerEnded) this.maybeEnd();
  }

  send(buf: Uint8Array, w: CoreWriter): void {
    const sock = this.sock;
    if (sock.destroyed || sock.writableEnded) return;
    // Every reply written in one turn of the event loop (a turn of serve(), the answers read from
    // several upstream connections in one poll, each in its own callback) leaves in one write at
    // its end: the listener flushes the connections that gathered replies (setImmediate).
    // RFC 8467 padding: over TLS, for a query that asked for it
    this.out.add(this.owner.dot && queryWantsPadding(w.req.wire) ? padReply(buf) : buf);
    if (!this.flushQueued) this.owner.toFlush(this);
    const hw = this.owner.opts.highWater;
    if (sock.writableLength + this.out.length > hw) {
      // over the mark: hand them to the kernel first, then see what it did not take
      this.flush();
      const queued = sock.writableLength;
      if (queued > hw) this.hold(queued);
    }
  }

  /** For a zone transfer's parts: wait until the socket's buffer is below the high-water mark. */
  drain(): Promise<void> {
    const sock = this.sock;
    if (sock.destroyed) return Promise.reject(new Error('connection closed'));
    if (sock.writableLength + this.out.length <= this.owner.opts.highWater) return Promise.resolve();
    this.flush();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        sock.off('drain', done);
        sock.off('close', done);
        if (sock.destroyed) reject(new Error('connection closed'));
        else resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
  }

  /** The client does not read its replies fast enough: stop reading its queries (or cut it). */
  private hold(queued: number): void {
    if (queued > this.owner.opts.maxQueued) {
      // Over TLS a write is done only after this turn's I/O, however fast the kernel took it: the
      // replies of one turn all count until then, so the verdict waits for them (judgeCap).
      if (!this.owner.dot) return this.overflow();
      if (!this.capPending) {
        this.capPending = true;
        setImmediate(this.judgeCap);
      }
    }
    if (this.heldSince !== 0) return;
    this.heldSince = performance.now();
    this.msgStart = 0;
    this.sock.pause();
  }

  /** DoT: still over the cap once the writes of the turn that went over it were done? Then cut. */
  private readonly judgeCap = (): void => {
    this.capPending = false;
    if (!this.sock.destroyed && this.sock.writableLength > this.owner.opts.maxQueued) this.overflow();
  };

  /** Cut the connection for its unread replies (they go with it). */
  private overflow(): void {
    this.owner.overflows++;
    this.sock.destroy();
  }

  /** The queued replies went out: read and serve queries again. */
  release(): void {
    if (this.heldSince === 0 || this.sock.destroyed) return;
    this.heldSince = 0;
    if (this.pending.held !== 0) this.msgStart = performance.now();
    if (!this.peerEnded) this.sock.resume();
    this.serve();
  }

  private onEnd(): void {
    this.peerEnded = true;
    this.maybeEnd();
  }

  /** After the client's FIN: end our side once every query it sent has its reply written. */
  private maybeEnd(): void {
    if (this.outstanding > 0 || this.heldSince !== 0 || this.sock.writableEnded) return;
    if (this.pending.ready) return;
    this.pending.clear(); // a message cut by the FIN: never completes
    this.msgStart = 0;
    this.flush();
    this.sock.end();
  }

  /** Called by the listener's sweep: cut a connection past one of its deadlines. */
  check(now: number): void {
    const o = this.owner.opts;
    const sock = this.sock;
    if (this.heldSince !== 0) {
      if (sock.writableLength <= o.highWater) this.release();
      else if (now - this.heldSince > o.writeTimeout) this.overflow();
      return;
    }
    if (this.msgStart !== 0 && now - this.msgStart > o.readTimeout) sock.destroy();
    else if (this.outstanding === 0 && now - this.lastQuery > o.idleTimeout) sock.destroy();
  }

  get queued(): number {
    return this.sock.writableLength + this.out.length + this.pending.held;
  }
}

/**
 * The connections of one stream listener (DNS over TCP, or over TLS): the cap per client address,
 * the sweep of their deadlines, the turns their pipelined bursts take and the bytes they hold.
 */
export class StreamListener {
  readonly conns = new Set<Conn>();
  /** Open connections per client address. */
  readonly perClient = new PerClient();
  private sweeper: NodeJS.Timeout | undefined;
  local: LocalAddr = { ip: '', port: 0 };
  /** Connections refused by the total cap (the per-client cap counts in perClient) and cut for unread replies. */
  refused = 0;
  overflows = 0;
  /** Queries the connections may still serve in this turn (PER_TURN at the start of each). */
  private budget = PER_TURN;
  /** Connections waiting for the next turn, in the order they ran out of this one. */
  private queue: Conn[] = [];
  private turnScheduled = false;
  private readonly nextTurn = (): void => {
    this.turnScheduled = false;
    this.budget = PER_TURN;
    const q = this.queue;
    this.queue = [];
    for (const c of q) c.turn();
    // what this turn answered at once goes now, not after the next poll
    this.flushAll();
  };
  /** Connections with replies gathered in this turn of the event loop. */
  private flushing: Conn[] = [];
  private flushScheduled = false;
  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.flushing;
    if (list.length === 0) return;
    this.flushing = [];
    for (const c of list) {
      udpFirst();
      c.flushQueued = false;
      c.flush();
    }
  };

  constructor(
    readonly host: string,
    readonly port: number,
    readonly ctx: ServeContext,
    readonly opts: TcpOptions,
    /**
     * A DoT listener: replies to queries that carry the EDNS(0) Padding option are padded (RFC
     * 8467), and the cap on queued bytes is judged once TLS's asynchronous writes of a turn are done.
     */
    readonly dot: boolean,
  ) {}

  /**
   * Count an accepted socket against the cap per client address, given back when it closes
   * (DoT counts the TCP socket, before its handshake). False: over the cap, destroyed.
   */
  protected admit(sock: net.Socket): boolean {
    const ip = sock.remoteAddress ?? '';
    if (!this.perClient.take(ip, this.opts.maxPerClient)) {
      sock.destroy();
      return false;
    }
    sock.once('close', () => this.perClient.release(ip));
    return true;
  }

  /** Serve DNS messages on `sock` (admitted, and for DoT handshaken). */
  protected open(sock: net.Socket): void {
    this.conns.add(new Conn(sock, this, performance.now()));
    if (this.sweeper === undefined) this.startSweeper();
  }

  /** The timeouts changed (a reload): the sweep interval follows the shortest one. */
  retime(): void {
    if (this.sweeper === undefined) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.startSweeper();
  }

  private startSweeper(): void {
    const o = this.opts;
    // deadlines are checked by one timer per listener, a quarter of the shortest one apart
    const every = Math.max(10, Math.min(o.readTimeout, o.idleTimeout, o.writeTimeout) / 4);
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** One query of this turn's budget, or false when it is spent. */
  take(): boolean {
    if (this.budget === 0) return false;
    this.budget--;
    return true;
  }

  /** `c` gathered a reply: it is written with the others of this turn at the turn's end. */
  toFlush(c: Conn): void {
    c.flushQueued = true;
    this.flushing.push(c);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushAll);
  }

  /** `c` is served again on the next turn (after the connections already waiting). */
  defer(c: Conn): void {
    if (c.deferred) return;
    c.deferred = true;
    this.queue.push(c);
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(this.nextTurn);
  }

  remove(c: Conn): void {
    if (!this.conns.delete(c)) return;
    if (this.conns.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.conns) c.check(now);
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Bytes held for open connections: replies not yet taken by the kernel, queries not yet served. */
  get queuedBytes(): number {
    let n = 0;
    for (const c of this.conns) n += c.queued;
    return n;
  }
}

export class TcpListener extends StreamListener {
  private server: net.Server | undefined;

  constructor(host: string, port: number, ctx: ServeContext, opts: TcpOptions = DEFAULT_TCP) {
    super(host, port, ctx, opts, false);
  }

  listen(port = this.port): Promise<number> {
    // allowHalfOpen: a client may send its queries and FIN; the replies still go out (end() after)
    const srv = net.createServer({ pauseOnConnect: false, noDelay: true, allowHalfOpen: true });
    this.server = srv;
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      srv.once('error', onErr);
      srv.on('connection', (sock) => this.accept(sock));
      // exclusive: false lets -workers (node:cluster) share one listening socket; outside a
      // cluster worker the flag changes nothing.
      srv.listen({ port, host: this.host, exclusive: false }, () => {
        srv.off('error', onErr);
        srv.on('error', (e) => this.ctx.log.error(`tcp ${this.host}:${port}: ${e.message}`));
        const a = srv.address() as net.AddressInfo;
        this.local = { ip: a.address, port: a.port };
        resolve(a.port);
      });
    });
  }

  private accept(sock: net.Socket): void {
    if (this.conns.size >= this.opts.maxConnections) {
      this.refused++;
      sock.destroy();
      return;
    }
    if (this.admit(sock)) this.open(sock);
  }

  /** Stop accepting; close idle connections now and the rest after `grace` ms. */
  close(grace = 0): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (srv === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      srv.close(() => resolve());
      // end() flushes replies already written (destroy() would drop them), then closes;
      // a peer that does not close its side is cut a second later.
      const kill = (): void => {
        for (const c of this.conns) {
          c.flush();
          c.sock.end();
          setTimeout(() => c.sock.destroy(), 1000).unref();
        }
      };
      if (grace > 0) setTimeout(kill, grace).unref();
      else kill();
    });
  }
}
