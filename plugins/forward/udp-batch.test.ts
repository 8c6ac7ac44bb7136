// forward's UDP on the native module, through real sockets on 127.0.0.1: the queries sent to an
// upstream during one turn of the event loop leave in one sendmmsg per upstream socket, their
// replies come back matched as before, and a listener's replies written after their batch (a
// forwarded answer arrives later) leave in one sendmmsg per turn, not one sendto each. The
// safety checks on this path (ID and question, source-port rotation) are in hostile.test.ts,
// which runs them on both UDP paths.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { buildQuery, waitFor } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { clientStats, NativeUdpListener, nativeUdpClients } from '../../src/server/udp-native.js';
import type { ServeContext } from '../../src/server/serve.js';
import type { CoreWriter } from '../../src/request/writer.js';
import { Upstream, UDP_SOCKETS, setNativeUdpClients, type Inc } from './proxy.js';

const { upstream } = scopedPerTest();

const inc: Inc = { inc() {} };
const counted = (): Inc & { n: number } => {
  const c = { n: 0, inc: () => void c.n++ };
  return c;
};

function upstreamOf(port: number, rejected = { id: counted(), question: counted(), malformed: counted() }): Upstream {
  return new Upstream(
    { host: '127.0.0.1', port, label: `127.0.0.1:${port}` },
    {
      expire: 10_000,
      maxIdleConns: 0,
      healthCheck: { interval: 500, recursionDesired: true, domain: '.' },
      hcTcp: false,
      hcTimeout: 1000,
      connHits: { udp: inc, tcp: inc, tls: inc },
      connMisses: { udp: inc, tcp: inc, tls: inc },
      rejected,
      hcFailures: inc,
      log: { debug() {} },
    },
  );
}

afterEach(() => setNativeUdpClients(undefined));

describe.skipIf(!nativeUdpClients())('forward over native UDP client sockets', () => {
  it('the queries of one turn leave in one sendmmsg per upstream socket; every reply is matched to its query', async () => {
    setNativeUdpClients(true);
    const up = await upstream();
    up.fallback = (q) => ({ answers: [`${q.questions![0]!.name}. 30 IN A 10.7.0.${q.questions![0]!.name.length}`] });
    const u = upstreamOf(up.port);
    try {
      const before = { ...clientStats };
      const n = 10 * UDP_SOCKETS;
      const names = Array.from({ length: n }, (_, i) => `b${i}.example.org`);
      // all asked in this turn: the rotation spreads them over UDP_SOCKETS sockets
      const replies = await Promise.all(
        names.map((name) => {
          const q = buildQuery(name, 'A', { id: 1 });
          return u.exchange(q, q.length, 'udp', 3000);
        }),
      );
      expect(clientStats.sockets - before.sockets).toBe(UDP_SOCKETS);
      expect(clientStats.datagrams - before.datagrams).toBe(n);
      // one sendmmsg per socket for the whole turn (node:dgram: one send per query)
      expect(clientStats.flushes - before.flushes).toBe(UDP_SOCKETS);
      replies.forEach((r, i) => {
        const m = dnsPacket.decode(r);
        expect(m.questions![0]!.name).toBe(names[i]);
        expect((m.answers ?? []).map((a) => (a as { data: unknown }).data)).toEqual([`10.7.0.${names[i]!.length}`]);
      });
      expect(new Set(up.queries.map((q) => q.port)).size).toBe(UDP_SOCKETS);
    } finally {
      u.close();
    }
  });

  it('an upstream that is not there fails the queries at once (ECONNREFUSED), not after the timeout', async () => {
    setNativeUdpClients(true);
    const up = await upstream();
    const port = up.port;
    await up.stop(); // nothing listens on the port now: ICMP port unreachable
    const u = upstreamOf(port);
    try {
      const q = buildQuery('gone.example.org', 'A', { id: 1 });
      const t0 = performance.now();
      const first = await u.exchange(q, q.length, 'udp', 4000).catch((e: Error) => e);
      // the first query may fail on its own send or on the error the socket reports afterwards
      expect(first).toBeInstanceOf(Error);
      expect((first as Error).message).toMatch(/ECONNREFUSED/);
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      u.close();
    }
  });
});

describe.skipIf(!nativeUdpClients())('native UDP listener: replies written after their batch', () => {
  it('the replies written in one turn outside a batch leave in one sendmmsg, each to its client', async () => {
    const ctx = { inflight: 0 } as unknown as ServeContext; // no query comes in: replies are written directly
    const l = new NativeUdpListener('127.0.0.1', 0, ctx);
    await l.listen();
    const clients = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<dgram.Socket>((resolve) => {
            const s = dgram.createSocket('udp4');
            s.bind(0, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    const got: Array<Array<number>> = [[], []];
    clients.forEach((s, k) => s.on('message', (m) => got[k]!.push(m.readUInt16BE(0))));
    try {
      const before = l.sendStats;
      const n = 20;
      // as a forwarded answer is written: after an await, from no batch (old path: one sendto each)
      await Promise.resolve();
      for (let i = 0; i < n; i++) {
        const c = clients[i % 2]!;
        const w = { req: { client: { ip: '127.0.0.1', port: c.address().port, family: 4 } } } as unknown as CoreWriter;
        l.send(buildQuery(`r${i}.example.org`, 'A', { id: i }), w);
      }
      await waitFor(() => got[0]!.length + got[1]!.length === n, { what: 'every reply to reach its client' });
      expect(got[0]!.sort((a, b) => a - b)).toEqual(Array.from({ length: n / 2 }, (_, i) => 2 * i));
      expect(got[1]!.sort((a, b) => a - b)).toEqual(Array.from({ length: n / 2 }, (_, i) => 2 * i + 1));
      const after = l.sendStats;
      expect(after.sent - before.sent).toBe(n);
      expect(after.calls - before.calls).toBe(1);
    } finally {
      for (const s of clients) s.close();
      await l.close();
    }
  });
});
