// UDP before stream work (src/server/udp-native.ts udpFirst): a UDP query that arrives while the
// server's thread is busy with a burst of TCP queries, or with the replies of a burst that come
// back together (as forwarded answers do), is read and answered in the middle of that work, not
// after the event loop's turn ends. The burst's queries burn CPU on the server's thread; a worker
// thread sends the UDP query once the burst has started (its own event loop runs meanwhile) and
// records when the answer comes; the burst's last query waits (with a deadline) for that answer,
// so with UDP read only between turns it would never come before the burst's end.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import dnsPacket from 'dns-packet';
import { buildQuery, responder, waitFor } from '../../src/testing/index.js';
import { nativeUdp } from '../../src/server/udp-native.js';
import { scopedPerTest } from '../support/scoped.js';
import { WrappedWriter } from '../../src/plugin/wrapped-writer.js';
import type { Message } from '../../src/plugin/types.js';

const scoped = scopedPerTest();

/** Sends one UDP query when state[0] becomes 1; state[1] = 1 once it left, state[2] = 1 once answered. */
const SENDER = `
const { workerData, parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const state = new Int32Array(workerData.sab);
const s = dgram.createSocket('udp4');
s.on('message', (m) => {
  Atomics.store(state, 2, 1);
  parentPort.postMessage({ id: m.readUInt16BE(0) });
  s.close();
});
s.bind(0, '127.0.0.1', async () => {
  parentPort.postMessage('ready');
  const w = Atomics.waitAsync(state, 0, 0);
  if (w.async) await w.value;
  s.send(Buffer.from(workerData.query), workerData.port, '127.0.0.1', () => Atomics.store(state, 1, 1));
});
`;

const BURST = 64; // one turn's share of TCP queries (tcp.ts PER_TURN): all served in one turn
const SENT = 1;
const ANSWERED = 2;

/** Spin on the server's thread (a query that costs CPU) until `done()` or `ms` pass; false when they passed. */
function spin(ms: number, done: () => boolean = () => false): boolean {
  const end = performance.now() + ms;
  while (performance.now() < end) if (done()) return true;
  return done();
}

function frame(name: string, id: number): Buffer {
  const q = buildQuery(name, 'A', { id });
  return Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
}

/** Undone after each test, newest first (before the scoped servers stop). */
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

/**
 * An upstream over TCP that holds every query until BURST have come (over however many
 * connections forward spreads them), then answers them all at once, one write per connection: the
 * server reads the replies together and finishes them in one run.
 */
async function heldUpstream(): Promise<{ port: number; close(): void }> {
  const conns: Array<{ sock: net.Socket; held: Buffer[] }> = [];
  let held = 0;
  const srv = net.createServer((sock) => {
    const c = { sock, held: [] as Buffer[] };
    conns.push(c);
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = Buffer.from(buf.subarray(0, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(q.length);
        q[4] = q[4]! | 0x80; // QR: the query, as an empty NOERROR reply
        c.held.push(q);
        if (++held === BURST) for (const x of conns) x.sock.write(Buffer.concat(x.held.splice(0)));
      }
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => {
      for (const c of conns) c.sock.destroy();
      srv.close();
    },
  };
}

/**
 * A burst of BURST TCP queries on one connection, each costing ~0.3 ms of the server's thread
 * where it is answered; the UDP query is sent when the burst's first query is answered. Without
 * `forwarded` the burst is answered at once, in the turn that reads it; with it, each query goes
 * to `forward` and its reply comes back with all the others (heldUpstream): the burst's work then
 * runs where forward finishes its replies. Returns what the server saw ('t' per TCP query
 * answered, 'u' for the UDP one) and whether the UDP answer was back before the burst's last query
 * was answered.
 */
async function burst(forwarded: boolean): Promise<{ seen: string[]; sentInBurst: boolean; answeredInBurst: boolean; udpId: number }> {
  const sab = new SharedArrayBuffer(12);
  const state = new Int32Array(sab);
  const seen: string[] = [];
  let answeredInBurst = false;
  let sentInBurst = false;
  let tcp = 0;
  /** The CPU work of answering a TCP query. */
  const work = (): void => {
    const k = tcp++;
    seen.push('t');
    if (k === 0) {
      Atomics.store(state, 0, 1);
      Atomics.notify(state, 0);
      // the UDP query is in the server's socket before the burst goes on
      sentInBurst = spin(5000, () => Atomics.load(state, SENT) === 1);
    } else if (k === BURST - 1) {
      // the last one: done only once the UDP answer is back (or 3 s passed)
      answeredInBurst = spin(3000, () => Atomics.load(state, ANSWERED) === 1);
    } else {
      spin(0.3);
    }
  };
  class Slow extends WrappedWriter {
    override write(res: Message | Uint8Array): void {
      work();
      this.inner.write(res);
    }
  }
  const slow = responder(
    'slow',
    (req, w, next) => {
      if (req.transport === 'udp') {
        seen.push('u');
        w.write({ type: 'response', answers: [{ name: req.name, type: 'A', ttl: 0, data: '192.0.2.1' }] });
        return 0;
      }
      return next(req, new Slow(w));
    },
    { position: { before: 'forward' } },
  );
  let corefile = '.:0 {\n bind 127.0.0.1\n slow\n whoami\n}';
  if (forwarded) {
    const up = await heldUpstream();
    cleanups.push(up.close);
    corefile = `.:0 {\n bind 127.0.0.1\n slow\n forward . 127.0.0.1:${up.port}\n}`;
  }
  const srv = await scoped.server(corefile, { plugins: [slow] });
  const udpId = 4242;
  const worker = new Worker(SENDER, { eval: true, workerData: { sab, port: srv.port, query: buildQuery('udp.example', 'A', { id: udpId }) } });
  cleanups.push(() => void worker.terminate());
  let answer = -1;
  let ready = false;
  worker.on('message', (m: unknown) => {
    if (m === 'ready') ready = true;
    else answer = (m as { id: number }).id;
  });
  await waitFor(() => ready, { what: 'the UDP sender' });
  const sock = net.connect({ host: '127.0.0.1', port: srv.port });
  cleanups.push(() => sock.destroy());
  const replies: number[] = [];
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      replies.push(dnsPacket.decode(buf.subarray(2, 2 + len)).id!);
      buf = buf.subarray(2 + len);
    }
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  // one write: the whole burst arrives in one read
  sock.write(Buffer.concat(Array.from({ length: BURST }, (_, i) => frame(`b${i}.example`, i + 1))));
  await waitFor(() => replies.length === BURST && answer !== -1, { timeout: 15_000, what: 'every TCP reply and the UDP answer' });
  expect(new Set(replies).size).toBe(BURST);
  return { seen, sentInBurst, answeredInBurst, udpId: answer };
}

// (with node:dgram UDP is read once per turn only: nothing to test)
const native = nativeUdp() !== undefined;

describe.skipIf(!native)('UDP before stream work (native listener)', () => {
  it('answers a UDP query that arrives during a burst of TCP queries before the burst is done', async () => {
    const r = await burst(false);
    expect(r.udpId).toBe(4242);
    expect(r.sentInBurst).toBe(true);
    expect(r.answeredInBurst).toBe(true);
    // served between the burst's queries: after the first, well before the last
    const at = r.seen.indexOf('u');
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(BURST);
  });

  it('answers a UDP query that arrives while forward finishes the replies of a burst read together', async () => {
    const r = await burst(true);
    expect(r.udpId).toBe(4242);
    expect(r.sentInBurst).toBe(true);
    expect(r.answeredInBurst).toBe(true);
  });
});
