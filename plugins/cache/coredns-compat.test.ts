// CoreDNS 1.10.1's own cache-plugin tables (plugin/cache: cache_test.go, prefech_test.go,
// spoof_test.go, error_test.go, setup_test.go; HEAD's serve_stale setup rows apart) replayed
// against typedns: a real server on 127.0.0.1 with `cache` in front of `forward` to the test
// upstream (test/support/upstream.ts plays CoreDNS's backend handlers), or — where the backend
// must write what no upstream may send (a reply for another question) — in front of a test plugin.
//
// CoreDNS's tests move a fake clock (c.now) through minutes; here time is real, so those tables
// are replayed with TTLs of 1-3 s and the same shape (fresh → half-way → expired → stale → gone).
import { describe, expect, it } from 'vitest';
import dnsPacket, { type Answer } from 'dns-packet';
import { RCODE } from '../../src/plugin/api.js';
import { parsePlugin, responder, rr, rrText, sortAndCheck, startServer, waitFor, type TestServer, type Case, type QueryOptions, type QueryResult } from '../../src/testing/index.js';
import { startUpstream, type Answerable, type Upstream } from '../../test/support/upstream.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import cache from './index.js';

const { upstream, server } = scopedPerTest();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wait until `ms` after `t0` (a TTL test's clock; CoreDNS moves c.now instead). */
const at = (t0: number, ms: number): Promise<void> => sleep(Math.max(0, t0 + ms - Date.now()));

/** The sum of a metric's samples on `s` (those whose name ends with `suffix`: a histogram's `_count`). */
async function counted(s: TestServer, metric: string, suffix = ''): Promise<number> {
  const text = await s.metrics.registry.getSingleMetricAsString(metric);
  let n = 0;
  for (const m of text.matchAll(/^(\S+?)(?:\{[^}]*\})? (\S+)$/gm)) if (m[1]!.endsWith(suffix) && (suffix !== '' || m[1] === metric)) n += Number(m[2]);
  return n;
}

const corefile = (up: Upstream, cacheStanza: string): string =>
  `.:0 {\n bind 127.0.0.1\n ${cacheStanza}\n forward . ${up.addr} {\n max_fails 0\n read_timeout 1s\n }\n}\n`;

/** Records as text; an RRSIG as "<owner> <ttl> IN RRSIG <covered>" (enough to see TTL and presence). */
const text = (a: Answer): string => (a.type === 'RRSIG' ? `${a.name}. ${a.ttl} IN RRSIG ${(a.data as { typeCovered: string }).typeCovered}` : rrText(a));
const section = (r: QueryResult, s: 'answers' | 'authorities'): string[] => (r.msg[s] ?? []).map(text).sort();
const norm = (x: string): string => (x.includes(' RRSIG ') ? x : rrText(rr(x)));
const flag = (r: QueryResult, bit: number): boolean => ((r.msg.flags ?? 0) & bit) !== 0;
const AD = dnsPacket.AUTHENTIC_DATA;
const RA = dnsPacket.RECURSION_AVAILABLE;
const TC = dnsPacket.TRUNCATED_RESPONSE;

const soa = (ttl: number): string => `example.org. ${ttl} IN SOA sns.dns.icann.org. noc.dns.icann.org. 2016082540 7200 3600 1209600 3600`;

/** An RRSIG over MX, valid from `inception` to `expiration` (Unix seconds). */
const rrsig = (owner: string, ttl: number, inception: number, expiration: number): Answer =>
  ({
    name: owner,
    type: 'RRSIG',
    ttl,
    class: 'IN',
    data: { typeCovered: 'MX', algorithm: 8, labels: 2, originalTTL: 1800, expiration, inception, keyTag: 12051, signersName: 'miek.nl', signature: Buffer.from('lAaEzB5teQLLKyDenatmyhca7blLRg9D', 'base64') },
  }) as unknown as Answer;
const unix = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
const now = Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// TestCache (cacheTestCases): what goes in from the backend, whether a second query is answered
// from the cache, and what the cached answer looks like. The cache runs as in newTestCache:
// default TTLs, denial disabled for neg-disabled.example.org, success for pos-disabled.example.org.

interface CacheRow {
  name: string;
  q: string;
  t: string;
  opts?: QueryOptions;
  /** What the upstream answers (flags: AD, RA, TC, AA …). */
  in: Answerable;
  shouldCache: boolean;
  /** The answer from the cache (checked on the second query when shouldCache). */
  out?: Case & { ad?: boolean; ra?: boolean };
}

const mx = (owner: string, ttl: number): string[] => [`${owner} ${ttl} IN MX 1 aspmx.l.google.com.`, `${owner} ${ttl} IN MX 10 aspmx2.googlemail.com.`];

const cacheRows: CacheRow[] = [
  {
    name: 'Authenticated Data bit (the query asks for it: RFC 6840 5.7)',
    q: 'miek.nl.', t: 'MX', opts: { ad: true },
    in: { flags: AD | RA, answers: mx('miek.nl.', 3601) },
    shouldCache: true,
    out: { rcode: 'NOERROR', ad: true, ra: true, answer: mx('miek.nl.', 3600) },
  },
  {
    name: 'case sensitivity (cached under the lower-cased name)',
    q: 'mIEK.nL.', t: 'MX', opts: { ad: true },
    in: { flags: AD | RA, answers: mx('miek.nl.', 3601) },
    shouldCache: true,
    out: { rcode: 'NOERROR', ad: true, ra: true, answer: mx('miek.nl.', 3600) },
  },
  {
    // item.toMsg / WriteMsg: without DO or AD in the query the AD bit is cleared (added row: the
    // same input as above, asked by a client that did not set AD).
    name: 'AD is cleared for a client that asked for neither DO nor AD',
    q: 'miek.nl.', t: 'MX',
    in: { flags: AD | RA, answers: mx('miek.nl.', 3601) },
    shouldCache: true,
    out: { rcode: 'NOERROR', ad: false, ra: true, answer: mx('miek.nl.', 3600) },
  },
  { name: 'truncated responses are not cached', q: 'miek.nl.', t: 'MX', in: { flags: TC, answers: ['miek.nl. 1800 IN MX 1 aspmx.l.google.com.'] }, shouldCache: false },
  {
    // CoreDNS's table expects 3600: its harness stores with pttl; a live reply is a denial capped at 1800.
    name: 'NXDOMAIN is cached (denial: capped at 1800)',
    q: 'example.org.', t: 'A',
    in: { rcode: RCODE.NXDOMAIN, flags: RA, authorities: [soa(3600)] },
    shouldCache: true,
    out: { rcode: 'NXDOMAIN', ns: [soa(1800)] },
  },
  { name: 'SERVFAIL is cached (servfail 5s)', q: 'example.org.', t: 'A', in: { rcode: RCODE.SERVFAIL, flags: RA }, shouldCache: true, out: { rcode: 'SERVFAIL', ns: [] } },
  { name: 'NOTIMP is cached (as SERVFAIL: response.ServerError)', q: 'example.org.', t: 'A', in: { rcode: RCODE.NOTIMP, flags: RA }, shouldCache: true, out: { rcode: 'NOTIMP', ns: [] } },
  {
    name: 'DO: an expired RRSIG is not cached',
    q: 'miek.nl.', t: 'MX', opts: { edns: true, do: true },
    in: { flags: RA, answers: [...mx('miek.nl.', 3600), rrsig('miek.nl', 1800, unix('2016-04-21T03:13:01Z'), unix('2016-05-21T03:13:01Z'))] },
    shouldCache: false,
  },
  {
    // CoreDNS's row signs 2017-04-21..2017-05-21 and runs its clock in 2017; the live replay signs
    // around today. The entry's TTL is the smallest, 1800 (the harness stored it with 3600).
    name: 'DO: an RRSIG in its validity period is cached',
    q: 'example.org.', t: 'MX', opts: { edns: true, do: true },
    in: { flags: RA, answers: [...mx('example.org.', 3600), rrsig('example.org', 1800, now - 86400, now + 86400)] },
    shouldCache: true,
    out: { rcode: 'NOERROR', answer: [...mx('example.org.', 1800), 'example.org. 1800 IN RRSIG MX'] },
  },
  { name: 'negative zone exception', q: 'neg-disabled.example.org.', t: 'A', in: { rcode: RCODE.NXDOMAIN, authorities: [soa(3600)] }, shouldCache: false },
  { name: 'positive zone exception', q: 'pos-disabled.example.org.', t: 'A', in: { answers: ['pos-disabled.example.org. 3600 IN A 127.0.0.1'] }, shouldCache: false },
  {
    name: 'positive zone exception with a negative answer',
    q: 'pos-disabled.example.org.', t: 'A',
    in: { rcode: RCODE.NXDOMAIN, authorities: [soa(3600)] },
    shouldCache: true,
    out: { rcode: 'NXDOMAIN', ns: [soa(1800)] },
  },
  {
    name: 'negative zone exception with a positive answer',
    q: 'neg-disabled.example.org.', t: 'A',
    in: { answers: ['neg-disabled.example.org. 3600 IN A 127.0.0.1'] },
    shouldCache: true,
    out: { rcode: 'NOERROR', answer: ['neg-disabled.example.org. 3600 IN A 127.0.0.1'] },
  },
];

describe('CoreDNS TestCache (cacheTestCases)', () => {
  it(`has ${cacheRows.length} rows (CoreDNS 1.10.1: 12, plus the AD-cleared row)`, () => expect(cacheRows.length).toBe(13));
  it.each(cacheRows.map((r) => [r.name, r] as const))('%s', async (_n, row) => {
    const up = await upstream();
    up.answer(row.q, row.t, row.in);
    const s = await server(corefile(up, 'cache {\n  disable denial neg-disabled.example.org\n  disable success pos-disabled.example.org\n }'));
    await s.query(row.q, row.t, { tcp: true, ...row.opts });
    const second = await s.query(row.q, row.t, { tcp: true, ...row.opts });
    expect(up.count.total, 'queries that reached the backend').toBe(row.shouldCache ? 1 : 2);
    if (!row.out) return;
    const { ad, ra, answer, ns, ...rest } = row.out;
    sortAndCheck(second.msg, rest);
    if (answer) expect(section(second, 'answers')).toEqual(answer.map(norm).sort());
    if (ns) expect(section(second, 'authorities')).toEqual(ns.map(norm).sort());
    if (ad !== undefined) expect(flag(second, AD), 'AD').toBe(ad);
    if (ra !== undefined) expect(flag(second, RA), 'RA').toBe(ra);
    expect(second.msg.flag_aa, 'AA (always set on a hit)').toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// TestSpoof, TestResponse, TestFormErr: the backend writes a reply that is not the one to the
// query. A forwarder checks these itself, so the backend here is a plugin below the cache.

describe('CoreDNS TestSpoof / TestResponse / TestFormErr', () => {
  const rows: Array<{ name: string; q: string; t: string; write: dnsPacket.Packet }> = [
    { name: 'TestSpoof: reply for example.net to a query for example.org', q: 'example.org.', t: 'A', write: { type: 'response', questions: [{ name: 'example.net', type: 'A', class: 'IN' }], answers: [{ name: 'example.org', type: 'A', ttl: 3600, class: 'IN', data: '127.0.0.53' }] } },
    { name: 'TestSpoof: reply for type A to a query for MX', q: 'example.org.', t: 'MX', write: { type: 'response', questions: [{ name: 'example.org', type: 'A', class: 'IN' }], answers: [{ name: 'example.org', type: 'MX', ttl: 3600, class: 'IN', data: { preference: 10, exchange: 'mail.example.org' } }] } },
    { name: 'TestResponse: a reply without the QR bit', q: 'example.net.', t: 'A', write: { type: 'query', questions: [{ name: 'example.net', type: 'A', class: 'IN' }], answers: [{ name: 'example.org', type: 'A', ttl: 3600, class: 'IN', data: '127.0.0.53' }] } },
    { name: 'TestFormErr: FORMERR for another name', q: 'example.org.', t: 'A', write: { type: 'response', flags: RCODE.FORMERR, questions: [{ name: 'example.net', type: 'A', class: 'IN' }] } },
  ];
  it.each(rows.map((r) => [r.name, r] as const))('%s: not cached', async (_n, row) => {
    let calls = 0;
    const backend = responder('backend', (_req, w) => {
      calls++;
      w.write(row.write as never);
      return RCODE.NOERROR;
    });
    const s = await server('.:0 {\n bind 127.0.0.1\n cache\n backend\n}\n', { plugins: [backend] });
    await s.query(row.q, row.t);
    await s.query(row.q, row.t);
    expect(calls).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------

describe('CoreDNS TestCacheZeroTTL / TestCacheServfailTTL0', () => {
  it('TestCacheZeroTTL: TTL 0 with minimum TTLs 0 is not cached', async () => {
    const up = await upstream();
    up.answer('example.org.', 'A', ['example.org. 0 IN A 127.0.0.53']);
    const s = await server(corefile(up, 'cache {\n  success 9984 3600 0\n  denial 9984 1800 0\n }'));
    await s.query('example.org.', 'A');
    await s.query('example.org.', 'A');
    expect(up.count.total).toBe(2);
  });
  it('TestCacheServfailTTL0: servfail 0 does not cache SERVFAIL', async () => {
    const up = await upstream();
    up.answer('example.org.', 'A', { rcode: RCODE.SERVFAIL, authorities: [soa(0)] });
    const s = await server(corefile(up, 'cache {\n  servfail 0\n }'));
    await s.query('example.org.', 'A');
    await s.query('example.org.', 'A');
    expect(up.count.total).toBe(2);
  });
});

describe('CoreDNS TestComputeTTL (through the reply the cache passes: "capped TTL")', () => {
  const rows: Array<[msgTtl: number, minTtl: number, maxTtl: number, want: number]> = [
    [1800, 300, 3600, 1800],
    [299, 300, 3600, 300],
    [299, 0, 3600, 299],
    [3601, 300, 3600, 3600],
  ];
  it.each(rows)('TTL %i, min %i, max %i → %i', async (msgTtl, min, max, want) => {
    const up = await upstream();
    up.answer('ttl.example.org.', 'A', [`ttl.example.org. ${msgTtl} IN A 10.0.0.1`]);
    const s = await server(corefile(up, `cache {\n  success 9984 ${max} ${min}\n }`));
    const r = await s.query('ttl.example.org.', 'A');
    expect(section(r, 'answers')).toEqual([`ttl.example.org. ${want} IN A 10.0.0.1`]);
  });
});

// ---------------------------------------------------------------------------------------------
// The clock tables, on real time. They run concurrently to keep the file short.

/** A test's own upstream and server, stopped when that test ends (the tables below run concurrently). */
async function own(onTestFinished: (fn: () => Promise<void>) => void, cacheStanza: string): Promise<{ up: Upstream; s: TestServer }> {
  const up = await startUpstream();
  onTestFinished(() => up.stop());
  const s = await startServer(corefile(up, cacheStanza));
  onTestFinished(() => s.close());
  return { up, s };
}

describe.concurrent('CoreDNS clock tables, scaled to seconds', () => {
  it('TestServeFromStaleCache: served stale inside the window, asked again past it; a name never cached is always asked', async ({ onTestFinished, expect }) => {
    // CoreDNS: TTL 60 s, serve_stale 1h; +30 m and +60 m from cache, +70 m to the backend.
    // Here: TTL 1 s, serve_stale 1s; +1.3 s from cache (stale), +2.6 s to the backend.
    const { up, s } = await own(onTestFinished, 'cache {\n  success 9984 3600 0\n  serve_stale 1s\n }');
    up.answer('cached.org.', 'A', ['cached.org. 1 IN A 127.0.0.53']);
    await s.query('cached.org.', 'A');
    const t0 = Date.now(); // the entry was stored just before this
    up.fault = 'refused'; // CoreDNS: "255 means we tried querying upstream"
    const rows: Array<[name: string, afterMs: number, fromCache: boolean]> = [
      ['cached.org.', 1300, true],
      ['notcached.org.', 1300, false],
      ['cached.org.', 2600, false],
      ['notcached.org.', 2600, false],
    ];
    for (const [name, after, fromCache] of rows) {
      await at(t0, after);
      const r = await s.query(name, 'A');
      expect(r.rcode, `${name} +${after} ms`).toBe(fromCache ? RCODE.NOERROR : RCODE.REFUSED);
    }
  });

  it('TestServeFromStaleCacheFetchVerify: verify answers fresh when it can, stale on SERVFAIL, NXDOMAIN as is', async ({ onTestFinished, expect }) => {
    // CoreDNS: TTL 120 s; +1 m cached (TTL 60); +3 m fresh (200); +7 m SERVFAIL → stale (TTL 0);
    // +8 m NXDOMAIN (150). Here: TTL 2 s; +1 s cached (TTL 1); +2.1 s fresh (TTL 2); +4.2 s
    // SERVFAIL → stale (0); then NXDOMAIN with its SOA TTL (150).
    const { up, s } = await own(onTestFinished, 'cache {\n  success 9984 3600 0\n  denial 9984 1800 0\n  servfail 0\n  serve_stale 1h verify\n }');
    up.answer('cached.org.', 'A', ['cached.org. 2 IN A 127.0.0.53']);
    await s.query('cached.org.', 'A');
    const t0 = Date.now(); // the entry was stored just before this
    type Row = [afterMs: number, upstream: Answerable, rcode: number, ttl: number];
    const rows: Row[] = [
      [1000, { answers: ['cached.org. 200 IN A 127.0.0.53'] }, RCODE.NOERROR, 1],
      [2100, { answers: ['cached.org. 2 IN A 127.0.0.53'] }, RCODE.NOERROR, 2],
      [4200, { rcode: RCODE.SERVFAIL }, RCODE.NOERROR, 0],
      [4200, { rcode: RCODE.NXDOMAIN, authorities: [soa(150)] }, RCODE.NXDOMAIN, 150],
    ];
    for (const [after, ans, rcode, ttl] of rows) {
      up.answer('cached.org.', 'A', ans);
      await at(t0, after);
      const r = await s.query('cached.org.', 'A');
      expect(r.rcode, `+${after} ms`).toBe(rcode);
      const rec = rcode === RCODE.NXDOMAIN ? r.msg.authorities![0]! : r.msg.answers![0]!;
      expect((rec as { ttl: number }).ttl, `+${after} ms TTL`).toBe(ttl);
    }
  });

  it('TestNegativeStaleMaskingPositiveCache: a stale NXDOMAIN is refreshed into the positive cache', async ({ onTestFinished, expect }) => {
    const { up, s } = await own(onTestFinished, 'cache {\n  denial 9984 1800 0\n  serve_stale 10m\n }');
    up.answer('cached.org.', 'A', { rcode: RCODE.NXDOMAIN, authorities: [soa(1)] });
    expect((await s.query('cached.org.', 'A')).rcode).toBe(RCODE.NXDOMAIN);
    const t0 = Date.now(); // the entry was stored just before this
    up.fault = 'refused';
    expect((await s.query('cached.org.', 'A')).rcode, 'NXDOMAIN from the negative cache').toBe(RCODE.NXDOMAIN);
    up.fault = 'none';
    up.answer('cached.org.', 'A', ['cached.org. 303 IN A 127.0.0.53']);
    await at(t0, 1100);
    expect((await s.query('cached.org.', 'A')).rcode, 'stale NXDOMAIN, refresh started').toBe(RCODE.NXDOMAIN);
    await waitFor(() => up.count.total >= 2, { what: 'the background refresh' });
    up.fault = 'refused';
    const r = await waitFor(async () => {
      const x = await s.query('cached.org.', 'A');
      return x.rcode === RCODE.NOERROR ? x : undefined;
    }, { what: 'NOERROR from the positive cache' });
    expect(section(r, 'answers')).toEqual(['cached.org. 303 IN A 127.0.0.53']);
  });

  it('TestCacheKeepTTL: keepttl serves the original TTL as time passes', async ({ onTestFinished, expect }) => {
    const { up, s } = await own(onTestFinished, 'cache {\n  keepttl\n }');
    up.answer('cached.org.', 'A', ['cached.org. 60 IN A 127.0.0.53']);
    up.answer('uncached.org.', 'A', ['uncached.org. 60 IN A 127.0.0.53']);
    await s.query('cached.org.', 'A');
    const t0 = Date.now(); // the entry was stored just before this
    const rows: Array<[name: string, afterMs: number]> = [
      ['cached.org.', 0],
      ['cached.org.', 1100],
      ['uncached.org.', 1100],
    ];
    for (const [name, after] of rows) {
      await at(t0, after);
      const r = await s.query(name, 'A');
      expect((r.msg.answers![0] as { ttl: number }).ttl, `${name} +${after} ms`).toBe(60);
    }
  });

  // TestPrefetch: each query's answer and whether it reached the backend, whose address counts up
  // (127.0.0.1, .2, …). CoreDNS's subtests use TTLs 80, 5 and 30 s; here 2, 3 and 2 s.
  const prefetchRows: Array<{ name: string; ttl: number; prefetch: number; steps: Array<{ afterMs: number; answer: string; fetch: boolean }> }> = [
    {
      name: 'hits.reset.example.org.',
      ttl: 2,
      prefetch: 1,
      steps: [
        { afterMs: 0, answer: '2 IN A 127.0.0.1', fetch: true },
        { afterMs: 1100, answer: '1 IN A 127.0.0.1', fetch: true }, // ≤ 10 % (or 1 s) left: prefetched
        { afterMs: 1100, answer: '2 IN A 127.0.0.2', fetch: false },
      ],
    },
    {
      name: 'short.ttl.example.org.',
      ttl: 3,
      prefetch: 1,
      steps: [
        { afterMs: 0, answer: '3 IN A 127.0.0.1', fetch: true },
        { afterMs: 1100, answer: '2 IN A 127.0.0.1', fetch: false },
        { afterMs: 2100, answer: '1 IN A 127.0.0.1', fetch: true },
        { afterMs: 2100, answer: '3 IN A 127.0.0.2', fetch: false },
      ],
    },
    {
      name: 'no.prefetch.example.org.',
      ttl: 2,
      prefetch: 0,
      steps: [
        { afterMs: 0, answer: '2 IN A 127.0.0.1', fetch: true },
        { afterMs: 1100, answer: '1 IN A 127.0.0.1', fetch: false },
        { afterMs: 2100, answer: '2 IN A 127.0.0.2', fetch: true },
      ],
    },
  ];
  it.for(prefetchRows)('TestPrefetch $name', async ({ name, ttl, prefetch, steps }, { onTestFinished, expect }) => {
    const { up, s } = await own(onTestFinished, `cache {\n  success 9984 3600 0\n${prefetch ? `  prefetch ${prefetch}\n` : ''} }`);
    let n = 0;
    up.answer(name, 'A', () => ({ answers: [`${name} ${ttl} IN A 127.0.0.${++n}`] }));
    // The steps count from the answer to the first query (the entry is stored while it is
    // answered), not from before it was sent: on a loaded machine that first answer can take
    // hundreds of ms, which put "+1100 ms" inside the entry's first second (TTL 3 for 2).
    let t0 = Date.now();
    let fetched = 0;
    for (const st of steps) {
      await at(t0, st.afterMs);
      const r = await s.query(name, 'A');
      if (st.afterMs === 0) t0 = Date.now();
      expect(section(r, 'answers'), `+${st.afterMs} ms`).toEqual([`${name} ${st.answer}`]);
      if (st.fetch) fetched++;
      // Every fetch the cache starts (a miss, a prefetch) is counted as it starts, before the
      // reply goes out: by now the count is final for this step, no waiting needed to see "none".
      expect(await counted(s, 'coredns_cache_misses_total') + (await counted(s, 'coredns_cache_prefetch_total')), `fetches started by +${st.afterMs} ms`).toBe(fetched);
      // A prefetch runs in the background: wait until forward has taken its reply in (the cache
      // stores it in the same turn), so the next step sees the refreshed entry.
      await waitFor(async () => (await counted(s, 'coredns_proxy_request_duration_seconds', '_count')) === fetched, { what: `${fetched} replies through forward after +${st.afterMs} ms` });
      expect(up.count.total).toBe(fetched);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// setup_test.go: TestSetup, TestServeStale, TestServfail, TestDisable, TestKeepttl. Accepted inputs
// are compared field by field; refused ones through `typedns check`, whose message names file:line.

type SetupRow = [input: string, want: Partial<{ ncap: number; pcap: number; nttl: number; minnttl: number; pttl: number; minpttl: number; prefetch: number }> | 'error'];

const DEFAULT_CAP = 9984;
const setupRows: SetupRow[] = [
  ['cache', { ncap: DEFAULT_CAP, pcap: DEFAULT_CAP, nttl: 1800, minnttl: 5, pttl: 3600, minpttl: 5, prefetch: 0 }],
  ['cache {}', { ncap: DEFAULT_CAP, pcap: DEFAULT_CAP, nttl: 1800, minnttl: 5, pttl: 3600, minpttl: 5, prefetch: 0 }],
  // CoreDNS records pcap 10, but its 256 shards hold at least 4 each (1024): typedns says so
  ['cache example.nl {\n success 10\n}', { ncap: DEFAULT_CAP, pcap: 1024, nttl: 1800, minnttl: 5, pttl: 3600, minpttl: 5 }],
  ['cache example.nl {\n success 10 1800 30\n}', { ncap: DEFAULT_CAP, pcap: 1024, pttl: 1800, minpttl: 30 }],
  ['cache example.nl {\n success 10\n denial 10 15\n}', { ncap: 1024, pcap: 1024, nttl: 15, minnttl: 5, pttl: 3600, minpttl: 5 }],
  ['cache example.nl {\n success 10\n denial 10 15 2\n}', { ncap: 1024, pcap: 1024, nttl: 15, minnttl: 2, pttl: 3600, minpttl: 5 }],
  ['cache 25 example.nl {\n success 10\n denial 10 15\n}', { ncap: 1024, pcap: 1024, nttl: 15, minnttl: 5, pttl: 25, minpttl: 5 }],
  ['cache 25 example.nl {\n success 10\n denial 10 15 5\n}', { ncap: 1024, pcap: 1024, nttl: 15, minnttl: 5, pttl: 25, minpttl: 5 }],
  ['cache aaa example.nl', { ncap: DEFAULT_CAP, pcap: DEFAULT_CAP, nttl: 1800, pttl: 3600 }],
  ['cache {\n prefetch 10\n}', { prefetch: 10 }],
  ['cache example.nl {\n success\n denial 10 15\n}', 'error'],
  ['cache example.nl {\n success 15\n denial aaa\n}', 'error'],
  ['cache example.nl {\n positive 15\n negative aaa\n}', 'error'],
  ['cache 0 example.nl', 'error'],
  ['cache -1 example.nl', 'error'],
  ['cache 1 example.nl {\n positive 0\n}', 'error'],
  ['cache 1 example.nl {\n positive 0\n prefetch -1\n}', 'error'],
  ['cache 1 example.nl {\n prefetch 0 blurp\n}', 'error'],
  ['cache\ncache', 'error'],
];

/** [serve_stale line, error | { upTo ms, verify }] — TestServeStale (1.10.1 rows). */
const staleRows: Array<[string, 'error' | { upTo: number; verify: boolean }]> = [
  ['serve_stale', { upTo: 3_600_000, verify: false }],
  ['serve_stale 20m', { upTo: 1_200_000, verify: false }],
  ['serve_stale 1h20m', { upTo: 4_800_000, verify: false }],
  ['serve_stale 0m', { upTo: 0, verify: false }],
  ['serve_stale 0', { upTo: 0, verify: false }],
  ['serve_stale 0 verify', { upTo: 0, verify: true }],
  ['serve_stale 0 immediate', { upTo: 0, verify: false }],
  ['serve_stale 0 VERIFY', { upTo: 0, verify: true }],
  ['serve_stale 20', 'error'],
  ['serve_stale -20m', 'error'],
  ['serve_stale aa', 'error'],
  ['serve_stale 1m nono', 'error'],
  ['serve_stale 0 after nono', 'error'],
];

/** HEAD-only (after 1.10.1): verify TIMEOUT, RESP_TTL and RECHECK (TestServeStale, TestServeStaleFailureRecheck). */
const staleHeadRows: Array<[string, 'error' | { upTo: number; verify: boolean; timeout?: number; respTtl?: number; recheck?: number }]> = [
  ['serve_stale 1h immediate 30s', { upTo: 3_600_000, verify: false, respTtl: 30 }],
  ['serve_stale 1h immediate 30s 30s', { upTo: 3_600_000, verify: false, respTtl: 30, recheck: 30_000 }],
  ['serve_stale 1h immediate 4294967295s', { upTo: 3_600_000, verify: false, respTtl: 4294967295 }],
  ['serve_stale 1h immediate 0', { upTo: 3_600_000, verify: false, respTtl: 0 }],
  ['serve_stale 1h verify 100ms', { upTo: 3_600_000, verify: true, timeout: 100 }],
  ['serve_stale 1h verify 100ms 30s', { upTo: 3_600_000, verify: true, timeout: 100, respTtl: 30 }],
  ['serve_stale 1h verify 100ms 30s 30s', { upTo: 3_600_000, verify: true, timeout: 100, respTtl: 30, recheck: 30_000 }],
  ['serve_stale 1h verify 0', { upTo: 3_600_000, verify: true, timeout: 0 }],
  ['serve_stale 1h verify 0 1m', { upTo: 3_600_000, verify: true, timeout: 0, respTtl: 60 }],
  ['serve_stale 1h VERIFY 250ms', { upTo: 3_600_000, verify: true, timeout: 250 }],
  ['serve_stale 1h immediate 0 0', { upTo: 3_600_000, verify: false, recheck: 0 }],
  ['serve_stale 1h verify 100ms 30s 250ms', { upTo: 3_600_000, verify: true, recheck: 250 }],
  ['serve_stale 1h verify 0 0 5m', { upTo: 3_600_000, verify: true, recheck: 300_000 }],
  ['serve_stale 1h immediate 100ms', 'error'],
  ['serve_stale 1h immediate 4294967296s', 'error'],
  ['serve_stale 1h immediate -1s', 'error'],
  ['serve_stale 1h immediate garbage', 'error'],
  ['serve_stale 1h immediate 30s extra', 'error'],
  ['serve_stale 1h verify -1ms', 'error'],
  ['serve_stale 1h verify garbage', 'error'],
  ['serve_stale 1h verify 100ms 500ms', 'error'],
  ['serve_stale 1h verify 100ms -1s', 'error'],
  ['serve_stale 1h verify 100ms garbage', 'error'],
  ['serve_stale 1h verify 100ms 30s extra', 'error'],
  ['serve_stale 1h immediate 30s -1s', 'error'],
  ['serve_stale 1h immediate 30s 5m1s', 'error'],
  ['serve_stale 1h immediate 30s invalid', 'error'],
  ['serve_stale 1h verify 100ms 30s -1s', 'error'],
];

const servfailRows: Array<[string, number | 'error']> = [
  ['servfail 1s', 1000],
  ['servfail 5m', 300_000],
  ['servfail 0s', 0],
  ['servfail 0', 0],
  ['servfail', 'error'],
  ['servfail 6m', 'error'],
  ['servfail 20', 'error'],
  ['servfail -1s', 'error'],
  ['servfail aa', 'error'],
  ['servfail 1m invalid', 'error'],
];

const disableRows: Array<[string, { denial: string[]; success: string[] } | 'error']> = [
  ['disable denial example.com example.org', { denial: ['example.com.', 'example.org.'], success: [] }],
  ['disable success example.com example.org', { denial: [], success: ['example.com.', 'example.org.'] }],
  ['disable denial', { denial: ['.'], success: [] }],
  ['disable success', { denial: [], success: ['.'] }],
  ['disable denial example.com example.org\ndisable success example.com example.org', { denial: ['example.com.', 'example.org.'], success: ['example.com.', 'example.org.'] }],
  ['disable invalid example.com example.org', 'error'],
];

const keepttlRows: Array<[string, boolean | 'error']> = [
  ['keepttl', true],
  ['keepttl arg1', 'error'],
];

/** The error `typedns check` prints for a refused stanza: one, naming the Corefile and a line. */
function expectRefused(stanza: string): void {
  const errs = checkStanza(stanza);
  expect(errs.length, stanza).toBeGreaterThan(0);
  expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/cache: /);
}
const inner = (line: string): string => `cache {\n${line}\n}`;

describe('CoreDNS setup_test.go', () => {
  it('row counts', () => {
    expect([setupRows.length, staleRows.length, staleHeadRows.length, servfailRows.length, disableRows.length, keepttlRows.length]).toEqual([19, 13, 28, 10, 6, 2]);
  });
  it.each(setupRows)('TestSetup %j', (input, want) => {
    if (want === 'error') return expectRefused(input);
    expect(checkStanza(input)).toEqual([]);
    const c = parsePlugin(cache, input);
    const got = { ncap: c.denial.capacity, pcap: c.success.capacity, nttl: c.denial.maxTtl, minnttl: c.denial.minTtl, pttl: c.success.maxTtl, minpttl: c.success.minTtl, prefetch: c.prefetch.amount };
    expect(got).toMatchObject(want);
  });
  it.each([...staleRows, ...staleHeadRows])('TestServeStale %j', (line, want) => {
    if (want === 'error') return expectRefused(inner(line));
    expect(checkStanza(inner(line))).toEqual([]);
    expect(parsePlugin(cache, inner(line)).serveStale).toMatchObject(want);
  });
  it.each(servfailRows)('TestServfail %j', (line, want) => {
    if (want === 'error') return expectRefused(inner(line));
    expect(parsePlugin(cache, inner(line)).servfail).toBe(want);
  });
  it.each(disableRows)('TestDisable %j', (line, want) => {
    if (want === 'error') return expectRefused(inner(line));
    expect(parsePlugin(cache, inner(line)).disable).toEqual(want);
  });
  it.each(keepttlRows)('TestKeepttl %j', (line, want) => {
    if (want === 'error') return expectRefused(inner(line));
    expect(parsePlugin(cache, inner(line)).keepttl).toBe(want);
  });
});
