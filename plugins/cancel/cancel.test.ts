// cancel: CoreDNS's setup table (plugin/cancel/setup_test.go) as data; through a real server,
// a query that outlives its deadline gets no reply and forward stops asking its upstream.
import { describe, expect, it } from 'vitest';
import { DROP, RCODE, type Rcode } from '../../src/plugin/api.js';
import { dispense, fakeRequest, parsePlugin, Recorder, responder, setupPlugin, startServer, waitFor } from '../../src/testing/index.js';
import type { Upstream } from '../../test/support/upstream.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import cancel from './index.js';

describe('cancel: setup (CoreDNS TestSetup)', () => {
  it.each([
    ['cancel', 5001],
    ['cancel 1s', 1000],
    ['cancel 250ms', 250],
  ])('%j', (input, ms) => {
    expect(parsePlugin(cancel, input).timeout).toBe(ms);
  });
  it.each([
    ['cancel 5', /invalid duration: "5"/],
    ['cancel -1s', /invalid negative duration|invalid duration/],
    ['cancel 1s 2s', /Testfile:1 .*wrong argument count/i],
    ['cancel soon', /invalid duration: "soon"/],
  ])('rejects %j', (input, re) => {
    expect(() => cancel.parse(dispense(input), ['.'])).toThrow(re);
  });
});

describe('cancel: the deadline wins over a late answer', () => {
  // Forward stops at the same deadline and returns SERVFAIL; when that settles before cancel's own
  // timer has run (a busy process), the late answer must still be dropped, not written.
  const pastDeadline = (ms: number, write?: boolean) => (req: unknown, w: Recorder): Promise<Rcode> => {
    const end = performance.now() + ms + 20;
    while (performance.now() < end); // the chain outlives the deadline before cancel's timer can run
    if (write) w.write({ type: 'response', flags: 0x8182, questions: [{ name: 'slow.example.', type: 'A', class: 'IN' }], answers: [] });
    return Promise.resolve(RCODE.SERVFAIL);
  };
  it('a returned rcode past the deadline is a drop', async () => {
    const { plugin } = await setupPlugin(cancel, 'cancel 30ms');
    const w = new Recorder(fakeRequest('slow.example.', 'A'));
    expect(await plugin.serve!(w.req, w, pastDeadline(30) as never)).toBe(DROP);
    expect(w.written).toBe(false);
  });
  it('a write past the deadline is not sent', async () => {
    const { plugin } = await setupPlugin(cancel, 'cancel 30ms');
    const w = new Recorder(fakeRequest('slow.example.', 'A'));
    expect(await plugin.serve!(w.req, w, pastDeadline(30, true) as never)).toBe(DROP);
    expect(w.written).toBe(false);
  });
});

describe('cancel through a real server', () => {
  const { upstream, server } = scopedPerTest();

  it('answers as usual within the deadline', async () => {
    const s = await server('.:0 {\n bind 127.0.0.1\n cancel 1s\n whoami\n}');
    expect((await s.query('a.example.', 'A')).rcode).toBe(0);
  });

  it('past the deadline: no reply, and forward stops asking (without cancel it keeps retrying)', async () => {
    // `settled`: a plugin just above forward counts the queries forward has given up on. Once it
    // has, forward asks no more, so the upstream's count is final: no sleep to "see nothing more".
    let settled = 0;
    const probe = responder('probe', (req, w, next) => {
      const r = next(req, w);
      if (r instanceof Promise) void r.finally(() => settled++);
      else settled++;
      return r;
    }, { position: { before: 'forward' } });
    const fwd = (up: Upstream): string => `forward . ${up.addr} {\n  max_fails 0\n  max_connect_attempts 0\n  read_timeout 100ms\n }`;
    const up = await upstream();
    up.delay = 3000;
    const withCancel = await server(`.:0 {\n bind 127.0.0.1\n cancel 300ms\n probe\n ${fwd(up)}\n}`, { plugins: [probe] });
    await expect(withCancel.query('slow.example.', 'A', { timeout: 1200 })).rejects.toThrow(/no answer/);
    await waitFor(() => settled === 1, { what: 'forward to give up at the deadline' });
    const asked = up.count.total;
    expect(asked).toBeGreaterThan(0);
    // 300 ms of 100 ms attempts, 4 at most (a late timer only makes fewer)
    expect(asked).toBeLessThanOrEqual(5);

    // without cancel forward goes on past that point (its own 5 s limit): more asks than cancel allowed
    const up2 = await upstream();
    up2.delay = 3000;
    const without = await server(`.:0 {\n bind 127.0.0.1\n ${fwd(up2)}\n}`);
    await expect(without.query('slow.example.', 'A', { timeout: 1200 })).rejects.toThrow(/no answer/);
    await waitFor(() => up2.count.total > asked, { what: `forward to ask more than ${asked} times without cancel` });
  });

  it('a second stanza is an error', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n cancel\n cancel 1s\n whoami\n}')).rejects.toThrow(/Corefile:4.*only be used once/);
  });
});
