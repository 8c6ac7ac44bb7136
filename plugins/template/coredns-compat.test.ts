// CoreDNS 1.10.1's own template tables (plugin/template: template_test.go, cname_test.go,
// setup_test.go) replayed against typedns: each row's template written as a Corefile stanza, served
// by a real server on 127.0.0.1 in front of a test plugin that answers what falls through (TXT
// "fallthrough", CoreDNS's rcodeFallthrough) and `test.up.` (the CNAME target, truncated).
import { describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { FLAG, RCODE, rr } from '../../src/plugin/api.js';
import { responder, sortAndCheck, type Case } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile, checkStanza } from '../../test/support/check-corefile.js';

const { server } = scopedPerTest();

const backend = responder('backend', (req, w) => {
  if (req.name.endsWith('.example.com.')) return RCODE.NXDOMAIN;
  if (req.name === 'test.up.') {
    w.write({ type: 'response', flags: FLAG.TC, answers: [rr('test.up. 600 IN A 1.2.3.4')] });
    return RCODE.NOERROR;
  }
  w.write({ type: 'response', flags: 0, answers: [{ name: req.name, type: 'TXT', ttl: 0, class: 'IN', data: ['fallthrough'] } as never] });
  return RCODE.NOERROR;
});

const fellThrough = (m: DecodedPacket): boolean => (m.answers ?? []).some((a) => a.type === 'TXT' && String((a as { data: unknown[] }).data[0]) === 'fallthrough');

interface Row extends Case {
  name: string;
  /** The template stanza(s), as in a Corefile. */
  tmpl: string;
  q: string;
  t: string;
  qclass?: string;
  fallthrough?: boolean;
  counts?: [answer: number, ns: number, extra: number];
}

// TestHandler: the templates of template_test.go, in Corefile syntax.
const ipTemplate = (extra = ''): string =>
  `template ANY ANY {\n  match "(^|[.])ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$"\n  answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n${extra}  fallthrough\n }`;
const handlerRows: Row[] = [
  { name: 'RcodeServFail', tmpl: 'template ANY ANY {\n  rcode SERVFAIL\n  fallthrough\n }', q: 'test.invalid.', t: 'A', rcode: 'SERVFAIL', answer: [] },
  { name: 'ExampleDomainNameMismatch', tmpl: ipTemplate(), q: 'test.invalid.', t: 'A', fallthrough: true },
  { name: 'BrokenTemplate', tmpl: 'template ANY ANY {\n  match "[.]example[.]$"\n  answer "{{ .Name }} 60 IN TXT \\"{{ index .Match 2 }}\\""\n  fallthrough\n }', q: 'test.example.', t: 'ANY', rcode: 'SERVFAIL', answer: [] },
  { name: 'NonRRTemplate', tmpl: 'template ANY ANY {\n  match "[.]example[.]$"\n  answer "{{ .Name }}"\n  fallthrough\n }', q: 'test.example.', t: 'ANY', rcode: 'SERVFAIL', answer: [] },
  { name: 'NonRRAdditionalTemplate', tmpl: 'template ANY ANY {\n  match "[.]example[.]$"\n  additional "{{ .Name }}"\n  fallthrough\n }', q: 'test.example.', t: 'ANY', rcode: 'SERVFAIL', answer: [] },
  { name: 'NonRRAuthorityTemplate', tmpl: 'template ANY ANY {\n  match "[.]example[.]$"\n  authority "{{ .Name }}"\n  fallthrough\n }', q: 'test.example.', t: 'ANY', rcode: 'SERVFAIL', answer: [] },
  // CoreDNS's test writer has the remote 10.240.0.1; the live client is 127.0.0.1
  { name: 'ExampleIPMatch', tmpl: 'template IN A {\n  match ".*"\n  answer "{{ .Name }} 60 IN A {{ .Remote }}"\n  fallthrough\n }', q: 'test.example.', t: 'A', rcode: 'NOERROR', aa: true, answer: ['test.example. 60 IN A 127.0.0.1'] },
  { name: 'ExampleDomainMatch', tmpl: ipTemplate(), q: 'ip-10-95-12-8.example.', t: 'A', rcode: 'NOERROR', answer: ['ip-10-95-12-8.example. 60 IN A 10.95.12.8'] },
  {
    name: 'ExampleDomainMatchHexIp',
    tmpl: 'template ANY ANY {\n  match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"\n  answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"\n  fallthrough\n }',
    q: 'ip0a5f0c09.example.', t: 'A', rcode: 'NOERROR', answer: ['ip0a5f0c09.example. 60 IN A 10.95.12.9'],
  },
  { name: 'BrokenParseIntTemplate', tmpl: 'template ANY ANY {\n  match "[.]example[.]$"\n  answer "{{ .Name }} 60 IN TXT \\"{{ parseInt \\"gg\\" 16 8 }}\\""\n  fallthrough\n }', q: 'test.example.', t: 'ANY', rcode: 'SERVFAIL', answer: [] },
  {
    name: 'ExampleDomainMXMatch',
    tmpl: 'template ANY ANY {\n  match "(^|[.])ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$"\n  answer "{{ .Name }} 60 MX 10 {{ .Name }}"\n  additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n  fallthrough\n }',
    q: 'ip-10-95-12-8.example.', t: 'MX', rcode: 'NOERROR', answer: ['ip-10-95-12-8.example. 60 IN MX 10 ip-10-95-12-8.example.'], extra: ['ip-10-95-12-8.example. 60 IN A 10.95.12.8'],
  },
  {
    // records without a TTL get 3600, as miekg/dns gives them
    name: 'ExampleDomainANSMatch',
    tmpl: ipTemplate('  additional "ns0.example. IN A 203.0.113.8"\n  authority "example. IN NS ns0.example.com."\n'),
    q: 'ip-10-95-12-8.example.', t: 'A', rcode: 'NOERROR', answer: ['ip-10-95-12-8.example. 60 IN A 10.95.12.8'], extra: ['ns0.example. 3600 IN A 203.0.113.8'], ns: ['example. 3600 IN NS ns0.example.com.'],
  },
  {
    name: 'ExampleInvalidNXDOMAIN',
    tmpl: 'template ANY ANY {\n  match "[.]invalid[.]$"\n  rcode NXDOMAIN\n  answer "invalid. 60 {{ .Class }} SOA a.invalid. b.invalid. (1 60 60 60 60)"\n  fallthrough\n }',
    q: 'test.invalid.', t: 'MX', rcode: 'NXDOMAIN', answer: ['invalid. 60 IN SOA a.invalid. b.invalid. 1 60 60 60 60'],
  },
  {
    // the target is looked up through the server; the backend has no such name (NXDOMAIN), so
    // the CNAME alone is answered, as in CoreDNS's case without an upstream
    name: 'CNAMEWithoutUpstream',
    tmpl: 'template ANY ANY {\n  match "example[.]net[.]"\n  answer "example.net 60 IN CNAME target.example.com"\n  fallthrough\n }',
    q: 'example.net.', t: 'A', rcode: 'NOERROR', answer: ['example.net. 60 IN CNAME target.example.com.'],
  },
  // mdMatch / mdMissing: `.Meta` reads metadata, which typedns does not have (README: differences).
  {
    name: 'mdMatch (typedns: .Meta is refused when the Corefile is loaded)',
    tmpl: ipTemplate().replace('answer "{{ .Name }}', 'answer "{{ .Meta "foo" }}-{{ .Name }}'),
    q: 'ip-10-95-12-8.example.', t: 'A',
  },
  // EDNS error: CoreDNS adds EDE 21 "Blocked due to RFC2606"; typedns accepts `ederror` and sends none.
  {
    name: 'EDNS error (typedns: no EDE option)',
    tmpl: 'template ANY ANY {\n  rcode NXDOMAIN\n  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n  ederror 21 "Blocked due to RFC2606"\n  fallthrough\n }',
    q: 'test.invalid.', t: 'A', rcode: 'NXDOMAIN', answer: [], ns: ['invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60'],
  },
];

async function replay(tmpl: string, key: string, rows: Array<Omit<Row, 'tmpl' | 'name'> & { label?: string }>): Promise<void> {
  const s = await server(`${key}:0 {\n bind 127.0.0.1\n ${tmpl}\n backend\n}\n`, { plugins: [backend] });
  for (const row of rows) {
    const { q, t, qclass, fallthrough, counts, label: _l, ...want } = row;
    const r = await s.query(q, t, { edns: 4096, ...(qclass ? { qclass } : {}) });
    const where = `${q} ${qclass ?? 'IN'} ${t}`;
    expect(fellThrough(r.msg), `${where}: fell through`).toBe(!!fallthrough);
    if (fallthrough) continue;
    try {
      sortAndCheck(r.msg, want);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
    if (counts) expect([r.msg.answers?.length ?? 0, r.msg.authorities?.length ?? 0, (r.msg.additionals ?? []).filter((a) => a.type !== 'OPT').length], where).toEqual(counts);
  }
}

describe('CoreDNS TestHandler', () => {
  it('has 17 rows (mdMissing folded into mdMatch)', () => expect(handlerRows.length).toBe(16));
  it.each(handlerRows.map((r) => [r.name, r] as const))('%s', async (name, row) => {
    if (name.startsWith('mdMatch')) {
      const errs = checkStanza(row.tmpl);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/template: .*Meta/);
      return;
    }
    const { name: _n, tmpl, ...rest } = row;
    await replay(tmpl, '.', [rest]);
  });
});

describe('CoreDNS TestMultiSection (server block test.)', () => {
  const cfg = [
    'template IN A {\n  rcode REFUSED\n }',
    'template IN TXT {\n  match "$^"\n  rcode SERVFAIL\n  fallthrough\n }',
    'template CH TXT coredns.invalid {\n  answer "{{ .Name }} 60 CH TXT \\"test\\""\n }',
    'template IN A example {\n  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n  answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n  fallthrough\n }',
    'template IN MX example {\n  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n  answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n  additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n }',
  ].join('\n ');
  const rows = [
    { q: 'some.test.', t: 'A', rcode: 'REFUSED' },
    { q: 'some.test.', t: 'TXT', fallthrough: true },
    { q: 'coredns.invalid.', t: 'TXT', qclass: 'CH', rcode: 'NOERROR', answer: ['coredns.invalid. 60 CH TXT "test"'] },
    { q: 'ip-10-11-12-13.example.', t: 'A', rcode: 'NOERROR', answer: ['ip-10-11-12-13.example. 60 IN A 10.11.12.13'] },
    { q: 'ip-10-11-12-13.example.', t: 'MX', rcode: 'NOERROR', answer: ['ip-10-11-12-13.example. 60 IN MX 10 ip-10-11-12-13.example.'], extra: ['ip-10-11-12-13.example. 60 IN A 10.11.12.13'] },
  ];
  it(`replays ${rows.length} queries`, async () => {
    // CoreDNS sets the block's keys to test.:8053 but asks for coredns.invalid. and *.example. too;
    // here the block serves the root so those names reach it, and the zone-less templates get
    // `test` as their zone explicitly.
    await replay(cfg.replace('template IN A {', 'template IN A test {').replace('template IN TXT {', 'template IN TXT test {'), '.', rows);
  });
});

describe('CoreDNS TestTruncatedCNAME (cname_test.go)', () => {
  it('a CNAME template for an A query appends the target looked up through the server, and its TC bit', async () => {
    const s = await server(`.:0 {\n bind 127.0.0.1\n template IN A test {\n  match "^cname\\.test\\.$"\n  answer "cname.test. 600 IN CNAME test.up"\n }\n backend\n}\n`, { plugins: [backend] });
    const r = await s.query('cname.test.', 'A', { edns: 4096 });
    expect(r.msg.flag_tc).toBe(true);
    sortAndCheck(r.msg, { rcode: 'NOERROR', answer: ['cname.test. 600 IN CNAME test.up.', 'test.up. 600 IN A 1.2.3.4'] });
  });
});

// setup_test.go: TestSetup (2 rows) and TestSetupParse (27 rows), server block keys domain.com. and
// dynamic.domain.com. (port 8053). [stanza, should parse]
const setupRows: Array<[string, boolean]> = [
  ['template ANY ANY {\n  rcode\n }', false],
  ['template ANY ANY {\n  rcode NXDOMAIN\n }', true],
  ['template', false],
  ['template X', false],
  ['template ANY', false],
  ['template ANY X', false],
  ['template ANY ANY .* {\n  notavailable\n }', false],
  ['template ANY ANY {\n  answer\n }', false],
  ['template ANY ANY {\n  additional\n }', false],
  ['template ANY ANY {\n  rcode\n }', false],
  ['template ANY ANY {\n  rcode UNDEFINED\n }', false],
  ['template ANY ANY {\n  answer "{{"\n }', false],
  ['template ANY ANY {\n  additional "{{"\n }', false],
  ['template ANY ANY {\n  authority "{{"\n }', false],
  ['template ANY ANY {\n  answer "{{ notAFunction }}"\n }', false],
  // Go checks a function's arguments when the template runs; typedns when the Corefile is loaded
  // (a template that can never run is refused up front): see the README.
  ['template ANY ANY {\n  answer "{{ parseInt }}"\n  additional "{{ parseInt }}"\n  authority "{{ parseInt }}"\n }', false],
  ['template ANY ANY (?P<x>', true],
  ['template ANY ANY {\n }', true],
  // `.Grup.d` (sic) parses in Go (fields are resolved when run); typedns checks field names when
  // the Corefile is loaded and refuses it: see the README.
  ['template ANY A example.com {\n  match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n  answer "{{ .Name }} A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Grup.d }}."\n  fallthrough\n }', false],
  ['template ANY AAAA example.com {\n  match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n  authority "example.com 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"\n  fallthrough\n }', true],
  ['template IN ANY example.com {\n  match "[.](example[.]com[.]dc1[.]example[.]com[.])$"\n  rcode NXDOMAIN\n  authority "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.example.com (1 60 60 60 60)"\n  fallthrough example.com\n }', true],
  ['template IN A example {\n  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n  answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n }\n template IN MX example. {\n  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n  answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n  additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n }', true],
  ['template IN A example {\n  match ^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$\n  answer "{{ .Name }} 3600 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"\n }', true],
  ['template IN MX example {\n  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n  answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n  additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n  authority  "example. 60 IN NS ns0.example."\n  authority  "example. 60 IN NS ns1.example."\n  additional "ns0.example. 60 IN A 203.0.113.8"\n  additional "ns1.example. 60 IN A 198.51.100.8"\n }', true],
  ['template ANY ANY invalid {\n  rcode NXDOMAIN\n  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n  ederror 21 "Blocked according to RFC2606"\n }', true],
  ['template ANY ANY invalid {\n  rcode NXDOMAIN\n  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n  ederror invalid "Blocked according to RFC2606"\n }', false],
  ['template ANY ANY invalid {\n  rcode NXDOMAIN\n  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n  ederror too many arguments\n }', false],
];

describe('CoreDNS TestSetup / TestSetupParse', () => {
  it('has 27 rows', () => expect(setupRows.length).toBe(27));
  it.each(setupRows)('%j parses: %s', (stanza, ok) => {
    const errs = checkCorefile(`domain.com.:8053 dynamic.domain.com.:8053 {\n ${stanza}\n}\n`);
    if (ok) expect(errs).toEqual([]);
    else {
      expect(errs.length).toBeGreaterThan(0);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/template: /);
    }
  });
});

