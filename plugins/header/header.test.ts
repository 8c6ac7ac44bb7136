import { describe, expect, it } from 'vitest';
import { FLAG, RCODE, reply } from '../../src/plugin/api.js';
import { responder } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';

const { server, upstream } = scopedPerTest();

describe('header', () => {
  it('response clear rd wins over the client RD the core would copy into a Message reply', async () => {
    const backend = responder('backend', (req, w) => {
      w.write(reply(req, [], { aa: true }));
      return RCODE.NOERROR;
    });
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  header {\n    response set ra\n    response clear rd aa\n  }\n  backend\n}\n', { plugins: [backend] });
    const r = await srv.query('example.org', 'A', { rd: true });
    const f = r.wire.readUInt16BE(2);
    expect(f & FLAG.RD).toBe(0);
    expect(f & FLAG.AA).toBe(0);
    expect(f & FLAG.RA).toBe(FLAG.RA);
  });

  it('query clear rd reaches the upstream; response rules apply to its wire reply; the last rule wins', async () => {
    const up = await upstream();
    up.answer('example.org.', 'A', ['example.org. 30 IN A 10.0.0.1']);
    const srv = await server(`.:0 {\n  bind 127.0.0.1\n  header {\n    query clear rd\n    response clear ra\n    response set ra aa\n  }\n  forward . ${up.addr}\n}\n`);
    const r = await srv.query('example.org', 'A', { rd: true });
    expect(r.msg.answers).toHaveLength(1);
    expect(up.queries.map((q) => q.rd)).toEqual([false]);
    const f = r.wire.readUInt16BE(2);
    expect(f & FLAG.RA).toBe(FLAG.RA);
    expect(f & FLAG.AA).toBe(FLAG.AA);
  });

  it('query set rd: a Message reply carries RD as the changed request asked (CoreDNS SetReply)', async () => {
    const backend = responder('backend', (req, w) => {
      w.write(reply(req, []));
      return RCODE.NOERROR;
    });
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  header {\n    query set rd\n  }\n  backend\n}\n', { plugins: [backend] });
    const r = await srv.query('example.org', 'A', { rd: false });
    expect(r.wire.readUInt16BE(2) & FLAG.RD).toBe(FLAG.RD);
  });
});
