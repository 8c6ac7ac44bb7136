// One upstream. UDP: a few connected sockets on random local ports, taken in turn and each
// replaced by a fresh one (a new random port) after UDP_QUERIES_PER_SOCKET queries or
// UDP_SOCKET_LIFETIME, with an ID → pending map and one timeout sweep per socket; on the native
// module the queries of one turn leave in one sendmmsg per socket and replies come in recvmmsg
// batches (src/server/udp-native.ts), else on node:dgram. TCP and TLS: at
// most TCP_MAX_CONNS connections, each carrying up to TCP_MAX_PIPELINE queries at once (matched by
// ID), a bounded queue behind them, idle ones closed after `expire`. Every reply is checked
// against the query its ID was given to (ID, then question; else dropped and counted while the
// real one is awaited: anti-spoofing) and must parse as a whole (every name, compression pointers
// followed) before it is relayed. Health checks are in-band: probe `. IN NS` every interval until
// any reply comes back. A `tls://` upstream speaks DNS-over-TLS (RFC 7858) only.
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { UpstreamAddr } from './setup.js';
import { FrameGather, FrameReader, QCLASS, QTYPE, encodeName, sameQuestion, wellFormedMessage } from '../../src/plugin/api.js';
import { NativeUdpClient, nativeUdpClients, udpFirst } from '../../src/server/udp-native.js';

export class ExchangeError extends Error {
  constructor(
    message: string,
    /** 'busy': no room for the query here (not the upstream's fault: no health check). */
    readonly kind: 'timeout' | 'network' | 'closed' | 'malformed' | 'busy',
  ) {
    super(message);
  }
}

// ---- random IDs: crypto bytes fetched in batches (one randomFillSync per 2048 IDs) ----
const idPool = Buffer.allocUnsafe(4096);
let idPos = idPool.length;
export function randomId(): number {
  if (idPos >= idPool.length) {
    randomFillSync(idPool);
    idPos = 0;
  }
  const id = (idPool[idPos]! << 8) | idPool[idPos + 1]!;
  idPos += 2;
  return id;
}

// ---- limits ----

/** UDP sockets per upstream: consecutive queries take them in turn, so they leave from several ports. */
export const UDP_SOCKETS = 4;
/** A UDP socket takes no new query after this many… */
export const UDP_QUERIES_PER_SOCKET = 1000;
/** …or this long (ms) after it was opened: a replacement bound to a new random port takes its place. */
export const UDP_SOCKET_LIFETIME = 10_000;
/** Queries pending on one UDP socket at most (IDs are unique per socket). */
const MAX_PENDING_PER_SOCKET = 8192;
/** TCP or TLS connections open to one upstream at most. */
export const TCP_MAX_CONNS = 16;
/** Queries in flight on one TCP or TLS connection at most (pipelined, replies matched by ID). */
export const TCP_MAX_PIPELINE = 64;
/** Queries waiting for room on a connection, per upstream; one more fails at once. */
export const TCP_MAX_WAITING = 2048;
/** How long an upstream that dropped pipelined queries gets one query per connection. */
const NO_PIPELINING_MS = 60_000;

/** How often pending queries are checked for their deadline (a timeout fires up to this much late). */
const SWEEP_MS = 20;

/** One query on the wire, waiting for its reply. One shape for UDP and TCP. */
class Pending {
  /** The ID it was sent with (on its current socket or connection). */
  id = 0;
  /** TCP: the connection's reply count when it was sent (nothing read since = the connection is dead). */
  mark = 0;
  /** TCP: already re-sent once after its connection closed. */
  retried = false;
  constructor(
    /** What is written: the query with its ID (UDP); TCP: the caller's query, framed with the connection's ID as it is written. */
    readonly wire: Buffer,
    /** The query (its question is what a reply must carry). */
    readonly query: Buffer,
    readonly qEnd: number,
    readonly resolve: (b: Buffer) => void,
    readonly reject: (e: ExchangeError) => void,
    /** performance.now() ms after which it times out. */
    readonly deadline: number,
  ) {}
}

/** A bound metric child. */
export interface Inc {
  inc(): void;
}

/** Replies that were not taken, by why. */
export interface Rejected {
  /** No query with that ID is pending on the socket or connection (late, or forged). */
  id: Inc;
  /** The ID is pending but the question differs, or it is not a response (forged, or confused). */
  question: Inc;
  /** Matched, but the message does not parse (the attempt fails). */
  malformed: Inc;
}

/**
 * Check a reply against the query its ID was given to: undefined = not that query's reply (dropped,
 * counted, the query keeps waiting); an Error = its reply, but broken.
 */
function check(msg: Buffer, p: Pending, rej: Rejected): Buffer | ExchangeError | undefined {
  if ((msg[2]! & 0x80) === 0 || !sameQuestion(msg, p.query, p.qEnd)) {
    rej.question.inc();
    return undefined;
  }
  if (!wellFormedMessage(msg)) {
    rej.malformed.inc();
    return new ExchangeError('malformed reply', 'malformed');
  }
  return msg;
}

/** What `capture`, the executor every UDP query's promise shares, was last given. */
const captured: { resolve: ((b: Buffer) => void) | undefined; reject: ((e: ExchangeError) => void) | undefined } = { resolve: undefined, reject: undefined };
function capture(resolve: (b: Buffer) => void, reject: (e: ExchangeError) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** A free ID among `pending`'s, or -1. */
function freeId(pending: Map<number, Pending>): number {
  let id = randomId();
  for (let i = 0; pending.has(id) && i < 16; i++) id = randomId();
  return pending.has(id) ? -1 : id;
}

/**
 * UDP to upstreams on the native module's client sockets (src/server/udp-native.ts): the queries
 * of one turn leave in one sendmmsg per socket, replies come in batches (recvmmsg). Off when the
 * module is not built, predates client sockets, or TYPEDNS_NATIVE_UDP=0: then node:dgram.
 */
let nativeClients: boolean | undefined;
const useNativeClients = (): boolean => (nativeClients ??= nativeUdpClients());

/** Tests: force node:dgram (false) or the native client sockets (true, when available); undefined: the default. */
export function setNativeUdpClients(on: boolean | undefined): void {
  nativeClients = on === undefined ? undefined : on && nativeUdpClients();
}

/**
 * A connected UDP socket on a random local port; queries matched to replies by ID, then question.
 * On the native module (useNativeClients) or node:dgram: the same checks, pending map and sweep.
 */
class UdpConn {
  /** node:dgram's socket, or undefined on the native path. */
  readonly sock: dgram.Socket | undefined;
  /** The native client socket, or undefined on node:dgram (or when it could not be opened). */
  private readonly nat: NativeUdpClient<Pending> | undefined;
  /** Why a native socket could not be opened (its queries fail with it). */
  private openError: ExchangeError | undefined;
  readonly pending = new Map<number, Pending>();
  connected = false;
  closed = false;
  /** Queries sent on it, and when it was opened (performance.now() ms). */
  sent = 0;
  readonly born = performance.now();
  /** Takes no new query; closes once nothing is pending. */
  retired = false;
  /** The socket that takes this one's place in the rotation once it is connected. */
  successor: UdpConn | undefined;
  /** Queries made before the socket was connected: sent on connect. */
  private unsent: Pending[] | null = null;
  /** Runs while queries are pending: one timer per socket instead of one per query. */
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    addr: UpstreamAddr,
    private readonly rej: Rejected,
    private readonly onClose: (c: UdpConn) => void,
  ) {
    // (a scoped IPv6 address, fe80::1%eth0, is node:dgram's to resolve)
    if (useNativeClients() && !addr.host.includes('%')) {
      this.sock = undefined;
      let nat: NativeUdpClient<Pending> | undefined;
      try {
        // connect() without bind: a port the kernel picks at random from the ephemeral range
        nat = new NativeUdpClient<Pending>(
          addr.host,
          addr.port,
          (b, off, len) => this.nativeReply(b, off, len),
          (code) => this.failAll(new ExchangeError(`udp: ${code}`, 'network')),
          (p, code) => this.sendFailed(p, code),
        );
        this.connected = true;
      } catch (e) {
        this.openError = new ExchangeError(`udp connect: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'network');
        this.closed = true;
      }
      this.nat = nat;
      return;
    }
    this.nat = undefined;
    // No bind: connect() binds to a port the kernel picks at random from the ephemeral range.
    const sock = dgram.createSocket(net.isIPv6(addr.host) ? 'udp6' : 'udp4');
    this.sock = sock;
    // The callback also runs when connecting fails (no route, …): the socket is then unusable.
    sock.connect(addr.port, addr.host, (err?: Error) => {
      if (err) return this.close(new ExchangeError(`udp connect: ${(err as NodeJS.ErrnoException).code ?? err.message}`, 'network'));
      this.connected = true;
      const q = this.unsent;
      this.unsent = null;
      if (q !== null) for (const p of q) this.send(p);
    });
    sock.on('message', (msg) => this.reply(msg));
    // A connected socket reports ICMP port unreachable as ECONNREFUSED (on a send, or as an
    // 'error'): every query pending on this socket went to the same upstream, so fail them now
    // instead of waiting for timeouts. (The native socket reports it to its onError.)
    sock.on('error', (e: NodeJS.ErrnoException) => {
      this.failAll(new ExchangeError(`udp: ${e.code ?? e.message}`, 'network'));
    });
  }

  /** A datagram from the upstream's address and port: the reply of the query its ID and question match, or dropped. */
  private reply(msg: Buffer): void {
    const p = msg.length < 12 ? undefined : this.pending.get((msg[0]! << 8) | msg[1]!);
    if (p === undefined) {
      this.rej.id.inc(); // unknown ID: late, or forged
      return;
    }
    const r = check(msg, p, this.rej);
    if (r === undefined) return; // not this query's reply: keep waiting for it
    this.pending.delete(p.id);
    if (r instanceof ExchangeError) p.reject(r);
    else p.resolve(r);
    if (this.retired && this.pending.size === 0) this.close();
  }

  /** A reply read by the native socket, in its shared area (bytes[off, off+len)): checked on its own copy. */
  private nativeReply(b: Buffer, off: number, len: number): void {
    if (len < 12 || !this.pending.has((b[off]! << 8) | b[off + 1]!)) {
      this.rej.id.inc();
      return;
    }
    const msg = Buffer.allocUnsafe(len);
    b.copy(msg, 0, off, off + len);
    this.reply(msg);
  }

  /** The local (random) port the socket sends from; 0 before it is bound. */
  get localPort(): number {
    if (this.nat !== undefined) return this.nat.localPort;
    try {
      return this.sock?.address().port ?? 0;
    } catch {
      return 0;
    }
  }

  failAll(e: ExchangeError): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(e);
    }
    if (this.retired) this.close();
  }

  /** Send a query; `now` is performance.now(). Rejects 'busy' when every ID is taken. */
  exchange(query: Buffer, qEnd: number, timeout: number, now: number): Promise<Buffer> {
    if (this.openError !== undefined) return Promise.reject(this.openError);
    const id = freeId(this.pending);
    // (never overwrite a pending query: its promise would be in no map and never settle)
    if (id < 0) return Promise.reject(new ExchangeError('udp: no free query ID', 'busy'));
    let q = query;
    if (this.nat === undefined) {
      q = Buffer.from(query); // our own copy: the caller may re-ID its buffer for another attempt
      q[0] = id >> 8;
      q[1] = id & 0xff;
    } // native: the bytes are copied into the send queue with the ID (only the question is matched later)
    this.sent++;
    // one shared executor (no closure made per query): it hands over the promise's functions
    const promise = new Promise<Buffer>(capture);
    const p = new Pending(q, q, qEnd, captured.resolve!, captured.reject!, now + timeout);
    captured.resolve = captured.reject = undefined;
    p.id = id;
    this.pending.set(id, p);
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    if (this.connected) this.send(p);
    else (this.unsent ??= []).push(p);
    return promise;
  }

  private send(p: Pending): void {
    if (this.closed) return this.fail(p, 'udp: socket closed');
    // native: queued for the turn's sendmmsg (a refused datagram comes back to sendFailed)
    if (this.nat !== undefined) return this.nat.send(p.wire, p, p.id);
    try {
      // node:dgram reports a failed send only to its callback
      this.sock!.send(p.wire, (err) => {
        if (err) this.sendFailed(p, (err as NodeJS.ErrnoException).code ?? err.message);
      });
    } catch (e) {
      this.fail(p, `udp send: ${(e as Error).message}`);
    }
  }

  /**
   * ECONNREFUSED (an ICMP port unreachable for an earlier datagram) says the upstream is not
   * there: every query pending on this connected socket fails now. Other errors (EMSGSIZE,
   * ENOBUFS, EPERM, …) belong to this datagram only.
   */
  private sendFailed(p: Pending, code: string): void {
    const msg = `udp send: ${code}`;
    if (code === 'ECONNREFUSED') this.failAll(new ExchangeError(msg, 'network'));
    else this.fail(p, msg);
  }

  private fail(p: Pending, msg: string): void {
    if (this.pending.get(p.id) !== p) return;
    this.pending.delete(p.id);
    p.reject(new ExchangeError(msg, 'network'));
    if (this.retired && this.pending.size === 0) this.close();
  }

  /** Time out the queries whose deadline has passed; stop when nothing is pending. */
  private sweep(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(id);
      p.reject(new ExchangeError('i/o timeout', 'timeout'));
    }
    if (this.pending.size === 0) {
      if (this.sweeper !== undefined) clearInterval(this.sweeper);
      this.sweeper = undefined;
      if (this.retired) this.close();
    }
  }

  /** Out of the rotation: no new queries; closed when the pending ones are settled. */
  retire(): void {
    this.retired = true;
    if (this.pending.size === 0) this.close();
  }

  close(reason = new ExchangeError('upstream closed', 'closed')): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(reason);
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    if (this.nat !== undefined) this.nat.close();
    else {
      try {
        this.sock?.close();
      } catch {
        // already closed
      }
    }
    this.successor?.close(reason);
    this.onClose(this);
  }
}

/** What a TCP connection tells its upstream. */
interface TcpOwner {
  readonly rej: Rejected;
  /** Replies came in or queries timed out: room for waiting queries; maybe idle now. */
  tcpFreed(c: TcpConn): void;
  /** The connection is gone; these queries were still pending on it. */
  tcpClosed(c: TcpConn, pending: Pending[], err: ExchangeError): void;
  /** The upstream closed a connection that had answered while more queries were pending on it. */
  tcpNoPipelining(): void;
}

/**
 * One TCP (or TLS) connection carrying up to TCP_MAX_PIPELINE queries at once (RFC 7766
 * pipelining): each gets an ID unique on the connection, replies may come in any order.
 */
class TcpConn {
  readonly pending = new Map<number, Pending>();
  private readonly frames = new FrameReader();
  ready = false;
  closed = false;
  /** Closed by us (destroy()), not by the upstream. */
  private ours = false;
  /** Replies read so far (a pending query whose mark equals this has seen nothing come back since it was sent). */
  rx = 0;
  /** Queries written before the connection was up: sent on connect. */
  private unsent: Pending[] = [];
  /** The queries of this tick, framed with their IDs, for one write at its end. */
  private readonly out = new FrameGather();
  private flushQueued = false;
  private err: ExchangeError | undefined;
  private readonly flush = (): void => {
    this.flushQueued = false;
    const b = this.out.take();
    if (b !== undefined && !this.sock.destroyed) this.sock.write(b);
  };

  constructor(
    readonly sock: net.Socket,
    private readonly owner: TcpOwner,
    /** 'secureConnect' for TLS: usable once the handshake (and certificate check) is done. */
    readyEvent: 'connect' | 'secureConnect',
    expire: number,
  ) {
    const what = readyEvent === 'connect' ? 'tcp' : 'tls';
    sock.setNoDelay(true);
    sock.once(readyEvent, () => {
      this.ready = true;
      const q = this.unsent;
      this.unsent = [];
      for (const p of q) this.out.add(p.wire, p.id);
      this.flush();
    });
    // Closed idle for `expire`: socket inactivity, with nothing pending.
    sock.setTimeout(expire, () => {
      if (this.pending.size === 0) this.destroy();
    });
    sock.on('data', (d: Buffer) => this.data(d));
    // The upstream is closing it: no more queries on it (the pending ones go elsewhere on 'close').
    sock.on('end', () => (this.closed = true));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      this.err ??= new ExchangeError(`${what}: ${e.code ?? e.message}`, this.ready ? 'closed' : 'network');
    });
    sock.on('close', () => {
      this.closed = true;
      if (!this.ours && this.ready && this.rx > 0 && this.pending.size > 0) owner.tcpNoPipelining();
      // Not usable yet: the upstream is unreachable (refused, handshake failed); no retry.
      const err = this.ready ? new ExchangeError(`${what}: connection closed`, 'closed') : (this.err ?? new ExchangeError(`${what}: connection closed before ${readyEvent}`, 'network'));
      const left = [...this.pending.values()];
      this.pending.clear();
      this.unsent = [];
      this.out.clear();
      owner.tcpClosed(this, left, err);
    });
  }

  destroy(): void {
    this.closed = true;
    this.ours = true;
    this.sock.destroy();
  }

  /** Send `p` with an ID free on this connection. */
  send(p: Pending): void {
    const id = freeId(this.pending); // at most TCP_MAX_PIPELINE taken: always found
    p.id = id;
    p.mark = this.rx;
    this.pending.set(id, p);
    if (!this.ready) {
      this.unsent.push(p);
      return;
    }
    // Queries sent in one tick go out in one write (framed with this connection's ID for them;
    // the caller's bytes are not touched).
    this.out.add(p.wire, id);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  }

  private data(d: Buffer): void {
    // UDP queries that came while the turn ran stream work are served before these replies
    udpFirst();
    const frames = this.frames;
    frames.push(d);
    let freed = false;
    const rej = this.owner.rej;
    // each reply copied out of the chunk at once (the chunk holds others; a view first would be one more object)
    for (let msg = frames.nextCopy(); msg !== undefined; msg = frames.nextCopy()) {
      this.rx++;
      const p = msg.length < 12 ? undefined : this.pending.get((msg[0]! << 8) | msg[1]!);
      if (p === undefined) {
        rej.id.inc();
        continue;
      }
      const r = check(msg, p, rej);
      if (r === undefined) continue;
      this.pending.delete(p.id);
      freed = true;
      if (r instanceof ExchangeError) p.reject(r);
      else p.resolve(r);
    }
    frames.compact(true);
    if (freed) this.owner.tcpFreed(this);
  }
}

export interface UpstreamOptions {
  expire: number;
  maxIdleConns: number;
  healthCheck: { interval: number; recursionDesired: boolean; domain: string };
  /** Health probes over TCP (force_tcp). */
  hcTcp: boolean;
  hcTimeout: number;
  connHits: { udp: Inc; tcp: Inc; tls: Inc };
  connMisses: { udp: Inc; tcp: Inc; tls: Inc };
  rejected: Rejected;
  /** Client TLS options for a tls:// upstream (CA, client cert, server name, TLS ≥ 1.2). */
  tls?: tls.ConnectionOptions;
  hcFailures: Inc;
  log: { debug(m: string): void };
}

export class Upstream implements TcpOwner {
  /** Consecutive failed health probes. */
  fails = 0;
  private checking = false;
  private hcTimer: NodeJS.Timeout | null = null;
  /** The UDP rotation (UDP_SOCKETS slots, opened on first use). */
  private readonly udp: Array<UdpConn | undefined> = [];
  private udpNext = 0;
  /** Retired UDP sockets still waiting for replies. */
  private readonly draining = new Set<UdpConn>();
  private readonly onUdpClose = (c: UdpConn): void => {
    this.draining.delete(c);
  };
  /** Open (or opening) TCP/TLS connections, at most TCP_MAX_CONNS. */
  private readonly tcp: TcpConn[] = [];
  /** Queries waiting for room on a connection (FIFO from `waitHead`). */
  private waiting: Pending[] = [];
  private waitHead = 0;
  private tcpSweeper: NodeJS.Timeout | undefined;
  /**
   * Queries in flight on one connection: TCP_MAX_PIPELINE, or 1 for a minute after the upstream
   * closed a connection having answered only some of the queries sent on it (a server that takes
   * one query per connection, or does not read past the first; or one that restarted).
   */
  private pipeline = TCP_MAX_PIPELINE;
  private pipelineTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly rej: Rejected;
  /** Its label as a metadata value (forward/upstream): one function, not one made per reply. */
  readonly labelValue = (): string => this.addr.label;

  constructor(
    readonly addr: UpstreamAddr,
    private readonly o: UpstreamOptions,
  ) {
    this.rej = o.rejected;
  }

  /** Down after max_fails consecutive failed probes; never with max_fails 0. */
  down(maxFails: number): boolean {
    return maxFails > 0 && this.fails >= maxFails;
  }

  /** True for a tls:// upstream: every exchange goes over TLS, whatever the asked protocol. */
  get tls(): boolean {
    return this.addr.tls === true;
  }

  exchange(query: Buffer, qEnd: number, proto: 'udp' | 'tcp', timeout: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ExchangeError('upstream closed', 'closed'));
    if (proto === 'tcp' || this.tls) return this.tcpExchange(query, qEnd, timeout);
    const now = performance.now();
    const c = this.udpConn(now);
    if (c === undefined) return Promise.reject(new ExchangeError('udp: too many queries pending', 'busy'));
    return c.exchange(query, qEnd, timeout, now);
  }

  private openUdp(): UdpConn {
    this.o.connMisses.udp.inc();
    return new UdpConn(this.addr, this.rej, this.onUdpClose);
  }

  /** The next socket of the rotation, replaced first when it has served its queries or its time. */
  private udpConn(now: number): UdpConn | undefined {
    const i = this.udpNext;
    this.udpNext = i + 1 === UDP_SOCKETS ? 0 : i + 1;
    let c = this.udp[i];
    if (c === undefined || c.closed) {
      c = this.openUdp();
      this.udp[i] = c;
      return c;
    }
    if (c.sent >= UDP_QUERIES_PER_SOCKET || now - c.born >= UDP_SOCKET_LIFETIME) {
      // The replacement is opened now and takes over once connected: no query waits for it.
      let n = c.successor;
      if (n === undefined || n.closed) {
        n = this.openUdp();
        c.successor = n;
      }
      if (n.connected) {
        c.successor = undefined;
        this.udp[i] = n;
        this.draining.add(c);
        c.retire();
        c = n;
      }
    }
    if (c.pending.size >= MAX_PENDING_PER_SOCKET) return undefined;
    this.o.connHits.udp.inc();
    return c;
  }

  private tcpExchange(query: Buffer, qEnd: number, timeout: number): Promise<Buffer> {
    if (this.waiting.length - this.waitHead >= TCP_MAX_WAITING) {
      return Promise.reject(new ExchangeError(`${this.tls ? 'tls' : 'tcp'}: too many queries waiting for a connection`, 'busy'));
    }
    // one shared executor (no closure made per query), as for UDP
    const promise = new Promise<Buffer>(capture);
    const p = new Pending(query, query, qEnd, captured.resolve!, captured.reject!, performance.now() + timeout);
    captured.resolve = captured.reject = undefined;
    this.dispatch(p);
    return promise;
  }

  /** Send on a connection with room, or queue (bounded), or fail 'busy'. */
  private dispatch(p: Pending): void {
    if (this.closed) return p.reject(new ExchangeError('upstream closed', 'closed'));
    const c = this.waitHead === this.waiting.length ? this.pickTcp() : undefined;
    if (c !== undefined) c.send(p);
    else if (this.waiting.length - this.waitHead < TCP_MAX_WAITING) this.waiting.push(p);
    else return p.reject(new ExchangeError(`${this.tls ? 'tls' : 'tcp'}: too many queries waiting for a connection`, 'busy'));
    this.tcpSweeper ??= setInterval(() => this.tcpSweep(), SWEEP_MS).unref();
  }

  /**
   * A connection for one more query: an idle one; else a new one while fewer than TCP_MAX_CONNS
   * are open; else the least busy with fewer than TCP_MAX_PIPELINE in flight (an upstream that
   * answers a connection's queries one after another, as miekg/dns and so CoreDNS do, answers a
   * burst spread over every connection sooner than one packed onto a few); else none.
   */
  private pickTcp(): TcpConn | undefined {
    let best: TcpConn | undefined;
    for (const c of this.tcp) {
      if (c.closed) continue;
      const n = c.pending.size;
      if (n === 0) {
        (this.tls ? this.o.connHits.tls : this.o.connHits.tcp).inc();
        return c;
      }
      if (n < this.pipeline && (best === undefined || n < best.pending.size)) best = c;
    }
    if (this.tcp.length < TCP_MAX_CONNS) return this.openTcp();
    if (best !== undefined) (this.tls ? this.o.connHits.tls : this.o.connHits.tcp).inc();
    return best;
  }

  private openTcp(): TcpConn {
    let c: TcpConn;
    if (this.tls) {
      this.o.connMisses.tls.inc();
      c = new TcpConn(tls.connect({ ...this.o.tls, host: this.addr.host, port: this.addr.port }), this, 'secureConnect', this.o.expire);
    } else {
      this.o.connMisses.tcp.inc();
      c = new TcpConn(net.connect({ host: this.addr.host, port: this.addr.port }), this, 'connect', this.o.expire);
    }
    this.tcp.push(c);
    return c;
  }

  /** The next waiting query, or undefined. */
  private nextWaiting(): Pending | undefined {
    if (this.waitHead === this.waiting.length) return undefined;
    const p = this.waiting[this.waitHead]!;
    this.waiting[this.waitHead++] = undefined as unknown as Pending;
    if (this.waitHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitHead = 0;
    } else if (this.waitHead >= 1024 && this.waitHead * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitHead);
      this.waitHead = 0;
    }
    return p;
  }

  tcpFreed(c: TcpConn): void {
    // Room on `c`: waiting queries go first (they wait only while every connection is full).
    while (!c.closed && c.pending.size < this.pipeline) {
      const p = this.nextWaiting();
      if (p === undefined) break;
      c.send(p);
    }
    if (c.pending.size !== 0 || c.closed) return;
    if (this.closed) return c.destroy();
    if (this.o.maxIdleConns > 0) {
      let idle = 0;
      for (const x of this.tcp) if (!x.closed && x.pending.size === 0) idle++;
      if (idle > this.o.maxIdleConns) c.destroy();
    }
  }

  tcpNoPipelining(): void {
    if (this.closed) return;
    if (this.pipeline !== 1) this.o.log.debug(`${this.addr.label} closed a connection with queries pending on it: one query per connection for a minute`);
    this.pipeline = 1;
    if (this.pipelineTimer !== undefined) clearTimeout(this.pipelineTimer);
    this.pipelineTimer = setTimeout(() => (this.pipeline = TCP_MAX_PIPELINE), NO_PIPELINING_MS).unref();
  }

  tcpClosed(c: TcpConn, left: Pending[], err: ExchangeError): void {
    const i = this.tcp.indexOf(c);
    if (i >= 0) this.tcp.splice(i, 1);
    const now = performance.now();
    for (const p of left) {
      // A connection the upstream closed (idle, or it takes only so many queries): on another one.
      // Sent on a connection that had already answered (the upstream closed one we were reusing):
      // each time, there are only so many such; sent on a fresh one: once.
      if (err.kind === 'closed' && (p.mark > 0 || !p.retried) && p.deadline > now && !this.closed) {
        p.retried = true;
        this.dispatch(p);
      } else p.reject(err);
    }
    // Room for a new connection: the waiting queries get one.
    while (this.waitHead !== this.waiting.length && !this.closed) {
      const x = this.pickTcp();
      if (x === undefined) break;
      x.send(this.nextWaiting()!);
    }
  }

  /** Time out TCP queries (in flight or waiting); a connection on which nothing came back since a query that timed out is dead. */
  private tcpSweep(): void {
    const now = performance.now();
    let busy = false;
    for (const c of this.tcp) {
      if (c.pending.size === 0 || c.closed) continue;
      let dead = false;
      let freed = false;
      for (const [id, p] of c.pending) {
        if (p.deadline > now) continue;
        c.pending.delete(id);
        freed = true;
        if (c.rx === p.mark) dead = true;
        p.reject(new ExchangeError('i/o timeout', 'timeout'));
      }
      if (dead) c.destroy();
      else if (freed) this.tcpFreed(c);
      if (c.pending.size > 0) busy = true;
    }
    if (this.waitHead !== this.waiting.length) {
      const keep: Pending[] = [];
      for (let i = this.waitHead; i < this.waiting.length; i++) {
        const p = this.waiting[i]!;
        if (p.deadline > now) keep.push(p);
        else p.reject(new ExchangeError('i/o timeout', 'timeout'));
      }
      this.waiting = keep;
      this.waitHead = 0;
      if (keep.length > 0) busy = true;
    }
    if (!busy && this.tcpSweeper !== undefined) {
      clearInterval(this.tcpSweeper);
      this.tcpSweeper = undefined;
    }
  }

  /** Start probing (if not already): every interval until the upstream answers anything. */
  healthcheck(): void {
    if (this.checking || this.closed) return;
    this.checking = true;
    this.probe();
  }

  private probeWire(): Buffer {
    const hc = this.o.healthCheck;
    const name = encodeName(hc.domain); // checked when the Corefile was parsed
    const b = Buffer.alloc(12 + name.length + 4);
    b[2] = hc.recursionDesired ? 0x01 : 0;
    b[5] = 1;
    b.set(name, 12);
    b[12 + name.length + 1] = QTYPE.NS;
    b[12 + name.length + 3] = QCLASS.IN;
    return b;
  }

  private probe(): void {
    if (this.closed) return;
    const q = this.probeWire();
    this.exchange(q, q.length, this.o.hcTcp ? 'tcp' : 'udp', this.o.hcTimeout).then(
      () => {
        this.fails = 0;
        this.checking = false;
      },
      (e: unknown) => {
        this.fails++;
        this.o.hcFailures.inc();
        this.o.log.debug(`health check of ${this.addr.label} failed (${this.fails}): ${e instanceof Error ? e.message : String(e)}`);
        if (this.closed) return;
        this.hcTimer = setTimeout(() => this.probe(), this.o.healthCheck.interval);
        this.hcTimer.unref();
      },
    );
  }

  /**
   * No new queries; the ones in flight finish (a reload's old configuration closes its upstreams
   * while they still wait for replies): each socket closes once nothing is pending on it, or its
   * queries time out. Queries still waiting for a TCP connection fail now.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.hcTimer) clearTimeout(this.hcTimer);
    for (const c of this.udp) c?.retire();
    this.udp.length = 0;
    for (const c of this.tcp) if (c.pending.size === 0) c.destroy();
    for (let p = this.nextWaiting(); p !== undefined; p = this.nextWaiting()) p.reject(new ExchangeError('upstream closed', 'closed'));
    if (this.pipelineTimer !== undefined) clearTimeout(this.pipelineTimer);
  }
}
