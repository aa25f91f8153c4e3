import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'threads',
    testTimeout: 60000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
