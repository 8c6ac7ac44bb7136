// One upstream: long-lived connected UDP sockets with an ID → pending map, a pool of reused TCP
// connections (closed after `expire` idle), reply validation (ID and question must match the
// query, else the reply is dropped and we keep waiting: anti-spoofing), and the in-band health
// check (probe `. IN NS` every interval until any reply comes back). A `tls://` upstream speaks
// DNS-over-TLS (RFC 7858) only: the TCP framing and connection pool, over node:tls.
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { randomFillSync } from 'node:crypto';
import type { UpstreamAddr } from './setup.js';
import { sameQuestion, skipName } from '../../src/plugin/api.js';

export class ExchangeError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'closed' | 'malformed',
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

// ---- wire checks ----



/** True when every record of the reply after the question is well-formed. */
export function wellFormed(buf: Uint8Array, qEnd: number): boolean {
  const n = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!) + ((buf[10]! << 8) | buf[11]!);
  let pos = qEnd;
  for (let i = 0; i < n; i++) {
    const p = skipName(buf, pos);
    if (p < 0 || p + 10 > buf.length) return false;
    pos = p + 10 + ((buf[p + 8]! << 8) | buf[p + 9]!);
    if (pos > buf.length) return false;
  }
  return true;
}

interface Pending {
  query: Uint8Array;
  qEnd: number;
  resolve(b: Buffer): void;
  reject(e: ExchangeError): void;
  /** TCP: the query's own timer. */
  timer?: NodeJS.Timeout;
  /** UDP: when the query times out (performance.now() ms), checked by the socket's sweep. */
  deadline?: number;
}

/** Check a reply against a pending query: undefined = not ours (drop, keep waiting); Error = ours but broken. */
function check(msg: Buffer, p: Pending): Buffer | ExchangeError | undefined {
  if (msg.length < 12 || (msg[2]! & 0x80) === 0) return undefined;
  if (!sameQuestion(msg, p.query, p.qEnd)) return undefined;
  if (!wellFormed(msg, p.qEnd)) return new ExchangeError('malformed reply', 'malformed');
  return msg;
}

const MAX_PENDING_PER_SOCKET = 8192;

/** How often a UDP socket looks for timed-out queries (a timeout fires up to this much late). */
const SWEEP_MS = 20;

class UdpConn {
  readonly sock: dgram.Socket;
  readonly pending = new Map<number, Pending>();
  private readonly ready: Promise<void>;
  private connected = false;
  /** Runs while queries are pending: one timer per socket instead of one per query. */
  private sweeper: NodeJS.Timeout | undefined;
  closed = false;

  constructor(addr: UpstreamAddr) {
    this.sock = dgram.createSocket(net.isIPv6(addr.host) ? 'udp6' : 'udp4');
    this.ready = new Promise<void>((resolve) => {
      // The callback also runs when connecting fails (no route, …): the socket is then unusable.
      this.sock.connect(addr.port, addr.host, (err?: Error) => {
        if (err) this.close(new ExchangeError(`udp connect: ${(err as NodeJS.ErrnoException).code ?? err.message}`, 'network'));
        else this.connected = true;
        resolve();
      });
    });
    this.sock.on('message', (msg) => {
      if (msg.length < 12) return;
      const id = (msg[0]! << 8) | msg[1]!;
      const p = this.pending.get(id);
      if (p === undefined) return; // unknown ID: late, or forged
      const r = check(msg, p);
      if (r === undefined) return; // wrong question: forged, keep waiting
      this.pending.delete(id);
      if (r instanceof ExchangeError) p.reject(r);
      else p.resolve(r);
    });
    // A connected socket reports ICMP port unreachable as ECONNREFUSED (on a send, or as an
    // 'error'): every query pending on this socket went to the same upstream, so fail them now
    // instead of waiting for timeouts.
    this.sock.on('error', (e: NodeJS.ErrnoException) => {
      this.failAll(new ExchangeError(`udp: ${e.code ?? e.message}`, 'network'));
    });
  }

  failAll(e: ExchangeError): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(e);
    }
  }

  exchange(query: Buffer, qEnd: number, timeout: number): Promise<Buffer> {
    let id = randomId();
    for (let i = 0; this.pending.has(id) && i < 16; i++) id = randomId();
    // (never overwrite a pending query: its promise would be in no map and never settle)
    if (this.pending.has(id)) return Promise.reject(new ExchangeError('udp: no free query ID', 'network'));
    query[0] = id >> 8;
    query[1] = id & 0xff;
    const q = Buffer.from(query); // our own copy: the caller may re-ID its buffer for another attempt
    return new Promise<Buffer>((resolve, reject) => {
      const p: Pending = { query: q, qEnd, resolve, reject, deadline: performance.now() + timeout };
      this.pending.set(id, p);
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
      if (this.connected) this.send(id, p);
      else void this.ready.then(() => this.send(id, p));
    });
  }

  private send(id: number, p: Pending): void {
    if (this.closed) return this.fail(id, p, 'udp: socket closed');
    try {
      // node:dgram reports a failed send only to its callback
      this.sock.send(p.query, (err) => {
        if (err) this.sendFailed(id, p, err as NodeJS.ErrnoException);
      });
    } catch (e) {
      this.fail(id, p, `udp send: ${(e as Error).message}`);
    }
  }

  /**
   * ECONNREFUSED (an ICMP port unreachable for an earlier datagram) says the upstream is not
   * there: every query pending on this connected socket fails now. Other errors (EMSGSIZE,
   * ENOBUFS, EPERM, …) belong to this datagram only.
   */
  private sendFailed(id: number, p: Pending, err: NodeJS.ErrnoException): void {
    const msg = `udp send: ${err.code ?? err.message}`;
    if (err.code === 'ECONNREFUSED') this.failAll(new ExchangeError(msg, 'network'));
    else this.fail(id, p, msg);
  }

  private fail(id: number, p: Pending, msg: string): void {
    if (this.pending.get(id) !== p) return;
    this.pending.delete(id);
    p.reject(new ExchangeError(msg, 'network'));
  }

  /** Time out the queries whose deadline has passed; stop when nothing is pending. */
  private sweep(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline! > now) continue;
      this.pending.delete(id);
      p.reject(new ExchangeError('i/o timeout', 'timeout'));
    }
    if (this.pending.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  close(reason = new ExchangeError('upstream closed', 'closed')): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(reason);
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }
}

class TcpConn {
  private acc: Buffer = Buffer.alloc(0);
  current: Pending | null = null;
  closed = false;
  used = 0;
  idleTimer: NodeJS.Timeout | null = null;
  readonly connected: Promise<void>;

  constructor(
    readonly sock: net.Socket,
    onClose: (c: TcpConn) => void,
    /** 'secureConnect' for TLS: usable once the handshake (and certificate check) is done. */
    readyEvent: 'connect' | 'secureConnect' = 'connect',
  ) {
    const what = readyEvent === 'connect' ? 'tcp' : 'tls';
    this.connected = new Promise<void>((resolve, reject) => {
      sock.once(readyEvent, () => resolve());
      sock.once('error', (e) => reject(new ExchangeError(`${what}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, 'network')));
      // Closed before being usable (e.g. the peer hung up during the handshake).
      sock.once('close', () => reject(new ExchangeError(`${what}: connection closed before ${readyEvent}`, 'network')));
    });
    this.connected.catch(() => {});
    sock.setNoDelay(true);
    sock.on('data', (d) => this.data(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      const p = this.current;
      this.current = null;
      if (p) {
        clearTimeout(p.timer);
        p.reject(new ExchangeError('tcp: connection closed', 'closed'));
      }
      onClose(this);
    });
  }

  private data(d: Buffer): void {
    this.acc = this.acc.length === 0 ? d : Buffer.concat([this.acc, d]);
    while (this.acc.length >= 2) {
      const len = this.acc.readUInt16BE(0);
      if (this.acc.length < 2 + len) return;
      const msg = Buffer.from(this.acc.subarray(2, 2 + len));
      this.acc = this.acc.subarray(2 + len);
      const p = this.current;
      if (p === null || len < 12 || msg[0] !== p.query[0] || msg[1] !== p.query[1]) continue;
      const r = check(msg, p);
      if (r === undefined) continue;
      this.current = null;
      clearTimeout(p.timer);
      if (r instanceof ExchangeError) p.reject(r);
      else p.resolve(r);
    }
  }

  exchange(query: Buffer, qEnd: number, timeout: number): Promise<Buffer> {
    const id = randomId();
    query[0] = id >> 8;
    query[1] = id & 0xff;
    const q = Buffer.from(query);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.current = null;
        this.sock.destroy();
        reject(new ExchangeError('i/o timeout', 'timeout'));
      }, timeout);
      this.current = { query: q, qEnd, resolve, reject, timer };
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(q.length);
      this.connected.then(
        () => {
          if (!this.closed) this.sock.write(Buffer.concat([len, q]));
        },
        (e: ExchangeError) => {
          if (this.current?.query === q) {
            this.current = null;
            clearTimeout(timer);
            reject(e);
          }
        },
      );
    });
  }
}

/** A bound metric child. */
export interface Inc {
  inc(): void;
}

export interface ProxyOptions {
  expire: number;
  maxIdleConns: number;
  healthCheck: { interval: number; recursionDesired: boolean; domain: string };
  /** Health probes over TCP (force_tcp). */
  hcTcp: boolean;
  hcTimeout: number;
  connHits: { udp: Inc; tcp: Inc; tls: Inc };
  connMisses: { udp: Inc; tcp: Inc; tls: Inc };
  /** Client TLS options for a tls:// upstream (CA, client cert, server name, TLS ≥ 1.2). */
  tls?: tls.ConnectionOptions;
  hcFailures: Inc;
  log: { debug(m: string): void };
}

export class Proxy {
  /** Consecutive failed health probes. */
  fails = 0;
  private checking = false;
  private hcTimer: NodeJS.Timeout | null = null;
  private udp: UdpConn[] = [];
  private idle: TcpConn[] = [];
  private readonly live = new Set<TcpConn>();
  private closed = false;

  constructor(
    readonly addr: UpstreamAddr,
    private readonly o: ProxyOptions,
  ) {}

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
    return proto === 'udp' && !this.tls ? this.udpConn().exchange(query, qEnd, timeout) : this.tcpExchange(query, qEnd, timeout, true);
  }

  private udpConn(): UdpConn {
    if (this.udp.some((c) => c.closed)) this.udp = this.udp.filter((c) => !c.closed);
    for (const c of this.udp) {
      if (c.pending.size < MAX_PENDING_PER_SOCKET) {
        this.o.connHits.udp.inc();
        return c;
      }
    }
    this.o.connMisses.udp.inc();
    const c = new UdpConn(this.addr);
    this.udp.push(c);
    return c;
  }

  private takeTcp(): TcpConn {
    const now = Date.now();
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (c.idleTimer) clearTimeout(c.idleTimer);
      c.idleTimer = null;
      if (c.closed || now - c.used >= this.o.expire) {
        c.sock.destroy();
        continue;
      }
      (this.tls ? this.o.connHits.tls : this.o.connHits.tcp).inc();
      return c;
    }
    const onClose = (x: TcpConn): void => {
      this.live.delete(x);
      const i = this.idle.indexOf(x);
      if (i >= 0) this.idle.splice(i, 1);
    };
    let c: TcpConn;
    if (this.tls) {
      this.o.connMisses.tls.inc();
      const sock = tls.connect({ ...this.o.tls, host: this.addr.host, port: this.addr.port });
      c = new TcpConn(sock, onClose, 'secureConnect');
    } else {
      this.o.connMisses.tcp.inc();
      c = new TcpConn(net.connect({ host: this.addr.host, port: this.addr.port }), onClose);
    }
    this.live.add(c);
    return c;
  }

  private async tcpExchange(query: Buffer, qEnd: number, timeout: number, mayRetry: boolean): Promise<Buffer> {
    const c = this.takeTcp();
    const reused = c.used !== 0;
    const start = Date.now();
    try {
      const r = await c.exchange(query, qEnd, timeout);
      c.used = Date.now();
      this.release(c);
      return r;
    } catch (e) {
      c.sock.destroy();
      // A cached connection the upstream closed meanwhile: try once more on a fresh one.
      if (mayRetry && reused && e instanceof ExchangeError && e.kind === 'closed') {
        const left = timeout - (Date.now() - start);
        if (left > 0) return this.tcpExchange(query, qEnd, left, false);
      }
      throw e;
    }
  }

  private release(c: TcpConn): void {
    if (this.closed || c.closed || (this.o.maxIdleConns > 0 && this.idle.length >= this.o.maxIdleConns)) {
      c.sock.destroy();
      return;
    }
    c.idleTimer = setTimeout(() => c.sock.destroy(), this.o.expire);
    c.idleTimer.unref();
    this.idle.push(c);
  }

  /** Start probing (if not already): every interval until the upstream answers anything. */
  healthcheck(): void {
    if (this.checking || this.closed) return;
    this.checking = true;
    this.probe();
  }

  private probeWire(): Buffer {
    const hc = this.o.healthCheck;
    const labels = hc.domain === '.' ? [] : hc.domain.replace(/\.$/, '').split('.');
    let len = 12 + 1 + 4;
    for (const l of labels) len += 1 + Buffer.byteLength(l);
    const b = Buffer.alloc(len);
    b[2] = hc.recursionDesired ? 0x01 : 0;
    b[5] = 1;
    let p = 12;
    for (const l of labels) {
      b[p] = Buffer.byteLength(l);
      b.write(l, p + 1);
      p += 1 + b[p]!;
    }
    b[p++] = 0;
    b[p++] = 0;
    b[p++] = 2; // NS
    b[p++] = 0;
    b[p++] = 1; // IN
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

  close(): void {
    this.closed = true;
    if (this.hcTimer) clearTimeout(this.hcTimer);
    for (const c of this.udp) c.close();
    this.udp = [];
    for (const c of this.live) c.sock.destroy();
    this.live.clear();
    this.idle = [];
  }
}
