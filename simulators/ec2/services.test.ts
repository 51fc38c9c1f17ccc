import http from 'node:http';
import {
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../core/ops/ops-server.ts';
import { startEc2Simulator, type Ec2Simulator, type InstanceServices, type SimInstance } from './index.ts';
import { eventually } from '../../test/support/eventually.ts';
import { ec2Client } from '../../test/support/simulators/ec2.ts';

/** The `instanceServices` hook: a service per running instance, on the instance's own address. */

interface Recorder {
  services: InstanceServices;
  /** Instance id and the state it was in when its service was started. */
  started: { instanceId: string; state: string; privateIp: string }[];
  closed: string[];
  /** The port each instance's current service listens on. */
  ports: Map<string, number>;
}

/** A trivial HTTP service answering with the instance id, on the instance's private address. */
function helloServices(gate?: Promise<void>): Recorder {
  const recorder: Recorder = {
    started: [],
    closed: [],
    ports: new Map(),
    services: {
      async start(instance: SimInstance) {
        recorder.started.push({ instanceId: instance.instanceId, state: instance.state, privateIp: instance.privateIp });
        await gate;
        const server = http.createServer((_req, res) => res.end(instance.instanceId));
        const running = await listen(server, 0, instance.privateIp);
        recorder.ports.set(instance.instanceId, running.port);
        return {
          ports: [running.port],
          close: async () => {
            await running.close();
            recorder.closed.push(instance.instanceId);
          },
        };
      },
    },
  };
  return recorder;
}

let sim: Ec2Simulator;
let ec2: EC2Client;
let cmlImageId: string;

afterEach(async () => {
  ec2?.destroy();
  await sim?.close();
});

async function start(services: InstanceServices): Promise<void> {
  sim = await startEc2Simulator({ bootMs: 10, stopMs: 10, terminateMs: 10, instanceServices: services });
  ec2 = ec2Client(sim.url);
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-*'] }] }));
  cmlImageId = images.Images?.[0]?.ImageId as string;
}

async function launchOne(): Promise<string> {
  const out = await ec2.send(new RunInstancesCommand({ ImageId: cmlImageId, InstanceType: 't3.large', MinCount: 1, MaxCount: 1 }));
  return out.Instances?.[0]?.InstanceId as string;
}

async function get(host: string, port: number): Promise<string> {
  const response = await fetch(`http://${host}:${port}/`);
  return response.text();
}

function statusOk(instanceId: string): Promise<true> {
  return eventually(`${instanceId} status checks ok`, async () => {
    const out = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    return out.InstanceStatuses?.[0]?.InstanceStatus?.Status === 'ok' ? true : undefined;
  });
}

async function addresses(instanceId: string): Promise<{ privateIp: string; publicIp?: string }> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = out.Reservations?.[0]?.Instances?.[0];
  return { privateIp: instance?.PrivateIpAddress as string, publicIp: instance?.PublicIpAddress };
}

describe('EC2 simulator: instance services', () => {
  it('starts the service at running, on the private address and through the public one; closes it on stop; again on start; closes on terminate', async () => {
    const recorder = helloServices();
    await start(recorder.services);
    const id = await launchOne();
    await statusOk(id);
    expect(recorder.started).toEqual([{ instanceId: id, state: 'running', privateIp: sim.instance(id)?.privateIp }]);

    const port = recorder.ports.get(id) as number;
    const first = await addresses(id);
    expect(await get(first.privateIp, port)).toBe(id);
    expect(await get(first.publicIp as string, port)).toBe(id);

    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await eventually(`the service of ${id} to close`, () => recorder.closed.includes(id));
    await expect(get(first.privateIp, port)).rejects.toThrow();
    await expect(get(first.publicIp as string, port)).rejects.toThrow();
    await sim.waitForState(id, 'stopped');

    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    await statusOk(id);
    expect(recorder.started).toHaveLength(2);
    const second = await addresses(id);
    expect(second.privateIp).toBe(first.privateIp);
    const newPort = recorder.ports.get(id) as number;
    expect(await get(second.publicIp as string, newPort)).toBe(id);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await eventually('both services to close', () => recorder.closed.length === 2);
    await expect(get(second.privateIp, newPort)).rejects.toThrow();
  });

  it('closes a service that finishes starting after the instance was stopped', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const recorder = helloServices(gate);
    await start(recorder.services);
    const id = await launchOne();
    await eventually('the service to start', () => recorder.started.length === 1);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    open();
    await eventually(`the service of ${id} to close`, () => recorder.closed.includes(id));
    await sim.waitForState(id, 'stopped');
    expect(sim.instance(id)?.instanceStatus).toBe('not-applicable');
  });

  it('reports impaired status checks when the service fails to start', async () => {
    await start({ start: () => Promise.reject(new Error('controller disk full')) });
    const id = await launchOne();
    const status = await eventually('impaired status checks', async () => {
      const out = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
      return out.InstanceStatuses?.[0]?.InstanceStatus?.Status === 'impaired' ? out.InstanceStatuses[0] : undefined;
    });
    expect(status.InstanceStatus?.Details).toEqual([{ Name: 'reachability', Status: 'failed' }]);
    expect(status.InstanceState?.Name).toBe('running');
  });

  it('closes every running service when the simulator closes', async () => {
    const recorder = helloServices();
    await start(recorder.services);
    const ids = [await launchOne(), await launchOne()];
    for (const id of ids) await statusOk(id);
    ec2.destroy();
    await sim.close();
    expect([...recorder.closed].sort()).toEqual([...ids].sort());
  });
});
