/**
 * Two replicas of the whole control plane on one MongoDB and one etcd (issue 4, "Done means"): a
 * mutation through replica A's gateway shows up as an etcd key, and as a subscription event (with
 * fields from other subgraphs) on replica B.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../core/logging.ts';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { subscribe, untilSubscribed, nudgeSession } from '../support/gateway-client.ts';
import { createDefinition, createSession, runningWorker, schedule, type Endpoints } from './fixtures.ts';

const ADMIN = 'etcd-e2e-admin-token-0123456789';

describe('replicas on etcd', () => {
  let a: RunningSystem;
  let b: RunningSystem;
  let etcd: Etcd3;

  beforeAll(async () => {
    const shared = {
      adminToken: ADMIN,
      gatewayPort: 0,
      simulators: false,
      controllers: false,
      logger: silentLogger,
      etcdEndpoints: [inject('etcdEndpoint')],
      mongoUri: inject('mongoUri'),
      mongoDb: `replicas_${process.pid}_${Date.now()}`,
    };
    a = await startSystem(shared);
    b = await startSystem(shared);
    etcd = new Etcd3({ hosts: inject('etcdEndpoint') });
  });
  afterAll(async () => {
    etcd?.close();
    await a?.stop();
    await b?.stop();
  });

  it('projects a change to etcd and delivers it to subscribers of another replica', async () => {
    const onA: Endpoints = { publicUrl: `${a.gatewayUrl}/graphql`, internalUrl: `${a.gatewayUrl}/internal/graphql`, token: ADMIN };
    const definitionId = await createDefinition(onA, 'replicated');
    const workerId = await runningWorker(onA, 'cml-replicated');
    const sessionId = await createSession(onA, definitionId);

    expect(JSON.parse((await etcd.get(`/lcm/sessions/${sessionId}/status`).string()) ?? '{}')).toMatchObject({ status: 'PENDING', revision: 1 });
    expect(JSON.parse((await etcd.get(`/lcm/workers/${workerId}/status`).string()) ?? '{}')).toMatchObject({ status: 'RUNNING' });

    const sub = subscribe<{ sessionUpdated: { id: string; status: string; definition: { name: string }; worker: { name: string } | null } }>(
      `${b.gatewayUrl.replace('http', 'ws')}/graphql`,
      ADMIN,
      `subscription($ids: [ID!]) { sessionUpdated(ids: $ids) { id status definition { name } worker { name } } }`,
      { ids: [sessionId] },
    );
    try {
      await untilSubscribed(sub, nudgeSession(onA.internalUrl, ADMIN, sessionId));
      await schedule(onA, sessionId, workerId);
      await expect
        .poll(() => sub.events.find((ev) => ev.data?.sessionUpdated.status === 'SCHEDULED')?.data?.sessionUpdated, { timeout: 15_000 })
        .toEqual({ id: sessionId, status: 'SCHEDULED', definition: { name: 'replicated' }, worker: { name: 'cml-replicated' } });
      expect(JSON.parse((await etcd.get(`/lcm/sessions/${sessionId}/status`).string()) ?? '{}')).toMatchObject({ status: 'SCHEDULED', workerId });
    } finally {
      await sub.close();
    }
  });
});
