// The core through real sockets: routing, REFUSED, EDNS, truncation, TCP framing, malformed packets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { definePlugin, RCODE } from '../../src/plugin/api.js';
import { buildQuery, exchangeRaw, freePort, query, startServer, type TestServer } from '../../src/testing/index.js';

/** A responder that answers N TXT records of 100 bytes for names starting with "big", A 10.0.0.1 otherwise. */
const filler = definePlugin({
  name: 'filler',
  api: '^1',
  position: { before: 'whoami' },
  parse(d) {
    d.next();
    return { tag: d.remainingArgs()[0] ?? 'x' };
  },
  setup(cfg) {
    return {
      serve(req, w) {
        if (req.name.startsWith('big')) {
          const n = Number(req.name.split('.')[0]!.slice(3)) || 20;
          const answers = Array.from({ length: n }, (_, i) => ({ name: req.qname, type: 'TXT' as const, ttl: 30, data: [`${i}`.padStart(100, 'x')] }));
          w.write({ type: 'response', flags: 0x0400, answers });
          return RCODE.NOERROR;
        }
        if (req.name.startsWith('slow')) {
          return new Promise<number>((resolve) =>
            setTimeout(() => {
              w.write({ type: 'response', flags: 0, answers: [{ name: req.qname, type: 'TXT', ttl: 1, data: [cfg.tag] }] });
              resolve(0);
            }, 50),
          );
        }
        if (req.name.startsWith('nowrite')) return RCODE.NXDOMAIN;
        if (req.name.startsWith('throw')) throw new Error('boom');
        w.write({ type: 'response', flags: 0x0400, answers: [{ name: req.qname, type: 'TXT', ttl: 30, data: [cfg.tag] }] });
        return RCODE.NOERROR;
      },
    };
  },
});

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer(
    `example.org:0 {\n  bind 127.0.0.1\n  filler org\n}\nsub.example.org:0 {\n  bind 127.0.0.1\n  filler sub\n}\n`.replace(/:0/g, ':0'),
    { plugins: [filler] },
  );
});
afterAll(() => srv?.close());

const txt = (m: dnsPacket.DecodedPacket): string => String((m.answers?.[0] as { data: Buffer[] } | undefined)?.data?.[0] ?? '');

describe('one port, several blocks', () => {
  let s: TestServer;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    s = await startServer(`example.org:${port} {\n bind 127.0.0.1\n filler org\n}\nsub.example.org:${port} {\n bind 127.0.0.1\n filler sub\n}\nexample.net:${port} {\n bind 127.0.0.1\n}\n`, { plugins: [filler] });
  });
  afterAll(() => s?.close());

  it('longest zone wins', async () => {
    expect(txt((await query(port, 'www.example.org', 'TXT')).msg)).toBe('org');
    expect(txt((await query(port, 'a.b.sub.example.org', 'TXT')).msg)).toBe('sub');
    expect(txt((await query(port, 'SUB.Example.ORG', 'TXT')).msg)).toBe('sub');
  });

  it('REFUSED outside every zone, and for a block without plugins', async () => {
    expect((await query(port, 'example.com', 'A')).rcode).toBe(RCODE.REFUSED);
    expect((await query(port, 'www.example.net', 'A')).rcode).toBe(RCODE.REFUSED);
  });

  it('keeps the question exactly as asked (case preserved)', async () => {
    const r = await query(port, 'WwW.ExAmple.org', 'TXT');
    expect(r.msg.questions?.[0]?.name).toBe('WwW.ExAmple.org');
    expect(r.msg.answers?.[0]?.name).toBe('WwW.ExAmple.org');
  });
});

describe('chain results', () => {
  it('an unwritten rcode becomes an empty reply with that rcode', async () => {
    const r = await srv.query('nowrite.example.org', 'A');
    expect(r.rcode).toBe(RCODE.NXDOMAIN);
    expect(r.msg.answers).toHaveLength(0);
  });

  it('a plugin that throws gives SERVFAIL, counts a panic, and the server keeps serving', async () => {
    const r = await srv.query('throw.example.org', 'A');
    expect(r.rcode).toBe(RCODE.SERVFAIL);
    const m = await srv.metrics.registry.getSingleMetricAsString('coredns_panics_total');
    expect(m).toMatch(/coredns_panics_total 1/);
    expect(txt((await srv.query('ok.example.org', 'TXT')).msg)).toBe('org');
  });

  it('async answers are written', async () => {
    expect(txt((await srv.query('slow.example.org', 'TXT')).msg)).toBe('org');
  });
});

describe('EDNS0', () => {
  it('echoes OPT with our UDP size and the DO bit', async () => {
    const r = await srv.query('a.example.org', 'TXT', { edns: 4096, do: true });
    const opt = r.msg.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize: number; flag_do: boolean } | undefined;
    expect(opt?.udpPayloadSize).toBe(1232);
    expect(opt?.flag_do).toBe(true);
  });

  it('no OPT in the reply without OPT in the query', async () => {
    const r = await srv.query('a.example.org', 'TXT');
    expect(r.msg.additionals?.find((a) => a.type === 'OPT')).toBeUndefined();
  });

  it('EDNS version > 0 → BADVERS', async () => {
    const q = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'a.example.org', type: 'A' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] }] });
    const res = await exchangeRaw(srv.port, q);
    const m = dnsPacket.decode(res!);
    const opt = m.additionals?.find((a) => a.type === 'OPT') as { extendedRcode: number } | undefined;
    expect(((opt?.extendedRcode ?? 0) << 4) | (res![3]! & 0xf)).toBe(RCODE.BADVERS);
  });
});

describe('truncation', () => {
  it('without EDNS a UDP reply fits 512 bytes with TC set', async () => {
    const r = await srv.query('big20.example.org', 'TXT');
    expect(r.wire.length).toBeLessThanOrEqual(512);
    expect(r.msg.flag_tc).toBe(true);
    expect(r.msg.answers!.length).toBeGreaterThan(0);
    expect(r.msg.answers!.length).toBeLessThan(20);
  });

  it('honours the advertised EDNS size', async () => {
    const r = await srv.query('big20.example.org', 'TXT', { edns: 1500 });
    expect(r.wire.length).toBeLessThanOrEqual(1500);
    expect(r.wire.length).toBeGreaterThan(512);
    expect(r.msg.flag_tc).toBe(true);
    const full = await srv.query('big10.example.org', 'TXT', { edns: 4096 });
    expect(full.msg.flag_tc).toBe(false);
    expect(full.msg.answers).toHaveLength(10);
  });

  it('TCP carries the whole answer, even ~64 KiB', async () => {
    const r = await srv.query('big20.example.org', 'TXT', { tcp: true });
    expect(r.msg.flag_tc).toBe(false);
    expect(r.msg.answers).toHaveLength(20);
    const huge = await srv.query('big450.example.org', 'TXT', { tcp: true, timeout: 5000 });
    expect(huge.msg.answers).toHaveLength(450);
    expect(huge.msg.flag_tc).toBe(false);
    expect(huge.wire.length).toBeGreaterThan(55_000);
    // past 64 KiB even TCP must truncate
    const over = await srv.query('big600.example.org', 'TXT', { tcp: true, timeout: 5000 });
    expect(over.msg.flag_tc).toBe(true);
    expect(over.wire.length).toBeLessThanOrEqual(65535);
  });
});

describe('TCP', () => {
  it('answers several pipelined queries on one connection', async () => {
    const names = ['p1.example.org', 'slow.example.org', 'p3.sub.example.org', 'p4.example.org'];
    const replies = await new Promise<dnsPacket.DecodedPacket[]>((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: srv.port });
      const out: dnsPacket.DecodedPacket[] = [];
      let acc = Buffer.alloc(0);
      sock.on('connect', () => {
        const frames = names.map((n, i) => {
          const q = buildQuery(n, 'TXT', { id: 100 + i });
          const l = Buffer.alloc(2);
          l.writeUInt16BE(q.length);
          return Buffer.concat([l, q]);
        });
        sock.write(Buffer.concat(frames)); // all in one segment
      });
      sock.on('data', (d) => {
        acc = Buffer.concat([acc, d]);
        while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
          const len = acc.readUInt16BE(0);
          out.push(dnsPacket.decode(acc.subarray(2, 2 + len)));
          acc = acc.subarray(2 + len);
        }
        if (out.length === names.length) {
          sock.destroy();
          resolve(out);
        }
      });
      sock.on('error', reject);
      setTimeout(() => reject(new Error('timeout')), 3000);
    });
    expect(replies.map((r) => r.id).sort()).toEqual([100, 101, 102, 103]);
  });
});

describe('malformed input', () => {
  it('drops packets shorter than a header, and keeps serving', async () => {
    expect(await exchangeRaw(srv.port, Buffer.from([1, 2, 3]), { timeout: 300 })).toBeUndefined();
    expect(txt((await srv.query('a.example.org', 'TXT')).msg)).toBe('org');
  });

  it('FORMERR for an undecodable question, with the ID kept', async () => {
    const q = buildQuery('a.example.org', 'A', { id: 4242 });
    const bad = Buffer.from(q);
    bad[12] = 60; // label length past the end
    const res = await exchangeRaw(srv.port, bad.subarray(0, 20));
    expect(res).toBeDefined();
    expect(res!.readUInt16BE(0)).toBe(4242);
    expect(res![3]! & 0xf).toBe(RCODE.FORMERR);
  });

  it('FORMERR for QDCOUNT != 1', async () => {
    const q = dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'a.example.org', type: 'A' }, { name: 'b.example.org', type: 'A' }] });
    const res = await exchangeRaw(srv.port, q);
    expect(res![3]! & 0xf).toBe(RCODE.FORMERR);
    const none = dnsPacket.encode({ type: 'query', id: 9, questions: [] });
    expect((await exchangeRaw(srv.port, none))![3]! & 0xf).toBe(RCODE.FORMERR);
  });

  it('NOTIMP for an opcode other than QUERY', async () => {
    const q = buildQuery('a.example.org', 'A');
    q[2] = (q[2]! & 0x87) | (2 << 3); // opcode STATUS
    const res = await exchangeRaw(srv.port, q);
    expect(res![3]! & 0xf).toBe(RCODE.NOTIMP);
  });

  it('ignores responses (QR=1) sent to it', async () => {
    const q = buildQuery('a.example.org', 'A');
    q[2] = q[2]! | 0x80;
    expect(await exchangeRaw(srv.port, q, { timeout: 300 })).toBeUndefined();
  });

  it('a compression loop in the question is FORMERR, not a hang', async () => {
    const q = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    const res = await exchangeRaw(srv.port, q);
    expect(res![3]! & 0xf).toBe(RCODE.FORMERR);
  });

  it('garbage over TCP does not stop the listener', async () => {
    // a 5-byte "message", a real query, half a frame: the server has read past the garbage once
    // it answers the query behind it (or once it cuts the connection)
    const q = buildQuery('b.example.org', 'TXT');
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: srv.port }, () => {
        s.write(Buffer.concat([Buffer.from([0, 5, 1, 2, 3, 4, 5, q.length >> 8, q.length & 0xff]), q, Buffer.from([0, 1])]));
      });
      const done = (): void => {
        s.destroy();
        resolve();
      };
      s.on('data', done);
      s.on('close', done);
      s.on('error', done);
    });
    expect(txt((await srv.query('a.example.org', 'TXT', { tcp: true })).msg)).toBe('org');
  });
});
