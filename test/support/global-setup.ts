// Build dist/ and the native UDP module once before the suites that start the real CLI. Type errors are reported by
// `npm test`'s typecheck step; here tsc still emits, so one failing file does not hide the rest.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { buildDist, ROOT } from './build.js';

export default function setup(): void {
  try {
    buildDist();
  } catch (e) {
    if (!/error TS/.test((e as Error).message)) throw e;
  }
  // The native UDP socket (as `npm run build` compiles it). Not fatal here: without it every
  // server falls back to node:dgram and test/integration/udp.test.ts says why it is missing.
  const n = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build-native.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (n.stderr) process.stderr.write(n.stderr);
}
