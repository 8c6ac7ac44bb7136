import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'plugins/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // vitest's default is one worker per core less one: a single file at a time on a 2-core
    // machine. Most files wait (on sockets, timers, child processes) far more than they compute, so
    // three run side by side; the slowest files start first (vitest orders by the last run's times).
    maxWorkers: 3,
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default'],
  },
});
