// template through the chain (in process: what crosses a socket is tested in test/integration): the README's examples (NXDOMAIN everything, SOA/NS, named groups,
// parseInt, CNAME), fallthrough vs SERVFAIL, class/type filters, metrics and Corefile errors.
import { describe, expect, it } from 'vitest';
import { CorefileError, RCODE } from '../../src/plugin/api.js';
import { parsePlugin, sortAndCheck, startInProcess, type InProcessServer } from '../../src/testing/index.js';
import template from './index.js';
import { compileTemplate, type TemplateData } from './gotemplate.js';

async function withServer(zone: string, body: string, fn: (s: InProcessServer) => Promise<void>): Promise<void> {
  const s = await startInProcess(`${zone}:0 {\n  bind 127.0.0.1\n${body}\n  whoami\n}\n`);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

describe('answers', () => {
  it('resolves everything to NXDOMAIN', async () => {
    await withServer('.', '  template ANY ANY {\n    rcode NXDOMAIN\n  }', async (s) => {
      const r = await s.query('anything.example.', 'A');
      sortAndCheck(r.msg, { rcode: 'NXDOMAIN', aa: true, answer: [] });
    });
  });

  it('named groups build A and PTR answers; fallthrough passes other names on', async () => {
    const body = `  template IN A example {
    match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
    answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    fallthrough
  }
  template IN PTR in-addr.arpa {
    match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$
    answer "{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example."
  }`;
    await withServer('.', body, async (s) => {
      sortAndCheck((await s.query('ip-10-1-2-3.example', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['ip-10-1-2-3.example. 60 IN A 10.1.2.3'] });
      sortAndCheck((await s.query('Sub.IP-10-1-2-3.example', 'A')).msg, { answer: ['sub.ip-10-1-2-3.example. 60 IN A 10.1.2.3'] });
      sortAndCheck((await s.query('3.2.1.10.in-addr.arpa', 'PTR')).msg, { answer: ['3.2.1.10.in-addr.arpa. 60 IN PTR ip-10-1-2-3.example.'] });
      // no regex match + fallthrough → whoami answers (additional section holds the client)
      const o = await s.query('other.example', 'A');
      expect(o.msg.additionals?.length).toBeGreaterThan(0);
      // a type the template does not serve passes on too
      expect((await s.query('ip-10-1-2-3.example', 'MX')).msg.additionals?.length).toBeGreaterThan(0);
      // no regex match without fallthrough → SERVFAIL
      expect((await s.query('x.in-addr.arpa', 'PTR')).rcode).toBe(RCODE.SERVFAIL);
    });
  });

  it('parseInt, index .Match, additional and authority sections', async () => {
    const body = `  template IN A example {
    match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"
    answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt (index .Match 3) 16 8 }}"
    authority "example. 60 IN NS ns0.example."
    additional "ns0.example. 60 IN A 203.0.113.8"
  }`;
    // index inside parentheses is not supported; expect a Corefile error naming the line
    await expect(startInProcess(`.:0 {\n  bind 127.0.0.1\n${body}\n}\n`)).rejects.toThrow(/Corefile:5 .*unsupported template syntax/);
    const ok = body.replace('(index .Match 3)', '.Group.d');
    await withServer('.', ok, async (s) => {
      sortAndCheck((await s.query('ip0a7b7b0c.example', 'A')).msg, {
        answer: ['ip0a7b7b0c.example. 60 IN A 10.123.123.12'],
        ns: ['example. 60 IN NS ns0.example.'],
        extra: ['ns0.example. 60 IN A 203.0.113.8'],
      });
    });
  });

  it('SOA with parentheses, .Zone and .Class, for a block zone', async () => {
    const body = `  template IN SOA {
    match ^engineering\\.coredns\\.io\\.$
    answer "{{ .Zone }} 3600 {{ .Class }} SOA ns1.{{ .Zone }} admin.{{ .Zone }} (1 60 120 86400 3600)"
    fallthrough
  }
  template IN SOA {
    rcode NXDOMAIN
    authority "{{ .Zone }} 3600 IN SOA ns1.{{ .Zone }} admin.{{ .Zone }} (1 60 120 86400 3600)"
  }`;
    await withServer('engineering.coredns.io.', body, async (s) => {
      sortAndCheck((await s.query('engineering.coredns.io', 'SOA')).msg, {
        rcode: 'NOERROR',
        answer: ['engineering.coredns.io. 3600 IN SOA ns1.engineering.coredns.io. admin.engineering.coredns.io. 1 60 120 86400 3600'],
      });
      sortAndCheck((await s.query('sub.engineering.coredns.io', 'SOA')).msg, {
        rcode: 'NXDOMAIN',
        answer: [],
        ns: ['engineering.coredns.io. 3600 IN SOA ns1.engineering.coredns.io. admin.engineering.coredns.io. 1 60 120 86400 3600'],
      });
    });
  });

  it('fabricates a CNAME for ANY type, and an ANY query matches a typed template', async () => {
    await withServer('.', '  template IN ANY foogle.com {\n    match "^foogle\\.com\\.$"\n    answer "foogle.com 60 IN CNAME google.com"\n  }', async (s) => {
      sortAndCheck((await s.query('foogle.com', 'AAAA')).msg, { answer: ['foogle.com. 60 IN CNAME google.com.'] });
    });
    await withServer('.', '  template IN TXT {\n    answer "{{ .Name }} 5 IN TXT \\"{{ .Type }} {{ .Remote }}\\""\n  }', async (s) => {
      sortAndCheck((await s.query('t.example', 'TXT')).msg, { answer: ['t.example. 5 IN TXT "TXT 127.0.0.1"'] });
      sortAndCheck((await s.query('t.example', 'ANY')).msg, { answer: ['t.example. 5 IN TXT "ANY 127.0.0.1"'] });
    });
  });

  it('a record that does not parse answers SERVFAIL and is counted', async () => {
    await withServer('.', '  template IN A {\n    answer "{{ .Name }} 60 IN A 10.0.0.{{ .Name }}"\n  }', async (s) => {
      expect((await s.query('bad.example', 'A')).rcode).toBe(RCODE.SERVFAIL);
      const text = await s.metrics.registry.metrics();
      expect(text).toMatch(/^coredns_template_rr_failures_total\{.*section="answer".*\} 1$/m);
      expect(text).toMatch(/^coredns_template_matches_total\{.*zone="\.",view="",class="IN",type="A"\} 1$/m);
    });
  });
});

describe('gotemplate subset', () => {
  const data: TemplateData = {
    Name: 'a.b.',
    Zone: 'b.',
    Class: 'IN',
    Type: 'A',
    Remote: '10.0.0.9',
    Match: ['a.b.', 'a'],
    Group: { '0': 'a.b.', '1': 'a', x: 'a' },
    Question: { Name: 'a.b.', Qtype: 1, Qclass: 1 },
    Message: { Id: 7, Question: [{ Name: 'a.b.', Qtype: 1, Qclass: 1 }] },
  };
  const cases: Array<[string, string]> = [
    ['{{ .Name }}', 'a.b.'],
    ['{{.Zone}}', 'b.'],
    ['{{ index .Match 1 }}-{{ index .Group "x" }}', 'a-a'],
    ['{{ .Group.x }} {{ .Question.Qtype }} {{ .Message.Id }}', 'a 1 7'],
    ['x  {{- .Type -}}  y', 'xAy'],
    ['{{ parseInt "ff" 16 8 }}', '255'],
    ['{{ .Message.Question }}', '[{a.b. 1 1}]'],
  ];
  for (const [src, want] of cases) it(src, () => expect(compileTemplate(src).execute(data)).toBe(want));

  it('rejects unsupported syntax and fails at run time on bad input', () => {
    expect(() => compileTemplate('{{ .Nope }}')).toThrow(/unknown field/);
    expect(() => compileTemplate('{{ $x := 1 }}')).toThrow(/unsupported/);
    expect(() => compileTemplate('{{ .Name | printf }}')).toThrow(/unsupported/);
    expect(() => compileTemplate('{{ .Name ')).toThrow(/unclosed/);
    expect(() => compileTemplate('{{ index .Match 5 }}').execute(data)).toThrow(/index out of range/);
    expect(() => compileTemplate('{{ parseInt "zz" 16 8 }}').execute(data)).toThrow(/invalid syntax/);
    expect(() => compileTemplate('{{ parseInt "1ff" 16 8 }}').execute(data)).toThrow(/out of range/);
  });
});

describe('Corefile errors name file:line', () => {
  const bad: Array<[string, RegExp]> = [
    ['template IN', /Testfile:1 .*wrong argument count/],
    ['template XX A', /Testfile:1 .*invalid query class/],
    ['template IN BOGUS', /Testfile:1 .*invalid RR type/],
    ['template IN A {\n  match ([\n}', /Testfile:2 .*could not parse regex/],
    ['template IN A {\n  rcode NOPE\n}', /Testfile:2 .*unknown rcode/],
    ['template IN A {\n  answer "{{ .Foo }}"\n}', /Testfile:2 .*could not compile template/],
    ['template IN A {\n  frob\n}', /Testfile:2 .*unknown property 'frob'/],
    ['template IN A {\n  answer\n}', /Testfile:2 .*wrong argument count/],
  ];
  for (const [text, re] of bad) {
    it(text.replace(/\n/g, ' '), () => {
      let err: unknown;
      try {
        parsePlugin(template, text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorefileError);
      expect((err as CorefileError).message).toMatch(re);
    });
  }
});
