// forward: DNS-over-TLS upstreams (tls://), next_on_nodata, max_idle_conns — against upstreams
// the tests start on 127.0.0.1 (the TLS one with a CA + certificate made by openssl at test time).
import { describe, expect, it } from 'vitest';
import { dispense, type QueryResult, startServer, waitFor } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { notesOf, TRACE_BLOCK, traced } from '../../test/support/trace.js';
import forward from './index.js';
import { tlsAddr } from './setup.js';

const { upstream, server } = scopedPerTest();

const answers = (r: QueryResult): string[] =>
  (r.msg.answers ?? []).filter((a) => a.type !== 'OPT').map((a) => `${a.type} ${String((a as { data?: unknown }).data)}`);

const block = (to: string, opts: string[], extra = ''): string => `.:0 {\n bind 127.0.0.1\n forward . ${to} {\n ${opts.join('\n ')}\n }\n${extra}}`;

describe('forward: tls:// parsing', () => {
  it('reads tls://IP[%NAME][:PORT] with port 853 by default', () => {
    expect(tlsAddr('9.9.9.9')).toEqual({ host: '9.9.9.9', port: 853, label: '9.9.9.9:853', tls: true });
    expect(tlsAddr('9.9.9.9%dns.quad9.net')).toMatchObject({ host: '9.9.9.9', port: 853, servername: 'dns.quad9.net' });
    expect(tlsAddr('9.9.9.9%dns.quad9.net:10853')).toMatchObject({ port: 10853, servername: 'dns.quad9.net', label: '9.9.9.9:10853' });
    expect(tlsAddr('[2620:fe::fe]%dns.quad9.net:853')).toMatchObject({ host: '2620:fe::fe', servername: 'dns.quad9.net', label: '[2620:fe::fe]:853' });
    expect(tlsAddr('[2620:fe::fe]:8853')).toMatchObject({ host: '2620:fe::fe', port: 8853 });
    expect(tlsAddr('dns.quad9.net')).toBeUndefined();
    expect(tlsAddr('9.9.9.9%')).toBeUndefined();
  });

  it('parses tls options, next_on_nodata, and refuses what is not supported', () => {
    const f = forward.parse(dispense('forward . tls://10.0.0.1 dns://10.0.0.2 {\n tls\n tls_servername dns.example\n next_on_nodata\n}'), ['.']).forwarders[0]!;
    expect(f.to).toMatchObject([{ label: '10.0.0.1:853', tls: true }, { label: '10.0.0.2:53' }]);
    expect(f.tls).toEqual({});
    expect(f.tlsServername).toBe('dns.example');
    expect(f.nextOnNodata).toBe(true);
    expect(forward.parse(dispense('forward . tls://10.0.0.1 {\n tls ca.pem\n}'), ['.']).forwarders[0]!.tls).toEqual({ ca: 'ca.pem' });
    expect(() => forward.parse(dispense('forward . tls://10.0.0.1%a.example {\n tls_servername b.example\n}'), ['.'])).toThrow(/tls_servername cannot be used together/);
    expect(() => forward.parse(dispense('forward . https://10.0.0.1'), ['.'])).toThrow(/Testfile:1.*not supported/);
    expect(() => forward.parse(dispense('forward . tls://dns.example'), ['.'])).toThrow(/not a tls:\/\//);
    expect(() => forward.parse(dispense('forward . 10.0.0.1 {\n next_on_nodata x\n}'), ['.'])).toThrow(/Testfile:2/);
    expect(() => forward.parse(dispense('forward . 10.0.0.1 {\n tls a b c d\n}'), ['.'])).toThrow(/Testfile:2/);
  });

  it('fails setup when a tls file cannot be read', async () => {
    await expect(startServer(block('tls://127.0.0.1', ['tls /nonexistent/ca.pem']))).rejects.toThrow(/nonexistent\/ca\.pem/);
  });
});

describe('forward: DNS-over-TLS upstreams', () => {
  it('answers over DoT (server name from %NAME or tls_servername, or the IP itself) and reuses one connection', async () => {
    const up = await upstream(true);
    up.answer('t.example.org.', 'A', ['t.example.org. 30 IN A 10.7.0.1']);
    const ca = up.pki!.caFile;
    const s = await server(block(`tls://127.0.0.1%localhost:${up.tlsPort}`, [`tls ${ca}`]));
    for (let i = 0; i < 3; i++) expect(answers(await s.query('t.example.org.', 'A'))).toEqual(['A 10.7.0.1']);
    expect(answers(await s.query('t.example.org.', 'A', { tcp: true }))).toEqual(['A 10.7.0.1']);
    expect(up.count).toMatchObject({ udp: 0, tcp: 0, tls: 4 });
    expect(up.connections.tls).toBe(1);
    const hits = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_conn_cache_hits_total');
    expect(hits).toMatch(new RegExp(`to="127\\.0\\.0\\.1:${up.tlsPort}",proto="tcp-tls"} 3`));
    const misses = await s.metrics.registry.getSingleMetricAsString('coredns_proxy_conn_cache_misses_total');
    expect(misses).toMatch(/proto="tcp-tls"} 1/);

    // tls_servername instead of %NAME; and no server name at all: the certificate's IP SAN is checked.
    const s2 = await server(block(`tls://127.0.0.1:${up.tlsPort}`, [`tls ${ca}`, 'tls_servername localhost']));
    expect(answers(await s2.query('t.example.org.', 'A'))).toEqual(['A 10.7.0.1']);
    const s3 = await server(block(`tls://127.0.0.1:${up.tlsPort}`, [`tls ${ca}`]));
    expect(answers(await s3.query('t.example.org.', 'A'))).toEqual(['A 10.7.0.1']);

    // the upstream restarts and closes the cached connection: the next query opens a new one
    await up.stop();
    await up.start();
    up.resetCounts();
    expect(answers(await s.query('t.example.org.', 'A'))).toEqual(['A 10.7.0.1']);
    expect(up.connections.tls).toBe(1);
  });

  it('a wrong server name or an unknown CA fails the handshake: SERVFAIL, or the next upstream', async () => {
    const up = await upstream(true);
    up.answer('w.example.org.', 'A', ['w.example.org. 30 IN A 10.7.0.2']);
    const ca = up.pki!.caFile;
    // a read timeout far above what a failed handshake takes, even on a loaded machine
    const fast = ['read_timeout 4s', 'max_connect_attempts 1'];
    const wrong = await server(block(`tls://127.0.0.1:${up.tlsPort}`, [`tls ${ca}`, 'tls_servername wrong.example', ...fast], ` ${TRACE_BLOCK}\n`));
    const failed = await traced(wrong.port, 'w.example.org.', 'A', { timeout: 20_000 });
    expect(failed.rcode).toBe(2);
    // The certificate check fails the attempt at once: the attempt ends with the handshake's error,
    // not with the 4 s read timeout (told by what ended it, not by the clock).
    const attempts = notesOf(failed, 'forward').filter((n) => n.startsWith('attempt '));
    expect(attempts).toEqual([expect.stringMatching(/^attempt 1: 127\.0\.0\.1:\d+ over udp failed after [\d.]+ ms: tls: ERR_TLS_CERT_ALTNAME_INVALID$/)]);
    // no CA option: the system CAs do not know the test CA
    const noCa = await server(block(`tls://127.0.0.1:${up.tlsPort}`, ['tls', ...fast]));
    expect((await noCa.query('w.example.org.', 'A', { timeout: 5000 })).rcode).toBe(2);
    expect(up.count.tls).toBe(0); // no query ever went over an unverified connection

    const seq = await server(block(`tls://127.0.0.1%wrong.example:${up.tlsPort} tls://127.0.0.1%localhost:${up.tlsPort}`, [`tls ${ca}`, 'policy sequential']));
    expect(answers(await seq.query('w.example.org.', 'A', { timeout: 5000 }))).toEqual(['A 10.7.0.2']);
    expect(up.count.tls).toBe(1);
    // the failed upstream is health-checked over TLS, and those checks fail too
    await waitFor(async () => /to="127\.0\.0\.1:\d+"[^\n]*} [1-9]/.test(await seq.metrics.registry.getSingleMetricAsString('coredns_proxy_healthcheck_failures_total')));
  });

  it('health checks a tls:// upstream over TLS', async () => {
    const up = await upstream(true);
    up.answer('h.example.org.', 'A', ['h.example.org. 30 IN A 10.7.0.3']);
    up.fault = 'drop';
    const s = await server(block(`tls://127.0.0.1%localhost:${up.tlsPort}`, [`tls ${up.pki!.caFile}`, 'read_timeout 300ms', 'health_check 100ms', 'max_connect_attempts 1']));
    expect((await s.query('h.example.org.', 'A', { timeout: 5000 })).rcode).toBe(2);
    await waitFor(() => up.seen('.', 'NS') >= 1);
    expect(up.queries.filter((q) => q.type === 'NS').every((q) => q.transport === 'tls')).toBe(true);
    up.fault = 'none';
    await waitFor(async () => answers(await s.query('h.example.org.', 'A')).length === 1);
    expect(up.count.udp + up.count.tcp).toBe(0);
  });
});

describe('forward: next_on_nodata and max_idle_conns', () => {
  it('next_on_nodata hands NOERROR without answers to the next forward', async () => {
    const a = await upstream();
    const b = await upstream();
    a.answer('nd.example.org.', 'A', { rcode: 0 });
    a.answer('nx.example.org.', 'A', { rcode: 3 });
    b.answer('nd.example.org.', 'A', ['nd.example.org. 30 IN A 10.8.0.1']);
    const s = await server(`.:0 {\n bind 127.0.0.1\n forward . ${a.addr} {\n next_on_nodata\n }\n forward . ${b.addr}\n}`);
    expect(answers(await s.query('nd.example.org.', 'A'))).toEqual(['A 10.8.0.1']);
    expect(a.seen('nd.example.org.')).toBe(1);
    // NXDOMAIN is not NODATA: returned as is
    expect((await s.query('nx.example.org.', 'A')).rcode).toBe(3);
    expect(b.seen('nx.example.org.')).toBe(0);
    // without the option the empty NOERROR is the answer
    const s2 = await server(`.:0 {\n bind 127.0.0.1\n forward . ${a.addr}\n forward . ${b.addr}\n}`);
    const r = await s2.query('nd.example.org.', 'A');
    expect(r.rcode).toBe(0);
    expect(answers(r)).toEqual([]);
    expect(b.seen('nd.example.org.')).toBe(1);
  });

  it('max_idle_conns caps the connections kept for reuse', async () => {
    const run = async (opts: string[]): Promise<number> => {
      const up = await upstream();
      up.answer('c.example.org.', 'A', ['c.example.org. 30 IN A 10.8.0.2']);
      up.delay = 150;
      const s = await server(block(up.addr, ['force_tcp', ...opts]));
      const burst = async (n: number): Promise<void> => {
        const rs = await Promise.all(Array.from({ length: n }, () => s.query('c.example.org.', 'A', { timeout: 5000 })));
        for (const r of rs) expect(answers(r)).toEqual(['A 10.8.0.2']);
      };
      await burst(4); // four connections at once
      await burst(3); // reuses what was kept idle
      return up.connections.tcp;
    };
    expect(await run([])).toBe(4);
    expect(await run(['max_idle_conns 1'])).toBe(6);
  });
});
