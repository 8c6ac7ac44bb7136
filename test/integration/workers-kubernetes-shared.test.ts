// -workers 2 with the kubernetes plugin: one copy of the cluster for the process tree. The worker
// that watches the API writes its copy as bytes into a shared memory segment, and the other maps
// it and answers from it (plugins/kubernetes/shared.ts, bytes.ts): every query form answers the
// same from both workers, changes reach both, both map the segment, and the follower's heap does
// not hold the cluster (it is below the leader's by most of what a copy costs). Which worker
// answers is told by a small -plugin (`who.test. TXT` → its PID, `heap.test. TXT` → its heap
// after a full GC), asked on the same TCP connection as the query under test.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { holdsSegment } from '../support/segment.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DecodedPacket } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, freePort, waitFor } from '../../src/testing/index.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { pair } from '../support/tcp-pair.js';
import { childPids as children } from '../../bench/proc.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { endpointSlice, namespace, pod, service } from '../support/k8s-objects.js';

const SERVICES = 4000;
const ENDPOINTS = 10;

const WHO_PLUGIN = `
export default {
  name: 'who',
  api: '^1',
  position: { before: 'whoami' },
  parse(d) {
    d.next();
    return {};
  },
  setup() {
    const txt = (name, value) => ({ type: 'response', flags: 0x0400, answers: [{ name, type: 'TXT', ttl: 0, data: value }] });
    return {
      serve(req, w, next) {
        if (req.name === 'who.test.') {
          w.write(txt('who.test', String(process.pid)));
          return 0;
        }
        if (req.name === 'heap.test.') {
          globalThis.gc();
          globalThis.gc();
          w.write(txt('heap.test', process.pid + ' ' + process.memoryUsage().heapUsed));
          return 0;
        }
        return next(req, w);
      },
    };
  },
};
`;


const txtOf = (m: DecodedPacket): string => {
  const t = m.answers?.[0];
  return t !== undefined && t.type === 'TXT' ? [t.data].flat().map(String).join('') : '';
};

/** A reply as text: rcode, then the answer records sorted (TTLs left out). */
function summary(m: DecodedPacket): string {
  const rr = (m.answers ?? []).map((a) => {
    const data = (a as { data?: unknown }).data;
    return `${a.name} ${a.type} ${typeof data === 'object' ? JSON.stringify(data) : String(data)}`;
  }).sort();
  return [`rcode ${(m.flags ?? 0) & 0xf}`, ...rr].join('\n');
}

describe('-workers 2 with kubernetes: one copy of the cluster in shared memory', () => {
  let dir: string;
  let port: number;
  let cli: CliProcess;
  let fake: FakeApiServer;
  let id = 1;

  /** What each worker answers for `name` `type`: PID → the reply as text (both workers asked). */
  async function byWorker(name: string, type: string): Promise<Map<number, string>> {
    const seen = new Map<number, string>();
    await waitFor(
      async () => {
        const r = await pair(port, buildQuery('who.test.', 'TXT', { id: id++ & 0xffff }), buildQuery(name, type as 'A', { id: id++ & 0xffff })).catch(() => undefined);
        if (r === undefined) return undefined;
        seen.set(Number(txtOf(r[0])), summary(r[1]));
        return seen.size >= 2 ? true : undefined;
      },
      { timeout: 15_000, interval: 10, what: `both workers answering ${name} ${type} (seen ${JSON.stringify([...seen])}; output: ${cli.out()})` },
    );
    return seen;
  }

  /** Polls until both workers answer `name` `type` with `want` (a summary()); returns it. */
  async function both(name: string, type: string, want: (s: string) => boolean): Promise<string> {
    let last = new Map<number, string>();
    await waitFor(
      async () => {
        last = await byWorker(name, type);
        const v = [...last.values()];
        return v.length === 2 && v[0] === v[1] && want(v[0]!) ? true : undefined;
      },
      { timeout: 15_000, interval: 50, what: `both workers answering ${name} ${type} alike (last ${JSON.stringify([...last])})` },
    );
    return [...last.values()][0]!;
  }

  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 500 });
    fake.load('namespaces', [namespace('ns0'), namespace('ns1')]);
    const lb = service('ns0', 'lb', '10.96.250.1');
    (lb['spec'] as Record<string, unknown>)['externalIPs'] = ['192.0.2.10'];
    fake.load('services', [
      ...Array.from({ length: SERVICES }, (_, i) => service(`ns${i % 2}`, `svc${i}`, `10.96.${i >> 8}.${i & 255}`, { ports: [{ name: 'http', port: 80 }] })),
      service('ns0', 'hl', 'None', { ports: [{ name: 'http', port: 8080 }] }),
      service('ns0', 'ext', '', { type: 'ExternalName', externalName: 'example.net' }),
      lb,
    ]);
    fake.load('endpointslices', [
      ...Array.from({ length: SERVICES }, (_, i) =>
        endpointSlice(`ns${i % 2}`, `svc${i}`, `svc${i}-a`, Array.from({ length: ENDPOINTS }, (_, j) => ({ ip: `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${((i & 15) << 4) + j}` }))),
      ),
      endpointSlice('ns0', 'hl', 'hl-a', [{ ip: '10.250.0.1', hostname: 'web-0' }, { ip: '10.250.0.2', hostname: 'web-1' }], { ports: [{ name: 'http', port: 8080 }] }),
    ]);
    fake.load('pods', [pod('ns1', 'p5', '10.244.0.5')]);
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-workers-k8s-shm-'));
    port = await freePort();
    writeFileSync(path.join(dir, 'who.mjs'), WHO_PLUGIN);
    writeFileSync(
      path.join(dir, 'Corefile'),
      `.:${port} {\n  bind 127.0.0.1\n  who\n  k8s_external example.org\n  kubernetes cluster.local in-addr.arpa {\n    endpoint ${fake.url}\n    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}\n    pods verified\n  }\n}\n`,
    );
    cli = spawnCli(['-conf', 'Corefile', '-workers', '2', '-plugin', './who.mjs'], dir, {}, ['--expose-gc']);
  });

  afterAll(async () => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('both workers answer every query form alike from one copy, follow changes, and the follower holds no copy in its heap', async () => {
    // every query form, from both workers
    expect(await both('svc3.ns1.svc.cluster.local.', 'A', (s) => s.includes('A 10.96.0.3'))).toBe('rcode 0\nsvc3.ns1.svc.cluster.local A 10.96.0.3');
    expect(await both('_http._tcp.svc3.ns1.svc.cluster.local.', 'SRV', (s) => s.includes('SRV'))).toMatch(/"port":80.*"target":"svc3\.ns1\.svc\.cluster\.local"/);
    expect(await both('hl.ns0.svc.cluster.local.', 'A', (s) => s.startsWith('rcode 0\n'))).toBe('rcode 0\nhl.ns0.svc.cluster.local A 10.250.0.1\nhl.ns0.svc.cluster.local A 10.250.0.2');
    expect(await both('web-1.hl.ns0.svc.cluster.local.', 'A', (s) => s.startsWith('rcode 0\n'))).toBe('rcode 0\nweb-1.hl.ns0.svc.cluster.local A 10.250.0.2');
    expect(await both('_http._tcp.hl.ns0.svc.cluster.local.', 'SRV', (s) => s.includes('SRV'))).toMatch(/web-0\.hl\.ns0\.svc\.cluster\.local.*\n.*web-1\.hl/);
    expect(await both('3.0.96.10.in-addr.arpa.', 'PTR', (s) => s.includes('PTR'))).toBe('rcode 0\n3.0.96.10.in-addr.arpa PTR svc3.ns1.svc.cluster.local');
    expect(await both('2.0.250.10.in-addr.arpa.', 'PTR', (s) => s.includes('PTR'))).toBe('rcode 0\n2.0.250.10.in-addr.arpa PTR web-1.hl.ns0.svc.cluster.local');
    expect(await both('ext.ns0.svc.cluster.local.', 'CNAME', (s) => s.includes('CNAME'))).toBe('rcode 0\next.ns0.svc.cluster.local CNAME example.net');
    expect(await both('10-244-0-5.ns1.pod.cluster.local.', 'A', (s) => s.startsWith('rcode 0\n'))).toBe('rcode 0\n10-244-0-5.ns1.pod.cluster.local A 10.244.0.5');
    expect(await both('10-244-0-6.ns1.pod.cluster.local.', 'A', () => true)).toBe('rcode 3'); // pods verified: no such pod
    expect(await both('lb.ns0.example.org.', 'A', (s) => s.includes('A'))).toBe('rcode 0\nlb.ns0.example.org A 192.0.2.10');
    expect(await both('10.2.0.192.in-addr.arpa.', 'PTR', () => true)).toBe('rcode 3'); // (the external PTR lives in example.org's reverse, not served here)
    expect(await both('nope.ns0.svc.cluster.local.', 'A', () => true)).toBe('rcode 3');
    expect(await both('ns1.svc.cluster.local.', 'A', () => true)).toBe('rcode 0');
    expect(await both('ns7.svc.cluster.local.', 'A', () => true)).toBe('rcode 3');
    expect(await both(`svc${SERVICES - 1}.ns1.svc.cluster.local.`, 'A', (s) => s.startsWith('rcode 0\n'))).toMatch(/ A 10\.96\./);

    // both workers map the one segment (the leader writes it, the follower reads it)
    const workers = children(cli.child.pid!);
    expect(workers).toHaveLength(2);
    for (const w of workers) expect(readFileSync(`/proc/${w}/maps`, 'utf8'), `worker ${w}`).toContain('memfd:typedns-cluster');

    // changes reach both: a new Service, a new endpoint of the headless one, a deleted Service
    fake.create('services', service('ns0', 'fresh', '10.96.251.1'));
    await both('fresh.ns0.svc.cluster.local.', 'A', (s) => s.includes('10.96.251.1'));
    fake.update('endpointslices', endpointSlice('ns0', 'hl', 'hl-a', [{ ip: '10.250.0.1', hostname: 'web-0' }, { ip: '10.250.0.3', hostname: 'web-2' }], { ports: [{ name: 'http', port: 8080 }] }));
    await both('hl.ns0.svc.cluster.local.', 'A', (s) => s === 'rcode 0\nhl.ns0.svc.cluster.local A 10.250.0.1\nhl.ns0.svc.cluster.local A 10.250.0.3');
    await both('3.0.250.10.in-addr.arpa.', 'PTR', (s) => s.includes('web-2.hl.ns0'));
    await both('2.0.250.10.in-addr.arpa.', 'PTR', (s) => s === 'rcode 3');
    fake.delete('services', service('ns1', 'svc3', ''));
    await both('svc3.ns1.svc.cluster.local.', 'A', (s) => s === 'rcode 3');

    // the heaps after a full GC: the leader holds the cluster (its store), the follower only what
    // it decoded; on a copy per worker they were within a megabyte or two of each other
    const heaps = new Map<number, number>();
    await waitFor(
      async () => {
        const r = await pair(port, buildQuery('who.test.', 'TXT', { id: id++ & 0xffff }), buildQuery('heap.test.', 'TXT', { id: id++ & 0xffff })).catch(() => undefined);
        if (r === undefined) return undefined;
        const [pid, used] = txtOf(r[1]).split(' ').map(Number);
        heaps.set(pid!, used!);
        return heaps.size >= 2 ? true : undefined;
      },
      { timeout: 15_000, interval: 10, what: 'the heap of both workers' },
    );
    const [follower, leader] = [...heaps.values()].sort((a, b) => a - b);
    const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MB`;
    console.log(`heapUsed: leader ${mb(leader!)}, follower ${mb(follower!)}`);
    // a copy of 4,000 Services × 10 endpoints costs ~7.5 MB of heap
    expect(leader! - follower!, `leader ${mb(leader!)}, follower ${mb(follower!)}`).toBeGreaterThan(4 * 1048576);
  }, 90_000);

  it('a worker started while another takes over the API watch never answers NXDOMAIN for a name that exists', async () => {
    const leader = await waitFor(async () => children(cli.child.pid!).find(holdsSegment), { timeout: 10_000, interval: 20, what: 'the worker that writes the segment' });
    const before = children(cli.child.pid!);
    // the survivor's lists, taking over, are slow: the replacement worker joins meanwhile
    let delayed = false;
    fake.listDelayMs = (kind) => {
      if (kind !== 'services' || delayed) return 0;
      delayed = true;
      return 6000;
    };
    try {
      process.kill(leader, 'SIGKILL');
      const newcomer: string[] = [];
      let survivor = '';
      await waitFor(
        async () => {
          const r = await pair(port, buildQuery('who.test.', 'TXT', { id: id++ & 0xffff }), buildQuery('svc5.ns1.svc.cluster.local.', 'A', { id: id++ & 0xffff })).catch(() => undefined);
          if (r === undefined) return undefined;
          const pid = Number(txtOf(r[0]));
          if (before.includes(pid)) survivor = summary(r[1]);
          else if (pid !== leader) newcomer.push(summary(r[1]));
          return newcomer.at(-1)?.startsWith('rcode 0\n') ? true : undefined;
        },
        { timeout: 30_000, interval: 20, what: `the replacement worker answering svc5 (it answered ${JSON.stringify([...new Set(newcomer)])})` },
      );
      expect(delayed).toBe(true);
      expect(newcomer.filter((s) => s === 'rcode 3'), JSON.stringify([...new Set(newcomer)])).toEqual([]);
      expect(newcomer.at(-1)).toBe('rcode 0\nsvc5.ns1.svc.cluster.local A 10.96.0.5');
      expect(survivor === '' || survivor === 'rcode 0\nsvc5.ns1.svc.cluster.local A 10.96.0.5', survivor).toBe(true);
    } finally {
      fake.listDelayMs = 0;
    }
  }, 60_000);
});
