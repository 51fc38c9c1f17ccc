import { DescribeImagesCommand, type EC2Client, RunInstancesCommand, paginateDescribeImages } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { startEc2Simulator, type Ec2Simulator, type Ec2SimulatorOptions } from './index.ts';
import { ec2Client, rejection } from '../../test/support/simulators/ec2.ts';

/** DescribeImages over the seeded AMI catalogue, through the real SDK. */

let sim: Ec2Simulator | undefined;
let ec2: EC2Client | undefined;

async function start(options: Ec2SimulatorOptions = {}): Promise<EC2Client> {
  sim = await startEc2Simulator({ bootMs: 0, ...options });
  ec2 = ec2Client(sim.url);
  return ec2;
}

afterEach(async () => {
  ec2?.destroy();
  await sim?.close();
});

const names = (out: { Images?: { Name?: string }[] }) => (out.Images ?? []).map((i) => i.Name as string);

describe('EC2 simulator: DescribeImages', () => {
  it('serves the default CML catalogue to Owners=self, with every field the SDK reads', async () => {
    const client = await start();
    const out = await client.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(names(out)).toEqual([
      'CML-2.6.1-b11-x86_64-20231019',
      'CML-2.7.0-b14-x86_64-20240423',
      'CML-2.7.2-b4-x86_64-20240820',
      'CML-2.8.0-b1-x86_64-20241126',
      'CML-2.8.1-b7-x86_64-20250215',
    ]);
    const image = out.Images?.[4];
    expect(image).toMatchObject({
      ImageId: expect.stringMatching(/^ami-[0-9a-f]{17}$/),
      State: 'available',
      OwnerId: '123456789012',
      CreationDate: '2025-02-15T08:20:59.000Z',
      Public: false,
      Architecture: 'x86_64',
      ImageType: 'machine',
      RootDeviceType: 'ebs',
      VirtualizationType: 'hvm',
      Tags: [{ Key: 'cml:version', Value: '2.8.1' }],
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: expect.objectContaining({ VolumeSize: 80, VolumeType: 'gp3' }) }],
    });
  });

  it('keeps image ids stable across simulator runs', async () => {
    const idsOf = async (client: EC2Client) =>
      (await client.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images?.map((i) => i.ImageId);
    const first = await idsOf(await start());
    ec2?.destroy();
    await sim?.close();
    const second = await idsOf(await start());
    expect(first).toHaveLength(5);
    expect(second).toEqual(first);
  });

  it('filters by name with * and ? wildcards, by state and by tag; owners by alias or account', async () => {
    const client = await start();
    const query = async (filters: { Name: string; Values: string[] }[], owners?: string[]) =>
      names(await client.send(new DescribeImagesCommand({ Owners: owners, Filters: filters })));
    expect(await query([{ Name: 'name', Values: ['CML-2.7.*'] }], ['self'])).toEqual([
      'CML-2.7.0-b14-x86_64-20240423',
      'CML-2.7.2-b4-x86_64-20240820',
    ]);
    expect(await query([{ Name: 'name', Values: ['CML-2.?.1-*'] }])).toEqual(['CML-2.6.1-b11-x86_64-20231019', 'CML-2.8.1-b7-x86_64-20250215']);
    expect(await query([{ Name: 'name', Values: ['CML-*'] }, { Name: 'state', Values: ['available'] }])).toHaveLength(5);
    expect(await query([{ Name: 'tag:cml:version', Values: ['2.8.0', '2.7.2'] }])).toEqual([
      'CML-2.7.2-b4-x86_64-20240820',
      'CML-2.8.0-b1-x86_64-20241126',
    ]);
    expect(await query([{ Name: 'name', Values: ['cml-*'] }])).toEqual([]); // case-sensitive, as on EC2
    expect(await query([], ['amazon'])).toEqual(['al2023-ami-2023.6.20250115.0-kernel-6.1-x86_64']);
    expect(await query([], ['099720109477'])).toEqual(['ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115']);
    expect(await query([{ Name: 'is-public', Values: ['true'] }])).toHaveLength(2);
    expect(await query([])).toHaveLength(7);

    const bad = await rejection(client.send(new DescribeImagesCommand({ Filters: [{ Name: 'flavour', Values: ['x'] }] })));
    expect(bad.name).toBe('InvalidParameterValue');
  });

  it('finds images by id and reports unknown or malformed ids as EC2 does', async () => {
    const client = await start();
    const all = await client.send(new DescribeImagesCommand({ Owners: ['self'] }));
    const id = all.Images?.[0]?.ImageId as string;
    const byId = await client.send(new DescribeImagesCommand({ ImageIds: [id] }));
    expect(byId.Images?.map((i) => i.ImageId)).toEqual([id]);

    const missing = await rejection(client.send(new DescribeImagesCommand({ ImageIds: ['ami-0123456789abcdef0'] })));
    expect(missing.name).toBe('InvalidAMIID.NotFound');
    expect(missing.message).toBe("The image id '[ami-0123456789abcdef0]' does not exist");
    const malformed = await rejection(client.send(new DescribeImagesCommand({ ImageIds: ['CML-2.8.1'] })));
    expect(malformed.name).toBe('InvalidAMIID.Malformed');
  });

  it('pages with MaxResults (paginateDescribeImages)', async () => {
    const client = await start();
    const pages: string[][] = [];
    for await (const page of paginateDescribeImages({ client, pageSize: 5 }, {})) pages.push(names(page));
    expect(pages.map((p) => p.length)).toEqual([5, 2]);
    expect(new Set(pages.flat()).size).toBe(7);
  });

  it('serves a custom catalogue and refuses to launch an image that is not available', async () => {
    const client = await start({
      images: [
        { name: 'CML-2.9.0-b3-x86_64-20250601', imageId: 'ami-0aaaaaaaaaaaaaaaa', tags: { 'cml:version': '2.9.0' } },
        { name: 'CML-3.0.0-b1-x86_64-20250901', imageId: 'ami-0bbbbbbbbbbbbbbbb', state: 'pending' },
      ],
    });
    const out = await client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'state', Values: ['pending'] }] }));
    expect(out.Images?.map((i) => i.ImageId)).toEqual(['ami-0bbbbbbbbbbbbbbbb']);
    const refused = await rejection(
      client.send(new RunInstancesCommand({ ImageId: 'ami-0bbbbbbbbbbbbbbbb', InstanceType: 't3.large', MinCount: 1, MaxCount: 1 })),
    );
    expect(refused.name).toBe('InvalidAMIID.Unavailable');
    const launched = await client.send(
      new RunInstancesCommand({ ImageId: 'ami-0aaaaaaaaaaaaaaaa', InstanceType: 't3.large', MinCount: 1, MaxCount: 1 }),
    );
    expect(launched.Instances?.[0]?.ImageId).toBe('ami-0aaaaaaaaaaaaaaaa');
  });
});
