import { describe, expect, it } from 'vitest';
import { RCODE, reply, rr } from '../../src/plugin/api.js';
import { query, responder } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';
import { askNsid, nsidOf } from '../../test/support/nsid.js';

const { server, upstream } = scopedPerTest();

describe('nsid', () => {
  it('only a request that asks gets NSID; one without EDNS gets no OPT', async () => {
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  nsid edge-1\n  whoami\n}\n');
    expect(nsidOf(await askNsid(srv.port, 'example.org', { nsid: false }))).toEqual([]);
    const plain = await query(srv.port, 'example.org', 'A');
    expect((plain.msg.additionals ?? []).some((a) => a.type === 'OPT')).toBe(false);
    expect(nsidOf(await askNsid(srv.port, 'example.org', { tcp: true }))).toEqual(['edge-1']);
  });

  it('replaces the NSID of a forwarded reply (wire bytes) and keeps its records', async () => {
    const up = await upstream();
    up.answer('example.org.', 'A', {
      answers: ['example.org. 30 IN A 10.0.0.1'],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [{ code: 3, data: Buffer.from('upstream') }, { code: 10, data: Buffer.alloc(8, 7) }] } as never],
    });
    const srv = await server(`.:0 {\n  bind 127.0.0.1\n  nsid edge-1\n  forward . ${up.addr}\n}\n`);
    const m = await askNsid(srv.port, 'example.org');
    expect(m.answers!.map((a) => (a as { data: string }).data)).toEqual(['10.0.0.1']);
    expect(nsidOf(m)).toEqual(['edge-1']);
    const opt = m.additionals!.find((a) => a.type === 'OPT') as unknown as { options: Array<{ code: number }> };
    expect(opt.options.map((o) => o.code)).toEqual([10, 3]);
  });

  it('adds NSID to a Message reply; the empty reply the server writes for a returned rcode has none, as in CoreDNS', async () => {
    const msg = responder('msg', (req, w) => {
      if (req.name !== 'example.org.') return RCODE.REFUSED;
      w.write(reply(req, [rr('example.org. 60 IN A 10.1.1.1')], { aa: true }));
      return RCODE.NOERROR;
    });
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  nsid edge-1\n  msg\n}\n', { plugins: [msg] });
    const m = await askNsid(srv.port, 'example.org');
    expect(m.answers).toHaveLength(1);
    expect(nsidOf(m)).toEqual(['edge-1']);
    // REFUSED written by the server for the rcode the chain returned: CoreDNS's nsid does not see it either
    const r = await askNsid(srv.port, 'other.test');
    expect((r.flags ?? 0) & 0xf).toBe(RCODE.REFUSED);
    expect(nsidOf(r)).toEqual([]);
  });

  it('typedns check: a block is an error naming its line', () => {
    expect(checkCorefile('.:53 {\n  nsid x {\n    y\n  }\n}\n')).toEqual(["Corefile:3: plugin/nsid: unknown property 'y'"]);
  });
});
