// In-process benchmark of the query path, no sockets: serveQuery() (wire parse → route → chain →
// writer → reply bytes) for a few Corefiles, with the heap it keeps. Run:
//   npx vitest bench --run bench/chain.bench.ts
// (not part of `npm test`); with NODE_OPTIONS=--expose-gc the heap figures are taken after a
// forced GC. The dnsperf runner (bench/run.mjs) measures the whole server.
import { afterAll, bench, describe } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildQuery } from '../src/testing/client.js';
import { harness } from './harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-chain-bench-'));
const hostsFile = path.join(dir, 'hosts');
writeFileSync(hostsFile, Array.from({ length: 1000 }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1} host-${i}.bench.test`).join('\n') + '\n');

const h = harness(dir);
const { contextFor, driver } = h;

const hostsQueries = Array.from({ length: 1000 }, (_, i) => buildQuery(i % 7 === 0 ? `missing-${i}.bench.test` : `host-${i}.bench.test`, i % 5 === 0 ? 'AAAA' : 'A', { id: i }));
const whoQueries = Array.from({ length: 1000 }, (_, i) => buildQuery(`who-${i}.bench.test`, 'A', { id: i }));

const whoami = await contextFor('.:0 {\n    whoami\n}\n');
const hosts = await contextFor(`.:0 {\n    hosts ${hostsFile}\n}\n`);
const hostsLogged = await contextFor(`.:0 {\n    errors\n    prometheus 127.0.0.1:0\n    hosts ${hostsFile}\n}\n`);

const gc = (globalThis as { gc?: () => void }).gc;
const heapUsed = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};
const heapBefore = heapUsed();

describe('serveQuery (in process, no sockets)', () => {
  bench('whoami', driver(whoami, whoQueries), { time: 1500 });
  bench('hosts: 1,000 names, A/AAAA/NXDOMAIN mix', driver(hosts, hostsQueries), { time: 1500 });
  bench('hosts + errors + prometheus', driver(hostsLogged, hostsQueries), { time: 1500 });
});

afterAll(async () => {
  const heapAfter = heapUsed();
  const how = gc ? 'after a forced GC' : 'without a forced GC (set NODE_OPTIONS=--expose-gc)';
  process.stdout.write(`heap used ${how}: ${(heapBefore / 1048576).toFixed(1)} MB after setup, ${(heapAfter / 1048576).toFixed(1)} MB after the runs; ${(h.bytes / 1048576).toFixed(0)} MB of replies\n`);
  await h.close();
});
