import { afterEach, describe, expect, it } from 'vitest';
import { dispense, parsePlugin, responder, startServer, type TestServer } from '../../src/testing/index.js';
import ready, { type ReadyPlugin } from './index.js';

// Two test plugins whose readiness the test switches.
const state = { alpha: false, beta: false };
const toggled = (name: 'alpha' | 'beta') => responder(name, (req, w, next) => next(req, w), { ready: () => state[name] });

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

function readyOf(s: TestServer, block = 0): ReadyPlugin {
  return s.server.generation!.blocks[block]!.plugins.find((x) => x.name === 'ready')!.plugin as ReadyPlugin;
}

describe('ready parse', () => {
  it('defaults to :8181, until-ready', () => {
    expect(parsePlugin(ready, 'ready')).toEqual({ address: ':8181', continuously: false });
    expect(parsePlugin(ready, 'ready localhost:8182 {\n monitor continuously\n}')).toEqual({ address: 'localhost:8182', continuously: true });
  });
  it.each([
    ['ready a:1 b:2', /Wrong argument count/i],
    ['ready nope', /invalid address/],
    ['ready {\n monitor sometimes\n}', /unknown monitor mode 'sometimes'/],
    ['ready {\n other\n}', /unknown property/i],
  ])('rejects %j', (text, re) => {
    expect(() => ready.parse(dispense(text), ['.'])).toThrow(re);
  });
});

describe('ready over HTTP', () => {
  it('lists the not-ready plugins, sorted, until every one is ready; then stays OK', async () => {
    state.alpha = false;
    state.beta = false;
    const s = await startServer('.:0 {\n bind 127.0.0.1\n ready 127.0.0.1:0\n beta\n alpha\n whoami\n}', { plugins: [toggled('alpha'), toggled('beta')] });
    servers.push(s);
    const url = `${readyOf(s).handle.url}/ready`;
    expect(await get(url)).toEqual({ status: 503, body: 'alpha,beta' });
    state.beta = true;
    expect(await get(url)).toEqual({ status: 503, body: 'alpha' });
    state.alpha = true;
    expect(await get(url)).toEqual({ status: 200, body: 'OK' });
    // until-ready: not re-checked once reached
    state.alpha = false;
    expect(await get(url)).toEqual({ status: 200, body: 'OK' });
  });

  it('monitor continuously re-checks, and names are listed once across blocks', async () => {
    state.alpha = false;
    state.beta = true;
    const s = await startServer('a.:0 {\n bind 127.0.0.1\n ready 127.0.0.1:0 {\n  monitor continuously\n }\n alpha\n whoami\n}\nb.:0 {\n bind 127.0.0.1\n alpha\n beta\n whoami\n}', {
      plugins: [toggled('alpha'), toggled('beta')],
    });
    servers.push(s);
    const url = `${readyOf(s).handle.url}/ready`;
    expect(await get(url)).toEqual({ status: 503, body: 'alpha' });
    state.alpha = true;
    expect(await get(url)).toEqual({ status: 200, body: 'OK' });
    state.beta = false;
    expect(await get(url)).toEqual({ status: 503, body: 'beta' });
  });

  it('says OK with no readiness plugins and "Shutting down" during shutdown', async () => {
    const s = await startServer('.:0 {\n bind 127.0.0.1\n ready 127.0.0.1:0\n health 127.0.0.1:0 {\n  lameduck 600ms\n }\n whoami\n}');
    const url = `${readyOf(s).handle.url}/ready`;
    expect(await get(url)).toEqual({ status: 200, body: 'OK' });
    const stopped = s.close();
    expect(await get(url)).toEqual({ status: 503, body: 'Shutting down' });
    await stopped;
    await expect(fetch(url)).rejects.toThrow();
  });
});
