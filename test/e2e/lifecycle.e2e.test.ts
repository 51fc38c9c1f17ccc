/**
 * LCM doing its job end to end (issue 8, "Done means"), on the embedded default and on etcd + the
 * MongoDB-compatible server: from zero workers, a session created through the public API is placed on
 * a worker that the worker-controller provisions in the EC2 simulator, booted on its CML server, handed
 * to the student through LDS (READY with a login URL); the student's start and finish (manual
 * transitions, or LDS events) lead to grading, a published ScoreReport and ARCHIVED; the worker's
 * allocated capacity returns to zero and it is scaled down after the idle threshold.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { EnvSchema, parseConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logging.ts';
import { eventually } from '../support/eventually.ts';
import { data } from '../support/gateway-client.ts';
import { createDefinition, createSession, transition, type Endpoints } from './fixtures.ts';

const ADMIN = 'lifecycle-admin-token-0123456789abcdef';

interface SessionView {
  id: string;
  status: string;
  worker: { id: string; name: string } | null;
  allocatedPorts: Array<{ name: string; port: number }>;
  cmlLabId: string | null;
  userSession: { status: string; loginUrl: string | null } | null;
  gradingSession: { status: string } | null;
  scoreReport: { score: number; maxScore: number; passed: boolean | null; sections: Array<{ name: string; score: number }> } | null;
  statusHistory: Array<{ from: string | null; to: string; actor: string | null; reason: string | null }>;
}

const SESSION = `query($id: ID!) { session(id: $id) { id status worker { id name } allocatedPorts { name port } cmlLabId
  userSession { status loginUrl } gradingSession { status }
  scoreReport { score maxScore passed sections { name score } }
  statusHistory { from to actor reason } } }`;

interface WorkerView {
  id: string;
  status: string;
  ec2InstanceId: string | null;
  allocatedCapacity: { cpuCores: number; memoryGb: number; storageGb: number; maxNodes: number };
}

const WORKERS = `{ workers(first: 100) { edges { node { id status ec2InstanceId allocatedCapacity { cpuCores memoryGb storageGb maxNodes } } } } }`;

for (const backend of ['embedded', 'etcd+mongodb'] as const) {
  describe(`a session's whole life (${backend})`, () => {
    let system: RunningSystem;
    let e: Endpoints;

    beforeAll(async () => {
      system = await startSystem({
        gatewayPort: 0,
        adminToken: ADMIN,
        logger: silentLogger,
        ec2BootMs: 50,
        cmlBootMs: 50,
        config: parseConfig(EnvSchema, {
          LCM_SCALE_DOWN_IDLE_SECONDS: '2',
          LCM_SCALE_DOWN_COOLDOWN_SECONDS: '0',
          LCM_SCALE_UP_BATCH_MS: '50',
          LCM_CONTROLLER_RESYNC_SECONDS: '10',
        }),
        ...(backend === 'etcd+mongodb'
          ? { etcdEndpoints: [inject('etcdEndpoint')], etcdNamespace: `/t/lifecycle-${process.pid}-${Date.now()}`, mongoUri: inject('mongoUri'), mongoDb: `lifecycle_${process.pid}_${Date.now()}` }
          : {}),
      });
      e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    });
    afterAll(() => system?.stop());

    const session = async (id: string) => (await data<{ session: SessionView }>(e.publicUrl, ADMIN, SESSION, { id })).session;
    const untilStatus = (id: string, status: string, timeoutMs = 30_000) =>
      eventually(`session ${id} to reach ${status}`, async () => {
        const s = await session(id);
        if (s.status === 'TERMINATED' && status !== 'TERMINATED') throw new Error(`terminated: ${s.statusHistory.at(-1)?.reason}`);
        return s.status === status ? s : undefined;
      }, { timeoutMs, intervalMs: 50 });
    const workers = async () => (await data<{ workers: { edges: Array<{ node: WorkerView }> } }>(e.publicUrl, ADMIN, WORKERS)).workers.edges.map((x) => x.node);

    it('scales up from zero, boots the lab, grades it and archives it, then scales the idle worker down', { timeout: 120_000 }, async () => {
      expect(await workers()).toEqual([]);
      const definitionId = await createDefinition(e, `lifecycle-${backend}`);
      const id = await createSession(e, definitionId, 'student-1');

      const ready = await untilStatus(id, 'READY');
      expect(ready.worker).not.toBeNull();
      expect(ready.cmlLabId).toBeTruthy();
      expect(ready.allocatedPorts).toEqual([{ name: 'console', port: expect.any(Number) as number }]);
      expect(ready.userSession?.loginUrl).toMatch(/^https?:\/\//);
      expect(ready.statusHistory.map((t) => t.to)).toEqual(['PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY']);

      // The worker is a real instance in the EC2 simulator, seen through the AWS SDK.
      const [worker] = await workers();
      expect(worker).toMatchObject({ id: ready.worker?.id, status: 'RUNNING' });
      const ec2 = new EC2Client({ endpoint: system.simulators?.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [worker?.ec2InstanceId as string] }));
      expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('running');

      await transition(e, id, 'RUNNING');
      await transition(e, id, 'COLLECTING');
      const archived = await untilStatus(id, 'ARCHIVED');
      expect(archived.statusHistory.map((t) => t.to)).toEqual([
        'PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'ARCHIVED',
      ]);
      expect(archived.scoreReport).not.toBeNull();
      expect(archived.scoreReport?.sections.length).toBeGreaterThan(0);
      expect(archived.scoreReport?.score).toBe(archived.scoreReport?.sections.reduce((sum, s) => sum + s.score, 0));
      expect(archived.gradingSession?.status).toBe('SUBMITTED');

      // Nothing leaked: the worker holds nothing, and scales down once idle past the threshold.
      await eventually('the worker to hold no capacity', async () => {
        const w = (await workers()).find((x) => x.id === worker?.id);
        return w && w.allocatedCapacity.cpuCores === 0 && w.allocatedCapacity.maxNodes === 0 ? w : undefined;
      });
      await eventually('the idle worker to be scaled down', async () => {
        const w = (await workers()).find((x) => x.id === worker?.id);
        return w && ['TERMINATED', 'STOPPED'].includes(w.status) ? w : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      ec2.destroy();
    });

    it('follows the student through LDS events: started → RUNNING, finished → COLLECTING → … → ARCHIVED', { timeout: 120_000 }, async () => {
      const definitionId = await createDefinition(e, `lifecycle-lds-${backend}`);
      const id = await createSession(e, definitionId, 'student-2');
      await untilStatus(id, 'READY');
      const lds = system.simulators?.lds.url as string;
      const listed = (await (await fetch(`${lds}/sessions?labletSessionId=${id}`)).json()) as { sessions: Array<{ id: string }> };
      const ldsId = listed.sessions[0]?.id as string;
      expect(ldsId).toBeTruthy();
      expect((await fetch(`${lds}/_sim/sessions/${ldsId}/start`, { method: 'POST' })).status).toBe(200);
      await untilStatus(id, 'RUNNING');
      expect((await fetch(`${lds}/_sim/sessions/${ldsId}/finish`, { method: 'POST' })).status).toBe(200);
      const archived = await untilStatus(id, 'ARCHIVED');
      const running = archived.statusHistory.find((t) => t.to === 'RUNNING');
      const collecting = archived.statusHistory.find((t) => t.to === 'COLLECTING');
      expect(running?.actor).toBe('controller:lablet-controller');
      expect(collecting?.actor).toBe('controller:lablet-controller');
      expect(archived.scoreReport?.sections.length).toBeGreaterThan(0);
    });
  });
}
