// DNS over HTTPS (RFC 8484), an https:// block's listener: `GET /dns-query?dns=<base64url>` and
// `POST /dns-query` with an application/dns-message body, over HTTP/2 or HTTP/1.1 (ALPN) on TLS,
// or HTTP/1.1 in the clear behind a terminating proxy when the block has no `tls` plugin (as
// CoreDNS serves it). The reply carries Cache-Control max-age from its smallest TTL. Bad requests
// get 400, too large ones 413, a body that is not application/dns-message 415, other paths 404,
// other methods 405; every status is counted in coredns_dns_https_responses_total{server,status}.
// The client is the connection's peer, or the X-Forwarded-For address when the peer is one of the
// https plugin's trusted_proxies. A connection (an HTTP/1.1 socket or an HTTP/2 session) whose
// client does not read its replies has TCP's bounds (DohConn): its next requests wait above the
// high-water mark of unsent reply bytes (HTTP/1.1 stops being read), and it is closed over the cap
// or when no reply leaves for the write timeout. A POST body is read as its request arrives: it must
// be complete within the read timeout (else 408), and the bodies one connection has read and not
// served are capped as its replies are.
import http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';
import type { Client, ListenHttps, ListenTls } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { cidrContains, parseCidr, type Cidr } from '../corefile/keys.js';
import { wellFormedMessage } from '../dns/wire.js';
import { padReply, queryWantsPadding, replyMaxAge } from '../dns/padding.js';
import type { Counter } from '../observe/metrics.js';
import { serveQuery, type ServeContext } from './serve.js';
import { clientOf } from './udp.js';
import { PerClient, type TcpOptions } from './tcp.js';
import { clientAllowed, closeServer, listenOn, secureOptions, trackSocket, updateSecureServer, type StreamLimits } from './tls.js';

export const DOH_PATH = '/dns-query';
export const DOH_TYPE = 'application/dns-message';
/** The largest DNS message (and so the largest body or decoded `dns` parameter) accepted. */
export const MAX_DOH_MESSAGE = 65535;
/** Concurrent streams one HTTP/2 connection may open (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const MAX_STREAMS = 100;
/** CoreDNS's default cap on open DoH connections (the https plugin's max_connections). */
export const DEFAULT_HTTPS_MAX_CONNECTIONS = 200;

/**
 * One HTTP request, whichever the version: HTTP/1.1 through node:http's request and response,
 * HTTP/2 through node:http2's stream API (its compatibility objects cost a request and a response
 * object and their header maps per query).
 */
interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The request body. */
  readonly body: NodeJS.ReadableStream;
  readonly socket: net.Socket | undefined;
  readonly http1: boolean;
  /** True once a reply was sent or the request went away. */
  readonly finished: boolean;
  reply(status: number, headers: Record<string, string>, body: Uint8Array | string): void;
  /** The connection the request came on (set when it is served). */
  conn: DohConn | undefined;
  /** Body bytes of the reply, counted in conn.queued until the reply has left. */
  bytes: number;
  /** A reply was written. */
  answered: boolean;
  /** Call conn.done(this) once, when the reply has been handed to the kernel or the request went away. */
  watch(): void;
  /** A POST's body as read so far (undefined: not a POST, or dropped). */
  parts: Buffer[] | undefined;
  /** Body bytes read and counted in conn.reading (0 once served or dropped). */
  received: number;
  /** When its body began to be read (performance.now()); 0 once it is complete or dropped. */
  since: number;
  /** Why its body was not read whole: 413 (too large), 408 (not complete within the read timeout); 0: it was. */
  cut: number;
  /**
   * Drop what else comes of the request's body (an HTTP/1.1 connection is closed after the reply,
   * its `connection: close`); `reset`: HTTP/2 also resets the stream (NO_ERROR) once the reply has
   * left, for a body that may never end.
   */
  stop(reset: boolean): void;
}

/** What both versions' exchanges do for their connection's accounting (DohConn). */
abstract class Counted {
  conn: DohConn | undefined = undefined;
  bytes = 0;
  answered = false;
  parts: Buffer[] | undefined = undefined;
  received = 0;
  since = 0;
  cut = 0;
  private over = false;
  /** What says the reply left or the request went away: the HTTP/1.1 response, the HTTP/2 stream. */
  protected abstract get events(): NodeJS.EventEmitter;

  /** Once the reply is written: count its body against the connection. */
  protected counted(body: Uint8Array | string): void {
    const n = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.bytes = n;
    this.answered = true;
    this.conn?.wrote(n);
  }

  private readonly ended = (): void => {
    if (this.over) return;
    this.over = true;
    this.conn?.done(this);
  };

  watch(): void {
    // 'finish': the reply was handed on (HTTP/1.1: the socket's write completed; HTTP/2: the
    // session sent the body, as flow control let it); 'close': after it, or alone when the request
    // was reset or the connection went away first
    this.events.once('finish', this.ended);
    this.events.once('close', this.ended);
  }
}

class Http1Exchange extends Counted implements Exchange {
  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
  ) {
    super();
  }
  protected get events(): NodeJS.EventEmitter {
    return this.res;
  }
  get method(): string {
    return this.req.method ?? '';
  }
  get url(): string {
    return this.req.url ?? '';
  }
  get headers(): http.IncomingHttpHeaders {
    return this.req.headers;
  }
  get body(): NodeJS.ReadableStream {
    return this.req;
  }
  get socket(): net.Socket {
    return this.req.socket;
  }
  readonly http1 = true;
  get finished(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }
  reply(status: number, headers: Record<string, string>, body: Uint8Array | string): void {
    this.res.writeHead(status, headers);
    this.res.end(body);
    this.counted(body);
  }
  stop(): void {
    this.req.resume(); // what else comes is dropped until the connection closes
  }
}

class Http2Exchange extends Counted implements Exchange {
  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
  ) {
    super();
  }
  protected get events(): NodeJS.EventEmitter {
    return this.stream;
  }
  get method(): string {
    return String(this.headers[':method'] ?? '');
  }
  get url(): string {
    return String(this.headers[':path'] ?? '');
  }
  get body(): NodeJS.ReadableStream {
    return this.stream;
  }
  get socket(): net.Socket | undefined {
    return this.stream.session?.socket as net.Socket | undefined;
  }
  readonly http1 = false;
  get finished(): boolean {
    return this.stream.headersSent || this.stream.destroyed || this.stream.closed;
  }
  reply(status: number, headers: Record<string, string>, body: Uint8Array | string): void {
    this.stream.respond({ ':status': status, ...headers });
    this.stream.end(body);
    this.counted(body);
  }
  stop(reset: boolean): void {
    this.stream.resume();
    // NO_ERROR after the reply: node sends the RST_STREAM once the reply has left (RFC 9113 §8.1).
    // Not for a body that is too large: curl, still sending it, may fail before reading the reply.
    if (reset && !this.stream.destroyed) this.stream.close(0);
  }
}

/**
 * What one DoH connection holds for its client — an HTTP/1.1 socket, or an HTTP/2 session and its
 * streams — bounded as TCP bounds a connection: requests are served while fewer than maxInflight
 * are unanswered and the reply bytes not yet handed to the kernel are at most highWater; the next
 * ones wait (an HTTP/1.1 socket is not read meanwhile; HTTP/2 allows MAX_STREAMS open streams, and
 * more than the cap on waiting requests can only come from HTTP/1.1 pipelining: closed).
 * Over maxQueued, or above highWater with no reply leaving for writeTimeout, the connection is
 * closed and what it held goes with it.
 */
export class DohConn {
  /** Body bytes of replies written whose response has not left (handed to the kernel). */
  queued = 0;
  /** Requests served and not yet answered (in the plugin chain). */
  active = 0;
  /** Bytes of request bodies read and not yet served: bodies still arriving, and those of requests that wait. */
  reading = 0;
  /** Requests that wait for room (those of a closed connection are dropped). */
  private waiting: Exchange[] = [];
  /** Above highWater since (performance.now(); 0: not above), restarted when a reply leaves. */
  heldSince = 0;
  private judging = false;
  /** Serving the waiting requests (a reply written meanwhile does not start another round). */
  private pumping = false;
  closed = false;

  constructor(
    private readonly owner: DohListener,
    /** The HTTP/1.1 socket (undefined: an HTTP/2 session). */
    private readonly sock: net.Socket | undefined,
    /** Close the connection. */
    private readonly kill: () => void,
  ) {
    // node:http reads the socket again whenever a response has left (a request's _dump): not while
    // requests wait here, so that what it parses meanwhile stays one read at most
    sock?.on('resume', () => {
      if (this.waiting.length > 0 && !sock.destroyed) sock.pause();
    });
  }

  /** An HTTP/1.1 connection not read while requests wait: a body on it cannot progress meanwhile. */
  get paused(): boolean {
    return this.sock !== undefined && this.waiting.length > 0;
  }

  private blocked(): boolean {
    const o = this.owner.limits;
    return this.queued > o.highWater || this.active >= o.maxInflight;
  }

  /**
   * A request arrived. A POST's body is read first, whether the request is then served at once or
   * waits: its bytes count in `reading` (the connection is closed above maxQueued of them) and it must
   * be complete within the read timeout (the listener's sweep answers 408 otherwise). Then it is taken.
   */
  receive(x: Exchange): void {
    x.conn = this;
    if (x.method !== 'POST') return this.take(x);
    if (Number(x.headers['content-length'] ?? 0) > MAX_DOH_MESSAGE) return this.cutBody(x, 413);
    x.parts = [];
    x.since = performance.now();
    this.owner.reads(x);
    x.body.on('data', (c: Buffer) => {
      if (x.since === 0 || this.closed) return; // dropped: cut, or the connection is gone
      x.received += c.length;
      this.reading += c.length;
      if (x.received > MAX_DOH_MESSAGE) return this.cutBody(x, 413);
      x.parts!.push(c);
      if (this.reading > this.owner.limits.maxQueued) this.overflow();
    });
    x.body.on('end', () => {
      if (x.since === 0 || this.closed) return;
      x.since = 0;
      this.take(x);
    });
    x.body.on('error', () => {});
  }

  /** Stop reading `x`'s body (413: too large; 408: the read timeout): what was read is dropped, and x is answered that status. */
  cutBody(x: Exchange, status: number): void {
    this.drop(x);
    x.since = 0;
    x.cut = status;
    this.take(x);
  }

  /** `x`'s body is no longer held here (served, or its request went away). */
  drop(x: Exchange): void {
    this.reading -= x.received;
    x.received = 0;
  }

  /** A request whose body is read: served now, or kept until there is room. */
  private take(x: Exchange): void {
    if (this.closed) return;
    if (x.finished) return this.drop(x);
    if (!this.blocked()) return this.start(x);
    this.waiting.push(x);
    // node:http parses the rest of the chunk it read: a client that pipelines past this is cut
    if (this.waiting.length > this.owner.limits.maxInflight * WAITING_PER_INFLIGHT) return this.overflow();
    // HTTP/1.1: stop reading (node:http still parses what it has read). Not node:http's own hold
    // (its `_paused`, which pauses the parser too): over TLS the parser then gets the rest of the
    // decrypted record and fails the connection (HPE_PAUSED).
    if (this.sock !== undefined && !this.sock.destroyed) this.sock.pause();
  }

  private start(x: Exchange): void {
    this.drop(x); // its body is the chain's query now (at most maxInflight of them)
    this.active++;
    x.watch();
    this.owner.dispatch(x);
  }

  /** A reply of `n` body bytes was written. */
  wrote(n: number): void {
    this.queued += n;
    this.active--;
    const o = this.owner.limits;
    if (this.queued > o.highWater && this.heldSince === 0) {
      this.heldSince = performance.now();
      this.owner.held(this);
    }
    if (this.queued > o.maxQueued && !this.judging) {
      // the replies of this turn may still leave in it (a reading client, TLS's writes finish
      // after the turn's I/O): judged once they had their chance
      this.judging = true;
      setImmediate(this.judge);
    }
    // room in the chain again (the answer came from a plugin that went asynchronous)
    if (this.waiting.length > 0) this.pump();
  }

  private readonly judge = (): void => {
    this.judging = false;
    if (!this.closed && this.queued > this.owner.limits.maxQueued) this.overflow();
  };

  /** `x`'s reply left (or its request or connection went away). */
  done(x: Counted): void {
    if (!x.answered) this.active--;
    this.queued -= x.bytes;
    x.bytes = 0;
    if (this.closed) return;
    if (this.queued <= this.owner.limits.highWater) this.heldSince = 0;
    else this.heldSince = performance.now(); // progress: the stall clock starts again
    this.pump();
  }

  /** Serve the waiting requests while there is room; read the HTTP/1.1 socket again once none wait. */
  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    while (this.waiting.length > 0 && !this.blocked()) {
      const next = this.waiting.shift()!;
      if (!next.finished) this.start(next);
      else this.drop(next);
    }
    this.pumping = false;
    const s = this.sock;
    if (this.waiting.length === 0 && s !== undefined && !s.destroyed && s.isPaused()) s.resume();
  }

  /** Called by the listener's sweep while above highWater: closed after writeTimeout without a reply leaving. */
  check(now: number): boolean {
    if (this.closed || this.heldSince === 0) return false;
    if (now - this.heldSince > this.owner.limits.writeTimeout) this.overflow();
    return !this.closed;
  }

  /** Cut the connection for the replies its client does not read (they go with it). */
  private overflow(): void {
    if (this.closed) return;
    this.owner.overflows++;
    this.close();
    this.kill();
  }

  /** The connection closed: what waits is dropped. */
  close(): void {
    this.closed = true;
    this.waiting = [];
    this.reading = 0;
    this.heldSince = 0;
  }
}

/** Requests one connection may have waiting, per request of maxInflight, before it is closed. */
const WAITING_PER_INFLIGHT = 4;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const MAX_BASE64 = Math.ceil((MAX_DOH_MESSAGE * 4) / 3);

/** One HTTP request's answer: the DNS reply as the body, or a status when there is none. */
class DohAnswer implements Sender {
  constructor(
    private readonly x: Exchange,
    private readonly owner: DohListener,
  ) {}

  send(buf: Uint8Array, w: CoreWriter): void {
    const x = this.x;
    if (x.finished) return;
    const body = queryWantsPadding(w.req.wire) ? padReply(buf) : buf;
    x.reply(200, { 'content-type': DOH_TYPE, 'cache-control': `max-age=${replyMaxAge(buf)}`, 'content-length': String(body.length) }, body);
    this.owner.count(200);
  }

  unanswered(w: CoreWriter | undefined): void {
    // not a query at all (a response, a message too short): 400; the chain chose not to answer: 500
    // ("No response", as CoreDNS)
    if (w === undefined) this.owner.fail(this.x, 400, 'invalid request: not a DNS query');
    else this.owner.fail(this.x, 500, 'no response');
  }
}

/**
 * The connections one peer address may hold on a DoH listener: TCP's per-client cap, and never more
 * than half of `max_connections`, so that one address cannot take every slot (TCP's default of 250
 * is above the https plugin's default cap of 200). A per-client cap of 0 turns it off, as for TCP.
 */
export function dohPerClientCap(perClient: number, maxConnections: number): number {
  if (perClient === 0) return 0;
  if (maxConnections <= 0) return perClient;
  return Math.min(perClient, Math.max(1, Math.floor(maxConnections / 2)));
}

/**
 * The limits of a DoH listener: its block's TCP limits (the timeouts plugin, the TYPEDNS_TCP_*
 * variables) — timeouts, the cap per client address, and the bounds on what a connection holds.
 */
export type DohLimits = StreamLimits & Pick<TcpOptions, 'maxPerClient' | 'writeTimeout' | 'highWater' | 'maxQueued' | 'maxInflight'>;

export class DohListener {
  private server: http.Server | http2.Http2SecureServer | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Requests and replies per accepted socket (active()): what its idle timeout counts. */
  private readonly activity = new WeakMap<net.Socket, { n: number }>();
  /** The open connections that sent a request: HTTP/1.1 sockets and HTTP/2 sessions. */
  private readonly conns = new Map<object, DohConn>();
  /** Connections above the high-water mark, checked by the sweep. */
  private readonly heldConns = new Set<DohConn>();
  /** Requests whose body is being read, checked by the sweep against the read timeout. */
  private readonly bodies = new Set<Exchange>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Connections closed for replies their clients did not read (over the cap or the write timeout). */
  overflows = 0;
  /** Open connections per peer address (trusted proxies are not counted: they carry many clients). */
  readonly perClient = new PerClient();
  private trusted: Cidr[];
  private readonly statuses = new Map<number, { inc(): void }>();
  local: LocalAddr = { ip: '', port: 0 };

  constructor(
    readonly host: string,
    readonly port: number,
    readonly ctx: ServeContext,
    readonly limits: DohLimits,
    private cert: ListenTls | undefined,
    private opts: ListenHttps,
    /** coredns_dns_https_responses_total */
    private readonly responses: Counter,
    /** The `server` label ("https://:443"). */
    readonly label: string,
  ) {
    this.trusted = trustedCidrs(opts);
  }

  /** True when TLS is on (false: HTTP/1.1 in the clear, an https:// block without the tls plugin). */
  get secure(): boolean {
    return this.cert !== undefined;
  }

  async listen(port = this.port): Promise<number> {
    // node:http2 is loaded when a block listens on it, not at start (#17: ~2-3 MB of RSS).
    const { default: http2 } = await import('node:http2');
    const http1 = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.active(req.socket);
      res.once('finish', () => this.active(req.socket));
      this.http1Conn(req.socket).receive(new Http1Exchange(req, res));
    };
    let srv: http.Server | http2.Http2SecureServer;
    if (this.cert !== undefined) {
      const auth = this.cert.clientAuth;
      srv = http2.createSecureServer({ ...secureOptions(this.cert), allowHTTP1: true, settings: { maxConcurrentStreams: MAX_STREAMS } });
      // HTTP/1.1 (ALPN http/1.1 or none) arrives as 'request'. Listening for it makes node:http2 also
      // wrap every HTTP/2 stream in compatibility objects (a 'stream' listener it adds): that one is
      // removed, and HTTP/2 streams are served from the stream API.
      srv.on('request', http1 as never);
      srv.removeAllListeners('stream');
      srv.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        stream.on('error', () => {});
        const sock = stream.session?.socket;
        this.active(sock);
        stream.once('close', () => this.active(sock));
        const conn = this.http2Conn(stream.session);
        if (conn === undefined) stream.close(http2.constants.NGHTTP2_CANCEL);
        else conn.receive(new Http2Exchange(stream, headers));
      });
      srv.on('secureConnection', (sock: tls.TLSSocket) => {
        if (!clientAllowed(sock, this.cert?.clientAuth ?? auth)) sock.destroy();
      });
      srv.on('tlsClientError', (_e, sock) => sock.destroy());
    } else {
      srv = http.createServer({ requestTimeout: Math.max(this.limits.readTimeout, 1000), headersTimeout: Math.max(this.limits.readTimeout, 1000) }, http1);
      srv.keepAliveTimeout = this.limits.idleTimeout;
      // the socket's timeout is trackSocket's check, not its end: with a listener here node:http
      // does not destroy the socket at each 'timeout'
      srv.on('timeout', () => {});
    }
    // 0 = no cap (the https plugin's max_connections 0; node:net treats 0 as none too)
    srv.maxConnections = this.opts.maxConnections;
    srv.on('connection', (sock: net.Socket) => {
      if (!this.admit(sock)) return;
      const a = { n: 0 };
      this.activity.set(sock, a);
      trackSocket(sock, this.sockets, this.limits.idleTimeout, () => a.n);
    });
    this.server = srv;
    this.local = await listenOn(srv, this.host, port, this.ctx, 'https');
    return this.local.port;
  }

  /** A reload's certificate, policy and https options; new connections use them. */
  update(cert: ListenTls | undefined, opts: ListenHttps): void {
    this.opts = opts;
    this.trusted = trustedCidrs(opts);
    const srv = this.server;
    if (srv !== undefined) srv.maxConnections = opts.maxConnections;
    if (srv instanceof http.Server) {
      // the timeouts plugin's values after a reload (this.limits is changed in place)
      srv.keepAliveTimeout = this.limits.idleTimeout;
      srv.requestTimeout = Math.max(this.limits.readTimeout, 1000);
      srv.headersTimeout = Math.max(this.limits.readTimeout, 1000);
    }
    if (cert === undefined || this.cert === undefined || srv === undefined || srv instanceof http.Server) return;
    this.cert = cert;
    updateSecureServer(srv, cert);
  }

  get connections(): number {
    return this.sockets.size;
  }

  /**
   * A request or a reply on `sock` (the accepted socket, or the TLS socket over it): what the idle
   * timeout counts. Bytes that make no request — a handshake or header sent a byte at a time,
   * PING or SETTINGS frames — do not: such a connection is closed once idle.
   */
  private active(sock: net.Socket | undefined): void {
    if (sock === undefined) return;
    // (node:tls's TLSSocket over an accepted socket keeps it as _parent)
    const raw = (sock as net.Socket & { _parent?: net.Socket })._parent ?? sock;
    const a = this.activity.get(raw);
    if (a !== undefined) a.n++;
  }

  /**
   * Count an accepted socket against the cap per peer address (before its handshake, as DoT);
   * false: over the cap, destroyed. A trusted proxy is not capped.
   */
  private admit(sock: net.Socket): boolean {
    const ip = sock.remoteAddress ?? '';
    if (this.trusted.length > 0 && this.isTrusted(ip)) return true;
    if (!this.perClient.take(ip, dohPerClientCap(this.limits.maxPerClient, this.opts.maxConnections))) {
      sock.destroy();
      return false;
    }
    sock.once('close', () => this.perClient.release(ip));
    return true;
  }

  /** The bounds of an HTTP/1.1 connection (made at its first request). */
  private http1Conn(sock: net.Socket): DohConn {
    let c = this.conns.get(sock);
    if (c !== undefined) return c;
    const conn = new DohConn(this, sock, () => sock.destroy());
    this.conns.set(sock, conn);
    sock.once('close', () => this.forget(sock, conn));
    return conn;
  }

  /** The bounds of an HTTP/2 session (made at its first stream); undefined once it is closed. */
  private http2Conn(session: http2.Http2Session | undefined): DohConn | undefined {
    if (session === undefined || session.destroyed) return undefined;
    let c = this.conns.get(session);
    if (c !== undefined) return c;
    c = new DohConn(this, undefined, () => session.destroy());
    const conn = c;
    this.conns.set(session, conn);
    session.once('close', () => this.forget(session, conn));
    return conn;
  }

  private forget(key: object, c: DohConn): void {
    c.close();
    this.conns.delete(key);
    this.heldConns.delete(c);
  }

  /** `c` went above the high-water mark: the sweep watches it. */
  held(c: DohConn): void {
    this.heldConns.add(c);
    this.sweeping();
  }

  /** `x`'s body is being read: the sweep answers 408 if it is not complete within the read timeout. */
  reads(x: Exchange): void {
    this.bodies.add(x);
    this.sweeping();
  }

  private sweeping(): void {
    if (this.sweeper !== undefined) return;
    // a quarter of the shorter timeout apart, while some connection is held or some body is read
    // (it stops at the first sweep that finds neither, not at each request)
    this.sweeper = setInterval(this.sweep, Math.max(10, Math.min(this.limits.writeTimeout, this.limits.readTimeout) / 4));
    this.sweeper.unref();
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    for (const c of this.heldConns) if (!c.check(now)) this.heldConns.delete(c);
    for (const x of this.bodies) {
      const c = x.conn!;
      if (x.since === 0 || c.closed) this.bodies.delete(x);
      else if (c.paused) x.since = now; // the clock runs while the server reads the connection
      else if (x.finished) {
        // the request went away before its body was complete
        this.bodies.delete(x);
        x.since = 0;
        c.drop(x);
      } else if (now - x.since > this.limits.readTimeout) {
        this.bodies.delete(x);
        c.cutBody(x, 408);
      }
    }
    if (this.heldConns.size === 0 && this.bodies.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  };

  /** Body bytes of replies written and not yet handed to the kernel, across connections. */
  get queuedBytes(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.queued;
    return n;
  }

  /** Bytes of request bodies read and not yet served, across connections. */
  get requestBytes(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.reading;
    return n;
  }

  count(status: number): void {
    let c = this.statuses.get(status);
    if (c === undefined) this.statuses.set(status, (c = this.responses.labels(this.label, String(status))));
    c.inc();
  }

  /** An error status with a one-line text body. */
  fail(x: Exchange, status: number, text: string, headers: Record<string, string> = {}): void {
    if (x.finished) return;
    const body = text + '\n';
    x.reply(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers }, body);
    this.count(status);
  }

  /** Serve one request (its connection had room for it). */
  dispatch(x: Exchange): void {
    const url = x.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== DOH_PATH) return this.fail(x, 404, 'not found');
    if (x.method === 'GET') {
      const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      const values = params.getAll('dns');
      if (values.length === 0) return this.fail(x, 400, "invalid request: no 'dns' query parameter");
      if (values.length > 1) return this.fail(x, 400, "invalid request: more than one 'dns' query parameter");
      const b64 = values[0]!;
      if (b64.length > MAX_BASE64) return this.fail(x, 413, `payload too large: a DNS message is at most ${MAX_DOH_MESSAGE} bytes`);
      if (!BASE64URL.test(b64) || b64.length % 4 === 1) return this.fail(x, 400, "invalid request: 'dns' is not base64url without padding");
      return this.query(x, Buffer.from(b64, 'base64url'));
    }
    if (x.method === 'POST') {
      const type = (x.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const parts = x.parts;
      x.parts = undefined;
      if (x.cut === 0) {
        if (type !== DOH_TYPE) return this.fail(x, 415, `unsupported media type: expected ${DOH_TYPE}`);
        return this.query(x, parts!.length === 1 ? parts![0]! : Buffer.concat(parts!));
      }
      // the body was not read whole: the rest is dropped, an HTTP/1.1 connection closed after the reply
      const close: Record<string, string> = x.http1 ? { connection: 'close' } : {};
      if (type !== DOH_TYPE) this.fail(x, 415, `unsupported media type: expected ${DOH_TYPE}`, close);
      else if (x.cut === 413) this.fail(x, 413, `payload too large: a DNS message is at most ${MAX_DOH_MESSAGE} bytes`, close);
      else this.fail(x, 408, `request timeout: the body did not arrive within ${this.limits.readTimeout} ms`, close);
      return x.stop(x.cut === 408);
    }
    this.fail(x, 405, 'method not allowed: use GET or POST', { allow: 'GET, POST' });
  }

  private query(x: Exchange, msg: Buffer): void {
    if (!wellFormedMessage(msg)) return this.fail(x, 400, 'invalid request: not a DNS message');
    const sock = x.socket;
    const client = this.clientOf(sock, x.headers['x-forwarded-for']);
    const local = sock?.localAddress !== undefined ? { ip: sock.localAddress, port: sock.localPort ?? this.local.port } : this.local;
    serveQuery(this.ctx, msg, client, local, 'tcp', new DohAnswer(x, this));
  }

  /** The peer, or the client a trusted proxy names in X-Forwarded-For (the rightmost untrusted address). */
  private clientOf(sock: net.Socket | undefined, xff: string | string[] | undefined): Client {
    const peer = clientOf(sock?.remoteAddress ?? '', sock?.remotePort ?? 0, sock?.remoteFamily === 'IPv6');
    if (this.trusted.length === 0 || xff === undefined || !this.isTrusted(peer.ip)) return peer;
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = hops[i]!.trim();
      const v6 = ip.includes(':');
      const c = clientOf(ip, 0, v6);
      if (parseCidr(c.ip) === undefined) return peer; // not an address: trust nothing further left
      if (!this.isTrusted(c.ip)) return c;
      if (i === 0) return c;
    }
    return peer;
  }

  private isTrusted(ip: string): boolean {
    for (const c of this.trusted) if (cidrContains(c, ip)) return true;
    return false;
  }

  /** Stop accepting; close connections now (replies in flight are flushed) or after `grace` ms. */
  close(grace = 0): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (srv === undefined) return Promise.resolve();
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    return closeServer(srv, grace, this.sockets);
  }
}

function trustedCidrs(o: ListenHttps): Cidr[] {
  const out: Cidr[] = [];
  for (const t of o.trustedProxies) {
    const c = parseCidr(t);
    if (c !== undefined) out.push(c);
  }
  return out;
}
