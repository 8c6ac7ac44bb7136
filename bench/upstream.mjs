// A tiny upstream for the cache and forward workloads, on 127.0.0.1 only. It answers every A
// query with one record (TTL 3600, address = ipFor(name) from workloads.mjs) and every other type
// with NOERROR/no answers. It works on the wire bytes (no decode/encode) so that it costs as
// little CPU as possible: it shares the machine's cores with the server under test.
//
//   node bench/upstream.mjs --port 5301     prints "ready <port>" once bound
//
// With --tcp it also answers over TCP on the same port (length-prefixed, pipelined queries
// answered in order): bench/hostile.mjs pipelines TCP queries to forward, which asks upstream over
// TCP as CoreDNS does.
//
// With --negative (bench/soak.mjs) the answers that are not an A record carry a SOA, so that a
// cache keeps them (RFC 2308): a name whose first label starts with "nx-" gets NXDOMAIN + SOA,
// any other type than A gets NODATA + SOA. The SOA is upstream.test.'s, TTL 60, MINIMUM 10.
import dgram from 'node:dgram';
import net from 'node:net';
import { ipFor } from './workloads.mjs';

const args = process.argv.slice(2);
const i = args.indexOf('--port');
const port = i >= 0 ? Number(args[i + 1]) : 0;
const negative = args.includes('--negative');
const withTcp = args.includes('--tcp');

/** The authority section's SOA as wire bytes (no compression), built once. */
function soaBytes() {
  const name = (n) => Buffer.concat([...n.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const rdata = Buffer.concat([name('ns.upstream.test.'), name('hostmaster.upstream.test.'), Buffer.alloc(20)]);
  [1, 3600, 600, 86400, 10].forEach((v, k) => rdata.writeUInt32BE(v, rdata.length - 20 + 4 * k)); // serial refresh retry expire minimum
  const head = Buffer.alloc(10);
  head.writeUInt16BE(6, 0); // SOA
  head.writeUInt16BE(1, 2); // IN
  head.writeUInt32BE(60, 4);
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([name('upstream.test.'), head, rdata]);
}
const SOA = soaBytes();

/** Question end offset and the name as text, or undefined for anything odd. */
function question(buf) {
  if (buf.length < 12 || ((buf[4] << 8) | buf[5]) !== 1) return undefined;
  let pos = 12;
  let name = '';
  for (;;) {
    const l = buf[pos];
    if (l === undefined || l > 63) return undefined;
    if (l === 0) break;
    name += buf.toString('latin1', pos + 1, pos + 1 + l) + '.';
    pos += l + 1;
  }
  pos += 1;
  if (pos + 4 > buf.length) return undefined;
  return { end: pos + 4, name: name || '.', qtype: (buf[pos] << 8) | buf[pos + 1] };
}

/** The reply to a query, or undefined for anything odd. */
function answer(buf) {
  const q = question(buf);
  if (q === undefined) return undefined;
  const nx = negative && q.name.startsWith('nx-');
  const isA = q.qtype === 1 && !nx;
  const withSoa = negative && !isA;
  const out = Buffer.alloc(q.end + (isA ? 16 : 0) + (withSoa ? SOA.length : 0));
  buf.copy(out, 0, 0, q.end);
  out[2] = 0x80 | (buf[2] & 0x01); // QR, RD copied
  out[3] = nx ? 0x83 : 0x80; // RA, NOERROR or NXDOMAIN
  out[6] = 0;
  out[7] = isA ? 1 : 0;
  out[8] = out[9] = out[10] = out[11] = 0; // the query's OPT is not echoed
  if (withSoa) {
    out[9] = 1; // NSCOUNT
    SOA.copy(out, q.end);
  }
  if (isA) {
    let p = q.end;
    out[p++] = 0xc0; // pointer to the question name
    out[p++] = 12;
    out.writeUInt16BE(1, p); // A
    out.writeUInt16BE(1, p + 2); // IN
    out.writeUInt32BE(3600, p + 4);
    out.writeUInt16BE(4, p + 8);
    p += 10;
    for (const o of ipFor(q.name).split('.')) out[p++] = Number(o);
  }
  return out;
}

const socket = dgram.createSocket('udp4');
socket.on('message', (buf, rinfo) => {
  const out = answer(buf);
  if (out !== undefined) socket.send(out, rinfo.port, rinfo.address);
});

/** TCP: every complete frame of a chunk answered, the replies of one chunk in one write. */
function serveTcp(sock) {
  let held = Buffer.alloc(0);
  sock.on('error', () => sock.destroy());
  sock.on('data', (d) => {
    const b = held.length === 0 ? d : Buffer.concat([held, d]);
    const replies = [];
    let pos = 0;
    while (pos + 2 <= b.length) {
      const len = b.readUInt16BE(pos);
      if (pos + 2 + len > b.length) break;
      const out = answer(b.subarray(pos + 2, pos + 2 + len));
      pos += 2 + len;
      if (out === undefined) continue;
      const f = Buffer.allocUnsafe(2 + out.length);
      f.writeUInt16BE(out.length, 0);
      out.copy(f, 2);
      replies.push(f);
    }
    held = Buffer.from(b.subarray(pos));
    if (replies.length > 0) sock.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
  });
}

socket.bind(port, '127.0.0.1', () => {
  if (!withTcp) return process.stdout.write(`ready ${socket.address().port}\n`);
  const srv = net.createServer(serveTcp);
  srv.listen(socket.address().port, '127.0.0.1', () => process.stdout.write(`ready ${socket.address().port}\n`));
});
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
