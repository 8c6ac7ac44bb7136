import { afterEach, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessServer } from './index.js';
import { buildQuery } from './client.js';

const servers: InProcessServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe('startInProcess', () => {
  it('answers through the real chain without a socket, with the client address asked for', async () => {
    const s = await startInProcess('example.org {\n whoami\n}\n. {\n acl {\n  drop\n }\n whoami\n}');
    servers.push(s);
    const r = await s.query('a.example.org.', 'A', { source: '127.0.0.9' });
    expect(r.rcode).toBe(0);
    expect(r.msg.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.9')).toBe(true);
    const tcp = await s.query('a.example.org.', 'A', { tcp: true });
    expect(tcp.msg.additionals?.find((a) => a.type === 'SRV')?.name).toBe('_tcp.a.example.org');
    // acl drop: no reply at all
    await expect(s.query('x.test.', 'A')).rejects.toThrow(/no reply/);
    expect(await s.exchange(buildQuery('x.test.', 'A'))).toBeUndefined();
  });

  it('reports a bad Corefile as the server does', async () => {
    await expect(startInProcess('. {\n whoami extra\n}')).rejects.toThrow(/Corefile:2/);
  });
});
