// CoreDNS 1.10.1's own errors tables (plugin/errors: errors_test.go TestErrors, TestLogPattern,
// TestInc, TestStop; setup_test.go TestErrorsParse, TestProperLogCallbackIsSet) replayed against
// typedns: a real server on 127.0.0.1 with `errors` in front of a backend that fails the query
// with the row's error. CoreDNS's tests call the handler's inc/stop/logPattern directly; here the
// same happens through queries and the server's shutdown (which runs the plugin's stop).
//
// Translation: a CoreDNS plugin returns an rcode *and* an error; a typedns plugin throws, and the
// client gets SERVFAIL, so the logged rcode is always 2 (CoreDNS's TestErrors row logs 9, NOTAUTH).
import { describe, expect, it } from 'vitest';
import { RCODE } from '../../src/plugin/api.js';
import { parsePlugin, responder, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import errors from './index.js';

/** A backend that fails every query with `message` (or answers NOERROR when it is empty). */
const failing = (message: string) =>
  responder('backend', (req, w) => {
    if (message === '') {
      w.write({ type: 'response', questions: [{ name: req.qname, type: 'A', class: 'IN' }] });
      return RCODE.NOERROR;
    }
    throw new Error(message);
  });

const corefile = (errorsStanza: string, debug = false): string => `.:0 {\n bind 127.0.0.1\n${debug ? ' debug\n' : ''} ${errorsStanza}\n backend\n}\n`;

/** Start, run `fn`, stop the server (its shutdown flushes consolidated counts), return the log. */
async function withServer(cf: string, message: string, fn: (s: TestServer) => Promise<void>): Promise<string[]> {
  const s = await startServer(cf, { plugins: [failing(message)] });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
  return s.log.lines;
}

const queries = async (s: TestServer, n: number): Promise<void> => {
  for (let i = 0; i < n; i++) expect((await s.query(`q${i}.example.org.`, 'A')).rcode).toBe(RCODE.SERVFAIL);
};

// ---------------------------------------------------------------------------------------------

describe('CoreDNS TestErrors', () => {
  const rows: Array<{ name: string; error: string; rcode: number; log: string }> = [
    { name: 'next succeeds: nothing logged', error: '', rcode: RCODE.NOERROR, log: '' },
    // CoreDNS: "9 example.org. A: test error" (the handler returned NOTAUTH with the error)
    { name: 'next fails: "RCODE NAME TYPE: error" logged', error: 'test error', rcode: RCODE.SERVFAIL, log: '[ERROR] plugin/errors: 2 example.org. A: test error' },
  ];
  it('has 2 rows', () => expect(rows.length).toBe(2));
  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_n, row) => {
    const lines = await withServer(corefile('errors'), row.error, async (s) => {
      expect((await s.query('example.org.', 'A')).rcode).toBe(row.rcode);
    });
    if (row.log === '') expect(lines.filter((l) => l.includes('plugin/errors'))).toEqual([]);
    else expect(lines).toContain(row.log);
  });
});

describe('CoreDNS TestLogPattern (count 4, period 2s, pattern ^error.*!$)', () => {
  const rows: Array<[name: string, level: string, want: string]> = [
    ['error log', 'error', "[ERROR] plugin/errors: 4 errors like '^error.*!$' occurred in last 2s"],
    ['warn log', 'warning', "[WARNING] plugin/errors: 4 errors like '^error.*!$' occurred in last 2s"],
    ['info log', 'info', "[INFO] plugin/errors: 4 errors like '^error.*!$' occurred in last 2s"],
    ['debug log', 'debug', "[DEBUG] plugin/errors: 4 errors like '^error.*!$' occurred in last 2s"],
  ];
  it('has 4 rows', () => expect(rows.length).toBe(4));
  it.each(rows)('%s', async (_n, level, want) => {
    // CoreDNS's test turns debug logging on (clog.D.Set()); here the debug plugin does
    const lines = await withServer(corefile(`errors {\n  consolidate 2s "^error.*!$" ${level}\n }`, level === 'debug'), 'error: upstream went away!', (s) => queries(s, 4));
    expect(lines).toContain(want);
    expect(lines.filter((l) => l.includes('upstream went away')), 'consolidated, not logged one by one').toEqual([]);
  });
});

describe('CoreDNS TestInc / TestStop', () => {
  it('TestInc: the first error starts the period, the count grows, one line per period', async () => {
    const lines = await withServer(corefile('errors {\n  consolidate 400ms "^error.*!$"\n }'), 'error!', async (s) => {
      await queries(s, 2);
      await waitFor(() => s.log.lines.some((l) => l.includes('errors like')), { what: 'the consolidated line' });
      await queries(s, 1); // a new period starts with this one
      await waitFor(() => s.log.lines.filter((l) => l.includes('errors like')).length === 2, { what: 'the second period' });
    });
    expect(lines.filter((l) => l.includes('errors like'))).toEqual([
      "[ERROR] plugin/errors: 2 errors like '^error.*!$' occurred in last 400ms",
      "[ERROR] plugin/errors: 1 errors like '^error.*!$' occurred in last 400ms",
    ]);
  });

  // CoreDNS's period is 2 s; an hour here: a stop that waited for the period would never end
  // within the test's timeout, however fast or slow the machine (a bound of 2 s on the wall clock
  // was both near the period and within reach of a loaded machine's delays)
  it('TestStop: stopping logs the pending count at once (3 errors, period 1h)', async () => {
    const lines = await withServer(corefile('errors {\n  consolidate 1h "^error.*!$"\n }'), 'error!', (s) => queries(s, 3));
    expect(lines).toContain("[ERROR] plugin/errors: 3 errors like '^error.*!$' occurred in last 1h0m0s");
  });

  it('the pattern sees the error text only, not the "2 NAME TYPE:" prefix (^ anchors at the error)', async () => {
    const lines = await withServer(corefile('errors {\n  consolidate 2s "^error.*!$"\n }'), 'error!', (s) => queries(s, 1));
    expect(lines.filter((l) => l.includes('q0.example.org'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// setup_test.go

const parseRows: Array<[input: string, shouldErr: boolean, optCount: number, stacktrace: boolean]> = [
  ["errors", false, 0, false],
  ["errors stdout", false, 0, false],
  ["errors errors.txt", true, 0, false],
  ["errors visible", true, 0, false],
  ["errors { log visible }", true, 0, false],
  ["errors\n\t\t  errors ", true, 0, false],
  ["errors a b", true, 0, false],
  ["errors {\n\t\t    consolidate\n\t\t  }", true, 0, false],
  ["errors {\n\t\t    consolidate 1m\n\t\t  }", true, 0, false],
  ["errors {\n\t\t    consolidate 1m .* extra\n\t\t  }", true, 0, false],
  ["errors {\n\t\t    consolidate abc .*\n\t\t  }", true, 0, false],
  ["errors {\n\t\t    consolidate 1 .*\n\t\t  }", true, 0, false],
  ["errors {\n\t\t    consolidate 1m ())\n\t\t  }", true, 0, false],
  ["errors {\n            stacktrace\n\t\t  }", false, 0, true],
  ["errors {\n            stacktrace\n\t\t    consolidate 1m ^exact$\n\t\t  }", false, 1, true],
  ["errors {\n\t\t    consolidate 1m ^exact$\n\t\t  }", false, 1, false],
  ["errors {\n\t\t    consolidate 1m error\n\t\t  }", false, 1, false],
  ["errors {\n\t\t    consolidate 1m \"format error\"\n\t\t  }", false, 1, false],
  ["errors {\n\t\t    consolidate 1m error1\n\t\t    consolidate 5s error2\n\t\t  }", false, 2, false],
];

describe('CoreDNS TestErrorsParse', () => {
  it('has 19 rows', () => expect(parseRows.length).toBe(19));
  it.each(parseRows.map((r, i) => [i, ...r] as const))('row %i: %j', (_i, input, shouldErr, optCount, stacktrace) => {
    const errs = checkStanza(input);
    if (shouldErr) {
      expect(errs.length).toBeGreaterThan(0);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/errors: /);
      return;
    }
    expect(errs).toEqual([]);
    const cfg = parsePlugin(errors, input);
    expect([cfg.consolidate.length, cfg.stacktrace]).toEqual([optCount, stacktrace]);
  });
});

describe('CoreDNS TestProperLogCallbackIsSet', () => {
  const rows: Array<[name: string, input: string, level: string]> = [
    ['warning is parsed properly', 'errors {\n        consolidate 1m .* warning\n    }', '[WARNING]'],
    ['error is parsed properly', 'errors {\n        consolidate 1m .* error\n    }', '[ERROR]'],
    ['info is parsed properly', 'errors {\n        consolidate 1m .* info\n    }', '[INFO]'],
    ['debug is parsed properly', 'errors {\n        consolidate 1m .* debug\n    }', '[DEBUG]'],
    ['default is error', 'errors {\n        consolidate 1m .*\n    }', '[ERROR]'],
  ];
  it('has 5 rows', () => expect(rows.length).toBe(5));
  it.each(rows)('%s', async (_n, input, level) => {
    const lines = await withServer(corefile(input, true), 'some error happened', (s) => queries(s, 1));
    expect(lines).toContain(`${level} plugin/errors: 1 errors like '.*' occurred in last 1m0s`);
  });
});
