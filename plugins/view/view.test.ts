// view: CoreDNS's own tables (plugin/view/setup_test.go, view_test.go and test/view_test.go) as
// data, replayed on the parser, on the expression evaluator and through the chain (in process:
// routing between blocks is what is tested, no socket needed) where several blocks share one
// zone and port; then the README's examples and what CoreDNS's expression language offers beyond them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispense, fakeRequest, parsePlugin, sortAndCheck, startInProcess, startServer, type InProcessServer } from '../../src/testing/index.js';
import view from './index.js';
import { compileExpr, passes } from './expr.js';

describe('view: setup (CoreDNS TestSetup)', () => {
  const rows: Array<{ input: string; err?: RegExp; progs?: number }> = [
    { input: "view example {\n expr name() == 'example.com.'\n}", progs: 1 },
    { input: "view example {\n expr incidr(client_ip(), '10.0.0.0/24')\n}", progs: 1 },
    { input: "view example {\n expr name() == 'example.com.'\n expr name() == 'example2.com.'\n}", progs: 2 },
    { input: 'view', err: /Testfile:1 .*wrong argument count/i },
    { input: 'view example {\n expr invalid expression\n}', err: /Testfile:2 .*invalid expression 'invalid expression': unknown name invalid/ },
    { input: 'view x {\n foo bar\n}\n', err: /Testfile:2 .*unknown property 'foo'/ },
  ];
  it.each(rows)('$input', ({ input, err, progs }) => {
    if (err) expect(() => view.parse(dispense(input), ['.'])).toThrow(err);
    else expect(parsePlugin(view, input).exprs).toHaveLength(progs!);
  });

  it('one view per block (plugin.ErrOnce), and a bad expression names file:line through the server', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n view a\n view b\n whoami\n}')).rejects.toThrow(/Corefile:4.*only be used once per Server Block/);
    await expect(startServer(".:0 {\n bind 127.0.0.1\n view a {\n  expr name( == 'x'\n }\n whoami\n}")).rejects.toThrow(/Corefile:4 .*plugin\/view: invalid expression/);
    await expect(startServer(".:0 {\n bind 127.0.0.1\n view a {\n  expr name() matches '('\n }\n whoami\n}")).rejects.toThrow(/invalid regular expression/);
    await expect(startServer(".:0 {\n bind 127.0.0.1\n view a {\n  expr incidr(client_ip())\n }\n whoami\n}")).rejects.toThrow(/incidr/);
  });

  it('two blocks on one zone and port: an error without a view, allowed with one', async () => {
    await expect(startServer('a.test:0 {\n bind 127.0.0.1\n whoami\n}\na.test:0 {\n bind 127.0.0.1\n whoami\n}')).rejects.toThrow(/already defined/);
    const s = await startServer("a.test:0 {\n bind 127.0.0.1\n view v {\n  expr type() == 'TXT'\n }\n whoami\n}\na.test:0 {\n bind 127.0.0.1\n whoami\n}");
    await s.close();
  });
});

describe('view: expressions (CoreDNS TestFilter_ErrorPaths, and the expr-lang operators routing uses)', () => {
  const req = fakeRequest('Example.com.', 'A', { client: '10.0.0.7', edns: 1232, do: true, id: 4242 });
  const req6 = fakeRequest('x.example.org.', 'AAAA', { client: 'fd00::5', transport: 'tcp' });
  const rows: Array<[string, boolean, typeof req?]> = [
    // CoreDNS's table
    ["name() == 'example.com.'", true],
    ["name() == 'notexample.com.'", false],
    ['1', false],
    ["incidr('invalid', '1.2.3.0/24')", false],
    // the query functions
    ["type() == 'A' && class() == 'IN' && proto() == 'udp'", true],
    ["type() in ['A', 'AAAA']", true],
    ["type() not in ['A', 'AAAA']", false],
    ["client_ip() == '10.0.0.7' && incidr(client_ip(), '10.0.0.0/24')", true],
    ["incidr(client_ip(), '10.0.1.0/24')", false],
    ["incidr(client_ip(), 'fd00::/8')", true, req6],
    ["proto() == 'tcp' and type() == 'AAAA'", true, req6],
    ['do() && bufsize() == 1232 && id() == 4242 && opcode() == 0', true],
    ['size() > 12 && size() < 100', true],
    ["port() == '40212' && server_ip() == '127.0.0.1' && server_port() == '53'", true],
    ["metadata('view/name') == ''", true],
    // operators
    ["name() matches '^example\\\\.com\\\\.$'", true],
    ["name() matches '^abc\\\\..*\\\\.example\\\\.com\\\\.$'", false],
    ["name() endsWith '.com.' && name() startsWith 'exa' && name() contains 'mple'", true],
    ["!(type() == 'A') || not true", false],
    ["(type() == 'A' && name() == 'example.com.') || client_ip() == '1.2.3.4'", true],
    ['1 + 2 * 3 == 7 && 10 % 4 == 2 && -1 < 0 && 2 ** 3 == 8', true],
    ["type() == 'A' ? true : false", true],
    ["'a' + 'b' == 'ab'", true],
    ["name() > 1", false], // a type error while evaluating: false
  ];
  it.each(rows)('%s → %s', (text, want, r) => {
    expect(passes(compileExpr(text), r ?? req)).toBe(want);
  });

  it.each([
    ['', /empty expression/],
    ['name(', /end of expression/],
    ["name() == 'x", /unterminated string/],
    ['nosuch()', /unknown name nosuch/],
    ['name', /call it as name\(\)/],
    ['type(1)', /takes 0, got 1/],
    ['1 +', /end of expression/],
    ["name() == 'a' 'b'", /unexpected ''b''/],
    ['a # b', /unknown name a|unexpected '#'/],
  ])('rejects %j', (text, re) => {
    expect(() => compileExpr(text)).toThrow(re);
  });
});

describe('view: blocks sharing one zone and port, through the chain in process (CoreDNS test/view_test.go)', () => {
  let s: InProcessServer;
  beforeAll(async () => {
    s = await startInProcess(`split-type:0 {
  bind 127.0.0.1
  view test-view-a {
    expr type() == 'A'
  }
  hosts {
    1.2.3.4 test.split-type
  }
}
split-type:0 {
  bind 127.0.0.1
  view test-view-aaaa {
    expr type() == 'AAAA'
  }
  hosts {
    1:2:3::4 test.split-type
  }
}
split-name:0 {
  bind 127.0.0.1
  view test-view-1 {
    expr name() matches '^one\\\\..*\\\\.split-name\\\\.$'
  }
  hosts {
    1.1.1.1 one.test.split-name one.test.test.test.split-name
  }
}
split-name:0 {
  bind 127.0.0.1
  view test-view-2 {
    expr name() matches '^two\\\\..*\\\\.split-name\\\\.$'
  }
  hosts {
    2.2.2.2 two.test.split-name two.test.test.test.split-name
  }
}
split-name:0 {
  bind 127.0.0.1
  hosts {
    3.3.3.3 default.test.split-name
  }
}
metadata:0 {
  bind 127.0.0.1
  view test-view-meta1 {
    expr metadata('view/name') == 'not-the-view-name'
  }
  hosts {
    1.1.1.1 test.metadata
  }
}
metadata:0 {
  bind 127.0.0.1
  hosts {
    3.3.3.3 test.metadata
  }
}
cidr:0 {
  bind 127.0.0.1
  prometheus 127.0.0.1:0
  view loopback-one {
    expr incidr(client_ip(), '127.0.0.1/32')
  }
  hosts {
    1.1.1.1 test.cidr
  }
}
cidr:0 {
  bind 127.0.0.1
  view loopback-two {
    expr incidr(client_ip(), '127.0.0.2/32')
  }
  hosts {
    2.2.2.2 test.cidr
  }
}
only-view.test:0 {
  bind 127.0.0.1
  view never {
    expr false
  }
  whoami
}
.:0 {
  bind 127.0.0.1
  hosts {
    9.9.9.9 x.only-view.test
  }
}
`);
  });
  afterAll(() => s?.close());

  const rows: Array<{ what: string; q: string; t: string; answer: string[]; source?: string }> = [
    { what: 'split-type A', q: 'test.split-type.', t: 'A', answer: ['test.split-type. 3600 IN A 1.2.3.4'] },
    { what: 'split-type AAAA', q: 'test.split-type.', t: 'AAAA', answer: ['test.split-type. 3600 IN AAAA 1:2:3::4'] },
    { what: 'split-name one.test.test.test', q: 'one.test.test.test.split-name.', t: 'A', answer: ['one.test.test.test.split-name. 3600 IN A 1.1.1.1'] },
    { what: 'split-name one.test', q: 'one.test.split-name.', t: 'A', answer: ['one.test.split-name. 3600 IN A 1.1.1.1'] },
    { what: 'split-name two.test.test.test', q: 'two.test.test.test.split-name.', t: 'A', answer: ['two.test.test.test.split-name. 3600 IN A 2.2.2.2'] },
    { what: 'split-name two.test', q: 'two.test.split-name.', t: 'A', answer: ['two.test.split-name. 3600 IN A 2.2.2.2'] },
    { what: 'split-name default', q: 'default.test.split-name.', t: 'A', answer: ['default.test.split-name. 3600 IN A 3.3.3.3'] },
    // a view reading metadata that nobody published (no metadata plugin in its block): false, the
    // unfiltered block answers; plugins/metadata has CoreDNS's full metadata rows
    { what: 'metadata without the metadata plugin', q: 'test.metadata.', t: 'A', answer: ['test.metadata. 3600 IN A 3.3.3.3'] },
    // the README's CIDR split, with two loopback clients
    { what: 'cidr from 127.0.0.1', q: 'test.cidr.', t: 'A', answer: ['test.cidr. 3600 IN A 1.1.1.1'] },
    { what: 'cidr from 127.0.0.2', q: 'test.cidr.', t: 'A', answer: ['test.cidr. 3600 IN A 2.2.2.2'], source: '127.0.0.2' },
    // no block on the zone takes it: the parent zone's blocks are tried (CoreDNS: the label walk goes on)
    { what: 'a zone whose only view says no falls to the root block', q: 'x.only-view.test.', t: 'A', answer: ['x.only-view.test. 3600 IN A 9.9.9.9'] },
  ];
  it.each(rows)('$what', async ({ q, t, answer, source }) => {
    const r = await s.query(q, t, source === undefined ? {} : { source });
    sortAndCheck(r.msg, { rcode: 'NOERROR', answer });
  });

  it('a client no view of a zone takes is served by the parent zone\'s block', async () => {
    const r = await s.query('test.cidr.', 'A', { source: '127.0.0.3' });
    // cidr. has only view blocks; the root block serves (its hosts has no test.cidr: SERVFAIL, as CoreDNS's hosts)
    expect(r.rcode).toBe(2);
    expect(r.msg.answers).toEqual([]);
  });

  it('REFUSED when no block on the listener takes the query', async () => {
    const t = await startInProcess("v.test:0 {\n bind 127.0.0.1\n view only-tcp {\n  expr proto() == 'tcp'\n }\n whoami\n}");
    try {
      expect((await t.query('a.v.test.', 'A')).rcode).toBe(5);
      expect((await t.query('a.v.test.', 'A', { tcp: true })).rcode).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('labels the metrics of a view block with its view name', async () => {
    await s.query('test.cidr.', 'A');
    const text = await s.metrics.registry.getSingleMetricAsString('coredns_dns_requests_total');
    expect(text).toMatch(/coredns_dns_requests_total\{[^}]*zone="cidr\.",view="loopback-one"[^}]*\} [1-9]/);
  });
});
