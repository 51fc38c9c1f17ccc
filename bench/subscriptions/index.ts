import { numberFlag, listFlag, type Bench, type BenchFlags } from '../support/report.ts';
import type { LcmGatewayKind } from '../support/lcm-peers.ts';

/**
 * Options: --subscribers N (default 1000; quick 100), --rates 10,100,1000 (events/s), --duration S
 * (per rate, default 10; quick 2), --gateways hive,ours. The stock gateway does not execute
 * subscriptions (`@apollo/gateway` refuses them), so it is not in this benchmark.
 */
export const bench: Bench = {
  description: 'graphql-ws subscribers to sessionUpdated with cross-subgraph fields: delivery latency, loss and memory, Hive Gateway and ours',
  async run(flags: BenchFlags, quick: boolean) {
    const { runSubscriptionsBench } = await import('./bench.ts');
    const gateways = (listFlag(flags.gateways) ?? ['hive', 'ours']) as LcmGatewayKind[];
    for (const g of gateways) if (g !== 'hive' && g !== 'ours') throw new Error(`gateway "${g}" does not execute subscriptions; use hive, ours`);
    const options = {
      subscribers: numberFlag(flags.subscribers, quick ? 100 : 1000),
      rates: (listFlag(flags.rates) ?? ['10', '100', '1000']).map((r) => numberFlag(r, 10)),
      durationSec: numberFlag(flags.duration, quick ? 2 : 10),
      gateways,
    };
    const { tables, cells } = await runSubscriptionsBench(options);
    return { name: 'subscriptions', tables, raw: { options, cells } };
  },
};
