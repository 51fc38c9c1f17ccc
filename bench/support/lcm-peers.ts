import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, startTsProcess, waitForLine, waitUntil, type BenchProcess } from './processes.ts';
import { SECRET_ENV } from './lcm-identity.ts';
import type { SeedOptions } from './lcm-subgraphs.ts';
import type { SubgraphsProcessOutput } from './lcm-subgraphs-process.ts';

/**
 * The LCM benchmarks' processes: one process of LCM's seeded subgraphs, and one gateway at a time in
 * front of it (stock @apollo/gateway, Hive Gateway, ours), each a single process, all sharing one
 * internal secret so every gateway can sign identities the subgraphs accept. The client sends our
 * gateway's admin token; the peers have no authentication and ignore it.
 */
export const LCM_GATEWAYS = {
  stock: '@apollo/server 5 + @apollo/gateway (stock; no subscriptions)',
  hive: 'Hive Gateway --jit, graphql-ws to the subgraphs, no inbound dedup',
  ours: 'LCM gateway as `lcm up` runs it (authentication, limits, public + internal endpoints)',
} as const;
export type LcmGatewayKind = keyof typeof LCM_GATEWAYS;

export interface LcmBenchWorld {
  subgraphs: BenchProcess;
  output: SubgraphsProcessOutput;
  supergraphFile: string;
  adminToken: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface RunningLcmGateway {
  kind: LcmGatewayKind;
  proc: BenchProcess;
  /** `http://127.0.0.1:<port>/graphql` */
  url: string;
  /** `ws://127.0.0.1:<port>/graphql` */
  wsUrl: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export async function startLcmWorld(seed: SeedOptions): Promise<LcmBenchWorld> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'lcm-bench-'));
  const env = { [SECRET_ENV]: randomBytes(24).toString('base64url'), LCM_BENCH_ADMIN_TOKEN: `lcm-admin-${randomBytes(16).toString('hex')}` };
  const outFile = path.join(workDir, 'subgraphs.json');
  const subgraphs = startTsProcess(
    'subgraphs',
    path.join(here, 'lcm-subgraphs-process.ts'),
    ['--out', outFile, '--sessions', String(seed.sessions), '--definitions', String(seed.definitions), '--workers', String(seed.workers), '--owners', String(seed.owners)],
    [],
    env,
  );
  try {
    await waitForLine(subgraphs, 'READY', 180_000);
    const output = JSON.parse(await readFile(outFile, 'utf8')) as SubgraphsProcessOutput;
    const supergraphFile = path.join(workDir, 'supergraph.public.graphql');
    await writeFile(supergraphFile, output.publicSupergraphSdl);
    return {
      subgraphs,
      output,
      supergraphFile,
      adminToken: env.LCM_BENCH_ADMIN_TOKEN,
      env,
      async close() {
        await subgraphs.stop();
        await rm(workDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await subgraphs.stop();
    await rm(workDir, { recursive: true, force: true });
    throw e;
  }
}

function hiveBin(): string {
  return path.join(path.dirname(require.resolve('@graphql-hive/gateway/package.json')), 'dist', 'bin.js');
}

export async function startLcmGateway(world: LcmBenchWorld, kind: LcmGatewayKind): Promise<RunningLcmGateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const env = { ...world.env, NODE_ENV: 'production' };
  let proc: BenchProcess;
  if (kind === 'hive') {
    proc = startProcess(
      kind,
      process.execPath,
      ['--import', 'tsx', hiveBin(), 'supergraph', world.supergraphFile, '--port', String(port), '--host', '127.0.0.1', '--jit', '--fork', '1', '-c', path.join(here, 'hive-lcm.config.ts')],
      { env },
    );
  } else {
    const args = ['--kind', kind, '--port', String(port), '--supergraph', world.supergraphFile, '--urls', JSON.stringify(world.output.urls)];
    proc = startTsProcess(kind, path.join(here, 'lcm-gateway-process.ts'), args, [], env);
    await waitForLine(proc, 'READY');
  }
  try {
    await waitUntil(proc, async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${world.adminToken}` },
        body: '{"query":"{ __typename }"}',
      });
      await response.arrayBuffer();
      return response.ok;
    });
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { kind, proc, url, wsUrl: url.replace(/^http/, 'ws') };
}
