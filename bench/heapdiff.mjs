#!/usr/bin/env node
// Compare two V8 heap snapshots (e.g. bench/soak.mjs --snapshots DIR): objects grouped by
// constructor/type name, with count and self size in each and the difference, largest growth first.
//
//   node bench/heapdiff.mjs DIR/start.heapsnapshot DIR/end.heapsnapshot [--top 30]
import { readFileSync } from 'node:fs';

function summarize(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const nf = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const { nodes, strings } = snap;
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + iType]];
    // objects by constructor name; strings, code, arrays… by their type
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${strings[nodes[i + iName]]}` : `(${type})`;
    const size = nodes[i + iSize];
    total += size;
    const g = groups.get(key);
    if (g) {
      g.count++;
      g.size += size;
    } else groups.set(key, { count: 1, size });
  }
  return { groups, total, count: nodes.length / nf };
}

const args = process.argv.slice(2);
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 30;
if (args.length !== 2) {
  process.stderr.write('usage: node bench/heapdiff.mjs A.heapsnapshot B.heapsnapshot [--top N]\n');
  process.exit(1);
}
const a = summarize(args[0]);
const b = summarize(args[1]);
const keys = new Set([...a.groups.keys(), ...b.groups.keys()]);
const rows = [...keys].map((k) => {
  const x = a.groups.get(k) ?? { count: 0, size: 0 };
  const y = b.groups.get(k) ?? { count: 0, size: 0 };
  return { k, ca: x.count, cb: y.count, sa: x.size, sb: y.size, d: y.size - x.size };
});
rows.sort((p, q) => q.d - p.d);
const kb = (n) => (n / 1024).toFixed(1);
process.stdout.write(`total self size: ${kb(a.total)} KB (${a.count} objects) → ${kb(b.total)} KB (${b.count} objects)\n`);
process.stdout.write('| group | count A | count B | KB A | KB B | Δ KB |\n| --- | ---: | ---: | ---: | ---: | ---: |\n');
for (const r of rows.slice(0, top)) process.stdout.write(`| ${r.k.slice(0, 70)} | ${r.ca} | ${r.cb} | ${kb(r.sa)} | ${kb(r.sb)} | ${kb(r.d)} |\n`);
