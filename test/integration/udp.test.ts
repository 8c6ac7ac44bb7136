// The two UDP listeners: the native batch socket (recvmmsg/sendmmsg, src/server/udp-native.ts)
// and node:dgram (udp.ts, used when the native module is not built or TYPEDNS_NATIVE_UDP=0),
// each through the real CLI and real sockets. Every other integration test runs on the native
// one (the test build compiles it).
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, freePort, query, waitFor } from '../../src/testing/index.js';
import { NativeUdpListener, nativeUdp, nativeUdpError, v6Text } from '../../src/server/udp-native.js';
import type { ServeContext } from '../../src/server/serve.js';
import { startCli, type CliProcess } from '../support/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-udp-'));
const hosts = path.join(dir, 'hosts');
fs.writeFileSync(hosts, ['10.0.0.1 one.test', ...Array.from({ length: 60 }, (_, i) => `10.1.0.${i + 1} big.test`)].join('\n') + '\n');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('the test build has the native module (npm run build compiles it)', () => {
  expect(nativeUdpError()).toBe('');
});

it('the module exports its buffer layout, and open() takes one options object', () => {
  const mod = nativeUdp()!;
  // the per-datagram words native/udp.c writes, the per-reply words it reads, and sendMany's words
  expect(mod.layout).toEqual({
    ...{ BATCH: 64, SLOT: 4096, META: 8, M_LEN: 0, M_PORT: 1, M_FAMILY: 2, M_ADDR: 4, OUT_META: 3, O_INDEX: 0, O_OFFSET: 1, O_LENGTH: 2 },
    ...{ ASYNC_META: 8, A_OFFSET: 0, A_LENGTH: 1, A_PORT: 2, A_FAMILY: 3, A_ADDR: 4 },
  });
  // the positional form of before is refused, not misread
  const positional = mod.open as unknown as (...a: unknown[]) => unknown;
  expect(() => positional('127.0.0.1', 0, false)).toThrow(/an options object expected/);
});

it('close() releases the port at once: the same port can be bound again right away', async () => {
  const ctx = { inflight: 0 } as unknown as ServeContext; // no datagram arrives in this test
  const a = new NativeUdpListener('127.0.0.1', 0, ctx);
  const port = await a.listen();
  await expect(new NativeUdpListener('127.0.0.1', port, ctx).listen()).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
  const closing = a.close();
  const again = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.bind(port, '127.0.0.1', resolve);
  });
  again.close();
  await closing;
});

/** Send `wires` from one socket without waiting; collect replies until all came or `ms` passed. */
async function burst(port: number, wires: Buffer[], host = '127.0.0.1', ms = 3000): Promise<Buffer[]> {
  // a large receive buffer: replies come back in bursts of up to 64 (sendmmsg)
  const s = dgram.createSocket({ type: net6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  const got: Buffer[] = [];
  try {
    await new Promise<void>((resolve) => s.bind(0, resolve));
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      s.on('message', (m) => {
        got.push(m);
        if (got.length === wires.length) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    for (const w of wires) s.send(w, port, host);
    await done;
  } finally {
    s.close();
  }
  return got;
}
const net6 = (h: string): boolean => h.includes(':');

describe.each([
  ['native batches', {}],
  ['node:dgram', { TYPEDNS_NATIVE_UDP: '0' }],
])('UDP through the CLI: %s', (label, env: Record<string, string>) => {
  const native = label === 'native batches';
  let cli: CliProcess;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    const corefile = path.join(dir, `Corefile-${native ? 'native' : 'dgram'}`);
    fs.writeFileSync(corefile, `test:${port} {\n  bind 127.0.0.1 ::1\n  hosts ${hosts}\n}\n.:${port} {\n  bind 127.0.0.1 ::1\n  whoami\n}\n`);
    cli = await startCli(['-conf', corefile], dir, env);
  });
  afterAll(async () => {
    await cli.stop();
  });

  it('says which listener it runs in the banner', async () => {
    // The banner's lines may reach us in more than one chunk: wait for the line, not for a moment.
    const want = native ? 'udp: native recvmmsg/sendmmsg batches' : 'udp: node:dgram (disabled by TYPEDNS_NATIVE_UDP=0)';
    await waitFor(() => cli.out().includes(want), { timeout: 5000, what: `"${want}" in ${JSON.stringify(cli.out())}` });
  });

  it('answers a burst of 300 queries from one socket, each with its own ID and question', async () => {
    const wires = Array.from({ length: 300 }, (_, i) => buildQuery(i % 2 ? 'one.test.' : `n${i}.example.`, 'A', { id: i + 1 }));
    const got = await burst(port, wires);
    expect(got).toHaveLength(300);
    const byId = new Map(got.map((g) => [g.readUInt16BE(0), dnsPacket.decode(g)]));
    expect(byId.size).toBe(300);
    for (let i = 0; i < 300; i++) {
      const m = byId.get(i + 1)!;
      expect(m.questions?.[0]?.name).toBe(i % 2 ? 'one.test' : `n${i}.example`);
      if (i % 2) expect(m.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.1' });
    }
  });

  it('sends every reply to the socket that asked (several clients at once)', async () => {
    const results = await Promise.all(
      [0, 1, 2, 3].map((c) => burst(port, Array.from({ length: 80 }, (_, i) => buildQuery(`c${c}-q${i}.example.`, 'A', { id: c * 1000 + i })))),
    );
    results.forEach((got, c) => {
      expect(got).toHaveLength(80);
      for (const g of got) {
        const m = dnsPacket.decode(g);
        expect(m.id! - c * 1000).toBeGreaterThanOrEqual(0);
        expect(m.questions?.[0]?.name).toBe(`c${c}-q${m.id! - c * 1000}.example`);
      }
    });
  });

  it('truncates to 512 bytes without EDNS, sends the whole answer with it', async () => {
    const small = await query(port, 'big.test.', 'A');
    expect(small.wire.length).toBeLessThanOrEqual(512);
    expect(small.msg.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    const full = await query(port, 'big.test.', 'A', { edns: 4096 });
    expect(full.msg.answers).toHaveLength(60);
    expect(full.msg.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeFalsy();
  });

  it('reports IPv4 and IPv6 clients by their addresses (whoami)', async () => {
    const v4 = await query(port, 'who.example.', 'A');
    expect(v4.msg.additionals?.find((a) => a.type === 'A')).toMatchObject({ data: '127.0.0.1' });
    const v6 = await query(port, 'who.example.', 'A', { host: '::1' });
    expect(v6.msg.additionals?.find((a) => a.type === 'AAAA')).toMatchObject({ data: '::1' });
  });

  it('FORMERR for a malformed query, nothing for a datagram it cannot read, and keeps serving', async () => {
    const bad = Buffer.from(buildQuery('one.test.', 'A', { id: 77 }));
    bad[5] = 2; // two questions, one present
    const [formerr] = await burst(port, [bad], '127.0.0.1', 1000);
    expect(formerr?.readUInt16BE(0)).toBe(77);
    expect((formerr![3]! & 0xf)).toBe(1);
    expect(await burst(port, [Buffer.from([1, 2, 3])], '127.0.0.1', 300)).toHaveLength(0);
    // over 4 KB: the native socket reads queries of up to 4,096 bytes (no query is that large) and drops the rest
    const huge = Buffer.concat([buildQuery('one.test.', 'A', { id: 78 }), Buffer.alloc(5000)]);
    const got = await burst(port, [huge], '127.0.0.1', 500);
    if (native) expect(got).toHaveLength(0);
    expect((await query(port, 'one.test.', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.1' });
  });
});

describe('v6Text', () => {
  const bytes = (ip: string): Uint8Array => {
    const [head, tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]));
  };
  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80:0:0:0:1:0:0:1', 'fe80::1:0:0:1'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fd00:10:96:0:0:0:0:20', 'fd00:10:96::20'],
  ])('%s → %s', (written, want) => {
    expect(v6Text(bytes(written), 0)).toBe(want);
  });
});

// Read coalescing (native/udp.c coalesce(), TYPEDNS_UDP_COALESCE): after a read that found at
// least TYPEDNS_UDP_COALESCE_MIN datagrams, the listener sends the replies, pauses, and reads
// again. A pause of 1 s makes it visible from outside: what arrives during the pause is read
// when it ends. (The default pause is 50 µs.)
describe('read coalescing', () => {
  /** Ask `n` queries one after another on one socket, each sent when the last reply came: the times of the replies (ms). */
  async function askInTurn(port: number, n: number): Promise<number[]> {
    const s = dgram.createSocket('udp4');
    const times: number[] = [];
    try {
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${times.length} of ${n} replies within 30 s`)), 30_000);
        s.on('message', (m) => {
          if (m.readUInt16BE(0) !== times.length + 1) return;
          times.push(performance.now());
          if (times.length === n) {
            clearTimeout(timer);
            resolve();
          } else s.send(buildQuery('one.test.', 'A', { id: times.length + 1 }), port, '127.0.0.1');
        });
        s.send(buildQuery('one.test.', 'A', { id: 1 }), port, '127.0.0.1');
      });
    } finally {
      s.close();
    }
    return times;
  }

  async function serve(env: Record<string, string>): Promise<[CliProcess, number]> {
    const port = await freePort();
    const corefile = path.join(dir, `Corefile-coalesce-${port}`);
    fs.writeFileSync(corefile, `test:${port} {\n  bind 127.0.0.1\n  hosts ${hosts}\n}\n`);
    return [await startCli(['-conf', corefile], dir, env), port];
  }

  it('a read that found enough datagrams pauses the listener: the next query, sent at its reply, waits for the pause', async () => {
    const [cli, port] = await serve({ TYPEDNS_UDP_COALESCE: '1s', TYPEDNS_UDP_COALESCE_MIN: '1' });
    try {
      await query(port, 'one.test.', 'A'); // (its own pause may still run: then the first query below waits for it)
      // the first reply leaves before the pause begins; the second query arrives during it. (There
      // is no pause while the server has other work waiting — a timer due, its start-up's release
      // of pages finishing — so a pair may not show it: up to five pairs.)
      let gap = 0;
      for (let i = 0; i < 5 && gap <= 700; i++) {
        const [first, second] = await askInTurn(port, 2);
        gap = second! - first!;
      }
      expect(gap).toBeGreaterThan(700);
    } finally {
      await cli.stop();
    }
  });

  it('a lone datagram (fewer than TYPEDNS_UDP_COALESCE_MIN, 2 by default) does not pause the listener', async () => {
    const [cli, port] = await serve({ TYPEDNS_UDP_COALESCE: '1s' });
    try {
      const times = await askInTurn(port, 20);
      // paused after each of them, 20 queries in turn would take 19 s or more
      expect(times[19]! - times[0]!).toBeLessThan(10_000);
    } finally {
      await cli.stop();
    }
  });

  it('a bad TYPEDNS_UDP_COALESCE or _MIN is warned about, the default used, and the server answers', async () => {
    const [cli, port] = await serve({ TYPEDNS_UDP_COALESCE: 'soon', TYPEDNS_UDP_COALESCE_MIN: '0' });
    try {
      await waitFor(() => cli.out().includes("TYPEDNS_UDP_COALESCE: invalid duration 'soon' (0 to 1s), 50us used; TYPEDNS_UDP_COALESCE_MIN: not a number from 1 to 64 '0', 2 used"), { timeout: 5000, what: `the warning in ${JSON.stringify(cli.out())}` });
      expect((await query(port, 'one.test.', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.1' });
    } finally {
      await cli.stop();
    }
  });
});
