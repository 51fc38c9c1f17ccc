import { writeFile } from 'node:fs/promises';
import { startBenchmarkSubgraphs } from '../../test/support/gateway/benchmark-subgraphs.ts';

/**
 * Child process of the gateway benchmark: the four benchmark subgraphs (answers cached), with
 * their composed supergraph written to the file named by the first argument. Prints `READY` when
 * serving; stops on SIGTERM.
 */
const [supergraphFile] = process.argv.slice(2);
if (!supergraphFile) throw new Error('usage: subgraphs-process.ts SUPERGRAPH_FILE');
const running = await startBenchmarkSubgraphs();
await writeFile(supergraphFile, running.supergraphSdl);
console.log('READY');
process.once('SIGTERM', () => {
  void running.close().then(() => process.exit(0));
});
