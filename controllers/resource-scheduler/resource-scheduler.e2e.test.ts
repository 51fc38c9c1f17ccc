/**
 * The resource-scheduler against a running system (gateway, subgraphs, simulators; no other
 * controller): placement, scale-up, the sweep, interrupted binds, and two replicas on one store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../test/support/controller-harness.ts';
import { eventually } from '../../test/support/eventually.ts';
import { data, gql } from '../../test/support/gateway-client.ts';
import { LAB_YAML } from '../../test/support/subgraph-harness.ts';
import { createDefinition, createSession, runningWorker, schedule, type Endpoints } from '../../test/e2e/fixtures.ts';
import { createLogger } from '../../core/logging.ts';
import { startController, type RunningController } from '../kit/role.ts';
import { createResourceScheduler } from './index.ts';

interface SessionView {
  id: string;
  status: string;
  worker: { id: string } | null;
  allocatedPorts: Array<{ name: string; port: number }>;
}
interface WorkerView {
  id: string;
  status: string;
  templateName: string;
  reservations: Array<{ sessionId: string; ports: Array<{ name: string; port: number }> }>;
}

const q = (e: Endpoints) => ({
  session: async (id: string) =>
    (await data<{ session: SessionView }>(e.internalUrl, e.token, `query($id: ID!) { session(id: $id) { id status worker { id } allocatedPorts { name port } } }`, { id })).session,
  workers: async () =>
    (
      await data<{ workers: { edges: Array<{ node: WorkerView }> } }>(
        e.internalUrl,
        e.token,
        `query($first: Int) { workers(first: $first) { edges { node { id status templateName reservations { sessionId ports { name port } } } } } }`,
        { first: 500 },
      )
    ).workers.edges.map((x) => x.node),
  mutate: (query: string, variables: Record<string, unknown>) => data(e.internalUrl, e.token, query, variables),
});

const GRACE_MS = 300;
/** How long an ended session's reservation waits for a teardown here (no lablet-controller runs). */
const TEARDOWN_GRACE_MS = 1_500;

/** A RUNNING worker whose CML facts are observed (what the worker-controller reports). */
async function observedWorker(e: Endpoints, name: string): Promise<string> {
  const id = await runningWorker(e, name);
  await observe(e, id);
  return id;
}
const observe = (e: Endpoints, id: string) =>
  data(e.internalUrl, e.token, `mutation($id: ID!) { recordWorkerObservation(id: $id, input: { cmlVersion: "2.9.1+build.7", nodeDefinitions: ["iosv", "alpine"] }) { id } }`, { id });
const scheduler = (h: Harness, name = 'resource-scheduler') =>
  h.deps(name).then((deps) =>
    startController('resource-scheduler', createResourceScheduler({ bindGraceMs: GRACE_MS, teardownGraceMs: TEARDOWN_GRACE_MS }), process.env.RS_DEBUG ? { ...deps, logger: createLogger(name, 'debug') } : deps, { port: 0 }),
  );

/** Every (worker, port) pair held at most once, and every reservation's session at most once overall. */
function expectNoDoubleBooking(workers: WorkerView[]): void {
  const sessions = workers.flatMap((w) => w.reservations.map((r) => r.sessionId));
  expect(new Set(sessions).size).toBe(sessions.length);
  for (const w of workers) {
    const ports = w.reservations.flatMap((r) => r.ports.map((p) => p.port));
    expect(new Set(ports).size).toBe(ports.length);
  }
}

describe('resource-scheduler: placement and the sweep', () => {
  let h: Harness;
  let e: Endpoints;
  let rs: RunningController | undefined;
  let definitionId: string;
  beforeAll(async () => {
    h = await startHarness();
    e = { publicUrl: h.publicUrl, internalUrl: h.internalUrl, token: h.token };
    definitionId = await createDefinition(e, 'rs-placement');
  }, 60_000);
  afterEach(async () => {
    await rs?.stop();
    rs = undefined;
  });
  afterAll(() => h.stop());

  it('schedules 20 concurrent sessions on a RUNNING worker, with disjoint ports matching the reservations', async () => {
    const workerId = await observedWorker(e, 'rs-metal-1');
    rs = await scheduler(h);
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => createSession(e, definitionId, `student-${i}`)));
    const sessions = await eventually('20 sessions SCHEDULED', async () => {
      const all = await Promise.all(ids.map((id) => q(e).session(id)));
      return all.every((s) => s.status === 'SCHEDULED') && all;
    });
    expect(sessions.every((s) => s.worker?.id === workerId)).toBe(true);
    const ports = sessions.flatMap((s) => s.allocatedPorts.map((p) => p.port));
    expect(new Set(ports).size).toBe(20);
    const worker = (await q(e).workers()).find((w) => w.id === workerId) as WorkerView;
    for (const s of sessions) {
      expect(worker.reservations.find((r) => r.sessionId === s.id)?.ports).toEqual(s.allocatedPorts);
    }
    expectNoDoubleBooking(await q(e).workers());
  });

  it('keeps a terminated session\'s reservation for its teardown; with no lablet-controller, releases it after the grace period', async () => {
    rs = await scheduler(h);
    const metric = async (name: string) => {
      const line = (await (await fetch(`${rs?.url}/metrics`)).text()).split('\n').find((l) => l.startsWith(name));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    const id = await createSession(e, definitionId, 'leaver');
    const placed = await eventually('scheduled', async () => {
      const s = await q(e).session(id);
      return s.status === 'SCHEDULED' && s;
    });
    const holds = async () => ((await q(e).workers()).find((x) => x.id === placed.worker?.id)?.reservations ?? []).some((r) => r.sessionId === id);
    const terminatedAt = Date.now();
    await data(e.publicUrl, e.token, `mutation($id: ID!) { terminateSession(id: $id, reason: "student left") { id } }`, { id });
    // The sweep (woken by the session leaving the placed statuses) keeps it: the teardown is the
    // lablet-controller's, and its ports must not be handed out while its lab may still map them.
    await eventually('the sweep keeps it for the teardown', async () => (await metric('lcm_scheduler_reservations_awaiting_teardown')) === 1);
    expect(await holds()).toBe(true);
    await eventually('released after the grace', async () => !(await holds()), { timeoutMs: 10_000 });
    expect(Date.now() - terminatedAt).toBeGreaterThanOrEqual(TEARDOWN_GRACE_MS);
    expect(await metric('lcm_scheduler_sweep_releases_total{cause="teardown-grace"')).toBe(1);
    await eventually('nothing awaits a teardown any more', async () => (await metric('lcm_scheduler_reservations_awaiting_teardown')) === 0);
  });

  it('releases at once the reservation of a session terminated before it was placed (an interrupted bind)', async () => {
    const workerId = await observedWorker(e, 'rs-metal-terminated-pending');
    const id = await createSession(e, definitionId, 'gave-up');
    await q(e).mutate(`mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { sessionId } }`, {
      input: { workerId, sessionId: id, capacity: { cpuCores: 1, memoryGb: 1, storageGb: 1, maxNodes: 2 }, portNames: ['console'] },
    });
    await data(e.publicUrl, e.token, `mutation($id: ID!) { terminateSession(id: $id, reason: "not needed") { id } }`, { id });
    const terminatedAt = Date.now();
    rs = await scheduler(h);
    await eventually('released', async () => !((await q(e).workers()).find((w) => w.id === workerId)?.reservations ?? []).some((r) => r.sessionId === id));
    expect(Date.now() - terminatedAt).toBeLessThan(TEARDOWN_GRACE_MS);
  });

  it('resumes a bind interrupted between reserve and schedule: the session is scheduled on its reservation', async () => {
    const workerId = await observedWorker(e, 'rs-metal-resume');
    const id = await createSession(e, definitionId, 'interrupted');
    // What a scheduler that died after its first step leaves behind.
    const r = await q(e).mutate(
      `mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { ports { name port } } }`,
      { input: { workerId, sessionId: id, capacity: { cpuCores: 1, memoryGb: 1, storageGb: 1, maxNodes: 2 }, portNames: ['console'] } },
    );
    rs = await scheduler(h);
    const s = await eventually('resumed', async () => {
      const v = await q(e).session(id);
      return v.status === 'SCHEDULED' && v;
    });
    expect(s.worker?.id).toBe(workerId);
    expect(s.allocatedPorts).toEqual((r as { reserveCapacity: { ports: unknown } }).reserveCapacity.ports);
    expectNoDoubleBooking(await q(e).workers());
  });

  it('releases an interrupted bind whose worker is draining, and places the session elsewhere', async () => {
    const draining = await observedWorker(e, 'rs-metal-draining');
    const id = await createSession(e, definitionId, 'moved');
    await q(e).mutate(`mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { sessionId } }`, {
      input: { workerId: draining, sessionId: id, capacity: { cpuCores: 1, memoryGb: 1, storageGb: 1, maxNodes: 2 }, portNames: ['console'] },
    });
    await q(e).mutate(`mutation($id: ID!) { transitionWorker(id: $id, to: DRAINING) { id } }`, { id: draining });
    rs = await scheduler(h);
    const s = await eventually('placed elsewhere', async () => {
      const v = await q(e).session(id);
      return v.status === 'SCHEDULED' && v;
    });
    expect(s.worker?.id).not.toBe(draining);
    const workers = await q(e).workers();
    expect(workers.find((w) => w.id === draining)?.reservations.some((r) => r.sessionId === id)).toBe(false);
    expectNoDoubleBooking(workers);
  });

  it('leaves a session whose timeslot is beyond its boot lead time PENDING', async () => {
    rs = await scheduler(h);
    const start = new Date(Date.now() + 3 * 3600_000).toISOString();
    const end = new Date(Date.now() + 4 * 3600_000).toISOString();
    const d = await data<{ createSession: { id: string } }>(e.publicUrl, e.token, `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, {
      input: { definitionId, owner: 'early-bird', timeslotStart: start, timeslotEnd: end },
    });
    const now = await createSession(e, definitionId, 'now');
    await eventually('the session without timeslot scheduled', async () => (await q(e).session(now)).status === 'SCHEDULED');
    expect((await q(e).session(d.createSession.id)).status).toBe('PENDING');
  });
});

describe('resource-scheduler: scale-up', () => {
  let h: Harness;
  let e: Endpoints;
  let rs: RunningController | undefined;
  beforeAll(async () => {
    h = await startHarness();
    e = { publicUrl: h.publicUrl, internalUrl: h.internalUrl, token: h.token };
  }, 60_000);
  afterAll(async () => {
    await rs?.stop();
    await h.stop();
  });

  it('a burst of 20 sessions with no worker asks for exactly what they need, and no more while it comes up', async () => {
    const definitionId = await createDefinition(e, 'rs-burst');
    rs = await scheduler(h);
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => createSession(e, definitionId, `burst-${i}`)));
    // 1 core, 1 GiB, 2 nodes each: the bundled `small` (2 cores, 2 GiB) holds two at the lowest price
    // per session; ten of them is the lower bound.
    const requested = await eventually('workers requested', async () => {
      const ws = await q(e).workers();
      return ws.length >= 10 && ws;
    });
    // Let further cycles run (every worker change wakes one): nothing more is asked for.
    await q(e).mutate(`mutation($id: ID!) { recordWorkerInstance(id: $id, input: { region: "us-east-1" }) { id } }`, { id: requested[0]?.id });
    await eventually('cycles done', async () => (rs?.role.controllers[0]?.queue?.length ?? 0) === 0);
    const ws = await q(e).workers();
    expect(ws).toHaveLength(10);
    expect(ws.every((w) => w.templateName === 'small' && w.status === 'PENDING')).toBe(true);
    // The workers come up (what the worker-controller does): every session is placed on them.
    for (const w of ws) {
      for (const to of ['PROVISIONING', 'RUNNING']) await q(e).mutate(`mutation($id: ID!, $to: WorkerStatus!) { transitionWorker(id: $id, to: $to) { id } }`, { id: w.id, to });
      await observe(e, w.id);
    }
    const sessions = await eventually('all scheduled', async () => {
      const all = await Promise.all(ids.map((id) => q(e).session(id)));
      return all.every((s) => s.status === 'SCHEDULED') && all;
    });
    expect(new Set(sessions.map((s) => s.worker?.id)).size).toBe(10);
    expect(await q(e).workers()).toHaveLength(10);
    expectNoDoubleBooking(await q(e).workers());
  }, 30_000);
});

describe('resource-scheduler: two replicas on one store', () => {
  let h: Harness;
  let e: Endpoints;
  const replicas: RunningController[] = [];
  beforeAll(async () => {
    h = await startHarness();
    e = { publicUrl: h.publicUrl, internalUrl: h.internalUrl, token: h.token };
  }, 60_000);
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await h.stop();
  });

  it('never double-places, and the standby takes over when the leader stops', async () => {
    const definitionId = await createDefinition(e, 'rs-replicas');
    await observedWorker(e, 'rs-metal-a');
    await observedWorker(e, 'rs-metal-b');
    replicas.push(await scheduler(h, 'rs-replica-1'), await scheduler(h, 'rs-replica-2'));
    const leaderOf = () => replicas.find((r) => r.role.controllers[0]?.isLeader());
    const leader = await eventually('a leader', () => leaderOf());
    expect(replicas.filter((r) => r.role.controllers[0]?.isLeader())).toHaveLength(1);

    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => createSession(e, definitionId, `r1-${i}`)));
    await eventually('first half scheduled', async () => (await Promise.all(first.map((id) => q(e).session(id)))).every((s) => s.status === 'SCHEDULED'));

    await leader.stop();
    replicas.splice(replicas.indexOf(leader), 1);
    const second = await Promise.all(Array.from({ length: 10 }, (_, i) => createSession(e, definitionId, `r2-${i}`)));
    await eventually('second half scheduled by the new leader', async () => (await Promise.all(second.map((id) => q(e).session(id)))).every((s) => s.status === 'SCHEDULED'), { timeoutMs: 15_000 });

    const workers = await q(e).workers();
    expectNoDoubleBooking(workers);
    expect(workers.flatMap((w) => w.reservations)).toHaveLength(20);
  }, 30_000);
});

describe('placementPlan through the gateway (session(id) { placementPlan }: only the session id from the caller)', () => {
  let h: Harness;
  let e: Endpoints;
  beforeAll(async () => {
    h = await startHarness();
    e = { publicUrl: h.publicUrl, internalUrl: h.internalUrl, token: h.token };
  }, 60_000);
  afterAll(() => h.stop());

  const PLAN = `query($id: ID!) { session(id: $id) { id placementPlan { decision summary eligibleAt templateName worker { id name }
    candidates { worker { id name } fits score reason message } } } }`;
  interface Plan {
    decision: string;
    summary: string;
    eligibleAt: string | null;
    templateName: string | null;
    worker: { id: string; name: string } | null;
    candidates: Array<{ worker: { id: string; name: string }; fits: boolean; score: number | null; reason: string | null; message: string | null }>;
  }
  const plan = async (id: string) => (await data<{ session: { placementPlan: Plan } }>(e.internalUrl, e.token, PLAN, { id })).session.placementPlan;
  const definition = (name: string, extra: Record<string, unknown> = {}) =>
    data<{ createDefinition: { id: string } }>(e.publicUrl, e.token, `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`, {
      input: {
        name,
        version: '1.0.0',
        labYaml: LAB_YAML,
        resourceRequirements: { cpuCores: 1, memoryGb: 1, storageGb: 1, nodeCount: 2 },
        portTemplate: [{ name: 'console', protocol: 'serial' }],
        ...extra,
      },
    }).then((d) => d.createDefinition.id);

  it('explains every worker and the decision, with the requirements fetched from the sessions and definitions subgraphs', async () => {
    const metal = await observedWorker(e, 'plan-metal');
    const draining = await observedWorker(e, 'plan-draining');
    await q(e).mutate(`mutation($id: ID!) { transitionWorker(id: $id, to: DRAINING) { id } }`, { id: draining });
    const old = await runningWorker(e, 'plan-old-cml');
    await q(e).mutate(`mutation($id: ID!) { recordWorkerObservation(id: $id, input: { cmlVersion: "2.10.0", nodeDefinitions: ["iosv"] }) { id } }`, { id: old });
    const defId = await definition('plan-semver', { cmlRequirements: { minVersion: '2.9.0', maxVersion: '2.9.5' } });
    const id = await createSession(e, defId, 'planner');

    const p = await plan(id);
    expect(p.decision).toBe('PLACE');
    expect(p.worker?.id).toBe(metal);
    expect(p.summary).toMatch(/goes on worker/);
    const byId = new Map(p.candidates.map((c) => [c.worker.id, c]));
    expect(p.candidates[0]?.worker.id).toBe(metal);
    expect(byId.get(metal)).toMatchObject({ fits: true, reason: null });
    expect(byId.get(metal)?.score).toBeGreaterThan(0);
    expect(byId.get(draining)).toMatchObject({ fits: false, reason: 'status' });
    // 2.10.0 is above 2.9.5 by semver (a string compare would say it is below).
    expect(byId.get(old)).toMatchObject({ fits: false, reason: 'cml-version' });
    expect(byId.get(old)?.message).toMatch(/runs CML 2\.10\.0; the session needs CML \[2\.9\.0 – 2\.9\.5\]/);
  });

  it('says when nothing can ever fit (UNPLACEABLE), when the timeslot is too far (WAIT_FOR_TIMESLOT), and when a session is placed', async () => {
    const evaluation = await definition('plan-evaluation', { licenseAffinity: ['EVALUATION'] });
    const stuck = await createSession(e, evaluation, 'nobody');
    const s = await plan(stuck);
    expect(s.decision).toBe('UNPLACEABLE');
    expect(s.summary).toMatch(/fits no enabled worker template/);
    expect(s.candidates.every((c) => !c.fits)).toBe(true);
    expect(s.candidates.filter((c) => c.reason === 'license').length).toBeGreaterThan(0);

    const defId = await definition('plan-later');
    const start = new Date(Date.now() + 2 * 3600_000);
    const later = await data<{ createSession: { id: string } }>(e.publicUrl, e.token, `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, {
      input: { definitionId: defId, owner: 'later', timeslotStart: start.toISOString(), timeslotEnd: new Date(start.getTime() + 3600_000).toISOString() },
    });
    const w = await plan(later.createSession.id);
    expect(w.decision).toBe('WAIT_FOR_TIMESLOT');
    expect(new Date(w.eligibleAt ?? 0).getTime()).toBe(start.getTime() - 35 * 60_000);

    const placed = await createSession(e, defId, 'placed');
    const worker = await observedWorker(e, 'plan-placed');
    await schedule(e, placed, worker);
    const n = await plan(placed);
    expect(n.decision).toBe('NOT_PENDING');
    expect(n.worker?.id).toBe(worker);
  });

  it('is not part of the public schema', async () => {
    const r = await gql(e.publicUrl, e.token, `query($id: ID!) { session(id: $id) { placementPlan { decision } } }`, { id: 'x' });
    expect(r.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
