import { numberFlag, listFlag, type Bench, type BenchFlags } from '../support/report.ts';
import { LCM_GATEWAYS, type LcmGatewayKind } from '../support/lcm-peers.ts';

/**
 * Options: --duration S (per cell, default 10; quick 1), --warmup S (per gateway and mix, default 2),
 * --connections 10,50, --gateways stock,hive,ours, --sessions N (seeded, default 2000; quick 300),
 * --base-requests N (distinct base requests per mix, default 400; quick 40).
 */
export const bench: Bench = {
  description: "gateways on LCM's own query mixes (sessions page, worker + sessions, score reports): stock, Hive Gateway, ours",
  async run(flags: BenchFlags, quick: boolean) {
    const { runMixesBench } = await import('./bench.ts');
    const gateways = (listFlag(flags.gateways) ?? ['stock', 'hive', 'ours']) as LcmGatewayKind[];
    for (const g of gateways) if (!(g in LCM_GATEWAYS)) throw new Error(`unknown gateway "${g}"; one of ${Object.keys(LCM_GATEWAYS).join(', ')}`);
    const options = {
      sessions: numberFlag(flags.sessions, quick ? 300 : 2000),
      baseRequests: numberFlag(flags['base-requests'], quick ? 40 : 400),
      durationSec: numberFlag(flags.duration, quick ? 1 : 10),
      warmupSec: numberFlag(flags.warmup, quick ? 0.5 : 2),
      connections: (listFlag(flags.connections) ?? ['10', '50']).map((c) => numberFlag(c, 10)),
      gateways,
    };
    const { tables, cells, seedMs } = await runMixesBench(options);
    return { name: 'mixes', tables, raw: { options, seedMs, cells } };
  },
};
