// whoami: answers every query with the client's address (A or AAAA) and port (SRV _udp/_tcp) in
// the additional section, as CoreDNS's whoami does. The records are written as wire bytes whose
// owner names point at the question (offset 12), so the reply carries the query name exactly as
// sent — escapes, odd bytes and all — without re-encoding it.
import net from 'node:net';
import { definePlugin, FLAG, packedReply, RCODE, type Packed } from '../../src/plugin/api.js';
import type { Request } from '../../src/plugin/api.js';

const PTR_TO_QUESTION = [0xc0, 0x0c];

function addressBytes(ip: string): { type: number; bytes: number[] } {
  const v4 = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (net.isIPv4(v4)) return { type: 1, bytes: v4.split('.').map(Number) };
  const sa = new net.SocketAddress({ address: ip, family: 'ipv6' }).address;
  const [head = '', tail] = sa.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const bytes: number[] = [];
  for (const g of groups) {
    const v = parseInt(g, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  return { type: 28, bytes };
}

/** The additional section: the client's address, and (when the name leaves room) the port as SRV. */
export function whoamiRecords(req: Request): Packed {
  const addr = addressBytes(req.client.ip);
  const out: number[] = [...PTR_TO_QUESTION, 0, addr.type, 0, 1, 0, 0, 0, 0, 0, addr.bytes.length, ...addr.bytes];
  let count = 1;
  const ttlOffsets = [4];
  const nameLen = req.questionEnd - 4 - 12;
  if (nameLen + 5 <= 255) {
    const proto = req.transport === 'tcp' ? '_tcp' : '_udp';
    const p = req.client.port;
    ttlOffsets.push(out.length + 5 + 2 + 4);
    out.push(4, ...Buffer.from(proto), ...PTR_TO_QUESTION, 0, 33, 0, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, p >> 8, p & 0xff, 0);
    count++;
  }
  return { bytes: Uint8Array.from(out), count, ttlOffsets };
}

export default definePlugin({
  name: 'whoami',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    if (d.countRemainingArgs() > 0) throw d.argErr();
    return {};
  },
  setup() {
    return {
      serve(req, w) {
        w.write(packedReply(req, FLAG.AA, RCODE.NOERROR, undefined, undefined, whoamiRecords(req)));
        return RCODE.NOERROR;
      },
    };
  },
});
