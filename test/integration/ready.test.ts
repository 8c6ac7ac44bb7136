// /ready tells the truth: 503 until every listener of the process is bound and every plugin that
// reports readiness is ready (kubernetes: its first full sync), on a plain start and under
// -workers. The fake API server makes the first list slow, as a 10,000-Service cluster's is.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, query, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { namespace, service } from '../support/k8s-objects.js';
import { spawnCli, type CliProcess } from '../support/cli.js';

const WEB = 'web.shop.svc.cluster.local.';

function stanza(fake: FakeApiServer): string {
  return `kubernetes cluster.local {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
    startup_timeout 30s
  }`;
}

async function status(url: string): Promise<{ code: number; body: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { code: r.status, body: await r.text() };
  } catch {
    return undefined; // not listening yet
  }
}

/** Poll /ready every 20 ms until it says 200; every non-200 answer seen on the way, in order. */
async function untilReady(url: string, timeout: number): Promise<string[]> {
  const seen: string[] = [];
  await waitFor(
    async () => {
      const s = await status(url);
      if (s === undefined) return false;
      if (s.code === 200) return true;
      if (seen.at(-1) !== `${s.code} ${s.body}`) seen.push(`${s.code} ${s.body}`);
      return false;
    },
    { timeout, what: `/ready 200 at ${url}` },
  );
  return seen;
}

describe('/ready on start', () => {
  let fake: FakeApiServer;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 0 });
    fake.load('namespaces', [namespace('shop')]);
    fake.load('services', [service('shop', 'web', '10.96.1.10')]);
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('is 503 while the first list is slow and the DNS port is not yet bound; at its first 200 the port answers from the synced state', async () => {
    fake.listDelayMs = 1500;
    const dnsPort = await freePort();
    const readyPort = await freePort();
    const starting = startServer(`cluster.local:${dnsPort} {\n  bind 127.0.0.1\n  ready 127.0.0.1:${readyPort}\n  ${stanza(fake)}\n}`);
    starting.then((s) => servers.push(s), () => undefined);
    const url = `http://127.0.0.1:${readyPort}/ready`;
    const before = await untilReady(url, 20_000);
    // Right at the first 200 the DNS port answers, from the synced cluster.
    const r = await query(dnsPort, WEB, 'A', { host: '127.0.0.1', timeout: 3000 });
    expect(r.rcode).toBe(0);
    expect(r.msg.answers?.map((a) => (a as { data?: unknown }).data)).toEqual(['10.96.1.10']);
    // …and before it, /ready said why it was not ready: the unsynced plugin and the unbound listeners.
    expect(before.length).toBeGreaterThan(0);
    for (const b of before) expect(b).toMatch(/^503 (kubernetes,)?listeners$/);
    await starting;
    fake.listDelayMs = 0;
  });

  it('on reload the running configuration stays ready, and the new one is ready when it serves', async () => {
    const readyPort = await freePort();
    const corefile = (extra: string): string => `cluster.local:0 {\n  bind 127.0.0.1\n  ready 127.0.0.1:${readyPort}\n  ${stanza(fake)}\n${extra}}`;
    const s = await startServer(corefile(''));
    servers.push(s);
    const url = `http://127.0.0.1:${readyPort}/ready`;
    expect(await status(url)).toEqual({ code: 200, body: 'OK' });
    fake.listDelayMs = 1000;
    const reloading = s.server.reload('test', { text: corefile('  whoami\n'), file: 'Corefile' });
    // While the new generation syncs, the old one serves and /ready stays 200.
    const during: Array<number | undefined> = [];
    while (during.length < 10) {
      during.push((await status(url))?.code);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(await reloading).toBe(true);
    fake.listDelayMs = 0;
    expect(during.every((c) => c === 200)).toBe(true);
    expect(await status(url)).toEqual({ code: 200, body: 'OK' });
  });
});

describe('/ready under -workers 2', () => {
  let fake: FakeApiServer;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 0 });
    fake.load('namespaces', [namespace('shop')]);
    fake.load('services', [service('shop', 'web', '10.96.1.10')]);
  });
  afterAll(async () => {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await fake?.close();
  });

  it('is 503 in every worker until both workers serve', async () => {
    // One worker lists and watches for both (the other follows its changes); its Service list
    // takes 2.5 s, so neither worker serves before then.
    let listServedAt = 0;
    fake.listDelayMs = (kind, before) => (kind === 'services' && before === 0 ? 2500 : 0);
    const dir = mkdtempSync(path.join(tmpdir(), 'typedns-ready-'));
    const dnsPort = await freePort();
    const readyPort = await freePort();
    writeFileSync(path.join(dir, 'Corefile'), `cluster.local:${dnsPort} {\n  bind 127.0.0.1\n  ready 127.0.0.1:${readyPort}\n  ${stanza(fake)}\n}\n`);
    cli = spawnCli(['-conf', 'Corefile', '-workers', '2'], dir);
    const started = Date.now();
    const watcher = waitFor(() => fake.count('services', 'list') >= 1 && (listServedAt = Date.now()), { timeout: 30_000, what: 'the Service list' });
    const before = await untilReady(`http://127.0.0.1:${readyPort}/ready`, 30_000);
    const readyAt = Date.now();
    await watcher;
    // The first 200 came only after the slow list had been served.
    expect(listServedAt, cli.out()).toBeGreaterThan(0);
    expect(readyAt).toBeGreaterThanOrEqual(listServedAt - 100);
    expect(readyAt - started).toBeGreaterThanOrEqual(2400);
    expect(before.some((b) => b.startsWith('503'))).toBe(true);
    expect(fake.count('services', 'list')).toBe(1);
    const r = await query(dnsPort, WEB, 'A', { host: '127.0.0.1', timeout: 3000 });
    expect(r.msg.answers?.map((a) => (a as { data?: unknown }).data)).toEqual(['10.96.1.10']);
  });
});
