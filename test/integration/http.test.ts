// The HTTP listeners (health, ready, metrics) under slowloris: the real CLI with short limits set
// in its environment, its descriptors counted from /proc/<pid>/fd.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, query, waitFor } from '../../src/testing/index.js';
import { startCli } from '../support/cli.js';
import { ROOT } from '../support/build.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-http-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const fds = (pid: number): number => fs.readdirSync(`/proc/${pid}/fd`).length;

describe.skipIf(process.platform !== 'linux')('HTTP listeners under slowloris', () => {
  it('closes slow and silent clients after the header and idle timeouts, caps connections; /metrics and DNS over TCP keep answering', async () => {
    const dns = await freePort();
    const metrics = await freePort();
    const conf = path.join(dir, 'Corefile');
    fs.writeFileSync(conf, `.:${dns} {\n bind 127.0.0.1\n prometheus 127.0.0.1:${metrics}\n whoami\n}\n`);
    const cli = await startCli(['-conf', conf], ROOT, {
      TYPEDNS_HTTP_HEADERS_TIMEOUT: '500ms',
      TYPEDNS_HTTP_IDLE_TIMEOUT: '1s',
      TYPEDNS_HTTP_MAX_CONNECTIONS: '50',
    });
    const socks: net.Socket[] = [];
    let drip: NodeJS.Timeout | undefined;
    try {
      const pid = cli.child.pid!;
      expect((await get(metrics, '/metrics')).status).toBe(200);
      const base = fds(pid);
      // 300 clients that send a header line every 100 ms and never finish the request, and 20
      // that send nothing at all
      let closed = 0;
      for (let i = 0; i < 320; i++) {
        const s = net.connect({ host: '127.0.0.1', port: metrics });
        s.on('error', () => {});
        s.on('close', () => closed++);
        if (i < 300) s.on('connect', () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
        socks.push(s);
      }
      drip = setInterval(() => {
        for (const s of socks.slice(0, 300)) if (!s.destroyed && s.writable) s.write(`X-Slow-${Date.now()}: 1\r\n`);
      }, 100);
      let most = 0;
      await waitFor(
        async () => {
          most = Math.max(most, fds(pid));
          // DNS over TCP answers throughout (answered at all while 320 clients drip: a starved
          // listener never answers; 2 s was too short for a busy process on a loaded machine)
          expect((await query(dns, 'during.example', 'A', { host: '127.0.0.1', tcp: true, timeout: 5000 })).rcode).toBe(0);
          return closed === socks.length;
        },
        // 320 clients, 50 held at a time, each cut by the 500 ms header timeout (or the 1 s idle
        // one): about seven rounds, 3-5 s on a quiet machine. Without those timeouts the dripping
        // clients are never cut, so a deadline of 40 s still fails then and leaves room for a
        // machine that runs the CLI at a fraction of a core.
        { timeout: 40_000, what: 'every slow client to be closed' },
      );
      // at most 50 held at once (and a few descriptors for the DNS queries asked meanwhile)
      expect(most - base).toBeLessThanOrEqual(50 + 10);
      const r = await get(metrics, '/metrics');
      expect(r.status).toBe(200);
      expect(r.body).toContain('coredns_build_info');
      expect((await query(dns, 'after.example', 'A', { host: '127.0.0.1', tcp: true })).rcode).toBe(0);
      await waitFor(() => fds(pid) <= base + 2, { timeout: 10_000, what: 'the descriptors to be returned' });
    } finally {
      clearInterval(drip);
      for (const s of socks) s.destroy();
      await cli.stop();
    }
  }, 60_000);
});
