// DNS over gRPC, a grpc:// block's listener: CoreDNS's `coredns.dns.DnsService/Query` (pb/dns.proto:
// `rpc Query (DnsPacket) returns (DnsPacket)`, DnsPacket = { bytes msg = 1 }), spoken directly on
// node:http2 — gRPC's wire format for a unary call is one length-prefixed protobuf message each way
// and the status in the trailers, so no gRPC library is loaded. HTTP/2 over TLS with the tls
// plugin's certificate, or cleartext HTTP/2 (h2c, prior knowledge) without it, as CoreDNS.
import type http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import type { ListenTls } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { wellFormedMessage } from '../dns/wire.js';
import { serveQuery, type ServeContext } from './serve.js';
import { clientOf } from './udp.js';
import { clientAllowed, closeServer, listenOn, secureOptions, trackSocket, updateSecureServer, type StreamLimits } from './tls.js';

/** RST_STREAM code CANCEL (RFC 9113 §7); node:http2's constants are not loaded at start. */
const NGHTTP2_CANCEL = 0x8;
export const GRPC_QUERY_PATH = '/coredns.dns.DnsService/Query';
/** gRPC status codes used here. */
const OK = 0;
const UNKNOWN = 2;
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
/** A request message (the 5-byte gRPC prefix, the protobuf tag and length, the DNS message) at most. */
const MAX_REQUEST = 65535 + 16;

/** DnsPacket { bytes msg = 1 } → the DNS message, or undefined when it is not one. */
export function decodeDnsPacket(b: Buffer): Buffer | undefined {
  let pos = 0;
  let msg: Buffer | undefined;
  while (pos < b.length) {
    const [tag, p1] = varint(b, pos);
    if (p1 < 0) return undefined;
    pos = p1;
    const wire = tag & 7;
    if (wire === 2) {
      const [len, p2] = varint(b, pos);
      if (p2 < 0 || p2 + len > b.length) return undefined;
      if (tag >>> 3 === 1) msg = b.subarray(p2, p2 + len);
      pos = p2 + len;
    } else if (wire === 0) {
      const [, p2] = varint(b, pos);
      if (p2 < 0) return undefined;
      pos = p2;
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else return undefined;
  }
  return pos === b.length ? (msg ?? Buffer.alloc(0)) : undefined;
}

function varint(b: Buffer, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10 && pos < b.length; i++) {
    const x = b[pos++]!;
    v += (x & 0x7f) * mul;
    if ((x & 0x80) === 0) return [v, pos];
    mul *= 128;
  }
  return [0, -1];
}

/** One gRPC message frame carrying DnsPacket { msg }. */
export function grpcFrame(msg: Uint8Array): Buffer {
  const lenBytes: number[] = [];
  let n = msg.length;
  while (n >= 0x80) {
    lenBytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  lenBytes.push(n);
  const body = 1 + lenBytes.length + msg.length;
  const out = Buffer.allocUnsafe(5 + body);
  out[0] = 0; // not compressed
  out.writeUInt32BE(body, 1);
  out[5] = 0x0a; // field 1, length-delimited
  out.set(lenBytes, 6);
  out.set(msg, 6 + lenBytes.length);
  return out;
}

class GrpcCall implements Sender {
  constructor(private readonly stream: http2.ServerHttp2Stream) {}

  send(buf: Uint8Array, _w: CoreWriter): void {
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': String(OK) }));
    s.end(grpcFrame(buf));
  }

  unanswered(w: CoreWriter | undefined): void {
    if (w === undefined) fail(this.stream, INVALID_ARGUMENT, 'not a DNS query');
    else fail(this.stream, UNKNOWN, 'no response');
  }
}

/** A gRPC error: the status in a trailers-only response. */
function fail(s: http2.ServerHttp2Stream, code: number, message: string): void {
  if (s.destroyed || s.closed || s.headersSent) return;
  s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }, { endStream: true });
}

export class GrpcListener {
  private server: http2.Http2Server | http2.Http2SecureServer | undefined;
  private readonly sockets = new Set<net.Socket>();
  local: LocalAddr = { ip: '', port: 0 };

  constructor(
    readonly host: string,
    readonly port: number,
    readonly ctx: ServeContext,
    readonly limits: StreamLimits,
    private cert: ListenTls | undefined,
  ) {}

  get secure(): boolean {
    return this.cert !== undefined;
  }

  async listen(port = this.port): Promise<number> {
    // node:http2 is loaded when a block listens on it, not at start (#17: ~2-3 MB of RSS).
    const { default: http2 } = await import('node:http2');
    const settings = { maxConcurrentStreams: 100 };
    let srv: http2.Http2Server | http2.Http2SecureServer;
    if (this.cert !== undefined) {
      srv = http2.createSecureServer({ ...secureOptions(this.cert), settings });
      srv.on('secureConnection', (sock: tls.TLSSocket) => {
        if (this.cert !== undefined && !clientAllowed(sock, this.cert.clientAuth)) sock.destroy();
      });
      srv.on('tlsClientError', (_e, sock) => sock.destroy());
    } else {
      srv = http2.createServer({ settings });
    }
    srv.maxConnections = this.limits.maxConnections;
    srv.on('stream', (stream, headers) => this.handle(stream, headers));
    srv.on('connection', (sock: net.Socket) => trackSocket(sock, this.sockets, this.limits.idleTimeout));
    this.server = srv;
    this.local = await listenOn(srv, this.host, port, this.ctx, 'grpc');
    return this.local.port;
  }

  private handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    if (headers[':method'] !== 'POST' || headers[':path'] !== GRPC_QUERY_PATH) {
      stream.resume();
      return fail(stream, UNIMPLEMENTED, `unknown method ${String(headers[':path'])}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST) {
        fail(stream, RESOURCE_EXHAUSTED, 'dns message exceeds size limit');
        stream.close(NGHTTP2_CANCEL);
        return;
      }
      chunks.push(c);
    });
    stream.on('end', () => {
      if (size > MAX_REQUEST) return;
      const body = Buffer.concat(chunks);
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return fail(stream, INVALID_ARGUMENT, 'expected one uncompressed DnsPacket');
      const msg = decodeDnsPacket(body.subarray(5));
      if (msg === undefined || !wellFormedMessage(msg)) return fail(stream, INVALID_ARGUMENT, 'not a DNS message');
      const sock = stream.session?.socket;
      const client = clientOf(sock?.remoteAddress ?? '', sock?.remotePort ?? 0, sock?.remoteFamily === 'IPv6');
      serveQuery(this.ctx, Buffer.from(msg), client, this.local, 'tcp', new GrpcCall(stream));
    });
  }

  update(cert: ListenTls | undefined): void {
    const srv = this.server;
    if (cert === undefined || this.cert === undefined || srv === undefined || !('setSecureContext' in srv)) return;
    this.cert = cert;
    updateSecureServer(srv as unknown as tls.Server, cert);
  }

  get connections(): number {
    return this.sockets.size;
  }

  close(grace = 0): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (srv === undefined) return Promise.resolve();
    return closeServer(srv, grace, this.sockets);
  }
}
