import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEc2Simulator, type Ec2Simulator, type Ec2SimulatorOptions } from './index.ts';
import { eventually } from '../../test/support/eventually.ts';
import { ec2Client, fastRetry, rejection } from '../../test/support/simulators/ec2.ts';

/** Every injectable fault, programmatic and over HTTP, as the real SDK experiences it. */

let sim: Ec2Simulator;
let ec2: EC2Client;
let imageId: string;

async function setUp(options: Ec2SimulatorOptions = {}): Promise<void> {
  sim = await startEc2Simulator({ bootMs: 20, stopMs: 20, terminateMs: 20, ...options });
  ec2 = ec2Client(sim.url);
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-2.8.1-*'] }] }));
  imageId = images.Images?.[0]?.ImageId as string;
}

beforeEach(() => setUp());
afterEach(async () => {
  ec2.destroy();
  await sim.close();
});

const run = (client: EC2Client, input: Partial<RunInstancesCommandInput> = {}) =>
  client.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.large', MinCount: 1, MaxCount: 1, ...input }));

async function stateOf(instanceId: string): Promise<Instance> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations?.[0]?.Instances?.[0] as Instance;
}

function reaches(instanceId: string, state: string): Promise<Instance> {
  return eventually(`${instanceId} to be ${state}`, async () => {
    const instance = await stateOf(instanceId);
    return instance.State?.Name === state ? instance : undefined;
  });
}

async function postJson(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('EC2 simulator faults: InsufficientInstanceCapacity', () => {
  it('fails the next N RunInstances with InsufficientInstanceCapacity (HTTP 500), then launches again', async () => {
    sim.faults.insufficientCapacity({ count: 2 });
    for (let i = 0; i < 2; i++) {
      const error = await rejection(run(ec2));
      expect(error.name).toBe('InsufficientInstanceCapacity');
      expect(error.$metadata.httpStatusCode).toBe(500);
      expect(error.message).toMatch(/^We currently do not have sufficient t3\.large capacity in the Availability Zone you requested \(us-east-1a\)/);
    }
    expect(sim.instances()).toEqual([]);
    expect((await run(ec2)).Instances).toHaveLength(1);
  });

  it('applies to chosen instance types only, until cleared', async () => {
    sim.faults.insufficientCapacity({ instanceTypes: ['m5zn.metal'] });
    for (let i = 0; i < 3; i++) expect((await rejection(run(ec2, { InstanceType: 'm5zn.metal' }))).name).toBe('InsufficientInstanceCapacity');
    expect((await run(ec2, { InstanceType: 't3.large' })).Instances).toHaveLength(1);
    sim.faults.clear();
    expect((await run(ec2, { InstanceType: 'm5zn.metal' })).Instances).toHaveLength(1);
  });

  it('is a 5xx error, so the SDK retries it: one injected failure costs one extra attempt', async () => {
    const retrying = ec2Client(sim.url, { retryStrategy: fastRetry(3) });
    sim.faults.insufficientCapacity({ count: 1 });
    const out = await run(retrying);
    expect(out.$metadata.attempts).toBe(2);
    expect(out.Instances).toHaveLength(1);
    retrying.destroy();
  });
});

describe('EC2 simulator faults: RequestLimitExceeded throttling', () => {
  it('throttles the next N calls of an action with 503 RequestLimitExceeded; the SDK retry engages and succeeds', async () => {
    sim.faults.throttle({ action: 'DescribeInstances', count: 3 });
    const retrying = ec2Client(sim.url, { retryStrategy: fastRetry(5) });
    // Other actions are not throttled.
    await ec2.send(new DescribeInstanceStatusCommand({}));
    const out = await retrying.send(new DescribeInstancesCommand({}));
    expect(out.$metadata.attempts).toBe(4);
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(sim.faults.snapshot().throttle).toEqual([]);
    retrying.destroy();
  });

  it('surfaces RequestLimitExceeded once the retries are used up', async () => {
    sim.faults.throttle({ count: 10 });
    const retrying = ec2Client(sim.url, { retryStrategy: fastRetry(3) });
    const error = await rejection(retrying.send(new DescribeInstancesCommand({})));
    expect(error.name).toBe('RequestLimitExceeded');
    expect(error.message).toBe('Request limit exceeded.');
    expect(error.$metadata.httpStatusCode).toBe(503);
    expect(error.$metadata.attempts).toBe(3);
    expect(sim.faults.snapshot().throttle[0]?.remaining).toBe(7);
    retrying.destroy();
  });

  it('throttles whatever exceeds a token bucket (rate and burst)', async () => {
    sim.faults.throttle({ action: 'DescribeInstances', ratePerSecond: 0.1, burst: 2 });
    await ec2.send(new DescribeInstancesCommand({}));
    await ec2.send(new DescribeInstancesCommand({}));
    const error = await rejection(ec2.send(new DescribeInstancesCommand({})));
    expect(error.name).toBe('RequestLimitExceeded');
    await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
  });

  it('injects InternalError (HTTP 500), retried by the SDK', async () => {
    sim.faults.internalError({ action: 'TerminateInstances', count: 1 });
    const [instance] = (await run(ec2)).Instances ?? [];
    const error = await rejection(ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance?.InstanceId as string] })));
    expect(error.name).toBe('InternalError');
    expect(error.$metadata.httpStatusCode).toBe(500);
    expect(sim.instance(instance?.InstanceId as string)?.state).not.toBe('shutting-down');
    const retrying = ec2Client(sim.url, { retryStrategy: fastRetry(3) });
    sim.faults.internalError({ count: 1 });
    const out = await retrying.send(new TerminateInstancesCommand({ InstanceIds: [instance?.InstanceId as string] }));
    expect(out.$metadata.attempts).toBe(2);
    retrying.destroy();
  });
});

describe('EC2 simulator faults: slow boot', () => {
  it('delays the next launches by the extra boot time', async () => {
    sim.faults.slowBoot({ extraMs: 1000, count: 1 });
    const [slow] = (await run(ec2)).Instances ?? [];
    const [fast] = (await run(ec2)).Instances ?? [];
    await reaches(fast?.InstanceId as string, 'running');
    expect(sim.instance(slow?.InstanceId as string)?.state).toBe('pending');
    await reaches(slow?.InstanceId as string, 'running');
  });
});

describe('EC2 simulator faults: spot interruption', () => {
  it('puts the instance in shutting-down with StateReason Server.SpotInstanceTermination', async () => {
    ec2.destroy();
    await sim.close();
    await setUp({ bootMs: 0, terminateMs: 60_000 });
    const [instance] = (await run(ec2, { InstanceMarketOptions: { MarketType: 'spot' } })).Instances ?? [];
    const id = instance?.InstanceId as string;
    await reaches(id, 'running');
    expect(sim.faults.interrupt(id).state).toBe('shutting-down');
    const shuttingDown = await stateOf(id);
    expect(shuttingDown.State).toEqual({ Code: 32, Name: 'shutting-down' });
    expect(shuttingDown.StateReason).toEqual({
      Code: 'Server.SpotInstanceTermination',
      Message: 'Server.SpotInstanceTermination: Spot instance termination',
    });
    expect(shuttingDown.StateTransitionReason).toMatch(/^Service initiated \(/);
  });

  it('then terminates it, findable by its state reason', async () => {
    const [instance] = (await run(ec2)).Instances ?? [];
    const id = instance?.InstanceId as string;
    await reaches(id, 'running');
    const seen: string[] = [];
    sim.onChange((i) => {
      if (i.instanceId === id) seen.push(`${i.state}:${i.stateReason?.code}`);
    });
    sim.faults.interrupt(id);
    const terminated = await reaches(id, 'terminated');
    expect(seen).toEqual(['shutting-down:Server.SpotInstanceTermination', 'terminated:Server.SpotInstanceTermination']);
    expect(terminated.StateReason?.Code).toBe('Server.SpotInstanceTermination');
    const byReason = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'state-reason-code', Values: ['Server.SpotInstanceTermination'] }] }),
    );
    expect(byReason.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(id);
  });

  it('is available over HTTP: POST /_sim/instances/{id}/interrupt (404 unknown, 409 already going)', async () => {
    const [instance] = (await run(ec2)).Instances ?? [];
    const id = instance?.InstanceId as string;
    const first = await postJson(`/_sim/instances/${id}/interrupt`, {});
    expect(first.status).toBe(200);
    expect(first.json.instance).toMatchObject({ instanceId: id, state: 'shutting-down', stateReason: { code: 'Server.SpotInstanceTermination' } });
    expect((await postJson(`/_sim/instances/${id}/interrupt`, {})).status).toBe(409);
    expect((await postJson('/_sim/instances/i-0aaaaaaaaaaaaaaaa/interrupt', {})).status).toBe(404);
    await reaches(id, 'terminated');
  });
});

describe('EC2 simulator faults: eventual consistency', () => {
  it('answers InvalidInstanceID.NotFound for Describe* and CreateTags inside the window after launch', async () => {
    sim.faults.eventualConsistency(60_000);
    const [instance] = (await run(ec2)).Instances ?? [];
    const id = instance?.InstanceId as string;
    const errors = [
      await rejection(ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))),
      await rejection(ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id], IncludeAllInstances: true }))),
      await rejection(ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'a', Value: 'b' }] }))),
    ];
    for (const error of errors) {
      expect(error.name).toBe('InvalidInstanceID.NotFound');
      expect(error.$metadata.httpStatusCode).toBe(400);
    }
    expect((await ec2.send(new DescribeInstancesCommand({}))).Reservations).toEqual([]);
    // The instance exists all the same: it can be terminated, and lifting the fault shows it.
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    sim.faults.eventualConsistency(0);
    expect((await stateOf(id)).InstanceId).toBe(id);
  });

  it('lets the instance appear once the window has passed', async () => {
    sim.faults.eventualConsistency(150);
    const [instance] = (await run(ec2)).Instances ?? [];
    const id = instance?.InstanceId as string;
    const found = await eventually(`${id} to be described`, () => stateOf(id).catch(() => undefined));
    expect(found.InstanceId).toBe(id);
    await ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'a', Value: 'b' }] }));
    expect(sim.instance(id)?.tags).toEqual({ a: 'b' });
  });
});

describe('EC2 simulator faults over HTTP', () => {
  it('POST /_sim/faults arms faults, GET reports them, DELETE clears them, a bad body is a 400 listing the problems', async () => {
    const armed = await postJson('/_sim/faults', {
      throttle: [{ action: 'DescribeInstances', count: 1 }],
      insufficientCapacity: { count: 1, instanceTypes: ['t3.large'] },
      slowBoot: { extraMs: 10, count: 2 },
      eventualConsistency: { windowMs: 0 },
    });
    expect(armed.status).toBe(200);
    expect(armed.json).toMatchObject({
      throttle: [{ action: 'DescribeInstances', remaining: 1 }],
      insufficientCapacity: [{ remaining: 1, instanceTypes: ['t3.large'] }],
      slowBoot: [{ extraMs: 10, remaining: 2 }],
    });
    expect((await rejection(ec2.send(new DescribeInstancesCommand({})))).name).toBe('RequestLimitExceeded');
    expect((await rejection(run(ec2))).name).toBe('InsufficientInstanceCapacity');

    const current = (await (await fetch(`${sim.url}/_sim/faults`)).json()) as Record<string, unknown>;
    expect(current.throttle).toEqual([]);
    expect(current.slowBoot).toEqual([{ extraMs: 10, remaining: 2 }]);

    const cleared = (await (await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' })).json()) as Record<string, unknown>;
    expect(cleared.slowBoot).toEqual([]);

    const bad = await postJson('/_sim/faults', { throttle: { count: 0 }, surprise: true });
    expect(bad.status).toBe(400);
    expect(bad.json.issues).toEqual(expect.arrayContaining([expect.stringMatching(/throttle/), expect.stringMatching(/surprise/)]));
    const neither = await postJson('/_sim/faults', { throttle: {} });
    expect(neither.status).toBe(400);
  });

  it('GET /_sim/state lists instances, faults and the address block', async () => {
    const [instance] = (await run(ec2, { TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'w' }] }] })).Instances ?? [];
    const state = (await (await fetch(`${sim.url}/_sim/state`)).json()) as {
      addressPrefix: string;
      instances: { instanceId: string; tags: Record<string, string>; privateIp: string }[];
      faults: unknown;
      images: unknown[];
    };
    expect(state.addressPrefix).toBe(sim.addressPrefix);
    expect(state.instances).toEqual([
      expect.objectContaining({ instanceId: instance?.InstanceId, tags: { Name: 'w' }, privateIp: instance?.PrivateIpAddress }),
    ]);
    expect(state.images.length).toBeGreaterThan(0);
  });
});
