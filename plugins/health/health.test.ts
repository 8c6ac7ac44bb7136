import { afterEach, describe, expect, it } from 'vitest';
import { parsePlugin, startServer, type TestServer, waitFor } from '../../src/testing/index.js';
import { dispense } from '../../src/testing/index.js';
import health, { type HealthPlugin } from './index.js';
import type { ReadyPlugin } from '../ready/index.js';
import { parseAddress } from '../../src/plugin/api.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(corefile: string): Promise<TestServer> {
  const s = await startServer(corefile);
  servers.push(s);
  return s;
}

function pluginOf<T>(s: TestServer, name: string, block = 0): T {
  const p = s.server.generation?.blocks[block]?.plugins.find((x) => x.name === name)?.plugin;
  if (p === undefined) throw new Error(`no plugin ${name}`);
  return p as T;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

describe('health parse', () => {
  it('defaults to :8080 and no lameduck', () => {
    expect(parsePlugin(health, 'health')).toEqual({ address: ':8080', lameduck: 0 });
  });
  it('takes an address and lameduck', () => {
    expect(parsePlugin(health, 'health 127.0.0.1:8091 {\n lameduck 5s\n}')).toEqual({ address: '127.0.0.1:8091', lameduck: 5000 });
    expect(parsePlugin(health, 'health [::1]:8080')).toEqual({ address: '[::1]:8080', lameduck: 0 });
  });
  it.each([
    ['health a b', /Wrong argument count/i],
    ['health localhost', /invalid address 'localhost'/],
    ['health :99999', /invalid address/],
    ['health {\n lameduck\n}', /./],
    ['health {\n lameduck soon\n}', /invalid duration/],
    ['health {\n lameduck 0s\n}', /must be positive/],
    ['health {\n bogus 1\n}', /unknown property 'bogus'/i],
  ])('rejects %j', (text, re) => {
    expect(() => health.parse(dispense(text), ['.'])).toThrow(re);
  });
  it('parses addresses', () => {
    expect(parseAddress(':8080')).toEqual({ host: '', port: 8080 });
    expect(parseAddress('localhost:9153')).toEqual({ host: 'localhost', port: 9153 });
    expect(parseAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseAddress('8080')).toBeUndefined();
    expect(parseAddress('[nothex]:1')).toBeUndefined();
  });
});

describe('health over HTTP', () => {
  it('answers 200 OK on /health and 404 elsewhere', async () => {
    const s = await start('.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n}');
    const h = pluginOf<HealthPlugin>(s, 'health');
    expect(await get(`${h.handle.url}/health`)).toEqual({ status: 200, body: 'OK' });
    expect((await get(`${h.handle.url}/nope`)).status).toBe(404);
  });

  it('shares one listener between blocks and keeps it across reloads', async () => {
    const cf = (extra: string): string => `a.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n}\nb.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n${extra}}`;
    const s = await start(cf(''));
    const h0 = pluginOf<HealthPlugin>(s, 'health', 0);
    const h1 = pluginOf<HealthPlugin>(s, 'health', 1);
    expect(h1.handle.port).toBe(h0.handle.port);
    expect(await s.server.reload('test', { text: cf(' log\n'), file: 'Corefile' })).toBe(true);
    const h2 = pluginOf<HealthPlugin>(s, 'health', 0);
    expect(h2).not.toBe(h0);
    expect(h2.handle.port).toBe(h0.handle.port);
    expect(await get(`${h2.handle.url}/health`)).toEqual({ status: 200, body: 'OK' });
  });

  it('closes the listener when a reload drops health', async () => {
    const s = await start('.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n}');
    const url = pluginOf<HealthPlugin>(s, 'health').handle.url;
    expect(await s.server.reload('test', { text: '.:0 {\n bind 127.0.0.1\n whoami\n}', file: 'Corefile' })).toBe(true);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('a busy address fails the reload and keeps the old config', async () => {
    const s = await start('.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n}');
    const busy = await start('.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n}');
    const port = pluginOf<HealthPlugin>(busy, 'health').handle.port;
    const url = pluginOf<HealthPlugin>(s, 'health').handle.url;
    expect(await s.server.reload('test', { text: `.:0 {\n bind 127.0.0.1\n health 127.0.0.1:${port}\n whoami\n}`, file: 'Corefile' })).toBe(false);
    expect(await get(`${url}/health`)).toEqual({ status: 200, body: 'OK' });
    expect(s.log.lines.join('\n')).toMatch(/Reload failed/);
  });

  it('self-checks once per second into coredns_health_* metrics', async () => {
    const s = await start('.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0\n whoami\n}');
    await waitFor(async () => ((await s.metrics.registry.getSingleMetricAsString('coredns_health_request_duration_seconds')).match(/_count (\d+)/)?.[1] ?? '0') !== '0', 4000);
    const text = await s.metrics.registry.metrics();
    expect(text).toMatch(/^coredns_health_request_failures_total 0$/m);
    expect(text).toMatch(/^coredns_health_request_duration_seconds_bucket\{le="0.00025"\}/m);
  });

  it('lameduck keeps answering DNS and /health while ready says "Shutting down"', async () => {
    const s = await startServer('.:0 {\n bind 127.0.0.1\n health 127.0.0.1:0 {\n  lameduck 1500ms\n }\n ready 127.0.0.1:0\n whoami\n}');
    const h = pluginOf<HealthPlugin>(s, 'health');
    const r = pluginOf<ReadyPlugin>(s, 'ready');
    expect(await get(`${r.handle.url}/ready`)).toEqual({ status: 200, body: 'OK' });
    const t0 = Date.now();
    const stopped = s.server.stop(0);
    expect(await get(`${h.handle.url}/health`)).toEqual({ status: 200, body: 'OK' });
    expect(await get(`${r.handle.url}/ready`)).toEqual({ status: 503, body: 'Shutting down' });
    expect((await s.query('example.org.', 'A')).rcode).toBe(0);
    await stopped;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(s.log.lines.join('\n')).toMatch(/Going into lameduck mode for 1.5s/);
    await expect(fetch(`${h.handle.url}/health`)).rejects.toThrow();
    await expect(s.query('example.org.', 'A', { timeout: 300 })).rejects.toThrow();
  });
});
