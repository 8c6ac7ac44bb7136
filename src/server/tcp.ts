// TCP listener: 2-byte length framing, several and pipelined queries per connection (answers
// may go out of order, RFC 7766), an idle timeout, a read deadline for a started message (slow
// clients), and a cap on open connections.
import net from 'node:net';
import type { Client } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { serveQuery, type ServeContext } from './serve.js';
import { clientOf } from './udp.js';

export interface TcpOptions {
  /** Close a connection with no complete query for this long (ms). CoreDNS: 10 s. */
  idleTimeout: number;
  /** A started message must complete within this (ms). CoreDNS read timeout: 3 s. */
  readTimeout: number;
  /** Open connections at most; more are closed at once. */
  maxConnections: number;
}

export const DEFAULT_TCP: TcpOptions = { idleTimeout: 10_000, readTimeout: 3_000, maxConnections: 1000 };

class Conn implements Sender {
  private pending: Buffer | null = null;
  private readTimer: NodeJS.Timeout | undefined;
  readonly client: Client;

  constructor(
    readonly sock: net.Socket,
    private readonly owner: TcpListener,
  ) {
    this.client = clientOf(sock.remoteAddress ?? '', sock.remotePort ?? 0, sock.remoteFamily === 'IPv6');
    sock.setNoDelay(true);
    sock.setTimeout(owner.opts.idleTimeout, () => sock.destroy());
    sock.on('data', (d) => this.onData(d));
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      if (this.readTimer) clearTimeout(this.readTimer);
      owner.conns.delete(this);
    });
  }

  private onData(d: Buffer): void {
    let buf = this.pending === null ? d : Buffer.concat([this.pending, d]);
    let off = 0;
    while (buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (buf.length - off - 2 < len) break;
      const msg = buf.subarray(off + 2, off + 2 + len);
      off += 2 + len;
      if (len > 0) serveQuery(this.owner.ctx, Buffer.from(msg), this.client, this.owner.local, 'tcp', this);
    }
    buf = off === 0 ? buf : buf.subarray(off);
    if (buf.length === 0) {
      this.pending = null;
      if (this.readTimer) {
        clearTimeout(this.readTimer);
        this.readTimer = undefined;
      }
    } else {
      this.pending = Buffer.from(buf);
      this.readTimer ??= setTimeout(() => this.sock.destroy(), this.owner.opts.readTimeout);
    }
  }

  send(buf: Uint8Array, _w: CoreWriter): void {
    if (this.sock.destroyed) return;
    const out = Buffer.allocUnsafe(buf.length + 2);
    out.writeUInt16BE(buf.length, 0);
    out.set(buf, 2);
    this.sock.write(out);
  }
}

export class TcpListener {
  private server: net.Server | undefined;
  readonly conns = new Set<Conn>();
  local: LocalAddr = { ip: '', port: 0 };

  constructor(
    readonly host: string,
    readonly port: number,
    readonly ctx: ServeContext,
    readonly opts: TcpOptions = DEFAULT_TCP,
  ) {}

  listen(port = this.port): Promise<number> {
    const srv = net.createServer({ pauseOnConnect: false, noDelay: true });
    this.server = srv;
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      srv.once('error', onErr);
      srv.on('connection', (sock) => {
        if (this.conns.size >= this.opts.maxConnections) {
          sock.destroy();
          return;
        }
        this.conns.add(new Conn(sock, this));
      });
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

  get connections(): number {
    return this.conns.size;
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
          c.sock.end();
          setTimeout(() => c.sock.destroy(), 1000).unref();
        }
      };
      if (grace > 0) setTimeout(kill, grace).unref();
      else kill();
    });
  }
}
