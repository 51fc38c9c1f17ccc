import { numberFlag, formatNumber, type Bench, type BenchFlags, type BenchTable } from '../support/report.ts';
import { measureRoundTrips, PAGE, QUERIES, type QueryName } from './round-trips.ts';
import { measureRss } from './rss.ts';

const list = (value: string | boolean | undefined, fallback: number[]): number[] =>
  typeof value === 'string' ? value.split(',').map((s) => numberFlag(s.trim(), 0, true)) : fallback;

/**
 * Options: --n 10,100,1000 (sessions seeded per round-trip measurement; quick 10,30),
 * --rss-sessions N (default 10,000; quick 200), --subscribers N (default 1,000; quick 50),
 * --concurrency N (requests in flight while seeding, default 16), --skip-rss, --skip-trips.
 */
export const bench: Bench = {
  description: 'N+1 and memory: database round trips per query vs N; RSS of `npm start` idle, with sessions, with subscribers',
  async run(flags: BenchFlags, quick: boolean) {
    const sizes = list(flags.n, quick ? [10, 30] : [10, 100, 1000]);
    const concurrency = numberFlag(flags.concurrency, 16, true);
    const tables: BenchTable[] = [];
    const raw: Record<string, unknown> = {};

    if (flags['skip-trips'] !== true) {
      const results = await measureRoundTrips(sizes, concurrency);
      raw.roundTrips = results;
      const cell = (trips: number[]) => (trips.length === 1 ? String(trips[0]) : `${trips.join(' + ')} (${trips.length} pages)`);
      tables.push({
        title: 'Database round trips per query vs N (embedded storage, counted at the storage port)',
        columns: ['query', ...results.map((r) => `N=${formatNumber(r.n)}`), 'per request, independent of N'],
        rows: (Object.keys(QUERIES) as QueryName[]).map((q) => {
          const all = results.flatMap((r) => r.trips[q].perRequest);
          return [QUERIES[q].label, ...results.map((r) => cell(r.trips[q].perRequest)), all.every((t) => t === all[0]) ? `yes (${all[0]})` : `NO (${Math.min(...all)}–${Math.max(...all)})`];
        }),
        notes: [
          `Each N: N sessions of one owner, all SCHEDULED on one worker, walked to GRADING with a score report (seeded through the gateway: ${results.map((r) => `N=${r.n} in ${formatNumber(r.seedMs / 1000)} s`).join(', ')}). Paged queries ask first: ${PAGE} (the API's maximum) and walk every page: a cell "a + b" is one count per page. Every query is run once before it is counted (its plan is cached).`,
          'A round trip is one call that reaches the database (Storage.roundTrips(): insert, get, getMany, find, page, count…), summed over the four subgraphs and the gateway.',
        ],
      });
    }

    if (flags['skip-rss'] !== true) {
      const samples = await measureRss({
        sessions: numberFlag(flags['rss-sessions'], quick ? 200 : 10_000, true),
        subscribers: numberFlag(flags.subscribers, quick ? 50 : 1000, true),
        concurrency,
        settleMs: quick ? 500 : 3000,
      });
      raw.rss = samples;
      tables.push({
        title: 'Resident memory of `npm start` (node bin/lcm.js up, whole process tree)',
        columns: ['state', 'RSS MiB', 'delta MiB', 'per session / per subscriber KiB', 'time to reach s'],
        rows: samples.map((s, i) => {
          const delta = i === 0 ? 0 : s.rssMiB - samples[i - 1]!.rssMiB;
          return [s.state, s.rssMiB, i === 0 ? '' : delta, s.unit && s.added > 0 ? `${formatNumber((delta * 1024) / s.added)} per ${s.unit}` : '', s.ms / 1000];
        }),
        notes: [
          'Embedded storage and coordination, simulators and the three controllers on (`lcm up` always starts them). The sessions ask for 100 cores, more than any seeded template: they stay PENDING (UNPLACEABLE), no worker is launched. Sessions created through the public API, `--concurrency` in flight.',
          'RSS is the median of 5 readings 0.4 s apart after a pause; V8 frees memory lazily, so a delta is an upper bound of what the added items keep, and small deltas are noise of a few MiB.',
        ],
      });
    }
    return { name: 'footprint', tables, raw };
  },
};
