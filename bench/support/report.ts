import os from 'node:os';

/**
 * What a benchmark returns to `npm run bench`: tables it printed (kept for the results file), plus
 * any raw figures. Every number in a table is measured in this run; ratios are computed from numbers
 * measured side by side in the same run.
 */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  /** Lines printed under the table: what the numbers mean, the ratios. */
  notes?: string[];
}

export interface BenchReport {
  name: string;
  tables: BenchTable[];
  /** Raw figures for the results file (JSON-serialisable). */
  raw?: unknown;
}

export type BenchFlags = Record<string, string | boolean | undefined>;

export interface Bench {
  description: string;
  run(flags: BenchFlags, quick: boolean): Promise<BenchReport>;
}

const cell = (value: string | number): string =>
  typeof value === 'number' ? formatNumber(value) : value;

/** Numbers as a reader wants them: thousands separated, at most 3 significant decimals. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A ratio printed as `1.23×`. */
export const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : `${formatNumber(a / b)}×`);

/** Prints a table as Markdown (so it can be pasted into docs/benchmarks.md). */
export function printTable(table: BenchTable): void {
  const rows = table.rows.map((r) => r.map(cell));
  const widths = table.columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n### ${table.title}\n`);
  console.log(line(table.columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  for (const note of table.notes ?? []) console.log(`\n${note}`);
}

/** Percentile (0–100) of a list of numbers, nearest-rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The machine a run was measured on, for the results file. */
export function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
  };
}

/** A flag's comma-separated values (`--connections 10,50`), or undefined when not given. */
export const listFlag = (value: string | boolean | undefined): string[] | undefined =>
  typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

/** A flag's non-negative number (whole with `integer`), or `fallback` when not given. */
export function numberFlag(value: string | boolean | undefined, fallback: number, integer = false): number {
  if (typeof value !== 'string') return fallback;
  const n = Number(value);
  if (!(integer ? Number.isInteger(n) : Number.isFinite(n)) || n < 0) throw new Error(`not a ${integer ? 'whole ' : ''}number: ${value}`);
  return n;
}
