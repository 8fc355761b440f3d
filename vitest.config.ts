import { defineConfig } from 'vitest/config';

// Tests run in forked processes: tfjs keeps global backend state, and the wasm backend is single-threaded,
// so isolation per file keeps one file's backend choice from leaking into another's.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'runs/**'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
  },
});
