/**
 * Who releases a terminated session's capacity, with every controller running as `lcm up` runs them
 * (their default options; issue 8: no path leaks capacity, and no port is handed out while PATty may
 * still map it to an old lab): the lablet-controller's teardown stops and wipes the lab, then
 * releases; the resource-scheduler's sweep keeps the reservation meanwhile (its teardown grace is 10
 * minutes away), so the next session gets the ports only after the old lab is stopped and wiped.
 */
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvSchema, parseConfig } from '../../core/config.ts';
import { startHarness, type Harness } from '../../test/support/controller-harness.ts';
import { eventually } from '../../test/support/eventually.ts';
import { data } from '../../test/support/gateway-client.ts';
import { createDefinition, createSession } from '../../test/e2e/fixtures.ts';

interface SessionView {
  id: string;
  status: string;
  cmlLabId: string | null;
  worker: { id: string } | null;
  allocatedPorts: Array<{ name: string; port: number }>;
  pipelineProgress: { teardown?: { stopped?: boolean; wiped?: boolean; labDone?: boolean; released?: boolean; done?: boolean } } | null;
}

describe('a terminated session\'s ports are not reused before its lab is torn down (scheduler + lablet-controller)', () => {
  let h: Harness;
  let ec2: EC2Client;

  beforeAll(async () => {
    // The three controllers of the composition root; no scale-up within the test (the worker is made by hand).
    h = await startHarness({ controllers: true, config: parseConfig(EnvSchema, { LCM_SCALE_UP_BATCH_MS: '60000', LCM_CONTROLLER_RESYNC_SECONDS: '5' }) });
    const sims = h.system.simulators;
    if (!sims) throw new Error('the harness runs the simulators');
    ec2 = new EC2Client({ endpoint: sims.ec2.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  }, 60_000);
  afterAll(async () => {
    ec2?.destroy();
    await h?.stop();
  });

  const internal = <T,>(query: string, variables: Record<string, unknown> = {}) => data<T>(h.internalUrl, h.token, query, variables);
  const session = async (id: string) =>
    (
      await internal<{ session: SessionView }>(`query($id: ID!) { session(id: $id) { id status cmlLabId worker { id } allocatedPorts { name port } pipelineProgress } }`, { id })
    ).session;
  const reservations = async (workerId: string) =>
    (await internal<{ worker: { reservations: Array<{ sessionId: string; ports: Array<{ port: number }> }> } }>(`query($id: ID!) { worker(id: $id) { reservations { sessionId ports { port } } } }`, { id: workerId }))
      .worker.reservations;

  /** A RUNNING `micro` worker (room for one session of the fixture definition) with a CML simulator on its instance. */
  const microWorker = async (): Promise<{ id: string; cml: string }> => {
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-*'] }] }));
    const image = [...(images.Images ?? [])].sort((a, b) => String(b.CreationDate).localeCompare(String(a.CreationDate)))[0];
    const run = await ec2.send(new RunInstancesCommand({ ImageId: image?.ImageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
    const instance = await h.system.simulators!.ec2.waitForState(run.Instances?.[0]?.InstanceId as string, 'running');
    const id = (await internal<{ requestWorker: { id: string } }>(`mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`, { input: { templateName: 'micro', name: 'w-micro' } }))
      .requestWorker.id;
    for (const to of ['PROVISIONING', 'RUNNING']) await internal(`mutation($id: ID!, $to: WorkerStatus!) { transitionWorker(id: $id, to: $to) { id } }`, { id, to });
    await internal(`mutation($id: ID!, $input: WorkerInstanceInput!) { recordWorkerInstance(id: $id, input: $input) { id } }`, {
      id,
      input: { ec2InstanceId: instance.instanceId, ipAddress: instance.privateIp },
    });
    await internal(`mutation($id: ID!) { recordWorkerObservation(id: $id, input: { cmlVersion: "2.9.1", nodeDefinitions: ["iosv", "alpine"] }) { id } }`, { id });
    const cml = `http://${instance.privateIp}:${h.system.simulators!.cmlPort}`;
    await eventually('CML up', async () => (await fetch(`${cml}/api/v0/system_information`)).ok);
    return { id, cml };
  };

  it('the next session gets the freed port only once the terminated session\'s lab is stopped and wiped', { timeout: 60_000 }, async () => {
    const worker = await microWorker();
    // Teardown takes a while (a slow wipe): long enough for a premature release to be seen.
    await fetch(`${worker.cml}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slowWipeMs: 1_500 }) });
    const definitionId = await createDefinition(h, 'lab-ports-after-teardown');
    const first = await createSession(h, definitionId, 'first');
    const a = await eventually('first READY', async () => {
      const s = await session(first);
      return s.status === 'READY' && s;
    }, { timeoutMs: 15_000 });
    expect(a.worker?.id).toBe(worker.id);
    const port = a.allocatedPorts[0]?.port as number;

    await data(h.publicUrl, h.token, `mutation($id: ID!) { terminateSession(id: $id, reason: "done early") { id } }`, { id: first });
    const second = await createSession(h, definitionId, 'second');
    // Until the second session holds capacity on the worker, every observation checks the invariant:
    // reservations first, then the first session's teardown (monotone: not done now ⇒ not done then).
    let sawTeardownPending = false;
    const violations: string[] = [];
    const b = await eventually('second placed', async () => {
      const held = await reservations(worker.id);
      const teardown = (await session(first)).pipelineProgress?.teardown ?? {};
      const other = held.find((r) => r.sessionId !== first && r.ports.some((p) => p.port === port));
      if (other && !(teardown.stopped && teardown.labDone)) violations.push(`port ${port} went to ${other.sessionId} before the lab was stopped and wiped (${JSON.stringify(teardown)})`);
      if (!other && !teardown.labDone) sawTeardownPending = true;
      const s = await session(second);
      return s.status !== 'PENDING' && s;
    }, { timeoutMs: 20_000, intervalMs: 20 });
    expect(violations).toEqual([]);
    expect(sawTeardownPending).toBe(true);
    expect(b.worker?.id).toBe(worker.id);
    expect(b.allocatedPorts[0]?.port).toBe(port);
    const torn = (await session(first)).pipelineProgress?.teardown;
    expect(torn).toMatchObject({ stopped: true, wiped: true, labDone: true, released: true });
    // The second session boots on the first one's wiped lab.
    const ready = await eventually('second READY', async () => {
      const s = await session(second);
      return s.status === 'READY' && s;
    }, { timeoutMs: 15_000 });
    expect(ready.cmlLabId).toBe(a.cmlLabId);
  });
});
