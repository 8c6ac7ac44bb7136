// A test client for zone transfers: one AXFR or IXFR query over TCP (or UDP), every reply message
// until the closing SOA, with their sizes. Also a fake secondary that records the NOTIFYs it gets.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';

export interface XfrResult {
  msgs: DecodedPacket[];
  /** Wire size of each message. */
  sizes: number[];
  records: Answer[];
  rcode: number;
}

export interface XfrOptions {
  udp?: boolean;
  serial?: number;
  source?: string;
  timeout?: number;
}

export function xfrQuery(zone: string, type: 'AXFR' | 'IXFR', serial = 0): Buffer {
  const name = zone === '.' ? '.' : zone.replace(/\.$/, '');
  return dnsPacket.encode({
    type: 'query',
    id: 4711,
    flags: 0,
    questions: [{ name, type, class: 'IN' }],
    ...(type === 'IXFR' ? { authorities: [{ name, type: 'SOA', ttl: 0, class: 'IN', data: { mname: 'ns.' + name, rname: 'hostmaster.' + name, serial, refresh: 0, retry: 0, expire: 0, minimum: 0 } }] } : {}),
  } as never);
}

/** Transfer `zone` from 127.0.0.1:port: the messages until the SOA that ends it (or the first reply that is not NOERROR). */
export function transferFrom(port: number, zone: string, type: 'AXFR' | 'IXFR' = 'AXFR', o: XfrOptions = {}): Promise<XfrResult> {
  const q = xfrQuery(zone, type, o.serial ?? 0);
  const res: XfrResult = { msgs: [], sizes: [], records: [], rcode: 0 };
  const add = (wire: Buffer): boolean => {
    const m = dnsPacket.decode(wire);
    res.msgs.push(m);
    res.sizes.push(wire.length);
    res.rcode = wire[3]! & 0xf;
    for (const a of m.answers ?? []) res.records.push(a);
    const soas = res.records.filter((r) => r.type === 'SOA').length;
    // done: an error, a lone SOA (IXFR up to date), or the closing SOA
    return res.rcode !== 0 || (res.records.length === 1 && type === 'IXFR' && soas === 1 && (o.serial ?? 0) >= (res.records[0] as { data: { serial: number } }).data.serial) || soas >= 2 || res.records.length === 0;
  };
  const timeout = o.timeout ?? 10_000;
  if (o.udp) {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      const t = setTimeout(() => {
        s.close();
        reject(new Error('timeout'));
      }, timeout);
      s.on('message', (m) => {
        clearTimeout(t);
        add(m);
        s.close();
        resolve(res);
      });
      s.send(q, port, '127.0.0.1');
    });
  }
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, ...(o.source ? { localAddress: o.source } : {}) });
    let acc = Buffer.alloc(0);
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timeout after ${res.msgs.length} messages`));
    }, timeout);
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      sock.write(Buffer.concat([len, q]));
    });
    sock.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const n = acc.readUInt16BE(0);
        const done = add(acc.subarray(2, 2 + n));
        acc = acc.subarray(2 + n);
        if (done) {
          clearTimeout(t);
          sock.destroy();
          resolve(res);
          return;
        }
      }
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(res);
    });
  });
}

/** A UDP listener on 127.0.0.1 that records NOTIFY messages; it answers NOERROR unless `silent` says to ignore this one. */
export async function fakeSecondary(silent: (n: number) => boolean = () => false): Promise<{ port: number; notifies: Array<{ zone: string; opcode: number; aa: boolean }>; from: string[]; seen: number; close(): void }> {
  const s = dgram.createSocket('udp4');
  const out = {
    port: 0,
    notifies: [] as Array<{ zone: string; opcode: number; aa: boolean }>,
    /** The source address of each NOTIFY answered. */
    from: [] as string[],
    seen: 0,
    close: () => s.close(),
  };
  s.on('message', (m, rinfo) => {
    out.seen++;
    if (silent(out.seen)) return;
    const p = dnsPacket.decode(m);
    out.notifies.push({ zone: p.questions?.[0]?.name ?? '', opcode: (m[2]! >> 3) & 0xf, aa: (m[2]! & 0x04) !== 0 });
    out.from.push(rinfo.address);
    const r = Buffer.from(m);
    r[2] = r[2]! | 0x80; // QR
    s.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  out.port = s.address().port;
  return out;
}
