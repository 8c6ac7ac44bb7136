#!/usr/bin/env -S node --expose-gc
// Memory of one loaded zone, in this process (no server): builds a generated zone with the file
// plugin's buildZone from a build's dist/ (the same zone as bench/zone-load.mjs: 90 % A, 10 % TXT),
// then after full collections prints the JS heap, the ArrayBuffers and the RSS it added, per
// record, and the build time. Not a test: numbers for bench/README.md.
//
//   node --expose-gc bench/zone-memory.mjs [--records 1000000] [--dist /path/to/dist]
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseOptions, root } from './run.mjs';

const USAGE = 'usage: node --expose-gc bench/zone-memory.mjs [--records N] [--dist DIR]';
const { o } = parseOptions(
  process.argv.slice(2),
  {
    records: { key: 'records', type: 'number', default: 1_000_000 },
    dist: { key: 'dist', type: 'string', default: path.join(root, 'dist') },
  },
  USAGE,
);
if (typeof globalThis.gc !== 'function') throw new Error(`run with --expose-gc\n${USAGE}`);

function zoneText(n) {
  const lines = ['$ORIGIN big.test.', '$TTL 300', '@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300', '@ IN NS ns1', 'ns1 IN A 192.0.2.53'];
  for (let i = 0; i < n - 3; i++) {
    if (i % 10 === 9) lines.push(`h${i} IN TXT "record ${i} a"`);
    else lines.push(`h${i} IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers, rss: m.rss };
};

const { buildZone } = await import(pathToFileURL(path.join(o.dist, 'plugins/file/file.js')).href);
let bytes = zoneText(o.records);
const fileMb = bytes.length / 1e6;
const before = await settle();
const t0 = performance.now();
const zone = await buildZone(bytes, 'big.test.', 'db.big');
const ms = performance.now() - t0;
const after = await settle();
const n = zone.size;
const per = (k) => ((after[k] - before[k]) / n).toFixed(0);
process.stdout.write(
  `${o.dist}: ${n.toLocaleString('en')} records (${fileMb.toFixed(1)} MB file) built in ${(ms / 1000).toFixed(1)} s; ` +
    `after GC, per record: JS heap ${per('heap')} B, ArrayBuffers ${per('buffers')} B, RSS ${per('rss')} B ` +
    `(process RSS ${(after.rss / 1e6).toFixed(0)} MB, heap ${(after.heap / 1e6).toFixed(0)} MB)\n`,
);
// the zone answers (kept alive until here); the file's bytes were in both measurements
if (zone.lookup('h1000.big.test.', 1).answers.length !== 1 || bytes.length === 0) throw new Error('h1000 does not answer');
