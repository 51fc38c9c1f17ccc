/**
 * Two replicas of the whole system — gateway, subgraphs and the three controllers — on one etcd and one
 * MongoDB-compatible server (issue 8, "Done means": two replicas of each controller on one etcd never
 * double-place). Each controller leads in one replica and stands by in the other; sessions are booked
 * through both gateways; then every controller of the leading replica stops and the other replica takes
 * over. No session is placed twice, no port is held twice on a worker, no worker gets two instances.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { EnvSchema, parseConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logging.ts';
import { eventually } from '../support/eventually.ts';
import { data } from '../support/gateway-client.ts';
import { createDefinition, createSession, type Endpoints } from './fixtures.ts';

const ADMIN = 'controller-replicas-admin-token-0123456789';

interface SessionView {
  id: string;
  status: string;
  worker: { id: string } | null;
  allocatedPorts: Array<{ name: string; port: number }>;
  statusHistory: Array<{ to: string; actor: string | null }>;
}

interface WorkerView {
  id: string;
  status: string;
  ec2InstanceId: string | null;
  reservations: Array<{ sessionId: string; ports: Array<{ port: number }> }>;
}

describe('two replicas of every controller on one etcd', () => {
  let a: RunningSystem;
  let b: RunningSystem;
  let viaA: Endpoints;
  let viaB: Endpoints;

  beforeAll(async () => {
    const shared = {
      adminToken: ADMIN,
      gatewayPort: 0,
      logger: silentLogger,
      etcdEndpoints: [inject('etcdEndpoint')],
      etcdNamespace: `/t/controller-replicas-${process.pid}-${Date.now()}`,
      mongoUri: inject('mongoUri'),
      mongoDb: `controller_replicas_${process.pid}_${Date.now()}`,
      config: parseConfig(EnvSchema, { LCM_SCALE_UP_BATCH_MS: '100', LCM_CONTROLLER_RESYNC_SECONDS: '10' }),
    };
    a = await startSystem({ ...shared, ec2BootMs: 50, cmlBootMs: 50 });
    const sims = a.simulators;
    if (!sims) throw new Error('replica A runs the simulators');
    // B shares A's simulated outside world (one EC2 account, one LDS, one grading engine).
    b = await startSystem({
      ...shared,
      simulators: false,
      controllerOverrides: {
        ec2Endpoint: sims.ec2.url,
        ec2Credentials: { accessKeyId: 'b', secretAccessKey: 'b' },
        ldsUrl: sims.lds.url,
        gradingUrl: sims.grading.url,
        cmlScheme: 'http',
        cmlPort: sims.cmlPort,
      },
    });
    viaA = { publicUrl: `${a.gatewayUrl}/graphql`, internalUrl: `${a.gatewayUrl}/internal/graphql`, token: ADMIN };
    viaB = { publicUrl: `${b.gatewayUrl}/graphql`, internalUrl: `${b.gatewayUrl}/internal/graphql`, token: ADMIN };
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  const sessions = async (ids: string[]) =>
    Promise.all(
      ids.map(async (id) => {
        const d = await data<{ session: SessionView }>(
          viaA.publicUrl,
          ADMIN,
          `query($id: ID!) { session(id: $id) { id status worker { id } allocatedPorts { name port } statusHistory { to actor } } }`,
          { id },
        );
        return d.session;
      }),
    );
  const workers = async () =>
    (
      await data<{ workers: { edges: Array<{ node: WorkerView }> } }>(
        viaB.internalUrl,
        ADMIN,
        `{ workers(first: 200) { edges { node { id status ec2InstanceId reservations { sessionId ports { port } } } } } }`,
      )
    ).workers.edges.map((e) => e.node);
  const allReady = (ids: string[]) =>
    eventually(
      `${ids.length} sessions READY`,
      async () => {
        const all = await sessions(ids);
        const ended = all.find((s) => s.status === 'TERMINATED');
        if (ended) throw new Error(`session ${ended.id} was terminated`);
        return all.every((s) => s.status === 'READY') ? all : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );

  /** The guarantees: one placement per session, disjoint ports per worker, one instance per worker. */
  async function checkInvariants(all: SessionView[]): Promise<void> {
    for (const s of all) {
      expect(s.statusHistory.filter((t) => t.to === 'SCHEDULED'), `${s.id} placed once`).toHaveLength(1);
    }
    const ws = await workers();
    for (const w of ws) {
      const ports = w.reservations.flatMap((r) => r.ports.map((p) => p.port));
      expect(new Set(ports).size, `ports on ${w.id}`).toBe(ports.length);
      const holders = all.filter((s) => s.worker?.id === w.id).map((s) => s.id).sort();
      expect(w.reservations.map((r) => r.sessionId).sort(), `reservations on ${w.id}`).toEqual(expect.arrayContaining(holders));
    }
    for (const s of all) {
      const w = ws.find((x) => x.id === s.worker?.id);
      const held = w?.reservations.find((r) => r.sessionId === s.id)?.ports.map((p) => p.port);
      expect(held, `${s.id}'s ports on its worker`).toEqual(s.allocatedPorts.map((p) => p.port));
    }
    const ec2 = new EC2Client({ endpoint: a.simulators?.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    try {
      const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }] }));
      const instances = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
      const byWorker = new Map<string, number>();
      for (const i of instances) {
        const worker = i.Tags?.find((t) => t.Key === 'lcm:worker-id')?.Value ?? '?';
        byWorker.set(worker, (byWorker.get(worker) ?? 0) + 1);
      }
      for (const [worker, count] of byWorker) expect(count, `instances of worker ${worker}`).toBe(1);
      const live = ws.filter((w) => !['TERMINATED', 'FAILED'].includes(w.status));
      expect(instances).toHaveLength(live.length);
    } finally {
      ec2.destroy();
    }
  }

  it('books through both gateways; each controller leads once; failover to the other replica keeps every guarantee', { timeout: 180_000 }, async () => {
    const definitionId = await createDefinition(viaA, 'replicated-lab');
    const first: string[] = [];
    for (let i = 0; i < 12; i++) first.push(await createSession(i % 2 === 0 ? viaA : viaB, definitionId, `student-${i}`));
    await checkInvariants(await allReady(first));

    // Exactly one leader per controller across the two replicas.
    const leaders = [...a.controllers, ...b.controllers].filter((c) => c.role.controllers.some((x) => x.isLeader()));
    expect(leaders.map((c) => c.name).sort()).toEqual(['lablet-controller', 'resource-scheduler', 'worker-controller']);

    // Every controller of replica A stops (leaders or standbys alike); B's take over.
    for (const c of a.controllers) await c.stop();
    await eventually('replica B to lead every controller', () => b.controllers.every((c) => c.role.controllers.every((x) => x.isLeader())), { timeoutMs: 30_000 });
    const second: string[] = [];
    for (let i = 0; i < 8; i++) second.push(await createSession(i % 2 === 0 ? viaA : viaB, definitionId, `late-student-${i}`));
    const all = [...(await sessions(first)), ...(await allReady(second))];
    await checkInvariants(all);
    const placedBy = new Set(all.flatMap((s) => s.statusHistory.filter((t) => t.to === 'SCHEDULED').map((t) => t.actor)));
    expect(placedBy).toEqual(new Set(['controller:resource-scheduler']));
  });
});
