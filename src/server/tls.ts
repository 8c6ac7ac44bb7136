// DNS over TLS (RFC 7858), a tls:// block's listener: TLS 1.2 or later, then TCP's 2-byte
// framing, served by the TCP listener's connections (tcp.ts: pipelined queries answered as each
// is ready, RFC 7766 §6.2.1.1, and every limit of TCP: connections in all and per client address,
// counted before the handshake, idle, read and write timeouts, replies queued for a client that
// does not read them). A reply is padded (RFC 8467) when the query carried the EDNS(0) Padding
// option. Without a certificate (no `tls` plugin in the block) it serves DNS over plain TCP, as
// CoreDNS does. Also the helpers the HTTP/2 and HTTP listeners share (certificates, listen, close).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { ClientAuth, ListenTls } from '../plugin/types.js';
import type { LocalAddr } from '../request/request.js';
import type { ServeContext } from './serve.js';
import { StreamListener, type TcpOptions } from './tcp.js';

/** The connection limits an HTTP/2 or HTTP listener applies (of the TCP listener's settings). */
export interface StreamLimits {
  /** Close a connection with no traffic for this long (ms). */
  readonly idleTimeout: number;
  /** A started message must complete within this (ms). */
  readonly readTimeout: number;
  /** Open connections at most. */
  readonly maxConnections: number;
}

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
 * ACK), and closed after `idle` ms (to a quarter more) without a byte from the client (HTTP/2
 * pings count).
 */
export function trackSocket(sock: net.Socket, set: Set<net.Socket>, idle: number, activity?: () => number): void {
  set.add(sock);
  sock.setNoDelay(true);
  sock.once('close', () => set.delete(sock));
  if (!(idle > 0)) return;
  // Once TLS or an HTTP/2 session reads this socket's handle themselves, their traffic does not
  // reset its own timeout (a busy session was cut at `idle`), and over TLS with HTTP/1.1 it may:
  // so a timer of its own looks every quarter of `idle` whether its count of bytes read grew.
  // `activity`, when given, is what counts instead (DoH: requests and replies, so that bytes that
  // never make a request — a handshake or header sent a byte at a time, PING frames — do not keep
  // a connection).
  const step = Math.max(10, idle / 4);
  const count = activity ?? ((): number => sock.bytesRead);
  let seen = count();
  let since = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const n = count();
    if (n !== seen) {
      seen = n;
      since = now;
    }
    if (now - since < idle) return;
    clearInterval(timer);
    sock.destroy();
  }, step);
  timer.unref();
  sock.once('close', () => clearInterval(timer));
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

/**
 * A tls:// block's listener: its connections are served as TCP's are (StreamListener, with every
 * limit of the TCP listener and the same settings), once their handshake is done.
 */
export class DotListener extends StreamListener {
  private server: net.Server | undefined;
  /** Every accepted TCP socket, handshaken or not (close() cuts the ones still in the handshake). */
  private readonly raw = new Set<net.Socket>();

  constructor(host: string, port: number, ctx: ServeContext, opts: TcpOptions, private cert: ListenTls | undefined) {
    super(host, port, ctx, opts, true);
  }

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
      this.open(sock);
    };
    let srv: net.Server;
    if (this.cert !== undefined) {
      // The handshake must finish within the idle timeout (a client that connects and says nothing).
      srv = tls.createServer({ ...secureOptions(this.cert), handshakeTimeout: this.opts.idleTimeout }, accept);
      srv.on('tlsClientError', (_e, sock) => sock.destroy());
    } else {
      srv = net.createServer({ noDelay: true }, accept);
    }
    // Counted before the handshake, so a flood of half-open TLS connections is capped too.
    srv.maxConnections = this.opts.maxConnections;
    srv.on('connection', (raw: net.Socket) => {
      // as on TCP: one address cannot hold every connection (nor every handshake)
      if (!this.admit(raw)) return;
      this.raw.add(raw);
      raw.once('close', () => this.raw.delete(raw));
    });
    this.server = srv;
    this.local = await listenOn(srv, this.host, port, this.ctx, 'tls');
    return this.local.port;
  }

  /** A reload's certificate and policy (new connections use them) and timeouts (every connection). */
  update(cert: ListenTls | undefined): void {
    this.retime();
    if (cert === undefined || this.cert === undefined || !(this.server instanceof tls.Server)) return;
    this.cert = cert;
    updateSecureServer(this.server, cert);
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
