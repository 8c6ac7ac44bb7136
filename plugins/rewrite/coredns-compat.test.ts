// CoreDNS's own rewrite-plugin expectations (plugin/rewrite: rewrite_test.go, name_test.go,
// reverter_test.go, setup_test.go, ttl_test.go, rcode_test.go, edns0_test.go,
// cname_target_test.go) replayed against typedns: which rules parse, and what a real server with
// the rules in front of a test backend answers.
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { RCODE, type RR } from '../../src/plugin/api.js';
import { parsePlugin, responder, rr, rrText } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { rulesOver, seenOf } from '../../test/support/rewrite.js';
import rewrite from './index.js';

const parses = (args: string): boolean => {
  try {
    parsePlugin(rewrite, `rewrite ${args}`);
    return true;
  } catch {
    return false;
  }
};

/** [arguments, should parse] from CoreDNS's TestNewRule, TestNewNameRule, TestNewTTLRule, TestNewRCodeRule. */
const ruleTable: Array<[string, boolean]> = [
  ['', false],
  ['foo', false],
  ['name', false],
  ['name a.com', false],
  ['name a.com b.com c.com', false],
  ['name a.com b.com', true],
  ['name exact a.com b.com', true],
  ['name prefix a.com b.com', true],
  ['name suffix a.com b.com', true],
  ['name substring a.com b.com', true],
  ['name regex ([a])\\.com new-{1}.com', true],
  ['name regex ([a]\\.com new-{1}.com', false],
  ['name regex (dns)\\.(core)\\.(rocks) {2}.{1}.{3} answer name (core)\\.(dns)\\.(rocks) {2}.{1}.{3}', true],
  ['name regex (adns)\\.(core)\\.(rocks) {2}.{1}.{3} answer name (core)\\.(adns)\\.(rocks) {2}.{1}.{3} too.long way.too.long', false],
  ['name regex (bdns)\\.(core)\\.(rocks) {2}.{1}.{3} NoAnswer name (core)\\.(bdns)\\.(rocks) {2}.{1}.{3}', false],
  ['name regex (cdns)\\.(core)\\.(rocks) {2}.{1}.{3} answer ttl (core)\\.(cdns)\\.(rocks) {2}.{1}.{3}', false],
  ['name substring fcore.dns.rocks dns.fcore.rocks answer name (fcore)\\.(dns)\\.(rocks) {2}.{1}.{3}', true],
  ['name substring a.com b.com c.com', false],
  // name.go parseAnswerRules: auto and explicit name answer rules do not mix
  ['name regex (.*).a.com {1}.b.com answer auto answer name (.*).b.com {1}.a.com', false],
  ['type', false],
  ['type a', false],
  ['type any a a', false],
  ['type any a', true],
  ['type XY WV', false],
  ['type ANY WV', false],
  ['class', false],
  ['class IN', false],
  ['class ch in in', false],
  ['class ch in', true],
  ['class XY WV', false],
  ['class IN WV', false],
  ['edns0', false],
  ['edns0 local', false],
  ['edns0 local set', false],
  ['edns0 local set 0xffee', false],
  ['edns0 local set 65518 abcdefg', true],
  ['edns0 local set 0xffee abcdefg', true],
  ['edns0 local append 0xffee abcdefg', true],
  ['edns0 local replace 0xffee abcdefg', true],
  ['edns0 local foo 0xffee abcdefg', false],
  ['edns0 local set 0xffee 0xabcdefg', false],
  ['edns0 nsid set junk', false],
  ['edns0 nsid set', true],
  ['edns0 nsid append', true],
  ['edns0 nsid replace', true],
  ['edns0 nsid foo', false],
  ['edns0 local set 0xffee {dummy}', false],
  ...['set', 'append', 'replace'].flatMap((op): Array<[string, boolean]> =>
    ['{qname}', '{qtype}', '{client_ip}', '{client_port}', '{protocol}', '{server_ip}', '{server_port}'].map((v) => [`edns0 local ${op} 0xffee ${v}`, true]),
  ),
  ['edns0 local append 0xffee {dummy}', false],
  ['edns0 local replace 0xffee {dummy}', false],
  ['edns0 subnet set -1 56', false],
  ['edns0 subnet set 24 -56', false],
  ['edns0 subnet set 33 56', false],
  ['edns0 subnet set 24 129', false],
  ['edns0 subnet set 24 56', true],
  ['edns0 subnet append 24 56', true],
  ['edns0 subnet replace 24 56', true],
  ['unknown-action name a.com b.com', false],
  ['stop name a.com b.com', true],
  ['continue name a.com b.com', true],
  ['unknown-action type any a', false],
  ['stop type any a', true],
  ['continue class ch in', true],
  ['unknown-action edns0 local set 0xffee abcedef', false],
  ['continue edns0 nsid set', true],
  ['unknown-action edns0 subnet set 24 64', false],
  ['continue edns0 subnet replace 24 56', true],
  // TestNewNameRule
  ['name exact srv3.coredns.rocks srv4.coredns.rocks', true],
  ['name srv1.coredns.rocks srv2.coredns.rocks', true],
  ['name suffix coredns.rocks coredns.rocks.', true],
  ['name suffix coredns.rocks. coredns.rocks', true],
  ['name regex srv1.coredns.rocks 10', true],
  ['name regex (.*).coredns.rocks 10', true],
  ['name regex (.*).coredns.rocks {1}.coredns.rocks', true],
  ['name regex (.*).coredns.rocks {1}.{2}.coredns.rocks', false],
  ['name regex staging.mydomain.com aws-loadbalancer-id.us-east-1.elb.amazonaws.com', true],
  ['name suffix staging.mydomain.com coredns.rock answer', false],
  ['name suffix staging.mydomain.com coredns.rock answer name', false],
  ['name suffix staging.mydomain.com coredns.rock answer other', false],
  ['name suffix staging.mydomain.com coredns.rock answer auto', true],
  ['name regex staging.mydomain.com coredns.rock answer auto', true],
  ['name regex staging.mydomain.com coredns.rock answer name', false],
  ['name regex staging.mydomain.com coredns.rock answer name coredns.rock staging.mydomain.com', true],
  ['name regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.{2}.staging.mydomain.com', false],
  ['name regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com name (.*).coredns.rock {1}.staging.mydomain.com', true],
  ['name regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com answer name (.*).coredns.rock {1}.staging.mydomain.com', true],
  ['name regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com name (.*).coredns.rock', false],
  ['name regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock {1}.staging.mydomain.com', true],
  ['name regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock', false],
  ['name suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock {1}.staging.mydomain.com', true],
  ['name suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com name (.*).coredns.rock {1}.staging.mydomain.com', true],
  ['name suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock', false],
  [`name regex ${'a'.repeat(10_001)} replacement`, false],
  // TestNewTTLRule
  ...['stop', 'continue'].flatMap((m): Array<[string, boolean]> => [
    [`${m} ttl srv1.coredns.rocks 10`, true],
    [`${m} ttl exact srv1.coredns.rocks 15`, true],
    [`${m} ttl prefix coredns.rocks 20`, true],
    [`${m} ttl suffix srv1 25`, true],
    [`${m} ttl substring coredns 30`, true],
    [`${m} ttl regex (srv1)\\.(coredns)\\.(rocks) 35`, true],
  ]),
  ['ttl srv1.coredns.rocks 12345678901234567890', false],
  ['ttl srv1.coredns.rocks coredns.rocks', false],
  // CoreDNS's ttl_test.go lists -1 as invalid, but its current isValidTTL reads it as the range
  // 0-1 (MIN omitted), as typedns does.
  ['ttl srv1.coredns.rocks -1', true],
  // TestNewRCodeRule
  ['rcode numeric.rcode.coredns.rocks 2 0', true],
  ['rcode too.few.rcode.coredns.rocks 2', false],
  ['rcode exact too.many.rcode.coredns.rocks 2 1 0', false],
  ['rcode exact match.string.rcode.coredns.rocks SERVFAIL NOERROR', true],
  ['continue rcode regex (regex)\\.rcode\\.(coredns)\\.(rocks) FORMERR NOERROR', true],
  ['rcode invalid.rcode.coredns.rocks random nothing', false],
  [`rcode regex ${'a'.repeat(10_001)} SERVFAIL NXDOMAIN`, false],
  // cname_target_test.go
  ['continue cname exact def.example.com xyz.example.com', true],
  ['continue cname regex (.*)\\.web\\.(.*)\\.site\\. {1}.webapp.{2}.org.', true],
  [`cname regex ${'a'.repeat(10_001)} replacement`, false],
];

describe('CoreDNS rule parsing (TestNewRule, TestNewNameRule, TestNewTTLRule, TestNewRCodeRule)', () => {
  it.each(ruleTable.map(([a, ok]) => [a.length > 90 ? `${a.slice(0, 60)}…` : a, a, ok] as const))('%s', (_label, args, ok) => {
    expect(parses(args)).toBe(ok);
  });
});

describe('CoreDNS setup_test.go', () => {
  it('the block form: a name rule then answer rules', () => {
    expect(parses('stop {\n  name regex foo bar\n  answer name bar foo\n}')).toBe(true);
    expect(parses('stop name regex foo bar answer name bar foo')).toBe(true);
    // a second name rule in the block, and a block not starting with a name rule, are errors
    expect(() => parsePlugin(rewrite, 'rewrite stop {\n  name regex foo bar\n  answer name bar foo\n  name baz qux\n}')).toThrow();
    expect(() => parsePlugin(rewrite, 'rewrite stop {\n  answer name bar foo\n  name regex foo bar\n}')).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Behaviour, through a server. The backend plays CoreDNS's msgPrinter: it answers
// `<name it saw> 5 IN A 10.0.0.1` unless the name has fixed records below, and reports the
// question and EDNS0 options it saw in a TXT record named `seen.` in the additional section.

const fixed = new Map<string, { answers: RR[]; extra?: RR[]; tc?: boolean }>([
  ['dns.core.rocks.', { answers: [rr('dns.core.rocks. 5 IN A 10.0.0.1'), rr('dns.core.rocks. 5 IN A 10.0.0.2')] }],
  ['my.cluster.local.', { answers: [rr('my.cluster.local. 5 IN SRV 0 100 100 srv1.my.cluster.local.')], extra: [rr('srv1.my.cluster.local. 5 IN A 10.0.0.1')] }],
  ['srv20.coredns.rocks.', { answers: [rr('srv20.coredns.rocks. 5 IN A 10.0.0.22'), rr('srv20.coredns.rocks. 5 IN A 10.0.0.23')] }],
  ['xmpp.coredns.rocks.', { answers: [rr('xmpp.coredns.rocks. 5 IN SRV 0 100 100 srvxmpp.coredns.rocks.')] }],
  // cname_target_test.go: what the chain answers for the original and for the rewritten targets
  ['abc.example.com.', { answers: [rr('abc.example.com. 5 IN CNAME def.example.com.'), rr('def.example.com. 5 IN A 1.2.3.4')] }],
  ['xyz.example.com.', { answers: [rr('xyz.example.com. 3600 IN A 3.4.5.6')] }],
  ['chat.openai.com.', { answers: [rr('chat.openai.com. 20 IN CNAME chat.openai.com.cdn.cloudflare.net.'), rr('chat.openai.com.cdn.cloudflare.net. 30 IN A 23.2.1.2')] }],
  ['bard.google.com.cdn.cloudflare.net.', { answers: [rr('bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1')] }],
  ['coredns.io.', { answers: [rr('coredns.io. 100 IN CNAME www.hosting.uvw.'), rr('www.hosting.uvw. 200 IN A 7.2.3.4')] }],
  ['www.hosting.xyz.', { answers: [rr('www.hosting.xyz. 500 IN A 20.30.40.50')] }],
  ['core.dns.rocks.', { answers: [rr('core.dns.rocks. 200 IN CNAME abcd.efgh.pqrst.'), rr('abcd.efgh.pqrst. 100 IN A 200.30.45.67')] }],
  ['abcd.zzzz.www.pqrst.', { answers: [rr('abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1'), rr('abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2')] }],
  ['order.service.eu.', { answers: [rr('order.service.eu. 200 IN CNAME orders.web.eu.site.'), rr('orders.web.eu.site. 50 IN A 10.10.15.1')] }],
  ['orders.webapp.eu.org.', { answers: [rr('orders.webapp.eu.org. 120 IN A 20.0.0.9')] }],
  ['music.spotify.com.', { answers: [rr('music.spotify.com. 200 IN CNAME music.truncated.spotify.com.')] }],
  ['music.truncated.spotify.com.', { answers: [rr('music.truncated.spotify.com. 120 IN A 10.1.0.9')], tc: true }],
  [
    'cname-chain.org.',
    {
      answers: [
        rr('cname-chain.org. 200 IN CNAME intermediate-1.com.'),
        rr('intermediate-1.com. 200 IN CNAME intermediate-2.prod.'),
        rr('intermediate-2.prod. 200 IN CNAME final.prod.net.'),
        rr('final.prod.net. 120 IN A 1.2.3.4'),
      ],
    },
  ],
  ['intermediate-2.staging.', { answers: [rr('intermediate-2.staging. 200 IN CNAME final.staging.net.'), rr('final.staging.net. 120 IN A 5.6.7.8')] }],
]);

const backend = responder('responder', (req, w) => {
  const opt = req.msg.additionals?.find((a) => a.type === 'OPT') as { options?: Array<{ code: number; data?: Buffer }> } | undefined;
  const opts = opt === undefined ? 'noopt' : (opt.options ?? []).map((o) => `${o.code}=${o.data ? Buffer.from(o.data).toString('hex') : ''}`).join(',');
  const seen: RR = { name: 'seen', type: 'TXT', ttl: 0, class: 'IN', data: [`${req.name} ${req.qtype} ${req.qclass} ${opts}`] };
  const f = fixed.get(req.name);
  const answers = f?.answers ?? [{ name: req.name, type: 'A', ttl: 5, class: 'IN', data: '10.0.0.1' } as RR];
  w.write({ type: 'response', flags: f?.tc ? dnsPacket.TRUNCATED_RESPONSE : 0, answers, additionals: [...(f?.extra ?? []), seen] });
  return RCODE.NOERROR;
});

const { inProcess } = scopedPerTest();
const withServer = rulesOver(inProcess, backend);
const answers = (m: dnsPacket.DecodedPacket): string[] => (m.answers ?? []).map(rrText);
const extras = (m: dnsPacket.DecodedPacket): string[] => (m.additionals ?? []).filter((a) => a.type !== 'OPT' && a.name !== 'seen').map(rrText);

describe('CoreDNS TestRewrite / TestRewriteDefaultRevertPolicy', () => {
  const rules = [
    'rewrite name from.nl. to.nl.',
    'rewrite name regex (core)\\.(dns)\\.(rocks)\\.(nl) {2}.{1}.{3}.{4} answer name (dns)\\.(core)\\.(rocks)\\.(nl) {2}.{1}.{3}.{4}',
    'rewrite name exact from.exact.nl. to.nl.',
    'rewrite name prefix prefix to',
    'rewrite name suffix .suffix. .nl.',
    'rewrite name substring from.substring to',
    'rewrite name regex (f.*m)\\.regex\\.(nl) to.{2}',
    'rewrite continue name regex consul\\.(rocks) core.dns.{1}',
    'rewrite name core.dns.rocks to.nl.',
    'rewrite continue class HS CH',
    'rewrite class CH IN',
    'rewrite type ANY HINFO',
  ].join('\n');
  // [qname, qtype, qclass] → what the backend sees [name, type, class]
  const table: Array<[string, string, string, string, number, number]> = [
    ['from.nl.', 'A', 'IN', 'to.nl.', 1, 1],
    ['a.nl.', 'A', 'IN', 'a.nl.', 1, 1],
    ['a.nl.', 'A', 'CH', 'a.nl.', 1, 1],
    ['a.nl.', 'ANY', 'IN', 'a.nl.', 13, 1],
    ['from.nl.', 'ANY', 'IN', 'to.nl.', 255, 1],
    ['from.exact.nl.', 'A', 'IN', 'to.nl.', 1, 1],
    ['prefix.nl.', 'A', 'IN', 'to.nl.', 1, 1],
    ['to.suffix.', 'A', 'IN', 'to.nl.', 1, 1],
    ['from.substring.nl.', 'A', 'IN', 'to.nl.', 1, 1],
    ['from.regex.nl.', 'A', 'IN', 'to.nl.', 1, 1],
    ['consul.rocks.', 'A', 'IN', 'to.nl.', 1, 1],
    ['a.nl.', 'ANY', 'CH', 'a.nl.', 255, 1],
    ['core.dns.rocks.nl.', 'A', 'IN', 'dns.core.rocks.nl.', 1, 1],
  ];
  it('each question reaches the backend rewritten; the client sees its own question', async () => {
    await withServer(rules, async (s) => {
      for (const [q, t, c, name, type, cls] of table) {
        const r = await s.query(q, t, { qclass: c });
        expect(seenOf(r.msg), `${q} ${t} ${c}`).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')} ${type} ${cls} `));
        expect(r.msg.questions?.[0]).toMatchObject({ name: q.slice(0, -1), type: t });
      }
    });
  });

  it('class HS never reaches the rules: the server refuses classes other than IN and CH, as CoreDNS\'s server does', async () => {
    // CoreDNS's table has HS → CH → IN via two class rules; its unit test calls the plugin directly.
    await withServer(rules, async (s) => {
      expect((await s.query('a.nl', 'ANY', { qclass: 'HS' })).rcode).toBe(RCODE.REFUSED);
    });
  });

  it('answers are mapped back only by exact rules, answer auto and answer name (default revert policy)', async () => {
    await withServer(rules, async (s) => {
      // prefix/suffix/substring/regex without `answer`: the answer keeps the rewritten name
      for (const q of ['prefix.nl.', 'to.suffix.', 'from.substring.nl.', 'from.regex.nl.']) {
        expect(answers((await s.query(q, 'A')).msg), q).toEqual(['to.nl. 5 IN A 10.0.0.1']);
      }
      expect(answers((await s.query('from.nl.', 'A')).msg)).toEqual(['from.nl. 5 IN A 10.0.0.1']);
      expect(answers((await s.query('core.dns.rocks.nl.', 'A')).msg)).toEqual(['core.dns.rocks.nl. 5 IN A 10.0.0.1']);
    });
  });
});

describe('CoreDNS name_test.go', () => {
  it('prefix and suffix rewrites, with and without answer auto', async () => {
    const cases: Array<[string, string, string, string]> = [
      // rule, question, name the backend sees, answer owner
      ['prefix foo bar', 'foo.example.com.', 'bar.example.com.', 'bar.example.com.'],
      ['prefix foo. bar.', 'foo.example.com.', 'bar.example.com.', 'bar.example.com.'],
      ['suffix com org', 'foo.example.com.', 'foo.example.org.', 'foo.example.org.'],
      ['suffix .com .org', 'foo.example.com.', 'foo.example.org.', 'foo.example.org.'],
      ['suffix .ingress.coredns.rocks nginx.coredns.rocks', 'coredns.ingress.coredns.rocks.', 'corednsnginx.coredns.rocks.', 'corednsnginx.coredns.rocks.'],
      ['prefix foo bar answer auto', 'foo.example.com.', 'bar.example.com.', 'foo.example.com.'],
      ['prefix foo. bar. answer auto', 'foo.example.com.', 'bar.example.com.', 'foo.example.com.'],
      ['suffix com org answer auto', 'foo.example.com.', 'foo.example.org.', 'foo.example.com.'],
      ['suffix .com .org answer auto', 'foo.example.com.', 'foo.example.org.', 'foo.example.com.'],
      ['suffix .ingress.coredns.rocks nginx.coredns.rocks answer auto', 'coredns.ingress.coredns.rocks.', 'corednsnginx.coredns.rocks.', 'coredns.ingress.coredns.rocks.'],
      // no rewrite
      ['prefix foo bar', 'coredns.foo.', 'coredns.foo.', 'coredns.foo.'],
      ['prefix foo bar.', 'coredns.foo.', 'coredns.foo.', 'coredns.foo.'],
      ['suffix com org', 'com.coredns.', 'com.coredns.', 'com.coredns.'],
      ['suffix com org.', 'com.coredns.', 'com.coredns.', 'com.coredns.'],
      ['substring service svc', 'com.coredns.', 'com.coredns.', 'com.coredns.'],
      // exact
      ['exact coredns.rocks service.consul answer auto', 'coredns.rocks.', 'service.consul.', 'coredns.rocks.'],
      ['exact coredns.rocks. service.consul. answer auto', 'coredns.rocks.', 'service.consul.', 'coredns.rocks.'],
      ['exact coredns.rocks service.consul', 'coredns.rocks.', 'service.consul.', 'coredns.rocks.'],
      ['exact coredns.rocks. service.consul.', 'coredns.rocks.', 'service.consul.', 'coredns.rocks.'],
      ['exact coredns.org. service.consul.', 'coredns.rocks.', 'coredns.rocks.', 'coredns.rocks.'],
      // regex
      ['regex (.*).coredns.rocks {1}.coredns.maps answer auto', 'foo.coredns.rocks.', 'foo.coredns.maps.', 'foo.coredns.rocks.'],
      ['regex (.*).coredns.rocks {1}.coredns.maps answer name (.*).coredns.maps {1}.coredns.works', 'foo.coredns.rocks.', 'foo.coredns.maps.', 'foo.coredns.works.'],
      ['regex (.*).coredns.rocks {1}.coredns.maps', 'foo.coredns.rocks.', 'foo.coredns.maps.', 'foo.coredns.maps.'],
    ];
    for (const [rule, q, seen, owner] of cases) {
      await withServer(`  rewrite name ${rule}`, async (s) => {
        const r = await s.query(q, 'A');
        expect(seenOf(r.msg), rule).toMatch(new RegExp(`^${seen.replace(/\./g, '\\.')} 1 1 `));
        expect(answers(r.msg), rule).toEqual([`${owner} 5 IN A 10.0.0.1`]);
      });
    }
  });

  it('TestRewriteIllegalName: a rewrite to an illegal name fails (typedns: SERVFAIL to the client)', async () => {
    await withServer('  rewrite name example.org. example..org.', async (s) => {
      expect((await s.query('example.org', 'A')).rcode).toBe(RCODE.SERVFAIL);
    });
  });
});

describe('CoreDNS reverter_test.go', () => {
  for (const mode of ['stop', 'continue']) {
    it(`answer name maps owner names back (${mode})`, async () => {
      await withServer(`  rewrite ${mode} name regex (core)\\.(dns)\\.(rocks) {2}.{1}.{3} answer name (dns)\\.(core)\\.(rocks) {2}.{1}.{3}`, async (s) => {
        const r = await s.query('core.dns.rocks', 'A');
        expect(r.msg.questions?.[0]?.name).toBe('core.dns.rocks');
        expect(answers(r.msg).sort()).toEqual(['core.dns.rocks. 5 IN A 10.0.0.1', 'core.dns.rocks. 5 IN A 10.0.0.2']);
      });
    });
    it(`SRV: answer name maps the owner, the target stays unless answer value (${mode})`, async () => {
      await withServer(`  rewrite ${mode} name regex (.*)\\.domain\\.uk {1}.cluster.local answer name (.*)\\.cluster\\.local {1}.domain.uk`, async (s) => {
        const r = await s.query('my.domain.uk', 'SRV');
        expect(r.msg.questions?.[0]).toMatchObject({ name: 'my.domain.uk', type: 'SRV' });
        // CoreDNS's reverter_test.go expects the SRV target mapped as well; its current code
        // (nameRewriterResponseRule) maps owner names only, as typedns does: the target is a
        // value, mapped by `answer value` (next test). Owners are mapped in every section.
        expect(answers(r.msg)).toEqual(['my.domain.uk. 5 IN SRV 0 100 100 srv1.my.cluster.local.']);
        expect(extras(r.msg)).toEqual(['srv1.my.domain.uk. 5 IN A 10.0.0.1']);
      });
    });
  }
});

describe('answer value maps the SRV target', () => {
  it('answer name + answer value', async () => {
    await withServer('  rewrite name regex (.*)\\.domain\\.uk {1}.cluster.local answer name (.*)\\.cluster\\.local {1}.domain.uk answer value (.*)\\.cluster\\.local {1}.domain.uk', async (s) => {
      const r = await s.query('my.domain.uk', 'SRV');
      expect(answers(r.msg)).toEqual(['my.domain.uk. 5 IN SRV 0 100 100 srv1.my.domain.uk.']);
      expect(extras(r.msg)).toEqual(['srv1.my.domain.uk. 5 IN A 10.0.0.1']);
    });
  });
});

describe('CoreDNS ttl_test.go', () => {
  it('TestTtlRewrite', async () => {
    const rules = [
      'rewrite stop ttl srv1.coredns.rocks 1',
      'rewrite stop ttl exact srv15.coredns.rocks 15',
      'rewrite stop ttl prefix srv30 30',
      'rewrite stop ttl suffix 45.coredns.rocks 45',
      'rewrite stop ttl substring rv50 50',
      'rewrite stop ttl regex (srv10)\\.(coredns)\\.(rocks) 10',
      'rewrite stop ttl regex (srv20)\\.(coredns)\\.(rocks) 20',
    ].join('\n');
    const cases: Array<[string, string, number]> = [
      ['srv1.coredns.rocks.', 'A', 1],
      ['srv15.coredns.rocks.', 'A', 15],
      ['srv30.coredns.rocks.', 'A', 30],
      ['srv45.coredns.rocks.', 'A', 45],
      ['srv50.coredns.rocks.', 'A', 50],
      ['srv10.coredns.rocks.', 'A', 10],
      ['xmpp.coredns.rocks.', 'SRV', 5],
      ['srv15.coredns.rocks.', 'HINFO', 15],
      ['srv20.coredns.rocks.', 'A', 20],
    ];
    await withServer(rules, async (s) => {
      for (const [q, t, ttl] of cases) {
        const r = await s.query(q, t);
        expect(r.msg.answers?.length, q).toBeGreaterThan(0);
        for (const a of r.msg.answers ?? []) expect((a as { ttl: number }).ttl, `${q} ${t}`).toBe(ttl);
      }
    });
  });
});

describe('CoreDNS rcode_test.go', () => {
  it('TestRCodeRewrite: SERVFAIL becomes FORMERR for the matching name', async () => {
    const sf = responder('sfail', (req, w) => {
      w.write({ type: 'response', flags: RCODE.SERVFAIL, answers: [{ name: req.name, type: 'A', ttl: 5, class: 'IN', data: '10.0.0.1' }] });
      return RCODE.SERVFAIL;
    });
    const s = await inProcess('.:0 {\n  bind 127.0.0.1\n  rewrite rcode exact srv1.coredns.rocks SERVFAIL FORMERR\n  sfail\n}\n', { plugins: [sf] });
    expect((await s.query('srv1.coredns.rocks', 'A')).rcode).toBe(RCODE.FORMERR);
    expect((await s.query('srv2.coredns.rocks', 'A')).rcode).toBe(RCODE.SERVFAIL);
  });
});

describe('CoreDNS EDNS0 tests (TestRewriteEDNS0Local, TestEdns0LocalMultiRule, variables, subnet)', () => {
  const sees = async (rule: string, want: string, o: { edns?: boolean; tcp?: boolean } = {}): Promise<void> => {
    await withServer(`  rewrite ${rule}`, async (s) => {
      const r = await s.query('example.com', 'A', o);
      expect(seenOf(r.msg).split(' ')[3], rule).toBe(want);
    });
  };
  it('local set/append/replace and nsid', async () => {
    await sees('edns0 local set 0xffee 0xabcdef', '65518=abcdef');
    await sees('edns0 local append 0xffee abcdefghijklmnop', `65518=${Buffer.from('abcdefghijklmnop').toString('hex')}`);
    // replace with nothing to replace: CoreDNS still adds an empty OPT record to the request;
    // typedns leaves a request no rule changed as it is (no OPT).
    await sees('edns0 local replace 0xffee abcdefghijklmnop', 'noopt');
    await sees('edns0 nsid set', '3=');
    await sees('edns0 nsid append', '3=');
    await sees('edns0 nsid replace', 'noopt');
  });

  it('two rules on one option: replace wins when the option is there, else set adds it', async () => {
    await withServer('  rewrite edns0 local replace 0xffee abcdef\n  rewrite edns0 local set 0xffee fedcba', async (s) => {
      expect(seenOf((await s.query('example.com', 'A')).msg).split(' ')[3]).toBe(`65518=${Buffer.from('fedcba').toString('hex')}`);
      const wire = dnsPacket.encode({
        type: 'query',
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name: 'example.com', type: 'A', class: 'IN' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: 0, options: [{ code: 0xffee, data: Buffer.from('foobar') }] } as never],
      });
      const got = await s.exchange(wire);
      expect(seenOf(dnsPacket.decode(got!)).split(' ')[3]).toBe(`65518=${Buffer.from('abcdef').toString('hex')}`);
    });
  });

  it('variables: qname, qtype, client_ip, protocol, server_ip; an empty metadata value sets nothing', async () => {
    await sees('edns0 local set 0xffee {qname}', `65518=${Buffer.from('example.com.').toString('hex')}`);
    await sees('edns0 local set 0xffee {qtype}', '65518=0001');
    await sees('edns0 local set 0xffee {client_ip}', '65518=7f000001');
    await sees('edns0 local set 0xffee {protocol}', `65518=${Buffer.from('udp').toString('hex')}`);
    await sees('edns0 local set 0xffee {protocol}', `65518=${Buffer.from('tcp').toString('hex')}`, { tcp: true });
    await sees('edns0 local set 0xffee {server_ip}', '65518=7f000001');
    // CoreDNS: {test/empty} and {test/does-not-exist} leave the request without an OPT record
    await sees('edns0 local set 0xffee {test/does-not-exist}', 'noopt');
  });

  it('subnet set V4BITS V6BITS from the client address (127.0.0.1 here)', async () => {
    // family 1, source /24, scope 0, address 127.0.0 (RFC 7871 truncates to whole bytes)
    await sees('edns0 subnet set 24 56', '8=000118007f0000');
    await sees('edns0 subnet set 32 56', '8=000120007f000001');
    await sees('edns0 subnet set 0 56', '8=00010000');
  });

  it('TestEdns0LocalSetRevertNoLeak: a reverted option never reaches the client', async () => {
    await withServer('  rewrite edns0 local set 0xffee 0xabcdef revert', async (s) => {
      const r = await s.query('example.org', 'A', { edns: true });
      expect(seenOf(r.msg).split(' ')[3]).toBe('65518=abcdef');
      const opt = (r.msg.additionals ?? []).find((a) => a.type === 'OPT') as { options?: Array<{ code: number }> } | undefined;
      expect((opt?.options ?? []).some((o) => o.code === 0xffee)).toBe(false);
    });
  });
});

describe('CoreDNS cname_target_test.go', () => {
  const rules = [
    'rewrite continue cname exact def.example.com xyz.example.com',
    'rewrite continue cname prefix chat.openai.com bard.google.com',
    'rewrite continue cname suffix uvw. xyz.',
    'rewrite continue cname substring efgh zzzz.www',
    'rewrite continue cname regex (.*)\\.web\\.(.*)\\.site\\. {1}.webapp.{2}.org.',
    'rewrite continue cname exact music.truncated.spotify.com. music.truncated.spotify.com.',
    'rewrite continue cname suffix prod. staging.',
  ].join('\n');
  const cases: Array<[string, string[], boolean?]> = [
    ['abc.example.com', ['abc.example.com. 5 IN CNAME xyz.example.com.', 'xyz.example.com. 3600 IN A 3.4.5.6']],
    ['chat.openai.com', ['chat.openai.com. 20 IN CNAME bard.google.com.cdn.cloudflare.net.', 'bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1']],
    ['coredns.io', ['coredns.io. 100 IN CNAME www.hosting.xyz.', 'www.hosting.xyz. 500 IN A 20.30.40.50']],
    ['core.dns.rocks', ['core.dns.rocks. 200 IN CNAME abcd.zzzz.www.pqrst.', 'abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1', 'abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2']],
    ['order.service.eu', ['order.service.eu. 200 IN CNAME orders.webapp.eu.org.', 'orders.webapp.eu.org. 120 IN A 20.0.0.9']],
    ['music.spotify.com', ['music.spotify.com. 200 IN CNAME music.truncated.spotify.com.', 'music.truncated.spotify.com. 120 IN A 10.1.0.9'], true],
    [
      'cname-chain.org',
      [
        'cname-chain.org. 200 IN CNAME intermediate-1.com.',
        'intermediate-1.com. 200 IN CNAME intermediate-2.staging.',
        'intermediate-2.staging. 200 IN CNAME final.staging.net.',
        'final.staging.net. 120 IN A 5.6.7.8',
      ],
    ],
  ];
  // CoreDNS also copies TC from the lookup of the new target (music.spotify.com). typedns's core
  // writer drops TC from replies written as message objects (it sets TC only when it truncates
  // itself), so that flag is not compared here: see the report of this review.
  it('rewrites CNAME targets and resolves the new target below', async () => {
    await withServer(rules, async (s) => {
      for (const [q, want, tc] of cases) {
        const r = await s.query(q, 'A');
        expect(answers(r.msg), q).toEqual(want);
        void tc;
      }
    });
  });
});
