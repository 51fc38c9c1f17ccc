import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machine, printTable, type Bench, type BenchFlags, type BenchReport } from './support/report.ts';

/**
 * `npm run bench`: runs the project's benchmarks and prints one table per benchmark (DESIGN.md §8).
 *
 *   npm run bench                          every benchmark, full length
 *   npm run bench -- --quick               short smoke run of every benchmark
 *   npm run bench -- --only gateway        selected benchmarks (comma-separated)
 *   npm run bench -- --list                list the benchmarks
 *   npm run bench -- --out FILE            also write every table and raw figure as JSON
 *
 * A benchmark is a folder `bench/<name>/` whose `index.ts` exports `bench: Bench`; other flags
 * (`--duration`, `--connections`…) are passed to every selected benchmark, which reads its own.
 * They run one after another, never side by side, so one does not load the machine for another.
 */
const here = path.dirname(fileURLToPath(import.meta.url));

/** The order of a full run: the user-visible loops first, then the engine, the API, the footprint. */
export const BENCH_ORDER = ['control-loop', 'scheduler', 'subscriptions', 'gateway', 'mixes', 'footprint'] as const;

async function load(name: string): Promise<Bench> {
  const file = path.join(here, name, 'index.ts');
  if (!existsSync(file)) throw new Error(`unknown benchmark "${name}"; one of ${available().join(', ')}`);
  const module = (await import(pathToFileURL(file).href)) as { bench?: Bench };
  if (!module.bench) throw new Error(`bench/${name}/index.ts exports no \`bench\``);
  return module.bench;
}

const available = (): string[] => BENCH_ORDER.filter((name) => existsSync(path.join(here, name, 'index.ts')));

/**
 * `--name value`, `--name=value` and bare `--flag` (true). Each benchmark reads its own flags, so any
 * name is accepted here; a value that is not a flag belongs to the flag before it.
 */
export function parseFlags(args: readonly string[]): BenchFlags {
  const flags: BenchFlags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}" (flags are --name value or --name=value)`);
    const eq = arg.indexOf('=');
    if (eq > 2) {
      flags[arg.slice(2, eq)] = arg.slice(eq + 1);
    } else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) {
      flags[arg.slice(2)] = args[++i]!;
    } else {
      flags[arg.slice(2)] = true;
    }
  }
  return flags;
}

async function main(): Promise<void> {
  const values = parseFlags(process.argv.slice(2));
  if (values.list) {
    for (const name of available()) console.log(`${name.padEnd(14)} ${(await load(name)).description}`);
    return;
  }
  const selected = typeof values.only === 'string' ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : available();
  const benches = await Promise.all(selected.map(async (name) => [name, await load(name)] as const));
  const quick = values.quick === true;
  const started = new Date();
  const reports: BenchReport[] = [];
  for (const [name, bench] of benches) {
    console.log(`\n## ${name}: ${bench.description}${quick ? ' (quick)' : ''}`);
    const t0 = performance.now();
    const report = await bench.run(values, quick);
    for (const table of report.tables) printTable(table);
    console.log(`\n(${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    reports.push(report);
  }
  if (typeof values.out === 'string') {
    await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
    const results = { started: started.toISOString(), finished: new Date().toISOString(), quick, machine: machine(), reports };
    await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nresults written to ${values.out}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
