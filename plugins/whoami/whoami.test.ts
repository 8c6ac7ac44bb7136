import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, sortAndCheck, type TestServer } from '../../src/testing/index.js';
import { Recorder, fakeRequest, parsePlugin } from '../../src/testing/index.js';
import whoami from './index.js';

describe('whoami', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer('.:0 {\n  bind 127.0.0.1\n  whoami\n}');
  });
  afterAll(() => srv.close());

  it('answers with the client address and port over UDP', async () => {
    const r = await srv.query('Example.org', 'A');
    expect(r.msg.flag_aa).toBe(true);
    expect(r.msg.answers).toHaveLength(0);
    const a = r.msg.additionals!.find((x) => x.type === 'A')!;
    expect(a.name).toBe('Example.org');
    expect((a as { data: string }).data).toBe('127.0.0.1');
    const srv2 = r.msg.additionals!.find((x) => x.type === 'SRV') as { name: string; data: { port: number } };
    expect(srv2.name).toBe('_udp.Example.org');
    expect(srv2.data.port).toBeGreaterThan(0);
  });

  it('names the transport over TCP', async () => {
    const r = await srv.query('example.org', 'A', { tcp: true });
    expect(r.msg.additionals!.some((x) => x.type === 'SRV' && x.name === '_tcp.example.org')).toBe(true);
  });

  it('uses AAAA for IPv6 clients', () => {
    const req = fakeRequest('example.org.', 'A', { client: '2001:db8::1' });
    const rec = new Recorder(req);
    void whoami.setup({}, {} as never);
    const p = whoami.setup({}, {} as never) as { serve: (r: unknown, w: unknown, n: unknown) => number };
    p.serve(req, rec, () => 2);
    sortAndCheck(rec.msg, { rcode: 'NOERROR', aa: true, extra: ['example.org. 0 IN AAAA 2001:db8::1', '_udp.example.org. 0 IN SRV 0 0 40212 .'] });
  });

  it('takes no arguments', () => {
    expect(() => parsePlugin(whoami, 'whoami extra')).toThrow(/Testfile:1 .*wrong argument count/);
  });
});
