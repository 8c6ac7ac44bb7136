// Hostile TCP clients: idle and slow clients are cut, the connection cap holds while UDP answers,
// one address cannot take every connection, a client that does not read its replies cannot grow
// the server's memory, and honest clients (pipelining, half-closing) are served whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { buildQuery, query, responder, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { laterPlugin } from '../support/later-plugin.js';
import { scopedPerTest } from '../support/scoped.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer('.:0 {\n bind 127.0.0.1\n whoami\n}', { tcp: { idleTimeout: 400, readTimeout: 300, maxConnections: 20 } });
});
afterAll(() => srv.close());

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: srv.port }, () => resolve(s));
    s.on('error', reject);
  });
}

function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe('TCP limits', () => {
  it('closes an idle connection after the idle timeout', async () => {
    const s = await connect();
    s.on('error', () => {});
    const start = Date.now();
    expect(await closedWithin(s, 3000)).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(300);
  });

  it('cuts a client that sends one byte at a time slower than the read timeout', async () => {
    const s = await connect();
    s.on('error', () => {});
    const q = buildQuery('slow.example.org', 'A');
    const frame = Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
    let i = 0;
    const timer = setInterval(() => {
      if (!s.destroyed && i < frame.length) s.write(frame.subarray(i, ++i));
    }, 100); // 10 bytes/s: the 300 ms read deadline passes long before the frame completes
    const closed = await closedWithin(s, 3000);
    clearInterval(timer);
    expect(closed).toBe(true);
    expect(i).toBeLessThan(frame.length);
  });

  it('holds the connection cap under a flood while UDP keeps answering', async () => {
    const socks: net.Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 60; i++) {
      const s = net.connect({ host: '127.0.0.1', port: srv.port });
      s.on('error', () => {});
      s.on('close', () => closed++);
      socks.push(s);
    }
    // every connection accounted for: open at the server, or closed by it (refused over the cap,
    // or idle since); the most the server held open meanwhile is what the cap is about
    let most = 0;
    await waitFor(() => {
      const open = srv.server.tcpConnections();
      most = Math.max(most, open);
      return open + closed === 60;
    }, { what: 'the server to have taken or refused all 60 connections' });
    expect(most).toBeLessThanOrEqual(20);
    expect(most).toBeGreaterThan(0);
    const r = await srv.query('during.flood.example', 'A');
    expect(r.rcode).toBe(0);
    for (const s of socks) s.destroy();
  });
});

describe('dual-stack listener', () => {
  it('reports IPv4 clients of a :: socket as IPv4 and answers them over UDP and TCP', async () => {
    let s: TestServer;
    try {
      s = await startServer('.:0 {\n bind ::\n whoami\n}');
    } catch (e) {
      if (/EAFNOSUPPORT|EADDRNOTAVAIL/.test(String(e))) return; // a host without IPv6: nothing to test
      throw e;
    }
    try {
      for (const tcp of [false, true]) {
        const r = await query(s.port, 'who.example', 'A', { host: '127.0.0.1', tcp });
        const a = r.msg.additionals!.find((x) => x.type === 'A' || x.type === 'AAAA')!;
        expect(a.type).toBe('A');
        expect((a as { data: string }).data).toBe('127.0.0.1');
      }
      const r6 = await query(s.port, 'who.example', 'A', { host: '::1' });
      expect(r6.msg.additionals!.find((x) => x.type === 'AAAA')).toBeDefined();
    } finally {
      await s.close();
    }
  });
});

const scoped = scopedPerTest();

/** A query as a TCP frame (2-byte length first). */
function frame(name: string, type = 'A', id = 0): Buffer {
  const q = buildQuery(name, type, { id });
  return Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
}

const rcodeOf = (m: DecodedPacket): number => (m.flags ?? 0) & 0xf;

/** A TCP connection that collects every framed reply it reads. */
class Stream {
  readonly replies: DecodedPacket[] = [];
  closed = false;
  private acc = Buffer.alloc(0);
  private constructor(readonly sock: net.Socket) {
    sock.on('error', () => {});
    sock.on('close', () => (this.closed = true));
    sock.on('data', (d: Buffer) => {
      this.acc = Buffer.concat([this.acc, d]);
      while (this.acc.length >= 2 && this.acc.length >= 2 + this.acc.readUInt16BE(0)) {
        this.replies.push(dnsPacket.decode(this.acc.subarray(2, 2 + this.acc.readUInt16BE(0))));
        this.acc = this.acc.subarray(2 + this.acc.readUInt16BE(0));
      }
    });
  }

  static open(port: number, localAddress?: string): Promise<Stream> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => resolve(new Stream(s)));
      s.once('error', reject);
    });
  }

  /** Send a query and wait for its reply (by ID). */
  async ask(name: string, id: number): Promise<DecodedPacket> {
    this.sock.write(frame(name, 'A', id));
    return waitFor(() => this.replies.find((r) => r.id === id), { timeout: 3000, what: `the reply to ${name}` });
  }
}

describe('a client that does not read its replies', () => {
  it('stops being read above the high-water mark and is closed; its memory is returned; other clients are answered', async () => {
    const chunk = 'x'.repeat(250);
    // ~4 KB replies for names under big.test, whoami for the rest
    const big = responder('big', (req, w, next) => {
      if (!req.name.endsWith('big.test.')) return next(req, w);
      w.write({ type: 'response', answers: [{ name: req.name, type: 'TXT', ttl: 0, data: Array<string>(16).fill(chunk) }] });
      return 0;
    });
    const highWater = 16 * 1024;
    const maxQueued = 256 * 1024;
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n big\n whoami\n}', {
      plugins: [big],
      tcp: { highWater, maxQueued, writeTimeout: 500, idleTimeout: 20_000, readTimeout: 5000 },
    });
    const honest = await Stream.open(srv.port);
    const bad = await Stream.open(srv.port);
    bad.sock.pause(); // never reads: replies pile up in the kernel, then in the server
    const queries = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame(`q${i}.big.test`, 'A', i & 0xffff)));
    bad.sock.write(queries); // 80 MB of replies if all were answered
    let most = 0;
    let answered = 0;
    await waitFor(
      async () => {
        most = Math.max(most, srv.server.tcpQueuedBytes());
        if (srv.server.tcpConnections() === 1) return true; // the non-reading one is gone
        const r = await honest.ask('who.example', (answered + 1) & 0xffff);
        expect(rcodeOf(r)).toBe(0);
        answered++;
        return false;
      },
      { timeout: 15_000, what: 'the non-reading client to be closed' },
    );
    // queued: what was over the mark when reading stopped (one reply) plus one unread chunk of queries
    expect(most).toBeLessThanOrEqual(highWater + 4200 + 128 * 1024);
    expect(answered).toBeGreaterThan(0);
    // the bytes went with the connection; the client sees the close once it reads
    expect(srv.server.tcpQueuedBytes()).toBe(0);
    bad.sock.resume();
    await waitFor(() => bad.closed, { what: 'the client to see the close' });
    expect(srv.server.tcpQueuedBytes()).toBe(0);
    expect(rcodeOf(await honest.ask('after.example', 9999))).toBe(0);
    honest.sock.destroy();
  });
});

describe('connections per client address', () => {
  it('closes connections past the per-client cap; another address is still served', async () => {
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n whoami\n}', { tcp: { maxPerClient: 3 } });
    const mine = await Promise.all(Array.from({ length: 6 }, () => Stream.open(srv.port)));
    await waitFor(() => mine.filter((s) => s.closed).length === 3, { what: 'three connections over the cap to be closed' });
    expect(srv.server.tcpConnections()).toBe(3);
    // the ones kept are answered
    const kept = mine.filter((s) => !s.closed);
    for (const [i, s] of kept.entries()) expect(rcodeOf(await s.ask('kept.example', 100 + i))).toBe(0);
    // a client on another address (127.0.0.2, bound as the source) gets its own share
    const other = await Stream.open(srv.port, '127.0.0.2');
    const r = await other.ask('other.example', 200);
    expect(rcodeOf(r)).toBe(0);
    const a = r.additionals!.find((x) => x.type === 'A') as { data: string };
    expect(a.data).toBe('127.0.0.2');
    for (const s of [...mine, other]) s.sock.destroy();
  });

  it('closes a connection that sends only empty frames after the idle timeout', async () => {
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n whoami\n}', { tcp: { idleTimeout: 400, readTimeout: 300 } });
    const s = await Stream.open(srv.port);
    // chatty but never a query: an empty frame every 50 ms (each one reset the old idle timer)
    const timer = setInterval(() => s.closed || s.sock.write(Buffer.from([0, 0])), 50);
    try {
      await waitFor(() => s.closed, { timeout: 5000, what: 'the chatty connection to be closed' });
    } finally {
      clearInterval(timer);
    }
  });
});

describe('an active pipelined connection', () => {
  it('keeps being answered past the read timeout while every message completes', async () => {
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n whoami\n}', { tcp: { idleTimeout: 400, readTimeout: 300 } });
    const s = await Stream.open(srv.port);
    // each write ends half-way through the next query, so the server always holds a started
    // message; each write also completes the one before (progress), for 4 read timeouts
    const frames = Array.from({ length: 40 }, (_, i) => frame(`p${i}.example`, 'A', i + 1));
    let sent = 0;
    const half = (f: Buffer): number => f.length >> 1;
    s.sock.write(frames[0]!.subarray(0, half(frames[0]!)));
    const timer = setInterval(() => {
      if (sent >= frames.length || s.closed) return;
      const cur = frames[sent]!;
      const next = frames[sent + 1];
      s.sock.write(Buffer.concat([cur.subarray(half(cur)), next ? next.subarray(0, half(next)) : Buffer.alloc(0)]));
      sent++;
    }, 30);
    try {
      await waitFor(() => sent === frames.length || s.closed, { timeout: 10_000, what: 'every query to be sent' });
      expect(s.closed).toBe(false);
      await waitFor(() => s.replies.length === frames.length, { what: 'every reply' });
    } finally {
      clearInterval(timer);
      s.sock.destroy();
    }
  });
});

describe('a pipelined burst', () => {
  it('answers 1,000 queries sent in one write, served a few at a time', async () => {
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n whoami\n}');
    const s = await Stream.open(srv.port);
    s.sock.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(`b${i}.example`, 'A', i))));
    await waitFor(() => s.replies.length === 1000, { what: 'every reply' });
    expect(new Set(s.replies.map((r) => r.id)).size).toBe(1000);
    s.sock.destroy();
  });
});

describe('several pipelined bursts at once', () => {
  it('share 64 queries per turn of the event loop between them, so UDP is read in between', async () => {
    // a turn counter: +1 in every check phase of the event loop
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    const perTurn = new Map<number, number>();
    const count = responder('count', (req, w, next) => {
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
      return next(req, w);
    });
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n count\n whoami\n}', { plugins: [count] });
    const conns = await Promise.all(Array.from({ length: 8 }, () => Stream.open(srv.port)));
    tick();
    try {
      for (const [k, s] of conns.entries()) s.sock.write(Buffer.concat(Array.from({ length: 500 }, (_, i) => frame(`s${k}-${i}.example`, 'A', i))));
      // UDP is answered while they are
      expect((await srv.query('udp.example', 'A')).rcode).toBe(0);
      await waitFor(() => conns.every((s) => s.replies.length === 500), { timeout: 10_000, what: 'every reply' });
    } finally {
      ticking = false;
    }
    // between two check phases: what is left of one turn's 64 and the next turn's 64 at most
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(128);
    for (const s of conns) s.sock.destroy();
  });
});

describe('a pipelined burst to a plugin that answers later', () => {
  it('is answered at most maxInflight queries at a time; its next queries are read as those finish', async () => {
    const { plugin: later, most } = laterPlugin();
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n later\n}', { plugins: [later], tcp: { maxInflight: 50 } });
    const s = await Stream.open(srv.port);
    s.sock.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(`l${i}.example`, 'A', i))));
    await waitFor(() => s.replies.length === 1000, { timeout: 10_000, what: 'every reply' });
    expect(new Set(s.replies.map((r) => r.id)).size).toBe(1000);
    expect(most()).toBe(50);
    s.sock.destroy();
  });
});

describe('a pipelined connection at its in-flight cap', () => {
  it('is read again once half of its queries are done, not one query per reply', async () => {
    const held: Array<() => void> = [];
    let received = 0;
    let auto = false;
    // holds the queries for held.example names until the test answers them; others go to whoami
    const hold = responder('hold', (req, w, next) => {
      if (!req.name.endsWith('held.example.')) return next(req, w);
      received++;
      const answer = (): void => {
        w.write({ type: 'response', answers: [{ name: req.name, type: 'A', ttl: 0, data: '192.0.2.3' }] });
      };
      if (auto) {
        answer();
        return 0;
      }
      return new Promise((resolve) => held.push(() => (answer(), resolve(0))));
    });
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n hold\n whoami\n}', { plugins: [hold], tcp: { maxInflight: 50 } });
    const s = await Stream.open(srv.port);
    const probe = await Stream.open(srv.port);
    s.sock.write(Buffer.concat(Array.from({ length: 300 }, (_, i) => frame(`h${i}.held.example`, 'A', i))));
    await waitFor(() => held.length === 50, { what: 'the first 50 queries in the chain' });
    // one answered: its reply comes back, and the server has had its turn (a probe on another
    // connection is answered after it), but no query was read for the one slot
    held.shift()!();
    await waitFor(() => s.replies.length === 1, { what: 'the first reply' });
    expect(rcodeOf(await probe.ask('probe.example', 1))).toBe(0);
    expect(received).toBe(50);
    // half of them done: the next 25 are read at once
    for (const f of held.splice(0, 24)) f();
    await waitFor(() => received === 75, { what: 'the next 25 queries' });
    expect(rcodeOf(await probe.ask('probe.example', 2))).toBe(0);
    expect(received).toBe(75);
    // the rest answered as they come
    auto = true;
    for (const f of held.splice(0)) f();
    await waitFor(() => s.replies.length === 300, { timeout: 10_000, what: 'every reply' });
    expect(new Set(s.replies.map((r) => r.id)).size).toBe(300);
    s.sock.destroy();
    probe.sock.destroy();
  });
});

/**
 * The write(2)/writev(2) calls the server makes on its side of the connections to `port` while
 * `run` runs (counted at net.Socket's _write and _writev).
 */
async function serverWrites(port: number, run: () => Promise<void>): Promise<number> {
  const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
  const orig = { write: proto._write, writev: proto._writev };
  let writes = 0;
  proto._write = function (this: net.Socket, ...a: unknown[]) {
    if (this.localPort === port) writes++;
    return orig.write.apply(this, a);
  };
  proto._writev = function (this: net.Socket, ...a: unknown[]) {
    if (this.localPort === port) writes++;
    return orig.writev.apply(this, a);
  };
  try {
    await run();
  } finally {
    proto._write = orig.write;
    proto._writev = orig.writev;
  }
  return writes;
}

describe('replies written in one tick', () => {
  it('leave in one write, also when they come back later all together', async () => {
    const held: Array<() => void> = [];
    // holds every query until 100 are held, then answers them all at once, on a later turn (as
    // replies read from an upstream are)
    const batch = responder('batch', (req, w) => {
      return new Promise((resolve) => {
        held.push(() => {
          w.write({ type: 'response', answers: [{ name: req.name, type: 'A', ttl: 0, data: '192.0.2.2' }] });
          resolve(0);
        });
        if (held.length === 100) setImmediate(() => held.splice(0).forEach((f) => f()));
      });
    });
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n batch\n}', { plugins: [batch] });
    const s = await Stream.open(srv.port);
    const writes = await serverWrites(srv.port, async () => {
      s.sock.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(`w${i}.example`, 'A', i))));
      await waitFor(() => s.replies.length === 100, { what: 'every reply' });
    });
    expect(writes).toBeLessThanOrEqual(2);
    s.sock.destroy();
  });

  it('leave in one write when each is written in its own callback of one event-loop turn (as replies read from several upstream connections are)', async () => {
    const held: Array<() => void> = [];
    // holds every query until 100 are held, then answers each in a callback of its own, all in
    // one turn (the check phase of one event-loop iteration)
    const apart = responder('apart', (req, w) => {
      return new Promise((resolve) => {
        held.push(() => {
          w.write({ type: 'response', answers: [{ name: req.name, type: 'A', ttl: 0, data: '192.0.2.3' }] });
          resolve(0);
        });
        if (held.length === 100) setImmediate(() => held.splice(0).forEach((f) => setImmediate(f)));
      });
    });
    const srv = await scoped.server('.:0 {\n bind 127.0.0.1\n apart\n}', { plugins: [apart] });
    const s = await Stream.open(srv.port);
    const writes = await serverWrites(srv.port, async () => {
      s.sock.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(`a${i}.example`, 'A', i))));
      await waitFor(() => s.replies.length === 100, { what: 'every reply' });
    });
    expect(s.replies.map((r) => r.id!).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(writes).toBeLessThanOrEqual(2); // the old code: one write per callback, 100
    s.sock.destroy();
  });
});

describe('a client that half-closes', () => {
  it('gets the replies to the queries it sent before its FIN, also from a plugin that answers later', async () => {
    const up = await scoped.upstream();
    up.delay = 100;
    up.answer('late.example.org.', 'A', ['late.example.org. 30 IN A 192.0.2.7']);
    const srv = await scoped.server(`.:0 {\n bind 127.0.0.1\n forward . 127.0.0.1:${up.port}\n}`);
    const s = await Stream.open(srv.port);
    const ended = new Promise<void>((resolve) => s.sock.once('end', () => resolve()));
    s.sock.end(Buffer.concat([frame('late.example.org', 'A', 1), frame('late.example.org', 'A', 2)]));
    await ended; // the server ends its side only after the replies
    expect(s.replies.map((r) => r.id).sort()).toEqual([1, 2]);
    for (const r of s.replies) expect(r.answers).toEqual([expect.objectContaining({ type: 'A', data: '192.0.2.7' })]);
  });
});

describe('large answers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-large-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const N = 800;
  const eps = Array.from({ length: N }, (_, i) => `{ addresses: [10.1.${i >> 8}.${i & 255}] }`).join(', ');
  fs.writeFileSync(
    path.join(dir, 'many.yaml'),
    `apiVersion: v1
kind: Service
metadata: { name: many, namespace: default }
spec: { clusterIP: None, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: many-1, namespace: default, labels: { kubernetes.io/service-name: many } }
addressType: IPv4
ports: [{ name: http, protocol: TCP, port: 80 }]
endpoints: [${eps}]
`,
  );
  const Q = '_http._tcp.many.default.svc.cluster.local';
  const corefile = `.:0 {\n bind 127.0.0.1\n kubernetes cluster.local {\n  manifests ${dir}\n }\n}`;

  it(`a headless SRV of ${N} endpoints arrives whole over TCP, without TC`, async () => {
    const srv = await scoped.server(corefile);
    const r = await srv.query(Q, 'SRV', { tcp: true });
    expect(r.msg.flag_tc).toBe(false);
    expect(r.msg.answers).toHaveLength(N);
    expect(r.wire.length).toBeLessThanOrEqual(65535);
    // glue fills the rest of the 64 KB
    expect(r.msg.additionals!.length).toBeGreaterThan(N / 2);
  });

  it('a truncated UDP reply is compressed and carries as many whole answers as fit', async () => {
    const srv = await scoped.server(corefile);
    const r = await srv.query(Q, 'SRV', { edns: 1232 });
    expect(r.msg.flag_tc).toBe(true);
    expect(r.wire.length).toBeLessThanOrEqual(1232);
    const n = r.msg.answers!.length;
    // the next SRV record (owner a 2-byte pointer to the question) would not have fit
    const next = r.msg.answers!.length < N ? 2 + 10 + 6 + dnsPacket.name.encodingLength((r.msg.answers![0] as { data: { target: string } }).data.target) : 0;
    expect(r.wire.length + next).toBeGreaterThan(1232);
    expect(n).toBeGreaterThan(15); // uncompressed, 11 fit
  });
});
