import { describe, expect, it } from 'vitest';
import { dispense, responder, startServer, waitFor, type QueryResult } from '../../src/testing/index.js';
import type { Upstream } from '../../test/support/upstream.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import cache from './index.js';

const { upstream, server } = scopedPerTest();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const records = (r: QueryResult, section: 'answers' | 'authorities' = 'answers'): string[] =>
  (r.msg[section] ?? []).filter((a) => a.type !== 'OPT').map((a) => `${a.type} ${(a as { ttl?: number }).ttl} ${typeof (a as { data?: unknown }).data === 'object' ? 'obj' : String((a as { data?: unknown }).data)}`);

const block = (up: Upstream, cacheLine = 'cache', extra = ''): string => `.:0 {\n bind 127.0.0.1\n ${cacheLine}\n forward . ${up.addr} {\n max_fails 0\n read_timeout 300ms\n }\n${extra}}`;

describe('cache: parse', () => {
  it('defaults as CoreDNS', () => {
    const c = cache.parse(dispense('cache'), ['example.org.']);
    expect(c).toMatchObject({
      zones: ['example.org.'],
      success: { capacity: 9984, maxTtl: 3600, minTtl: 5 },
      denial: { capacity: 9984, maxTtl: 1800, minTtl: 5 },
      prefetch: { amount: 0, duration: 60000, percentage: 10 },
      serveStale: { upTo: 0, verify: false },
      servfail: 5000,
      keepttl: false,
      maxBytes: 32 * 1024 * 1024,
    });
  });

  it('parses every option', () => {
    const c = cache.parse(
      dispense(`cache 300 example.org example.net {
        success 5000 600 10
        denial 2500 60 2
        prefetch 10 2m 20%
        serve_stale 2h verify
        servfail 10s
        disable denial sub.example.org
        keepttl
      }`),
      ['.'],
    );
    expect(c.zones).toEqual(['example.org.', 'example.net.']);
    expect(c.success).toEqual({ capacity: 4864, maxTtl: 600, minTtl: 10 });
    expect(c.denial).toEqual({ capacity: 2304, maxTtl: 60, minTtl: 2 });
    expect(c.prefetch).toEqual({ amount: 10, duration: 120000, percentage: 20 });
    expect(c.serveStale).toMatchObject({ upTo: 7_200_000, verify: true });
    expect(c.servfail).toBe(10000);
    expect(c.disable).toEqual({ success: [], denial: ['sub.example.org.'] });
    expect(c.keepttl).toBe(true);
    expect(cache.parse(dispense('cache {\n serve_stale\n}'), ['.']).serveStale).toMatchObject({ upTo: 3_600_000, verify: false });
    expect(cache.parse(dispense('cache {\n success 100\n}'), ['.']).success.capacity).toBe(1024);
  });

  it.each([
    ['cache {\n bogus\n}', "Testfile:2 - Error during parsing: plugin/cache: unknown property 'bogus'"],
    ['cache {\n success\n}', 'Testfile:2 - Error during parsing: plugin/cache: wrong argument count'],
    ['cache {\n success 1 2 3 4\n}', 'Testfile:2'],
    ['cache {\n success many\n}', "invalid capacity 'many'"],
    ['cache {\n prefetch 5 1m 5%\n}', "invalid prefetch percentage '5%'"],
    ['cache {\n prefetch 5 soon\n}', "Testfile:2 - Error during parsing: plugin/cache: invalid duration 'soon'"],
    ['cache {\n serve_stale 1h later\n}', 'invalid value for serve_stale refresh mode'],
    ['cache {\n serve_stale forever\n}', "invalid duration 'forever'"],
    ['cache {\n servfail 10m\n}', 'over 5 minutes'],
    ['cache {\n servfail\n}', 'wrong argument count'],
    ['cache {\n disable everything\n}', 'must be "success" or "denial"'],
    ['cache {\n keepttl now\n}', 'wrong argument count'],
    ['cache {\n max_bytes lots\n}', "invalid max_bytes 'lots'"],
    ['cache {\n max_bytes 1000\n}', 'at least 64KiB'],
  ])('rejects %j', (text, msg) => {
    expect(() => cache.parse(dispense(text), ['.'])).toThrow(msg);
  });

  it('is once per block (error names file:line)', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n cache\n cache\n whoami\n}')).rejects.toThrow(/Corefile:4/);
  });
});

describe('cache: through real sockets', () => {
  it('serves a hit after the upstream was stopped, from wire bytes with the client ID and name case', async () => {
    const up = await upstream();
    up.answer('a.example.org.', 'A', ['a.example.org. 300 IN A 10.0.0.1', 'a.example.org. 300 IN A 10.0.0.2']);
    const s = await server(block(up));
    const r1 = await s.query('a.example.org.', 'A');
    expect(records(r1)).toEqual(['A 300 10.0.0.1', 'A 300 10.0.0.2']);
    await up.stop();
    const r2 = await s.query('A.EXAMPLE.org.', 'A', { id: 777, edns: 1232 });
    expect(r2.msg.id).toBe(777);
    expect(r2.msg.questions?.[0]?.name).toBe('A.EXAMPLE.org');
    expect(records(r2).map((x) => x.replace(/ \d+ /, ' '))).toEqual(['A 10.0.0.1', 'A 10.0.0.2']);
    expect(r2.msg.additionals?.some((a) => a.type === 'OPT')).toBe(true);
    expect((r2.msg.flags ?? 0) & 0x0400).toBe(0x0400);
    expect(up.count.total).toBe(1);
    const hits = await s.metrics.registry.getSingleMetricAsString('coredns_cache_hits_total');
    expect(hits).toMatch(/coredns_cache_hits_total\{server="dns:\/\/[^"]*",type="success",zones=".",view=""\} 1/);
    const entries = await s.metrics.registry.getSingleMetricAsString('coredns_cache_entries');
    expect(entries).toMatch(/type="success",zones=".",view=""} 1/);
    const req = await s.metrics.registry.getSingleMetricAsString('coredns_cache_requests_total');
    expect(req).toMatch(/} 2/);
  });

  it('counts the TTL down', async () => {
    const up = await upstream();
    up.answer('t.example.org.', 'A', ['t.example.org. 30 IN A 10.0.0.3']);
    const s = await server(block(up));
    expect(records(await s.query('t.example.org.', 'A'))).toEqual(['A 30 10.0.0.3']);
    let ttl = 30;
    const end = Date.now() + 4000;
    while (ttl === 30 && Date.now() < end) {
      await sleep(200);
      const r = await s.query('t.example.org.', 'A');
      ttl = (r.msg.answers?.[0] as { ttl: number }).ttl;
    }
    expect(ttl).toBeLessThan(30);
    expect(ttl).toBeGreaterThanOrEqual(27);
    expect(up.count.total).toBe(1);
  });

  it('caps TTLs at the configured maximum', async () => {
    const up = await upstream();
    up.answer('cap.example.org.', 'A', ['cap.example.org. 3000 IN A 10.0.0.4']);
    const s = await server(block(up, 'cache 20'));
    await s.query('cap.example.org.', 'A');
    const r = await s.query('cap.example.org.', 'A');
    expect((r.msg.answers?.[0] as { ttl: number }).ttl).toBeLessThanOrEqual(20);
  });

  it('caps the TTLs of the first reply it passes, not only of later hits (CoreDNS: "capped TTL")', async () => {
    const up = await upstream();
    up.answer('big.example.org.', 'A', {
      answers: ['big.example.org. 300 IN CNAME www.example.org.', 'www.example.org. 300 IN A 10.0.0.4'],
      authorities: ['example.org. 3000 IN NS ns.example.org.'],
      additionals: ['ns.example.org. 3000 IN A 10.0.0.53'],
    });
    up.answer('short.example.org.', 'A', ['short.example.org. 10 IN CNAME s.example.org.', 's.example.org. 300 IN A 10.0.0.5']);
    up.answer('zero.example.org.', 'A', ['zero.example.org. 0 IN A 10.0.0.6']);
    up.answer('nx.example.org.', 'A', { rcode: 3, authorities: ['example.org. 600 IN SOA ns.example.org. h.example.org. 1 7200 3600 1209600 600'] });
    const s = await server(block(up, 'cache 30 {\n denial 9984 20 15\n }'));
    const first = await s.query('big.example.org.', 'A');
    const ttls = (r: QueryResult): number[] =>
      [...(r.msg.answers ?? []), ...(r.msg.authorities ?? []), ...(r.msg.additionals ?? [])].filter((a) => a.type !== 'OPT').map((a) => (a as { ttl: number }).ttl);
    expect(ttls(first)).toEqual([30, 30, 30, 30]);
    // every record gets the reply's lifetime: the smallest TTL (10), not its own
    expect(ttls(await s.query('short.example.org.', 'A'))).toEqual([10, 10]);
    // minttl raises a TTL below it on the first reply too (success MINTTL 5)
    expect(ttls(await s.query('zero.example.org.', 'A'))).toEqual([5]);
    // denial: capped at its own maximum (20)
    const nx = await s.query('nx.example.org.', 'A');
    expect(nx.rcode).toBe(3);
    expect(ttls(nx)).toEqual([20]);
    expect(ttls(await s.query('big.example.org.', 'A', { edns: 1232 })).every((t) => t <= 30 && t >= 28)).toBe(true);
  });

  it('caps a hosts entry with ttl 3600 under cache 30 on the first answer', async () => {
    const s = await server('.:0 {\n bind 127.0.0.1\n cache 30\n hosts {\n  10.1.2.3 h.example.org\n  ttl 3600\n }\n}');
    const r = await s.query('h.example.org.', 'A');
    expect(records(r)).toEqual(['A 30 10.1.2.3']);
    expect(records(await s.query('h.example.org.', 'A'))).toEqual(['A 30 10.1.2.3']);
  });

  it('holds at most max_bytes per cache: big answers evict old ones instead of growing memory', async () => {
    const up = await upstream();
    // every name answers ~3.6 KB of TXT
    const big = 'x'.repeat(250);
    up.fallback = (q) => ({ answers: Array.from({ length: 14 }, (_, i) => `${q.questions?.[0]?.name}. 300 IN TXT "${i}${big}"`) });
    const s = await server(block(up, 'cache {\n max_bytes 256KiB\n }'));
    for (let i = 0; i < 300; i++) {
      const r = await s.query(`n${i}.big.example.org.`, 'TXT', { tcp: true });
      expect(r.msg.answers).toHaveLength(14);
    }
    const text = await s.metrics.registry.getSingleMetricAsString('coredns_cache_size_bytes');
    const bytes = Number(/type="success"[^}]*\} (\d+)/.exec(text)?.[1]);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(256 * 1024);
    const entries = await s.metrics.registry.getSingleMetricAsString('coredns_cache_entries');
    const n = Number(/type="success"[^}]*\} (\d+)/.exec(entries)?.[1]);
    expect(n).toBeLessThan(300); // 300 × 3.6 KB would be over 1 MB
    const ev = await s.metrics.registry.getSingleMetricAsString('coredns_cache_evictions_total');
    expect(Number(/type="success"[^}]*\} (\d+)/.exec(ev)?.[1])).toBeGreaterThan(0);
    // the default budget (32 MiB) holds them all
    const up2 = await upstream();
    up2.fallback = up.fallback;
    const s2 = await server(block(up2));
    for (let i = 0; i < 300; i++) await s2.query(`n${i}.big.example.org.`, 'TXT', { tcp: true });
    expect(await s2.metrics.registry.getSingleMetricAsString('coredns_cache_entries')).toMatch(/type="success"[^}]*\} 300/);
  });

  it('caches NXDOMAIN by the SOA minimum, and not without a SOA', async () => {
    const up = await upstream();
    up.answer('nx.example.org.', 'A', { rcode: 3, authorities: ['example.org. 300 IN SOA ns.example.org. h.example.org. 1 7200 3600 1209600 7'] });
    const s = await server(block(up));
    const r1 = await s.query('nx.example.org.', 'A');
    expect(r1.rcode).toBe(3);
    const r2 = await s.query('nx.example.org.', 'A');
    expect(r2.rcode).toBe(3);
    const soaTtl = (r2.msg.authorities?.[0] as { ttl: number }).ttl;
    expect(soaTtl).toBeLessThanOrEqual(7);
    expect(soaTtl).toBeGreaterThan(0);
    expect(up.seen('nx.example.org.')).toBe(1);
    // NODATA with SOA: cached too
    up.answer('nodata.example.org.', 'AAAA', { authorities: ['example.org. 60 IN SOA ns.example.org. h.example.org. 1 7200 3600 1209600 30'] });
    await s.query('nodata.example.org.', 'AAAA');
    await s.query('nodata.example.org.', 'AAAA');
    expect(up.seen('nodata.example.org.')).toBe(1);
    // NXDOMAIN without SOA: never cached
    await s.query('nosoa.example.org.', 'A');
    await s.query('nosoa.example.org.', 'A');
    expect(up.seen('nosoa.example.org.')).toBe(2);
    const den = await s.metrics.registry.getSingleMetricAsString('coredns_cache_hits_total');
    expect(den).toMatch(/type="denial",zones=".",view=""} 2/);
  });

  it('caches SERVFAIL for the servfail duration (0 disables)', async () => {
    const up = await upstream();
    up.fault = 'servfail';
    const s = await server(block(up));
    expect((await s.query('sf.example.org.', 'A')).rcode).toBe(2);
    expect((await s.query('sf.example.org.', 'A')).rcode).toBe(2);
    expect(up.seen('sf.example.org.')).toBe(1);
    const s2 = await server(block(up, 'cache {\n servfail 0\n }'));
    await s2.query('sf2.example.org.', 'A');
    await s2.query('sf2.example.org.', 'A');
    expect(up.seen('sf2.example.org.')).toBe(2);
  });

  it('keeps separate entries for the DO bit', async () => {
    const up = await upstream();
    up.answer('do.example.org.', 'A', ['do.example.org. 300 IN A 10.0.0.5']);
    const s = await server(block(up));
    await s.query('do.example.org.', 'A');
    await s.query('do.example.org.', 'A', { edns: 1232, do: true });
    expect(up.queries.filter((q) => q.name === 'do.example.org').map((q) => q.do)).toEqual([false, true]);
    await s.query('do.example.org.', 'A');
    const r = await s.query('do.example.org.', 'A', { edns: 1232, do: true });
    const opt = r.msg.additionals?.find((a) => a.type === 'OPT') as { flag_do?: boolean } | undefined;
    expect(opt?.flag_do).toBe(true);
    expect(up.seen('do.example.org.')).toBe(2);
  });

  it('serve_stale answers from an expired entry with TTL 0 after the upstream stopped', async () => {
    const up = await upstream();
    up.answer('st.example.org.', 'A', ['st.example.org. 1 IN A 10.0.0.6']);
    const s = await server(block(up, 'cache 1 {\n serve_stale\n }'));
    expect(records(await s.query('st.example.org.', 'A'))).toEqual(['A 1 10.0.0.6']);
    await up.stop();
    await sleep(2100);
    const r = await s.query('st.example.org.', 'A');
    expect(r.rcode).toBe(0);
    expect(records(r)).toEqual(['A 0 10.0.0.6']);
    const m = await s.metrics.registry.getSingleMetricAsString('coredns_cache_served_stale_total');
    expect(m).toMatch(/} 1/);
    // without serve_stale the expired entry is a miss: the dead upstream gives SERVFAIL
    const up2 = await upstream();
    up2.answer('st.example.org.', 'A', ['st.example.org. 1 IN A 10.0.0.6']);
    const s2 = await server(block(up2, 'cache 1'));
    await s2.query('st.example.org.', 'A');
    await up2.stop();
    await sleep(2100);
    expect((await s2.query('st.example.org.', 'A', { timeout: 5000 })).rcode).toBe(2);
  });

  it('serve_stale refreshes the entry in the background once the upstream is back', async () => {
    const up = await upstream();
    up.answer('rf.example.org.', 'A', ['rf.example.org. 1 IN A 10.0.0.7']);
    const s = await server(block(up, 'cache 1 {\n serve_stale 1h immediate\n }'));
    await s.query('rf.example.org.', 'A');
    await sleep(2100);
    up.answer('rf.example.org.', 'A', ['rf.example.org. 1 IN A 10.0.0.8']);
    expect(records(await s.query('rf.example.org.', 'A'))).toEqual(['A 0 10.0.0.7']); // stale first
    // the refresh reaches the upstream, then is stored: wait for the fresh answer (not 1 s + 50 ms)
    await waitFor(() => up.seen('rf.example.org.') >= 2, { what: 'the background refresh to reach the upstream' });
    const fresh = await waitFor(async () => {
      const a = records(await s.query('rf.example.org.', 'A'))[0];
      return a !== 'A 0 10.0.0.7' && a;
    }, { what: 'the refreshed entry to be served' });
    expect(fresh).toMatch(/^A [01] 10\.0\.0\.8$/);
  });

  it('prefetches a popular entry before it expires', async () => {
    const up = await upstream();
    up.answer('pf.example.org.', 'A', ['pf.example.org. 10 IN A 10.0.0.9']);
    const s = await server(block(up, 'cache {\n prefetch 1 1m 90%\n }'));
    await s.query('pf.example.org.', 'A');
    await sleep(1100);
    await s.query('pf.example.org.', 'A');
    await waitFor(() => up.seen('pf.example.org.') >= 2, { what: 'the prefetch to reach the upstream' });
    expect(up.seen('pf.example.org.')).toBe(2);
    const m = await s.metrics.registry.getSingleMetricAsString('coredns_cache_prefetch_total');
    expect(m).toMatch(/} 1/);
  });

  it('only caches inside its zones, and honours disable', async () => {
    const up = await upstream();
    up.answer('in.example.org.', 'A', ['in.example.org. 300 IN A 10.0.1.1']);
    up.answer('out.example.net.', 'A', ['out.example.net. 300 IN A 10.0.1.2']);
    up.answer('d.example.org.', 'A', ['d.example.org. 300 IN A 10.0.1.3']);
    const s = await server(block(up, 'cache example.org {\n disable success d.example.org\n }'));
    for (let i = 0; i < 2; i++) {
      await s.query('in.example.org.', 'A');
      await s.query('out.example.net.', 'A');
      await s.query('d.example.org.', 'A');
    }
    expect(up.seen('in.example.org.')).toBe(1);
    expect(up.seen('out.example.net.')).toBe(2);
    expect(up.seen('d.example.org.')).toBe(2);
  });

  it('caches replies written as Messages by a plugin below, and drops replies whose question does not match', async () => {
    let calls = 0;
    const answerer = responder('answerer', (req, w) => {
      calls++;
      if (req.name === 'msg.example.org.') {
        w.write({ type: 'response', flags: 0, answers: [{ name: 'msg.example.org', type: 'A', ttl: 60, class: 'IN', data: '10.9.9.9' }] });
        return 0;
      }
      // wire bytes for another question
      const wire = Buffer.from(req.wire);
      const other = Buffer.concat([wire.subarray(0, 12), Buffer.from([5, 0x6f, 0x74, 0x68, 0x65, 0x72, 0]), wire.subarray(req.questionEnd - 4, req.questionEnd)]);
      other[2] = 0x81;
      other[3] = 0x80;
      other[10] = 0;
      other[11] = 0;
      w.write(other);
      return 0;
    }, { position: { after: 'cache' } });
    const s = await server('.:0 {\n bind 127.0.0.1\n cache\n answerer\n}', { plugins: [answerer] });
    const r1 = await s.query('msg.example.org.', 'A');
    expect(records(r1)).toEqual(['A 60 10.9.9.9']);
    const r2 = await s.query('msg.example.org.', 'A');
    expect(records(r2)).toEqual(['A 60 10.9.9.9']);
    expect(calls).toBe(1);
    await s.query('spoof.example.org.', 'A');
    await s.query('spoof.example.org.', 'A');
    expect(calls).toBe(3);
    const drops = await s.metrics.registry.getSingleMetricAsString('coredns_cache_drops_total');
    expect(drops).toMatch(/} 2/);
  });
});
