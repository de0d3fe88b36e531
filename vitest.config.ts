import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**'],
    setupFiles: ['test/helpers/setup.ts'],
    pool: 'forks',
    // Two cores: SwiftShader itself is multi-threaded, so two test files at a time is plenty.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
