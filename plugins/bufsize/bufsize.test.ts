import { describe, expect, it } from 'vitest';
import { RCODE, rr, type RR } from '../../src/plugin/api.js';
import { query, responder } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';

const { server, upstream } = scopedPerTest();

describe('bufsize', () => {
  it('the query forward sends upstream advertises the capped size', async () => {
    const up = await upstream();
    const sizes: number[] = [];
    up.answer('example.org.', 'A', (q) => {
      const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize: number } | undefined;
      sizes.push(opt?.udpPayloadSize ?? -1);
      return { answers: ['example.org. 30 IN A 10.0.0.1'] };
    });
    const srv = await server(`.:0 {\n  bind 127.0.0.1\n  bufsize 1100\n  forward . ${up.addr}\n}\n`);
    const r = await srv.query('example.org', 'A', { edns: 4096 });
    expect(r.msg.answers).toHaveLength(1);
    const small = await srv.query('example.org', 'A', { edns: 800 });
    expect(small.msg.answers).toHaveLength(1);
    expect(sizes).toEqual([1100, 800]);
  });

  it('the reply to the client is fitted to the capped size (TC set), as CoreDNS scrubs to the changed request', async () => {
    // 40 TXT records of about 70 bytes (dns-packet does not compress names): about 2.8 KB, more than 1232 and less than 4096
    const records: RR[] = Array.from({ length: 40 }, (_, i) => rr(`big.example.org. 30 IN TXT "${String(i).padStart(40, 'x')}"`));
    const big = responder('big', (_req, w) => {
      w.write({ type: 'response', flags: 0x0400, answers: records, authorities: [], additionals: [] });
      return RCODE.NOERROR;
    });
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  bufsize\n  big\n}\n', { plugins: [big] });
    const r = await srv.query('big.example.org', 'TXT', { edns: 4096 });
    expect(r.wire.length).toBeLessThanOrEqual(1232);
    expect(r.msg.flag_tc).toBe(true);
    // over TCP the whole reply comes back
    const t = await srv.query('big.example.org', 'TXT', { edns: 4096, tcp: true });
    expect(t.msg.answers).toHaveLength(40);
    // without bufsize the same UDP query gets all of it
    const plain = await server('.:0 {\n  bind 127.0.0.1\n  big\n}\n', { plugins: [big] });
    const p = await query(plain.port, 'big.example.org', 'TXT', { edns: 4096 });
    expect(p.msg.flag_tc).toBe(false);
    expect(p.msg.answers).toHaveLength(40);
  });

  it('typedns check: a block is an error naming its line', () => {
    expect(checkCorefile('.:53 {\n  bufsize 1232 {\n    foo\n  }\n}\n')).toEqual(["Corefile:3: plugin/bufsize: unknown property 'foo'"]);
  });
});
