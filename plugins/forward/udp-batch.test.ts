// forward's UDP on the native module, through real sockets on 127.0.0.1: the queries sent to an
// upstream during one turn of the event loop leave in one sendmmsg per upstream socket, their
// replies come back matched as before, and a listener's replies written after their batch (a
// forwarded answer arrives later) leave in one sendmmsg per turn, not one sendto each, to IPv4
// and IPv6 clients alike (the IPv6 ones on ::1, skipped where it cannot be bound). The
// safety checks on this path (ID and question, source-port rotation) are in hostile.test.ts,
// which runs them on both UDP paths.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { buildQuery, waitFor } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { clientStats, NativeUdpListener, nativeUdp, nativeUdpClients } from '../../src/server/udp-native.js';
import type { ServeContext } from '../../src/server/serve.js';
import type { CoreWriter } from '../../src/request/writer.js';
import { Upstream, UDP_SOCKETS, setNativeUdpClients, type Inc } from './proxy.js';

const { upstream } = scopedPerTest();

/** Whether a UDP socket can be bound to ::1 (no IPv6 loopback in some containers). */
const hasV6Loopback = await new Promise<boolean>((resolve) => {
  const s = dgram.createSocket('udp6');
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => {
    s.close();
    resolve(true);
  });
});
if (!hasV6Loopback) console.warn('udp-batch.test.ts: the IPv6 late-reply tests are skipped: ::1 cannot be bound here');

/** A UDP socket bound on `host` (udp4 or udp6 by the address). */
function bound(host: string): Promise<dgram.Socket> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.bind(0, host, () => resolve(s));
  });
}

/**
 * Write `n` replies to `clients` (in turn) through `l` after an await, outside any batch, as a
 * forwarded answer is written; wait until each client got its share and return the sendmmsg calls
 * and datagrams that took.
 */
async function lateReplies(l: NativeUdpListener, clients: Array<{ sock: dgram.Socket; ip: string; family: 4 | 6 }>, n: number): Promise<{ calls: number; sent: number }> {
  const got = clients.map(() => [] as number[]);
  clients.forEach((c, k) => c.sock.on('message', (m) => got[k]!.push(m.readUInt16BE(0))));
  const before = l.sendStats;
  await Promise.resolve();
  for (let i = 0; i < n; i++) {
    const c = clients[i % clients.length]!;
    const w = { req: { client: { ip: c.ip, port: c.sock.address().port, family: c.family } } } as unknown as CoreWriter;
    l.send(buildQuery(`r${i}.example.org`, 'A', { id: i }), w);
  }
  await waitFor(() => got.every((g) => g.length === n / clients.length), { what: 'every reply to reach its client' });
  got.forEach((g, k) => expect(g.sort((a, b) => a - b)).toEqual(Array.from({ length: n / clients.length }, (_, i) => clients.length * i + k)));
  const after = l.sendStats;
  return { calls: after.calls - before.calls, sent: after.sent - before.sent };
}

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
      const first = await u.exchange(q, q.length, 'udp', 4000).catch((e: Error) => e);
      // the first query may fail on its own send or on the error the socket reports afterwards;
      // at once, not after the timeout: the error is ECONNREFUSED, not 'i/o timeout'
      expect(first).toBeInstanceOf(Error);
      expect((first as Error).message).toMatch(/ECONNREFUSED/);
    } finally {
      u.close();
    }
  });
});

/** kB of this process's main malloc heap ([heap] in smaps) that are resident. */
function mallocHeapKb(): number {
  const s = readFileSync('/proc/self/smaps', 'utf8');
  const at = s.indexOf('[heap]');
  return at < 0 ? 0 : Number(/Rss:\s+(\d+)/.exec(s.slice(at))?.[1] ?? 0);
}

describe.skipIf(!nativeUdpClients())('native UDP client sockets: memory', () => {
  it('a closed socket gives its system-call arrays back when it closes, not when its JS handle is collected (forward rotates sockets every 1,000 queries)', async () => {
    const mod = nativeUdp()!;
    const area = new ArrayBuffer(64 * 512);
    const meta = new ArrayBuffer(64 * 8 * 4);
    const up = await bound('127.0.0.1');
    const handles: unknown[] = []; // kept: no handle is collected during the test
    try {
      const open = (): unknown =>
        mod.connectTo!({ host: '127.0.0.1', port: up.address().port, v6: false, rcvbuf: 1 << 16, sndbuf: 1 << 16, in: area, inMeta: meta, slot: 512, onBatch: () => {}, resource: {} });
      // warm up malloc, then measure 3,000 sockets opened and closed (~18 KB of arrays each before)
      for (let i = 0; i < 200; i++) mod.close(open());
      await new Promise((r) => setImmediate(r));
      const before = mallocHeapKb();
      for (let i = 0; i < 3000; i++) {
        const h = open();
        handles.push(h);
        mod.close(h);
        // each socket's handle is closed on a later turn of the event loop: let them close as they go
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setImmediate(r));
      const grown = mallocHeapKb() - before;
      expect(grown).toBeLessThan(12 * 1024); // kB; 3,000 × 18 KB = 54 MB when the arrays waited for the handles
    } finally {
      up.close();
    }
  });
});

describe.skipIf(!nativeUdpClients())('native UDP listener: replies written after their batch', () => {
  const ctx = { inflight: 0 } as unknown as ServeContext; // no query comes in: replies are written directly
  // old path: one sendto per reply, and until the IPv6 ones were queued too, one per reply to an IPv6 client
  const cases: Array<{ what: string; listen: string; clients: Array<{ ip: string; family: 4 | 6 }>; v6: boolean }> = [
    { what: 'to IPv4 clients', listen: '127.0.0.1', clients: [{ ip: '127.0.0.1', family: 4 }, { ip: '127.0.0.1', family: 4 }], v6: false },
    { what: 'to ::1 clients', listen: '::1', clients: [{ ip: '::1', family: 6 }, { ip: '::1', family: 6 }], v6: true },
    // a dual-stack listener reports an IPv4 client as 127.0.0.1, not ::ffff:127.0.0.1
    { what: 'to IPv6 and IPv4 clients of a dual-stack (::) listener, together', listen: '::', clients: [{ ip: '::1', family: 6 }, { ip: '127.0.0.1', family: 4 }], v6: true },
  ];
  for (const c of cases) {
    it.skipIf(c.v6 && !hasV6Loopback)(`the replies written in one turn outside a batch ${c.what} leave in one sendmmsg, each to its client`, async () => {
      const l = new NativeUdpListener(c.listen, 0, ctx);
      await l.listen();
      const socks = await Promise.all(c.clients.map((k) => bound(k.ip)));
      try {
        expect(await lateReplies(l, c.clients.map((k, i) => ({ sock: socks[i]!, ...k })), 20)).toEqual({ calls: 1, sent: 20 });
      } finally {
        for (const s of socks) s.close();
        await l.close();
      }
    });
  }
});
