// -workers 2 with the kubernetes plugin against the fake API server: one list/watch set for the
// process tree (one worker watches, the other follows its changes through the primary), both
// workers answer the same records, a change in the cluster reaches both; when a worker dies (the
// one that watches, or the other) or both reload, both keep answering and following changes, and
// the tree still holds one watch set. Which worker answers is told by a small -plugin that answers
// `pid.test. TXT` with its PID, asked on the same TCP connection as the cluster name (the primary
// hands TCP connections to the workers in turn).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, freePort, waitFor } from '../../src/testing/index.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { pair } from '../support/tcp-pair.js';
import { childPids as children } from '../../bench/proc.js';
import { PID_PLUGIN } from '../support/pid-plugin.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { endpointSlice, namespace, service } from '../support/k8s-objects.js';

const SERVICES = 1200; // three pages of 500


describe('-workers 2 with kubernetes', () => {
  let dir: string;
  let port: number;
  let cli: CliProcess;
  let fake: FakeApiServer;
  let id = 1;

  /** What each worker answers for `name` A: PID → the A records (sorted), or the rcode when none. */
  async function answersByWorker(name: string, want = 2): Promise<Map<number, string>> {
    const seen = new Map<number, string>();
    await waitFor(
      async () => {
        const r = await pair(port, buildQuery('pid.test.', 'TXT', { id: id++ & 0xffff }), buildQuery(name, 'A', { id: id++ & 0xffff })).catch(() => undefined);
        if (r === undefined) return undefined;
        const [who, ans] = r;
        const t = who.answers?.[0];
        const pid = Number(t !== undefined && t.type === 'TXT' ? [t.data].flat().map(String).join('') : NaN);
        const as = (ans.answers ?? []).flatMap((x) => (x.type === 'A' ? [String(x.data)] : [])).sort();
        seen.set(pid, as.length > 0 ? as.join(' ') : `rcode ${(ans.flags ?? 0) & 0xf}`);
        return seen.size >= want ? true : undefined;
      },
      { timeout: 15_000, interval: 20, what: `both workers answering ${name} (seen ${JSON.stringify([...seen])}; output: ${cli.out()})` },
    );
    return seen;
  }

  /** Polls until both workers answer `name` with `expected`. */
  async function bothAnswer(name: string, expected: string): Promise<Map<number, string>> {
    let last = new Map<number, string>();
    await waitFor(
      async () => {
        last = await answersByWorker(name);
        return [...last.values()].every((v) => v === expected) ? true : undefined;
      },
      { timeout: 15_000, interval: 50, what: `both workers answering ${name} with ${expected} (last ${JSON.stringify([...last])})` },
    );
    return last;
  }

  const lists = (): number => fake.requests.filter((r) => !r.watch && r.kind !== undefined && r.status === 200).length;

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 500 });
    fake.load('namespaces', [namespace('ns0'), namespace('ns1')]);
    fake.load('services', Array.from({ length: SERVICES }, (_, i) => service(`ns${i % 2}`, `svc${i}`, `10.96.${i >> 8}.${i & 255}`, { ports: [{ name: 'http', port: 80 }] })));
    fake.load('endpointslices', Array.from({ length: SERVICES }, (_, i) => endpointSlice(`ns${i % 2}`, `svc${i}`, `svc${i}-a`, [{ ip: `10.244.${i >> 8}.${i & 255}` }])));
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-workers-k8s-'));
    port = await freePort();
    writeFileSync(path.join(dir, 'pid.mjs'), PID_PLUGIN);
    writeFileSync(
      path.join(dir, 'Corefile'),
      `.:${port} {\n  bind 127.0.0.1\n  pid\n  kubernetes cluster.local {\n    endpoint ${fake.url}\n    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}\n  }\n}\n`,
    );
    cli = spawnCli(['-conf', 'Corefile', '-workers', '2', '-plugin', './pid.mjs'], dir);
  });

  afterAll(async () => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists and watches once for both workers; both answer the same records and follow changes, also after a worker dies or a reload', async () => {
    // 1. both workers answer the cluster's names, the same records
    const first = await answersByWorker('svc7.ns1.svc.cluster.local.');
    expect([...first.values()]).toEqual(['10.96.0.7', '10.96.0.7']);
    expect(new Set(children(cli.child.pid!))).toEqual(new Set(first.keys()));

    // 2. one list set (three pages of Services, three of EndpointSlices, one of Namespaces) and
    // one watch per kind reached the API, not one per worker
    await waitFor(async () => (fake.openWatches >= 3 ? true : undefined), { timeout: 10_000, interval: 20, what: 'watches open' });
    expect(lists()).toBe(7);
    expect(fake.openWatches).toBe(3);
    expect(fake.count('services', 'watch')).toBe(1);

    // 3. a change reaches both workers
    fake.create('services', service('ns0', 'fresh', '10.96.200.1'));
    await bothAnswer('fresh.ns0.svc.cluster.local.', '10.96.200.1');
    fake.delete('services', service('ns1', 'svc7', ''));
    await bothAnswer('svc7.ns1.svc.cluster.local.', 'rcode 3');

    // 4. each worker in turn dies (one of them is the one that watches): the survivor and the
    // replacement answer, changes still reach both, and the tree holds one watch set
    for (let round = 0; round < 2; round++) {
      const before = children(cli.child.pid!);
      process.kill(before[0]!, 'SIGKILL');
      await waitFor(async () => {
        const now = children(cli.child.pid!);
        return now.length === 2 && !now.includes(before[0]!) ? true : undefined;
      }, { timeout: 15_000, interval: 50, what: 'a replacement worker' });
      const name = `after-${round}`;
      fake.create('services', service('ns1', name, `10.96.201.${round}`));
      const seen = await bothAnswer(`${name}.ns1.svc.cluster.local.`, `10.96.201.${round}`);
      expect(new Set(seen.keys())).toEqual(new Set(children(cli.child.pid!)));
      await bothAnswer('svc9.ns1.svc.cluster.local.', '10.96.0.9');
      await waitFor(async () => (fake.openWatches === 3 ? true : undefined), { timeout: 10_000, interval: 20, what: `one watch set (open: ${fake.openWatches})` });
    }
    expect(cli.out()).toMatch(/taking over the API watch/);

    // 5. a reload (SIGUSR1 to the primary, passed to both workers): the new instances share one
    // watch set again, and follow changes
    process.kill(cli.child.pid!, 'SIGUSR1');
    await waitFor(async () => ((cli.out().match(/Reloading complete \(SIGUSR1\)/g) ?? []).length >= 2 ? true : undefined), { timeout: 15_000, interval: 50, what: 'two reloads' });
    fake.create('services', service('ns0', 'after-reload', '10.96.202.1'));
    await bothAnswer('after-reload.ns0.svc.cluster.local.', '10.96.202.1');
    await waitFor(async () => (fake.openWatches === 3 ? true : undefined), { timeout: 10_000, interval: 20, what: `one watch set after the reload (open: ${fake.openWatches})` });
  }, 60_000);
});
