// A small DNS client for tests: one query over UDP or TCP to a server on loopback, with a timeout.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type Packet } from 'dns-packet';
import { randomInt } from 'node:crypto';

export interface QueryOptions {
  host?: string;
  tcp?: boolean;
  /** Add an OPT with this UDP size (or true for 4096). */
  edns?: number | boolean;
  do?: boolean;
  id?: number;
  rd?: boolean;
  /** Set the AD bit (RFC 6840 5.7: the client understands it) / the CD bit. */
  ad?: boolean;
  cd?: boolean;
  timeout?: number;
  qclass?: string;
  /** Send from this local address (e.g. 127.0.0.2: another loopback client). */
  source?: string;
  /** Told the local port a UDP query is sent from (with `source`), e.g. to find it in a log line. */
  onPort?: (port: number) => void;
}

export interface QueryResult {
  msg: DecodedPacket;
  wire: Buffer;
  rcode: number;
}

export function buildQuery(name: string, type: string, o: QueryOptions = {}): Buffer {
  const p: Packet = {
    type: 'query',
    id: o.id ?? randomInt(65536),
    flags: (o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED) | (o.ad ? dnsPacket.AUTHENTIC_DATA : 0) | (o.cd ? dnsPacket.CHECKING_DISABLED : 0),
    questions: [{ name, type: type as 'A', class: (o.qclass ?? 'IN') as 'IN' }],
  };
  if (o.edns !== undefined && o.edns !== false) {
    p.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: o.edns === true ? 4096 : o.edns, extendedRcode: 0, ednsVersion: 0, flags: o.do ? dnsPacket.DNSSEC_OK : 0, flag_do: !!o.do, options: [] }];
  }
  return dnsPacket.encode(p);
}

export function rcodeOfWire(buf: Buffer): number {
  const m = dnsPacket.decode(buf);
  let r = buf[3]! & 0xf;
  for (const a of m.additionals ?? []) if (a.type === 'OPT') r |= (a.extendedRcode ?? 0) << 4;
  return r;
}

/** Send raw bytes and wait for one reply (or undefined on timeout). */
export function exchangeRaw(port: number, wire: Buffer, o: QueryOptions = {}): Promise<Buffer | undefined> {
  const host = o.host ?? '127.0.0.1';
  const timeout = o.timeout ?? 2000;
  if (o.tcp) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, ...(o.source !== undefined ? { localAddress: o.source } : {}) });
      let acc = Buffer.alloc(0);
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(undefined);
      }, timeout);
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(wire.length);
        sock.write(Buffer.concat([len, wire]));
      });
      sock.on('data', (d) => {
        acc = Buffer.concat([acc, d]);
        if (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
          clearTimeout(timer);
          sock.destroy();
          resolve(acc.subarray(2, 2 + acc.readUInt16BE(0)));
        }
      });
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  }
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeout);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      s.close();
      reject(e);
    });
    if (o.source !== undefined) {
      s.bind(0, o.source, () => {
        o.onPort?.(s.address().port);
        s.send(wire, port, host);
      });
    }
    else s.send(wire, port, host);
  });
}

/** Query and decode; rejects on timeout. */
export async function query(port: number, name: string, type: string, o: QueryOptions = {}): Promise<QueryResult> {
  const wire = buildQuery(name, type, o);
  const res = await exchangeRaw(port, wire, o);
  if (res === undefined) throw new Error(`no answer for ${name} ${type} from port ${port} within ${o.timeout ?? 2000} ms`);
  return { msg: dnsPacket.decode(res), wire: res, rcode: rcodeOfWire(res) };
}
