/**
 * The controllers' typed GraphQL client against the real internal endpoint: the operations generated
 * from core/graphql/operations run as a scheduler would run them, and a subscription sees the result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { Scope } from '../../core/auth/identity.ts';
import { GraphQLClient, GraphQLRequestError } from '../../core/graphql/client.ts';
import {
  GetSessionDocument,
  ListSessionsDocument,
  OnSessionUpdatedDocument,
  RecordPipelineProgressDocument,
  RequestWorkerDocument,
  ReserveCapacityDocument,
  ScheduleSessionDocument,
  TransitionSessionDocument,
  TransitionWorkerDocument,
} from '../support/__generated__/operations.ts';
import { silentLogger } from '../../core/logging.ts';
import { createDefinition, createSession } from './fixtures.ts';

const ADMIN = 'typed-client-admin-token-0123456789';

describe('typed GraphQL client on /internal/graphql', () => {
  let system: RunningSystem;
  let client: GraphQLClient;

  beforeAll(async () => {
    system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, simulators: false, controllers: false, logger: silentLogger });
    const { key } = await system.gateway.apiKeys.create('resource-scheduler', [Scope.INTERNAL]);
    client = new GraphQLClient({ url: `${system.gatewayUrl}/internal/graphql`, token: key });
  });
  afterAll(async () => {
    await client?.close();
    await system?.stop();
  });

  it('places a pending session the way the resource-scheduler will, and sees it in a subscription', async () => {
    const e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    const sessionId = await createSession(e, await createDefinition(e, 'typed'));

    const seen: string[] = [];
    const stop = client.subscribe(OnSessionUpdatedDocument, { ids: [sessionId] }, { onData: (d) => seen.push(d.sessionUpdated.status) });
    try {
      const pending = await client.request(ListSessionsDocument, { filter: { statuses: ['PENDING'] } });
      const session = pending.sessions.edges.map((edge) => edge.node).find((n) => n.id === sessionId);
      expect(session?.definition.resourceRequirements.nodeCount).toBe(2);
      expect(session?.definition.portTemplate.map((p) => p.name)).toEqual(['console']);

      const { requestWorker } = await client.request(RequestWorkerDocument, { input: { templateName: 'large', requestKey: `for-${sessionId}` } });
      expect(requestWorker.status).toBe('PENDING');
      await client.request(TransitionWorkerDocument, { id: requestWorker.id, to: 'PROVISIONING' });
      await client.request(TransitionWorkerDocument, { id: requestWorker.id, to: 'RUNNING' });

      const req = session!.definition.resourceRequirements;
      const { reserveCapacity } = await client.request(ReserveCapacityDocument, {
        input: {
          workerId: requestWorker.id,
          sessionId,
          capacity: { cpuCores: req.cpuCores, memoryGb: req.memoryGb, storageGb: req.storageGb, maxNodes: req.nodeCount },
          portNames: session!.definition.portTemplate.map((p) => p.name),
        },
      });
      expect(reserveCapacity.ports).toEqual([{ name: 'console', port: 2000 }]);
      // graphql-ws has no "subscribed" acknowledgement: nudge the session until an event arrives.
      await expect
        .poll(
          async () => {
            await client.request(RecordPipelineProgressDocument, { id: sessionId, pipeline: 'probe', progress: { n: 1 } });
            return seen.length;
          },
          { timeout: 10_000, interval: 100 },
        )
        .toBeGreaterThan(0);
      const scheduled = await client.request(ScheduleSessionDocument, {
        input: { id: sessionId, workerId: requestWorker.id, allocatedPorts: reserveCapacity.ports },
      });
      expect(scheduled.scheduleSession).toMatchObject({ status: 'SCHEDULED', worker: { id: requestWorker.id } });
      const { session: after } = await client.request(GetSessionDocument, { id: sessionId });
      expect(after?.worker?.name).toMatch(/^cml-large-/);
      await expect.poll(() => seen, { timeout: 10_000 }).toContain('SCHEDULED');

      const invalid = await client.request(TransitionSessionDocument, { id: sessionId, to: 'ARCHIVED' }).catch((err: unknown) => err);
      expect(invalid).toBeInstanceOf(GraphQLRequestError);
      expect((invalid as GraphQLRequestError).code).toBe('INVALID_TRANSITION');
    } finally {
      stop();
    }
  });
});
