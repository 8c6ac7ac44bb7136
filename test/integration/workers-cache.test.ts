// -workers 2 make one logical cache over UDP: each worker's native socket is in one SO_REUSEPORT
// group whose BPF program picks the worker by a hash of the query name, so a name cached through
// one worker is asked of that worker again, from any client port. A warm pass fills the cache,
// the upstream then stops answering, and every query of a second pass (several per name, each
// from a new source port, so the kernel's own 4-tuple hash would spread them over both workers)
// must still be answered, from the cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, query, waitFor, type QueryResult } from '../../src/testing/index.js';
import { nativeUdpError } from '../../src/server/udp-native.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

const NAMES = Array.from({ length: 200 }, (_, i) => `host${i}.example.org.`);
const addrOf = (i: number): string => `10.9.${i >> 8}.${i & 0xff}`;

function httpStatus(port: number, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** Every name `times` times, 50 queries in flight, each from a new UDP socket. */
async function pass(port: number, times: number): Promise<Array<{ name: string; r: QueryResult | Error }>> {
  const jobs: string[] = [];
  for (let t = 0; t < times; t++) jobs.push(...NAMES);
  const out: Array<{ name: string; r: QueryResult | Error }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const name = jobs[next++]!;
      // mixed case: the steering and the cache key both ignore it
      const asked = next % 2 === 0 ? name.toUpperCase() : name;
      out.push({ name, r: await query(port, asked, 'A', { host: '127.0.0.1', timeout: 1500 }).catch((e: unknown) => e as Error) });
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return out;
}

describe.skipIf(nativeUdpError() !== '')('-workers 2 share one cache (UDP)', () => {
  let dir: string;
  let port: number;
  let readyPort: number;
  let up: Upstream;
  let cli: CliProcess;

  beforeAll(async () => {
    up = await startUpstream();
    up.fallback = (q) => {
      const name = q.questions![0]!.name.toLowerCase();
      const i = NAMES.indexOf(`${name}.`);
      return i < 0 ? { rcode: 3 } : { answers: [`${name}. 3600 IN A ${addrOf(i)}`] };
    };
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-workers-cache-'));
    port = await freePort();
    readyPort = await freePort();
    writeFileSync(path.join(dir, 'Corefile'), `.:${port} {\n    bind 127.0.0.1\n    ready 127.0.0.1:${readyPort}\n    cache 3600\n    forward . ${up.addr}\n}\n`);
    cli = spawnCli(['-conf', 'Corefile', '-workers', '2'], dir);
    // /ready says 200 only once both workers serve (their UDP sockets are both in the group)
    await waitFor(async () => ((await httpStatus(readyPort, '/ready').catch(() => 0)) === 200 ? true : undefined), { timeout: 20_000, interval: 100, what: `both workers ready (output: ${cli.out()})` });
  }, 30_000);

  afterAll(async () => {
    if (cli?.child.exitCode === null) await cli.stop();
    await up?.stop();
  });

  it('answers every query of a second pass from the cache after the upstream stops answering: 0 lost', async () => {
    const warm = await pass(port, 1);
    const warmFailed = warm.filter((x) => x.r instanceof Error || x.r.rcode !== 0);
    expect(warmFailed.map((x) => `${x.name}: ${x.r instanceof Error ? x.r.message : x.r.rcode}`)).toEqual([]);
    const asked = up.count.total;
    expect(asked).toBeGreaterThanOrEqual(NAMES.length);

    up.fault = 'drop'; // the upstream receives but never answers
    const second = await pass(port, 4);
    const lost = second.filter((x) => x.r instanceof Error || x.r.rcode !== 0);
    expect(lost.map((x) => `${x.name}: ${x.r instanceof Error ? x.r.message : x.r.rcode}`)).toEqual([]);
    for (const { name, r } of second) {
      const a = (r as QueryResult).msg.answers?.[0];
      expect(a?.type === 'A' ? a.data : undefined).toBe(addrOf(NAMES.indexOf(name)));
    }
    expect(second).toHaveLength(NAMES.length * 4);
    // nothing of the second pass went upstream: every answer came from a cache
    expect(up.count.total).toBe(asked);
  }, 60_000);
});
