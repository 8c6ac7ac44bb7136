import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { definePlugin } from '../../src/plugin/api.js';
import { dispense, parsePlugin, query, startServer, type TestServer, waitFor } from '../../src/testing/index.js';
import reload, { hashFiles } from './index.js';

// `fixed RCODE`: answers every query with that rcode (no records).
const fixed = definePlugin<number>({
  name: 'fixed',
  api: '^1',
  position: { before: 'whoami' },
  parse(d) {
    d.next();
    return Number(d.arg());
  },
  setup(rc) {
    return { serve: () => rc };
  },
});

const dirs: string[] = [];
const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'typedns-reload-'));
  dirs.push(d);
  return d;
}

async function start(file: string): Promise<TestServer> {
  const s = await startServer(readFileSync(file, 'utf8'), { file, plugins: [fixed] });
  servers.push(s);
  return s;
}

/**
 * Rcode of a query to wherever the server listens now: port-0 listeners move to a new port on
 * every reload, so a query racing a reload can go to the port just closed (-1 then; poll again).
 */
async function rcode(s: TestServer): Promise<number> {
  try {
    return (await query(s.server.port, 'a.example.org.', 'A', { host: '127.0.0.1', timeout: 1000 })).rcode;
  } catch {
    return -1;
  }
}

const corefile = (body: string): string => `.:0 {\n bind 127.0.0.1\n reload 2s 1s\n${body}\n}\n`;
// One interval (2 s) plus jitter (1 s) plus slack.
const WITHIN = 6000;

describe('reload parse', () => {
  it('defaults to 30s ± 15s', () => {
    expect(parsePlugin(reload, 'reload')).toEqual({ interval: 30000, jitter: 15000 });
    expect(parsePlugin(reload, 'reload 10s')).toEqual({ interval: 10000, jitter: 5000 }); // jitter capped at interval/2
    expect(parsePlugin(reload, 'reload 10s 2s')).toEqual({ interval: 10000, jitter: 2000 });
    expect(parsePlugin(reload, 'reload 2s 0s')).toEqual({ interval: 2000, jitter: 0 });
  });
  it.each([
    ['reload 1s', /interval value must be greater or equal to 2s/],
    ['reload 5s 500ms', /jitter value must be 0s or greater or equal to 1s/],
    ['reload soon', /invalid interval 'soon'/],
    ['reload 5s 1s 1s', /Wrong argument count/i],
    ['reload {\n x\n}', /unknown property/i],
  ])('rejects %j', (text, re) => {
    expect(() => reload.parse(dispense(text), ['.'])).toThrow(re);
  });
});

describe('reload', () => {
  it.concurrent('swaps behaviour within one interval, and reports the running hash', async () => {
    const dir = tmp();
    const file = path.join(dir, 'Corefile');
    writeFileSync(file, corefile(' fixed 3'));
    const s = await start(file);
    expect(await rcode(s)).toBe(3);
    const h1 = createHash('sha512').update(readFileSync(file)).update('\0').digest('hex');
    expect(hashFiles([file])).toBe(h1);
    expect(await s.metrics.registry.getSingleMetricAsString('coredns_reload_version_info')).toContain(`coredns_reload_version_info{hash="sha512",value="${h1}"} 1`);
    expect(s.log.lines.join('\n')).toContain(`Running configuration SHA512 = ${h1}`);
    writeFileSync(file, corefile(' fixed 5'));
    await waitFor(async () => (await rcode(s)) === 5, WITHIN);
    const h2 = hashFiles([file])!;
    const info = await s.metrics.registry.getSingleMetricAsString('coredns_reload_version_info');
    expect(info).toContain(`value="${h2}"`);
    expect(info).not.toContain(`value="${h1}"`);
  });

  it.concurrent('keeps the old config on a broken Corefile and counts the failure', async () => {
    const dir = tmp();
    const file = path.join(dir, 'Corefile');
    writeFileSync(file, corefile(' fixed 3'));
    const s = await start(file);
    expect(await s.metrics.registry.getSingleMetricAsString('coredns_reload_failed_total')).toMatch(/coredns_reload_failed_total 0/);
    writeFileSync(file, corefile(' fixed 3\n nosuchplugin'));
    await waitFor(async () => /coredns_reload_failed_total 1/.test(await s.metrics.registry.getSingleMetricAsString('coredns_reload_failed_total')), WITHIN);
    const port = s.server.port;
    expect(await rcode(s)).toBe(3);
    expect(s.server.port).toBe(port); // nothing was rebound
    expect(s.log.lines.join('\n')).toMatch(/Reload failed .*nosuchplugin/);
    // a fixed file is picked up by the same (old) timer
    writeFileSync(file, corefile(' fixed 5'));
    await waitFor(async () => (await rcode(s)) === 5, WITHIN);
    expect(await s.metrics.registry.getSingleMetricAsString('coredns_reload_failed_total')).toMatch(/coredns_reload_failed_total 1/);
  });

  it.concurrent('follows a ConfigMap volume update (symlink swap) and imported files', async () => {
    const dir = tmp();
    const v1 = path.join(dir, '..2024_v1');
    mkdirSync(v1);
    writeFileSync(path.join(v1, 'Corefile'), corefile(' import extra.conf'));
    writeFileSync(path.join(v1, 'extra.conf'), 'fixed 3\n');
    symlinkSync('..2024_v1', path.join(dir, '..data'));
    symlinkSync('..data/Corefile', path.join(dir, 'Corefile'));
    symlinkSync('..data/extra.conf', path.join(dir, 'extra.conf'));
    const s = await start(path.join(dir, 'Corefile'));
    expect(await rcode(s)).toBe(3);
    // kubelet: write the new version beside, then atomically repoint ..data
    const v2 = path.join(dir, '..2024_v2');
    mkdirSync(v2);
    writeFileSync(path.join(v2, 'Corefile'), corefile(' import extra.conf'));
    writeFileSync(path.join(v2, 'extra.conf'), 'fixed 5\n');
    symlinkSync('..2024_v2', path.join(dir, '..data_tmp'));
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    rmSync(v1, { recursive: true });
    await waitFor(async () => (await rcode(s)) === 5, WITHIN);
  });

  it.concurrent('stops its timer when a reload removes it', async () => {
    const dir = tmp();
    const file = path.join(dir, 'Corefile');
    writeFileSync(file, corefile(' fixed 3'));
    const s = await start(file);
    writeFileSync(file, '.:0 {\n bind 127.0.0.1\n fixed 5\n}\n');
    await waitFor(async () => (await rcode(s)) === 5, WITHIN);
    // (the reload is over, so is the tick that asked for it: a left-over timer has been set by now)
    await waitFor(() => s.log.lines.some((l) => l.includes('Reloading complete')), WITHIN);
    writeFileSync(file, '.:0 {\n bind 127.0.0.1\n fixed 2\n}\n');
    // Proving a timer will not fire takes a timer: a left-over one was set when that reload was
    // done, before this one, for 2 s ± 1 s, so it would be due before a timer set now for 3 s +
    // 100 ms, and Node runs due timers in order — however late the loaded machine runs them both.
    // Its tick says 'Reloading' at once (a second time; the first was 3 → 5).
    await new Promise((r) => setTimeout(r, 3100));
    expect(s.log.lines.filter((l) => l.endsWith('plugin/reload: Reloading'))).toHaveLength(1);
    expect(await rcode(s)).toBe(5);
  });
});
