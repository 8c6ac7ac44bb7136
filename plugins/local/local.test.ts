import { describe, expect, it } from 'vitest';
import { sortAndCheck, waitFor } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';

const { server } = scopedPerTest();

describe('local', () => {
  it('full records: SOA and NS contents, TTL 604800, no AA; the zone keeps the client spelling', async () => {
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  local\n}\n');
    sortAndCheck((await srv.query('localhost.', 'SOA')).msg, { rcode: 'NOERROR', aa: false, answer: ['localhost. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800'] });
    sortAndCheck((await srv.query('localhost.', 'NS')).msg, { answer: ['localhost. 604800 IN NS localhost.'] });
    sortAndCheck((await srv.query('1.0.0.127.in-addr.arpa.', 'PTR')).msg, { answer: ['1.0.0.127.in-addr.arpa. 604800 IN PTR localhost.'] });
    const nx = await srv.query('9.0.0.127.IN-ADDR.arpa.', 'A');
    expect(nx.msg.authorities![0]!.name).toBe('127.IN-ADDR.arpa');
    sortAndCheck(nx.msg, { rcode: 'NXDOMAIN', ns: ['127.in-addr.arpa. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800'] });
    sortAndCheck((await srv.query('x.255.in-addr.arpa.', 'PTR')).msg, { rcode: 'NXDOMAIN' });
    sortAndCheck((await srv.query('0.in-addr.arpa.', 'NS')).msg, { rcode: 'NOERROR', answer: ['0.in-addr.arpa. 604800 IN NS localhost.'] });
  });

  it('counts non-apex localhost queries in coredns_local_localhost_requests_total (no server label), not localhost. itself', async () => {
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  local\n}\n');
    await srv.query('localhost.', 'A');
    await srv.query('a.localhost.', 'A');
    await srv.query('localhost.example.net.', 'AAAA');
    await waitFor(async () => (await srv.metrics.registry.metrics()).includes('coredns_local_localhost_requests_total 2'));
  });
});
