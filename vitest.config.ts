import { configDefaults, defineConfig } from 'vitest/config';

const include = ['src/**/*.test.ts', 'plugins/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'];
// Files that measure how long the answers stop while a large file is re-parsed (a gap under 400
// ms): they run after the others (groupOrder), one at a time, so the suite's own files do not take their CPU.
const alone = ['plugins/file/reload.test.ts', 'plugins/kubernetes/manifests-reload.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default'],
    projects: [
      // vitest's default is one worker per core less one: a single file at a time on a 2-core
      // machine. Most files wait (on sockets, timers, child processes) far more than they compute,
      // so three run side by side; the slowest start first (vitest orders by the last run's times).
      { extends: true, test: { name: 'suite', include, exclude: [...configDefaults.exclude, ...alone], maxWorkers: 3, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: alone, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
