import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlugin, startServer, type TestServer, waitFor } from '../../src/testing/index.js';
import log, { COMMON } from './index.js';

describe('log parse', () => {
  it('defaults to every name and the common format', () => {
    expect(parsePlugin(log, 'log')).toEqual({ rules: [{ names: ['.'], format: COMMON, classes: ['all'] }] });
  });
  it('takes names, a format and classes', () => {
    const c = parsePlugin(log, 'log example.org example.net "{type} {name}" {\n class denial error\n}');
    expect(c.rules[0]).toEqual({ names: ['example.org.', 'example.net.'], format: '{type} {name}', classes: ['denial', 'error'] });
  });
  it('rejects a bad class with file:line', () => {
    expect(() => parsePlugin(log, 'log {\n class nope\n}')).toThrow(/Testfile:2 .*invalid class 'nope'/);
    expect(() => parsePlugin(log, 'log {\n klass all\n}')).toThrow(/unknown property 'klass'/);
  });
});

describe('log through a server', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer('.:0 {\n bind 127.0.0.1\n log\n whoami\n}');
  });
  afterAll(() => srv.close());

  it('writes CoreDNS common log lines', async () => {
    const r = await srv.query('Example.ORG', 'A', { edns: 4096, id: 4321 });
    // {name} is the lower-cased name (CoreDNS's request.Name())
    expect(r.rcode).toBe(0);
    await waitFor(() => srv.log.lines.some((l) => l.includes('4321')));
    const line = srv.log.lines.find((l) => l.includes('4321'))!;
    expect(line).toMatch(/^\[INFO\] 127\.0\.0\.1:\d+ - 4321 "A IN example\.org\. udp \d+ false 4096" NOERROR qr,aa,rd \d+ \d+\.\d+s$/);
  });
});

describe('log class filter', () => {
  it('logs only the classes asked for', async () => {
    const srv = await startServer('example.org:0 {\n bind 127.0.0.1\n log . "{name} {rcode}" {\n  class error\n }\n}');
    try {
      // a block without a responder: log sees SERVFAIL (no next plugin) → class error
      const r = await srv.query('a.example.org', 'A');
      expect(r.rcode).toBe(2);
      await waitFor(() => srv.log.lines.length > 0);
      expect(srv.log.lines).toContain('[INFO] a.example.org. SERVFAIL');
    } finally {
      await srv.close();
    }
    // CoreDNS's response.Typify: whoami's reply has no answers and no SOA, so it is a success, not
    // a denial (a NODATA is a denial only with the SOA in authority).
    const srv2 = await startServer('.:0 {\n bind 127.0.0.1\n log a.example.org "{name} {rcode}" {\n  class denial\n }\n log . "{name} {rcode}" {\n  class success\n }\n whoami\n}');
    try {
      await srv2.query('a.example.org', 'A');
      await srv2.query('b.example.org', 'A');
      await waitFor(() => srv2.log.lines.includes('[INFO] b.example.org. NOERROR'));
      expect(srv2.log.lines.filter((l) => l.includes('a.example.org'))).toEqual([]);
    } finally {
      await srv2.close();
    }
  });
});

describe('log {duration}', () => {
  it('prints seconds as CoreDNS does: shortest decimal form, no exponent, no trailing .0', async () => {
    const { compileFormat } = await import('./index.js');
    const { fakeRequest, Recorder } = await import('../../src/testing/index.js');
    const req = fakeRequest('example.org.', 'A');
    const f = compileFormat('{duration}');
    expect([0, 2000, 0.125, 0.0005, 1500].map((ms) => f(req, new Recorder(req), ms))).toEqual(['0s', '2s', '0.000125s', '0.0000005s', '1.5s']);
  });
});
