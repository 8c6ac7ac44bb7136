// UDP listener: one node:dgram socket per address:port.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Client } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { serveQuery, type ServeContext } from './serve.js';

export class UdpListener implements Sender {
  private socket: dgram.Socket | undefined;
  private local: LocalAddr = { ip: '', port: 0 };
  private v6 = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly ctx: ServeContext,
  ) {}

  listen(): Promise<number> {
    const type = net.isIPv6(this.host) ? 'udp6' : 'udp4';
    this.v6 = type === 'udp6';
    const s = dgram.createSocket({ type, reuseAddr: false, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20, lookup: literalLookup });
    this.socket = s;
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      s.once('error', onErr);
      s.bind({ port: this.port, address: this.host, exclusive: false }, () => {
        s.off('error', onErr);
        s.on('error', (e) => this.ctx.log.error(`udp ${this.host}:${this.port}: ${e.message}`));
        const a = s.address();
        this.local = { ip: a.address, port: a.port };
        s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        resolve(a.port);
      });
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const client = clientOf(rinfo.address, rinfo.port, rinfo.family === 'IPv6');
    serveQuery(this.ctx, msg, client, this.local, 'udp', this);
  }

  send(buf: Uint8Array, w: CoreWriter): void {
    const s = this.socket;
    if (s === undefined) return;
    const c = w.req.client;
    try {
      // an IPv4 client of a dual-stack socket was reported as IPv4 (clientOf): map it back
      s.send(buf, c.port, this.v6 && c.family === 4 ? `::ffff:${c.ip}` : c.ip);
    } catch {
      // socket closed during shutdown
    }
  }

  get address(): { ip: string; port: number } {
    return this.local;
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/**
 * Replies always go to the literal address a query came from, so dgram's default dns.lookup (an
 * isIP check and a process.nextTick per send) is replaced by a synchronous pass-through.
 */
function literalLookup(address: string, family: unknown, cb: (err: null, address: string, family: number) => void): void {
  cb(null, address, family === 6 ? 6 : 4);
}

/**
 * The client as plugins see it. On a dual-stack socket (::) an IPv4 client arrives as
 * ::ffff:a.b.c.d; it is given as the IPv4 address with family 4, as CoreDNS reports it, so that
 * acl nets, logs and whoami see 10.0.0.1 and not an IPv6 form. Replies go to the same address.
 */
export function clientOf(address: string, port: number, v6: boolean): Client {
  if (v6 && address.startsWith('::ffff:') && address.indexOf('.') > 0) return { ip: address.slice(7), port, family: 4 };
  return { ip: address, port, family: v6 ? 6 : 4 };
}
