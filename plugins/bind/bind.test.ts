import { describe, expect, it } from 'vitest';
import { parsePlugin, startServer } from '../../src/testing/index.js';
import bind from './index.js';

describe('bind', () => {
  it('parses addresses, interfaces and except', () => {
    expect(parsePlugin(bind, 'bind 127.0.0.1 ::1')).toEqual({ addresses: ['127.0.0.1', '::1'], except: [] });
    const lo = parsePlugin(bind, 'bind lo {\n except ::1\n}');
    expect(lo.addresses).toContain('127.0.0.1');
    expect(lo.except).toEqual(['::1']);
  });

  it('rejects what is neither an address nor an interface, naming the line', () => {
    expect(() => parsePlugin(bind, '\nbind nosuchif0')).toThrow(/Testfile:2 .*plugin\/bind: not a valid IP address or interface name: 'nosuchif0'/);
    expect(() => parsePlugin(bind, 'bind')).toThrow(/wrong argument count/);
    expect(() => parsePlugin(bind, 'bind 127.0.0.1 {\n foo\n}')).toThrow(/unknown property 'foo'/);
  });

  it('listens only where told', async () => {
    const srv = await startServer('.:0 {\n  bind 127.0.0.1\n  whoami\n}');
    try {
      const addrs = srv.server.addresses();
      expect(addrs).toHaveLength(1);
      expect(addrs[0]!.udp).toEqual([`127.0.0.1:${srv.port}`]);
      expect(addrs[0]!.tcp).toEqual([`127.0.0.1:${srv.port}`]);
      expect((await srv.query('x.', 'A')).rcode).toBe(0);
    } finally {
      await srv.close();
    }
  });
});
