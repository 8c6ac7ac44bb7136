// CoreDNS's own local expectations (plugin/local: local_test.go, setup_test.go) replayed against
// typedns: queries to the Corefile set up in process (startInProcess, no socket) with `local` in front of a recording plugin.
import { describe, expect, it } from 'vitest';
import { RCODE, reply, rr } from '../../src/plugin/api.js';
import { responder } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';

const { inProcess } = scopedPerTest();

async function localServer(block = '') {
  const calls: string[] = [];
  const next = responder('nextrec', (req, w) => {
    calls.push(req.name);
    w.write(reply(req, [rr(`${req.name} 30 IN A 192.0.2.1`)]));
    return RCODE.NOERROR;
  });
  const srv = await inProcess(`.:0 {\n  bind 127.0.0.1\n  local${block}\n  nextrec\n}\n`, { plugins: [next] });
  return { srv, calls };
}

/** local_test.go testcases: [question, qtype, rcode, answer (type and owner), ns (type and owner)]. */
const testcases: Array<[string, string, number, string | null, string | null]> = [
  ['localhost.', 'A', RCODE.NOERROR, 'A localhost.', null],
  ['localHOst.', 'A', RCODE.NOERROR, 'A localHOst.', null],
  ['localhost.', 'AAAA', RCODE.NOERROR, 'AAAA localhost.', null],
  ['localhost.', 'NS', RCODE.NOERROR, 'NS localhost.', null],
  ['localhost.', 'SOA', RCODE.NOERROR, 'SOA localhost.', null],
  ['127.in-addr.arpa.', 'A', RCODE.NOERROR, null, 'SOA 127.in-addr.arpa.'],
  ['localhost.', 'MX', RCODE.NOERROR, null, 'SOA localhost.'],
  ['a.localhost.', 'A', RCODE.NOERROR, 'A a.localhost.', null],
  ['a.localhost.', 'AAAA', RCODE.NOERROR, 'AAAA a.localhost.', null],
  ['a.localhost.', 'MX', RCODE.NOERROR, null, 'SOA a.localhost.'],
  ['1.0.0.127.in-addr.arpa.', 'PTR', RCODE.NOERROR, 'PTR 1.0.0.127.in-addr.arpa.', null],
  ['1.0.0.127.in-addr.arpa.', 'MX', RCODE.NOERROR, null, 'SOA 127.in-addr.arpa.'],
  ['2.0.0.127.in-addr.arpa.', 'PTR', RCODE.NXDOMAIN, null, 'SOA 127.in-addr.arpa.'],
];

describe('CoreDNS local_test.go', () => {
  it.each(testcases)('TestLocal: %s %s', async (q, t, rcode, answer, ns) => {
    const { srv, calls } = await localServer();
    const r = await srv.query(q, t);
    expect(r.rcode).toBe(rcode);
    // the test compares the first record's type and owner name (the client's spelling)
    const first = (list: Array<{ type: string; name: string }> | undefined) => (list && list.length > 0 ? `${list[0]!.type} ${list[0]!.name}.` : null);
    expect(first(r.msg.answers)).toBe(answer);
    expect(first(r.msg.authorities)).toBe(ns);
    expect(calls).toEqual([]);
  });

  it('TestLocalInterceptsLocalhostPrefixByDefault', async () => {
    const { srv, calls } = await localServer();
    const r = await srv.query('localhost.example.net.', 'A');
    expect(calls).toEqual([]);
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.msg.answers!.map((a) => `${a.name}. ${(a as { data: string }).data}`)).toEqual(['localhost.example.net. 127.0.0.1']);
  });

  it('TestLocalDoesNotInterceptLocalhostPrefixWhenDisabled', async () => {
    const { srv, calls } = await localServer(' {\n    localhost_prefix off\n  }');
    const r = await srv.query('localhost.example.net.', 'A');
    expect(calls).toEqual(['localhost.example.net.']);
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.msg.answers!.map((a) => `${a.name}. ${(a as { data: string }).data}`)).toEqual(['localhost.example.net. 192.0.2.1']);
  });
});

describe('CoreDNS setup_test.go', () => {
  it.each([
    ['TestSetup', 'local', []],
    ['TestSetupRejectsArgs', 'local example.org', ["Corefile:2: plugin/local: wrong argument count or unexpected line ending after 'example.org'"]],
    ['TestSetupRejectsBlockOptions', 'local {\n    foo\n  }', ["Corefile:3: plugin/local: unknown property 'foo'"]],
    ['TestSetupLocalhostPrefixOption', 'local {\n    localhost_prefix off\n  }', []],
    ['TestSetupRejectsInvalidLocalhostPrefixValue', 'local {\n    localhost_prefix maybe\n  }', ['Corefile:3: plugin/local: localhost_prefix expects \'on\' or \'off\', got "maybe"']],
  ])('%s', (_name, input, errs) => {
    expect(checkCorefile(`.:53 {\n  ${input}\n}\n`)).toEqual(errs);
  });
});
