import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const nodeRequire = createRequire(import.meta.url);

// Every test (what `npm test` runs). The tiers (`npm run test:unit|test:integration|test:e2e`) are
// described in vitest.unit.config.ts.
export default defineConfig({
  // graphql 16 ships CommonJS (`main`) and ESM (`module`) builds without an `exports` map. Node (and so
  // every dependency and `npm start`) loads the CommonJS one; Vite would pick `module` for our test
  // files, giving two copies of graphql ("Cannot use GraphQLSchema from another module or realm").
  // Resolve graphql the way Node does (test/support/realm.test.ts guards this).
  plugins: [
    {
      name: 'graphql-as-node-resolves-it',
      enforce: 'pre',
      resolveId(id: string) {
        if (id === 'graphql' || id.startsWith('graphql/')) return { id: nodeRequire.resolve(id), external: true };
        return null;
      },
    },
  ],
  test: {
    include: ['{cli,core,subgraphs,gateway,controllers,simulators,test,schema,bench}/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
