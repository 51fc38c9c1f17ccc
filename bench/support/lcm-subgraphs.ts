import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { ALL_SCOPES, IdentitySigner, forwardedIdentityHeaders, type Identity } from '../../core/auth/identity.ts';
import { MemoryCoordinationStore } from '../../core/adapters/memory/memory-coordination.ts';
import { MemoryEventBus } from '../../core/adapters/memory/memory-event-bus.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import { silentLogger } from '../../core/logging.ts';
import { MemoryStorage } from '../../core/persistence/memory-document-store.ts';
import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import { stripInternal } from '../../schema/contract.ts';
import { SUBGRAPH_NAMES, subgraphSdl, type SubgraphName } from '../../schema/subgraphs.ts';
import { startDefinitionsSubgraph } from '../../subgraphs/definitions/server.ts';
import { startScoreReportsSubgraph } from '../../subgraphs/score-reports/server.ts';
import { startSessionsSubgraph } from '../../subgraphs/sessions/server.ts';
import { startWorkersSubgraph } from '../../subgraphs/workers/server.ts';
import type { LabletSessionStatus } from '../../core/domain/enums.ts';
import { newId } from '../../core/ids.ts';
import { createScoreReport } from '../../subgraphs/score-reports/domain/score-report.ts';
import { ScoreReportRepository } from '../../subgraphs/score-reports/infrastructure/score-report-repository.ts';
import { createSession, scheduleSession, transitionSession, upsertUserSession } from '../../subgraphs/sessions/domain/session.ts';
import { SessionRepository } from '../../subgraphs/sessions/infrastructure/session-repository.ts';

/**
 * LCM's four subgraphs for the benchmarks: in one process, on the embedded stores (as `lcm up`), with a
 * given internal secret so gateways in other processes can sign identities for them, and the public
 * supergraph composed from `schema/` with their real routing URLs. `seed` fills them with a
 * realistic graph (see there).
 */
export interface LcmSubgraphs {
  urls: Record<SubgraphName, string>;
  /** The public contract supergraph (what `/graphql` serves), routed to these subgraphs. */
  publicSupergraphSdl: string;
  /** One GraphQL call to a subgraph with a signed internal identity (seeding, the event driver). */
  /** The storage the subgraphs serve from (seeding through their repositories). */
  storage: MemoryStorage;
  call<T = Record<string, unknown>>(subgraph: SubgraphName, query: string, variables?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

const STARTERS: Record<SubgraphName, (d: SubgraphDeps, o: { port: number; host: string }) => Promise<SubgraphServer>> = {
  definitions: startDefinitionsSubgraph,
  workers: startWorkersSubgraph,
  sessions: startSessionsSubgraph,
  'score-reports': startScoreReportsSubgraph,
};

/** The identity seeding and the event driver use: a controller's. */
const SEEDER: Identity = { subject: 'bench-seeder', kind: 'service', scopes: ALL_SCOPES };

export async function startLcmSubgraphs(secret: string): Promise<LcmSubgraphs> {
  const signer = new IdentitySigner(secret);
  const storage = new MemoryStorage();
  const coordination = new MemoryCoordinationStore({ logger: silentLogger });
  const bus = new MemoryEventBus();
  const deps: SubgraphDeps = { storage, bus, coordination, signer, logger: silentLogger, clock: () => new Date() };
  const servers: SubgraphServer[] = [];
  const close = async () => {
    for (const s of servers.reverse()) await s.close().catch(() => undefined);
    await bus.close();
    await coordination.close();
    await storage.close();
  };
  try {
    const urls = {} as Record<SubgraphName, string>;
    for (const name of SUBGRAPH_NAMES) {
      const server = await STARTERS[name](deps, { port: 0, host: '127.0.0.1' });
      servers.push(server);
      urls[name] = server.graphqlUrl;
    }
    const composed = composeServices(
      SUBGRAPH_NAMES.map((name) => ({ name, url: urls[name], typeDefs: parse(stripInternal(subgraphSdl(name))) })),
    );
    if (composed.errors) throw new Error(`composition failed: ${composed.errors.map((e) => e.message).join('; ')}`);
    const call = async <T,>(subgraph: SubgraphName, query: string, variables: Record<string, unknown> = {}): Promise<T> => {
      const body = JSON.stringify({ query, variables });
      const response = await fetch(urls[subgraph], {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(await forwardedIdentityHeaders(signer, SEEDER, body)) },
        body,
      });
      const json = (await response.json()) as { data?: T; errors?: Array<{ message: string }> };
      if (json.errors?.length || !json.data) {
        throw new Error(`${subgraph}: ${json.errors?.map((e) => e.message).join('; ') ?? `HTTP ${response.status}`}`);
      }
      return json.data;
    };
    return { urls, publicSupergraphSdl: composed.supergraphSdl, storage, call, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** What the seed produced, for the benchmarks' request generators. */
export interface SeedFixture {
  definitionIds: string[];
  workerIds: string[];
  sessionIds: string[];
  owners: string[];
  /** Sessions that have a score report. */
  reportedSessionIds: string[];
  reportIds: string[];
}

export interface SeedOptions {
  sessions: number;
  definitions: number;
  workers: number;
  owners: number;
}

const LAB_YAML = 'lab: {version: 0.2.2}\nnodes:\n  - {id: n0, label: r1, node_definition: iosv, x: 0, y: 0}\nlinks: []\n';

/** Where session i ends up: a spread over the lifecycle, about half ARCHIVED with a score report. */
const PATHS: readonly (readonly string[])[] = [
  [],
  ['INSTANTIATING', 'READY'],
  ['INSTANTIATING', 'READY', 'RUNNING'],
  ['INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'ARCHIVED'],
  ['INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'ARCHIVED'],
  ['INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'ARCHIVED'],
];

/**
 * Definitions and workers through the subgraphs' mutations; sessions spread over them: created
 * PENDING, placed on a worker, moved along the lifecycle, and for those that pass GRADING a score
 * report with sections. Deterministic apart from ids.
 */
export async function seed(subgraphs: LcmSubgraphs, options: SeedOptions): Promise<SeedFixture> {
  const definitionIds: string[] = [];
  for (let d = 0; d < options.definitions; d++) {
    const data = await subgraphs.call<{ createDefinition: { id: string } }>(
      'definitions',
      `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`,
      {
        input: {
          name: `bench-lab-${d}`,
          version: `1.${d % 4}.0`,
          labYaml: LAB_YAML,
          resourceRequirements: { cpuCores: 1 + (d % 3), memoryGb: 2 + (d % 4), storageGb: 10, nodeCount: 1 + (d % 5) },
          portTemplate: [
            { name: 'r1-console', protocol: 'serial' },
            { name: 'r1-vnc', protocol: 'vnc' },
          ],
        },
      },
    );
    definitionIds.push(data.createDefinition.id);
  }
  const workerIds: string[] = [];
  for (let w = 0; w < options.workers; w++) {
    const data = await subgraphs.call<{ requestWorker: { id: string } }>(
      'workers',
      `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`,
      { input: { templateName: ['small', 'medium'][w % 2], name: `bench-worker-${w}`, requestKey: `bench-${w}` } },
    );
    workerIds.push(data.requestWorker.id);
  }
  const owners = Array.from({ length: options.owners }, (_, i) => `student-${i}`);
  // Sessions and score reports are many: built by the aggregates' own domain functions (the same
  // validation and transition table as the command handlers) and written through the subgraphs'
  // repositories into the storage they serve from, without one HTTP round trip per step.
  const sessions = new SessionRepository(subgraphs.storage);
  const reports = new ScoreReportRepository(subgraphs.storage);
  const sessionIds: string[] = [];
  const reportedSessionIds: string[] = [];
  const reportIds: string[] = [];
  const base = Date.now() - options.sessions * 60_000;
  for (let i = 0; i < options.sessions; i++) {
    const at = (step: number) => ({ actor: step === 0 ? 'user:bench' : 'controller:bench', now: new Date(base + i * 60_000 + step * 1000) });
    const definitionId = definitionIds[i % definitionIds.length]!;
    const owner = owners[i % owners.length]!;
    const definition = { id: definitionId, name: '', version: '1.0.0', status: 'ACTIVE', revision: 1 } as const;
    let session = createSession({ definitionId, owner }, definition, newId('ses', base + i * 60_000), at(0));
    const path = i % 10 === 9 ? [] : PATHS[i % PATHS.length]!;
    if (i % 10 !== 9) {
      session = scheduleSession(
        session,
        {
          workerId: workerIds[(i * 7) % workerIds.length]!,
          allocatedPorts: [
            { name: 'r1-console', port: 2000 + ((i * 2) % 7000) },
            { name: 'r1-vnc', port: 2001 + ((i * 2) % 7000) },
          ],
        },
        at(1),
      );
    }
    let step = 2;
    for (const to of path) {
      const ctx = at(step++);
      if (to === 'READY') {
        session = upsertUserSession(session, { status: 'PROVISIONED', loginUrl: `https://lds.example/login/${i}`, externalId: `lds-${i}` }, newId('usr', ctx.now.getTime()), ctx);
      }
      session = transitionSession(session, to as LabletSessionStatus, null, ctx);
      if (to === 'GRADING') {
        const a = (i * 37) % 41;
        const b = (i * 53) % 31;
        const c = (i * 11) % 31;
        const report = createScoreReport(
          {
            sessionId: session.id,
            definitionId,
            owner,
            score: a + b + c,
            maxScore: 100,
            cutScore: 60,
            sections: [
              { name: 'routing', score: a, maxScore: 40, weight: 0.4 },
              { name: 'switching', score: b, maxScore: 30, weight: 0.3 },
              { name: 'security', score: c, maxScore: 30, weight: 0.3 },
            ],
            submittedAt: ctx.now,
          },
          newId('rpt', ctx.now.getTime()),
          ctx.now,
        );
        await reports.insert(report);
        reportedSessionIds.push(session.id);
        reportIds.push(report.id);
      }
    }
    await sessions.insert(session);
    sessionIds.push(session.id);
  }
  return {
    definitionIds,
    workerIds,
    sessionIds,
    owners,
    reportedSessionIds,
    reportIds,
  };
}
