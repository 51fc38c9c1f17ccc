import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { benchSecret } from './lcm-identity.ts';
import { seed, startLcmSubgraphs, type SeedFixture } from './lcm-subgraphs.ts';

/**
 * Child process of the LCM benchmarks: LCM's four subgraphs on the embedded stores, seeded, until
 * SIGTERM. Writes `{ urls, publicSupergraphSdl, fixture, seedMs }` to `--out FILE`, then prints READY.
 * The internal secret comes from the environment (`LCM_BENCH_INTERNAL_SECRET`).
 */
export interface SubgraphsProcessOutput {
  urls: Record<string, string>;
  publicSupergraphSdl: string;
  fixture: SeedFixture;
  seedMs: number;
}

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    sessions: { type: 'string', default: '2000' },
    definitions: { type: 'string', default: '20' },
    workers: { type: 'string', default: '50' },
    owners: { type: 'string', default: '200' },
  },
});
if (!values.out) throw new Error('usage: lcm-subgraphs-process.ts --out FILE [--sessions N --definitions N --workers N --owners N]');
const subgraphs = await startLcmSubgraphs(benchSecret());
const t0 = performance.now();
const fixture = await seed(subgraphs, {
  sessions: Number(values.sessions),
  definitions: Number(values.definitions),
  workers: Number(values.workers),
  owners: Number(values.owners),
});
const output: SubgraphsProcessOutput = {
  urls: subgraphs.urls,
  publicSupergraphSdl: subgraphs.publicSupergraphSdl,
  fixture,
  seedMs: performance.now() - t0,
};
await writeFile(values.out, JSON.stringify(output));
console.log('READY');
process.once('SIGTERM', () => {
  void subgraphs.close().then(() => process.exit(0));
});
