// dns64: CoreDNS's tables (plugin/dns64/setup_test.go and dns64_test.go: TestTo6,
// TestRequestShouldIntercept, TestResponseShould, TestDNS64) as data; TestDNS64's flows replayed
// through a real server on ::1 whose A lookups go through the server to a loopback upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispense, fakeRequest, freePort, parsePlugin, sortAndCheck, startServer, type TestServer } from '../../src/testing/index.js';
import { rr } from '../../src/plugin/api.js';
import { startUpstream, type Upstream } from '../../test/support/upstream.js';
import dns64 from './index.js';
import { Dns64, to6 } from './dns64.js';
import { parsePrefix } from './setup.js';

describe('dns64: setup (CoreDNS TestSetupDns64)', () => {
  const rows: Array<[string, boolean, string, boolean]> = [
    ['dns64', false, '64:ff9b::/96', false],
    ['dns64 64:dead::/96', false, '64:dead::/96', false],
    ['dns64 {\n translate_all\n}', false, '64:ff9b::/96', false],
    ['dns64 {\n prefix 64:ff9b::/96\n}', false, '64:ff9b::/96', false],
    ['dns64 {\n prefix 64:ff9b::/32\n}', false, '64:ff9b::/32', false],
    ['dns64 {\n prefix 64:ff9b::/52\n}', true, '', false],
    ['dns64 {\n prefix 64:ff9b::/104\n}', true, '', false],
    ['dns64 {\n prefix 8.8.8.8/24\n}', true, '', false],
    ['dns64 {\n prefix 2002:ac12:b083::/96\n}', false, '2002:ac12:b083::/96', false],
    ['dns64 {\n prefix 2002:c0a8:a88a::/48\n}', false, '2002:c0a8:a88a::/48', false],
    ['dns64 foobar {\n prefix 64:ff9b::/96\n}', true, '', false],
    ['dns64 foobar', true, '', false],
    ['dns64 {\n foobar\n}', true, '', false],
    ['dns64 {\n allow_ipv4\n}', false, '64:ff9b::/96', true],
  ];
  it.each(rows)('%j', (input, err, prefix, allow) => {
    if (err) {
      expect(() => dns64.parse(dispense(input), ['.'])).toThrow(/Testfile:\d/);
      return;
    }
    const c = parsePlugin(dns64, input);
    expect(c.prefixText).toBe(prefix);
    expect(c.allowIpv4).toBe(allow);
  });
  it('names what is wrong', () => {
    expect(() => dns64.parse(dispense('dns64 {\n prefix 64:ff9b::/52\n}'), ['.'])).toThrow(/Testfile:2 .*invalid prefix length "64:ff9b::\/52"/);
    expect(() => dns64.parse(dispense('dns64 foobar'), ['.'])).toThrow(/invalid CIDR address: foobar/);
    expect(() => dns64.parse(dispense('dns64 {\n prefix 8.8.8.8/24\n}'), ['.'])).toThrow(/invalid netmask 32 IPv6 address/);
  });
});

describe('dns64: RFC 6052 and the decisions (CoreDNS TestTo6, TestRequestShouldIntercept, TestResponseShould)', () => {
  const six = (prefix: string, v4: string): string => {
    const p = parsePrefix(prefix) as { bytes: Uint8Array; len: number };
    return to6(p.bytes, p.len, v4);
  };
  it.each([
    ['64:ff9b::/96', '64.64.64.64', '64:ff9b:0:0:0:0:4040:4040'],
    ['64:ff9b::/64', '64.64.64.64', '64:ff9b:0:0:40:4040:4000:0'],
    ['64:ff9b::/56', '64.64.64.64', '64:ff9b:0:40:40:4040:0:0'],
    ['64::/32', '64.64.64.64', '64:0:4040:4040:0:0:0:0'],
  ])('%s + %s → %s', (prefix, v4, want) => {
    expect(six(prefix, v4)).toBe(want);
  });

  const mk = (allowIpv4: boolean, translateAll = false): Dns64 => {
    const p = parsePrefix('64:ff9b::/96') as { bytes: Uint8Array; len: number };
    return new Dns64({ prefix: p.bytes, prefixLen: p.len, prefixText: '64:ff9b::/96', allowIpv4, translateAll }, async () => ({ type: 'response' }), { inc() {} });
  };
  it.each([
    [true, '::1', 'AAAA', true],
    [true, '127.0.0.1', 'AAAA', true],
    [false, '127.0.0.1', 'AAAA', false],
    [false, '::1', 'A', false],
  ])('intercepts (allow_ipv4 %s, client %s, %s) → %s', (allow, client, type, want) => {
    expect(mk(allow).intercepts(fakeRequest('example.com.', type, { client }))).toBe(want);
  });
  it.each([
    [{ flags: 0, answers: [rr('example.com. 60 IN AAAA ::1')] }, false, false],
    [{ flags: 0, authorities: [rr('example.com. 60 IN SOA foo bar 1 1 1 1 1')] }, false, true],
    [{ flags: 4, authorities: [rr('example.com. 60 IN SOA foo bar 1 1 1 1 1')] }, false, true],
    [{ flags: 3, authorities: [rr('example.com. 60 IN SOA foo bar 1 1 1 1 1')] }, false, false],
    [{ flags: 0, answers: [rr('example.com. 60 IN AAAA ::1')] }, true, true],
  ])('synthesises for %j (translate_all %s) → %s', (m, all, want) => {
    expect(mk(false, all).shouldSynthesise({ type: 'response', ...m })).toBe(want);
  });
});

describe('dns64 through a real server (CoreDNS TestDNS64 flows)', () => {
  let up: Upstream;
  let s: TestServer;
  let s4: TestServer;
  const SOA = (ttl: number): string => `example.com. ${ttl} IN SOA foo. bar. 1 7200 900 1209600 86400`;
  beforeAll(async () => {
    up = await startUpstream();
    // standard flow: no AAAA, two A records
    up.answer('std.example.com.', 'AAAA', { authorities: ['example.com. 70 IN SOA foo bar 1 1 1 1 1'] });
    up.answer('std.example.com.', 'A', ['std.example.com. 60 IN A 192.0.2.42', 'std.example.com. 5000 IN A 192.0.2.43']);
    // a empty: neither AAAA nor A
    up.answer('empty.example.com.', 'AAAA', { authorities: [SOA(3600)] });
    up.answer('empty.example.com.', 'A', { authorities: [SOA(3600)] });
    // non-nxdomain error on AAAA
    up.answer('err.example.com.', 'AAAA', { rcode: 5 });
    up.answer('err.example.com.', 'A', ['err.example.com. 60 IN A 192.0.2.42', 'err.example.com. 5000 IN A 192.0.2.43']);
    // nxdomain: no A query at all
    up.answer('nx.example.com.', 'AAAA', { rcode: 3, authorities: [SOA(3600)] });
    // an AAAA record exists
    up.answer('six.example.com.', 'AAAA', ['six.example.com. 60 IN AAAA 2001:db8::1']);
    up.answer('six.example.com.', 'A', ['six.example.com. 60 IN A 192.0.2.42']);
    const port = await freePort();
    const port4 = await freePort();
    const corefile = (extra: string, p: number): string => `.:${p} {\n bind 127.0.0.1 ::1\n dns64${extra}\n forward . ${up.addr} {\n  max_fails 0\n }\n}`;
    s = await startServer(corefile('', port));
    s4 = await startServer(corefile(' {\n  allow_ipv4\n }', port4));
  });
  afterAll(async () => {
    await s?.close();
    await s4?.close();
    await up?.stop();
  });

  const q6 = (name: string) => s.query(name, 'AAAA', { host: '::1' });

  it('standard flow: AAAA from the A records, TTL capped by the SOA of the AAAA reply', async () => {
    sortAndCheck((await q6('std.example.com.')).msg, {
      rcode: 'NOERROR',
      answer: ['std.example.com. 60 IN AAAA 64:ff9b::c000:22a', 'std.example.com. 70 IN AAAA 64:ff9b::c000:22b'],
    });
  });
  it('a empty: NOERROR, no records, the A reply\'s SOA', async () => {
    sortAndCheck((await q6('empty.example.com.')).msg, { rcode: 'NOERROR', answer: [], ns: [SOA(3600)] });
  });
  it('non-nxdomain error: synthesised, TTL at most 600 without a SOA', async () => {
    sortAndCheck((await q6('err.example.com.')).msg, {
      rcode: 'NOERROR',
      answer: ['err.example.com. 60 IN AAAA 64:ff9b::c000:22a', 'err.example.com. 600 IN AAAA 64:ff9b::c000:22b'],
    });
  });
  it('nxdomain: as it is, and no A query', async () => {
    const before = up.seen('nx.example.com.', 'A');
    sortAndCheck((await q6('nx.example.com.')).msg, { rcode: 'NXDOMAIN', ns: [SOA(3600)] });
    expect(up.seen('nx.example.com.', 'A')).toBe(before);
  });
  it('an AAAA record: as it is', async () => {
    sortAndCheck((await q6('six.example.com.')).msg, { rcode: 'NOERROR', answer: ['six.example.com. 60 IN AAAA 2001:db8::1'] });
  });
  it('an IPv4 client: no synthesis unless allow_ipv4', async () => {
    sortAndCheck((await s.query('std.example.com.', 'AAAA')).msg, { rcode: 'NOERROR', answer: [] });
    sortAndCheck((await s4.query('std.example.com.', 'AAAA')).msg, { rcode: 'NOERROR', answer: ['std.example.com. 60 IN AAAA 64:ff9b::c000:22a', 'std.example.com. 70 IN AAAA 64:ff9b::c000:22b'] });
  });
  it('counts coredns_dns64_requests_translated_total', async () => {
    expect(await s.metrics.registry.getSingleMetricAsString('coredns_dns64_requests_translated_total')).toMatch(/\{server="dns:\/\/[^"]*"\} [1-9]/);
  });
});
