// Reloading the whole server set: atomic swap, failures keep the old config, no socket leaks.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import dgram from 'node:dgram';
import { definePlugin } from '../../src/plugin/api.js';
import { freePort, query, startServer } from '../../src/testing/index.js';

const answer = definePlugin({
  name: 'answer',
  api: '^1',
  position: { before: 'whoami' },
  parse(d) {
    d.next();
    const v = d.arg();
    if (v === 'fail-setup') return { v, fail: true };
    return { v, fail: false };
  },
  setup(cfg) {
    if (cfg.fail) throw new Error('setup failed on purpose');
    return {
      serve(req, w) {
        w.write({ type: 'response', flags: 0x0400, answers: [{ name: req.qname, type: 'TXT', ttl: 0, data: [cfg.v] }] });
        return 0;
      },
    };
  },
});

const openFds = (): number => readdirSync('/proc/self/fd').length;
const txt = async (port: number): Promise<string> => String((await query(port, 'x.example.org', 'TXT')).msg.answers?.[0] && ((await query(port, 'x.example.org', 'TXT')).msg.answers![0] as { data: Buffer[] }).data[0]);

describe('reload', () => {
  it('swaps behaviour, keeps the old config on parse, setup and listen errors', async () => {
    const port = await freePort();
    const cf = (v: string, extra = ''): string => `example.org:${port} {\n bind 127.0.0.1\n answer ${v}\n}\n${extra}`;
    const srv = await startServer(cf('one'), { plugins: [answer] });
    try {
      expect(await txt(port)).toBe('one');
      expect(await srv.server.reload('test', { text: cf('two'), file: 'Corefile' })).toBe(true);
      expect(await txt(port)).toBe('two');
      // parse error
      expect(await srv.server.reload('test', { text: `example.org:${port} {\n answer\n}`, file: 'Corefile' })).toBe(false);
      expect(await txt(port)).toBe('two');
      // setup error
      expect(await srv.server.reload('test', { text: cf('fail-setup'), file: 'Corefile' })).toBe(false);
      expect(await txt(port)).toBe('two');
      // a port that is taken
      const taken = dgram.createSocket('udp4');
      await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
      const busy = taken.address().port;
      expect(await srv.server.reload('test', { text: cf('three', `example.net:${busy} {\n bind 127.0.0.1\n answer x\n}\n`), file: 'Corefile' })).toBe(false);
      taken.close();
      expect(await txt(port)).toBe('two');
      expect(srv.log.lines.some((l) => l.includes('Reload failed'))).toBe(true);
      const failed = await srv.metrics.registry.getSingleMetricAsString('coredns_reload_failed_total');
      expect(failed).toMatch(/coredns_reload_failed_total 3/);
    } finally {
      await srv.close();
    }
  });

  it('loses no socket across 100 reloads, and answers during them', async () => {
    const port = await freePort();
    const cf = (v: string): string => `example.org:${port} {\n bind 127.0.0.1\n answer ${v}\n}\n`;
    const srv = await startServer(cf('v0'), { plugins: [answer] });
    try {
      await srv.server.reload('warm', { text: cf('v1'), file: 'Corefile' });
      const before = openFds();
      let answered = 0;
      let stop = false;
      const load = (async () => {
        while (!stop) {
          const r = await query(port, 'x.example.org', 'TXT', { timeout: 1000 });
          if (r.rcode === 0) answered++;
        }
      })();
      for (let i = 0; i < 100; i++) expect(await srv.server.reload('loop', { text: cf(`v${i}`), file: 'Corefile' })).toBe(true);
      stop = true;
      await load; // rejects if any query went unanswered
      expect(answered).toBeGreaterThan(0);
      expect(await txt(port)).toBe('v99');
      expect(openFds()).toBeLessThanOrEqual(before + 2);
    } finally {
      await srv.close();
    }
  }, 30_000);
});
