import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startStockGateway } from '../../test/support/gateway/stock-gateway.ts';
import {
  freePort,
  residentMiB,
  startProcess,
  startTsProcess,
  waitForLine,
  waitUntil,
  type BenchProcess,
} from '../support/processes.ts';
import { BENCHMARK_BODY } from './query.ts';

/**
 * The gateway benchmark (DESIGN.md §8): The Guild's federation benchmark scenario (four subgraphs,
 * the deep `TestQuery`) against several Node gateways, one at a time, each a single process on the
 * same subgraphs (one more process, with a response cache so the subgraphs cost little). Every
 * response of every gateway is checked against the stock gateway's answer.
 */
export const GATEWAY_KINDS = {
  stock: '@apollo/server 5 + @apollo/gateway (stock)',
  hive: 'Hive Gateway --jit, inbound in-flight dedup (as in the public benchmark)',
  'hive-nodedup': 'Hive Gateway --jit, no inbound dedup',
  ours: 'this gateway, defaults (identical in-flight queries and subgraph requests shared)',
  'ours-subgraph-dedup': 'this gateway, only identical subgraph requests shared (like Apollo Router deduplicate_query)',
  'ours-nodedup': 'this gateway, nothing shared',
  'ours-apollo-server': "this gateway's executor behind @apollo/server 5 (ADR 0004)",
} as const;
export type GatewayKind = keyof typeof GATEWAY_KINDS;

export const DEFAULT_GATEWAYS: GatewayKind[] = ['stock', 'hive', 'hive-nodedup', 'ours', 'ours-nodedup'];

export interface GatewayBenchOptions {
  /** Seconds of load per cell (gateway × connections). */
  durationSec: number;
  /** Seconds of warm-up load per gateway before its cells. */
  warmupSec: number;
  connections: number[];
  gateways: GatewayKind[];
  /** Write a V8 CPU profile of our gateway processes into this directory. */
  cpuProfileDir?: string;
  /** Write the results as JSON to this file. */
  jsonFile?: string;
  /**
   * Measure every gateway this many times (in turn: all gateways, then all again…) and report the
   * median cell of each; on a shared machine this evens out load that changes during a run.
   */
  rounds?: number;
}

export interface CellResult {
  gateway: GatewayKind;
  connections: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  rssMiB?: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  try {
    const pkgPath = path.join(process.cwd(), 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function hiveBin(): string {
  const pkgPath = require.resolve('@graphql-hive/gateway/package.json');
  return path.join(path.dirname(pkgPath), 'dist', 'bin.js');
}

async function startGateway(kind: GatewayKind, supergraphFile: string, workDir: string, cpuProfileDir?: string) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  let proc: BenchProcess;
  if (kind === 'hive' || kind === 'hive-nodedup') {
    const config = path.join(workDir, `${kind}.config.mjs`);
    await writeFile(
      config,
      `export const gatewayConfig = { inboundInflightRequestDeduplication: ${kind === 'hive'}, jit: true };\n`,
    );
    proc = startProcess(
      kind,
      process.execPath,
      [hiveBin(), 'supergraph', supergraphFile, '--port', String(port), '--host', '127.0.0.1', '--jit', '--fork', '1', '-c', config],
      { env: { NODE_ENV: 'production' } },
    );
  } else {
    const gatewayKind = kind === 'ours-nodedup' || kind === 'ours-subgraph-dedup' ? 'ours' : kind;
    const args = ['--kind', gatewayKind, '--supergraph', supergraphFile, '--port', String(port)];
    if (kind === 'ours-nodedup') args.push('--no-dedup');
    if (kind === 'ours-subgraph-dedup') args.push('--no-inbound-dedup');
    const nodeArgs = cpuProfileDir && kind.startsWith('ours') ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : [];
    proc = startTsProcess(kind, path.join(here, 'gateway-process.ts'), args, nodeArgs, { NODE_ENV: 'production' });
    await waitForLine(proc, 'READY');
  }
  await waitUntil(proc, async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ __typename }"}',
    });
    await response.arrayBuffer();
    return response.ok;
  });
  return { proc, url };
}

/** Accepts a body if it is the expected response (byte-equal to one seen before, or equal as JSON). */
function verifier(expectedCanonical: string) {
  const known: string[] = [];
  return (raw: string | Buffer | undefined): boolean => {
    if (raw === undefined) return false;
    const body = typeof raw === 'string' ? raw : raw.toString('utf8');
    for (const k of known) if (body === k) return true;
    let canonical: string;
    try {
      canonical = JSON.stringify(JSON.parse(body));
    } catch {
      return false;
    }
    if (canonical !== expectedCanonical) return false;
    if (known.length < 4) known.push(body);
    return true;
  };
}

function load(url: string, connections: number, durationSec: number, verifyBody: ReturnType<typeof verifier>) {
  return autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BENCHMARK_BODY,
    connections,
    duration: durationSec,
    timeout: 30,
    verifyBody,
  });
}

export async function runGatewayBench(options: GatewayBenchOptions): Promise<CellResult[]> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'lcm-bench-gateway-'));
  const supergraphFile = path.join(workDir, 'supergraph.graphql');
  const subgraphs = startTsProcess('subgraphs', path.join(here, 'subgraphs-process.ts'), [supergraphFile]);
  try {
    await waitForLine(subgraphs, 'READY');
    const supergraphSdl = await readFile(supergraphFile, 'utf8');

    // The reference answer: what the stock gateway returns (checked once, in this process).
    const reference = await startStockGateway(supergraphSdl);
    const referenceResponse = await fetch(`${reference.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BENCHMARK_BODY,
    });
    const referenceBody = (await referenceResponse.json()) as { errors?: unknown };
    await reference.close();
    if (referenceBody.errors) throw new Error(`the stock gateway answered with errors: ${JSON.stringify(referenceBody.errors)}`);
    const expected = JSON.stringify(referenceBody);

    const rounds = Math.max(1, options.rounds ?? 1);
    printHeader(options, expected.length, rounds);
    const all: CellResult[][] = [];
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) console.log(`round ${round} of ${rounds}`);
      for (const kind of options.gateways) {
        const { proc, url } = await startGateway(kind, supergraphFile, workDir, options.cpuProfileDir);
        try {
          const verify = verifier(expected);
          if (options.warmupSec > 0) await load(url, options.connections[0] ?? 10, options.warmupSec, verify);
          for (const connections of options.connections) {
            const result = await load(url, connections, options.durationSec, verify);
            const cell: CellResult = {
              gateway: kind,
              connections,
              requests: result.requests.total,
              rps: result.requests.total / (result.duration || options.durationSec),
              p50Ms: result.latency.p50,
              p99Ms: result.latency.p99,
              non2xx: result.non2xx,
              errors: result.errors,
              timeouts: result.timeouts,
              mismatches: result.mismatches,
            };
            const rss = residentMiB(proc.child.pid);
            if (rss !== undefined) cell.rssMiB = rss;
            all.push([cell]);
            printRow(cell);
          }
        } finally {
          await proc.stop();
        }
      }
    }
    const results = rounds === 1 ? all.map((cells) => cells[0]!) : medianCells(all.flat(), options);
    if (rounds > 1) {
      console.log(`\nmedian of ${rounds} rounds (errors and mismatches: totals over all rounds)`);
      for (const cell of results) printRow(cell);
    }
    printSummary(results, options);
    if (options.jsonFile) {
      await writeFile(
        options.jsonFile,
        JSON.stringify({ environment: environment(), options, results, rounds: rounds > 1 ? all.flat() : undefined }, null, 2) + '\n',
      );
    }
    return results;
  } finally {
    await subgraphs.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Per gateway and connection count: the cell with the median RPS, with error counts summed. */
function medianCells(cells: CellResult[], options: GatewayBenchOptions): CellResult[] {
  const out: CellResult[] = [];
  for (const gateway of options.gateways) {
    for (const connections of options.connections) {
      const group = cells.filter((c) => c.gateway === gateway && c.connections === connections).sort((a, b) => a.rps - b.rps);
      const median = group[Math.floor(group.length / 2)];
      if (!median) continue;
      const sum = (k: 'non2xx' | 'errors' | 'timeouts' | 'mismatches') => group.reduce((n, c) => n + c[k], 0);
      out.push({ ...median, non2xx: sum('non2xx'), errors: sum('errors'), timeouts: sum('timeouts'), mismatches: sum('mismatches') });
    }
  }
  return out;
}

function environment() {
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    versions: {
      '@apollo/server': packageVersion('@apollo/server'),
      '@apollo/gateway': packageVersion('@apollo/gateway'),
      '@graphql-hive/gateway': packageVersion('@graphql-hive/gateway'),
      graphql: packageVersion('graphql'),
      autocannon: packageVersion('autocannon'),
    },
  };
}

function printHeader(options: GatewayBenchOptions, responseBytes: number, rounds: number): void {
  const env = environment();
  console.log(`\n## Gateway benchmark (The Guild's federation scenario, TestQuery, ${responseBytes} bytes per response)`);
  console.log(
    `node ${env.node}, ${env.cpus} CPUs (${env.cpuModel}), load average ${env.loadavg.join(' ')}; ` +
      Object.entries(env.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
  );
  console.log(
    `each cell: ${options.durationSec} s of autocannon load after ${options.warmupSec} s of warm-up` +
      (rounds > 1 ? `, ${rounds} rounds` : '') +
      '; gateways:',
  );
  for (const kind of options.gateways) console.log(`  ${kind.padEnd(19)} ${GATEWAY_KINDS[kind]}`);
  console.log('');
  console.log(row(['gateway', 'conns', 'RPS', 'p50 ms', 'p99 ms', 'errors', 'mismatches', 'RSS MiB']));
  console.log(row(['-------', '-----', '---', '------', '------', '------', '----------', '-------']));
}

const WIDTHS = [19, 6, 9, 8, 8, 7, 11, 8];
function row(cells: (string | number)[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(WIDTHS[i]!) : String(c).padStart(WIDTHS[i]!))).join(' ');
}

function printRow(cell: CellResult): void {
  console.log(
    row([
      cell.gateway,
      cell.connections,
      cell.rps.toFixed(1),
      cell.p50Ms.toFixed(1),
      cell.p99Ms.toFixed(1),
      cell.errors + cell.non2xx + cell.timeouts,
      cell.mismatches,
      cell.rssMiB ?? '-',
    ]),
  );
}

function printSummary(results: CellResult[], options: GatewayBenchOptions): void {
  const rps = (gateway: GatewayKind, connections: number) =>
    results.find((r) => r.gateway === gateway && r.connections === connections)?.rps;
  const lines: string[] = [];
  for (const ours of ['ours', 'ours-subgraph-dedup', 'ours-nodedup', 'ours-apollo-server'] as const) {
    if (!options.gateways.includes(ours)) continue;
    for (const other of ['stock', 'hive', 'hive-nodedup'] as const) {
      if (!options.gateways.includes(other)) continue;
      const ratios = options.connections.map((c) => {
        const a = rps(ours, c);
        const b = rps(other, c);
        return a && b ? `${(a / b).toFixed(2)}× at ${c}` : `n/a at ${c}`;
      });
      lines.push(`  ${ours}/${other}: ${ratios.join(', ')}`);
    }
  }
  if (lines.length > 0) console.log(`\nRPS ratios:\n${lines.join('\n')}`);
  const bad = results.filter((r) => r.mismatches > 0 || r.errors + r.non2xx + r.timeouts > 0);
  console.log(
    bad.length === 0
      ? '\nevery response of every gateway equalled the expected result'
      : `\nWARNING: ${bad.map((r) => `${r.gateway}@${r.connections}: ${r.mismatches} mismatches, ${r.errors + r.non2xx + r.timeouts} errors`).join('; ')}`,
  );
}
