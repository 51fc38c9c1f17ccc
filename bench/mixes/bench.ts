import autocannon from 'autocannon';
import { percentile, ratio, type BenchTable } from '../support/report.ts';
import { LCM_GATEWAYS, startLcmGateway, startLcmWorld, type LcmBenchWorld, type LcmGatewayKind } from '../support/lcm-peers.ts';
import { buildMixes, requestBody, type Mix } from './queries.ts';

/**
 * The gateway on LCM's real query mixes (issue 11): LCM's subgraphs seeded with a realistic graph, the
 * three mixes of `queries.ts`, each gateway in turn (one process, the same subgraphs process), at each
 * connection count. Every request is distinct; every answer is compared with the stock gateway's
 * answer to the same base request (canonical JSON).
 */
export interface MixesOptions {
  sessions: number;
  /** Distinct base requests per mix (the reference answers fetched through the stock gateway). */
  baseRequests: number;
  durationSec: number;
  warmupSec: number;
  connections: number[];
  gateways: LcmGatewayKind[];
}

export interface MixCell {
  mix: string;
  gateway: LcmGatewayKind;
  connections: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  mismatches: number;
}

const canonical = (body: string): string => {
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return `not JSON: ${body.slice(0, 80)}`;
  }
};

/** Stock's answer to every base request of a mix (a few in flight), canonical. */
async function referenceAnswers(url: string, token: string, mix: Mix): Promise<string[]> {
  const answers = new Array<string>(mix.variables.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < mix.variables.length; i = next++) {
      const response = await fetch(url, { method: 'POST', headers: headers(token), body: requestBody(mix, i) });
      const text = await response.text();
      const parsed = JSON.parse(text) as { errors?: unknown };
      if (!response.ok || parsed.errors) throw new Error(`stock answered ${mix.name} #${i} with ${response.status}: ${text.slice(0, 300)}`);
      answers[i] = JSON.stringify(parsed);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return answers;
}

const headers = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

/** One autocannon run: request k is base request k mod N with counter k; answers checked by index. */
async function load(url: string, token: string, mix: Mix, expected: string[], connections: number, durationSec: number, start: number) {
  let counter = start;
  let mismatches = 0;
  const raw = new Map<number, string>();
  const result = await autocannon({
    url,
    method: 'POST',
    headers: headers(token),
    connections,
    duration: durationSec,
    timeout: 30,
    requests: [
      {
        setupRequest: (request, context) => {
          const k = counter++;
          const index = k % mix.variables.length;
          (context as { index?: number }).index = index;
          return { ...request, body: requestBody(mix, index, k) };
        },
        onResponse: (_status, body, context) => {
          const index = (context as { index: number }).index;
          if (raw.get(index) === body) return;
          if (canonical(body) === expected[index]) raw.set(index, body);
          else mismatches++;
        },
      },
    ],
  });
  return { result, mismatches, next: counter };
}

export async function runMixesBench(options: MixesOptions): Promise<{ tables: BenchTable[]; cells: MixCell[]; seedMs: number }> {
  let world: LcmBenchWorld | undefined;
  const cells: MixCell[] = [];
  try {
    world = await startLcmWorld({ sessions: options.sessions, definitions: 20, workers: 50, owners: Math.max(10, Math.round(options.sessions / 10)) });
    const mixes = buildMixes(world.output.fixture, options.baseRequests);
    const reference = await startLcmGateway(world, 'stock');
    let expected: string[][];
    try {
      expected = [];
      for (const mix of mixes) expected.push(await referenceAnswers(reference.url, world.adminToken, mix));
    } finally {
      await reference.proc.stop();
    }
    let counter = 0;
    for (const kind of options.gateways) {
      const gateway = await startLcmGateway(world, kind);
      try {
        for (const [m, mix] of mixes.entries()) {
          if (options.warmupSec > 0) {
            counter = (await load(gateway.url, world.adminToken, mix, expected[m]!, options.connections[0] ?? 10, options.warmupSec, counter)).next;
          }
          for (const connections of options.connections) {
            const run = await load(gateway.url, world.adminToken, mix, expected[m]!, connections, options.durationSec, counter);
            counter = run.next;
            const r = run.result;
            const cell: MixCell = {
              mix: mix.name,
              gateway: kind,
              connections,
              requests: r.requests.total,
              rps: r.requests.total / (r.duration || options.durationSec),
              p50Ms: r.latency.p50,
              p99Ms: r.latency.p99,
              errors: r.errors + r.non2xx + r.timeouts,
              mismatches: run.mismatches,
            };
            cells.push(cell);
            console.log(`  ${cell.mix} · ${kind} · ${connections} conns: ${cell.rps.toFixed(0)} RPS, p99 ${cell.p99Ms} ms, ${cell.errors} errors, ${cell.mismatches} mismatches`);
          }
        }
      } finally {
        await gateway.proc.stop();
      }
    }
    return { tables: [table(cells, mixes, options)], cells, seedMs: world.output.seedMs };
  } finally {
    await world?.close();
  }
}

function table(cells: MixCell[], mixes: Mix[], options: MixesOptions): BenchTable {
  const stock = (c: MixCell) => cells.find((s) => s.gateway === 'stock' && s.mix === c.mix && s.connections === c.connections);
  const rows = cells.map((c) => {
    const base = stock(c);
    return [c.mix, c.gateway, c.connections, c.rps, c.p99Ms, base ? ratio(c.rps, base.rps) : 'n/a', c.mismatches + c.errors];
  });
  const oursVsHive = options.connections.map((n) => {
    const per = mixes.map((m) => {
      const o = cells.find((c) => c.gateway === 'ours' && c.mix === m.name && c.connections === n);
      const h = cells.find((c) => c.gateway === 'hive' && c.mix === m.name && c.connections === n);
      return o && h ? `${m.name} ${ratio(o.rps, h.rps)}` : undefined;
    });
    return `${n} conns: ${per.filter(Boolean).join(', ')}`;
  });
  const medianP99 = percentile(cells.map((c) => c.p99Ms), 50);
  return {
    title: `Gateways on LCM's query mixes (${options.sessions} sessions seeded; ${options.durationSec} s per cell; every request distinct)`,
    columns: ['mix', 'gateway', 'conns', 'RPS', 'p99 ms', 'vs stock', 'mismatches'],
    rows,
    notes: [
      `Gateways: ${options.gateways.map((g) => `${g} = ${LCM_GATEWAYS[g]}`).join('; ')}.`,
      `Each mix cycles through ${options.baseRequests} distinct base requests (cursors, page sizes, filters, ids) plus a per-request counter variable; every answer is compared with stock's answer to the same base request (canonical JSON). "mismatches" counts wrong answers, errors, non-2xx and timeouts.`,
      `ours vs Hive (RPS): ${oursVsHive.join('; ')}. Median p99 over all cells: ${medianP99} ms.`,
    ],
  };
}
