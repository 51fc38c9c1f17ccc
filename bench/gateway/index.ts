import type { Bench, BenchFlags } from '../support/report.ts';

const list = (value: string | boolean | undefined): string[] | undefined =>
  typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

const number = (value: string | boolean | undefined, fallback: number): number => {
  if (typeof value !== 'string') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${value}`);
  return n;
};

/**
 * Options: --duration S (per cell, default 10), --warmup S (default 3), --connections 10,50,
 * --gateways stock,hive,hive-nodedup,ours,ours-nodedup[,ours-apollo-server], --rounds N (medians of
 * N rounds), --cpu-prof DIR (V8 CPU profile of our gateway), --json FILE (results as JSON).
 */
export const bench: Bench = {
  description: "federation gateways on The Guild's benchmark scenario: stock @apollo/gateway, Hive Gateway, ours",
  async run(flags: BenchFlags, quick: boolean) {
    const { runGatewayBench, DEFAULT_GATEWAYS, GATEWAY_KINDS } = await import('./bench.ts');
    const gateways = (list(flags.gateways) ?? DEFAULT_GATEWAYS) as (keyof typeof GATEWAY_KINDS)[];
    for (const g of gateways) {
      if (!(g in GATEWAY_KINDS)) throw new Error(`unknown gateway "${g}"; one of ${Object.keys(GATEWAY_KINDS).join(', ')}`);
    }
    const raw = await runGatewayBench({
      durationSec: number(flags.duration, quick ? 2 : 10),
      warmupSec: number(flags.warmup, quick ? 1 : 3),
      connections: (list(flags.connections) ?? ['10', '50']).map((c) => number(c, 10)),
      gateways,
      cpuProfileDir: typeof flags['cpu-prof'] === 'string' ? flags['cpu-prof'] : undefined,
      jsonFile: typeof flags.json === 'string' ? flags.json : undefined,
      rounds: number(flags.rounds, 1),
    });
    return { name: 'gateway', tables: [], raw };
  },
};
