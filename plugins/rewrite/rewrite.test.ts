// rewrite through real sockets: every field, answer auto/name/value, continue vs stop, the block
// form, the three Corefile snippets users copy from blog posts, and Corefile errors with file:line.
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { CorefileError, RCODE, type RR, type Request } from '../../src/plugin/api.js';
import { DnsRequest } from '../../src/request/request.js';
import { parsePlugin, responder, rrText, sortAndCheck, startServer } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { rulesOver, seenOf } from '../../test/support/rewrite.js';
import rewrite from './index.js';
import { subnetData } from './edns0.js';

/**
 * A test backend. It records what it saw in the additional section as
 * `seen. 0 IN TXT "<name> <type> <class> <code>=<hex>…"` and answers by qtype:
 * A → two addresses; MX → one MX; TXT → "hello"; names starting with "alias" → a CNAME to
 * target.backend.test. plus its A; "nx…" → returns NXDOMAIN unwritten; "nxw…" → writes NXDOMAIN.
 */
const backend = responder('responder', (req, w) => {
  const opt = req.msg.additionals?.find((a) => a.type === 'OPT') as { options?: Array<{ code: number; data?: Buffer }> } | undefined;
  const opts = (opt?.options ?? []).map((o) => `${o.code}=${o.data ? Buffer.from(o.data).toString('hex') : ''}`).join(',');
  const seen: RR = { name: 'seen', type: 'TXT', ttl: 0, class: 'IN', data: [`${req.name} ${req.qtype} ${req.qclass} ${opts}`] };
  const n = req.name;
  if (n.startsWith('nxw')) {
    w.write({ type: 'response', flags: RCODE.NXDOMAIN, answers: [], additionals: [seen] });
    return RCODE.NXDOMAIN;
  }
  if (n.startsWith('nx')) return RCODE.NXDOMAIN;
  const answers: RR[] = [];
  if (n.startsWith('alias')) {
    answers.push({ name: n, type: 'CNAME', ttl: 300, class: 'IN', data: 'target.backend.test' });
    if (req.qtype === 1) answers.push({ name: 'target.backend.test', type: 'A', ttl: 300, class: 'IN', data: '10.9.9.9' });
  } else if (n.startsWith('target')) {
    answers.push({ name: n, type: 'A', ttl: 300, class: 'IN', data: n.startsWith('target2') ? '10.8.8.8' : '10.9.9.9' });
  } else if (req.qtype === 1) {
    answers.push({ name: n, type: 'A', ttl: 300, class: 'IN', data: '10.0.0.1' }, { name: n, type: 'A', ttl: 300, class: 'IN', data: '10.0.0.2' });
  } else if (req.qtype === 15) {
    answers.push({ name: n, type: 'MX', ttl: 300, class: 'IN', data: { preference: 10, exchange: `mail.${n}` } });
  } else if (req.qtype === 16) {
    answers.push({ name: n, type: 'TXT', ttl: 300, class: 'IN', data: ['hello'] });
  }
  if (n.startsWith('wire')) {
    // as a cache hit does: wire bytes carrying the (rewritten) question the plugin saw
    w.write(dnsPacket.encode({ type: 'response', id: req.id, flags: 0x8400, questions: [{ name: req.qname, type: 'A', class: 'IN' }], answers, additionals: [seen] }));
    return RCODE.NOERROR;
  }
  w.write({ type: 'response', flags: 0x0400, answers, additionals: [seen] });
  return RCODE.NOERROR;
});

const { inProcess } = scopedPerTest();
const withServer = rulesOver(inProcess, backend);
const answersOf = (m: dnsPacket.DecodedPacket): string[] => (m.answers ?? []).map(rrText);
const question = (m: dnsPacket.DecodedPacket): string => `${m.questions?.[0]?.name} ${m.questions?.[0]?.type}`;

describe('name rules', () => {
  it('exact: rewrites the question and always maps the answer back', async () => {
    await withServer('  rewrite name a.example.org b.example.net', async (s) => {
      const r = await s.query('a.example.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^b\.example\.net\. 1 1 /);
      expect(question(r.msg)).toBe('a.example.org A');
      sortAndCheck(r.msg, { rcode: 'NOERROR', answer: ['a.example.org. 300 IN A 10.0.0.1', 'a.example.org. 300 IN A 10.0.0.2'] });
      // another name is untouched
      const o = await s.query('other.example.org', 'A');
      expect(seenOf(o.msg)).toMatch(/^other\.example\.org\. /);
    });
  });

  it('wire-byte replies (cache hits) are mapped back too, question included', async () => {
    await withServer('  rewrite name wire.example.org wire.example.net', async (s) => {
      for (const tcp of [false, true]) {
        const r = await s.query('wire.example.org', 'A', { tcp });
        expect(question(r.msg)).toBe('wire.example.org A');
        sortAndCheck(r.msg, { answer: ['wire.example.org. 300 IN A 10.0.0.1', 'wire.example.org. 300 IN A 10.0.0.2'] });
      }
    });
  });

  it('exact matching is case-insensitive and keeps the client question', async () => {
    await withServer('  rewrite name A.Example.ORG b.example.net', async (s) => {
      const r = await s.query('a.EXAMPLE.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^b\.example\.net\. /);
      expect(r.msg.questions?.[0]?.name).toBe('a.EXAMPLE.org');
      expect(answersOf(r.msg)[0]).toMatch(/^a\.example\.org\. /);
    });
  });

  it('prefix, suffix and substring (with answer auto)', async () => {
    await withServer('  rewrite name prefix foo- bar- answer auto', async (s) => {
      const r = await s.query('foo-x.example.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^bar-x\.example\.org\. /);
      expect(answersOf(r.msg)[0]).toMatch(/^foo-x\.example\.org\. /);
    });
    await withServer('  rewrite name suffix .schmoogle.com. .google.com. answer auto', async (s) => {
      const r = await s.query('www.schmoogle.com', 'A');
      expect(seenOf(r.msg)).toMatch(/^www\.google\.com\. /);
      expect(answersOf(r.msg)[0]).toMatch(/^www\.schmoogle\.com\. /);
    });
    await withServer('  rewrite name substring service.us-west-1.example.org service.us-west-1.consul', async (s) => {
      const r = await s.query('ftp.service.us-west-1.example.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^ftp\.service\.us-west-1\.consul\. /);
      // no `answer auto`: the answer keeps the backend's name
      expect(answersOf(r.msg)[0]).toMatch(/^ftp\.service\.us-west-1\.consul\. /);
    });
  });

  it('regex with groups and an explicit answer name rule', async () => {
    await withServer('  rewrite stop name regex (.*)-(us-west-1)\\.example\\.org {1}.service.{2}.consul answer name (.*)\\.service\\.(us-west-1)\\.consul {1}-{2}.example.org', async (s) => {
      const r = await s.query('ftp-us-west-1.example.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^ftp\.service\.us-west-1\.consul\. /);
      sortAndCheck(r.msg, { answer: ['ftp-us-west-1.example.org. 300 IN A 10.0.0.1', 'ftp-us-west-1.example.org. 300 IN A 10.0.0.2'] });
    });
  });

  it('answer value rewrites names inside record data', async () => {
    await withServer('  rewrite name regex (.*)\\.corp\\.example {1}.internal answer auto answer value (.*)\\.internal {1}.corp.example', async (s) => {
      const r = await s.query('host.corp.example', 'MX');
      expect(seenOf(r.msg)).toMatch(/^host\.internal\. 15 /);
      sortAndCheck(r.msg, { answer: ['host.corp.example. 300 IN MX 10 mail.host.corp.example.'] });
    });
  });

  it('an illegal rewritten name answers SERVFAIL', async () => {
    await withServer(`  rewrite name regex (.*)\\.bad\\.example {1}{1}{1}{1}{1}.x`, async (s) => {
      const label = 'a'.repeat(20);
      const r = await s.query(`${label}.bad.example`, 'A');
      expect(r.rcode).toBe(RCODE.SERVFAIL);
    });
  });
});

describe('the three Corefile snippets', () => {
  const hostsBlock = `  hosts ${path.join(os.tmpdir(), 'typedns-rewrite-no-such-hosts')} {\n    10.1.2.3 demoapp-svc.demo.svc.cluster.local\n  }`;
  const snippets = [
    'rewrite name demoapp-svc.magedu.com demoapp-svc.demo.svc.cluster.local',
    'rewrite name regex (demoapp.*).magedu.com {1}.demo.svc.cluster.local answer auto',
    'rewrite {\n    name regex (demoapp.*).magedu.com {1}.demo.svc.cluster.local\n    answer name (demoapp.*).demo.svc.cluster.local {1}.magedu.com\n  }',
  ];
  for (const snip of snippets) {
    it(snip.split('\n')[0]!, async () => {
      const s = await startServer(`.:0 {\n  bind 127.0.0.1\n  ${snip}\n${hostsBlock}\n}\n`);
      try {
        const r = await s.query('demoapp-svc.magedu.com', 'A');
        expect(question(r.msg)).toBe('demoapp-svc.magedu.com A');
        sortAndCheck(r.msg, { rcode: 'NOERROR', answer: ['demoapp-svc.magedu.com. 3600 IN A 10.1.2.3'] });
        const tcp = await s.query('demoapp-svc.magedu.com', 'A', { tcp: true });
        sortAndCheck(tcp.msg, { rcode: 'NOERROR', answer: ['demoapp-svc.magedu.com. 3600 IN A 10.1.2.3'] });
      } finally {
        await s.close();
      }
    });
  }
});

describe('type, class, ttl, rcode, cname', () => {
  it('type: ANY becomes HINFO for the backend; the client sees its own question', async () => {
    await withServer('  rewrite type ANY HINFO', async (s) => {
      const r = await s.query('x.example.org', 'ANY');
      expect(seenOf(r.msg)).toMatch(/^x\.example\.org\. 13 1 /);
      expect(question(r.msg)).toBe('x.example.org ANY');
    });
  });

  it('class: CH becomes IN', async () => {
    await withServer('  rewrite class CH IN', async (s) => {
      const r = await s.query('x.example.org', 'TXT', { qclass: 'CH' });
      expect(seenOf(r.msg)).toMatch(/^x\.example\.org\. 16 1 /);
      expect(r.msg.questions?.[0]?.class).toBe('CH');
    });
  });

  it('ttl: a fixed value and MIN-MAX ranges', async () => {
    await withServer('  rewrite ttl suffix .example.org 15', async (s) => {
      const r = await s.query('x.example.org', 'A');
      expect(answersOf(r.msg).every((a) => a.includes(' 15 IN A '))).toBe(true);
    });
    await withServer('  rewrite ttl regex .* 30-100', async (s) => {
      const r = await s.query('x.example.org', 'A');
      expect(answersOf(r.msg).every((a) => a.includes(' 100 IN A '))).toBe(true);
    });
    await withServer('  rewrite ttl exact x.example.org 600-', async (s) => {
      const r = await s.query('x.example.org', 'A');
      expect(answersOf(r.msg).every((a) => a.includes(' 600 IN A '))).toBe(true);
      const o = await s.query('y.example.org', 'A');
      expect(answersOf(o.msg).every((a) => a.includes(' 300 IN A '))).toBe(true);
    });
  });

  it('rcode: written and unwritten replies', async () => {
    await withServer('  rewrite rcode regex ^nx NXDOMAIN NOERROR', async (s) => {
      expect((await s.query('nxw.example.org', 'A')).rcode).toBe(RCODE.NOERROR);
      expect((await s.query('nx.example.org', 'A')).rcode).toBe(RCODE.NOERROR);
    });
    await withServer('  rewrite rcode exact nx.example.org NXDOMAIN 2', async (s) => {
      expect((await s.query('nx.example.org', 'A')).rcode).toBe(RCODE.SERVFAIL);
      expect((await s.query('nx2.example.org', 'A')).rcode).toBe(RCODE.NXDOMAIN);
    });
  });

  it('cname: rewrites the target and resolves the new one below', async () => {
    await withServer('  rewrite cname exact target.backend.test. target2.backend.test.', async (s) => {
      const r = await s.query('alias.example.org', 'A');
      sortAndCheck(r.msg, { ordered: true, answer: ['alias.example.org. 300 IN CNAME target2.backend.test.', 'target2.backend.test. 300 IN A 10.8.8.8'] });
    });
  });
});

describe('edns0', () => {
  it('local set with hex data and with placeholders', async () => {
    await withServer('  rewrite edns0 local set 0xffee 0x61626364', async (s) => {
      const r = await s.query('x.example.org', 'A');
      expect(seenOf(r.msg)).toContain('65518=61626364');
      // the client sent no EDNS: the reply carries no OPT either
      expect((r.msg.additionals ?? []).some((a) => a.type === 'OPT')).toBe(false);
      const e = await s.query('x.example.org', 'A', { edns: 1232 });
      expect(seenOf(e.msg)).toContain('65518=61626364');
    });
    await withServer('  rewrite continue edns0 local set 0xffee {qname}\n  rewrite edns0 local append 0xffed {client_ip}', async (s) => {
      const r = await s.query('x.example.org', 'A', { edns: true });
      expect(seenOf(r.msg)).toContain(`65518=${Buffer.from('x.example.org.').toString('hex')}`);
      expect(seenOf(r.msg)).toContain('65517=7f000001');
    });
    await withServer('  rewrite edns0 local set 0xffee abcd', async (s) => {
      const r = await s.query('x.example.org', 'A', { edns: true });
      expect(seenOf(r.msg)).toContain('65518=61626364');
    });
  });

  it('the plugins below get a request of the one request shape (Request.withOpt), its EDNS fields from the new OPT', async () => {
    const got: Request[] = [];
    const probe = responder('probe', (req, w) => {
      got.push(req);
      w.write({ type: 'response', flags: 0, answers: [] });
      return RCODE.NOERROR;
    });
    const s = await inProcess(`.:0 {\n  bind 127.0.0.1\n  rewrite edns0 local set 0xffee 0x6162\n  probe\n}\n`, { plugins: [probe] });
    await s.query('x.example.org', 'A', { edns: 1400, do: true });
    await s.query('y.example.org', 'A');
    expect(got).toHaveLength(2);
    for (const req of got) {
      // (rewrite's withWire made Object.create(request) with defineProperties: another hidden class, fields on the prototype)
      expect(Object.getPrototypeOf(req)).toBe(DnsRequest.prototype);
      expect(Object.hasOwn(req, 'wire') && Object.hasOwn(req, 'bufsize') && Object.hasOwn(req, 'edns')).toBe(true);
      const opt = (req.msg.additionals ?? []).find((a) => a.type === 'OPT') as { options?: Array<{ code: number; data: Buffer }> } | undefined;
      expect(opt?.options?.find((o) => o.code === 0xffee)?.data.toString()).toBe('ab');
    }
    expect([got[0]!.edns, got[0]!.bufsize, got[0]!.do, got[0]!.name]).toEqual([true, 1400, true, 'x.example.org.']);
    // a query without EDNS gets an OPT (UDP size 4096, as CoreDNS's edns0 rules add it)
    expect([got[1]!.edns, got[1]!.bufsize, got[1]!.do, got[1]!.name]).toEqual([true, 4096, false, 'y.example.org.']);
  });

  it('subnet set V4BITS V6BITS adds the client subnet', async () => {
    await withServer('  rewrite edns0 subnet set 24 56', async (s) => {
      const r = await s.query('x.example.org', 'A', { edns: true });
      expect(seenOf(r.msg)).toContain(`8=${Buffer.from(subnetData('127.0.0.1', 24, 56)).toString('hex')}`);
      expect(Buffer.from(subnetData('127.0.0.1', 24, 56)).toString('hex')).toBe('000118007f0000');
      expect(Buffer.from(subnetData('2001:db8:1:2::1', 24, 56)).toString('hex')).toBe('0002380020010db8000100');
    });
  });

  it('nsid and unset', async () => {
    await withServer('  rewrite continue edns0 nsid set\n  rewrite edns0 local unset 0xffee', async (s) => {
      const r = await s.query('x.example.org', 'A', { edns: true });
      expect(seenOf(r.msg)).toMatch(/ 3=$/);
    });
  });
});

describe('continue vs stop, and order', () => {
  it('stop (the default) ends the list at the first match', async () => {
    await withServer('  rewrite name a.example.org b.example.org\n  rewrite name b.example.org c.example.org', async (s) => {
      const r = await s.query('a.example.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^b\.example\.org\. /);
      expect(answersOf(r.msg)[0]).toMatch(/^a\.example\.org\. /);
    });
  });

  it('continue applies the next rules to the rewritten question; answers map back in reverse order', async () => {
    await withServer('  rewrite continue name a.example.org b.example.org\n  rewrite name b.example.org c.example.org', async (s) => {
      const r = await s.query('a.example.org', 'A');
      expect(seenOf(r.msg)).toMatch(/^c\.example\.org\. /);
      sortAndCheck(r.msg, { answer: ['a.example.org. 300 IN A 10.0.0.1', 'a.example.org. 300 IN A 10.0.0.2'] });
    });
  });

  it('continue with type then name', async () => {
    await withServer('  rewrite continue type MX A\n  rewrite name exact m.example.org n.example.org', async (s) => {
      const r = await s.query('m.example.org', 'MX');
      expect(seenOf(r.msg)).toMatch(/^n\.example\.org\. 1 1 /);
      expect(answersOf(r.msg)[0]).toMatch(/^m\.example\.org\. 300 IN A /);
    });
  });

  it('the block form with ttl', async () => {
    await withServer('  rewrite continue {\n    ttl regex (.*)\\.example\\.org 7\n  }', async (s) => {
      const r = await s.query('q.example.org', 'A');
      expect(answersOf(r.msg)[0]).toContain(' 7 IN A ');
    });
  });
});

describe('Corefile errors name file:line', () => {
  const bad: Array<[string, RegExp]> = [
    ['rewrite name', /wrong argument count/],
    ['rewrite name a', /wrong argument count/],
    ['rewrite bogus a b', /invalid field 'bogus'/],
    ['rewrite name regex ([a b', /invalid regex/],
    [`rewrite name regex ${'a'.repeat(10_001)} b`, /regex is too long/],
    ['rewrite name exact a b answer bogus', /unknown answer option 'bogus'/],
    ['rewrite name exact a b foo', /unknown option 'foo'/],
    ['rewrite type A BOGUS', /invalid type 'BOGUS'/],
    ['rewrite type A', /'type' takes FROM TO/],
    ['rewrite class IN XX', /invalid class 'XX'/],
    ['rewrite ttl example.org 10-5', /MIN is larger than MAX/],
    ['rewrite ttl example.org abc', /invalid TTL 'abc'/],
    ['rewrite rcode example.org NXDOMAIN BOGUS', /invalid rcode 'BOGUS'/],
    ['rewrite edns0 local set 0xffee', /takes CODE DATA/],
    ['rewrite edns0 local frob 0xffee a', /invalid action 'frob'/],
    ['rewrite edns0 local set 0xffee 0x6g', /invalid hex data/],
    ['rewrite edns0 local set 0xffee {nope}', /unsupported variable/],
    ['rewrite edns0 subnet set 33 56', /invalid IPv4 prefix length/],
    ['rewrite edns0 foo set', /unsupported EDNS0 option 'foo'/],
  ];
  for (const [text, re] of bad) {
    it(text.slice(0, 60), () => {
      let err: unknown;
      try {
        parsePlugin(rewrite, `\n${text}`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorefileError);
      expect((err as CorefileError).message).toMatch(re);
      expect((err as CorefileError).message).toMatch(/^Testfile:2 /);
    });
  }

  it('an error inside a block names the block line', () => {
    expect(() => parsePlugin(rewrite, 'rewrite {\n  name regex a b\n  answer name ([ x\n}')).toThrow(/Testfile:3 .*invalid regex/);
  });

  it('a whole server refuses to start on a bad rule', async () => {
    await expect(startServer('.:0 {\n  bind 127.0.0.1\n  rewrite name regex (( x\n}\n', { file: 'Corefile.bad' })).rejects.toThrow(/Corefile\.bad:3/);
  });
});
