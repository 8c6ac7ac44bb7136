import { afterEach, describe, expect, it } from 'vitest';
import { RCODE } from '../../src/plugin/api.js';
import { dispense, parsePlugin, responder, startServer, type TestServer } from '../../src/testing/index.js';
import prometheus, { DURATION_BUCKETS, type PrometheusPlugin } from './index.js';

// Answers NXDOMAIN without writing for names starting "nx.", REFUSED-by-throw for "boom.".
const tester = responder('promtest', (req, w, next) => {
  if (req.name.startsWith('nx.')) return RCODE.NXDOMAIN;
  if (req.name.startsWith('slow.')) return new Promise<number>((r) => setTimeout(() => r(next(req, w) as number), 30));
  if (req.name.startsWith('boom.')) throw new Error('boom');
  return next(req, w);
});

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function promOf(s: TestServer, block = 0): PrometheusPlugin {
  return s.server.generation!.blocks[block]!.plugins.find((x) => x.name === 'prometheus')!.plugin as PrometheusPlugin;
}

async function scrape(s: TestServer, block = 0): Promise<string> {
  const r = await fetch(`${promOf(s, block).handle.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  return r.text();
}

/** The value of one series, found by its exact label set (in any order). */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(labels).sort())) return Number(m[3]);
  }
  return undefined;
}

describe('prometheus parse', () => {
  it('defaults to localhost:9153', () => {
    expect(parsePlugin(prometheus, 'prometheus')).toEqual({ address: 'localhost:9153' });
    expect(parsePlugin(prometheus, 'prometheus :9153')).toEqual({ address: ':9153' });
    expect(parsePlugin(prometheus, 'prometheus :9153 {\n runtime_metrics\n}')).toEqual({ address: ':9153' });
  });
  it.each([
    ['prometheus a:1 b:2', /Wrong argument count/i],
    ['prometheus 9153', /invalid address/],
    ['prometheus {\n foo\n}', /unknown property/i],
  ])('rejects %j', (text, re) => {
    expect(() => prometheus.parse(dispense(text), ['.'])).toThrow(re);
  });
  it('uses 16 duration buckets from 0.25 ms doubling', () => {
    expect(DURATION_BUCKETS).toHaveLength(16);
    expect(DURATION_BUCKETS[0]).toBe(0.00025);
    expect(DURATION_BUCKETS[15]).toBeCloseTo(8.192, 6);
  });
});

describe('prometheus over HTTP', () => {
  it('counts queries with CoreDNS metric names and label sets', async () => {
    const s = await startServer('example.org.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n promtest\n whoami\n}', { plugins: [tester] });
    servers.push(s);
    const server = 'dns://127.0.0.1:0';
    const zone = 'example.org.';
    await s.query('a.example.org.', 'A');
    await s.query('a.example.org.', 'A', { tcp: true });
    await s.query('a.example.org.', 'AAAA', { edns: true, do: true });
    await s.query('a.example.org.', 'NAPTR');
    await s.query('nx.example.org.', 'MX');
    await s.query('slow.example.org.', 'TXT');
    expect((await s.query('boom.example.org.', 'A')).rcode).toBe(RCODE.SERVFAIL);
    const t = await scrape(s);

    const req = (proto: string, type: string): number | undefined => value(t, 'coredns_dns_requests_total', { server, zone, view: '', proto, family: '1', type });
    expect(req('udp', 'A')).toBe(2); // a. and boom.
    expect(req('tcp', 'A')).toBe(1);
    expect(req('udp', 'AAAA')).toBe(1);
    expect(req('udp', 'other')).toBe(1);
    expect(req('udp', 'MX')).toBe(1);
    expect(req('udp', 'TXT')).toBe(1);

    // plugin: who wrote the reply; '' when the server wrote it for an rcode a plugin returned
    const resp = (rcode: string, plugin: string): number | undefined => value(t, 'coredns_dns_responses_total', { server, zone, view: '', rcode, plugin });
    expect(resp('NOERROR', 'whoami')).toBe(5);
    expect(resp('NOERROR', '')).toBeUndefined();
    expect(resp('NXDOMAIN', '')).toBe(1);
    expect(resp('SERVFAIL', '')).toBe(1);

    expect(value(t, 'coredns_dns_do_requests_total', { server, view: '', zone })).toBe(1);
    expect(value(t, 'coredns_dns_request_duration_seconds_count', { server, zone, view: '', type: 'A' })).toBe(3);
    expect(value(t, 'coredns_dns_request_duration_seconds_bucket', { server, zone, view: '', type: 'TXT', le: '0.016' })).toBe(0); // slept 30 ms
    expect(value(t, 'coredns_dns_request_duration_seconds_bucket', { server, zone, view: '', type: 'TXT', le: '+Inf' })).toBe(1);
    expect(value(t, 'coredns_dns_request_size_bytes_count', { server, zone, view: '', proto: 'udp' })).toBe(6);
    expect(value(t, 'coredns_dns_request_size_bytes_count', { server, zone, view: '', proto: 'tcp' })).toBe(1);
    expect(value(t, 'coredns_dns_response_size_bytes_count', { server, zone, view: '', proto: 'tcp' })).toBe(1);
    // The NXDOMAIN reply the core wrote is header + question: 12 + 18 + 4 bytes
    expect(value(t, 'coredns_dns_response_size_bytes_bucket', { server, zone, view: '', proto: 'udp', le: '0' })).toBe(0);

    for (const name of ['prometheus', 'promtest', 'whoami', 'bind']) expect(value(t, 'coredns_plugin_enabled', { server, zone, view: '', name })).toBe(1);
    expect(t).toMatch(/^coredns_build_info\{version="0\.1\.0",revision="[^"]*",goversion="v\d+\.\d+\.\d+"\} 1$/m);
    expect(t).toMatch(/^process_cpu_user_seconds_total /m);
    expect(t).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(t).toMatch(/^coredns_panics_total 1$/m);
  });

  it('counts an acl drop as a request without a response, not as a SERVFAIL reply; log shows it unanswered', async () => {
    const s = await startServer('example.org.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n log\n acl {\n  drop type TXT\n }\n whoami\n}');
    servers.push(s);
    await expect(s.query('a.example.org.', 'TXT', { timeout: 300 })).rejects.toThrow(/no answer/);
    expect((await s.query('a.example.org.', 'A')).rcode).toBe(0);
    const t = await scrape(s);
    const server = 'dns://127.0.0.1:0';
    const zone = 'example.org.';
    expect(value(t, 'coredns_dns_requests_total', { server, zone, view: '', proto: 'udp', family: '1', type: 'TXT' })).toBe(1);
    for (const rcode of ['SERVFAIL', 'NOERROR']) {
      for (const plugin of ['', 'acl']) {
        if (rcode === 'NOERROR' && plugin === '') continue;
        expect(value(t, 'coredns_dns_responses_total', { server, zone, view: '', rcode, plugin }), `${rcode}/${plugin}`).toBeUndefined();
      }
    }
    expect(value(t, 'coredns_dns_responses_total', { server, zone, view: '', rcode: 'NOERROR', plugin: 'whoami' })).toBe(1);
    // one response size observed: the A reply; the dropped TXT query sent nothing
    expect(value(t, 'coredns_dns_response_size_bytes_count', { server, zone, view: '', proto: 'udp' })).toBe(1);
    const txt = s.log.lines.find((l) => l.includes('"TXT IN a.example.org.'));
    expect(txt).toMatch(/" - - 0 [0-9.]+s$/); // rcode "-", flags "-", size 0 (as CoreDNS logs a query that got no reply)
  });

  it('names the plugin that wrote each reply: hosts, then cache for the same question', async () => {
    const s = await startServer('example.org.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n cache 60\n hosts {\n  10.0.0.1 a.example.org\n }\n}');
    servers.push(s);
    for (let i = 0; i < 3; i++) expect((await s.query('a.example.org.', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.1' });
    const t = await scrape(s);
    const resp = (plugin: string): number | undefined => value(t, 'coredns_dns_responses_total', { server: 'dns://127.0.0.1:0', zone: 'example.org.', view: '', rcode: 'NOERROR', plugin });
    expect(resp('hosts')).toBe(1);
    expect(resp('cache')).toBe(2);
  });

  it('serves one listener for blocks naming the same address, and keeps it over reloads', async () => {
    const cf = (more: string): string => `a.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n whoami\n}\nb.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n whoami\n${more}}`;
    const s = await startServer(cf(''));
    servers.push(s);
    const port = promOf(s, 0).handle.port;
    expect(promOf(s, 1).handle.port).toBe(port);
    expect(await s.server.reload('test', { text: cf(' log\n'), file: 'Corefile' })).toBe(true);
    expect(promOf(s, 0).handle.port).toBe(port);
    const t = await scrape(s);
    expect(value(t, 'coredns_plugin_enabled', { server: 'dns://127.0.0.1:0', zone: 'b.', view: '', name: 'log' })).toBe(1);
    // one set of process metrics
    expect(t.match(/^# TYPE process_cpu_user_seconds_total/gm)).toHaveLength(1);
  });
});
