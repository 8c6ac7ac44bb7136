import { describe, expect, it } from 'vitest';
import { sortAndCheck } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { validAt } from './index.js';

const { server, upstream } = scopedPerTest();

describe('minimal', () => {
  it('forwarded replies (wire) are cut to their answers; NODATA and NXDOMAIN keep their SOA; cache keeps the cut reply', async () => {
    const up = await upstream();
    up.answer('www.example.net.', 'A', {
      answers: ['www.example.net. 300 IN A 192.0.2.1'],
      authorities: ['example.net. 300 IN NS ns1.example.net.'],
      additionals: ['ns1.example.net. 300 IN A 192.0.2.53'],
    });
    up.answer('www.example.net.', 'MX', { authorities: ['example.net. 300 IN SOA ns1.example.net. admin.example.net. 1 2 3 4 60'] });
    up.answer('gone.example.net.', 'A', { rcode: 3, authorities: ['example.net. 300 IN SOA ns1.example.net. admin.example.net. 1 2 3 4 60'] });
    const srv = await server(`.:0 {\n  bind 127.0.0.1\n  cache\n  minimal\n  forward . ${up.addr}\n}\n`);
    for (let i = 0; i < 2; i++) {
      sortAndCheck((await srv.query('www.example.net', 'A', { edns: 1232 })).msg, { rcode: 'NOERROR', answer: ['www.example.net. 300 IN A 192.0.2.1'], ns: [], extra: [] });
    }
    expect(up.seen('www.example.net', 'A')).toBe(1); // the second came from the cache, still minimal
    sortAndCheck((await srv.query('www.example.net', 'MX')).msg, { rcode: 'NOERROR', answer: [], ns: ['example.net. 300 IN SOA ns1.example.net. admin.example.net. 1 2 3 4 60'] });
    sortAndCheck((await srv.query('gone.example.net', 'A')).msg, { rcode: 'NXDOMAIN', ns: ['example.net. 300 IN SOA ns1.example.net. admin.example.net. 1 2 3 4 60'] });
  });

  it('validAt: serial arithmetic over the 32-bit RRSIG times (miekg/dns ValidityPeriod)', () => {
    const now = 1_800_000_000;
    expect(validAt(now - 10, now + 10, now)).toBe(true);
    expect(validAt(now - 20, now - 10, now)).toBe(false);
    expect(validAt(now + 10, now + 20, now)).toBe(false);
  });
});
