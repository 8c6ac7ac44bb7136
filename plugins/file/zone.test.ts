import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { CorefileError, rrText } from '../../src/plugin/api.js';
import { parseZone } from './zonefile.js';
import { Zone } from './zone.js';

const text = fs.readFileSync(path.join(import.meta.dirname, 'testdata', 'db.example.org'), 'utf8');
const zone = new Zone('example.org.', parseZone(text, 'example.org.', 'db.example.org'));
const show = (n: string, t: number) => {
  const r = zone.lookup(n, t);
  return { rcode: r.rcode, aa: r.aa, answer: r.answers.map(rrText), ns: r.authorities.map(rrText), extra: r.additionals.map(rrText) };
};
const SOA_NEG = 'example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300';

describe('zone file parser', () => {
  it('parses directives, relative names, blank owners, parentheses, comments and quotes', () => {
    const recs = parseZone(text, 'example.org.', 'db.example.org').map((r) => rrText(r.rr));
    expect(recs).toContain('example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300');
    expect(recs).toContain('example.org. 3600 IN NS ns2.example.org.');
    expect(recs).toContain('mail.example.org. 3600 IN AAAA 2001:db8::25');
    expect(recs).toContain('ns2.example.org. 3600 IN A 192.0.2.54');
    expect(recs).toContain('txt.example.org. 3600 IN TXT "hello world" "second; not a comment" "plain"');
    expect(recs).toContain('_sip._tcp.example.org. 3600 IN SRV 10 20 5060 mail.example.org.');
  });

  it('parses the file for another origin', () => {
    const recs = parseZone('@ 60 IN SOA ns hm 1 2 3 4 5\nwww 60 A 10.0.0.1\n', 'example.net.', 'db');
    expect(recs.map((r) => rrText(r.rr))).toEqual(['example.net. 60 IN SOA ns.example.net. hm.example.net. 1 2 3 4 5', 'www.example.net. 60 IN A 10.0.0.1']);
  });

  const bad: Array<[string, string]> = [
    ['@ IN SOA ns hm 1 2 3 4 5\nx IN NULL abc\n', "db:2: record type 'NULL' can only be written in the RFC 3597 form"],
    ['@ IN SOA ns hm 1 2 3 4 5\nx IN BOGUS 1\n', "db:2: unknown record type 'BOGUS'"],
    ['@ IN SOA ns hm 1 2 3 4 5\n\nx IN A 300.1.1.1\n', "db:3: bad A address '300.1.1.1'"],
    ['@ IN SOA ns hm (1 2 3 4 5\nx A 1.2.3.4\n', "db:1: unclosed '('"],
    ['@ IN SOA ns hm 1 2 3 4 5\nx IN TXT "open\n', 'db:2: unterminated quoted string'],
    ['x IN A 1.2.3.4\n', "db:1: no SOA record for zone 'example.org.'"],
    ['@ IN SOA ns hm 1 2 3 4 5\nwww.example.net. IN A 1.2.3.4\n', 'db:2: out-of-zone record'],
    ['@ IN SOA ns hm 1 2 3 4 5\nx IN MX 10\n', 'db:2: MX record needs 2 rdata fields, got 1'],
    ['@ IN SOA ns hm 1 2 3 4 5\n$INCLUDE other\n', "db:2: cannot read $INCLUDE file 'other': ENOENT"],
    // (another class than IN is loaded, as CoreDNS does: syntax.test.ts; a class number is 16 bits)
    ['@ CLASS65536 SOA ns hm 1 2 3 4 5\n', "db:1: bad class 'CLASS65536'"],
  ];
  it.each(bad)('rejects %j', (zt, want) => {
    let err: unknown;
    try {
      parseZone(zt, 'example.org.', 'db');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorefileError);
    expect((err as CorefileError).short).toContain(want);
  });
});

describe('zone lookup', () => {
  it('answers with AA, apex NS in authority and in-zone addresses in additional', () => {
    expect(show('example.org.', 15)).toEqual({
      rcode: 0,
      aa: true,
      answer: ['example.org. 3600 IN MX 10 mail.example.org.'],
      ns: ['example.org. 3600 IN NS ns1.example.org.', 'example.org. 3600 IN NS ns2.example.org.'],
      extra: ['mail.example.org. 3600 IN A 192.0.2.25', 'mail.example.org. 3600 IN AAAA 2001:db8::25'],
    });
  });

  it('NS at the apex carries glue; SOA at the apex carries NS', () => {
    expect(show('example.org.', 2).extra).toEqual(['ns1.example.org. 3600 IN A 192.0.2.53', 'ns2.example.org. 3600 IN A 192.0.2.54']);
    expect(show('example.org.', 6).answer).toEqual(['example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300']);
  });

  it('NXDOMAIN and NODATA carry the SOA with TTL min(ttl, minimum)', () => {
    expect(show('nope.example.org.', 1)).toMatchObject({ rcode: 3, aa: true, answer: [], ns: [SOA_NEG] });
    expect(show('web.example.org.', 15)).toMatchObject({ rcode: 0, aa: true, answer: [], ns: [SOA_NEG] });
    // an empty non-terminal exists: NODATA, not NXDOMAIN
    expect(show('b.c.example.org.', 1)).toMatchObject({ rcode: 0, answer: [], ns: [SOA_NEG] });
  });

  it('chases CNAMEs inside the zone', () => {
    expect(show('alias.example.org.', 28).answer).toEqual([
      'alias.example.org. 3600 IN CNAME www.example.org.',
      'www.example.org. 3600 IN CNAME web.example.org.',
      'web.example.org. 3600 IN AAAA 2001:db8::80',
    ]);
    expect(show('www.example.org.', 5).answer).toEqual(['www.example.org. 3600 IN CNAME web.example.org.']);
    expect(show('dangling.example.org.', 1)).toMatchObject({ rcode: 3, answer: ['dangling.example.org. 3600 IN CNAME nowhere.example.org.'], ns: [SOA_NEG] });
    expect(show('outside.example.org.', 1)).toMatchObject({ rcode: 0, answer: ['outside.example.org. 3600 IN CNAME example.net.'] });
  });

  it('synthesises from wildcards below the closest encloser only', () => {
    expect(show('x.wild.example.org.', 1).answer).toEqual(['x.wild.example.org. 3600 IN A 192.0.2.99']);
    expect(show('a.b.wild.example.org.', 16).answer).toEqual(['a.b.wild.example.org. 3600 IN TXT "wildcard"']);
    expect(show('x.wild.example.org.', 28)).toMatchObject({ rcode: 0, answer: [], ns: [SOA_NEG] });
    // host.wild exists: no synthesis for it, nor for names below it
    expect(show('host.wild.example.org.', 16)).toMatchObject({ rcode: 0, answer: [] });
    expect(show('x.host.wild.example.org.', 1)).toMatchObject({ rcode: 3 });
    // wild.example.org itself exists only as an empty non-terminal
    expect(show('wild.example.org.', 1)).toMatchObject({ rcode: 0, answer: [] });
  });

  it('refers names at or below a delegation, with glue', () => {
    const want = {
      rcode: 0,
      aa: false,
      answer: [],
      ns: ['sub.example.org. 3600 IN NS ns.sub.example.org.', 'sub.example.org. 3600 IN NS ns.other.net.'],
      extra: ['ns.sub.example.org. 3600 IN A 192.0.2.200'],
    };
    expect(show('deep.sub.example.org.', 1)).toEqual(want);
    expect(show('sub.example.org.', 2)).toEqual(want);
    expect(show('x.y.sub.example.org.', 28)).toEqual(want);
  });

  it('synthesises CNAMEs from wildcards and stops at CNAME loops', () => {
    const z = new Zone('t.', parseZone('@ 60 SOA ns hm 1 2 3 4 5\n*.w 60 CNAME target\ntarget 60 A 10.0.0.1\nl1 60 CNAME l2\nl2 60 CNAME l1\n', 't.', 'db'));
    expect(z.lookup('x.w.t.', 1).answers.map(rrText)).toEqual(['x.w.t. 60 IN CNAME target.t.', 'target.t. 60 IN A 10.0.0.1']);
    const loop = z.lookup('l1.t.', 1);
    expect(loop.rcode).toBe(0);
    expect(loop.answers.map(rrText)).toEqual(['l1.t. 60 IN CNAME l2.t.', 'l2.t. 60 IN CNAME l1.t.']);
  });
});
