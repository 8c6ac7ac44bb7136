// acl through real sockets (the client is 127.0.0.1): block → REFUSED, filter → empty NOERROR,
// drop → no reply, allow → next; by net and by type; first match wins; zones; metrics; errors.
import { describe, expect, it } from 'vitest';
import { CorefileError, RCODE, parseCidr } from '../../src/plugin/api.js';
import { buildQuery, exchangeRaw, parsePlugin, startServer, type QueryResult, type TestServer } from '../../src/testing/index.js';
import acl, { NetSet } from './index.js';

async function withServer(aclText: string, fn: (s: TestServer) => Promise<void>, zone = '.'): Promise<void> {
  const s = await startServer(`${zone}:0 {\n  bind 127.0.0.1\n  ${aclText}\n  whoami\n}\n`);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** whoami answered (allowed) → additional has our address. */
const answered = (r: QueryResult): boolean => r.rcode === RCODE.NOERROR && (r.msg.additionals?.length ?? 0) > 0;

describe('actions', () => {
  it('block by net answers REFUSED; other nets pass', async () => {
    await withServer('acl {\n    block net 127.0.0.0/8\n  }', async (s) => {
      const r = await s.query('a.example.org', 'A');
      expect(r.rcode).toBe(RCODE.REFUSED);
      expect(r.msg.answers).toHaveLength(0);
      expect(r.msg.questions?.[0]?.name).toBe('a.example.org');
    });
    await withServer('acl {\n    block net 10.0.0.0/8 192.168.0.0/16\n  }', async (s) => {
      expect(answered(await s.query('a.example.org', 'A'))).toBe(true);
    });
  });

  it('filter answers an empty NOERROR', async () => {
    await withServer('acl {\n    filter type A net 127.0.0.1\n  }', async (s) => {
      const r = await s.query('a.example.org', 'A');
      expect(r.rcode).toBe(RCODE.NOERROR);
      expect(r.msg.answers).toHaveLength(0);
      expect(r.msg.additionals ?? []).toHaveLength(0);
      // AAAA is not filtered
      expect(answered(await s.query('a.example.org', 'AAAA'))).toBe(true);
    });
  });

  it('drop sends nothing at all, over UDP and TCP', async () => {
    await withServer('acl {\n    drop type TXT\n  }', async (s) => {
      expect(await exchangeRaw(s.port, buildQuery('a.example.org', 'TXT'), { timeout: 400 })).toBeUndefined();
      expect(await exchangeRaw(s.port, buildQuery('a.example.org', 'TXT'), { timeout: 400, tcp: true })).toBeUndefined();
      // the server is still alive and answers other types
      expect(answered(await s.query('a.example.org', 'A'))).toBe(true);
    });
  });

  it('first matching rule wins: allow a subnet, block the rest', async () => {
    await withServer('acl {\n    allow net 127.0.0.1/32\n    block\n  }', async (s) => {
      expect(answered(await s.query('a.example.org', 'A'))).toBe(true);
    });
    await withServer('acl {\n    allow net 10.0.0.0/8\n    block\n  }', async (s) => {
      expect((await s.query('a.example.org', 'A')).rcode).toBe(RCODE.REFUSED);
    });
    await withServer('acl {\n    block type * net *\n    allow\n  }', async (s) => {
      expect((await s.query('a.example.org', 'MX')).rcode).toBe(RCODE.REFUSED);
    });
  });

  it('type lists', async () => {
    await withServer('acl {\n    block type A AAAA\n  }', async (s) => {
      expect((await s.query('a.example.org', 'A')).rcode).toBe(RCODE.REFUSED);
      expect((await s.query('a.example.org', 'AAAA')).rcode).toBe(RCODE.REFUSED);
      expect(answered(await s.query('a.example.org', 'MX'))).toBe(true);
    });
  });

  it('zones: only names in the stanza zones are checked', async () => {
    await withServer(
      'acl a.example.org {\n    block net 127.0.0.0/8\n  }',
      async (s) => {
        expect((await s.query('x.a.example.org', 'A')).rcode).toBe(RCODE.REFUSED);
        expect(answered(await s.query('b.example.org', 'A'))).toBe(true);
      },
      'example.org',
    );
  });

  it('several stanzas: the first one that matches decides', async () => {
    await withServer('acl a.example.org {\n    allow net 127.0.0.1\n  }\n  acl {\n    block\n  }', async (s) => {
      expect(answered(await s.query('a.example.org', 'A'))).toBe(true);
      expect((await s.query('b.example.org', 'A')).rcode).toBe(RCODE.REFUSED);
    });
  });
});

describe('metrics', () => {
  it('counts blocked, filtered, dropped and allowed requests', async () => {
    await withServer('acl {\n    block type A\n    filter type AAAA\n    drop type TXT\n  }', async (s) => {
      await s.query('a.example.org', 'A');
      await s.query('a.example.org', 'A');
      await s.query('a.example.org', 'AAAA');
      await exchangeRaw(s.port, buildQuery('a.example.org', 'TXT'), { timeout: 300 });
      await s.query('a.example.org', 'MX');
      const text = await s.metrics.registry.metrics();
      // the server label is the block's key as configured (dns://127.0.0.1:0 here)
      expect(text).toMatch(/^coredns_acl_blocked_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",view=""\} 2$/m);
      expect(text).toMatch(/^coredns_acl_filtered_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",view=""\} 1$/m);
      expect(text).toMatch(/^coredns_acl_dropped_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",view=""\} 1$/m);
      expect(text).toMatch(/^coredns_acl_allowed_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",view=""\} 1$/m);
    });
  });
});

describe('NetSet', () => {
  it('matches IPv4, IPv4-mapped and IPv6 addresses', () => {
    const n = new NetSet(['192.168.0.0/16', '10.1.2.3', '2001:db8::/32', '0.0.0.0/0'].slice(0, 3).map((c) => parseCidr(c)!));
    expect(n.contains('192.168.44.1')).toBe(true);
    expect(n.contains('192.169.0.1')).toBe(false);
    expect(n.contains('10.1.2.3')).toBe(true);
    expect(n.contains('10.1.2.4')).toBe(false);
    expect(n.contains('::ffff:192.168.1.1')).toBe(true);
    expect(n.contains('2001:db8:ffff::1')).toBe(true);
    expect(n.contains('2001:db9::1')).toBe(false);
    expect(new NetSet([parseCidr('0.0.0.0/0')!]).contains('8.8.8.8')).toBe(true);
    expect(new NetSet([parseCidr('10.0.0.0/8')!]).contains('::1')).toBe(false);
  });
});

describe('Corefile errors name file:line', () => {
  const bad: Array<[string, RegExp]> = [
    ['acl {\n  deny net 1.2.3.4\n}', /Testfile:2 .*unknown action 'deny'/],
    ['acl {\n  block net 1.2.3.4/40\n}', /Testfile:2 .*invalid network/],
    ['acl {\n  block type BOGUS\n}', /Testfile:2 .*invalid query type 'BOGUS'/],
    ['acl {\n  block type\n}', /Testfile:2 .*'type' needs at least one QTYPE/],
    ['acl {\n  block 1.2.3.4\n}', /Testfile:2 .*expected 'type' or 'net'/],
    ['acl {\n  block net 1.2.3.4 net 5.6.7.8\n}', /Testfile:2 .*given twice/],
    ['acl', /Testfile:1 .*no rules given/],
  ];
  for (const [text, re] of bad) {
    it(text.replace(/\n/g, ' '), () => {
      let err: unknown;
      try {
        parsePlugin(acl, text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorefileError);
      expect((err as CorefileError).message).toMatch(re);
    });
  }
});
