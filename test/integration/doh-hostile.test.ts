// DoH clients that send queries and never read the replies (#19): over HTTP/2 (a zero flow-control
// window, so not one byte of a reply can leave) and over HTTP/1.1 (a raw socket that pipelines
// requests and never reads). What the server holds for them stays under TCP's bounds (high-water
// mark plus one reply), their connections are closed within the write timeout or at once past the
// cap on waiting requests, and a well-behaved client is answered all along. Clients whose POST
// bodies arrive slowly or never: each is answered 408 within the read timeout, and a connection
// is closed past the cap on the body bytes it has sent and not had served.
import { describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { buildQuery, freePort, responder, waitFor, type TestServer } from '../../src/testing/index.js';
import { laterPlugin } from '../support/later-plugin.js';
import { hasOpenssl, makeTlsPki, type TlsPki } from '../support/tls-pki.js';
import { scopedPerTest } from '../support/scoped.js';

const scoped = scopedPerTest();

/** Names `<n>k.<i>.big.test` get a TXT reply of about n KiB; the rest go to whoami. */
let produced = 0;
const big = responder('big', (req, w, next) => {
  const m = /^(\d+)k\.[^.]+\.big\.test\.$/.exec(req.name);
  if (m === null) return next(req, w);
  produced++;
  const strings = Math.floor((Number(m[1]) * 1024) / 256);
  w.write({ type: 'response', answers: [{ name: req.name, type: 'TXT', ttl: 0, data: Array<string>(strings).fill('x'.repeat(255)) }] });
  return 0;
});

const highWater = 16 * 1024;
const maxQueued = 256 * 1024;
const writeTimeout = 500;
/** TCP's limits for the DoH listeners; the idle timeout (20 s) is far longer than the waits below. */
const limits = { highWater, maxQueued, writeTimeout, idleTimeout: 20_000, readTimeout: 5000 };

const path = (name: string, id = 0): string => `/dns-query?dns=${buildQuery(name, 'TXT', { id }).toString('base64url')}`;
/** The port of the server's DoH block with TLS. */
const tlsPort = (s: TestServer): number => s.server.addresses().find((a) => a.scheme === 'https' && a.port !== plainPort)!.port;
/** The DoH block in the clear (HTTP/1.1 behind a proxy) listens here. */
let plainPort = 0;

/** One GET over `session`; the reply's DNS message. */
function ask(session: http2.ClientHttp2Session, name: string): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path(name) });
    const parts: Buffer[] = [];
    s.setTimeout(3000, () => s.close(http2.constants.NGHTTP2_CANCEL));
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(dnsPacket.decode(Buffer.concat(parts))));
    s.on('error', reject);
    s.on('close', () => reject(new Error(`stream closed without a reply (${s.rstCode})`)));
    s.end();
  });
}

const rcodeOf = (m: DecodedPacket): number => (m.flags ?? 0) & 0xf;

/** Bytes of Buffers alive in this process (the server's and the clients') after a full collection. */
function buffers(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  return process.memoryUsage().arrayBuffers;
}

describe.skipIf(!hasOpenssl)('a DoH client that never reads its replies (#19)', () => {
  let pki: TlsPki;
  const server = async (more: Partial<typeof limits> = {}): Promise<TestServer> => {
    pki ??= makeTlsPki();
    produced = 0;
    plainPort = await freePort();
    return scoped.server(
      `https://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n big\n whoami\n}\n` + `https://.:${plainPort} {\n bind 127.0.0.1\n big\n whoami\n}\n`,
      { plugins: [big], tcp: { ...limits, ...more } },
    );
  };

  it('over HTTP/2 with a zero window: at most the high-water mark and one reply are held, the session is closed after the write timeout, others are answered', async () => {
    const srv = await server();
    const port = tlsPort(srv);
    const honest = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
    honest.on('error', () => {});
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the server may send HEADERS but no DATA on any stream
    const bad = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem, settings: { initialWindowSize: 0 } });
    bad.on('error', () => {});
    let closed = false;
    bad.on('close', () => (closed = true));
    await new Promise<void>((resolve) => bad.once('remoteSettings', () => resolve()));
    const reply = 60 * 1024;
    // Bytes the server has answered and cannot send: the content-length of every reply whose
    // headers came (no data can come). The server holds them until they leave or the session goes.
    let committed = 0;
    for (let i = 0; i < 100; i++) {
      const s = bad.request({ ':path': path(`60k.${i}.big.test`) });
      s.on('error', () => {});
      s.on('response', (h) => (committed += Number(h['content-length'] ?? 0)));
      s.pause();
      s.end();
    }
    let most = 0;
    let answered = 0;
    await waitFor(
      async () => {
        most = Math.max(most, committed, srv.server.dohQueuedBytes());
        // the bound is broken, or the session is gone: stop and judge
        if (closed || most > highWater + reply + 1024) return true;
        const r = await ask(honest, 'who.example');
        expect(rcodeOf(r)).toBe(0);
        answered++;
        return false;
      },
      { timeout: 15_000, interval: 50, what: 'the never-reading session to be closed' },
    );
    // held: what went over the mark (one reply) on top of it; never the 100 streams' 6 MB
    expect(most).toBeLessThanOrEqual(highWater + reply + 1024);
    expect(committed).toBeGreaterThan(0);
    await waitFor(() => closed, { timeout: 15_000, what: 'the session to be closed' });
    // closed for its stall (write timeout 500 ms), not for idleness (20 s): the server counts it as
    // cut for unread replies, which an idle close is not (counted, not timed)
    expect(srv.server.dohOverflows()).toBe(1);
    expect(answered).toBeGreaterThan(0);
    expect(srv.server.dohQueuedBytes()).toBe(0);
    expect(rcodeOf(await ask(honest, 'after.example'))).toBe(0);
    honest.close();
  });

  /** A DoH server, an honest HTTP/2 client of it, and raw HTTP/1.1 connections to its block in the clear. */
  async function http1Setup(more: Partial<typeof limits> = {}): Promise<{ srv: TestServer; honest: http2.ClientHttp2Session; open(): Promise<net.Socket>; conns(): number }> {
    const srv = await server(more);
    const honest = http2.connect(`https://127.0.0.1:${tlsPort(srv)}`, { ca: pki.caPem });
    honest.on('error', () => {});
    await new Promise<void>((resolve) => honest.once('connect', () => resolve()));
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: plainPort }, () => resolve(s));
        s.once('error', reject);
        s.on('error', () => {});
      });
    // The server stops reading the socket, so the client's end of it does not see the close while
    // paused: the server's count of connections tells (the honest session is one of them).
    return { srv, honest, open, conns: () => srv.server.tcpConnections() - 1 };
  }
  const request = (name: string): string => `GET ${path(name)} HTTP/1.1\r\nHost: doh\r\n\r\n`;

  it('over HTTP/1.1, pipelining 100 requests and never reading: at most the high-water mark and one reply are held, the connection is closed after the write timeout, others are answered', async () => {
    const { srv, honest, open, conns } = await http1Setup();
    const stall = await open();
    stall.pause();
    // 6 MB of replies if all were answered; fewer requests than the cap on waiting ones
    stall.write(Array.from({ length: 100 }, (_, i) => request(`60k.${i}.big.test`)).join(''));
    let most = 0;
    let answered = 0;
    await waitFor(() => conns() === 1, { what: 'the connection to be accepted' });
    await waitFor(
      async () => {
        most = Math.max(most, srv.server.dohQueuedBytes());
        if (conns() === 0) return true;
        expect(rcodeOf(await ask(honest, 'who.example'))).toBe(0);
        answered++;
        return false;
      },
      { timeout: 15_000, interval: 50, what: 'the stalled connection to be closed' },
    );
    // closed for its stall (write timeout 500 ms), not for idleness (20 s): counted as a cut for
    // unread replies, which an idle close is not
    expect(srv.server.dohOverflows()).toBe(1);
    // held: the mark and one reply (the kernel's buffers took what else was answered)
    expect(most).toBeLessThanOrEqual(highWater + 60 * 1024 + 1024);
    expect(answered).toBeGreaterThan(0);
    expect(srv.server.dohQueuedBytes()).toBe(0);
    expect(rcodeOf(await ask(honest, 'after.example'))).toBe(0);
    stall.destroy();
    honest.close();
  });

  it('over HTTP/1.1, pipelining 5,000 requests and never reading: the memory it takes stays under the cap, and the connection is closed at once past the cap on waiting requests', async () => {
    const { srv, honest, open, conns } = await http1Setup();
    // the replies the server holds are Buffers: arrayBuffers after a full collection
    const before = buffers();
    // held by the server: the mark and one reply; by this client: what it could not send yet
    // (450 KB); 2 MB to spare. 300 MB if every reply were made and held.
    const bound = highWater + 60 * 1024 + 2.5 * 2 ** 20;
    const flood = await open();
    flood.pause();
    flood.write(Array.from({ length: 5000 }, (_, i) => request(`60k.${i}.big.test`)).join(''));
    let most = 0;
    // accepted: counted, or already answered (it may be closed before a poll sees it)
    await waitFor(() => conns() === 1 || produced > 0, { what: 'the connection to be accepted' });
    await waitFor(
      async () => {
        most = Math.max(most, buffers() - before);
        if (conns() === 0 || most > bound) return true;
        expect(rcodeOf(await ask(honest, 'who.example'))).toBe(0);
        return false;
      },
      { timeout: 15_000, interval: 50, what: 'the flooding connection to be closed' },
    );
    expect(most).toBeLessThanOrEqual(bound);
    // past the cap on waiting requests (4 x 128): cut for its unread replies (counted), not closed
    // for idleness (20 s)
    expect(srv.server.dohOverflows()).toBe(1);
    expect(srv.server.dohQueuedBytes()).toBe(0);
    expect(rcodeOf(await ask(honest, 'after.example'))).toBe(0);
    flood.destroy();
    honest.close();
  });
  // POST bodies that arrive slowly or never: each must be complete within the read timeout (CoreDNS's
  // DoH is Go's http.Server with the block's read timeout), and the request bytes one connection
  // holds are capped as its replies are.
  const readTimeout = 1000;
  const postHead = (len: number): string => `POST /dns-query HTTP/1.1\r\nHost: doh\r\nContent-Type: application/dns-message\r\nContent-Length: ${len}\r\n\r\n`;
  const postHeaders = (len: number): http2.OutgoingHttpHeaders => ({ ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message', 'content-length': String(len) });
  /** Bytes the server holds for DoH connections: replies not yet sent, request bodies not yet served. */
  const held = (s: TestServer): number => s.server.dohQueuedBytes() + s.server.dohRequestBytes();
  /** Write one byte to each open stream every 100 ms, `bytes` times at most. */
  const trickle = (write: () => void, bytes: number): NodeJS.Timeout => {
    let n = 0;
    const t = setInterval(() => {
      if (n++ < bytes) write();
      else clearInterval(t);
    }, 100);
    return t;
  };

  it('over HTTP/2, POST bodies sent a byte at a time: each request is answered 408 within the read timeout, the session and other clients are answered meanwhile, and nothing stays held', async () => {
    const srv = await server({ readTimeout });
    const url = `https://127.0.0.1:${tlsPort(srv)}`;
    const honest = http2.connect(url, { ca: pki.caPem });
    honest.on('error', () => {});
    const slow = http2.connect(url, { ca: pki.caPem });
    slow.on('error', () => {});
    const statuses: number[] = [];
    const took: number[] = [];
    const streams: http2.ClientHttp2Stream[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) {
      // 40 bytes announced, at most 30 sent (3 s): it can never complete
      const s = slow.request(postHeaders(40));
      s.on('error', () => {});
      s.on('response', (h) => {
        statuses.push(Number(h[':status']));
        took.push(performance.now() - t0);
      });
      s.resume();
      streams.push(s);
    }
    const t = trickle(() => {
      for (const s of streams) if (!s.closed && !s.destroyed) s.write(Buffer.of(0));
    }, 30);
    try {
      let answered = 0;
      await waitFor(
        async () => {
          if (statuses.length === streams.length) return true;
          expect(rcodeOf(await ask(honest, 'who.example'))).toBe(0);
          answered++;
          return false;
        },
        { timeout: 8000, interval: 50, what: 'every slow POST to be answered' },
      );
      expect(statuses).toEqual(Array<number>(streams.length).fill(408));
      expect(Math.max(...took)).toBeLessThan(readTimeout + 2500);
      expect(answered).toBeGreaterThan(0);
    } finally {
      clearInterval(t);
    }
    // the session itself is still served, and its timed-out streams were closed
    expect(rcodeOf(await ask(slow, 'still.example'))).toBe(0);
    await waitFor(() => streams.every((s) => s.closed), { what: 'the timed-out streams to be closed' });
    await waitFor(() => srv.server.inflight() === 0 && held(srv) === 0, { what: 'nothing held for the connections' });
    slow.close();
    honest.close();
  });

  for (const zeroWindow of [false, true]) {
    it(`over HTTP/2${zeroWindow ? ' with a zero window, above the high-water mark,' : ''} 100 POST bodies shorter than their Content-Length: the request bytes held stay under the cap, the session is closed at once, others are answered`, async () => {
      // read and write timeouts far off: what closes the session must be the cap on request bytes
      const srv = await server({ readTimeout: 5000, writeTimeout: 5000 });
      const url = `https://127.0.0.1:${tlsPort(srv)}`;
      const honest = http2.connect(url, { ca: pki.caPem });
      honest.on('error', () => {});
      const bad = http2.connect(url, { ca: pki.caPem, ...(zeroWindow ? { settings: { initialWindowSize: 0 } } : {}) });
      bad.on('error', () => {});
      let closed = false;
      bad.on('close', () => (closed = true));
      await new Promise<void>((resolve) => bad.once('remoteSettings', () => resolve()));
      let streams = 100;
      if (zeroWindow) {
        // two 60 KB replies that cannot leave: above the mark, the next requests wait
        for (let i = 0; i < 2; i++) {
          const s = bad.request({ ':path': path(`60k.${i}.big.test`) });
          s.on('error', () => {});
          s.end();
        }
        await waitFor(() => srv.server.dohQueuedBytes() > highWater, { what: 'the session to be above the high-water mark' });
        streams -= 2;
      }
      const before = buffers();
      // the server's copies; the client sends one Buffer a hundred times. 6.4 MB if all were held.
      const bound = maxQueued + 2 ** 20;
      const part = Buffer.alloc(64_000);
      for (let i = 0; i < streams; i++) {
        const s = bad.request(postHeaders(65_000));
        s.on('error', () => {});
        s.write(part);
      }
      const t0 = performance.now();
      let most = 0;
      await waitFor(
        async () => {
          most = Math.max(most, buffers() - before);
          if (closed || most > bound) return true;
          expect(rcodeOf(await ask(honest, 'who.example'))).toBe(0);
          return false;
        },
        { timeout: 8000, interval: 50, what: 'the session to be closed' },
      );
      expect(most).toBeLessThanOrEqual(bound);
      // at once: not after the read or write timeout (5 s)
      expect(performance.now() - t0).toBeLessThan(3000);
      await waitFor(() => srv.server.inflight() === 0 && held(srv) === 0, { what: 'nothing held for the connections' });
      expect(rcodeOf(await ask(honest, 'after.example'))).toBe(0);
      honest.close();
    });
  }

  for (const secure of [false, true]) {
    it(`over HTTP/1.1 ${secure ? 'on TLS' : 'in the clear'}, a POST body sent a byte at a time: answered 408, the connection closed within the read timeout, others answered`, async () => {
      const srv = await server({ readTimeout });
      const honest = http2.connect(`https://127.0.0.1:${tlsPort(srv)}`, { ca: pki.caPem });
      honest.on('error', () => {});
      const sock: net.Socket = await new Promise((resolve, reject) => {
        const s = secure
          ? tls.connect({ host: '127.0.0.1', port: tlsPort(srv), ca: pki.caPem, ALPNProtocols: ['http/1.1'] }, () => resolve(s))
          : net.connect({ host: '127.0.0.1', port: plainPort }, () => resolve(s));
        s.once('error', reject);
      });
      sock.on('error', () => {});
      let text = '';
      let closed = false;
      sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
      sock.on('close', () => (closed = true));
      sock.write(postHead(40));
      const t0 = performance.now();
      const t = trickle(() => sock.write(Buffer.of(0)), 30);
      try {
        let answered = 0;
        await waitFor(
          async () => {
            if (closed) return true;
            expect(rcodeOf(await ask(honest, 'who.example'))).toBe(0);
            answered++;
            return false;
          },
          { timeout: 8000, interval: 50, what: 'the slow connection to be closed' },
        );
        expect(performance.now() - t0).toBeLessThan(readTimeout + 2500);
        expect(text).toMatch(/^HTTP\/1\.1 408 /);
        expect(answered).toBeGreaterThan(0);
      } finally {
        clearInterval(t);
      }
      await waitFor(() => srv.server.inflight() === 0 && held(srv) === 0, { what: 'nothing held for the connections' });
      expect(rcodeOf(await ask(honest, 'after.example'))).toBe(0);
      honest.close();
    });
  }

  it('over HTTP/1.1, never reading: 300 POSTs pipelined past the high-water mark, the last body sent a byte at a time: what is held stays bounded, the connection is closed by the write timeout, others are answered', async () => {
    const { srv, honest, open, conns } = await http1Setup({ readTimeout });
    const stall = await open();
    stall.pause();
    const reqs: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const q = buildQuery(`60k.${i}.big.test`, 'TXT');
      reqs.push(Buffer.from(postHead(q.length)), q);
    }
    // 18 MB of replies if all were answered; then a body that never completes
    stall.write(Buffer.concat([...reqs, Buffer.from(postHead(65_000)), Buffer.alloc(100)]));
    const t0 = performance.now();
    const t = trickle(() => stall.write(Buffer.of(0)), 100);
    let most = 0;
    let answered = 0;
    try {
      await waitFor(() => conns() === 1 || produced > 0, { what: 'the connection to be accepted' });
      await waitFor(
        async () => {
          most = Math.max(most, held(srv));
          if (conns() === 0) return true;
          expect(rcodeOf(await ask(honest, 'who.example'))).toBe(0);
          answered++;
          return false;
        },
        { timeout: 8000, interval: 50, what: 'the stalled connection to be closed' },
      );
    } finally {
      clearInterval(t);
    }
    // closed for its stall (write timeout 500 ms), not for idleness (20 s)
    expect(performance.now() - t0).toBeLessThan(writeTimeout + 3500);
    // the mark and one reply, and the small bodies of the requests that wait
    expect(most).toBeLessThanOrEqual(highWater + 60 * 1024 + 64 * 1024);
    expect(answered).toBeGreaterThan(0);
    await waitFor(() => srv.server.inflight() === 0 && held(srv) === 0, { what: 'nothing held for the connections' });
    expect(rcodeOf(await ask(honest, 'after.example'))).toBe(0);
    stall.destroy();
    honest.close();
  });
  it('over HTTP/1.1, a POST body split across the time the server does not read the connection (its replies wait) is not timed out: every request is answered 200', async () => {
    // the write timeout far off: this client reads, only late
    const { srv, open } = await http1Setup({ readTimeout, writeTimeout: 10_000 });
    const sock = await open();
    sock.pause();
    const q = buildQuery('split.example', 'TXT');
    // 6 MB of replies: the kernel's buffers fill, the server's wait and it stops reading; then a
    // POST of which only the first half comes in that write
    sock.write(Array.from({ length: 100 }, (_, i) => request(`60k.${i}.big.test`)).join('') + postHead(q.length));
    sock.write(q.subarray(0, 10));
    await waitFor(() => srv.server.dohRequestBytes() === 10, { what: 'the first half of the body to be read' });
    // the server holds replies and does not read: longer than the read timeout
    const t0 = performance.now();
    await waitFor(() => performance.now() - t0 > readTimeout + 500, { timeout: 5000, interval: 100, what: 'the read timeout to pass' });
    sock.write(q.subarray(10));
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    sock.resume();
    await waitFor(() => text.split('HTTP/1.1 ').length - 1 === 101, { timeout: 10_000, what: 'every reply' });
    expect(text.split('HTTP/1.1 200').length - 1).toBe(101);
    sock.destroy();
  });

  it('connections that send bytes but complete no request are closed once idle: PING frames over HTTP/2, a header or a TLS handshake a byte at a time; a client that asks is answered meanwhile', async () => {
    const idleTimeout = 1000;
    const srv = await server({ idleTimeout });
    const port = tlsPort(srv);
    const closed = { ping: false, header: false, handshake: false };
    const timers: NodeJS.Timeout[] = [];
    // an HTTP/2 session that sends a PING every 100 ms and never a request
    const ping = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
    ping.on('error', () => {});
    ping.on('close', () => (closed.ping = true));
    ping.on('connect', () => timers.push(setInterval(() => !ping.destroyed && ping.ping(() => {}), 100)));
    // HTTP/1.1 over TLS: a request line and then its headers, a byte every 100 ms, never ended
    const header = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, ALPNProtocols: ['http/1.1'] }, () => {
      header.write(`GET ${path('who.example')} HTTP/1.1\r\nHost: x\r\n`);
      timers.push(setInterval(() => !header.destroyed && header.write('X'), 100));
    });
    header.on('error', () => {});
    header.on('close', () => (closed.header = true));
    // a TLS record header announcing a 512-byte handshake, then its bytes one every 100 ms
    const handshake = net.connect({ host: '127.0.0.1', port }, () => {
      handshake.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      timers.push(setInterval(() => !handshake.destroyed && handshake.write(Buffer.from([0x01])), 100));
    });
    handshake.on('error', () => {});
    handshake.on('close', () => (closed.handshake = true));
    const honest = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
    honest.on('error', () => {});
    let answered = 0;
    try {
      await waitFor(
        async () => {
          if (!honest.closed && rcodeOf(await ask(honest, 'who.example')) === 0) answered++;
          return closed.ping && closed.header && closed.handshake ? true : undefined;
        },
        { timeout: 20_000, interval: 100, what: 'the three closed' },
      );
      // (each closed after its first idle timeout; before, the bytes they sent kept them all)
      expect(answered).toBeGreaterThan(0);
      expect(honest.closed || honest.destroyed).toBe(false);
    } finally {
      for (const t of timers) clearInterval(t);
      for (const c of [ping, honest]) c.destroy();
      for (const c of [header, handshake]) c.destroy();
    }
  }, 30_000);

  it('an honest client that keeps asking is not closed at the idle timeout (over TLS, HTTP/2 and HTTP/1.1), and is once it stops', async () => {
    const idleTimeout = 1000;
    const srv = await server({ idleTimeout });
    const port = tlsPort(srv);
    const h2 = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
    h2.on('error', () => {});
    let h2Closed = 0;
    h2.on('close', () => (h2Closed = performance.now()));
    const h1: tls.TLSSocket = await new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
      s.once('error', reject);
    });
    h1.on('error', () => {});
    let h1Closed = 0;
    h1.on('close', () => (h1Closed = performance.now()));
    let h1Replies = 0;
    h1.on('data', (d: Buffer) => (h1Replies += d.toString('latin1').split('HTTP/1.1 200').length - 1));
    // three idle timeouts of traffic, a query every 100 ms on each
    const t0 = performance.now();
    let asked = 0;
    let last = 0;
    await waitFor(
      async () => {
        if (performance.now() - t0 > 3 * idleTimeout) return true;
        expect(h2Closed).toBe(0);
        expect(h1Closed).toBe(0);
        expect(rcodeOf(await ask(h2, 'who.example'))).toBe(0);
        h1.write(request('who.example'));
        last = performance.now();
        asked++;
        return false;
      },
      { timeout: 10_000, interval: 100, what: 'three idle timeouts to pass' },
    );
    await waitFor(() => h1Replies === asked, { what: 'every HTTP/1.1 reply' });
    await waitFor(() => h2Closed !== 0 && h1Closed !== 0, { timeout: 5000, what: 'both connections to be closed once idle' });
    expect(Math.min(h2Closed, h1Closed) - last).toBeGreaterThanOrEqual(idleTimeout - 50);
    h2.close();
    h1.destroy();
  });
});

describe('DoH requests pipelined over HTTP/1.1 to a plugin that answers later', () => {
  it('are in the plugin chain at most maxInflight at a time, and every one is answered', async () => {
    const { plugin: later, most } = laterPlugin();
    const port = await freePort();
    await scoped.server(`https://.:${port} {\n bind 127.0.0.1\n later\n}\n`, { plugins: [later], tcp: { maxInflight: 50 } });
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.on('error', () => {});
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    // 200: fewer than the 50 in the chain and the cap on waiting requests (4 x 50) together
    sock.write(Array.from({ length: 200 }, (_, i) => `GET ${path(`l${i}.example`, i)} HTTP/1.1\r\nHost: doh\r\n\r\n`).join(''));
    await waitFor(() => text.split('HTTP/1.1 200').length - 1 === 200, { timeout: 10_000, what: 'every reply' });
    expect(most()).toBe(50);
    sock.destroy();
  });
});
