/**
 * The CML client's configuration and topology calls against the CML simulator: extracting a booted
 * node's running configuration, reading a node's configuration, the lab's JSON topology, and the
 * schemas that reduce CML's three configuration shapes to the main configuration's text.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startCmlSimulator, type CmlSimulator } from '../../../simulators/cml/index.ts';
import { MIXED_LAB_YAML, TWO_ROUTERS_YAML } from '../../../test/support/simulators/cml-fixtures.ts';
import { CmlClient } from './client.ts';
import { CmlApiError } from './errors.ts';
import { LabTopologySchema, MainConfigurationSchema } from './schemas.ts';

let sim: CmlSimulator | undefined;
let client: CmlClient | undefined;

async function setup(bootMs = 40): Promise<CmlClient> {
  sim = await startCmlSimulator({ bootMs, jitter: 0 });
  client = new CmlClient({ baseUrl: sim.url, username: 'admin', password: 'admin', retry: { baseDelayMs: 5, maxDelayMs: 50 } });
  return client;
}

afterEach(async () => {
  await client?.close();
  await sim?.close();
  client = undefined;
  sim = undefined;
});

const wait = { timeoutMs: 5_000, intervalMs: 10 };

async function bootedLab(cml: CmlClient, yaml = TWO_ROUTERS_YAML): Promise<{ labId: string; byLabel: Record<string, string> }> {
  const { id } = await cml.importLab(yaml);
  await cml.startLab(id);
  await cml.waitForConverged(id, wait);
  const byLabel = Object.fromEntries((await cml.listNodes(id)).map((n) => [n.label, n.id]));
  return { labId: id, byLabel };
}

describe('extractConfiguration and nodeConfiguration', () => {
  it('reads the day-0 configuration, then the running configuration extracted from the booted node', async () => {
    const cml = await setup();
    const { labId, byLabel } = await bootedLab(cml);
    const r1 = byLabel.r1!;
    expect(await cml.nodeConfiguration(labId, r1)).toBe('hostname r1');
    expect(await cml.nodeConfiguration(labId, byLabel.r2!)).toBeNull();

    await cml.extractConfiguration(labId, r1);
    const running = await cml.nodeConfiguration(labId, r1);
    expect(running).toMatch(/^hostname r1$/m);
    expect(running).toContain('interface GigabitEthernet0/0\n');
    expect(running?.trimEnd().endsWith('end')).toBe(true);

    await cml.extractConfiguration(labId, byLabel.r2!);
    expect(await cml.nodeConfiguration(labId, byLabel.r2!)).toMatch(/^hostname r2$/m);

    // The download carries the extracted configuration, and imports again.
    const yaml = await cml.downloadLab(labId);
    const downloaded = parseYaml(yaml) as { nodes: Array<{ label: string; configuration: string }> };
    expect(downloaded.nodes.find((n) => n.label === 'r1')?.configuration).toBe(running);
    const again = await cml.importLab(yaml);
    expect(again.warnings).toEqual([]);
  });

  it('is deterministic: the same lab gives the same running configurations', async () => {
    const cml = await setup();
    const configs: Array<string | null> = [];
    for (let i = 0; i < 2; i++) {
      const { labId, byLabel } = await bootedLab(cml, MIXED_LAB_YAML);
      await cml.extractConfiguration(labId, byLabel.edge!);
      configs.push(await cml.nodeConfiguration(labId, byLabel.edge!));
    }
    expect(configs[0]).toMatch(/^hostname edge$/m);
    expect(configs[1]).toBe(configs[0]);
  });

  it('surfaces CML\'s 400 when the node is not booted or has no configuration', async () => {
    const cml = await setup(60_000);
    const { id } = await cml.importLab(MIXED_LAB_YAML);
    const nodes = await cml.listNodes(id);
    const edge = nodes.find((n) => n.label === 'edge')!;
    const early = await cml.extractConfiguration(id, edge.id).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(CmlApiError);
    expect(early).toMatchObject({ status: 400, isBadRequest: true, description: expect.stringContaining('not BOOTED') });
    const nat = nodes.find((n) => n.node_definition === 'external_connector')!;
    await expect(cml.extractConfiguration(id, nat.id)).rejects.toMatchObject({ status: 400 });
    await expect(cml.nodeConfiguration(id, '90f84e38-a71c-4d57-8d90-00fa8a197385')).rejects.toMatchObject({ status: 400 });
  });

  it('re-authenticates once when the token is revoked before an extraction', async () => {
    const cml = await setup();
    const { labId, byLabel } = await bootedLab(cml);
    sim!.faults.expireTokens();
    await cml.extractConfiguration(labId, byLabel.r1!);
    expect(await cml.nodeConfiguration(labId, byLabel.r1!)).toMatch(/^hostname r1$/m);
  });

  it('reads the main file of named configurations', async () => {
    const cml = await setup();
    const yaml = `lab: {version: 0.3.0, title: named}
nodes:
  - id: n0
    label: srv
    node_definition: ubuntu
    x: 0
    y: 0
    configuration:
      - {name: user-data, content: "#cloud-config\\nhostname: srv\\n"}
      - {name: meta-data, content: "instance-id: srv"}
links: []
`;
    const { labId, byLabel } = await bootedLab(cml, yaml);
    expect(await cml.nodeConfiguration(labId, byLabel.srv!)).toBe('#cloud-config\nhostname: srv\n');
  });
});

describe('labTopology', () => {
  it('gives the nodes with server ids, definitions, configurations and interfaces, and the links between them', async () => {
    const cml = await setup();
    const { id } = await cml.importLab(TWO_ROUTERS_YAML);
    const topology = await cml.labTopology(id);
    const nodes = await cml.listNodes(id);
    expect(topology.lab).toEqual({ title: 'student-lab', description: '', notes: '', version: '0.2.2' });
    expect(topology.nodes.map((n) => [n.id, n.label, n.node_definition, n.configuration, n.tags])).toEqual([
      [nodes[0]!.id, 'r1', 'iosv', 'hostname r1', ['serial:4001']],
      [nodes[1]!.id, 'r2', 'iosv', null, ['serial:4002']],
    ]);
    expect(topology.nodes[0]!.interfaces).toEqual([{ id: expect.any(String), label: 'GigabitEthernet0/0', type: 'physical', slot: 0 }]);
    expect(topology.links).toEqual([
      {
        id: expect.any(String),
        label: 'r1-GigabitEthernet0/0<->r2-GigabitEthernet0/0',
        interface_a: topology.nodes[0]!.interfaces[0]!.id,
        interface_b: topology.nodes[1]!.interfaces[0]!.id,
        node_a: nodes[0]!.id,
        node_b: nodes[1]!.id,
      },
    ]);
    await expect(cml.labTopology('90f84e38-a71c-4d57-8d90-00fa8a197385')).rejects.toMatchObject({ status: 404, isNotFound: true });
  });
});

describe('configuration schemas', () => {
  it.each([
    ['a string', 'hostname a', 'hostname a'],
    ['null', null, null],
    ['nothing', undefined, null],
    ['one file', { name: 'x.txt', content: 'c' }, 'c'],
    ['files, main first', [{ name: 'ios_config.txt', content: 'main' }, { name: 'extra', content: 'e' }], 'main'],
    ['files, "Main" named', [{ name: 'extra', content: 'e' }, { name: 'Main', content: 'main' }], 'main'],
    ['a file without content', [{ name: 'x' }], null],
  ])('reduces %s to the main text', (_name, value, expected) => {
    expect(MainConfigurationSchema.parse(value)).toBe(expected);
  });

  it('derives a link\'s nodes from its interfaces when the topology leaves them out', () => {
    const topology = LabTopologySchema.parse({
      lab: { title: 't' },
      nodes: [
        { id: 'a', label: 'A', node_definition: 'iosv', interfaces: [{ id: 'ia', type: 'physical', slot: 0 }] },
        { id: 'b', label: 'B', node_definition: 'iosv', configuration: [{ name: 'Main', content: 'x' }], interfaces: [{ id: 'ib', label: 'Gi0/0' }] },
      ],
      links: [{ id: 'l', interface_a: 'ia', interface_b: 'ib' }],
    });
    expect(topology.links[0]).toMatchObject({ node_a: 'a', node_b: 'b', label: null });
    expect(topology.nodes[1]).toMatchObject({ configuration: 'x', tags: [], interfaces: [{ id: 'ib', label: 'Gi0/0', type: 'physical', slot: null }] });
  });
});
