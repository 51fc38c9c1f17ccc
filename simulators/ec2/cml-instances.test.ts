import { DescribeImagesCommand, DescribeInstanceStatusCommand, type EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { cmlInstanceServices } from './cml-instances.ts';
import { startEc2Simulator, type Ec2Simulator } from './index.ts';
import { eventually } from '../../test/support/eventually.ts';
import { ec2Client } from '../../test/support/simulators/ec2.ts';

/** The EC2 simulator with a simulated CML controller on every running instance. */

let sim: Ec2Simulator | undefined;
let ec2: EC2Client | undefined;

afterEach(async () => {
  ec2?.destroy();
  await sim?.close();
});

async function authenticate(baseUrl: string): Promise<Response> {
  return fetch(`${baseUrl}/api/v0/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'admin' }),
  });
}

describe('cmlInstanceServices', () => {
  it('serves a CML controller sized like the instance on its private and public address while it runs', async () => {
    sim = await startEc2Simulator({ bootMs: 10, stopMs: 10, instanceServices: cmlInstanceServices({ port: 18443, bootMs: 0 }) });
    ec2 = ec2Client(sim.url);
    const client = ec2;
    const images = await client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-2.8.1-*'] }] }));
    const out = await client.send(
      new RunInstancesCommand({ ImageId: images.Images?.[0]?.ImageId, InstanceType: 'm5zn.metal', MinCount: 1, MaxCount: 1 }),
    );
    const id = out.Instances?.[0]?.InstanceId as string;
    await eventually('status checks ok', async () => {
      const status = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
      return status.InstanceStatuses?.[0]?.InstanceStatus?.Status === 'ok' ? true : undefined;
    });
    const instance = sim.instance(id);
    const privateUrl = `http://${instance?.privateIp}:18443`;
    const login = await authenticate(privateUrl);
    expect(login.status).toBe(200);
    const token = (await login.json()) as string;
    const stats = (await (await fetch(`${privateUrl}/api/v0/system_stats`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      all: { cpu: { count: number }; memory: { total: number } };
    };
    expect(stats.all.cpu.count).toBe(48);
    expect(stats.all.memory.total).toBe(192 * 1024 ** 3);
    expect((await authenticate(`http://${instance?.publicIp}:18443`)).status).toBe(200);

    await client.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await sim.waitForState(id, 'stopped');
    await expect(authenticate(privateUrl)).rejects.toThrow();
  });
});
