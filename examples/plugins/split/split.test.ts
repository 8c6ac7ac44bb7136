// Tests of the split plugin, written against the published helpers of 'typedns/testing' as an
// outside author would. In this repository the package is built (dist/) and linked into
// ./node_modules first; in your own project `npm install -D typedns` does that.
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Testing from 'typedns/testing';
import type { PluginDefinition } from 'typedns/plugin';
import type { SplitConfig } from './index.js';
import { ensureBuilt, linkTypedns } from '../../../test/support/build.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let t: typeof Testing;
let split: PluginDefinition<SplitConfig>;

const COREFILE_SNIPPET = `split example.org {
    net 127.0.0.0/8 ::1/128 {
        app.example.org 127.0.0.10 ::10
        only4.example.org 127.0.0.11
    }
    net 0.0.0.0/0 ::/0 {
        app.example.org 192.0.2.10 2001:db8::10
    }
    ttl 60
}`;

beforeAll(async () => {
  await ensureBuilt();
  linkTypedns(here);
  t = await import('typedns/testing');
  split = ((await import('./index.js')) as { default: PluginDefinition<SplitConfig> }).default;
}, 60_000);

describe('parse', () => {
  it('reads views, ttl and fallthrough', () => {
    const cfg = t.parsePlugin(split, COREFILE_SNIPPET + '\n', ['example.org.']);
    expect(cfg.ttl).toBe(60);
    expect(cfg.fall.enabled).toBe(false);
    expect(cfg.views.map((v) => v.label)).toEqual(['127.0.0.0/8,::1/128', '0.0.0.0/0,::/0']);
    expect(cfg.views[0]!.records.get('app.example.org.')).toEqual(['127.0.0.10', '::10']);
    expect(cfg.zones.list).toEqual(['example.org.']);
    const f = t.parsePlugin(split, 'split {\n net 10.0.0.0/8 {\n a.example.org 10.0.0.1\n }\n fallthrough\n}', ['example.org.']);
    expect(f.fall.through('x.example.org.')).toBe(true);
    expect(f.zones.list).toEqual(['example.org.']); // the block's zones by default
  });

  it.each([
    ['split {\n}', 'Testfile:2', 'expected at least one net block'],
    ['split {\n net 10.0.0.300/8 {\n  a.example.org 10.0.0.1\n }\n}', 'Testfile:2', "invalid CIDR '10.0.0.300/8'"],
    ['split {\n net {\n }\n}', 'Testfile:2', 'expected at least one CIDR'],
    ['split {\n net 10.0.0.0/8 {\n  a.example.org\n }\n}', 'Testfile:3', 'needs at least one address'],
    ['split {\n net 10.0.0.0/8 {\n  a.example.org 10.0.0.1/32\n }\n}', 'Testfile:3', "invalid address '10.0.0.1/32'"],
    ['split {\n net 10.0.0.0/8 {\n  a.example.com 10.0.0.1\n }\n}', 'Testfile:3', 'outside the plugin'],
    ['split {\n ttl 99999\n}', 'Testfile:2', 'out of range'],
    ['split {\n colour blue\n}', 'Testfile:2', "unknown property 'colour'"],
  ])('rejects %j', (text, where, msg) => {
    let err: unknown;
    try {
      t.parsePlugin(split, text, ['example.org.']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as { short: string }).short).toContain(where);
    expect((err as Error).message).toContain('plugin/split: ');
    expect((err as Error).message).toContain(msg);
  });
});

describe('serve', () => {
  // parse + setup with a test SetupContext (log lines and metrics kept in memory)
  const setup = async (text: string) => {
    const { plugin, ctx } = await t.setupPlugin(split, text, ['example.org.']);
    return Object.assign(plugin as Required<typeof plugin>, { ctx });
  };

  it('answers from the view that contains the client', async () => {
    const p = await setup(COREFILE_SNIPPET);
    const cases: Array<[string, string, string, string[]]> = [
      ['127.0.0.1', 'app.example.org.', 'A', ['app.example.org. 60 IN A 127.0.0.10']],
      ['127.0.0.1', 'APP.Example.org.', 'AAAA', ['app.example.org. 60 IN AAAA ::10']],
      ['::ffff:127.0.0.9', 'app.example.org.', 'A', ['app.example.org. 60 IN A 127.0.0.10']],
      ['10.9.8.7', 'app.example.org.', 'A', ['app.example.org. 60 IN A 192.0.2.10']],
      ['2001:db8::99', 'app.example.org.', 'AAAA', ['app.example.org. 60 IN AAAA 2001:db8::10']],
      ['127.0.0.1', 'only4.example.org.', 'AAAA', []], // NODATA
      ['127.0.0.1', 'only4.example.org.', 'TXT', []],
    ];
    expect(await p.ctx.metrics.registry.getSingleMetricAsString('coredns_split_answers_total')).not.toContain('} 1');
    for (const [client, name, type, answer] of cases) {
      const req = t.fakeRequest(name, type, { client });
      const rec = new t.Recorder(req);
      const next = t.nextReturning(2);
      const rc = p.serve(req, rec, next);
      expect(rc, `${client} ${name} ${type}`).toBe(0); // synchronous, not a promise
      expect(next.calls).toBe(0);
      t.sortAndCheck(rec.msg, { rcode: 'NOERROR', aa: true, answer });
    }
    const m = await p.ctx.metrics.registry.getSingleMetricAsString('coredns_split_answers_total');
    expect(m).toContain('coredns_split_answers_total{view="127.0.0.0/8,::1/128"} 5');
    expect(m).toContain('coredns_split_answers_total{view="0.0.0.0/0,::/0"} 2');
  });

  it('NXDOMAIN for an unknown name, next for one outside its zones or with fallthrough', async () => {
    const p = await setup(COREFILE_SNIPPET);
    let next = t.nextReturning(5);
    expect(p.serve(t.fakeRequest('nope.example.org.', 'A', { client: '127.0.0.1' }), new t.Recorder(), next)).toBe(3);
    // only4 exists in the 127/8 view only
    expect(p.serve(t.fakeRequest('only4.example.org.', 'A', { client: '10.0.0.1' }), new t.Recorder(), next)).toBe(3);
    expect(next.calls).toBe(0);
    expect(p.serve(t.fakeRequest('app.example.com.', 'A', { client: '127.0.0.1' }), new t.Recorder(), next)).toBe(5);
    expect(next.calls).toBe(1);

    const f = await setup('split {\n net 127.0.0.0/8 {\n a.example.org 127.0.0.1\n }\n fallthrough\n}');
    next = t.nextReturning(0);
    expect(f.serve(t.fakeRequest('b.example.org.', 'A', { client: '127.0.0.1' }), new t.Recorder(), next)).toBe(0);
    expect(f.serve(t.fakeRequest('a.example.org.', 'A', { client: '10.0.0.1' }), new t.Recorder(), next)).toBe(0); // no view matches
    expect(next.calls).toBe(2);
  });
});

describe('in a server', () => {
  let srv: Testing.TestServer;
  beforeAll(async () => {
    srv = await t.startServer(`example.org:0 {\n bind 127.0.0.1\n ${COREFILE_SNIPPET.replace(/\n/g, '\n ')}\n}`, { plugins: [split] });
  });
  afterAll(() => srv?.close());

  it('answers a real query from 127.0.0.1 with the loopback view, and counts it', async () => {
    const r = await srv.query('app.example.org', 'A');
    t.sortAndCheck(r.msg, { rcode: 'NOERROR', aa: true, answer: ['app.example.org. 60 IN A 127.0.0.10'] });
    const tcp = await srv.query('app.example.org', 'AAAA', { tcp: true });
    t.sortAndCheck(tcp.msg, { rcode: 'NOERROR', answer: ['app.example.org. 60 IN AAAA ::10'] });
    const m = (await srv.metrics.registry.getSingleMetricAsString('coredns_split_answers_total')).split('\n');
    expect(m).toContain('coredns_split_answers_total{view="127.0.0.0/8,::1/128"} 2');
  });

  it('notes which view answered when the query is explained (req.trace, GET /explain)', async () => {
    const e = await t.startServer(`example.org:0 {\n bind 127.0.0.1\n explain 127.0.0.1:0\n ${COREFILE_SNIPPET.replace(/\n/g, '\n ')}\n}`, { plugins: [split] });
    try {
      const explain = e.server.generation!.blocks[0]!.plugins.find((p) => p.name === 'explain')!.plugin as unknown as { handle: { port: number } };
      const res = await fetch(`http://127.0.0.1:${explain.handle.port}/explain?name=app.example.org&from=10.1.2.3&format=json`);
      const body = (await res.json()) as { steps: Array<{ plugin: string; kind: string; text: string }>; reply: { dig: string[] } };
      expect(body.steps.filter((s) => s.plugin === 'split' && s.kind === 'note').map((s) => s.text)).toEqual(['client 10.1.2.3 is in view 0.0.0.0/0,::/0']);
      expect(body.reply.dig).toContain('app.example.org.\t60\tIN\tA\t192.0.2.10');
    } finally {
      await e.close();
    }
  });
});
