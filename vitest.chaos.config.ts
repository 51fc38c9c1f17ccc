/**
 * `npm run test:chaos`: the long chaos run (test/chaos/*.chaos.ts), sized by LCM_CHAOS_SESSIONS,
 * LCM_CHAOS_SECONDS, LCM_CHAOS_KILL_EVERY_MS and LCM_CHAOS_SETTLE_SECONDS (default: 500 sessions,
 * 600 s of chaos). The pattern `*.chaos.ts` keeps it out of `npm test`, which runs the short form
 * (test/chaos/chaos-short.e2e.test.ts). It starts its own etcd and FerretDB: no global setup.
 */
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/chaos/**/*.chaos.ts'],
    globalSetup: [],
    testTimeout: 4 * 60 * 60_000,
    hookTimeout: 10 * 60_000,
  },
});
