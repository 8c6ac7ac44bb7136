// Operations through the real CLI (dist/, built by vitest's globalSetup), as Kubernetes runs it:
// SIGTERM with queries in flight loses none; lameduck keeps answering while /ready says
// "Shutting down"; a forwarding loop makes the process exit 1 with CoreDNS's message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, query, waitFor } from '../../src/testing/index.js';
import { spawnCli, type CliProcess } from '../support/cli.js';

let dir: string;

// External plugins, as a user writes them (plain ESM, no import needed).
const SLOW = `export default {
  name: 'slow', api: '^1', position: { before: 'whoami' },
  parse(d) { d.next(); return Number(d.remainingArgs()[0] ?? 500); },
  setup(ms) { let n = 0; return { serve(req, w, next) { process.stdout.write('slow got ' + (++n) + '\\n'); return new Promise((r) => setTimeout(() => r(next(req, w)), ms)); } }; },
};
`;
const SELFFWD = `import dgram from 'node:dgram';
export default {
  name: 'selffwd', api: '^1', position: { after: 'loop' },
  parse(d) { d.next(); return {}; },
  setup() { return { serve(req, w) { return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve(2); }, 1000);
    s.on('message', (m) => { clearTimeout(t); s.close(); w.write(m); resolve(m[3] & 15); });
    s.send(req.wire, req.local.port, req.local.ip);
  }); } }; },
};
`;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'typedns-ops-'));
  writeFileSync(path.join(dir, 'slow.mjs'), SLOW);
  writeFileSync(path.join(dir, 'selffwd.mjs'), SELFFWD);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI on a Corefile with external plugins from `dir`; returns once it printed its banner or exited. */
async function startCli(corefile: string, plugins: string[]): Promise<CliProcess> {
  const file = path.join(dir, `Corefile-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, corefile);
  const c = spawnCli(['-conf', file, ...plugins.flatMap((p) => ['-plugin', `./${p}`])], dir);
  await c.ready({ orExit: true });
  return c;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

describe('graceful shutdown', () => {
  it('SIGTERM with slow queries in flight: every query is answered, then the process exits 0', async () => {
    const port = await freePort();
    const c = await startCli(`.:${port} {\n bind 127.0.0.1\n slow 700\n whoami\n}\n`, ['slow.mjs']);
    const queries = Array.from({ length: 30 }, (_, i) => query(port, `q${i}.example.org.`, 'A', { host: '127.0.0.1', tcp: i % 3 === 0, timeout: 5000 }));
    // every query reached the server (none answered yet: 700 ms each), however loaded the machine
    await waitFor(() => c.out().includes('slow got 30\n'), { timeout: 5000, what: 'the 30 queries to arrive' });
    c.child.kill('SIGTERM');
    const results = await Promise.allSettled(queries);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toEqual([]);
    for (const r of results) if (r.status === 'fulfilled') expect(r.value.rcode).toBe(0);
    expect(await c.exited).toBe(0);
    expect(c.out()).toContain('SIGTERM: shutting down');
  });

  it('lameduck: answers new queries and /health while /ready says "Shutting down", then exits', async () => {
    const [port, hport, rport] = [await freePort(), await freePort(), await freePort()];
    const c = await startCli(
      `.:${port} {\n bind 127.0.0.1\n health 127.0.0.1:${hport} {\n  lameduck 1500ms\n }\n ready 127.0.0.1:${rport}\n slow 300\n whoami\n}\n`,
      ['slow.mjs'],
    );
    expect(await get(`http://127.0.0.1:${rport}/ready`)).toEqual({ status: 200, body: 'OK' });
    const inflight = query(port, 'before.example.org.', 'A', { host: '127.0.0.1', timeout: 5000 });
    await waitFor(() => c.out().includes('slow got 1\n'), { what: 'the first query to arrive' });
    const t0 = Date.now();
    c.child.kill('SIGTERM');
    // lameduck has begun once /ready says so
    await waitFor(async () => (await get(`http://127.0.0.1:${rport}/ready`)).status === 503, { what: '/ready to say 503' });
    expect(await get(`http://127.0.0.1:${rport}/ready`)).toEqual({ status: 503, body: 'Shutting down' });
    expect(await get(`http://127.0.0.1:${hport}/health`)).toEqual({ status: 200, body: 'OK' });
    expect((await query(port, 'during.example.org.', 'A', { host: '127.0.0.1', timeout: 3000 })).rcode).toBe(0);
    expect((await inflight).rcode).toBe(0);
    expect(await c.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(c.out()).toMatch(/Going into lameduck mode for 1.5s/);
  });
});

describe('loop through the CLI', () => {
  it('exits 1 with the loop message when the server forwards to itself', async () => {
    const port = await freePort();
    const c = await startCli(`.:${port} {\n bind 127.0.0.1\n loop\n selffwd\n}\n`, ['selffwd.mjs']);
    expect(await c.exited).toBe(1);
    expect(c.out()).toMatch(
      new RegExp(`\\[FATAL\\] plugin/loop: Loop \\(127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port}\\) detected for zone "\\.", see https://coredns\\.io/plugins/loop#troubleshooting\\. Query: "HINFO \\d+\\.\\d+\\."`),
    );
  });
});
