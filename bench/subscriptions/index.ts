import type { Bench, BenchFlags } from '../support/report.ts';
import type { LcmGatewayKind } from '../support/lcm-peers.ts';

const list = (value: string | boolean | undefined): string[] | undefined =>
  typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

const number = (value: string | boolean | undefined, fallback: number): number => {
  if (typeof value !== 'string') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${value}`);
  return n;
};

/**
 * Options: --subscribers N (default 1000; quick 100), --rates 10,100,1000 (events/s), --duration S
 * (per rate, default 10; quick 2), --gateways hive,ours. The stock gateway does not execute
 * subscriptions (`@apollo/gateway` refuses them), so it is not in this benchmark.
 */
export const bench: Bench = {
  description: 'graphql-ws subscribers to sessionUpdated with cross-subgraph fields: delivery latency, loss and memory, Hive Gateway and ours',
  async run(flags: BenchFlags, quick: boolean) {
    const { runSubscriptionsBench } = await import('./bench.ts');
    const gateways = (list(flags.gateways) ?? ['hive', 'ours']) as LcmGatewayKind[];
    for (const g of gateways) if (g !== 'hive' && g !== 'ours') throw new Error(`gateway "${g}" does not execute subscriptions; use hive, ours`);
    const options = {
      subscribers: number(flags.subscribers, quick ? 100 : 1000),
      rates: (list(flags.rates) ?? ['10', '100', '1000']).map((r) => number(r, 10)),
      durationSec: number(flags.duration, quick ? 2 : 10),
      gateways,
    };
    const { tables, cells } = await runSubscriptionsBench(options);
    return { name: 'subscriptions', tables, raw: { options, cells } };
  },
};
