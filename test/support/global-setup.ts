// Build dist/ once before the suites that start the real CLI. Type errors are reported by
// `npm test`'s typecheck step; here tsc still emits, so one failing file does not hide the rest.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(__dirname, '../..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0 && !/error TS/.test(r.stdout)) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
}
