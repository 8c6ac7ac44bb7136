// Hostile TCP clients: idle and slow clients are cut, the connection cap holds while UDP answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { buildQuery, query, startServer, type TestServer } from '../../src/testing/index.js';

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
    for (let i = 0; i < 60; i++) {
      const s = net.connect({ host: '127.0.0.1', port: srv.port });
      s.on('error', () => {});
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 150));
    expect(srv.server.tcpConnections()).toBeLessThanOrEqual(20);
    expect(srv.server.tcpConnections()).toBeGreaterThan(0);
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
