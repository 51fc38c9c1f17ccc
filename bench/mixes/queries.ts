import { encodeCursor } from '../../core/persistence/document-store.ts';
import type { SeedFixture } from '../support/lcm-subgraphs.ts';

/**
 * LCM's own query mixes, written as a frontend would (docs/api.md): a sessions page with each
 * session's definition, worker, user session and score report; a worker page with the sessions on it;
 * score-report pages for reporting, with each report's session, definition and worker. Each mix is a
 * list of distinct base requests (variables differ: cursors, page sizes, filters, ids); the load
 * generator cycles through them and adds a request counter as an extra variable, so no two requests
 * are byte-identical and in-flight sharing cannot answer for the executor.
 */
export const SESSIONS_PAGE = `query SessionsPage($first: Int!, $after: String, $filter: SessionFilter) {
  sessions(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id
        status
        owner
        timeslotStart
        timeslotEnd
        createdAt
        updatedAt
        allocatedPorts { name port }
        definition { id name version resourceRequirements { cpuCores memoryGb nodeCount } }
        worker { id name status templateName }
        userSession { status loginUrl }
        scoreReport { id score maxScore passed }
      }
    }
  }
}`;

export const WORKER_WITH_SESSIONS = `query WorkerWithSessions($id: ID!, $statuses: [LabletSessionStatus!]) {
  worker(id: $id) {
    id
    name
    status
    templateName
    instanceType
    licenseType
    declaredCapacity { cpuCores memoryGb storageGb maxNodes }
    allocatedCapacity { cpuCores memoryGb storageGb maxNodes }
    sessions(statuses: $statuses) {
      id
      status
      owner
      timeslotEnd
      allocatedPorts { name port }
      definition { id name version }
      userSession { loginUrl }
    }
  }
}`;

export const SCORE_REPORTS_PAGE = `query ScoreReportsPage($first: Int!, $after: String, $filter: ScoreReportFilter) {
  scoreReports(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id
        score
        maxScore
        cutScore
        passed
        submittedAt
        sections { name score maxScore weight }
        session { id owner status definition { name version } worker { name } }
      }
    }
  }
}`;

export interface Mix {
  name: string;
  description: string;
  operationName: string;
  query: string;
  /** Distinct variable sets, cycled through by the load generator. */
  variables: Record<string, unknown>[];
}

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!;

/** The three mixes over a seeded graph; `size` base requests each (capped by what the graph offers). */
export function buildMixes(fixture: SeedFixture, size: number): Mix[] {
  const sessionCursors = fixture.sessionIds.map(encodeCursor);
  const reportCursors = fixture.reportIds.map(encodeCursor);
  const sessions: Record<string, unknown>[] = [];
  for (let i = 0; i < size; i++) {
    const first = pick([10, 20, 25, 50], i);
    // Mostly plain pages from some cursor; every fourth filtered by definition, every seventh by owner.
    const filter =
      i % 4 === 3
        ? { definitionId: pick(fixture.definitionIds, i) }
        : i % 7 === 6
          ? { owner: pick(fixture.owners, i), statuses: ['READY', 'RUNNING', 'ARCHIVED'] }
          : undefined;
    sessions.push({ first, after: i % 11 === 0 ? null : pick(sessionCursors, i * 13), ...(filter ? { filter } : {}) });
  }
  const statusSets: (string[] | null)[] = [
    null,
    ['READY', 'RUNNING'],
    ['SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING'],
    ['ARCHIVED'],
    ['PENDING', 'SCHEDULED'],
    ['RUNNING', 'ARCHIVED', 'TERMINATED'],
  ];
  const workers: Record<string, unknown>[] = [];
  const workerCombos = Math.min(size, fixture.workerIds.length * statusSets.length);
  for (let i = 0; i < workerCombos; i++) {
    workers.push({ id: pick(fixture.workerIds, i), statuses: statusSets[Math.floor(i / fixture.workerIds.length) % statusSets.length] });
  }
  const reports: Record<string, unknown>[] = [];
  for (let i = 0; i < size; i++) {
    const first = pick([20, 25, 50], i);
    const filter =
      i % 3 === 1 ? { passed: i % 2 === 0 } : i % 5 === 2 ? { definitionId: pick(fixture.definitionIds, i) } : undefined;
    reports.push({ first, after: i % 9 === 0 ? null : pick(reportCursors, i * 7), ...(filter ? { filter } : {}) });
  }
  return [
    { name: 'sessions page', description: 'sessions(first 10–50, after, filter) with definition, worker, user session, score report', operationName: 'SessionsPage', query: SESSIONS_PAGE, variables: sessions },
    { name: 'worker + sessions', description: 'worker(id) with its sessions (by statuses) and their definitions', operationName: 'WorkerWithSessions', query: WORKER_WITH_SESSIONS, variables: workers },
    { name: 'score-report page', description: 'scoreReports(first 20–50, after, filter) with session, definition, worker', operationName: 'ScoreReportsPage', query: SCORE_REPORTS_PAGE, variables: reports },
  ];
}

/** The HTTP body of base request `index` of a mix, made distinct by `counter` (an extra, unused variable). */
export function requestBody(mix: Mix, index: number, counter?: number): string {
  const variables = counter === undefined ? mix.variables[index]! : { ...mix.variables[index]!, benchRequest: counter };
  return JSON.stringify({ query: mix.query, operationName: mix.operationName, variables });
}
