/**
 * The worker-controller against the running system (gateway, subgraphs, EC2 simulator with a CML
 * simulator on every instance), driven through the real AWS SDK and CML client, with the simulators'
 * fault injection. Each test has its own system, so fleet-wide rules (minimum workers, scale-down,
 * orphans) see only its workers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDefinition, createSession, schedule } from '../../test/e2e/fixtures.ts';
import { startHarness, type Harness } from '../../test/support/controller-harness.ts';
import { eventually } from '../../test/support/eventually.ts';
import { data } from '../../test/support/gateway-client.ts';
import type { Ec2Simulator } from '../../simulators/ec2/index.ts';
import { startController, type RunningController } from '../kit/role.ts';
import { SdkEc2, TAG, type Ec2Port } from './ec2.ts';
import { createWorkerController, type WorkerControllerOptions } from './index.ts';

const WORKER = `id status desiredStatus statusReason ec2InstanceId ipAddress instanceType amiId cmlVersion nodeDefinitions licenseType licenseStatus
  declaredCapacity { cpuCores memoryGb storageGb maxNodes } systemStats idleSince revision`;

interface Worker {
  id: string;
  status: string;
  desiredStatus: string;
  statusReason: string | null;
  ec2InstanceId: string | null;
  ipAddress: string | null;
  instanceType: string | null;
  amiId: string | null;
  cmlVersion: string | null;
  nodeDefinitions: string[];
  licenseType: string | null;
  licenseStatus: string | null;
  declaredCapacity: { cpuCores: number; memoryGb: number; storageGb: number; maxNodes: number };
  systemStats: { observedAt?: string } | null;
  idleSince: string | null;
  revision: number;
}

const FAST: WorkerControllerOptions = { pollMs: 30, fleetMinIntervalMs: 20, launchRoundBackoffMs: 50 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface System {
  h: Harness;
  ec2: Ec2Simulator;
  start(env?: Record<string, string>, options?: WorkerControllerOptions): Promise<RunningController>;
  request(templateName: string): Promise<string>;
  worker(id: string): Promise<Worker>;
  workers(): Promise<Worker[]>;
  until(id: string, status: string, timeoutMs?: number): Promise<Worker>;
  /** Instances in the simulator launched for a worker (any state). */
  instancesOf(workerId: string): ReturnType<Ec2Simulator['instances']>;
}

/** Reconciliations the controller has done (its /metrics). */
async function reconciles(c: RunningController): Promise<number> {
  const text = await (await fetch(`${c.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('lcm_controller_reconcile_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/**
 * For a "nothing happens" check: wait until `ms` have passed AND the controller has reconciled at least
 * twice more since now (a positive signal that it looked at the world after the time that matters).
 */
async function lookedAgainAfter(c: RunningController, ms: number): Promise<void> {
  const before = await reconciles(c);
  const notBefore = Date.now() + ms;
  await eventually('the controller to look again', async () => Date.now() >= notBefore && (await reconciles(c)) >= before + 2, { timeoutMs: ms + 15_000 });
}

async function system(): Promise<System> {
  const h = await startHarness();
  cleanups.push(() => h.stop());
  const ec2 = h.system.simulators?.ec2 as Ec2Simulator;
  let n = 0;
  const s: System = {
    h,
    ec2,
    async start(env = {}, options = {}) {
      n += 1;
      const c = await startController('worker-controller', createWorkerController({ ...FAST, ...options }), await h.deps(`worker-controller-${n}`, env), { port: 0 });
      cleanups.push(() => c.stop());
      return c;
    },
    async request(templateName) {
      const d = await data<{ requestWorker: { id: string } }>(h.internalUrl, h.token, `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`, { input: { templateName } });
      return d.requestWorker.id;
    },
    async worker(id) {
      return (await data<{ worker: Worker }>(h.internalUrl, h.token, `query($id: ID!) { worker(id: $id) { ${WORKER} } }`, { id })).worker;
    },
    async workers() {
      const d = await data<{ workers: { edges: Array<{ node: Worker }> } }>(h.internalUrl, h.token, `{ workers(first: 100) { edges { node { id status desiredStatus statusReason ec2InstanceId } } } }`);
      return d.workers.edges.map((e) => e.node);
    },
    until(id, status, timeoutMs = 15_000) {
      return eventually(
        `worker ${id} ${status}`,
        async () => {
          const w = await s.worker(id);
          return w.status === status ? w : undefined;
        },
        { timeoutMs },
      );
    },
    instancesOf(workerId) {
      return ec2.instances().filter((i) => i.tags[TAG.workerId] === workerId);
    },
  };
  return s;
}

const setDesired = (s: System, id: string, desiredStatus: string) =>
  data(s.h.internalUrl, s.h.token, `mutation($id: ID!, $d: WorkerStatus!) { setWorkerDesiredStatus(id: $id, desiredStatus: $d) { id } }`, { id, d: desiredStatus });

describe('worker-controller: provisioning', () => {
  it('brings a requested worker to RUNNING: an EC2 instance, its address, capacity, CML version and node definitions from CML', async () => {
    const s = await system();
    await s.start();
    const id = await s.request('metal');
    const w = await s.until(id, 'RUNNING');
    expect(w.ec2InstanceId).toMatch(/^i-/);
    expect(w.ipAddress).toMatch(/^127\./);
    expect(w.amiId).toMatch(/^ami-/);
    expect(w.cmlVersion).toMatch(/^\d+\.\d+/);
    expect(w.nodeDefinitions).toContain('iosv');
    expect(w.licenseStatus).toBe('UNREGISTERED'); // no token configured: licensing left as it is
    expect(w.declaredCapacity).toMatchObject({ cpuCores: 48, memoryGb: 192, maxNodes: 200 });
    expect(w.systemStats?.observedAt).toBeTruthy();
    const [instance, ...others] = s.instancesOf(id);
    expect(others).toHaveLength(0);
    expect(instance).toMatchObject({ instanceId: w.ec2InstanceId, state: 'running', instanceType: 'm5zn.metal', privateIp: w.ipAddress });
    expect(instance?.tags).toMatchObject({ [TAG.managedBy]: 'lablet-cloud-manager', [TAG.template]: 'metal', Name: expect.stringContaining('cml-metal') });
    // The newest CML image by CreationDate.
    const images = await new SdkEc2({ endpoint: s.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }).resolveImage('CML-*');
    expect(instance?.imageId).toBe(images.imageId);
    expect(images.name).toMatch(/^CML-2\.8\.1/);
  });

  it('registers the licence when a token is configured (asynchronous, polled)', async () => {
    const s = await system();
    await s.start({ LCM_CML_LICENSE_TOKEN: 'lcm-test-token-0123' });
    const id = await s.request('micro');
    const w = await s.until(id, 'RUNNING');
    expect(w.licenseStatus).toBe('COMPLETED');
    expect(w.licenseType).toBe('ENTERPRISE');
  });

  it('records system statistics of RUNNING workers periodically', async () => {
    const s = await system();
    await s.start({}, { observeIntervalMs: 100 });
    const id = await s.request('micro');
    const first = (await s.until(id, 'RUNNING')).systemStats?.observedAt as string;
    await eventually('a later observation', async () => {
      const at = (await s.worker(id)).systemStats?.observedAt;
      return at !== undefined && at > first;
    });
  });

  it('a controller that crashes between RunInstances and recording the instance launches nothing twice (ClientToken)', async () => {
    const s = await system();
    s.ec2.faults.eventualConsistency(1_000); // the new instance is invisible to Describe* for a while
    let launches = 0;
    const crashing = (deps: Parameters<NonNullable<WorkerControllerOptions['ec2']>>[0]): Ec2Port => {
      const real = new SdkEc2({ endpoint: deps.overrides?.ec2Endpoint, region: deps.config.AWS_REGION, credentials: deps.overrides?.ec2Credentials });
      return Object.assign(Object.create(real) as SdkEc2, {
        async launch(request: Parameters<Ec2Port['launch']>[0]) {
          launches += 1;
          const instance = await real.launch(request);
          if (launches === 1) throw new Error('crash after RunInstances, before recordWorkerInstance');
          return instance;
        },
      });
    };
    await s.start({}, { ec2: crashing });
    const id = await s.request('micro');
    await s.until(id, 'RUNNING');
    expect(launches).toBe(2); // the retry really called RunInstances again
    expect(s.instancesOf(id)).toHaveLength(1);
  });

  it('a controller restarted mid-provisioning adopts the instance instead of launching another', async () => {
    const s = await system();
    s.ec2.faults.slowBoot({ extraMs: 1_500, count: 1 });
    const first = await s.start();
    const id = await s.request('micro');
    await s.until(id, 'PROVISIONING');
    await first.stop();
    await s.start();
    await s.until(id, 'RUNNING');
    expect(s.instancesOf(id)).toHaveLength(1);
  });

  it('two replicas never launch twice: one leads, each worker gets one instance', async () => {
    const s = await system();
    const [a, b] = [await s.start(), await s.start()];
    const ids = await Promise.all(['micro', 'small', 'micro'].map((t) => s.request(t)));
    for (const id of ids) await s.until(id, 'RUNNING');
    for (const id of ids) expect(s.instancesOf(id)).toHaveLength(1);
    expect(s.ec2.instances()).toHaveLength(3);
    const leaders = [a, b].filter((c) => c.role.controllers[0]?.isLeader());
    expect(leaders).toHaveLength(1);
  });

  it('looks at a steady worker\'s instance once per observation interval, not on every reservation change', async () => {
    const s = await system();
    let describes = 0;
    const counting = (deps: Parameters<NonNullable<WorkerControllerOptions['ec2']>>[0]): Ec2Port => {
      const real = new SdkEc2({ endpoint: deps.overrides?.ec2Endpoint, region: deps.config.AWS_REGION, credentials: deps.overrides?.ec2Credentials });
      return Object.assign(Object.create(real) as SdkEc2, {
        describe(instanceId: string) {
          describes += 1;
          return real.describe(instanceId);
        },
      });
    };
    const c = await s.start({}, { ec2: counting, observeIntervalMs: 60_000 });
    const reconciles = async () => {
      const text = await (await fetch(`${c.url}/metrics`)).text();
      return [...text.matchAll(/^lcm_controller_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const id = await s.request('metal');
    await s.until(id, 'RUNNING');
    const before = describes;
    const reconciled = await reconciles();
    const reserve = (sessionId: string) =>
      data(s.h.internalUrl, s.h.token, `mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { sessionId } }`, {
        input: { workerId: id, sessionId, capacity: { cpuCores: 1, memoryGb: 1, storageGb: 1, maxNodes: 1 }, portNames: ['console'] },
      });
    for (let i = 0; i < 10; i++) await reserve(`ses_${i}`);
    await eventually('the controller reconciled those changes', async () => (await reconciles()) >= reconciled + 10);
    expect(describes - before).toBeLessThanOrEqual(1);
  });

  it('survives EC2 throttling (RequestLimitExceeded): the SDK retries and the key backs off', async () => {
    const s = await system();
    await s.start();
    s.ec2.faults.throttle({ count: 12 });
    const id = await s.request('micro');
    await s.until(id, 'RUNNING', 25_000);
    expect(s.ec2.faults.snapshot().throttle).toHaveLength(0);
    expect(s.instancesOf(id)).toHaveLength(1);
  });

  it('on InsufficientInstanceCapacity launches a bigger type of the same licence', async () => {
    const s = await system();
    s.ec2.faults.insufficientCapacity({ instanceTypes: ['t3.micro'] });
    await s.start();
    const id = await s.request('micro');
    const w = await s.until(id, 'RUNNING');
    expect(w.instanceType).toBe('t3.small');
    expect(s.instancesOf(id).map((i) => i.instanceType)).toEqual(['t3.small']);
  });

  it('fails the worker clearly when no type has capacity after bounded attempts', async () => {
    const s = await system();
    s.ec2.faults.insufficientCapacity({});
    await s.start({}, { maxLaunchAttempts: 2 });
    const id = await s.request('metal');
    const w = await s.until(id, 'FAILED', 20_000);
    expect(w.statusReason).toMatch(/InsufficientInstanceCapacity \(m5zn\.metal\) after 2 attempts/);
    expect(s.instancesOf(id)).toHaveLength(0);
  });

  it('fails a worker stuck provisioning past the timeout and terminates its instance', async () => {
    const s = await system();
    s.ec2.faults.slowBoot({ extraMs: 10_000, count: 1 });
    await s.start({ LCM_WORKER_PROVISION_TIMEOUT_SECONDS: '1' });
    const id = await s.request('micro');
    const w = await s.until(id, 'FAILED');
    expect(w.statusReason).toMatch(/not RUNNING within 1 s \(PROVISIONING: instance pending\)/);
    await eventually('its instance terminated', () => s.instancesOf(id).every((i) => i.state === 'terminated') && s.instancesOf(id).length === 1);
  });
});

describe('worker-controller: desired status, lost instances, orphans', () => {
  it('desired STOPPED stops the instance; desired RUNNING starts it again with CML', async () => {
    const s = await system();
    await s.start();
    const id = await s.request('micro');
    const running = await s.until(id, 'RUNNING');
    await setDesired(s, id, 'STOPPED');
    await s.until(id, 'STOPPED');
    expect(s.ec2.instance(running.ec2InstanceId as string)?.state).toBe('stopped');
    await setDesired(s, id, 'RUNNING');
    const again = await s.until(id, 'RUNNING');
    expect(again.ec2InstanceId).toBe(running.ec2InstanceId);
    expect(s.ec2.instance(running.ec2InstanceId as string)?.state).toBe('running');
  });

  it('desired TERMINATED terminates the instance', async () => {
    const s = await system();
    await s.start();
    const id = await s.request('micro');
    const w = await s.until(id, 'RUNNING');
    await setDesired(s, id, 'TERMINATED');
    await s.until(id, 'TERMINATED');
    expect(s.ec2.instance(w.ec2InstanceId as string)?.state).toBe('terminated');
  });

  it('an instance lost outside LCM marks the worker TERMINATED with the reason and terminates its sessions', async () => {
    const s = await system();
    await s.start({}, { observeIntervalMs: 200 }); // EC2 announces nothing: the worker's next look finds the loss
    const id = await s.request('metal');
    const w = await s.until(id, 'RUNNING');
    const e = { publicUrl: s.h.publicUrl, internalUrl: s.h.internalUrl, token: s.h.token };
    const definitionId = await createDefinition(e, 'lost-lab');
    const sessionId = await createSession(e, definitionId);
    await schedule(e, sessionId, id);
    s.ec2.faults.interrupt(w.ec2InstanceId as string);
    const lost = await s.until(id, 'TERMINATED');
    expect(lost.statusReason).toMatch(/lost/);
    const session = await eventually('session terminated', async () => {
      const d = await data<{ session: { status: string; statusHistory: Array<{ reason: string | null }> } }>(
        s.h.internalUrl,
        s.h.token,
        `query($id: ID!) { session(id: $id) { status statusHistory { reason } } }`,
        { id: sessionId },
      );
      return d.session.status === 'TERMINATED' ? d.session : undefined;
    });
    expect(session.statusHistory.at(-1)?.reason).toMatch(/lost/);
  });

  it('terminates orphan instances tagged as LCM’s, and leaves other instances alone', async () => {
    const s = await system();
    const ec2 = new SdkEc2({ endpoint: s.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    cleanups.push(async () => ec2.close());
    const image = await ec2.resolveImage('CML-*');
    const orphan = await ec2.launch({ workerId: 'wkr_ghost', workerName: 'ghost', templateName: 'micro', instanceType: 't3.micro', imageId: image.imageId });
    const { EC2Client, RunInstancesCommand } = await import('@aws-sdk/client-ec2');
    const raw = new EC2Client({ endpoint: s.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const foreign = (await raw.send(new RunInstancesCommand({ ImageId: image.imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }))).Instances?.[0]?.InstanceId as string;
    raw.destroy();
    await s.start({}, { orphanSweepMs: 50, orphanGraceMs: 0 });
    await eventually('orphan terminated', () => s.ec2.instance(orphan.instanceId)?.state === 'terminated');
    const id = await s.request('micro');
    await s.until(id, 'RUNNING');
    expect(s.ec2.instance(foreign)?.state).toBe('running');
    expect(s.instancesOf(id)[0]?.state).toBe('running');
  });
});

describe('worker-controller: scale', () => {
  it('keeps LCM_MIN_WORKERS from the start and scales idle workers down to it (drain, then terminate)', async () => {
    const s = await system();
    const c = await s.start({ LCM_MIN_WORKERS: '1', LCM_SCALE_DOWN_IDLE_SECONDS: '0.4', LCM_SCALE_DOWN_COOLDOWN_SECONDS: '0' });
    const [kept] = await eventually('the minimum worker requested', async () => {
      const ws = await s.workers();
      return ws.length === 1 ? ws : undefined;
    });
    await s.until(kept!.id, 'RUNNING');
    const extra = await s.request('small');
    const extraRunning = await s.until(extra, 'RUNNING');
    // Both idle past the threshold; the minimum keeps one, the longest idle (the first) goes.
    const gone = await s.until(kept!.id, 'TERMINATED');
    expect(gone.statusReason).toMatch(/^scale-down: /);
    await eventually('its instance terminated', () => s.instancesOf(kept!.id)[0]?.state === 'terminated');
    // The other stays: at the minimum, with no new request.
    await lookedAgainAfter(c, 800); // past the idle threshold, the controller reconciled again: nothing else happens
    const after = await s.workers();
    expect(after.map((w) => [w.id, w.status]).sort()).toEqual([[extra, 'RUNNING'], [kept!.id, 'TERMINATED']].sort());
    expect(s.ec2.instance(extraRunning.ec2InstanceId as string)?.state).toBe('running');
  });

  it('with LCM_SCALE_DOWN_ACTION=stop stops an idle worker, and starts it again when sessions wait for capacity', async () => {
    const s = await system();
    await s.start({ LCM_SCALE_DOWN_IDLE_SECONDS: '0.3', LCM_SCALE_DOWN_COOLDOWN_SECONDS: '0', LCM_SCALE_DOWN_ACTION: 'stop' });
    const id = await s.request('micro');
    const w = await s.until(id, 'RUNNING');
    const stopped = await s.until(id, 'STOPPED');
    expect(stopped.statusReason).toMatch(/^scale-down: /);
    expect(s.ec2.instance(w.ec2InstanceId as string)?.state).toBe('stopped');
    const e = { publicUrl: s.h.publicUrl, internalUrl: s.h.internalUrl, token: s.h.token };
    await createSession(e, await createDefinition(e, 'demand-lab'));
    await s.until(id, 'RUNNING');
    expect(s.ec2.instance(w.ec2InstanceId as string)?.state).toBe('running');
  });

  it('does not scale down a worker that hosts a session', async () => {
    const s = await system();
    const c = await s.start({ LCM_SCALE_DOWN_IDLE_SECONDS: '0.2', LCM_SCALE_DOWN_COOLDOWN_SECONDS: '0' });
    const e = { publicUrl: s.h.publicUrl, internalUrl: s.h.internalUrl, token: s.h.token };
    const sessionId = await createSession(e, await createDefinition(e, 'busy-lab')); // PENDING: holds scale-down
    const id = await s.request('metal');
    await s.until(id, 'RUNNING');
    await schedule(e, sessionId, id);
    await lookedAgainAfter(c, 700); // well past the idle threshold, and the controller looked again
    expect((await s.worker(id)).status).toBe('RUNNING');
  });
});
