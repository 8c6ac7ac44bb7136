// Build step (npm run build, after tsc): bundle watch/kubeconfig.ts with @kubernetes/client-node
// into dist/plugins/kubernetes/watch/kubeconfig.js, over tsc's output at the path the plugin
// imports. Tree-shaken to KubeConfig and what it uses, the import costs ~20 MB RSS instead of ~80.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
await build({
  entryPoints: [resolve(root, 'plugins/kubernetes/watch/kubeconfig.ts')],
  outfile: resolve(root, 'dist/plugins/kubernetes/watch/kubeconfig.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  logLevel: 'warning',
  // CommonJS dependencies require() node's built-ins: give the ES module a require().
  banner: { js: "import { createRequire as __typednsRequire } from 'node:module'; const require = __typednsRequire(import.meta.url);" },
});
// tsc's source map describes the file this bundle replaced.
rmSync(resolve(root, 'dist/plugins/kubernetes/watch/kubeconfig.js.map'), { force: true });
