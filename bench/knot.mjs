// A Knot DNS upstream for the cache and forward workloads (`--upstream knot` of bench/run.mjs
// and bench/steady.mjs): knotd (Debian's `knot`) serving a zone `upstream.test.` with the same
// answers bench/upstream.mjs gives for the workloads' names (name-0 … name-999, A, TTL 3600,
// address = ipFor(name)), on a free port of 127.0.0.1, with Knot's default worker counts. Its
// configuration, zone, journal and control socket live in a temp dir; it is stopped by PID.
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ipFor } from './workloads.mjs';

export const KNOTD = process.env.KNOTD ?? '/usr/sbin/knotd';

/** Names the zone holds: the names of the workloads' upstream (bench/workloads.mjs upstreamNames). */
const NAMES = 1000;

/** knotd on this machine, or a reason why not (then `--upstream knot` fails with it). */
export function knotMissing() {
  const r = spawnSync(KNOTD, ['-V'], { encoding: 'utf8' });
  return r.error ? `${KNOTD}: ${r.error.code ?? r.error.message} (Debian's knot package)` : '';
}

/** Write knot.conf and the zone under `dir`; returns the knotd arguments. */
export function knotFiles(dir, port) {
  const k = path.join(dir, 'knot');
  mkdirSync(path.join(k, 'db'), { recursive: true });
  const zone = ['$ORIGIN upstream.test.', '$TTL 3600', '@ SOA ns.upstream.test. hostmaster.upstream.test. 1 3600 600 86400 10', '@ NS ns', 'ns A 127.0.0.1'];
  for (let i = 0; i < NAMES; i++) zone.push(`name-${i} A ${ipFor(`name-${i}.upstream.test.`)}`);
  writeFileSync(path.join(k, 'upstream.test.zone'), zone.join('\n') + '\n');
  const conf = [
    'server:',
    `    rundir: "${k}"`,
    `    listen: 127.0.0.1@${port}`,
    'database:',
    `    storage: "${path.join(k, 'db')}"`,
    'control:',
    `    listen: "${path.join(k, 'knot.sock')}"`,
    'log:',
    '  - target: stderr',
    '    any: info',
    'zone:',
    '  - domain: upstream.test.',
    `    file: "${path.join(k, 'upstream.test.zone')}"`,
    '    journal-content: none',
    '    zonefile-sync: -1',
    '',
  ];
  const file = path.join(k, 'knot.conf');
  writeFileSync(file, conf.join('\n'));
  return ['-c', file];
}
