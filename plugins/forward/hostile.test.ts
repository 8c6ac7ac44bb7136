// forward against hostile clients and upstreams, through real sockets on 127.0.0.1: a client
// pipelining thousands of queries over TCP (bounded upstream connections and descriptors),
// forged replies sent to the forward sockets' ports (nothing poisoned, every reject counted),
// source ports that change, and an upstream reply with a compression loop (never relayed).
import { existsSync, readdirSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { buildQuery, exchangeRaw, waitFor } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import type { SeenQuery } from '../../test/support/upstream.js';
import { TCP_MAX_CONNS, TCP_MAX_PIPELINE, TCP_MAX_WAITING, UDP_QUERIES_PER_SOCKET, UDP_SOCKETS, setNativeUdpClients } from './proxy.js';
import { clientStats, nativeUdpClients } from '../../src/server/udp-native.js';

const { upstream, server } = scopedPerTest();

const block = (to: string, opts: string[]): string => `.:0 {\n bind 127.0.0.1\n forward . ${to} {\n ${opts.join('\n ')}\n }\n}`;

/** Open descriptors of this process (server and upstreams run in it), or -1 without /proc. */
const fds = (): number => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : -1);

/** The A record an upstream gives every name: 10.9.0.<length of the name>. */
const realA = (name: string): string => `10.9.0.${name.length}`;
const answerEverything = (q: dnsPacket.DecodedPacket): { answers: string[] } => {
  const name = q.questions![0]!.name;
  return { answers: [`${name}. 30 IN A ${realA(name)}`] };
};

/**
 * Write every query on one TCP connection at once (pipelined) and collect the replies by ID until
 * `until` says enough, every query has its reply, or `timeout` ms pass.
 */
function pipeline(port: number, queries: Buffer[], timeout: number, until?: (got: Map<number, Buffer>) => boolean): Promise<Map<number, Buffer>> {
  return new Promise((resolve, reject) => {
    const got = new Map<number, Buffer>();
    const sock = net.connect({ host: '127.0.0.1', port });
    let acc = Buffer.alloc(0);
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, timeout);
    sock.on('connect', () => {
      const frames: Buffer[] = [];
      for (const q of queries) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        frames.push(len, q);
      }
      sock.write(Buffer.concat(frames));
    });
    sock.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const m = acc.subarray(2, 2 + acc.readUInt16BE(0));
        acc = acc.subarray(2 + m.length);
        got.set(m.readUInt16BE(0), Buffer.from(m));
      }
      if (got.size >= queries.length || until?.(got)) done();
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Send queries from one UDP socket, `batch` at a time (each batch waits for its replies); the replies by ID. */
async function udpBatches(port: number, queries: Buffer[], batch: number): Promise<Map<number, Buffer>> {
  const sock = dgram.createSocket('udp4');
  const got = new Map<number, Buffer>();
  sock.on('message', (m) => got.set(m.readUInt16BE(0), m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    for (let i = 0; i < queries.length; i += batch) {
      const part = queries.slice(i, i + batch);
      for (const q of part) sock.send(q, port, '127.0.0.1');
      const want = Math.min(queries.length, i + batch);
      await waitFor(() => got.size >= want, { timeout: 10_000, interval: 2, what: `${want} replies` });
    }
  } finally {
    sock.close();
  }
  return got;
}

const rcode = (m: Buffer): number => m[3]! & 0xf;
const addresses = (m: Buffer): string[] => (dnsPacket.decode(m).answers ?? []).filter((a) => a.type === 'A').map((a) => String((a as { data: unknown }).data));

describe('forward: a client pipelining thousands of queries over TCP', () => {
  // With prefer_udp every UDP reply has TC set, so each query is asked again over TCP. Its
  // queries all go out over UDP in the one tick the pipelined client's bytes are read in, so fewer
  // of them: the test upstream's socket buffer must hold them all (it asks for 4 MB, but gets no
  // more than net.core.rmem_max; a datagram lost is asked again after the 2 s read timeout).
  it.each([
    ['force_tcp', false, 2000],
    ['prefer_udp', true, 400],
  ])('pipelined queries (%s) share at most TCP_MAX_CONNS upstream connections; descriptors stay bounded; all answered', async (opt, truncate, n) => {
    const up = await upstream();
    up.fallback = answerEverything;
    up.truncateUdp = truncate as boolean;
    up.delay = 5; // replies come later than the queries: they pile up in flight
    const s = await server(block(up.addr, [opt as string, 'max_fails 0']));
    const names = Array.from({ length: n as number }, (_, i) => `n${i}.example.org`);
    const base = fds();
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, fds())), 2);
    const replies = await pipeline(s.port, names.map((n, i) => buildQuery(n, 'A', { id: i })), 30_000).finally(() => clearInterval(sampler));
    peak = Math.max(peak, fds());

    expect(replies.size).toBe(names.length);
    for (const [id, m] of replies) {
      expect(rcode(m)).toBe(0);
      expect(addresses(m)).toEqual([realA(names[id]!)]);
    }
    expect(up.count.tcp).toBe(names.length);
    expect(up.connections.tcp).toBeGreaterThan(0);
    expect(up.connections.tcp).toBeLessThanOrEqual(TCP_MAX_CONNS);
    // Each upstream connection is two descriptors here (both ends live in this process), plus the
    // UDP rotation, the client's connection (two ends) and a little slack.
    if (base >= 0) expect(peak - base).toBeLessThanOrEqual(2 * TCP_MAX_CONNS + 2 * UDP_SOCKETS + 10);
  });

  it('an upstream that answers one query per connection gets one at a time after it dropped pipelined ones', async () => {
    const up = await upstream();
    up.fallback = answerEverything;
    up.oneReplyPerConnection = true;
    up.delay = 5;
    const s = await server(block(up.addr, ['force_tcp', 'max_fails 0']));
    const names = Array.from({ length: 300 }, (_, i) => `o${i}.example.org`);
    const replies = await pipeline(s.port, names.map((n, i) => buildQuery(n, 'A', { id: i })), 20_000);
    expect(replies.size).toBe(names.length);
    for (const [id, m] of replies) {
      expect(rcode(m)).toBe(0);
      expect(addresses(m)).toEqual([realA(names[id]!)]);
    }
  });

  it('past the connections, their pipelines and the waiting queue, queries get SERVFAIL at once', async () => {
    const up = await upstream();
    up.fault = 'drop'; // nothing ever comes back: every slot stays taken
    // one connection may have every query in flight (the listener's own cap, maxInflight, would
    // hold them back): forward's bounds are what is tested
    const s = await server(block(up.addr, ['force_tcp', 'max_fails 0', 'read_timeout 4s']), { tcp: { maxInflight: 1 << 20 } });
    const room = TCP_MAX_CONNS * TCP_MAX_PIPELINE + TCP_MAX_WAITING;
    const over = 300;
    const queries = Array.from({ length: room + over }, (_, i) => buildQuery(`w${i}.example.org`, 'A', { id: i }));
    const early = await pipeline(s.port, queries, 60_000, (got) => got.size >= over);
    // at once, not at the read timeout (4 s): the first replies are the SERVFAILs of the queries
    // that came last and found no room, not those of the queries in flight or waiting, which
    // would time out first (told by which queries were answered, not by the clock)
    expect(early.size).toBe(over);
    expect(Math.min(...early.keys())).toBe(room);
    for (const m of early.values()) expect(rcode(m)).toBe(2);
    expect(up.connections.tcp).toBeLessThanOrEqual(TCP_MAX_CONNS);
    await waitFor(() => up.count.tcp >= TCP_MAX_CONNS * TCP_MAX_PIPELINE, { what: 'the upstream to see every query in flight' });
    expect(up.count.tcp).toBe(TCP_MAX_CONNS * TCP_MAX_PIPELINE);
  });
});

// Both UDP paths to the upstream: the native client sockets (sendmmsg/recvmmsg) and node:dgram.
const UDP_PATHS = nativeUdpClients() ? ([['native client sockets', true], ['node:dgram', false]] as const) : ([['node:dgram', false]] as const);

describe.each(UDP_PATHS)('forward: forged replies and source ports (%s)', (_path, native) => {
  let sockets0 = 0;
  beforeEach(() => {
    setNativeUdpClients(native);
    sockets0 = clientStats.sockets;
  });
  afterEach(() => setNativeUdpClients(undefined));
  /** The path under test was the one used: native client sockets were opened, or none. */
  const onPath = (): void => {
    if (native) expect(clientStats.sockets).toBeGreaterThan(sockets0);
    else expect(clientStats.sockets).toBe(sockets0);
  };

  it('spoofed replies to the forward sockets (wrong ID; right ID with another question) poison nothing and are counted', async () => {
    const up = await upstream();
    up.fallback = answerEverything;
    up.delay = 1000; // the real replies come late: the forger goes first
    const s = await server(block(up.addr, ['max_fails 0']));
    const seen: SeenQuery[] = [];
    up.onQuery = (q) => seen.push(q);
    // 100 queries, four of each name: identical questions pending at once
    const names = Array.from({ length: 100 }, (_, i) => `p${i % 25}.example.org`);
    const pending = Promise.all(names.map((n) => s.query(n, 'A', { timeout: 5000 })));
    await waitFor(() => seen.length >= names.length, { what: 'the upstream to see every query' });

    // The forger knows each query's source port and ID (it spoofs the upstream's address and port).
    const idsByPort = new Map<number, Set<number>>();
    for (const q of seen) {
      if (!idsByPort.has(q.port)) idsByPort.set(q.port, new Set());
      idsByPort.get(q.port)!.add(q.id);
    }
    const forge = (id: number, name: string, type: 'A' | 'AAAA'): Buffer =>
      dnsPacket.encode({
        type: 'response',
        id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: [{ name, type }],
        answers: [{ name, type: 'A', ttl: 86400, data: '6.6.6.6' }],
      });
    let wrongId = 0;
    let wrongQuestion = 0;
    for (const q of seen) {
      const ids = idsByPort.get(q.port)!;
      // the right question with an ID no query on that port was given
      let id = q.id;
      while (ids.has(id)) id = (id + 7919) & 0xffff;
      up.sendUdp(q.port, forge(id, q.name, 'A'));
      wrongId++;
      // the query's own ID with another pending query's name, and with its name but another type
      const other = q.name.replace(/^p(\d+)/, (_, n: string) => `p${(Number(n) + 1) % 25}`);
      up.sendUdp(q.port, forge(q.id, other, 'A'));
      up.sendUdp(q.port, forge(q.id, q.name, 'AAAA'));
      wrongQuestion += 2;
    }

    const results = await pending;
    let poisoned = 0;
    results.forEach((r, i) => {
      const got = (r.msg.answers ?? []).filter((a) => a.type === 'A').map((a) => String((a as { data: unknown }).data));
      if (got.includes('6.6.6.6')) poisoned++;
      expect(r.rcode).toBe(0);
      expect(got).toEqual([realA(names[i]!)]);
    });
    expect(poisoned).toBe(0);
    const m = await s.metrics.registry.getSingleMetricAsString('coredns_forward_replies_rejected_total');
    const count = (reason: string): number => Number(new RegExp(`to="${up.addr}",reason="${reason}"} (\\d+)`).exec(m)?.[1] ?? 0);
    // Every forgery is counted: with the right ID as `question`, unless its query's real reply had
    // come first (a slow machine), then as `id` like the ones with a wrong ID.
    expect(count('id') + count('question')).toBe(wrongId + wrongQuestion);
    expect(count('question')).toBeGreaterThan(0);
    expect(count('question')).toBeLessThanOrEqual(wrongQuestion);
    expect(count('malformed')).toBe(0);
    onPath();
  });

  it('queries leave from several source ports, and each socket gives way to one on a new port after its share of queries', async () => {
    const up = await upstream();
    up.fallback = answerEverything;
    const s = await server(block(up.addr, []));
    const n = UDP_SOCKETS * UDP_QUERIES_PER_SOCKET + 1000;
    const names = Array.from({ length: n }, (_, i) => `r${i}.example.org`);
    const base = fds();
    const replies = await udpBatches(s.port, names.map((q, i) => buildQuery(q, 'A', { id: i })), 100);
    expect(replies.size).toBe(n);
    for (const [id, m] of replies) expect(addresses(m)).toEqual([realA(names[id]!)]);

    // consecutive queries take the sockets in turn: the first batch went out on all of them
    expect(new Set(up.queries.slice(0, 100).map((q) => q.port)).size).toBe(UDP_SOCKETS);
    const perPort = new Map<number, number>();
    for (const q of up.queries) perPort.set(q.port, (perPort.get(q.port) ?? 0) + 1);
    expect(perPort.size).toBeGreaterThan(UDP_SOCKETS);
    // a socket is replaced once it has sent its share (give or take the queries of one batch)
    expect(Math.max(...perPort.values())).toBeLessThanOrEqual(UDP_QUERIES_PER_SOCKET + 100);
    // replaced sockets are closed: the rotation and the replacements being opened, no more
    if (base >= 0) await waitFor(() => fds() - base <= 2 * UDP_SOCKETS, { what: 'retired sockets to close' });
    onPath();
  });
});

describe('forward: malformed upstream replies', () => {
  it.each([false, true])('a reply with compression loops is not relayed: SERVFAIL, counted as malformed (tcp: %s)', async (tcp) => {
    const up = await upstream();
    up.fault = 'compression-loop';
    const s = await server(block(up.addr, ['max_fails 0']));
    const r = await exchangeRaw(s.port, buildQuery('loop.example.org', 'A', { id: 77 }), { tcp, timeout: 5000 });
    expect(r).toBeDefined();
    expect(r!.readUInt16BE(0)).toBe(77);
    expect(rcode(r!)).toBe(2);
    expect(r!.readUInt16BE(6)).toBe(0); // no answers passed on
    const m = await s.metrics.registry.getSingleMetricAsString('coredns_forward_replies_rejected_total');
    // one per attempt (max_connect_attempts defaults to twice the upstreams: 2)
    expect(m).toContain(`to="${up.addr}",reason="malformed"} 2`);
    expect(up.count.total).toBe(2);
  });
});
