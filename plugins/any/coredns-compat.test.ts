// CoreDNS's own any expectations (plugin/any: any_test.go, setup_test.go) replayed against
// typedns: the Corefile set up in process (startInProcess, no socket) with `any` in front of a plugin that records what reaches it.
import { describe, expect, it } from 'vitest';
import { RCODE } from '../../src/plugin/api.js';
import { responder, sortAndCheck, type QueryResult } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';

const { inProcess } = scopedPerTest();

async function withNext(): Promise<{ query: (t: string) => Promise<QueryResult>; calls: string[] }> {
  const calls: string[] = [];
  const next = responder('nextrec', (req) => {
    calls.push(`${req.name} ${req.qtype}`);
    return RCODE.NXDOMAIN;
  });
  const srv = await inProcess('example.org:0 {\n  bind 127.0.0.1\n  any\n  nextrec\n}\n', { plugins: [next] });
  return { query: (t) => srv.query('example.org', t), calls };
}

describe('CoreDNS any_test.go', () => {
  it('TestAny: ANY is answered with HINFO "ANY obsoleted" "See RFC 8482"', async () => {
    const s = await withNext();
    const r = await s.query('ANY');
    sortAndCheck(r.msg, { rcode: 'NOERROR', aa: false, answer: ['example.org. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"'], ns: [], extra: [] });
    expect(s.calls).toEqual([]);
  });

  // TestAnyNonANYQuery
  it.each(['A', 'AAAA', 'MX', 'TXT', 'CNAME'])('TestAnyNonANYQuery: %s goes to the next plugin', async (t) => {
    const s = await withNext();
    const r = await s.query(t);
    expect(r.rcode).toBe(RCODE.NXDOMAIN);
    expect(s.calls).toHaveLength(1);
  });
});

describe('CoreDNS setup_test.go', () => {
  it.each([
    ['any', []],
    ['any example.org', ["Corefile:2: plugin/any: wrong argument count or unexpected line ending after 'example.org'"]],
    ['any {\n    foo\n  }', ["Corefile:3: plugin/any: unknown property 'foo'"]],
  ])('%s', (input, errs) => {
    expect(checkCorefile(`.:53 {\n  ${input}\n}\n`)).toEqual(errs);
  });
});
