// In-process benchmark of the rewrite plugin's paths (no sockets): a name rule, an edns0 rule
// (reads and rewrites the OPT record, then a request with the new wire) and a query no rule
// matches, each in front of whoami, all queries with EDNS. Run:
//   npx vitest bench --run bench/rewrite.bench.ts
import { bench, describe } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildQuery } from '../src/testing/client.js';
import { harness } from './harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-rewrite-bench-'));
const { contextFor, driver } = harness(dir);

const queries = Array.from({ length: 1000 }, (_, i) => buildQuery(`host-${i}.bench.test`, 'A', { id: i, edns: 1232 }));

const name = await contextFor('.:0 {\n    rewrite name suffix .bench.test .other.test answer auto\n    whoami\n}\n');
const edns0 = await contextFor('.:0 {\n    rewrite edns0 local set 0xffee {client_ip}\n    whoami\n}\n');
const miss = await contextFor('.:0 {\n    rewrite name exact nothing.test. other.test.\n    whoami\n}\n');

describe('rewrite in front of whoami (in process, no sockets)', () => {
  bench('no rule matches', driver(miss, queries), { time: 1500 });
  bench('name suffix + answer auto', driver(name, queries), { time: 1500 });
  bench('edns0 local set {client_ip}', driver(edns0, queries), { time: 1500 });
});
