import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  type _InstanceType,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  paginateDescribeInstances,
  waitUntilInstanceRunning,
  waitUntilInstanceStopped,
  waitUntilInstanceTerminated,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEc2Simulator, type Ec2Simulator, type Ec2SimulatorOptions } from './index.ts';
import { eventually } from '../../test/support/eventually.ts';
import { ec2Client, rejection } from '../../test/support/simulators/ec2.ts';

/** Instance lifecycle, tags, filters, pagination and errors, through the real @aws-sdk/client-ec2. */

let sim: Ec2Simulator;
let ec2: EC2Client;
let cmlImageId: string;

async function setUp(options: Ec2SimulatorOptions = {}): Promise<void> {
  sim = await startEc2Simulator({ bootMs: 20, stopMs: 20, terminateMs: 20, terminatedRetentionMs: 60_000, ...options });
  ec2 = ec2Client(sim.url);
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-2.8.1-*'] }] }));
  cmlImageId = images.Images?.[0]?.ImageId as string;
}

async function tearDown(): Promise<void> {
  ec2?.destroy();
  await sim?.close();
}

async function launch(input: Partial<RunInstancesCommandInput> = {}): Promise<Instance[]> {
  const out = await ec2.send(
    new RunInstancesCommand({ ImageId: cmlImageId, InstanceType: 't3.large', MinCount: 1, MaxCount: 1, ...input }),
  );
  return out.Instances ?? [];
}

async function describe1(instanceId: string): Promise<Instance> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations?.[0]?.Instances?.[0] as Instance;
}

/** Poll DescribeInstances until the instance is in `state`. */
function reaches(instanceId: string, state: string): Promise<Instance> {
  return eventually(`${instanceId} to be ${state}`, async () => {
    const instance = await describe1(instanceId);
    return instance.State?.Name === state ? instance : undefined;
  });
}

describe('EC2 simulator: instance lifecycle', () => {
  beforeEach(() => setUp());
  afterEach(tearDown);

  it('RunInstances returns a pending reservation with addresses, tags and the client token; the instance boots to running', async () => {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: cmlImageId,
        InstanceType: 'm5zn.metal',
        MinCount: 1,
        MaxCount: 3,
        ClientToken: 'launch-1',
        KeyName: 'lcm',
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'cml-worker-a' }, { Key: 'lcm:managed_by', Value: 'lablet-cloud-manager' }] },
          { ResourceType: 'volume', Tags: [{ Key: 'ignored', Value: 'on volumes' }] },
        ],
      }),
    );
    expect(out.ReservationId).toMatch(/^r-0[0-9a-f]{16}$/);
    expect(out.OwnerId).toBe('123456789012');
    expect(out.Instances).toHaveLength(3);
    const addresses = new Set<string>();
    out.Instances?.forEach((instance, index) => {
      expect(instance.InstanceId).toMatch(/^i-0[0-9a-f]{16}$/);
      expect(instance.State).toEqual({ Code: 0, Name: 'pending' });
      expect(instance.StateReason).toEqual({ Code: 'pending', Message: 'pending' });
      expect(instance.ImageId).toBe(cmlImageId);
      expect(instance.InstanceType).toBe('m5zn.metal');
      expect(instance.AmiLaunchIndex).toBe(index);
      expect(instance.ClientToken).toBe('launch-1');
      expect(instance.KeyName).toBe('lcm');
      expect(instance.SecurityGroups).toEqual([{ GroupId: 'sg-0123456789abcdef0' }]);
      expect(instance.Placement?.AvailabilityZone).toBe('us-east-1a');
      expect(instance.CpuOptions).toEqual({ CoreCount: 24, ThreadsPerCore: 2 });
      expect(instance.LaunchTime).toBeInstanceOf(Date);
      expect(instance.Tags).toEqual([
        { Key: 'Name', Value: 'cml-worker-a' },
        { Key: 'lcm:managed_by', Value: 'lablet-cloud-manager' },
      ]);
      expect(instance.PrivateIpAddress).toMatch(/^127\.(\d+)\.\d+\.\d+$/);
      expect(instance.PrivateIpAddress?.startsWith(`${sim.addressPrefix}.`)).toBe(true);
      expect(instance.PrivateIpAddress).not.toBe('127.0.0.1');
      expect(instance.PrivateDnsName).toBe(`ip-${instance.PrivateIpAddress?.replaceAll('.', '-')}.ec2.internal`);
      expect(instance.PublicIpAddress).toMatch(/^127\./);
      expect(instance.PublicDnsName).toBe(`ec2-${instance.PublicIpAddress?.replaceAll('.', '-')}.compute-1.amazonaws.com`);
      expect(instance.NetworkInterfaces?.[0]?.PrivateIpAddress).toBe(instance.PrivateIpAddress);
      expect(instance.NetworkInterfaces?.[0]?.Association?.PublicIp).toBe(instance.PublicIpAddress);
      addresses.add(instance.PrivateIpAddress as string).add(instance.PublicIpAddress as string);
    });
    expect(addresses.size).toBe(6);

    const running = await reaches(out.Instances?.[0]?.InstanceId as string, 'running');
    expect(running.State).toEqual({ Code: 16, Name: 'running' });
    expect(running.StateReason).toBeUndefined();
    expect(running.StateTransitionReason).toBe('');
    expect(sim.instance(running.InstanceId as string)?.state).toBe('running');
  });

  it('stops (stopping 64 → stopped 80) and starts again (pending → running): private address kept, public address renewed', async () => {
    const [launched] = await launch();
    const id = launched?.InstanceId as string;
    const running = await reaches(id, 'running');

    const stop = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(stop.StoppingInstances).toEqual([
      { InstanceId: id, PreviousState: { Code: 16, Name: 'running' }, CurrentState: { Code: 64, Name: 'stopping' } },
    ]);
    const stopped = await reaches(id, 'stopped');
    expect(stopped.State).toEqual({ Code: 80, Name: 'stopped' });
    expect(stopped.StateReason?.Code).toBe('Client.UserInitiatedShutdown');
    expect(stopped.StateTransitionReason).toMatch(/^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$/);
    expect(stopped.PublicIpAddress).toBeUndefined();
    expect(stopped.PrivateIpAddress).toBe(running.PrivateIpAddress);

    // Stopping a stopped instance is a no-op that reports the state.
    const again = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(again.StoppingInstances?.[0]?.CurrentState?.Name).toBe('stopped');

    const start = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(start.StartingInstances).toEqual([
      { InstanceId: id, PreviousState: { Code: 80, Name: 'stopped' }, CurrentState: { Code: 0, Name: 'pending' } },
    ]);
    const restarted = await reaches(id, 'running');
    expect(restarted.PrivateIpAddress).toBe(running.PrivateIpAddress);
    expect(restarted.PublicIpAddress).toMatch(/^127\./);
    expect(restarted.PublicIpAddress).not.toBe(running.PublicIpAddress);
    expect(restarted.LaunchTime?.getTime()).toBeGreaterThanOrEqual(running.LaunchTime?.getTime() as number);

    // Starting a running instance is a no-op too.
    const noop = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(noop.StartingInstances?.[0]).toMatchObject({ PreviousState: { Name: 'running' }, CurrentState: { Name: 'running' } });
  });

  it('terminates (shutting-down 32 → terminated 48), idempotently, and refuses to start or stop a terminated instance', async () => {
    const [launched] = await launch();
    const id = launched?.InstanceId as string;
    await reaches(id, 'running');

    const first = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(first.TerminatingInstances).toEqual([
      { InstanceId: id, PreviousState: { Code: 16, Name: 'running' }, CurrentState: { Code: 32, Name: 'shutting-down' } },
    ]);
    const terminated = await reaches(id, 'terminated');
    expect(terminated.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(terminated.StateReason).toEqual({
      Code: 'Client.UserInitiatedShutdown',
      Message: 'Client.UserInitiatedShutdown: User initiated shutdown',
    });
    expect(terminated.PrivateIpAddress).toBeUndefined();
    expect(terminated.PublicIpAddress).toBeUndefined();
    expect(terminated.PrivateDnsName).toBe('');

    const second = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(second.TerminatingInstances?.[0]).toMatchObject({ PreviousState: { Code: 48 }, CurrentState: { Code: 48 } });

    const start = await rejection(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })));
    expect(start.name).toBe('IncorrectInstanceState');
    expect(start.$metadata.httpStatusCode).toBe(400);
    const stop = await rejection(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })));
    expect(stop.name).toBe('IncorrectInstanceState');
  });

  it('terminates a stopped instance too', async () => {
    const [other] = await launch();
    const id = other?.InstanceId as string;
    await reaches(id, 'running');
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await reaches(id, 'stopped');
    const fromStopped = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(fromStopped.TerminatingInstances?.[0]).toMatchObject({ PreviousState: { Name: 'stopped' }, CurrentState: { Name: 'shutting-down' } });
    await reaches(id, 'terminated');
  });

  it("works with the SDK's waiters (instance running, stopped, terminated)", async () => {
    const [launched] = await launch();
    const InstanceIds = [launched?.InstanceId as string];
    const timing = { client: ec2, maxWaitTime: 10, minDelay: 0.02, maxDelay: 0.05 };
    expect((await waitUntilInstanceRunning(timing, { InstanceIds })).state).toBe('SUCCESS');
    await ec2.send(new StopInstancesCommand({ InstanceIds }));
    expect((await waitUntilInstanceStopped(timing, { InstanceIds })).state).toBe('SUCCESS');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds }));
    expect((await waitUntilInstanceTerminated(timing, { InstanceIds })).state).toBe('SUCCESS');
  });

  it('reuses the reservation for a repeated ClientToken with the same parameters and rejects different ones', async () => {
    const input: RunInstancesCommandInput = { ImageId: cmlImageId, InstanceType: 't3.large', MinCount: 2, MaxCount: 2, ClientToken: 'worker-42' };
    const first = await ec2.send(new RunInstancesCommand(input));
    const second = await ec2.send(new RunInstancesCommand(input));
    expect(second.ReservationId).toBe(first.ReservationId);
    expect(second.Instances?.map((i) => i.InstanceId)).toEqual(first.Instances?.map((i) => i.InstanceId));
    expect(sim.instances()).toHaveLength(2);

    const mismatch = await rejection(ec2.send(new RunInstancesCommand({ ...input, InstanceType: 't3.medium' })));
    expect(mismatch.name).toBe('IdempotentParameterMismatch');
    expect(mismatch.$metadata.httpStatusCode).toBe(400);
    expect(sim.instances()).toHaveLength(2);

    // The token is echoed by DescribeInstances, so a client can find out whether its launch happened.
    const byToken = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: ['worker-42'] }] }));
    expect(byToken.Reservations?.[0]?.Instances).toHaveLength(2);
  });
});

describe('EC2 simulator: terminated instances vanish after the retention time', () => {
  beforeEach(() => setUp({ bootMs: 0, terminateMs: 0, terminatedRetentionMs: 150 }));
  afterEach(tearDown);

  it('keeps a terminated instance visible, then answers InvalidInstanceID.NotFound', async () => {
    const [launched] = await launch();
    const id = launched?.InstanceId as string;
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    const terminated = await reaches(id, 'terminated');
    expect(terminated.State?.Code).toBe(48);
    const gone = await eventually(`${id} to be gone`, async () => {
      const error = await rejection(ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
      return error.name === 'InvalidInstanceID.NotFound' ? error : undefined;
    });
    expect(gone.message).toBe(`The instance ID '${id}' does not exist`);
    expect(sim.instance(id)).toBeUndefined();
    const listed = await ec2.send(new DescribeInstancesCommand({}));
    expect(listed.Reservations).toEqual([]);
  });
});

describe('EC2 simulator: state rules while pending', () => {
  beforeEach(() => setUp({ bootMs: 60_000, terminateMs: 10 }));
  afterEach(tearDown);

  it('refuses to stop a pending instance and changes nothing', async () => {
    const [pending] = await launch();
    const id = pending?.InstanceId as string;
    const error = await rejection(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })));
    expect(error.name).toBe('IncorrectInstanceState');
    expect(error.message).toBe(`The instance '${id}' is not in a state from which it can be stopped.`);
    expect((await describe1(id)).State?.Name).toBe('pending');
  });

  it('terminates a pending instance (it never boots)', async () => {
    const [pending] = await launch();
    const id = pending?.InstanceId as string;
    const change = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(change.TerminatingInstances?.[0]).toMatchObject({ PreviousState: { Name: 'pending' }, CurrentState: { Name: 'shutting-down' } });
    await sim.waitForState(id, 'terminated', 5_000);
  });
});

describe('EC2 simulator: DescribeInstances filters and pagination', () => {
  beforeEach(() => setUp({ bootMs: 0 }));
  afterEach(tearDown);

  const ids = (out: { Reservations?: { Instances?: Instance[] }[] }) =>
    (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId as string).sort();

  it('filters by state, id, tag:KEY, tag-key, instance type and image id, with wildcards; filters AND, values OR', async () => {
    const workers = await launch({
      MaxCount: 2,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'lcm:managed_by', Value: 'lablet-cloud-manager' }] }],
    });
    const other = await launch({ InstanceType: 'm5.large', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'team', Value: 'netops' }] }] });
    const workerIds = workers.map((i) => i.InstanceId as string).sort();
    const otherId = other[0]?.InstanceId as string;
    for (const id of [...workerIds, otherId]) await reaches(id, 'running');
    await ec2.send(new StopInstancesCommand({ InstanceIds: [otherId] }));
    await reaches(otherId, 'stopped');

    const query = async (...filters: { Name: string; Values: string[] }[]) => ids(await ec2.send(new DescribeInstancesCommand({ Filters: filters })));
    expect(await query({ Name: 'tag:lcm:managed_by', Values: ['lablet-cloud-manager'] })).toEqual(workerIds);
    expect(await query({ Name: 'tag:lcm:managed_by', Values: ['lablet-*'] })).toEqual(workerIds);
    expect(await query({ Name: 'tag-key', Values: ['team'] })).toEqual([otherId]);
    expect(await query({ Name: 'instance-state-name', Values: ['running'] })).toEqual(workerIds);
    expect(await query({ Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] })).toEqual(
      [...workerIds, otherId].sort(),
    );
    expect(await query({ Name: 'instance-state-code', Values: ['80'] })).toEqual([otherId]);
    expect(await query({ Name: 'instance-type', Values: ['m5.*'] })).toEqual([otherId]);
    expect(await query({ Name: 'instance-type', Values: ['t3.l?rge'] })).toEqual(workerIds);
    expect(await query({ Name: 'image-id', Values: [cmlImageId] })).toHaveLength(3);
    expect(await query({ Name: 'instance-id', Values: [otherId, 'i-00000000000000000'] })).toEqual([otherId]);
    expect(
      await query({ Name: 'instance-state-name', Values: ['running'] }, { Name: 'tag:lcm:managed_by', Values: ['nobody'] }),
    ).toEqual([]);

    // Instance ids and filters combine.
    const both = await ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [otherId, workerIds[0] as string], Filters: [{ Name: 'instance-state-name', Values: ['running'] }] }),
    );
    expect(ids(both)).toEqual([workerIds[0]]);

    const unknown = await rejection(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'colour', Values: ['blue'] }] })));
    expect(unknown.name).toBe('InvalidParameterValue');
    expect(unknown.message).toBe("The filter 'colour' is invalid");
  });

  it('groups instances by reservation', async () => {
    const a = await launch({ MaxCount: 2 });
    const b = await launch();
    const out = await ec2.send(new DescribeInstancesCommand({}));
    expect(out.Reservations).toHaveLength(2);
    expect(out.Reservations?.[0]?.Instances?.map((i) => i.InstanceId)).toEqual(a.map((i) => i.InstanceId));
    expect(out.Reservations?.[1]?.Instances?.map((i) => i.InstanceId)).toEqual(b.map((i) => i.InstanceId));
  });

  it('pages with MaxResults/NextToken (paginateDescribeInstances sees every instance exactly once)', async () => {
    const launched = await launch({ MaxCount: 7 });
    await launch({ MaxCount: 5 });
    const filtered = await launch({ MaxCount: 2, InstanceType: 'm5.large' });
    expect(launched).toHaveLength(7);

    const pages: string[][] = [];
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, { Filters: [{ Name: 'instance-type', Values: ['t3.large'] }] })) {
      pages.push(ids(page));
    }
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    const seen = pages.flat();
    expect(new Set(seen).size).toBe(12);
    expect(seen).not.toContain(filtered[0]?.InstanceId);

    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    expect(first.NextToken).toEqual(expect.any(String));
    const last = await ec2.send(new DescribeInstancesCommand({ MaxResults: 1000 }));
    expect(last.NextToken).toBeUndefined();
    expect(ids(last)).toHaveLength(14);

    const combined = await rejection(ec2.send(new DescribeInstancesCommand({ MaxResults: 5, InstanceIds: [launched[0]?.InstanceId as string] })));
    expect(combined.name).toBe('InvalidParameterCombination');
    const tooSmall = await rejection(ec2.send(new DescribeInstancesCommand({ MaxResults: 4 })));
    expect(tooSmall.name).toBe('InvalidParameterValue');
    const badToken = await rejection(ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: 'not-a-token' })));
    expect(badToken.name).toBe('InvalidPaginationToken');
  });
});

describe('EC2 simulator: DescribeInstanceStatus', () => {
  beforeEach(() => setUp({ bootMs: 0, stopMs: 0 }));
  afterEach(tearDown);

  it('reports running instances with ok checks by default and every state with IncludeAllInstances', async () => {
    const [a, b] = await launch({ MaxCount: 2 });
    const runningId = a?.InstanceId as string;
    const stoppedId = b?.InstanceId as string;
    await reaches(stoppedId, 'running');
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stoppedId] }));
    await reaches(stoppedId, 'stopped');

    const statuses = await eventually('status checks ok', async () => {
      const out = await ec2.send(new DescribeInstanceStatusCommand({}));
      return out.InstanceStatuses?.[0]?.InstanceStatus?.Status === 'ok' ? out.InstanceStatuses : undefined;
    });
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toMatchObject({
      InstanceId: runningId,
      AvailabilityZone: 'us-east-1a',
      InstanceState: { Code: 16, Name: 'running' },
      InstanceStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] },
      SystemStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] },
    });

    // Named but not running: left out unless IncludeAllInstances.
    const named = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [stoppedId] }));
    expect(named.InstanceStatuses).toEqual([]);
    const all = await ec2.send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true }));
    const stopped = all.InstanceStatuses?.find((s) => s.InstanceId === stoppedId);
    expect(stopped).toMatchObject({ InstanceState: { Code: 80, Name: 'stopped' }, InstanceStatus: { Status: 'not-applicable' } });

    const filtered = await ec2.send(
      new DescribeInstanceStatusCommand({ IncludeAllInstances: true, Filters: [{ Name: 'instance-state-name', Values: ['stopped'] }] }),
    );
    expect(filtered.InstanceStatuses?.map((s) => s.InstanceId)).toEqual([stoppedId]);

    const missing = await rejection(ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ['i-0aaaaaaaaaaaaaaaa'] })));
    expect(missing.name).toBe('InvalidInstanceID.NotFound');
  });

  it('reports initializing checks until the status check time has passed', async () => {
    await tearDown();
    await setUp({ bootMs: 0, statusCheckMs: 60_000 });
    const [launched] = await launch();
    const id = launched?.InstanceId as string;
    await reaches(id, 'running');
    const out = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
    expect(out.InstanceStatuses?.[0]?.InstanceStatus).toEqual({ Status: 'initializing', Details: [{ Name: 'reachability', Status: 'initializing' }] });
  });
});

describe('EC2 simulator: tags', () => {
  beforeEach(() => setUp({ bootMs: 0 }));
  afterEach(tearDown);

  it('CreateTags adds and overwrites tags on instances and images; DeleteTags removes them', async () => {
    const [launched] = await launch({ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'old' }] }] });
    const id = launched?.InstanceId as string;
    await ec2.send(
      new CreateTagsCommand({
        Resources: [id, cmlImageId],
        Tags: [
          { Key: 'Name', Value: 'new <&> "quoted"' },
          { Key: 'lcm:worker_id', Value: 'w-1' },
          { Key: 'empty' },
        ],
      }),
    );
    expect((await describe1(id)).Tags).toEqual([
      { Key: 'Name', Value: 'new <&> "quoted"' },
      { Key: 'lcm:worker_id', Value: 'w-1' },
      { Key: 'empty', Value: '' },
    ]);
    const image = await ec2.send(new DescribeImagesCommand({ ImageIds: [cmlImageId] }));
    expect(image.Images?.[0]?.Tags).toContainEqual({ Key: 'lcm:worker_id', Value: 'w-1' });

    await ec2.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'Name', Value: 'not the value' }, { Key: 'empty' }] }));
    expect((await describe1(id)).Tags?.map((t) => t.Key)).toEqual(['Name', 'lcm:worker_id']);
    await ec2.send(new DeleteTagsCommand({ Resources: [id] }));
    expect((await describe1(id)).Tags).toBeUndefined();
  });

  it('rejects unknown and malformed resources, reserved keys and too many tags', async () => {
    const [launched] = await launch();
    const id = launched?.InstanceId as string;
    const unknown = await rejection(ec2.send(new CreateTagsCommand({ Resources: ['i-0bbbbbbbbbbbbbbbb'], Tags: [{ Key: 'a', Value: 'b' }] })));
    expect(unknown.name).toBe('InvalidInstanceID.NotFound');
    const malformed = await rejection(ec2.send(new CreateTagsCommand({ Resources: ['i-xyz'], Tags: [{ Key: 'a', Value: 'b' }] })));
    expect(malformed.name).toBe('InvalidInstanceID.Malformed');
    const otherKind = await rejection(ec2.send(new CreateTagsCommand({ Resources: ['sg-12345678'], Tags: [{ Key: 'a', Value: 'b' }] })));
    expect(otherKind.name).toBe('InvalidID');
    const reserved = await rejection(ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'aws:owner', Value: 'x' }] })));
    expect(reserved.name).toBe('InvalidParameterValue');
    const many = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    const tooMany = await rejection(ec2.send(new CreateTagsCommand({ Resources: [id], Tags: many })));
    expect(tooMany.name).toBe('TagLimitExceeded');
    expect((await describe1(id)).Tags).toBeUndefined();
  });
});

describe('EC2 simulator: request validation', () => {
  beforeEach(() => setUp({ bootMs: 0, instanceLimit: 3 }));
  afterEach(tearDown);

  it('answers the errors EC2 answers, as the SDK surfaces them', async () => {
    const cases: [Promise<unknown>, string, string | RegExp][] = [
      [ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb'] })), 'InvalidInstanceID.NotFound', "The instance IDs 'i-0aaaaaaaaaaaaaaaa, i-0bbbbbbbbbbbbbbbb' do not exist"],
      [ec2.send(new DescribeInstancesCommand({ InstanceIds: ['worker-1'] })), 'InvalidInstanceID.Malformed', 'Invalid id: "worker-1" (expecting "i-...")'],
      [ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0aaaaaaaaaaaaaaaa'] })), 'InvalidInstanceID.NotFound', /does not exist/],
      [ec2.send(new StopInstancesCommand({ InstanceIds: [] })), 'MissingParameter', 'The request must contain the parameter InstanceId'],
      [launch({ InstanceType: 't3.gigantic' as _InstanceType }), 'InvalidParameterValue', 'The following supplied instance types do not exist: [t3.gigantic]'],
      [launch({ ImageId: undefined }), 'MissingParameter', 'The request must contain the parameter ImageId'],
      [launch({ MinCount: 3, MaxCount: 2 }), 'InvalidParameterValue', /minCount/],
      [launch({ ImageId: 'ami-0123456789abcdef0' }), 'InvalidAMIID.NotFound', "The image id '[ami-0123456789abcdef0]' does not exist"],
      [launch({ ImageId: 'cml-latest' }), 'InvalidAMIID.Malformed', /Invalid id/],
      [launch({ Placement: { AvailabilityZone: 'eu-west-1a' } }), 'InvalidParameterValue', /availability zone/],
      [launch({ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] }] }), 'InvalidParameterValue', /Duplicate tag key/],
    ];
    for (const [call, name, message] of cases) {
      const error = await rejection(call);
      expect(error.name, String(message)).toBe(name);
      expect(error.message).toMatch(message);
      expect(error.$metadata.httpStatusCode).toBe(400);
    }
    expect(sim.instances()).toEqual([]);
  });

  it('answers DryRunOperation (412) for a valid dry run and changes nothing', async () => {
    const error = await rejection(launch({ DryRun: true }));
    expect(error.name).toBe('DryRunOperation');
    expect(error.$metadata.httpStatusCode).toBe(412);
    expect(sim.instances()).toEqual([]);
  });

  it('launches up to the instance limit: fewer than MaxCount if MinCount fits, else InstanceLimitExceeded', async () => {
    const partial = await launch({ MinCount: 1, MaxCount: 5 });
    expect(partial).toHaveLength(3);
    const refused = await rejection(launch());
    expect(refused.name).toBe('InstanceLimitExceeded');
    expect(refused.message).toMatch(/current instance limit of 3/);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [partial[0]?.InstanceId as string] }));
    await reaches(partial[0]?.InstanceId as string, 'terminated');
    expect(await launch()).toHaveLength(1);
  });

  it('refuses to stop a spot instance (one-time request) but terminates it', async () => {
    const [spot] = await launch({ InstanceMarketOptions: { MarketType: 'spot' } });
    const id = spot?.InstanceId as string;
    expect(spot?.InstanceLifecycle).toBe('spot');
    expect(spot?.SpotInstanceRequestId).toMatch(/^sir-[0-9a-f]{8}$/);
    await reaches(id, 'running');
    const error = await rejection(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })));
    expect(error.name).toBe('UnsupportedOperation');
    const spots = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-lifecycle', Values: ['spot'] }] }));
    expect(spots.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(id);
  });
});
