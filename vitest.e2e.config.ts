import { defineConfig } from 'vitest/config';

/**
 * End-to-end tests: the built page (vite build, once per run in the global setup) in Debian's
 * headless Chromium. One file at a time — each launches a browser, and SwiftShader is
 * multi-threaded on a 2-core machine.
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
