// DoH clients that send queries and never read the replies (#19): over HTTP/2 (a zero flow-control
// window, so not one byte of a reply can leave) and over HTTP/1.1 (a raw socket that pipelines
// requests and never reads). What the server holds for them stays under TCP's bounds (high-water
// mark plus one reply), their connections are closed within the write timeout or at once past the
// cap on waiting requests, and a well-behaved client is answered all along.
import { describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
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

describe.skipIf(!hasOpenssl)('a DoH client that never reads its replies (#19)', () => {
  let pki: TlsPki;
  const server = async (): Promise<TestServer> => {
    pki ??= makeTlsPki();
    produced = 0;
    plainPort = await freePort();
    return scoped.server(
      `https://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n big\n whoami\n}\n` + `https://.:${plainPort} {\n bind 127.0.0.1\n big\n whoami\n}\n`,
      { plugins: [big], tcp: limits },
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
  async function http1Setup(): Promise<{ srv: TestServer; honest: http2.ClientHttp2Session; open(): Promise<net.Socket>; conns(): number }> {
    const srv = await server();
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
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const buffers = (): number => {
      gc();
      return process.memoryUsage().arrayBuffers;
    };
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
