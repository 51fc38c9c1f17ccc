/**
 * Database round trips per query vs N: the whole system in this process (cli/system.ts, embedded
 * storage, no simulators, no controllers), N sessions seeded through the gateway — each SCHEDULED on
 * one worker of its own N, walked to GRADING and given a score report — then LCM's session-graph
 * queries through the public gateway, counted at the storage port (`Storage.roundTrips()`, which
 * every document store adapter counts: one per call that reaches the database).
 */
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { createLogger, silentLogger } from '../../core/logging.ts';
import { data } from '../../test/support/gateway-client.ts';
import { LAB_YAML } from '../../test/support/subgraph-harness.ts';
import { pool } from './pool.ts';

const ADMIN = 'footprint-bench-admin-token-0123456789';
/** Sessions per page: the API's maximum `first`. */
export const PAGE = 500;

interface Endpoints {
  publicUrl: string;
  internalUrl: string;
}

/** The queries measured: what a dashboard, an operator and a grader ask (docs/api.md). */
export const QUERIES = {
  sessionsPage: {
    label: 'sessions page with definition, worker, scoreReport',
    text: `query($owner: String!, $first: Int, $after: String) { sessions(first: $first, after: $after, filter: { owner: $owner }) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { id status owner definition { name version } worker { name status } scoreReport { score passed } } } } }`,
  },
  workerSessions: {
    label: 'a worker with its sessions (definition, scoreReport)',
    text: `query($id: ID!) { worker(id: $id) { name status sessions { id status definition { name version } scoreReport { score passed } } } }`,
  },
  scoreReportsPage: {
    label: 'score-report page with session, definition, worker',
    text: `query($owner: String!, $first: Int, $after: String) { scoreReports(first: $first, after: $after, filter: { owner: $owner }) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { score maxScore cutScore passed sections { name score maxScore weight } session { id status definition { name version } worker { name } } } } } }`,
  },
} as const;
export type QueryName = keyof typeof QUERIES;

/** Tiny reservations, so that one `metal` worker (200 nodes, 48 cores) holds all N sessions. */
const RESERVATION = { cpuCores: 0.04, memoryGb: 0.1, storageGb: 0, maxNodes: 0 };

async function seed(e: Endpoints, n: number, concurrency: number): Promise<{ owner: string; workerId: string }> {
  const owner = `footprint-${n}`;
  const definition = await data<{ createDefinition: { id: string } }>(e.publicUrl, ADMIN, `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`, {
    input: { name: `footprint-${n}`, version: '1.0.0', labYaml: LAB_YAML, resourceRequirements: { cpuCores: 0.04, memoryGb: 0.1, storageGb: 0, nodeCount: 2 }, portTemplate: [{ name: 'console', protocol: 'serial' }] },
  });
  const definitionId = definition.createDefinition.id;
  const w = await data<{ requestWorker: { id: string } }>(e.internalUrl, ADMIN, `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`, {
    input: { templateName: 'metal', name: `cml-footprint-${n}` },
  });
  const workerId = w.requestWorker.id;
  for (const to of ['PROVISIONING', 'RUNNING']) {
    await data(e.internalUrl, ADMIN, `mutation($id: ID!, $to: WorkerStatus!) { transitionWorker(id: $id, to: $to) { id } }`, { id: workerId, to });
  }
  const move = (endpoint: string, mutation: 'advanceSession' | 'transitionSession', id: string, to: string) =>
    data(endpoint, ADMIN, `mutation($id: ID!, $to: LabletSessionStatus!) { ${mutation}(id: $id, to: $to) { id } }`, { id, to });
  let reservations: Promise<unknown> = Promise.resolve();
  await pool(n, concurrency, (i) => seedOne(i).catch((error: unknown) => {
    throw new Error(`seeding session ${i} of N=${n}: ${error instanceof Error ? error.message : String(error)}`);
  }));
  return { owner, workerId };

  async function seedOne(i: number): Promise<void> {
    const s = await data<{ createSession: { id: string } }>(e.publicUrl, ADMIN, `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, { input: { definitionId, owner } });
    const id = s.createSession.id;
    // What the resource-scheduler does: reserve on the worker, then schedule there. Reservations on
    // one worker are one at a time (each is a conditional write of the worker: concurrent ones conflict).
    const reserve = () =>
      data<{ reserveCapacity: { ports: Array<{ name: string; port: number }> } }>(
        e.internalUrl,
        ADMIN,
        `mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { ports { name port } } }`,
        { input: { workerId, sessionId: id, capacity: RESERVATION, portNames: ['console'] } },
      );
    const reserved = reservations.then(reserve);
    reservations = reserved.then(() => undefined, () => undefined);
    const r = await reserved;
    await data(e.internalUrl, ADMIN, `mutation($input: ScheduleSessionInput!) { scheduleSession(input: $input) { id } }`, { input: { id, workerId, allocatedPorts: r.reserveCapacity.ports } });
    await move(e.internalUrl, 'advanceSession', id, 'INSTANTIATING');
    await move(e.internalUrl, 'advanceSession', id, 'READY');
    await move(e.publicUrl, 'transitionSession', id, 'RUNNING');
    await move(e.publicUrl, 'transitionSession', id, 'COLLECTING');
    await move(e.internalUrl, 'advanceSession', id, 'GRADING');
    const score = 40 + (i % 60);
    await data(e.internalUrl, ADMIN, `mutation($input: PublishScoreReportInput!) { publishScoreReport(input: $input) { id } }`, {
      input: { sessionId: id, definitionId, owner, score, maxScore: 100, cutScore: 70, sections: [{ name: 'routing', score, maxScore: 100 }] },
    });
  }
}

export interface TripCount {
  /** Round trips of each request (one per page for the paged queries). */
  perRequest: number[];
  /** Items the query returned in all (checks every seeded session came back). */
  items: number;
}

type Connection = { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: unknown[] };

async function count(system: RunningSystem, e: Endpoints, query: QueryName, seeded: { owner: string; workerId: string }): Promise<TripCount> {
  const storage = system.deps.storage;
  const perRequest: number[] = [];
  let items = 0;
  if (query === 'workerSessions') {
    const before = storage.roundTrips();
    const d = await data<{ worker: { sessions: Array<{ scoreReport: { score: number } | null; definition: { name: string } }> } }>(e.publicUrl, ADMIN, QUERIES.workerSessions.text, { id: seeded.workerId });
    perRequest.push(storage.roundTrips() - before);
    if (d.worker.sessions.some((s) => !s.scoreReport || !s.definition.name)) throw new Error('a session came back without its report or definition');
    return { perRequest, items: d.worker.sessions.length };
  }
  let after: string | null = null;
  for (;;) {
    const before = storage.roundTrips();
    const d: Record<string, Connection> = await data<Record<string, Connection>>(e.publicUrl, ADMIN, QUERIES[query].text, { owner: seeded.owner, first: PAGE, after });
    perRequest.push(storage.roundTrips() - before);
    const page = (query === 'sessionsPage' ? d.sessions : d.scoreReports) as Connection;
    items += page.edges.length;
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  return { perRequest, items };
}

export interface RoundTripResult {
  n: number;
  seedMs: number;
  trips: Record<QueryName, TripCount>;
}

export async function measureRoundTrips(sizes: readonly number[], concurrency: number): Promise<RoundTripResult[]> {
  const system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, simulators: false, controllers: false, logger: process.env.LCM_BENCH_LOG ? createLogger('footprint', process.env.LCM_BENCH_LOG) : silentLogger });
  try {
    const e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql` };
    const results: RoundTripResult[] = [];
    for (const n of sizes) {
      const t0 = performance.now();
      const seeded = await seed(e, n, concurrency);
      const seedMs = performance.now() - t0;
      const trips = {} as Record<QueryName, TripCount>;
      for (const q of Object.keys(QUERIES) as QueryName[]) {
        await count(system, e, q, seeded); // warm: the first run of a query text plans it
        trips[q] = await count(system, e, q, seeded);
        if (trips[q].items !== n) throw new Error(`${q} returned ${trips[q].items} items for N=${n}`);
      }
      results.push({ n, seedMs, trips });
    }
    return results;
  } finally {
    await system.stop();
  }
}
