import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { dispense, exchangeRaw, type QueryResult, type TestServer, waitFor } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { notesOf, TRACE_BLOCK, traced } from '../../test/support/trace.js';
import forward from './index.js';
import { hostPort, resolvConf } from './setup.js';
import { UDP_SOCKETS } from './proxy.js';
import { sameQuestion } from '../../src/plugin/api.js';

const { upstream, server } = scopedPerTest();

/** Failed health checks of the upstream at `addr` (the probe's failure count, which marks it down at max_fails). */
async function hcFailures(s: TestServer, addr: string): Promise<number> {
  const text = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_healthcheck_failures_total');
  const m = new RegExp(`to="${addr.replace(/\./g, '\\.')}"[^}]*\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}
const answers = (r: QueryResult): string[] =>
  (r.msg.answers ?? []).filter((a) => a.type !== 'OPT').map((a) => `${a.type} ${String((a as { data?: unknown }).data)}`);

describe('forward: parse', () => {
  it('parses the full option set', () => {
    const cfg = forward.parse(
      dispense(`forward example.org 127.0.0.1:5300 dns://10.0.0.1 [::1]:53 {
        except a.example.org b.example.org
        force_tcp
        prefer_udp
        expire 20s
        max_idle_conns 5
        max_fails 3
        tls cert.pem key.pem ca.pem
        tls_servername dns.example.net
        policy round_robin
        health_check 2s no_rec domain example.net
        max_concurrent 1000
        next NXDOMAIN SERVFAIL
        failover SERVFAIL REFUSED
        failfast_all_unhealthy_upstreams
      }`),
      ['.'],
    );
    const f = cfg.forwarders[0]!;
    expect(f.from).toBe('example.org.');
    expect(f.to.map((t) => t.label)).toEqual(['127.0.0.1:5300', '10.0.0.1:53', '[::1]:53']);
    expect(f.except).toEqual(['a.example.org.', 'b.example.org.']);
    expect(f).toMatchObject({
      forceTcp: true,
      preferUdp: true,
      expire: 20000,
      maxIdleConns: 5,
      maxFails: 3,
      tls: { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' },
      tlsServername: 'dns.example.net',
      policy: 'round_robin',
      healthCheck: { interval: 2000, recursionDesired: false, domain: 'example.net.' },
      maxConcurrent: 1000,
      next: [3, 2],
      failover: [2, 5],
      failfastAllUnhealthy: true,
    });
  });

  it('parses `forward . /etc/resolv.conf { max_concurrent 1000 }` (parse only, nothing is sent)', () => {
    if (!existsSync('/etc/resolv.conf')) return;
    const cfg = forward.parse(dispense('forward . /etc/resolv.conf {\n max_concurrent 1000\n}'), ['.']);
    expect(cfg.forwarders[0]!.maxConcurrent).toBe(1000);
    expect(cfg.forwarders[0]!.to.length).toBeGreaterThan(0);
  });

  it('reads nameserver lines from a resolv.conf-style file', () => {
    expect(resolvConf('# c\nsearch x\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\noptions ndots:5\n').map((a) => a.label)).toEqual(['10.0.0.1:53', '[fe80::1]:53']);
    expect(hostPort('example.com')).toBeUndefined();
    expect(hostPort('1.2.3.4:99')?.port).toBe(99);
  });

  it.each([
    ['forward', 'Testfile:1 - Error during parsing: plugin/forward: wrong argument count'],
    ['forward .', 'wrong argument count'],
    ['forward . 127.0.0.1 {\n bogus\n}', 'Testfile:2 - Error during parsing: plugin/forward: unknown property \'bogus\''],
    ['forward . 127.0.0.1 {\n expire soon\n}', "Testfile:2 - Error during parsing: plugin/forward: invalid duration 'soon'"],
    ['forward . 127.0.0.1 {\n max_fails\n}', 'Testfile:2'],
    ['forward . 127.0.0.1 {\n force_tcp yes\n}', 'Testfile:2'],
    ['forward . 127.0.0.1 {\n policy fastest\n}', "unknown policy 'fastest'"],
    ['forward . 127.0.0.1 {\n failover NOERROR\n}', 'NOERROR cannot be used'],
    ['forward . 127.0.0.1 {\n next BOGUS\n}', "unknown rcode 'BOGUS'"],
    ['forward . 127.0.0.1 {\n health_check 1s maybe\n}', "unknown argument 'maybe'"],
    ['forward . https://9.9.9.9', 'DNS-over-HTTPS'],
    ['forward . tls://dns.example', 'not a tls://IP'],
    ['forward . no-such-host.example', 'not an IP address or file'],
    [`forward . ${Array.from({ length: 16 }, (_, i) => `10.0.0.${i + 1}`).join(' ')}`, 'more than 15 upstreams'],
  ])('rejects %j', (text, msg) => {
    expect(() => forward.parse(dispense(text), ['.'])).toThrow(msg);
  });

  it('compares questions case-insensitively', () => {
    const q = Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
    const r = Buffer.from(q);
    r[13] = 0x41;
    expect(sameQuestion(r, q, q.length)).toBe(true);
    r[16] = 28;
    expect(sameQuestion(r, q, q.length)).toBe(false);
  });
});

describe('forward: through real sockets', () => {
  it('forwards a query and returns the upstream answer with the client ID', async () => {
    const up = await upstream();
    up.answer('a.example.org.', 'A', ['a.example.org. 30 IN A 10.0.0.1']);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr}\n}`);
    const r = await s.query('A.Example.org.', 'A', { id: 4242 });
    expect(r.rcode).toBe(0);
    expect(r.msg.id).toBe(4242);
    expect(r.msg.questions?.[0]?.name).toBe('A.Example.org');
    expect(answers(r)).toEqual(['A 10.0.0.1']);
    // upstream saw a fresh ID, not the client's
    expect(up.queries[0]!.id).not.toBe(4242);
    // TCP client → TCP upstream
    const t = await s.query('a.example.org.', 'A', { tcp: true });
    expect(answers(t)).toEqual(['A 10.0.0.1']);
    expect(up.count.tcp).toBe(1);
    // sockets are reused: many queries, one UDP socket opened per slot of the rotation
    await Promise.all(Array.from({ length: 20 }, () => s.query('a.example.org.', 'A')));
    const m = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_conn_cache_misses_total');
    expect(m).toMatch(new RegExp(`proto="udp"} ${UDP_SOCKETS}$`, 'm'));
    const d = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_request_duration_seconds');
    expect(d).toContain(`to="${up.addr}"`);
    expect(d).toContain('rcode="NOERROR"');
  });

  it('a datagram the kernel refuses (EMSGSIZE) fails only its own query, not the others pending on the socket', async () => {
    const up = await upstream();
    up.answer('a.example.org.', 'A', ['a.example.org. 30 IN A 10.0.0.1']);
    up.delay = 300;
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr} {\n  prefer_udp\n  max_fails 0\n }\n}`);
    const pending = Promise.all(Array.from({ length: 3 }, () => s.query('a.example.org.', 'A', { timeout: 3000 })));
    await waitFor(() => up.seen('a.example.org.') === 3, { what: 'the 3 queries to be pending at the upstream' });
    // over TCP from the client, over UDP to the upstream (prefer_udp): 65,526 bytes do not fit in a datagram
    const huge = dnsPacket.encode({
      type: 'query',
      id: 7,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'A', name: 'a.example.org' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, options: [{ code: 65001, data: Buffer.alloc(65_480) }] } as never],
    });
    expect(huge.length).toBeGreaterThan(65_507);
    const r = await exchangeRaw(s.port, huge, { tcp: true, timeout: 3000 });
    expect(r === undefined ? -1 : r[3]! & 0xf).toBe(2); // SERVFAIL for the query that could not be sent
    for (const a of await pending) expect(answers(a)).toEqual(['A 10.0.0.1']);
  });

  it('retries over TCP when the UDP reply is truncated', async () => {
    const up = await upstream();
    up.answer('big.example.org.', 'A', ['big.example.org. 30 IN A 10.0.0.7']);
    up.truncateUdp = true;
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr}\n}`);
    const r = await s.query('big.example.org.', 'A');
    expect(answers(r)).toEqual(['A 10.0.0.7']);
    expect((r.msg.flags ?? 0) & 0x200).toBe(0);
    expect(up.count.udp).toBe(1);
    expect(up.count.tcp).toBe(1);
  });

  it('drops spoofed replies (wrong ID, wrong question) and accepts the real one', async () => {
    const up = await upstream();
    up.answer('s.example.org.', 'A', ['s.example.org. 30 IN A 10.0.0.2']);
    up.fault = 'spoof-first';
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr}\n}`);
    const r = await s.query('s.example.org.', 'A');
    expect(answers(r)).toEqual(['A 10.0.0.2']);
    const rt = await s.query('s.example.org.', 'A', { tcp: true });
    expect(answers(rt)).toEqual(['A 10.0.0.2']);
  });

  it.each(['wrong-id', 'wrong-question', 'garbage'] as const)('a reply with %s alone is never accepted: SERVFAIL after the timeout', async (fault) => {
    const up = await upstream();
    up.answer('x.example.org.', 'A', ['x.example.org. 30 IN A 10.0.0.3']);
    up.fault = fault;
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr} {\n read_timeout 200ms\n max_fails 0\n }\n}`);
    const t0 = Date.now();
    const r = await s.query('x.example.org.', 'A', { timeout: 6000 });
    expect(r.rcode).toBe(2);
    expect(answers(r)).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350); // two attempts of 200 ms
    expect(up.count.udp).toBe(2);
  });

  it('moves to the next upstream when one drops queries, then skips it once the health check marks it down', async () => {
    const bad = await upstream();
    const good = await upstream();
    bad.fault = 'drop';
    good.answer('h.example.org.', 'A', ['h.example.org. 30 IN A 10.0.0.4']);
    bad.answer('h.example.org.', 'A', ['h.example.org. 30 IN A 10.6.6.6']);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${bad.addr} ${good.addr} {\n policy sequential\n read_timeout 300ms\n health_check 100ms\n }\n}`);
    const r = await s.query('h.example.org.', 'A', { timeout: 5000 });
    expect(answers(r)).toEqual(['A 10.0.0.4']);
    // probes (. IN NS) time out → after max_fails (2) the bad upstream is down and skipped
    await waitFor(async () => (await hcFailures(s, bad.addr)) >= 2, { what: 'two failed probes of the bad upstream' });
    const before = bad.seen('h.example.org.');
    const r2 = await s.query('h.example.org.', 'A');
    expect(answers(r2)).toEqual(['A 10.0.0.4']);
    // skipped, not tried first and timed out (it sees every query, even those it drops)
    expect(bad.seen('h.example.org.')).toBe(before);
    const hc = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_healthcheck_failures_total');
    expect(hc).toContain(`to="${bad.addr}"`);
    // it comes back: probes get an answer, the upstream is used again
    bad.fault = 'none';
    // until a probe is answered the queries go to the good one; then the bad one answers first
    await waitFor(async () => answers(await s.query('h.example.org.', 'A'))[0] === 'A 10.6.6.6', { what: 'the bad upstream to be used again' });
    expect(bad.seen('h.example.org.')).toBe(before + 1);
  });

  it('fails over fast to the next upstream when one is stopped (port unreachable)', async () => {
    const a = await upstream();
    const b = await upstream();
    a.answer('f.example.org.', 'A', ['f.example.org. 30 IN A 10.0.0.5']);
    b.answer('f.example.org.', 'A', ['f.example.org. 30 IN A 10.0.0.5']);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${a.addr} ${b.addr} {\n policy sequential\n }\n ${TRACE_BLOCK}\n}`);
    expect(answers(await s.query('f.example.org.', 'A'))).toEqual(['A 10.0.0.5']);
    await a.stop();
    const r1 = await traced(s.port, 'f.example.org.', 'A', { timeout: 20_000 });
    expect(r1.rcode).toBe(0);
    // fast: the stopped upstream's attempt ends with the port unreachable, not the 2 s read timeout
    // (told by what ended it, not by the clock)
    expect(notesOf(r1, 'forward').filter((n) => n.startsWith('attempt '))).toEqual([
      expect.stringMatching(new RegExp(`^attempt 1: ${a.addr} over udp failed after [\\d.]+ ms: udp: ECONNREFUSED$`)),
      expect.stringMatching(new RegExp(`^attempt 2: ${b.addr} answered NOERROR `)),
    ]);
    // restart on the same port: it answers again
    await a.start();
    b.fault = 'drop';
    const r = await s.query('f.example.org.', 'A', { timeout: 6000 });
    expect(answers(r)).toEqual(['A 10.0.0.5']);
  });

  it('answers SERVFAIL within the overall timeout when every upstream fails', async () => {
    const a = await upstream();
    const b = await upstream();
    a.fault = 'drop';
    b.fault = 'drop';
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${a.addr} ${b.addr}\n ${TRACE_BLOCK}\n}`);
    const t0 = Date.now();
    const r = await traced(s.port, 'dead.example.org.', 'A', { timeout: 30_000 });
    const took = Date.now() - t0;
    expect(r.rcode).toBe(2);
    expect(took).toBeGreaterThanOrEqual(3900); // 2 s read timeout per attempt
    // 5 s overall: the third attempt (at 4 s) is cut at 5 s and no fourth is made. Without the
    // overall timeout all 2 × 2 attempts run to their 2 s read timeout (8 s). Counted, not timed: a
    // descheduled server makes fewer attempts in its 5 s, never more.
    const attempts = notesOf(r, 'forward').filter((n) => n.startsWith('attempt '));
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.length).toBeLessThanOrEqual(3);
    for (const n of attempts) expect(n).toMatch(/ over udp failed after [\d.]+ ms: i\/o timeout$/);
    // each attempt reached an upstream (which also sees the health probes the failures start)
    expect(a.seen('dead.example.org.') + b.seen('dead.example.org.')).toBe(attempts.length);
  }, 40_000);

  it('failfast_all_unhealthy_upstreams: SERVFAIL at once when every upstream is down', async () => {
    const a = await upstream();
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${a.addr} {\n health_check 50ms\n failfast_all_unhealthy_upstreams\n max_fails 1\n }\n ${TRACE_BLOCK}\n}`);
    await a.stop();
    expect((await s.query('ff.example.org.', 'A')).rcode).toBe(2);
    // max_fails 1: down after one failed probe
    await waitFor(async () => (await hcFailures(s, a.addr)) >= 1, { what: 'a failed probe' });
    const r = await traced(s.port, 'ff.example.org.', 'A', { timeout: 20_000 });
    expect(r.rcode).toBe(2);
    // at once: no attempt at a random upstream as "healthcheck broken" (which the option skips,
    // where forward would otherwise try, and count, until its deadline), nor a read timeout; the
    // trace says the upstream was skipped and no attempt was made
    const broken = await s.metrics.registry.getSingleMetricAsString('coredns_forward_healthcheck_broken_total');
    expect(broken).toMatch(/^coredns_forward_healthcheck_broken_total 0$/m);
    const notes = notesOf(r, 'forward');
    expect(notes).toContainEqual(expect.stringMatching(/ is marked down \(max_fails 1\): skipped$/));
    expect(notes.filter((n) => n.startsWith('attempt '))).toEqual([]);
  });

  it('answers REFUSED past max_concurrent and counts the rejects', async () => {
    const up = await upstream();
    up.answer('slow.example.org.', 'A', ['slow.example.org. 30 IN A 10.0.0.6']);
    up.delay = 400;
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr} {\n max_concurrent 2\n }\n}`);
    const rs = await Promise.all(Array.from({ length: 5 }, () => s.query('slow.example.org.', 'A')));
    const codes = rs.map((r) => r.rcode).sort();
    expect(codes).toEqual([0, 0, 5, 5, 5]);
    const m = await s.metrics.registry.getSingleMetricAsString('coredns_forward_max_concurrent_rejects_total');
    expect(m).toMatch(/coredns_forward_max_concurrent_rejects_total 3/);
  });

  it('uses a temp resolv.conf file pointing at the test upstream', async () => {
    const up = await upstream();
    up.answer('r.example.org.', 'TXT', ['r.example.org. 30 IN TXT "from-resolv"']);
    const dir = mkdtempSync(path.join(tmpdir(), 'fwd-'));
    const file = path.join(dir, 'resolv.conf');
    writeFileSync(file, `search example.org\nnameserver 127.0.0.1\noptions ndots:5\n`);
    const cfg = forward.parse(dispense(`forward . ${file}`), ['.']);
    expect(cfg.forwarders[0]!.to.map((t) => t.label)).toEqual(['127.0.0.1:53']);
    // a real exchange through the file: its nameserver line names our upstream (IP:port is accepted)
    writeFileSync(file, `nameserver ${up.addr}\n`);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${file}\n}`);
    const r = await s.query('r.example.org.', 'TXT', { timeout: 5000 });
    expect(r.rcode).toBe(0);
    expect(up.seen('r.example.org.')).toBe(1);
  });

  it('two forward lines for different zones each handle their zone; except goes to the next plugin', async () => {
    const a = await upstream();
    const b = await upstream();
    a.answer('x.lab.example.org.', 'A', ['x.lab.example.org. 30 IN A 10.1.0.1']);
    b.answer('y.example.org.', 'A', ['y.example.org. 30 IN A 10.2.0.1']);
    b.answer('x.lab.example.org.', 'A', ['x.lab.example.org. 30 IN A 10.2.0.9']);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward example.org ${b.addr} {\n except skip.example.org\n }\n forward lab.example.org ${a.addr}\n whoami\n}`);
    expect(answers(await s.query('x.lab.example.org.', 'A'))).toEqual(['A 10.1.0.1']);
    expect(answers(await s.query('y.example.org.', 'A'))).toEqual(['A 10.2.0.1']);
    // neither zone, and the excepted name: whoami answers (A of the client in additional)
    const w = await s.query('other.test.', 'A');
    expect(w.msg.additionals?.some((x) => x.type === 'A')).toBe(true);
    const e = await s.query('skip.example.org.', 'A');
    expect(e.msg.additionals?.some((x) => x.type === 'A')).toBe(true);
    expect(b.seen('skip.example.org.')).toBe(0);
  });

  it('next RCODE hands the query to the following forward; failover tries the next upstream', async () => {
    const a = await upstream();
    const b = await upstream();
    b.answer('n.example.org.', 'A', ['n.example.org. 30 IN A 10.3.0.1']);
    // a answers NXDOMAIN for everything by default
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${a.addr} {\n next NXDOMAIN\n }\n forward . ${b.addr}\n}`);
    expect(answers(await s.query('n.example.org.', 'A'))).toEqual(['A 10.3.0.1']);
    expect(a.seen('n.example.org.')).toBe(1);

    const c = await upstream();
    const d = await upstream();
    c.fault = 'servfail';
    d.answer('fo.example.org.', 'A', ['fo.example.org. 30 IN A 10.4.0.1']);
    const s2 = await server(`.:0 {\n bind 127.0.0.1\n forward . ${c.addr} ${d.addr} {\n policy sequential\n failover SERVFAIL\n }\n}`);
    expect(answers(await s2.query('fo.example.org.', 'A'))).toEqual(['A 10.4.0.1']);
    // without failover the SERVFAIL is returned as is
    const s3 = await server(`.:0 {\n bind 127.0.0.1\n forward . ${c.addr} ${d.addr} {\n policy sequential\n }\n}`);
    expect((await s3.query('fo.example.org.', 'A')).rcode).toBe(2);
  });

  it('force_tcp sends over TCP even for UDP clients and reuses the connection', async () => {
    const up = await upstream();
    up.answer('t.example.org.', 'A', ['t.example.org. 30 IN A 10.5.0.1']);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${up.addr} {\n force_tcp\n }\n}`);
    for (let i = 0; i < 3; i++) expect(answers(await s.query('t.example.org.', 'A'))).toEqual(['A 10.5.0.1']);
    expect(up.count.udp).toBe(0);
    expect(up.count.tcp).toBe(3);
    const hits = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_conn_cache_hits_total');
    expect(hits).toMatch(/proto="tcp"} 2/);
    // the upstream restarts and closes our cached connection: the next query still works
    await up.stop();
    await up.start();
    expect(answers(await s.query('t.example.org.', 'A'))).toEqual(['A 10.5.0.1']);
  });
});

describe('forward across a reload', () => {
  it('queries waiting for their upstream when the configuration is replaced are answered, over UDP and TCP', async () => {
    const up = await upstream();
    for (let i = 0; i < 40; i++) up.answer(`r${i}.example.org.`, 'A', [`r${i}.example.org. 30 IN A 10.7.0.${i}`]);
    up.delay = 400;
    const { freePort } = await import('../../src/testing/index.js');
    const port = await freePort();
    const cf = (extra: string): string => `.:${port} {\n bind 127.0.0.1\n forward . ${up.addr}\n${extra}}\n`;
    const s = await server(cf(''));
    const asked = Array.from({ length: 40 }, (_, i) => s.query(`r${i}.example.org.`, 'A', i % 4 === 0 ? { tcp: true } : {}));
    // every query has reached the upstream (whose replies wait 400 ms): now replace the configuration
    await waitFor(() => up.count.total >= 40);
    expect(await s.server.reload('test', { text: cf(' errors\n'), file: 'Corefile' })).toBe(true);
    const got = await Promise.all(asked);
    // (the old configuration's upstream sockets were closed at once: every one of these was SERVFAIL)
    expect(got.map((r) => r.rcode)).toEqual(got.map(() => 0));
    expect(got.map((r) => (r.msg.answers?.[0] as { data?: string } | undefined)?.data)).toEqual(got.map((_, i) => `10.7.0.${i}`));
  });
});
