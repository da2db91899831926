import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // End-to-end files each run a simulated mesh and compare latencies: two at a time on a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
