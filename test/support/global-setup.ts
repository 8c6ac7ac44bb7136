// Build dist/ and the native UDP module once before the suites that start the real CLI. Type errors are reported by
// `npm test`'s typecheck step; here tsc still emits, so one failing file does not hide the rest.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(__dirname, '../..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0 && !/error TS/.test(r.stdout)) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
  // The native UDP socket (as `npm run build` compiles it). Not fatal here: without it every
  // server falls back to node:dgram and test/integration/udp.test.ts says why it is missing.
  const n = spawnSync(process.execPath, [path.join(root, 'scripts/build-native.mjs')], { cwd: root, encoding: 'utf8' });
  if (n.stderr) process.stderr.write(n.stderr);
}
