/** Setting up a graph through the gateway: definitions, running workers, scheduled sessions, reports. */
import { LAB_YAML } from '../support/subgraph-harness.ts';
import { data } from '../support/gateway-client.ts';

export interface Endpoints {
  publicUrl: string;
  internalUrl: string;
  token: string;
}

export async function createDefinition(e: Endpoints, name: string, version = '1.0.0'): Promise<string> {
  const d = await data<{ createDefinition: { id: string } }>(
    e.publicUrl,
    e.token,
    `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`,
    {
      input: {
        name,
        version,
        labYaml: LAB_YAML,
        resourceRequirements: { cpuCores: 1, memoryGb: 1, storageGb: 1, nodeCount: 2 },
        portTemplate: [{ name: 'console', protocol: 'serial' }],
      },
    },
  );
  return d.createDefinition.id;
}

export async function createSession(e: Endpoints, definitionId: string, owner = 'student'): Promise<string> {
  const d = await data<{ createSession: { id: string } }>(
    e.publicUrl,
    e.token,
    `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`,
    { input: { definitionId, owner } },
  );
  return d.createSession.id;
}

/** A RUNNING worker from the `metal` template (room for many sessions). */
export async function runningWorker(e: Endpoints, name: string): Promise<string> {
  const w = await data<{ requestWorker: { id: string } }>(
    e.internalUrl,
    e.token,
    `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`,
    { input: { templateName: 'metal', name } },
  );
  const id = w.requestWorker.id;
  for (const to of ['PROVISIONING', 'RUNNING']) {
    await data(e.internalUrl, e.token, `mutation($id: ID!, $to: WorkerStatus!) { transitionWorker(id: $id, to: $to) { id } }`, { id, to });
  }
  return id;
}

/** Reserve on the worker, then schedule the session there (what the resource-scheduler does). */
export async function schedule(e: Endpoints, sessionId: string, workerId: string): Promise<void> {
  const r = await data<{ reserveCapacity: { ports: Array<{ name: string; port: number }> } }>(
    e.internalUrl,
    e.token,
    `mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { ports { name port } } }`,
    { input: { workerId, sessionId, capacity: { cpuCores: 1, memoryGb: 1, storageGb: 1, maxNodes: 2 }, portNames: ['console'] } },
  );
  await data(e.internalUrl, e.token, `mutation($input: ScheduleSessionInput!) { scheduleSession(input: $input) { id } }`, {
    input: { id: sessionId, workerId, allocatedPorts: r.reserveCapacity.ports },
  });
}

/** Walk a SCHEDULED session to GRADING as the controllers and the student would, then publish its report. */
export async function publishReport(e: Endpoints, sessionId: string, definitionId: string, score: number): Promise<void> {
  const move = (endpoint: string, mutation: 'advanceSession' | 'transitionSession', to: string) =>
    data(endpoint, e.token, `mutation($id: ID!, $to: LabletSessionStatus!) { ${mutation}(id: $id, to: $to) { id } }`, { id: sessionId, to });
  await move(e.internalUrl, 'advanceSession', 'INSTANTIATING');
  await move(e.internalUrl, 'advanceSession', 'READY');
  await move(e.publicUrl, 'transitionSession', 'RUNNING');
  await move(e.publicUrl, 'transitionSession', 'COLLECTING');
  await move(e.internalUrl, 'advanceSession', 'GRADING');
  await data(e.internalUrl, e.token, `mutation($input: PublishScoreReportInput!) { publishScoreReport(input: $input) { id } }`, {
    input: {
      sessionId,
      definitionId,
      owner: 'student',
      score,
      maxScore: 100,
      cutScore: 70,
      sections: [{ name: 'routing', score, maxScore: 100 }],
    },
  });
}

export async function transition(e: Endpoints, sessionId: string, to: string): Promise<void> {
  await data(e.publicUrl, e.token, `mutation($id: ID!, $to: LabletSessionStatus!) { transitionSession(id: $id, to: $to) { id } }`, {
    id: sessionId,
    to,
  });
}

/** A controller's move (internal `advanceSession`), e.g. SCHEDULED → INSTANTIATING → READY. */
export async function advance(e: Endpoints, sessionId: string, to: string): Promise<void> {
  await data(e.internalUrl, e.token, `mutation($id: ID!, $to: LabletSessionStatus!) { advanceSession(id: $id, to: $to) { id } }`, {
    id: sessionId,
    to,
  });
}
