// DNS over TLS (RFC 7858), a tls:// block's listener: TLS 1.2 or later, then TCP's 2-byte
// framing; queries on one connection are pipelined and answered as each is ready (out of order,
// RFC 7766 §6.2.1.1), with an idle timeout, a read deadline for a started message, a cap on open
// connections, on connections per client address and on queries in the chain per connection. A
// reply is padded (RFC 8467) when the query carried the EDNS(0) Padding option. Without a certificate (no `tls` plugin in the block)
// it serves DNS over plain TCP, as CoreDNS does.
import net from 'node:net';
import tls from 'node:tls';
import type { Client, ClientAuth, ListenTls } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { padReply, queryWantsPadding } from '../dns/padding.js';
import { FrameReader, frame } from '../dns/frame.js';
import { serveQuery, type ServeContext } from './serve.js';
import { clientOf } from './udp.js';
import { PerClient, QueryLimit } from './tcp.js';

/** The connection limits a stream listener applies (the TCP listener's settings). */
export interface StreamLimits {
  /** Close a connection with no traffic for this long (ms). */
  readonly idleTimeout: number;
  /** A started message must complete within this (ms). */
  readonly readTimeout: number;
  /** Open connections at most. */
  readonly maxConnections: number;
  /** Open connections from one client address at most, counted before the handshake (0 or absent: no cap). */
  readonly maxPerClient?: number;
  /** Queries served on one DoT connection at most, then it is closed once answered (-1 or absent: no limit). */
  readonly maxTcpQueries?: number;
}

/** Queries one connection may have in the chain at once; reading pauses there and resumes at half. */
export const MAX_PIPELINED = 128;

/** node:tls server options for a block's certificate and client-certificate policy. */
export function secureOptions(t: ListenTls): tls.TlsOptions {
  const verify = t.clientAuth === 'require_and_verify';
  return {
    cert: t.cert,
    key: t.key,
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    minVersion: 'TLSv1.2',
    requestCert: t.clientAuth !== 'nocert',
    // 'request', 'require' and 'verify_if_given' finish the handshake and are judged by clientAllowed()
    rejectUnauthorized: verify,
  };
}

/** Whether a finished handshake meets the policy (node:tls enforces require_and_verify itself). */
export function clientAllowed(sock: tls.TLSSocket, auth: ClientAuth): boolean {
  if (auth === 'nocert' || auth === 'request' || auth === 'require_and_verify') return true;
  const cert = sock.getPeerCertificate();
  const given = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  if (auth === 'require') return given;
  return !given || sock.authorized; // verify_if_given
}

/**
 * Listen on host:port (shared address, as every listener of a port does); once bound, later server
 * errors are logged as "WHAT host:port: …". Resolves the bound address.
 */
export function listenOn(srv: net.Server, host: string, port: number, ctx: ServeContext, what: string): Promise<LocalAddr> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error): void => reject(e);
    srv.once('error', onErr);
    srv.listen({ port, host, exclusive: false }, () => {
      srv.off('error', onErr);
      srv.on('error', (e: Error) => ctx.log.error(`${what} ${host}:${port}: ${e.message}`));
      const a = srv.address() as net.AddressInfo;
      resolve({ ip: a.address, port: a.port });
    });
  });
}

/**
 * An accepted connection of an HTTP/2 listener (DoH, gRPC): kept in `set` until it closes, no
 * Nagle (a reply is a few small frames the client would otherwise wait for behind its delayed
 * ACK), and closed after `idle` ms without traffic (HTTP/2 pings count).
 */
export function trackSocket(sock: net.Socket, set: Set<net.Socket>, idle: number): void {
  set.add(sock);
  sock.setNoDelay(true);
  sock.setTimeout(idle, () => sock.destroy());
  sock.once('close', () => set.delete(sock));
}

/**
 * Stop accepting on `srv`; after `grace` ms (0: now) end the connections — `ending()`, by default
 * every socket in `sockets` — and destroy every socket in `sockets` a second later. Resolves when
 * the server has closed.
 */
export function closeServer(srv: { close(cb: () => void): unknown }, grace: number, sockets: Set<net.Socket>, ending?: () => Iterable<net.Socket>): Promise<void> {
  return new Promise((resolve) => {
    srv.close(() => resolve());
    const kill = (): void => {
      const all = [...sockets];
      for (const s of ending?.() ?? all) s.end();
      setTimeout(() => {
        for (const s of all) s.destroy();
      }, 1000).unref();
    };
    if (grace > 0) setTimeout(kill, grace).unref();
    else kill();
  });
}

/** Apply a (re)loaded certificate and policy to a running node:tls server (http2's secure server too). */
export function updateSecureServer(srv: tls.Server, t: ListenTls): void {
  const o = secureOptions(t);
  srv.setSecureContext(o);
  // read per connection by node:tls (tlsConnectionListener), so a reload changes the policy too
  const s = srv as tls.Server & { requestCert: boolean; rejectUnauthorized: boolean };
  s.requestCert = o.requestCert === true;
  s.rejectUnauthorized = o.rejectUnauthorized === true;
}

class DotConn implements Sender {
  private readonly pending = new FrameReader();
  private readTimer: NodeJS.Timeout | undefined;
  private inChain = 0;
  private paused = false;
  /** maxTcpQueries: once they were served, nothing more is read; the connection ends once they are answered. */
  private readonly limit = new QueryLimit();
  readonly client: Client;

  constructor(
    readonly sock: net.Socket,
    private readonly owner: DotListener,
  ) {
    this.client = clientOf(sock.remoteAddress ?? '', sock.remotePort ?? 0, sock.remoteFamily === 'IPv6');
    sock.setNoDelay(true);
    sock.setTimeout(owner.limits.idleTimeout, () => sock.destroy());
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('drain', () => this.flow());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      if (this.readTimer) clearTimeout(this.readTimer);
      owner.conns.delete(this);
    });
  }

  private onData(d: Buffer): void {
    if (this.limit.reached) return;
    const r = this.pending;
    r.push(d);
    for (let msg = r.next(); msg !== undefined; msg = r.next()) {
      if (msg.length === 0) continue;
      this.inChain++;
      serveQuery(this.owner.ctx, Buffer.from(msg), this.client, this.owner.local, 'tcp', this);
      if (this.limit.count(this.owner.limits.maxTcpQueries ?? -1, r, this.sock)) {
        if (this.readTimer) clearTimeout(this.readTimer);
        this.readTimer = undefined;
        this.endIfDone();
        return;
      }
    }
    if (r.held === 0) {
      r.clear();
      if (this.readTimer) {
        clearTimeout(this.readTimer);
        this.readTimer = undefined;
      }
    } else {
      r.compact(true);
      this.readTimer ??= setTimeout(() => this.sock.destroy(), this.owner.limits.readTimeout);
    }
    this.flow();
  }

  /** Pause reading while too many queries are in the chain or the peer does not read its replies. */
  private flow(): void {
    const stop = this.inChain >= MAX_PIPELINED || this.sock.writableNeedDrain;
    if (stop && !this.paused) {
      this.paused = true;
      this.sock.pause();
    } else if (!stop && this.paused && this.inChain <= MAX_PIPELINED >> 1) {
      this.paused = false;
      this.sock.resume();
    }
  }

  /** Past the query limit and every query answered: end our side (the replies are flushed first). */
  private endIfDone(): void {
    if (this.limit.reached && this.inChain === 0 && !this.sock.destroyed && !this.sock.writableEnded) this.sock.end();
  }

  send(buf: Uint8Array, w: CoreWriter): void {
    this.inChain--;
    if (this.sock.destroyed) return;
    const out = queryWantsPadding(w.req.wire) ? padReply(buf) : buf;
    this.sock.write(frame(out));
    if (this.limit.reached) return this.endIfDone();
    this.flow();
  }

  unanswered(): void {
    this.inChain--;
    if (this.limit.reached) return this.endIfDone();
    if (!this.sock.destroyed) this.flow();
  }
}

export class DotListener {
  private server: net.Server | undefined;
  readonly conns = new Set<DotConn>();
  /** Every accepted TCP socket, handshaken or not (close() cuts the ones still in the handshake). */
  private readonly raw = new Set<net.Socket>();
  /** Open sockets per client address, handshaken or not. */
  readonly perClient = new PerClient();
  local: LocalAddr = { ip: '', port: 0 };

  constructor(
    readonly host: string,
    readonly port: number,
    readonly ctx: ServeContext,
    readonly limits: StreamLimits,
    private cert: ListenTls | undefined,
  ) {}

  /** True when TLS is on (false: plain TCP, a tls:// block without the tls plugin). */
  get secure(): boolean {
    return this.cert !== undefined;
  }

  async listen(port = this.port): Promise<number> {
    const accept = (sock: net.Socket): void => {
      if (this.cert !== undefined && !clientAllowed(sock as tls.TLSSocket, this.cert.clientAuth)) {
        sock.destroy();
        return;
      }
      this.conns.add(new DotConn(sock, this));
    };
    let srv: net.Server;
    if (this.cert !== undefined) {
      // The handshake must finish within the idle timeout (a client that connects and says nothing).
      srv = tls.createServer({ ...secureOptions(this.cert), handshakeTimeout: this.limits.idleTimeout }, accept);
      srv.on('tlsClientError', (_e, sock) => sock.destroy());
    } else {
      srv = net.createServer({ noDelay: true }, accept);
    }
    // Counted before the handshake, so a flood of half-open TLS connections is capped too.
    srv.maxConnections = this.limits.maxConnections;
    srv.on('connection', (raw: net.Socket) => {
      // as on TCP: one address cannot hold every connection (nor every handshake)
      const ip = raw.remoteAddress ?? '';
      if (!this.perClient.take(ip, this.limits.maxPerClient ?? 0)) {
        raw.destroy();
        return;
      }
      this.raw.add(raw);
      raw.once('close', () => {
        this.raw.delete(raw);
        this.perClient.release(ip);
      });
    });
    this.server = srv;
    this.local = await listenOn(srv, this.host, port, this.ctx, 'tls');
    return this.local.port;
  }

  /** A reload's certificate and policy; new connections use them. */
  update(cert: ListenTls | undefined): void {
    if (cert === undefined || this.cert === undefined || !(this.server instanceof tls.Server)) return;
    this.cert = cert;
    updateSecureServer(this.server, cert);
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Stop accepting; close connections now (replies already written are flushed) or after `grace` ms. */
  close(grace = 0): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (srv === undefined) return Promise.resolve();
    // handshaken connections are ended (their replies flushed); every one, in handshake too, is cut
    return closeServer(srv, grace, this.raw, () => [...this.conns].map((c) => c.sock));
  }
}
