import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{cli,core,subgraphs,gateway,controllers,simulators,test,schema}/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
