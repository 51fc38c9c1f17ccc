/**
 * `npm run test:unit`: the tests that need no services, in seconds, without the global setup (no etcd,
 * no FerretDB). The tiers are a file-name convention: tests that need etcd or FerretDB are
 * `*.int.test.ts` (`npm run test:integration`); tests of whole processes or systems, `*.e2e.test.ts`,
 * and browser tests, `*.browser.test.ts`, are `npm run test:e2e`; everything else is a unit test.
 * `npm test` (vitest.config.ts) runs all of them.
 */
import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    exclude: [...configDefaults.exclude, '**/*.int.test.ts', '**/*.e2e.test.ts', '**/*.browser.test.ts'],
    globalSetup: [],
  },
});
