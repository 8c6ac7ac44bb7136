// cache: serve_stale's optional arguments (verify TIMEOUT, RESP_TTL, RECHECK), against a real
// forward → upstream chain on 127.0.0.1.
import { describe, expect, it } from 'vitest';
import { dispense, type QueryResult, type TestServer, waitFor } from '../../src/testing/index.js';
import type { Upstream } from '../../test/support/upstream.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import cache from './index.js';

const { upstream, server } = scopedPerTest();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const records = (r: QueryResult): string[] =>
  (r.msg.answers ?? []).filter((a) => a.type !== 'OPT').map((a) => `${a.type} ${(a as { ttl?: number }).ttl} ${String((a as { data?: unknown }).data)}`);
/**
 * Upstream replies with `rcode` that `s`'s forward has taken in (its duration histogram's count):
 * forward counts a reply just before handing it up, and the cache stores it (or, for a failed
 * refresh, sets RECHECK and clears `refreshing`) in the same turn, so once this counts a reply the
 * cache is done with it — the positive sign a test waits for instead of a sleep.
 */
async function forwarded(s: TestServer, rcode: 'NOERROR' | 'SERVFAIL'): Promise<number> {
  const text = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_request_duration_seconds');
  const m = new RegExp(`_count\\{[^}]*rcode="${rcode}"[^}]*\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}
const block = (up: Upstream, staleLine: string): string =>
  `.:0 {\n bind 127.0.0.1\n cache 1 {\n ${staleLine}\n }\n forward . ${up.addr} {\n max_fails 0\n read_timeout 2s\n }\n}`;

describe('cache: serve_stale arguments', () => {
  it('parses [DURATION] [immediate [RESP_TTL [RECHECK]] | verify [TIMEOUT [RESP_TTL [RECHECK]]]]', () => {
    const p = (line: string): unknown => cache.parse(dispense(`cache {\n ${line}\n}`), ['.']).serveStale;
    expect(p('serve_stale')).toEqual({ upTo: 3_600_000, verify: false, timeout: 0, respTtl: 0, recheck: 0 });
    expect(p('serve_stale 2h immediate 30s 10s')).toEqual({ upTo: 7_200_000, verify: false, timeout: 0, respTtl: 30, recheck: 10_000 });
    expect(p('serve_stale 1h verify 100ms')).toEqual({ upTo: 3_600_000, verify: true, timeout: 100, respTtl: 0, recheck: 0 });
    expect(p('serve_stale 1h verify 0 30s 5m')).toEqual({ upTo: 3_600_000, verify: true, timeout: 0, respTtl: 30, recheck: 300_000 });
    expect(() => p('serve_stale 1h immediate 30s 10s 1s')).toThrow(/Testfile:2.*wrong argument count/);
    expect(() => p('serve_stale 1h verify 1s 30s 10s 1s')).toThrow(/Testfile:2.*wrong argument count/);
    expect(() => p('serve_stale 1h verify 1s 30s 6m')).toThrow(/between 0 and 5m/);
    expect(() => p('serve_stale 1h immediate soon')).toThrow(/invalid duration 'soon'/);
  });

  it('RESP_TTL sets the TTL of stale answers; a failed refresh keeps the stale entry', async () => {
    const up = await upstream();
    up.answer('ttl.example.org.', 'A', ['ttl.example.org. 1 IN A 10.1.0.1']);
    const s = await server(block(up, 'serve_stale 1h immediate 30s'));
    expect(records(await s.query('ttl.example.org.', 'A'))).toEqual(['A 1 10.1.0.1']);
    await sleep(1100);
    up.fault = 'servfail';
    expect(records(await s.query('ttl.example.org.', 'A'))).toEqual(['A 30 10.1.0.1']);
    // the SERVFAIL of the background refresh has been taken in, and did not replace the entry
    await waitFor(async () => (await forwarded(s, 'SERVFAIL')) === 1, { what: 'the refresh\'s SERVFAIL to reach the cache' });
    expect(up.seen('ttl.example.org.')).toBe(2);
    const r = await s.query('ttl.example.org.', 'A');
    expect(r.rcode).toBe(0);
    expect(records(r)).toEqual(['A 30 10.1.0.1']);
  });

  it('verify TIMEOUT: a slow upstream gets the stale answer at the deadline, its late reply refreshes the entry', async () => {
    const up = await upstream();
    up.answer('v.example.org.', 'A', ['v.example.org. 1 IN A 10.1.0.2']);
    // max TTL 60 s (min 1 s): the first answer expires after 1 s, the refreshed one stays fresh
    const s = await server(block(up, 'serve_stale 1h verify 150ms').replace('cache 1 {', 'cache {\n success 1024 60 1'));
    await s.query('v.example.org.', 'A');
    await sleep(1100);
    up.answer('v.example.org.', 'A', ['v.example.org. 60 IN A 10.1.0.3']);
    // The reply comes 4 × TIMEOUT late: the stale answer (not the fresh one) says the deadline
    // fired first. Both timers are this process's (server and upstream alike), set in that order,
    // and Node fires due timers in order however late it runs: no bound on the wall clock needed.
    up.delay = 600;
    expect(records(await s.query('v.example.org.', 'A', { timeout: 20_000 }))).toEqual(['A 0 10.1.0.2']);
    // the verify goes on after the deadline; its reply lands in the cache and is served from there
    await waitFor(async () => (await forwarded(s, 'NOERROR')) === 2, { timeout: 10_000, what: 'the late reply to reach the cache' });
    expect(records(await s.query('v.example.org.', 'A'))[0]).toMatch(/^A (5\d|60) 10\.1\.0\.3$/);
    expect(up.seen('v.example.org.')).toBe(2);
  });

  it('verify without TIMEOUT: a fresh answer wins, SERVFAIL falls back to stale', async () => {
    const up = await upstream();
    up.answer('vf.example.org.', 'A', ['vf.example.org. 1 IN A 10.1.0.4']);
    up.answer('vs.example.org.', 'A', ['vs.example.org. 1 IN A 10.1.0.5']);
    const s = await server(block(up, 'serve_stale 1h verify'));
    await s.query('vf.example.org.', 'A');
    await s.query('vs.example.org.', 'A');
    await sleep(1100);
    up.answer('vf.example.org.', 'A', ['vf.example.org. 1 IN A 10.1.0.6']);
    expect(records(await s.query('vf.example.org.', 'A'))).toEqual(['A 1 10.1.0.6']);
    up.fault = 'servfail';
    const r = await s.query('vs.example.org.', 'A');
    expect(r.rcode).toBe(0);
    expect(records(r)).toEqual(['A 0 10.1.0.5']);
  });

  it('RECHECK: after a failed refresh no new one is tried until it has passed; without it every stale hit asks', async () => {
    const up = await upstream();
    for (const n of ['rc', 'rv', 'r0']) up.answer(`${n}.example.org.`, 'A', [`${n}.example.org. 1 IN A 10.1.1.1`]);
    const s = await server(block(up, 'serve_stale 1h immediate 0s 10s'));
    const sv = await server(block(up, 'serve_stale 1h verify 0 0s 10s'));
    const s0 = await server(block(up, 'serve_stale 1h immediate'));
    await s.query('rc.example.org.', 'A');
    await sv.query('rv.example.org.', 'A');
    await s0.query('r0.example.org.', 'A');
    await sleep(1100);
    up.fault = 'servfail';
    // immediate: stale + one background refresh, which fails; then stale without asking
    expect(records(await s.query('rc.example.org.', 'A'))).toEqual(['A 0 10.1.1.1']);
    await waitFor(async () => (await forwarded(s, 'SERVFAIL')) === 1, { what: 'the failed refresh to reach the cache' });
    for (let i = 0; i < 3; i++) expect(records(await s.query('rc.example.org.', 'A'))).toEqual(['A 0 10.1.1.1']);
    // verify: the first stale hit asks (and fails), the following ones do not
    for (let i = 0; i < 3; i++) expect(records(await sv.query('rv.example.org.', 'A'))).toEqual(['A 0 10.1.1.1']);
    // without RECHECK each stale hit starts a refresh (one at a time)
    for (let i = 0; i < 3; i++) {
      expect(records(await s0.query('r0.example.org.', 'A'))).toEqual(['A 0 10.1.1.1']);
      // the refresh has failed and is over (not `refreshing`): the next stale hit may start one
      await waitFor(async () => (await forwarded(s0, 'SERVFAIL')) === 1 + i, { what: `refresh ${1 + i} to fail` });
    }
    expect(up.seen('rc.example.org.')).toBe(2);
    expect(up.seen('rv.example.org.')).toBe(2);
    expect(up.seen('r0.example.org.')).toBe(4);
  });

  it('verify: a reply whose rcode is extended (BADVERS: 0 in the header, 1 in its OPT) is no fresh answer: the stale one goes out', async () => {
    const up = await upstream();
    up.answer('ext.example.org.', 'A', ['ext.example.org. 1 IN A 10.1.2.1']);
    const s = await server(block(up, 'serve_stale 1h verify'));
    expect(records(await s.query('ext.example.org.', 'A', { edns: true }))).toEqual(['A 1 10.1.2.1']);
    await sleep(1100);
    up.answer('ext.example.org.', 'A', { rcode: 16 });
    const r = await s.query('ext.example.org.', 'A', { edns: true });
    expect(up.seen('ext.example.org.')).toBe(2);
    // (the cache's own capture writer read only the header's 4 rcode bits: NOERROR, and relayed the BADVERS)
    expect(r.rcode).toBe(0);
    expect(records(r)).toEqual(['A 0 10.1.2.1']);
  });
});
