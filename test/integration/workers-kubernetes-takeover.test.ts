// -workers 3 with the kubernetes plugin and the copy of the cluster in shared memory
// (plugins/kubernetes/shared.ts, bytes.ts), when the worker that writes it goes wrong:
//  - it is killed (SIGKILL) in the middle of an update of the segment: the others must answer
//    SERVFAIL or the truth while it happens and while one of them takes over, never what the
//    update replaced (a stale PTR, NXDOMAIN for an endpoint just added or for a Service that
//    exists), and then the truth from all three;
//  - the worker that takes over cannot create shared memory: every worker goes back to its own
//    copy of the cluster (the new leader's changes relayed), answers right, follows later
//    changes, and the new leader says why.
// Two test hooks make the moments deterministic: TYPEDNS_TEST_PAUSE_UPDATE=FILE (bytes.ts: the
// next in-place update, once FILE exists and is empty, writes its PID into it and blocks halfway,
// the sequence odd) and TYPEDNS_TEST_SHM_FAIL=FILE (udp-native.ts: creating a segment fails while
// FILE exists). Which worker answers is told by the pid plugin, asked on the same TCP connection
// as the query under test (connections go round-robin to the workers).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { holdsSegment } from '../support/segment.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DecodedPacket } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, freePort, waitFor } from '../../src/testing/index.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { pair } from '../support/tcp-pair.js';
import { childPids } from '../../bench/proc.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { endpointSlice, namespace, service } from '../support/k8s-objects.js';
import { PID_PLUGIN } from '../support/pid-plugin.js';
import { nativeShm } from '../../src/server/udp-native.js';

const SERVICES = 300;
const WORKERS = 3;

const txtOf = (m: DecodedPacket): string => {
  const t = m.answers?.[0];
  return t !== undefined && t.type === 'TXT' ? [t.data].flat().map(String).join('') : '';
};

/** A reply as text: rcode, then the answer records sorted (TTLs left out). */
function summary(m: DecodedPacket): string {
  const rr = (m.answers ?? [])
    .map((a) => {
      const data = (a as { data?: unknown }).data;
      return `${a.name} ${a.type} ${typeof data === 'object' ? JSON.stringify(data) : String(data)}`;
    })
    .sort();
  return [`rcode ${(m.flags ?? 0) & 0xf}`, ...rr].join('\n');
}

const SERVFAIL = 'rcode 2';
const NXDOMAIN = 'rcode 3';

const why = nativeShm() === undefined ? 'no native module (its shared memory is what is tested)' : '';

describe.skipIf(why !== '')('-workers 3 with kubernetes: the worker writing the shared copy goes wrong', () => {
  let dir: string;
  let port: number;
  let cli: CliProcess;
  let fake: FakeApiServer;
  let pauseFile: string;
  let shmFailFile: string;
  let id = 1;

  /** Ask `name` `type` once, with the PID of the worker that answered (undefined: no answer in time — a worker blocked). */
  async function ask(name: string, type: string): Promise<[number, string] | undefined> {
    const r = await pair(port, buildQuery('pid.test.', 'TXT', { id: id++ & 0xffff }), buildQuery(name, type as 'A', { id: id++ & 0xffff }), 1500).catch(() => undefined);
    return r === undefined ? undefined : [Number(txtOf(r[0])), summary(r[1])];
  }

  /** The workers alive now. */
  const workers = (): number[] => childPids(cli.child.pid!);

  /**
   * Ask every query of `want` over and over until each worker of `pids()` has answered each one
   * as `want` says; every answer seen (name → worker → answers) goes into `seen`.
   */
  async function untilAll(want: Record<string, string>, pids: () => number[], seen: Map<string, Map<number, string[]>>, what: string, timeout = 30_000): Promise<void> {
    const names = Object.keys(want);
    const right = (): boolean => {
      const ps = pids();
      return ps.length > 0 && names.every((n) => ps.every((p) => seen.get(n)?.get(p)?.at(-1) === want[n]));
    };
    const show = (): string => JSON.stringify([...seen].map(([n, m]) => [n, [...m].map(([p, l]) => [p, [...new Set(l)]])]));
    await waitFor(
      async () => {
        // (at random: in turn, with connections in turn to the workers, a name could always meet the same worker)
        const n = names[Math.floor(Math.random() * names.length)]!;
        const [name, type] = n.split(' ') as [string, string];
        const r = await ask(name, type);
        if (r !== undefined) {
          let m = seen.get(n);
          if (m === undefined) seen.set(n, (m = new Map()));
          const list = m.get(r[0]) ?? [];
          list.push(r[1]);
          m.set(r[0], list);
        }
        return right();
      },
      { timeout, interval: 5, what },
    ).catch((e: Error) => {
      throw new Error(`${e.message} (workers ${JSON.stringify(pids())}; seen ${show()}; output: ${cli.out()})`);
    });
  }

  /** Every answer in `seen` to a query is one of those `allowed` for it. */
  function onlyAllowed(seen: Map<string, Map<number, string[]>>, allowed: Record<string, string[]>): void {
    for (const [n, m] of seen) for (const [pid, list] of m) for (const s of new Set(list)) expect(allowed[n], `worker ${pid} answered ${n}:\n${s}`).toContain(s);
  }

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    fake.load('namespaces', [namespace('ns0'), namespace('ns1')]);
    fake.load('services', [
      ...Array.from({ length: SERVICES }, (_, i) => service(`ns${i % 2}`, `svc${i}`, `10.96.${i >> 8}.${i & 255}`, { ports: [{ name: 'http', port: 80 }] })),
      service('ns0', 'hl', 'None', { ports: [{ name: 'http', port: 8080 }] }),
    ]);
    fake.load('endpointslices', [
      ...Array.from({ length: SERVICES }, (_, i) => endpointSlice(`ns${i % 2}`, `svc${i}`, `svc${i}-a`, [{ ip: `10.100.${i >> 8}.${i & 255}` }])),
      endpointSlice('ns0', 'hl', 'hl-a', [{ ip: '10.250.0.1', hostname: 'web-0' }, { ip: '10.250.0.2', hostname: 'web-1' }], { ports: [{ name: 'http', port: 8080 }] }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-workers-k8s-takeover-'));
    pauseFile = path.join(dir, 'pause');
    shmFailFile = path.join(dir, 'shm-fail');
    port = await freePort();
    writeFileSync(path.join(dir, 'pid.mjs'), PID_PLUGIN);
    writeFileSync(
      path.join(dir, 'Corefile'),
      `.:${port} {\n  bind 127.0.0.1\n  pid\n  kubernetes cluster.local in-addr.arpa {\n    endpoint ${fake.url}\n    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}\n  }\n}\n`,
    );
    cli = spawnCli(['-conf', 'Corefile', '-workers', String(WORKERS), '-plugin', './pid.mjs'], dir, { TYPEDNS_TEST_PAUSE_UPDATE: pauseFile, TYPEDNS_TEST_SHM_FAIL: shmFailFile });
    await cli.ready({ timeout: 30_000 });
  }, 40_000);

  afterAll(async () => {
    if (cli?.child.exitCode === null) cli.child.kill('SIGKILL');
    await fake?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const HL_OLD = 'rcode 0\nhl.ns0.svc.cluster.local A 10.250.0.1\nhl.ns0.svc.cluster.local A 10.250.0.2';
  const HL_NEW = 'rcode 0\nhl.ns0.svc.cluster.local A 10.250.0.1\nhl.ns0.svc.cluster.local A 10.250.0.3';
  const PTR_NEW = 'rcode 0\n3.0.250.10.in-addr.arpa PTR web-2.hl.ns0.svc.cluster.local';
  const SVC5 = 'rcode 0\nsvc5.ns1.svc.cluster.local A 10.96.0.5';

  it('a leader killed in the middle of an update: the others answer SERVFAIL or the truth, never what the update replaced, then the truth', async () => {
    const before: Record<string, string> = {
      'hl.ns0.svc.cluster.local. A': HL_OLD,
      '3.0.250.10.in-addr.arpa. PTR': NXDOMAIN,
      '2.0.250.10.in-addr.arpa. PTR': 'rcode 0\n2.0.250.10.in-addr.arpa PTR web-1.hl.ns0.svc.cluster.local',
      'svc5.ns1.svc.cluster.local. A': SVC5,
    };
    await untilAll(before, workers, new Map(), 'every worker answering from the first copy');
    const leader = workers().find(holdsSegment);
    expect(leader, 'the worker that writes the segment').toBeDefined();

    // the next in-place update stops halfway: web-1 (10.250.0.2) replaced by web-2 (10.250.0.3)
    writeFileSync(pauseFile, '');
    fake.update('endpointslices', endpointSlice('ns0', 'hl', 'hl-a', [{ ip: '10.250.0.1', hostname: 'web-0' }, { ip: '10.250.0.3', hostname: 'web-2' }], { ports: [{ name: 'http', port: 8080 }] }));
    const paused = await waitFor(() => Number(readFileSync(pauseFile, 'utf8')), { timeout: 15_000, what: 'the leader paused in its update' });
    expect(paused).toBe(leader);

    // the truth from now on (the API has the change); SERVFAIL is allowed while there is no copy to read
    const after: Record<string, string> = {
      'hl.ns0.svc.cluster.local. A': HL_NEW,
      '3.0.250.10.in-addr.arpa. PTR': PTR_NEW,
      '2.0.250.10.in-addr.arpa. PTR': NXDOMAIN,
      'svc5.ns1.svc.cluster.local. A': SVC5,
    };
    const allowed = Object.fromEntries(Object.entries(after).map(([n, s]) => [n, [s, SERVFAIL]]));
    // while it is paused, the followers (its sequence odd, it alive) answer SERVFAIL
    const duringPause = new Map<string, Map<number, string[]>>();
    const others = (): number[] => workers().filter((p) => p !== leader);
    await untilAll(Object.fromEntries(Object.keys(after).map((n) => [n, SERVFAIL])), others, duringPause, 'the followers answering SERVFAIL while the leader is stuck in its update');
    onlyAllowed(duringPause, allowed);

    // killed there; one of the others takes over (its lists slow: the others wait on it meanwhile)
    let delayed = false;
    fake.listDelayMs = (kind) => {
      if (kind !== 'services' || delayed) return 0;
      delayed = true;
      return 1500;
    };
    try {
      process.kill(leader!, 'SIGKILL');
      const seen = new Map<string, Map<number, string[]>>();
      await untilAll(after, () => (workers().length === WORKERS && !workers().includes(leader!) ? workers() : []), seen, 'every worker (the replacement too) answering the change');
      onlyAllowed(seen, allowed);
      expect(delayed).toBe(true);
    } finally {
      fake.listDelayMs = 0;
    }
    expect(cli.out()).toMatch(/half updated/);
  }, 90_000);

  it('the worker taking over cannot create shared memory: every worker answers from its own copy, follows changes, and it says why', async () => {
    const leader = await waitFor(() => workers().find(holdsSegment), { timeout: 15_000, what: 'the worker that writes the segment' });
    writeFileSync(shmFailFile, '');
    process.kill(leader, 'SIGKILL');
    // a change while nobody leads: in the new leader's lists
    fake.create('services', service('ns1', 'late', '10.96.252.1'));
    const want: Record<string, string> = {
      'hl.ns0.svc.cluster.local. A': HL_NEW,
      '3.0.250.10.in-addr.arpa. PTR': PTR_NEW,
      'svc5.ns1.svc.cluster.local. A': SVC5,
      'late.ns1.svc.cluster.local. A': 'rcode 0\nlate.ns1.svc.cluster.local A 10.96.252.1',
    };
    const seen = new Map<string, Map<number, string[]>>();
    const all = (): number[] => (workers().length === WORKERS && !workers().includes(leader) ? workers() : []);
    const allowed = Object.fromEntries(Object.entries(want).map(([n, s]) => [n, [s, SERVFAIL]]));
    // (`late` did not exist before the lists of the new leader: NXDOMAIN until then is the truth of the old copy)
    allowed['late.ns1.svc.cluster.local. A']!.push(NXDOMAIN);
    await untilAll(want, all, seen, 'every worker answering after the takeover without shared memory');
    onlyAllowed(seen, allowed);
    await waitFor(() => /no shared memory for the cluster \(memfd_create: Too many open files/.test(cli.out()), { timeout: 5000, what: `the warning (output: ${cli.out()})` });
    // no worker writes a segment now: each has its copy, the new leader's changes relayed to the others
    expect(workers().filter(holdsSegment)).toEqual([]);

    // changes reach every worker
    fake.create('services', service('ns0', 'fresh', '10.96.251.1'));
    fake.delete('services', service('ns1', 'svc5', ''));
    const later: Record<string, string> = {
      'fresh.ns0.svc.cluster.local. A': 'rcode 0\nfresh.ns0.svc.cluster.local A 10.96.251.1',
      'svc5.ns1.svc.cluster.local. A': NXDOMAIN,
      'hl.ns0.svc.cluster.local. A': HL_NEW,
    };
    const seenLater = new Map<string, Map<number, string[]>>();
    await untilAll(later, all, seenLater, 'every worker following the changes');
    onlyAllowed(seenLater, {
      'fresh.ns0.svc.cluster.local. A': [later['fresh.ns0.svc.cluster.local. A']!, NXDOMAIN],
      'svc5.ns1.svc.cluster.local. A': [SVC5, NXDOMAIN],
      'hl.ns0.svc.cluster.local. A': [HL_NEW],
    });
  }, 90_000);
});
