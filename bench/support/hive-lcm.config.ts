import { defineConfig } from '@graphql-hive/gateway';
import { subgraphConnectionParams, subgraphHeaders } from './lcm-identity.ts';

/**
 * Hive Gateway's configuration for LCM's subgraphs in the benchmarks (loaded with `node --import tsx`):
 * - every HTTP request to a subgraph gets the signed identity bound to its exact body, in an
 *   `onFetch` hook (`subgraphHeaders`);
 * - subscriptions go to the subgraphs over graphql-ws on their routing URL, the identity in
 *   `connectionParams` as LCM's subgraphs read it (a token signed once at start, valid for the run).
 * `LCM_BENCH_HIVE_DEDUP=1` turns on inbound in-flight deduplication (as in The Guild's benchmark).
 */
const connectionParams = await subgraphConnectionParams(undefined, 3600);

export const gatewayConfig = defineConfig({
  jit: true,
  inboundInflightRequestDeduplication: process.env.LCM_BENCH_HIVE_DEDUP === '1',
  transportEntries: {
    '*.http': {
      options: {
        subscriptions: { kind: 'ws', options: { connectionParams } },
      },
    },
  },
  plugins: () => [
    {
      async onFetch({ options, setOptions }) {
        const body = typeof options.body === 'string' ? options.body : '';
        const headers = { ...(options.headers as Record<string, string> | undefined), ...(await subgraphHeaders(body)) };
        setOptions({ ...options, headers });
      },
    },
  ],
});
