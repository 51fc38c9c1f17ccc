import { parseArgs } from 'node:util';

/**
 * `npm run bench`: runs the project's benchmarks and prints their tables (DESIGN.md §8).
 *
 *   npm run bench                          every benchmark, full length
 *   npm run bench -- --quick               short smoke run of every benchmark
 *   npm run bench -- --only gateway        selected benchmarks (comma-separated)
 *   npm run bench -- --list                list the benchmarks
 *
 * Gateway options: --duration S (per cell, default 10), --warmup S (default 3),
 * --connections 10,50, --gateways stock,hive,hive-nodedup,ours,ours-nodedup[,ours-apollo-server],
 * --rounds N (measure N times, report medians), --cpu-prof DIR (V8 CPU profile of our gateway),
 * --json FILE (results as JSON).
 *
 * To add a benchmark: add an entry to BENCHES whose `run` receives the parsed flags.
 */
type Flags = Record<string, string | boolean | undefined>;

interface Bench {
  description: string;
  run(flags: Flags, quick: boolean): Promise<void>;
}

const list = (value: string | boolean | undefined): string[] | undefined =>
  typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

const number = (value: string | boolean | undefined, fallback: number): number => {
  if (typeof value !== 'string') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${value}`);
  return n;
};

const BENCHES: Record<string, Bench> = {
  gateway: {
    description: "federation gateways on The Guild's benchmark scenario: stock @apollo/gateway, Hive Gateway, ours",
    async run(flags, quick) {
      const { runGatewayBench, DEFAULT_GATEWAYS, GATEWAY_KINDS } = await import('./gateway/bench.ts');
      const gateways = (list(flags.gateways) ?? DEFAULT_GATEWAYS) as (keyof typeof GATEWAY_KINDS)[];
      for (const g of gateways) {
        if (!(g in GATEWAY_KINDS)) throw new Error(`unknown gateway "${g}"; one of ${Object.keys(GATEWAY_KINDS).join(', ')}`);
      }
      await runGatewayBench({
        durationSec: number(flags.duration, quick ? 2 : 10),
        warmupSec: number(flags.warmup, quick ? 1 : 3),
        connections: (list(flags.connections) ?? ['10', '50']).map((c) => number(c, 10)),
        gateways,
        cpuProfileDir: typeof flags['cpu-prof'] === 'string' ? flags['cpu-prof'] : undefined,
        jsonFile: typeof flags.json === 'string' ? flags.json : undefined,
        rounds: number(flags.rounds, 1),
      });
    },
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      gateways: { type: 'string' },
      'cpu-prof': { type: 'string' },
      json: { type: 'string' },
      rounds: { type: 'string' },
    },
    allowPositionals: false,
  });
  if (values.list) {
    for (const [name, bench] of Object.entries(BENCHES)) console.log(`${name.padEnd(12)} ${bench.description}`);
    return;
  }
  const selected = list(values.only) ?? Object.keys(BENCHES);
  for (const name of selected) {
    if (!BENCHES[name]) throw new Error(`unknown benchmark "${name}"; one of ${Object.keys(BENCHES).join(', ')}`);
  }
  for (const name of selected) await BENCHES[name]!.run(values, values.quick ?? false);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
