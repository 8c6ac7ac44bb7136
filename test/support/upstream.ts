// A real DNS server for tests, on 127.0.0.1 (UDP and TCP on the same port), with programmable
// answers per name/type and faults a forwarder must survive:
//
//   const up = await startUpstream();
//   up.answer('a.example.org.', 'A', ['a.example.org. 30 IN A 10.0.0.1']);
//   up.fault = 'drop';            // 'none' | 'drop' | 'refused' | 'servfail' | 'garbage' | 'wrong-id' | 'wrong-question' | 'spoof-first' | 'compression-loop'
//   up.truncateUdp = true;        // every UDP reply comes back empty with TC set
//   await up.stop(); await up.start();   // same port
//   up.count.udp, up.count.tcp, up.queries (each with the client's source port)
//   up.onQuery = (q) => up.sendUdp(q.port, forged);   // a forger: datagrams from the upstream's own address and port
//
// With `startUpstream(0, { tls: true })` it also listens for DNS-over-TLS (RFC 7858: the TCP
// framing inside TLS ≥ 1.2) on a second port, `up.tlsPort`, with a server certificate for
// 127.0.0.1/::1/localhost signed by a throw-away CA made with the openssl CLI (`up.pki.caFile`).
// `up.connections.tls` / `.tcp` count accepted connections (to prove reuse).
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { rmSync } from 'node:fs';
import { makePki, type TestPki } from './fake-apiserver.js';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import { rr } from '../../src/dns/message.js';

export type Fault = 'none' | 'drop' | 'refused' | 'servfail' | 'garbage' | 'wrong-id' | 'wrong-question' | 'spoof-first' | 'compression-loop';

export interface Answerable {
  rcode?: number;
  answers?: Array<Answer | string>;
  authorities?: Array<Answer | string>;
  additionals?: Array<Answer | string>;
  /** Extra header flags (e.g. AA 0x0400). */
  flags?: number;
}

export type Transport = 'udp' | 'tcp' | 'tls';

export type Handler = (q: DecodedPacket, transport: Transport) => Answerable;

export interface SeenQuery {
  name: string;
  type: string;
  transport: Transport;
  id: number;
  do: boolean;
  rd: boolean;
  /** The client's source port (UDP), or the connection's remote port (TCP/TLS). */
  port: number;
}

export interface Upstream {
  readonly port: number;
  readonly addr: string;
  fault: Fault;
  /** UDP replies: empty with TC set (TCP replies stay full). */
  truncateUdp: boolean;
  /** Delay every reply by this many ms. */
  delay: number;
  /** TCP/TLS: close each connection after its first reply (a server that takes one query per connection). */
  oneReplyPerConnection: boolean;
  /** What to answer for names with no programmed answer (default NXDOMAIN, no records). */
  fallback: Handler;
  readonly count: { udp: number; tcp: number; tls: number; total: number };
  /** Connections accepted since the last resetCounts(). */
  readonly connections: { tcp: number; tls: number };
  /** Chunks read from TCP/TLS connections (a burst written at once is one read, or a few). */
  readonly reads: { tcp: number; tls: number };
  /** The DNS-over-TLS port (0 without the `tls` option). */
  readonly tlsPort: number;
  /** The CA and certificate files of the TLS listener (undefined without the `tls` option). */
  readonly pki: TestPki | undefined;
  readonly queries: SeenQuery[];
  /** Called with every query as it arrives (before any reply, which `delay` holds back). */
  onQuery: ((q: SeenQuery) => void) | undefined;
  /** Send raw bytes from the upstream's UDP socket (its address and port) to 127.0.0.1:`port`. */
  sendUdp(port: number, bytes: Uint8Array): void;
  answer(name: string, type: string, a: Answerable | Array<Answer | string> | Handler): void;
  /** Queries seen for a name (any type, case-insensitive). */
  seen(name: string, type?: string): number;
  resetCounts(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  readonly running: boolean;
}

const toRR = (a: Answer | string): Answer => (typeof a === 'string' ? rr(a) : a);

function key(name: string, type: string): string {
  const n = name.toLowerCase().replace(/\.$/, '');
  return `${n === '' ? '.' : n}/${type.toUpperCase()}`;
}

export interface UpstreamOptions {
  /** Also serve DNS-over-TLS on a second port (a CA + server certificate are made for it). */
  tls?: boolean;
}

// One CA + server certificate per test process: openssl runs once, the files go at exit.
let sharedPki: TestPki | undefined;
function testPki(): TestPki {
  if (sharedPki === undefined) {
    const pki = makePki();
    sharedPki = pki;
    process.once('exit', () => rmSync(pki.dir, { recursive: true, force: true }));
  }
  return sharedPki;
}

export async function startUpstream(port = 0, opts: UpstreamOptions = {}): Promise<Upstream> {
  const table = new Map<string, Handler>();
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  let tlsServer: tls.Server | undefined;
  const conns = new Set<net.Socket>();
  let boundPort = port;
  let tlsPort = 0;
  let started = false;
  const pki = opts.tls ? testPki() : undefined;

  const up: Upstream = {
    get port() {
      return boundPort;
    },
    get addr() {
      return `127.0.0.1:${boundPort}`;
    },
    fault: 'none',
    truncateUdp: false,
    delay: 0,
    oneReplyPerConnection: false,
    fallback: () => ({ rcode: 3 }),
    count: { udp: 0, tcp: 0, tls: 0, total: 0 },
    connections: { tcp: 0, tls: 0 },
    reads: { tcp: 0, tls: 0 },
    get tlsPort() {
      return tlsPort;
    },
    pki,
    queries: [],
    onQuery: undefined,
    sendUdp(p, bytes) {
      udp?.send(bytes, p, '127.0.0.1');
    },
    answer(name, type, a) {
      const h: Handler = typeof a === 'function' ? a : Array.isArray(a) ? () => ({ answers: a }) : () => a;
      table.set(key(name, type), h);
    },
    seen(name, type) {
      const n = key(name, 'x').split('/')[0];
      return up.queries.filter((q) => key(q.name, 'x').split('/')[0] === n && (type === undefined || q.type === type.toUpperCase())).length;
    },
    resetCounts() {
      up.count.udp = 0;
      up.count.tcp = 0;
      up.count.tls = 0;
      up.count.total = 0;
      up.connections.tcp = 0;
      up.connections.tls = 0;
      up.reads.tcp = 0;
      up.reads.tls = 0;
      up.queries.length = 0;
    },
    get running() {
      return udp !== undefined;
    },
    async start() {
      if (udp !== undefined) return;
      // An ephemeral UDP port may be taken for TCP by someone else: then try another one.
      for (let attempt = 0; ; attempt++) {
        try {
          await bindBoth();
          break;
        } catch (e) {
          if (port !== 0 || started || attempt >= 20 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
          boundPort = 0;
        }
      }
      started = true;
      if (pki !== undefined) await listenTls();
    },
    async stop() {
      const u = udp;
      const t = tcp;
      const ts = tlsServer;
      udp = undefined;
      tcp = undefined;
      tlsServer = undefined;
      for (const c of conns) c.destroy();
      conns.clear();
      if (u) await new Promise<void>((r) => u.close(() => r()));
      if (t) await new Promise<void>((r) => t.close(() => r()));
      if (ts) await new Promise<void>((r) => ts.close(() => r()));
    },
  };

  /** Serve the 2-byte-length framed stream of one TCP or TLS connection. */
  function serveStream(s: net.Socket, transport: 'tcp' | 'tls'): void {
    conns.add(s);
    up.connections[transport]++;
    let acc = Buffer.alloc(0);
    let replied = false;
    s.on('data', (d: Buffer) => {
      up.reads[transport]++;
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const m = acc.subarray(2, 2 + acc.readUInt16BE(0));
        acc = acc.subarray(2 + m.length);
        respond(Buffer.from(m), transport, s.remotePort ?? 0, (out) => {
          if (s.destroyed || (replied && up.oneReplyPerConnection)) return;
          replied = true;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          s.write(Buffer.concat([len, out]));
          if (up.oneReplyPerConnection) s.end();
        });
      }
    });
    s.on('error', () => {});
    s.on('close', () => conns.delete(s));
  }

  async function listenTls(): Promise<void> {
    if (pki === undefined) return;
    const srv = tls.createServer({ key: pki.serverKey, cert: pki.serverCert, minVersion: 'TLSv1.2' }, (s) => serveStream(s, 'tls'));
    srv.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(tlsPort, '127.0.0.1', () => {
        srv.off('error', reject);
        resolve();
      });
    });
    tlsPort = (srv.address() as net.AddressInfo).port;
    tlsServer = srv;
  }

  async function bindBoth(): Promise<void> {
    // A large receive buffer (as far as net.core.rmem_max allows): forward sends a burst of
    // hundreds of datagrams in one tick when a client pipelines queries, before this can read any.
    const u = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(boundPort, '127.0.0.1', () => {
        u.off('error', reject);
        resolve();
      });
    });
    boundPort = u.address().port;
    u.on('error', () => {});
    u.on('message', (msg, rinfo) => {
      respond(msg, 'udp', rinfo.port, (out) => {
        if (udp === u) u.send(out, rinfo.port, rinfo.address);
      });
    });
    const t = net.createServer((s) => serveStream(s, 'tcp'));
    try {
      await new Promise<void>((resolve, reject) => {
        t.once('error', reject);
        t.listen(boundPort, '127.0.0.1', () => {
          t.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await new Promise<void>((r) => u.close(() => r()));
      throw e;
    }
    udp = u;
    tcp = t;
  }

  function respond(msg: Buffer, transport: Transport, port: number, send: (b: Buffer) => void): void {
    let q: DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (question === undefined) return;
    up.count[transport]++;
    up.count.total++;
    const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { flag_do?: boolean } | undefined;
    const seen: SeenQuery = { name: question.name, type: question.type, transport, id: q.id ?? 0, do: !!opt?.flag_do, rd: ((q.flags ?? 0) & 0x100) !== 0, port };
    up.queries.push(seen);
    up.onQuery?.(seen);
    const fault = up.fault;
    if (fault === 'drop') return;
    const base = (a: Answerable, over: Partial<Packet> = {}): Buffer => {
      const rcode = a.rcode ?? 0;
      const p: Packet = {
        type: 'response',
        id: q.id ?? 0,
        flags: 0x8000 | ((q.flags ?? 0) & 0x0110) | 0x0080 | (a.flags ?? 0) | (rcode & 0xf),
        questions: q.questions ?? [],
        answers: (a.answers ?? []).map(toRR),
        authorities: (a.authorities ?? []).map(toRR),
        additionals: (a.additionals ?? []).map(toRR),
        ...over,
      };
      if (opt) {
        (p.additionals ??= []).push({ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: rcode >> 4, ednsVersion: 0, flags: opt.flag_do ? dnsPacket.DNSSEC_OK : 0, flag_do: !!opt.flag_do, options: [] } as Answer);
      }
      return dnsPacket.encode(p);
    };
    let out: Buffer;
    switch (fault) {
      case 'refused':
        out = base({ rcode: 5 });
        break;
      case 'servfail':
        out = base({ rcode: 2 });
        break;
      case 'garbage':
        out = Buffer.from('this is not a dns message at all, just bytes');
        break;
      case 'wrong-id':
        out = base(lookup(q, question, transport), { id: ((q.id ?? 0) + 1) & 0xffff });
        break;
      case 'wrong-question':
        out = base(lookup(q, question, transport), { questions: [{ name: 'spoofed.invalid', type: question.type, class: question.class }] });
        break;
      case 'compression-loop':
        out = compressionLoop(msg);
        break;
      case 'spoof-first': {
        // A forged reply first (wrong ID, then wrong question), then the real one.
        const a = lookup(q, question, transport);
        const forged = { answers: ['spoof.invalid. 300 IN A 6.6.6.6'.replace('spoof.invalid.', question.name + '.')] };
        send(base(forged, { id: ((q.id ?? 0) ^ 0x5555) & 0xffff }));
        send(base(forged, { questions: [{ name: 'spoofed.invalid', type: question.type, class: question.class }] }));
        out = base(a);
        break;
      }
      default: {
        const a = lookup(q, question, transport);
        if (transport === 'udp' && up.truncateUdp) out = base({ rcode: a.rcode ?? 0, flags: 0x0200 });
        else out = base(a);
      }
    }
    if (up.delay > 0) setTimeout(() => send(out), up.delay);
    else send(out);
  }

  function lookup(q: DecodedPacket, question: { name: string; type: string }, transport: Transport): Answerable {
    const h = table.get(key(question.name, question.type)) ?? up.fallback;
    return h(q, transport);
  }

  await up.start();
  return up;
}

/**
 * A reply to `query` (its ID and question) whose two answers hide compression loops: a CNAME whose
 * target is a label then a pointer back to that label, and an A record whose owner name is a
 * pointer to itself. Each record's lengths are right, so only following the pointers finds them.
 */
export function compressionLoop(query: Buffer): Buffer {
  let qEnd = 12;
  while (query[qEnd] !== 0) qEnd += query[qEnd]! + 1;
  qEnd += 5;
  const head = Buffer.from(query.subarray(0, qEnd));
  head[2] = 0x81; // QR RD
  head[3] = 0x80; // RA
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(2, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  const cname = Buffer.from([0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 4, 1, 0x78, 0xc0, 0]);
  cname[15] = qEnd + 12; // → the "x" label just before it
  const selfAt = qEnd + cname.length;
  const a = Buffer.from([0xc0, selfAt, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]);
  return Buffer.concat([head, cname, a]);
}
