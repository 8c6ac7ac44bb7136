import { describe, expect, it } from 'vitest';
import { parsePlugin, responder, startServer } from '../../src/testing/index.js';
import errors from './index.js';

const thrower = responder('thrower', (req) => {
  if (req.name.startsWith('async')) return Promise.reject(new Error(`async failure for ${req.name}`));
  throw new Error(`dial udp 10.0.0.1:53: i/o timeout for ${req.name}`);
}, { position: { after: 'log' } });

describe('errors parse', () => {
  it('parses stacktrace and consolidate', () => {
    const c = parsePlugin(errors, 'errors {\n stacktrace\n consolidate 5m ".* i/o timeout$" warning show_first\n}');
    expect(c).toEqual({ stacktrace: true, consolidate: [{ period: 300_000, pattern: '.* i/o timeout$', level: 'warning', showFirst: true }] });
  });
  it('rejects bad input with file:line', () => {
    expect(() => parsePlugin(errors, 'errors {\n consolidate 5x foo\n}')).toThrow(/Testfile:2 .*invalid duration '5x'/);
    expect(() => parsePlugin(errors, 'errors {\n consolidate 1m "(unclosed"\n}')).toThrow(/invalid regex/);
    expect(() => parsePlugin(errors, 'errors {\n consolidate 1m foo critical\n}')).toThrow(/unknown log level/);
    expect(() => parsePlugin(errors, 'errors arg')).toThrow(/invalid log file: arg/);
    expect(() => parsePlugin(errors, 'errors a b')).toThrow(/wrong argument count/);
  });
  it('is once per block', async () => {
    await expect(startServer('.:0 {\n errors\n errors\n whoami\n}')).rejects.toThrow(/Corefile:3 .*can only be used once per Server Block/);
  });
});

describe('errors through a server', () => {
  it('logs each error and the query gets SERVFAIL', async () => {
    const srv = await startServer('.:0 {\n bind 127.0.0.1\n errors\n thrower\n}', { plugins: [thrower] });
    try {
      expect((await srv.query('x.example.org', 'A')).rcode).toBe(2);
      expect((await srv.query('async.example.org', 'A')).rcode).toBe(2);
      expect(srv.log.lines).toContain('[ERROR] plugin/errors: 2 x.example.org. A: dial udp 10.0.0.1:53: i/o timeout for x.example.org.');
      expect(srv.log.lines.filter((l) => l.includes('async failure'))).toHaveLength(1); // logged once, not again by the core
    } finally {
      await srv.close();
    }
  });

  it('consolidates matching errors into one line per period', async () => {
    const srv = await startServer('.:0 {\n bind 127.0.0.1\n errors {\n  consolidate 300ms ".*i/o timeout.*"\n }\n thrower\n}', { plugins: [thrower] });
    try {
      for (let i = 0; i < 3; i++) await srv.query(`n${i}.example.org`, 'A');
      expect(srv.log.lines.filter((l) => l.includes('i/o timeout for'))).toHaveLength(0);
      const end = Date.now() + 2000;
      while (!srv.log.lines.some((l) => l.includes('errors like')) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(srv.log.lines).toContain("[ERROR] plugin/errors: 3 errors like '.*i/o timeout.*' occurred in last 300ms");
    } finally {
      await srv.close();
    }
  });
});
