// Two queries on one TCP connection, so that one worker of -workers answers both (the -workers
// tests ask "which worker are you" and the query under test together).
import net from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';

/** Send `a` and `b` framed on one connection; their replies, in that order (matched by ID). */
export function pair(port: number, a: Buffer, b: Buffer, timeoutMs = 3000): Promise<[DecodedPacket, DecodedPacket]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const frame = (q: Buffer): Buffer => Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    let buf = Buffer.alloc(0);
    const got: DecodedPacket[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(Buffer.concat([frame(a), frame(b)])));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        got.push(dnsPacket.decode(buf.subarray(2, 2 + n)));
        buf = buf.subarray(2 + n);
      }
      if (got.length === 2) {
        clearTimeout(timer);
        s.end();
        const byId = (id: number): DecodedPacket => got.find((m) => m.id === id)!;
        resolve([byId(a.readUInt16BE(0)), byId(b.readUInt16BE(0))]);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
