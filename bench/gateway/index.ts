import { numberFlag, listFlag, type Bench, type BenchFlags } from '../support/report.ts';

/**
 * Options: --duration S (per cell, default 10), --warmup S (default 3), --connections 10,50,
 * --gateways stock,hive,hive-nodedup,ours,ours-nodedup[,ours-apollo-server], --rounds N (medians of
 * N rounds), --cpu-prof DIR (V8 CPU profile of our gateway), --json FILE (results as JSON).
 */
export const bench: Bench = {
  description: "federation gateways on The Guild's benchmark scenario: stock @apollo/gateway, Hive Gateway, ours",
  async run(flags: BenchFlags, quick: boolean) {
    const { runGatewayBench, DEFAULT_GATEWAYS, GATEWAY_KINDS } = await import('./bench.ts');
    const gateways = (listFlag(flags.gateways) ?? DEFAULT_GATEWAYS) as (keyof typeof GATEWAY_KINDS)[];
    for (const g of gateways) {
      if (!(g in GATEWAY_KINDS)) throw new Error(`unknown gateway "${g}"; one of ${Object.keys(GATEWAY_KINDS).join(', ')}`);
    }
    const raw = await runGatewayBench({
      durationSec: numberFlag(flags.duration, quick ? 2 : 10),
      warmupSec: numberFlag(flags.warmup, quick ? 1 : 3),
      connections: (listFlag(flags.connections) ?? ['10', '50']).map((c) => numberFlag(c, 10)),
      gateways,
      cpuProfileDir: typeof flags['cpu-prof'] === 'string' ? flags['cpu-prof'] : undefined,
      jsonFile: typeof flags.json === 'string' ? flags.json : undefined,
      rounds: numberFlag(flags.rounds, 1),
    });
    return { name: 'gateway', tables: [], raw };
  },
};
