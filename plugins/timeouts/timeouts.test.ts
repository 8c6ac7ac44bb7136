// timeouts: CoreDNS's setup table (plugin/timeouts/timeouts_test.go, v1.10.1 and the maxtcpqueries
// rows added since) replayed through
// real servers and `typedns check`; then the timeouts themselves on real sockets: an idle TCP,
// DoT, DoH and gRPC connection is closed after `idle` and not before, a started message that does
// not complete is cut after `read`, a client that does not read its replies after `write`; two
// blocks on one port, a reload that changes the value, and maxtcpqueries closing a TCP or DoT
// connection after that many queries.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { buildQuery, freePort, responder, waitFor } from '../../src/testing/index.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { before } from '../../test/support/timer-order.js';
import { goDuration } from './index.js';

const scoped = scopedPerTest();

// timeouts_test.go (TestTimeouts): input, should it fail, a substring of the error
const TABLE: Array<[input: string, shouldErr: boolean, errContent: string]> = [
  ['timeouts {\n read 30s\n}', false, ''],
  ['timeouts {\n read 1m\n write 2m\n}', false, ''],
  [' timeouts {\n idle 1h\n}', false, ''],
  ['timeouts {\n read 10\n write 20\n idle 60\n}', false, ''],
  ['timeouts', true, 'block with no timeouts specified'],
  ['timeouts {\n}', true, 'block with no timeouts specified'],
  ['timeouts {\n read 10s\n giraffe 30s\n}', true, 'unknown option'],
  ['timeouts {\n read 10s 20s\n write 30s\n}', true, 'wrong argument'],
  ['timeouts {\n write snake\n}', true, 'failed to parse duration'],
  ['timeouts {\n idle 0s\n}', true, 'needs to be between'],
  ['timeouts {\n read 48h\n}', true, 'needs to be between'],
  // the rows of current CoreDNS (maxtcpqueries)
  ['timeouts {\n maxtcpqueries 128\n}', false, ''],
  ['timeouts {\n maxtcpqueries -1\n}', false, ''],
  ['timeouts {\n read 10s\n maxtcpqueries 128\n}', false, ''],
  ['timeouts {\n maxtcpqueries 0\n}', true, 'needs to be -1'],
  ['timeouts {\n maxtcpqueries -2\n}', true, 'needs to be -1'],
  ['timeouts {\n maxtcpqueries snake\n}', true, 'invalid value for maxtcpqueries'],
];

describe('timeouts: CoreDNS TestTimeouts through real servers and typedns check', () => {
  let passed = 0;
  it.each(TABLE)('%j', async (input, shouldErr, content) => {
    const errs = checkStanza(input);
    if (!shouldErr) {
      expect(errs).toEqual([]);
      const s = await scoped.server(`.:0 {\n bind 127.0.0.1\n${input}\n whoami\n}`);
      expect((await s.query('a.example.', 'A', { tcp: true })).rcode).toBe(0);
    } else {
      // file:line of the offending line (the stanza starts on line 2), the text CoreDNS gives
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/timeouts: /);
      expect(errs[0]!.toLowerCase()).toContain(content.toLowerCase());
    }
    passed++;
  });
  it('replayed every row', () => {
    expect(passed).toBe(TABLE.length);
    console.log(`timeouts: CoreDNS timeouts_test.go TestTimeouts: ${passed}/${TABLE.length} rows passed`);
  });

  it('errors name the line of the bad option, and Go spells the bound durations', () => {
    expect(checkStanza('timeouts {\n read 1s\n idle 48h\n}')).toEqual(["Corefile:4: plugin/timeouts: timeout provided '48h0m0s' needs to be between 1 second and 24 hours"]);
    expect(checkStanza('timeouts {\n write 500ms\n}')).toEqual(["Corefile:3: plugin/timeouts: timeout provided '500ms' needs to be between 1 second and 24 hours"]);
    expect(checkStanza('timeouts {\n write abc\n}')).toEqual(["Corefile:3: plugin/timeouts: failed to parse duration 'abc'"]);
    expect(checkStanza('timeouts extra {\n read 5s\n}')).toEqual(["Corefile:2: plugin/timeouts: wrong argument count or unexpected line ending after 'extra'"]);
    expect(goDuration(90_000)).toBe('1m30s');
    expect(goDuration(1500)).toBe('1.5s');
  });
});

/** Open a plain TCP connection; resolves when connected, with the time it closed (from the server) once it does. */
async function openConn(port: number): Promise<{ sock: net.Socket; opened: number; closedAt: () => number | undefined }> {
  let closed: number | undefined;
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  sock.on('error', () => {});
  sock.on('close', () => (closed ??= performance.now()));
  sock.on('end', () => (closed ??= performance.now()));
  sock.resume();
  return { sock, opened: performance.now(), closedAt: () => closed };
}

/** A 2-byte-framed DNS query. */
const frame = (name: string, id: number): Buffer => {
  const q = buildQuery(name, 'A', { id });
  const b = Buffer.alloc(q.length + 2);
  b.writeUInt16BE(q.length, 0);
  q.copy(b, 2);
  return b;
};

// The sweep of the TCP listener runs every quarter of the shortest timeout: a connection is cut
// within idle + idle/4 (plus scheduling); the lower bound is exact. The upper bounds ("not at the
// default") are told by the order of timers (before(): the server's cut comes before a control
// timer set once the server's clock has started), not by the wall clock. HANG only guards
// against a hang.
const HANG = 30_000;
describe('timeouts on real sockets', () => {
  it('an idle TCP connection is closed after `idle` (1s), not before, and not at the 10s default', async () => {
    const s = await scoped.server('.:0 {\n bind 127.0.0.1\n timeouts {\n  idle 1s\n }\n whoami\n}');
    const c = await openConn(s.port);
    let answered = false;
    c.sock.on('data', () => (answered = true));
    // a query half-way keeps it open: idle counts from the last query
    await waitFor(() => performance.now() - c.opened >= 500, { what: '500 ms to pass', interval: 20 });
    c.sock.write(frame('keep.example.', 1));
    const asked = performance.now();
    await waitFor(() => answered, { timeout: HANG, what: 'the answer' });
    // cut at 1 s from the query (the answer came after it), before a 5 s timer set now; at the 10 s default, after it
    expect(await before(5000, () => s.server.tcpConnections() === 0)).toBe(true);
    await waitFor(() => c.closedAt() !== undefined, { timeout: HANG, what: 'the idle connection to be closed' });
    expect(c.closedAt()! - asked).toBeGreaterThanOrEqual(1000 - 5);
  });

  it('a started message that does not complete is cut after `read` (1s; default 3s)', async () => {
    const s = await scoped.server('.:0 {\n bind 127.0.0.1\n timeouts {\n  read 1s\n  idle 20s\n }\n whoami\n}');
    const c = await openConn(s.port);
    c.sock.write(Buffer.from([0, 40, 1, 2, 3])); // 40 bytes announced, 3 sent
    const sent = performance.now();
    // the server holds the 3 bytes: its read clock has started
    await waitFor(() => s.server.tcpQueuedBytes() > 0, { timeout: HANG, what: 'the server to read the start of the message' });
    // cut at 1 s (and a sweep), before a 2 s timer set now; at the 3 s default, after it
    expect(await before(2000, () => s.server.tcpConnections() === 0)).toBe(true);
    await waitFor(() => c.closedAt() !== undefined, { timeout: HANG, what: 'the slow sender to be cut' });
    expect(c.closedAt()! - sent).toBeGreaterThanOrEqual(1000 - 5);
  });

  it('a client that does not read its replies is cut after `write` (1s; default 5s)', async () => {
    const chunk = 'x'.repeat(250);
    const big = responder('bigtxt', (req, w) => {
      w.write({ type: 'response', answers: [{ name: req.name, type: 'TXT', ttl: 0, data: Array<string>(16).fill(chunk) }] });
      return 0;
    });
    const s = await scoped.server('.:0 {\n bind 127.0.0.1\n timeouts {\n  write 1s\n  idle 30s\n  read 30s\n }\n bigtxt\n}', {
      plugins: [big],
      tcp: { highWater: 16 * 1024, maxQueued: 1 << 30 },
    });
    const sock = await new Promise<net.Socket>((resolve) => {
      const x = net.connect({ host: '127.0.0.1', port: s.port }, () => resolve(x));
    });
    sock.on('error', () => {});
    sock.pause(); // never reads
    const sent = performance.now();
    sock.write(Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame(`q${i}.big.test.`, i & 0xffff))));
    // the replies the client does not read are over the high-water mark: the write clock has started
    await waitFor(() => s.server.tcpQueuedBytes() > 16 * 1024, { timeout: HANG, what: 'unread replies over the high-water mark', interval: 5 });
    // cut at 1 s (and a sweep), before a 2.5 s timer set now; at the 5 s default, after it
    expect(await before(2500, () => s.server.tcpConnections() === 0)).toBe(true);
    const after = performance.now() - sent;
    // The write timer starts only once the server has answered enough to fill the socket, so the
    // time from our write is 1 s plus however long that took (seconds on a loaded machine). What
    // says the write timeout cut it: the server counts it as cut for unread replies (the byte cap,
    // 1 GiB here, cannot be it; the 30 s idle and read timeouts do not count there), not before 1 s.
    expect(s.server.tcpOverflows()).toBe(1);
    expect(after).toBeGreaterThanOrEqual(1000);
    sock.destroy();
  }, 60_000);

  it.each([
    ['tls', 'DoT (tls:// without a certificate: DNS over plain TCP)'],
    ['https', 'DoH (https:// without a certificate: HTTP/1.1)'],
    ['grpc', 'gRPC (grpc:// without a certificate: h2c)'],
  ])('%s: an idle connection is closed after `idle` (1s), not before — %s', async (scheme) => {
    const s = await scoped.server(`${scheme}://.:0 {\n bind 127.0.0.1\n timeouts {\n  idle 1s\n }\n whoami\n}`);
    const c = await openConn(s.port);
    // the server's timer starts when it accepts, before the client's connect callback: cut at 1 s,
    // before a 5 s timer set now; at the 10 s default, after it
    expect(await before(5000, () => s.server.tcpConnections() === 0)).toBe(true);
    await waitFor(() => c.closedAt() !== undefined, { timeout: HANG, what: `the idle ${scheme} connection to be closed` });
    // (which can be a few ms before the connect callback)
    expect(c.closedAt()! - c.opened).toBeGreaterThanOrEqual(1000 - 50);
  });

  it.each([
    ['dns', 'TCP'],
    ['tls', 'DoT (tls:// without a certificate)'],
  ])('%s: maxtcpqueries 2 — two pipelined queries of three are answered, then the connection is closed (%s)', async (scheme) => {
    const s = await scoped.server(`${scheme}://.:0 {\n bind 127.0.0.1\n timeouts {\n  maxtcpqueries 2\n }\n whoami\n}`);
    const c = await openConn(s.port);
    let got = Buffer.alloc(0);
    c.sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    c.sock.write(Buffer.concat([frame('one.example.', 1), frame('two.example.', 2), frame('three.example.', 3)]));
    // closed because of the limit: before a 5 s timer set now, not at the 10 s idle timeout
    expect(await before(5000, () => s.server.tcpConnections() === 0)).toBe(true);
    await waitFor(() => c.closedAt() !== undefined, { timeout: HANG, what: 'the connection to be closed after two queries' });
    const ids: number[] = [];
    for (let off = 0; off + 2 <= got.length; off += 2 + got.readUInt16BE(off)) ids.push(got.readUInt16BE(off + 2));
    expect(ids.sort()).toEqual([1, 2]);
  });

  it('two blocks on one port: each timeout from the last block that sets it (CoreDNS NewServer)', async () => {
    const s = await scoped.server(
      'a.example:0 {\n bind 127.0.0.1\n timeouts {\n  idle 20s\n  read 1s\n }\n whoami\n}\nb.example:0 {\n bind 127.0.0.1\n timeouts {\n  idle 1s\n }\n whoami\n}',
    );
    const opts = [...((s.server as unknown as { listenersByKey: Map<string, { opts: { idleTimeout: number; readTimeout: number } }> }).listenersByKey.values())];
    expect(opts).toHaveLength(1);
    expect(opts[0]!.opts).toMatchObject({ idleTimeout: 1000, readTimeout: 1000 });
    const c = await openConn(s.port);
    // idle 1 s (b.example's): before a 5 s timer set now, not at a.example's 20 s
    expect(await before(5000, () => s.server.tcpConnections() === 0)).toBe(true);
    await waitFor(() => c.closedAt() !== undefined, { timeout: HANG, what: 'the idle connection to be closed' });
    expect(c.closedAt()! - c.opened).toBeGreaterThanOrEqual(1000 - 5);
  });

  it('a reload changes the timeouts of the listener it keeps', async () => {
    const port = await freePort();
    const corefile = (idle: string): string => `.:${port} {\n bind 127.0.0.1\n timeouts {\n  idle ${idle}\n }\n whoami\n}`;
    const s = await scoped.server(corefile('30s'));
    const c = await openConn(port);
    expect(await s.server.reload('test', { file: 'Corefile', text: corefile('1s') })).toBe(true);
    // idle 1 s now: cut before a 10 s timer set now, not at the 30 s of before the reload
    expect(await before(10_000, () => s.server.tcpConnections() === 0)).toBe(true);
    await waitFor(() => c.closedAt() !== undefined, { timeout: HANG, what: 'the connection to be closed under the reloaded idle timeout' });
    expect(c.closedAt()! - c.opened).toBeGreaterThanOrEqual(1000 - 5);
  });
});
