/**
 * The lablet-controller against a running system (gateway, subgraphs) and the simulators: a CML server
 * on an EC2 instance launched through the EC2 simulator with the AWS SDK, LDS and the grading engine
 * sending their CloudEvents to the controller's `/events`. Only this controller runs: the tests place
 * sessions themselves (`reserveCapacity` + `scheduleSession`, as the resource-scheduler would).
 */
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../kit/role.ts';
import { startHarness, type Harness } from '../../test/support/controller-harness.ts';
import { eventually } from '../../test/support/eventually.ts';
import { data } from '../../test/support/gateway-client.ts';
import { createDefinition, createSession, runningWorker, schedule, transition } from '../../test/e2e/fixtures.ts';
import { createLabletController, type LabletControllerOptions } from './index.ts';
import { parseLabMarkers } from './lab.ts';

const SESSION = `id status cmlLabId pipelineProgress allocatedPorts { name port }
  statusHistory { from to reason actor }
  userSession { status loginUrl externalId devices { name protocol host port } }
  gradingSession { status externalId faultReason }
  scoreReport { id score maxScore passed sections { name score maxScore weight } }`;

interface Session {
  id: string;
  status: string;
  cmlLabId: string | null;
  pipelineProgress: Record<string, Record<string, unknown>> | null;
  allocatedPorts: Array<{ name: string; port: number }>;
  statusHistory: Array<{ from: string | null; to: string; reason: string | null; actor: string | null }>;
  userSession: { status: string; loginUrl: string | null; externalId: string | null; devices: Array<{ name: string; protocol: string; host: string | null; port: number | null }> } | null;
  gradingSession: { status: string; externalId: string | null; faultReason: string | null } | null;
  scoreReport: { id: string; score: number; maxScore: number; passed: boolean | null; sections: Array<{ name: string; score: number; maxScore: number; weight: number }> } | null;
}

interface CmlLabView {
  id: string;
  lab_title: string;
  lab_description: string;
  state: string;
}

/** What the controller requires on `POST /events` (from its configuration) and the simulators send. */
const EVENTS_TOKEN = 'lablet-e2e-events-token-0123456789';

const OPTIONS: LabletControllerOptions = {
  pollMs: 10,
  gradingPollMs: 100,
  healthIntervalMs: 100,
  retryBaseDelayMs: 10,
  maxStepAttempts: 3,
  labActionTimeoutMs: 5_000,
};

describe('lablet-controller against the system', () => {
  let h: Harness;
  let ec2: EC2Client;
  let cmlPort: number;
  const controllers: RunningController[] = [];

  beforeAll(async () => {
    h = await startHarness();
    const sims = h.system.simulators;
    if (!sims) throw new Error('the harness runs the simulators');
    cmlPort = sims.cmlPort;
    ec2 = new EC2Client({ endpoint: sims.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  });
  afterAll(async () => {
    for (const c of controllers) await c.stop();
    ec2?.destroy();
    await h?.stop();
  });

  /** Start a lablet-controller whose events LDS and the grading engine send to. */
  const startLablet = async (env: Record<string, string> = {}, options: LabletControllerOptions = OPTIONS): Promise<RunningController> => {
    const c = await startController('lablet-controller', createLabletController(options), await h.deps('lablet-controller', { LCM_EVENTS_TOKEN: EVENTS_TOKEN, ...env }), { port: 0 });
    controllers.push(c);
    const sink = { sinkUrl: `${c.url}/events`, sinkToken: EVENTS_TOKEN };
    h.system.simulators?.lds.configure(sink);
    h.system.simulators?.grading.configure(sink);
    return c;
  };
  const stopLablet = async (c: RunningController) => {
    controllers.splice(controllers.indexOf(c), 1);
    await c.stop();
  };

  /** A RUNNING worker whose CML API is a CML simulator on an EC2 instance launched with the AWS SDK. */
  const cmlWorker = async (name: string): Promise<{ id: string; cml: string }> => {
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-*'] }] }));
    const image = [...(images.Images ?? [])].sort((a, b) => String(b.CreationDate).localeCompare(String(a.CreationDate)))[0];
    const run = await ec2.send(new RunInstancesCommand({ ImageId: image?.ImageId, InstanceType: 'm5zn.metal', MinCount: 1, MaxCount: 1 }));
    const instanceId = run.Instances?.[0]?.InstanceId as string;
    const instance = await h.system.simulators!.ec2.waitForState(instanceId, 'running');
    const id = await runningWorker(h, name);
    await data(h.internalUrl, h.token, `mutation($id: ID!, $input: WorkerInstanceInput!) { recordWorkerInstance(id: $id, input: $input) { id } }`, {
      id,
      input: { ec2InstanceId: instanceId, ipAddress: instance.privateIp },
    });
    const cml = `http://${instance.privateIp}:${cmlPort}`;
    await eventually('CML up', async () => (await fetch(`${cml}/api/v0/system_information`)).ok);
    return { id, cml };
  };

  const cmlToken = async (cml: string) =>
    (await (await fetch(`${cml}/api/v0/authenticate`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: 'admin' }) })).json()) as string;
  const cmlGet = async <T,>(cml: string, path: string): Promise<T> => {
    const res = await fetch(`${cml}/api/v0${path}`, { headers: { authorization: `Bearer ${await cmlToken(cml)}` } });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const labs = async (cml: string): Promise<CmlLabView[]> =>
    Promise.all((await cmlGet<string[]>(cml, '/labs?show_all=true')).map((id) => cmlGet<CmlLabView>(cml, `/labs/${id}`)));
  const nodes = (cml: string, labId: string) =>
    cmlGet<Array<{ id: string; label: string; state: string; tags: string[] }>>(cml, `/labs/${labId}/nodes?data=true`);

  const session = async (id: string): Promise<Session> =>
    (await data<{ session: Session }>(h.internalUrl, h.token, `query($id: ID!) { session(id: $id) { ${SESSION} } }`, { id })).session;
  const until = (id: string, status: string, timeoutMs = 10_000) =>
    eventually(`session ${id} ${status}`, async () => {
      const s = await session(id);
      if (s.status === 'TERMINATED' && status !== 'TERMINATED') throw new Error(`TERMINATED: ${s.statusHistory.at(-1)?.reason}`);
      return s.status === status ? s : undefined;
    }, { timeoutMs });
  const reservations = async (workerId: string) =>
    (await data<{ worker: { reservations: Array<{ sessionId: string }> } }>(h.internalUrl, h.token, `query($id: ID!) { worker(id: $id) { reservations { sessionId } } }`, { id: workerId }))
      .worker.reservations.map((r) => r.sessionId);
  const placed = async (definitionId: string, workerId: string, owner = 'student'): Promise<string> => {
    const id = await createSession(h, definitionId, owner);
    await schedule(h, id, workerId);
    return id;
  };
  const lds = () => h.system.simulators!.lds;

  it('SCHEDULED → READY: a lab imported and booted on the worker with the port tags, a login URL from LDS', async () => {
    await startLablet();
    const worker = await cmlWorker('w-ready');
    const def = await createDefinition(h, 'lab-ready');
    const id = await placed(def, worker.id);
    const s = await until(id, 'READY');
    expect(s.userSession?.loginUrl).toMatch(/^http/);
    expect(s.userSession?.status).toBe('PROVISIONED');
    const port = s.allocatedPorts.find((p) => p.name === 'console')?.port as number;
    expect(s.userSession?.devices).toContainEqual({ name: 'r1', protocol: 'telnet', host: expect.stringMatching(/^127\./), port });
    expect(s.statusHistory.map((t) => t.to)).toEqual(['PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY']);
    const lab = (await labs(worker.cml)).find((l) => l.id === s.cmlLabId);
    expect(lab?.state).toBe('STARTED');
    expect(parseLabMarkers(lab?.lab_description)).toEqual({ definitionId: def, sessionId: id });
    const labNodes = await nodes(worker.cml, s.cmlLabId as string);
    expect(labNodes.every((n) => n.state === 'BOOTED')).toBe(true);
    expect(labNodes.find((n) => n.label === 'r1')?.tags).toEqual([`serial:${port}`]);
    // The LDS session knows the lablet session and the device.
    const user = (await (await fetch(`${lds().url}/sessions?labletSessionId=${id}`)).json()) as { sessions: Array<{ id: string }> };
    expect(user.sessions.map((u) => u.id)).toEqual([s.userSession?.externalId]);
  });

  it('RUNNING → COLLECTING on the LDS event, GRADING → a score report with sections → ARCHIVED; lab wiped and kept, capacity released', async () => {
    const worker = await cmlWorker('w-grade');
    const def = await createDefinition(h, 'lab-grade');
    const id = await placed(def, worker.id);
    const ready = await until(id, 'READY');
    const ldsId = ready.userSession?.externalId as string;
    await fetch(`${lds().url}/_sim/sessions/${ldsId}/start`, { method: 'POST' });
    expect((await until(id, 'RUNNING')).userSession?.status).toBe('ACTIVE');
    await fetch(`${lds().url}/_sim/sessions/${ldsId}/finish`, { method: 'POST' });
    const done = await until(id, 'ARCHIVED');
    expect(done.statusHistory.map((t) => t.to)).toEqual(['PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'ARCHIVED']);
    expect(done.statusHistory.find((t) => t.to === 'COLLECTING')?.reason).toMatch(/LDS/);
    expect(done.scoreReport?.sections.length).toBeGreaterThan(0);
    expect(done.scoreReport?.sections.reduce((a, x) => a + x.score, 0)).toBe(done.scoreReport?.score);
    expect(done.gradingSession?.status).toBe('SUBMITTED');
    expect(done.userSession?.status).toBe('ENDED');
    expect(done.pipelineProgress?.collect).toMatchObject({ nodes: 2 });
    const lab = (await labs(worker.cml)).find((l) => l.id === done.cmlLabId);
    expect(lab?.state).toBe('DEFINED_ON_CORE');
    expect(await reservations(worker.id)).not.toContain(id);
    // The LDS session was finalized.
    const user = (await (await fetch(`${lds().url}/sessions/${ldsId}`)).json()) as { state: string };
    expect(user.state).toBe('SESSION_FINALIZED');
  });

  it('a second session of the same definition on the same worker reuses the wiped lab; the manual transitions drive it too', async () => {
    const worker = await cmlWorker('w-reuse');
    const def = await createDefinition(h, 'lab-reuse');
    const first = await placed(def, worker.id);
    const firstLab = (await until(first, 'READY')).cmlLabId;
    await transition(h, first, 'RUNNING');
    await transition(h, first, 'COLLECTING');
    await until(first, 'ARCHIVED');
    const second = await placed(def, worker.id, 'student-2');
    const s = await until(second, 'READY');
    expect(s.cmlLabId).toBe(firstLab);
    expect(s.pipelineProgress?.instantiate).toMatchObject({ reused: true });
    expect(await labs(worker.cml)).toHaveLength(1);
    // The reused lab carries the new session's ports only.
    const port = s.allocatedPorts[0]?.port;
    expect((await nodes(worker.cml, firstLab as string)).find((n) => n.label === 'r1')?.tags).toEqual([`serial:${port}`]);
  });

  it('a user terminating a READY session gets its lab torn down, its LDS session finalized and its capacity released', async () => {
    const worker = await cmlWorker('w-terminate');
    const def = await createDefinition(h, 'lab-terminate');
    const id = await placed(def, worker.id);
    const s = await until(id, 'READY');
    await data(h.publicUrl, h.token, `mutation($id: ID!) { terminateSession(id: $id, reason: "changed my mind") { id } }`, { id });
    await eventually('teardown done', async () => (await session(id)).pipelineProgress?.teardown?.done === true);
    expect((await labs(worker.cml)).find((l) => l.id === s.cmlLabId)?.state).toBe('DEFINED_ON_CORE');
    expect(await reservations(worker.id)).not.toContain(id);
    const user = (await (await fetch(`${lds().url}/sessions/${s.userSession?.externalId}`)).json()) as { state: string };
    expect(user.state).toBe('SESSION_FINALIZED');
    expect((await session(id)).status).toBe('TERMINATED');
  });

  it('a session terminated while no lablet-controller runs is found through its reservation by the next one and torn down', async () => {
    const worker = await cmlWorker('w-terminate-away');
    const def = await createDefinition(h, 'lab-terminate-away');
    const id = await placed(def, worker.id);
    const s = await until(id, 'READY');
    for (const c of [...controllers]) await stopLablet(c);
    await data(h.publicUrl, h.token, `mutation($id: ID!) { terminateSession(id: $id, reason: "while nobody watched") { id } }`, { id });
    // Nobody tears it down meanwhile: the lab runs, the LDS session is open, the reservation marks the debt.
    expect((await session(id)).status).toBe('TERMINATED');
    expect((await labs(worker.cml)).find((l) => l.id === s.cmlLabId)?.state).toBe('STARTED');
    expect(await reservations(worker.id)).toContain(id);
    // A new controller never sees the session in its informer (it lists open sessions only): the
    // teardown scan finds it through the reservation.
    await startLablet();
    await eventually('teardown done', async () => (await session(id)).pipelineProgress?.teardown?.done === true);
    const done = await session(id);
    expect(done.status).toBe('TERMINATED');
    expect(done.pipelineProgress?.teardown).toMatchObject({ stopped: true, wiped: true, labDone: true, ldsFinalized: true, released: true });
    expect((await labs(worker.cml)).find((l) => l.id === s.cmlLabId)?.state).toBe('DEFINED_ON_CORE');
    expect(await reservations(worker.id)).not.toContain(id);
    const user = (await (await fetch(`${lds().url}/sessions/${s.userSession?.externalId}`)).json()) as { state: string };
    expect(user.state).toBe('SESSION_FINALIZED');
  });

  it('CloudEvents: bad ones get a clear 4xx, a duplicate has no second effect, one for a session past that point changes nothing', async () => {
    const c = controllers[0] as RunningController;
    const post = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/cloudevents+json' }, authorization: string | null = `Bearer ${EVENTS_TOKEN}`) =>
      fetch(`${c.url}/events`, {
        method: 'POST',
        headers: { ...headers, ...(authorization === null ? {} : { authorization }) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const event = (id: string, type: string, data: unknown) => ({ specversion: '1.0', id, source: 'lds', type, time: new Date().toISOString(), data });
    const garbage = await post('{not json');
    expect(garbage.status).toBe(400);
    const notCe = await post({ hello: 'world' }, { 'content-type': 'application/json' });
    expect(notCe.status).toBe(400);
    const unknownType = await post(event('e-1', 'lds.session.exploded', {}));
    expect(unknownType.status).toBe(400);
    expect(((await unknownType.json()) as { error: { message: string } }).error.message).toMatch(/unknown event type/);
    const invalid = await post(event('e-2', 'lds.session.started', { ldsSessionId: 'x' }));
    expect(invalid.status).toBe(400);
    const started = (labletSessionId: string, ldsSessionId: string) => ({ ldsSessionId, labletSessionId, partId: 1, state: 'SESSION_RUNNING', startedAt: new Date().toISOString() });
    expect((await post(event('e-3', 'lds.session.started', started('ses_doesnotexist', 'l-1')))).status).toBe(404);
    expect((await fetch(`${c.url}/events`)).status).toBe(405);

    const worker = await cmlWorker('w-events');
    const def = await createDefinition(h, 'lab-events');
    const id = await placed(def, worker.id);
    const s = await until(id, 'READY');
    const ldsId = s.userSession?.externalId as string;

    // Forged events (no token, a wrong one): 401 before anything is read, and nothing changes — no
    // start, no score report published for a grading that never ran.
    const view = async () => (await data<{ session: { revision: number; status: string; scoreReport: { id: string } | null } }>(h.internalUrl, h.token, `query($id: ID!) { session(id: $id) { revision status scoreReport { id } } }`, { id })).session;
    const before = await view();
    expect(before).toMatchObject({ status: 'READY', scoreReport: null });
    const forgedStart = event(`dup-${id}`, 'lds.session.started', started(id, ldsId));
    const now = new Date().toISOString();
    const forgedGrade = event(`forged-grade-${id}`, 'grading.session.completed', {
      gradingSessionId: 'g-forged', partId: 'lab-events', labletSessionId: id, podId: null, status: 'locked',
      scoreReport: { score: 100, maxScore: 100, cutScore: 70, passed: true, sections: [{ name: 'all', score: 100, maxScore: 100, weight: 1 }], gradedAt: now, submittedAt: now },
    });
    for (const forged of [forgedStart, forgedGrade]) {
      for (const authorization of [null, 'Bearer not-the-events-token-0123456789', `Basic ${Buffer.from(`lds:${EVENTS_TOKEN}`).toString('base64')}`]) {
        const res = await post(forged, undefined, authorization);
        expect(res.status, `${forged.type} with ${authorization}`).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(await view()).toEqual(before);
    // A READY session started twice by the same event: one move. (Its id is the forged start's: a
    // refused event is not remembered as processed, so the genuine one still counts.)
    const once = event(`dup-${id}`, 'lds.session.started', started(id, ldsId));
    const answers = await Promise.all([post(once), post(once)]);
    expect(answers.map((r) => r.status)).toEqual([202, 202]);
    expect((await post(once)).status).toBe(202);
    const running = await until(id, 'RUNNING');
    expect(running.statusHistory.filter((t) => t.to === 'RUNNING')).toHaveLength(1);
    // Another started event (new id) for the RUNNING session: accepted, nothing changes.
    const revision = (await data<{ session: { revision: number } }>(h.internalUrl, h.token, `query($id: ID!) { session(id: $id) { revision } }`, { id })).session.revision;
    expect((await post(event(`late-${id}`, 'lds.session.started', started(id, ldsId)))).status).toBe(202);
    const after = (await data<{ session: { revision: number; status: string } }>(h.internalUrl, h.token, `query($id: ID!) { session(id: $id) { revision status } }`, { id })).session;
    expect(after).toEqual({ revision, status: 'RUNNING' });
  });

  it('a node that never boots: TERMINATED with the reason, the imported lab deleted, capacity released', async () => {
    const worker = await cmlWorker('w-neverboot');
    await fetch(`${worker.cml}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ neverBoot: { labels: ['r2'] } }) });
    for (const c of [...controllers]) await stopLablet(c);
    const c = await startLablet({ LCM_LAB_BOOT_TIMEOUT_SECONDS: '1' });
    try {
      const def = await createDefinition(h, 'lab-neverboot');
      const id = await placed(def, worker.id);
      const s = await until(id, 'TERMINATED');
      expect(s.statusHistory.at(-1)?.reason).toMatch(/did not boot within 1 s/);
      await eventually('teardown done', async () => (await session(id)).pipelineProgress?.teardown?.done === true);
      expect(await labs(worker.cml)).toEqual([]);
      expect(await reservations(worker.id)).not.toContain(id);
    } finally {
      await stopLablet(c);
      await startLablet();
    }
  });

  it('a controller stopped mid-instantiation is resumed by the next one: no second import, no second LDS session', async () => {
    const worker = await cmlWorker('w-resume');
    const faults = (body: unknown) => fetch(`${worker.cml}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await faults({ neverBoot: { labels: ['r2'] } });
    const def = await createDefinition(h, 'lab-resume');
    const id = await placed(def, worker.id);
    // The first controller imports and starts the lab, then waits for a boot that does not come.
    const booting = await eventually('lab started', async () => {
      const s = await session(id);
      return s.status === 'INSTANTIATING' && s.pipelineProgress?.instantiate?.bootStartedAt ? s : undefined;
    });
    for (const c of [...controllers]) await stopLablet(c);
    // Meanwhile the lab boots, and the LDS session of the session exists (as if the controller had
    // died right after creating it, before recording it).
    await faults({ neverBoot: null });
    const token = await cmlToken(worker.cml);
    const put = (path: string) => fetch(`${worker.cml}/api/v0${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
    await put(`/labs/${booting.cmlLabId}/stop`);
    await eventually('stopped', async () => (await cmlGet<boolean>(worker.cml, `/labs/${booting.cmlLabId}/check_if_converged`)));
    await put(`/labs/${booting.cmlLabId}/start`);
    const early = (await (
      await fetch(`${lds().url}/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ labletSessionId: id, owner: 'student', workerAddress: '127.0.0.1', devices: [{ label: 'r1', protocol: 'telnet' }] }),
      })
    ).json()) as { id: string };
    await startLablet();
    const s = await until(id, 'READY');
    expect(s.cmlLabId).toBe(booting.cmlLabId);
    expect((await labs(worker.cml)).filter((l) => parseLabMarkers(l.lab_description)?.sessionId === id)).toHaveLength(1);
    expect(s.userSession?.externalId).toBe(early.id);
    const all = (await (await fetch(`${lds().url}/sessions?labletSessionId=${id}`)).json()) as { sessions: unknown[] };
    expect(all.sessions).toHaveLength(1);
  });

  it('a grading that fails is asked for once more; failing again ends the session TERMINATED with the reason, torn down', async () => {
    const grading = h.system.simulators!.grading;
    grading.setFaults({ failGrading: 2, failReason: 'pod unreachable' });
    try {
      const worker = await cmlWorker('w-gradefail');
      const def = await createDefinition(h, 'lab-gradefail');
      const id = await placed(def, worker.id);
      const s = await until(id, 'READY');
      await transition(h, id, 'RUNNING');
      await transition(h, id, 'COLLECTING');
      const ended = await until(id, 'TERMINATED');
      expect(ended.statusHistory.at(-1)?.reason).toMatch(/grading failed after 2 attempt\(s\): .*pod unreachable/);
      expect(ended.pipelineProgress?.grading).toMatchObject({ attempts: 2 });
      expect(ended.scoreReport).toBeNull();
      await eventually('teardown done', async () => (await session(id)).pipelineProgress?.teardown?.done === true);
      expect((await labs(worker.cml)).find((l) => l.id === s.cmlLabId)?.state).toBe('DEFINED_ON_CORE');
      expect(await reservations(worker.id)).not.toContain(id);
    } finally {
      grading.setFaults({ failGrading: 0 });
    }
  });
});
