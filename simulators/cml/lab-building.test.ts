/**
 * Building and inspecting a lab element by element over the raw API, as CML's own clients do: POST /labs,
 * nodes, interfaces, links, the topology in its three configuration modes, configuration extraction,
 * and a lab built this way behaving exactly like the same lab imported from YAML.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/eventually.ts';
import { parse as parseYaml } from 'yaml';
import { TWO_ROUTERS_YAML } from '../../test/support/simulators/cml-fixtures.ts';
import { startCmlSimulator, type CmlSimulator, type CmlSimulatorOptions } from './index.ts';

let sim: CmlSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw API answers, checked field by field by the assertions
type Json = any;
type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: Json; text: string }>;

async function start(options: CmlSimulatorOptions = {}): Promise<Call> {
  const s = (sim = await startCmlSimulator({ bootMs: 0, ...options }));
  const auth = await fetch(`${s.url}/api/v0/authenticate`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: 'admin' }) });
  const token = (await auth.json()) as string;
  return async (method, path, body) => {
    const res = await fetch(`${s.url}/api/v0${path}`, {
      method,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  };
}

async function converge(call: Call, labId: string): Promise<void> {
  await eventually(`lab ${labId} to converge`, async () => (await call('GET', `/labs/${labId}/check_if_converged`)).json === true, { intervalMs: 5 });
}

/** r1 and r2 (IOSv) linked Gi0/0 to Gi0/0, r1 with a day-0 configuration: TWO_ROUTERS_YAML, built by hand. */
async function buildTwoRouters(call: Call): Promise<{ labId: string; r1: string; r2: string; linkId: string }> {
  const lab = await call('POST', '/labs', { title: 'student-lab', description: '', notes: '' });
  const labId = lab.json.id as string;
  const r1 = (await call('POST', `/labs/${labId}/nodes`, { label: 'r1', node_definition: 'iosv', x: 0, y: 0, tags: ['serial:4001'], configuration: 'hostname r1' })).json.id as string;
  const r2 = (await call('POST', `/labs/${labId}/nodes`, { label: 'r2', node_definition: 'iosv', x: 200, y: 0, tags: ['serial:4002'] })).json.id as string;
  const i1 = (await call('POST', `/labs/${labId}/interfaces`, { node: r1 })).json.id as string;
  const i2 = (await call('POST', `/labs/${labId}/interfaces`, { node: r2 })).json.id as string;
  const linkId = (await call('POST', `/labs/${labId}/links`, { src_int: i1, dst_int: i2 })).json.id as string;
  return { labId, r1, r2, linkId };
}

describe('labs', () => {
  it('creates an empty lab with POST /labs (LabResponse), a default title, and changes it with PATCH', async () => {
    const call = await start();
    const made = await call('POST', '/labs', { title: 'built', description: 'by hand', notes: 'n' });
    expect(made).toMatchObject({ status: 200, json: { lab_title: 'built', lab_description: 'by hand', lab_notes: 'n', state: 'DEFINED_ON_CORE', node_count: 0, link_count: 0 } });
    expect(made.json.id).toMatch(/^[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/);
    expect((await call('POST', '/labs', {})).json.lab_title).toMatch(/^Lab at \w{3} \d{2}:\d{2} (AM|PM)$/);
    const patched = await call('PATCH', `/labs/${made.json.id}`, { title: 'renamed', notes: 'more' });
    expect(patched).toMatchObject({ status: 200, json: { lab_title: 'renamed', lab_description: 'by hand', lab_notes: 'more' } });
    expect(await call('POST', '/labs', { title: 'x', colour: 'red' })).toMatchObject({ status: 400, json: { code: 400 } });
    expect(await call('POST', '/labs', { title: '' })).toMatchObject({ status: 400, json: { code: 400 } });
    expect(await call('PATCH', '/labs/90f84e38-a71c-4d57-8d90-00fa8a197385', { title: 'x' })).toMatchObject({ status: 404, json: { code: 404 } });
  });

  it('lists labs with their data on /populate_lab_tiles, the only user on /users, and no resource pools', async () => {
    const call = await start();
    const { labId } = await buildTwoRouters(call);
    const tiles = (await call('GET', '/populate_lab_tiles')).json;
    expect(tiles.lab_tiles[labId]).toMatchObject({ id: labId, lab_title: 'student-lab', node_count: 2, link_count: 1 });
    expect(tiles.lab_tiles[labId].topology.nodes.map((n: { label: string }) => n.label)).toEqual(['r1', 'r2']);
    const users = (await call('GET', '/users')).json;
    expect(users).toEqual([expect.objectContaining({ username: 'admin', admin: true, labs: [labId] })]);
    expect(users[0].id).toBe((await call('GET', `/labs/${labId}`)).json.owner);
    // no resource pools and no snooped layer-3 addresses in a simulator without a network
    expect((await call('GET', '/resource_pools?data=true')).json).toEqual([]);
    expect((await call('GET', `/labs/${labId}/resource_pools`)).json).toEqual([]);
    expect((await call('GET', `/labs/${labId}/layer3_addresses`)).json).toEqual({});
  });
});

describe('nodes and interfaces', () => {
  it('adds a node ({id}), with its default interfaces when populate_interfaces=true', async () => {
    const call = await start();
    const labId = (await call('POST', '/labs', { title: 'n' })).json.id as string;
    const bare = await call('POST', `/labs/${labId}/nodes`, { label: 'r1', node_definition: 'iosv', x: 0, y: 0 });
    expect(bare.status).toBe(200);
    expect(Object.keys(bare.json)).toEqual(['id']);
    expect((await call('GET', `/labs/${labId}/nodes/${bare.json.id}/interfaces`)).json).toEqual([]);
    const full = await call('POST', `/labs/${labId}/nodes?populate_interfaces=true`, { label: 'r2', node_definition: 'iosv', x: 9, y: 9 });
    const interfaces = (await call('GET', `/labs/${labId}/nodes/${full.json.id}/interfaces?data=true`)).json;
    expect(interfaces.map((i: { label: string; type: string; slot: number | null }) => [i.label, i.type, i.slot])).toEqual([
      ['Loopback0', 'loopback', null],
      ['GigabitEthernet0/0', 'physical', 0],
      ['GigabitEthernet0/1', 'physical', 1],
      ['GigabitEthernet0/2', 'physical', 2],
      ['GigabitEthernet0/3', 'physical', 3],
    ]);
    expect(interfaces[1]).toMatchObject({ lab_id: labId, node: full.json.id, is_connected: false, state: 'DEFINED_ON_CORE', mac_address: null });
    const node = (await call('GET', `/labs/${labId}/nodes/${full.json.id}`)).json;
    expect(node).toMatchObject({ label: 'r2', node_definition: 'iosv', x: 9, y: 9, state: 'DEFINED_ON_CORE', configuration: null });
    expect((await call('GET', `/labs/${labId}`)).json).toMatchObject({ node_count: 2 });
  });

  it('refuses an unknown node definition, a bad body and an unknown lab', async () => {
    const call = await start();
    const labId = (await call('POST', '/labs', { title: 'n' })).json.id as string;
    const unknown = await call('POST', `/labs/${labId}/nodes`, { label: 'x', node_definition: 'nope', x: 0, y: 0 });
    expect(unknown).toMatchObject({ status: 400, json: { code: 400, description: 'Node definition not found: "nope".' } });
    expect(await call('POST', `/labs/${labId}/nodes`, { label: 'x', node_definition: 'iosv', x: 0 })).toMatchObject({ status: 400 });
    expect(await call('POST', `/labs/${labId}/nodes`, { label: 'x', node_definition: 'iosv', x: 0, y: 0, colour: 1 })).toMatchObject({ status: 400 });
    const missing = await call('POST', '/labs/90f84e38-a71c-4d57-8d90-00fa8a197385/nodes', { label: 'x', node_definition: 'iosv', x: 0, y: 0 });
    expect(missing).toMatchObject({ status: 404, json: { code: 404 } });
  });

  it('creates the next interface, or every slot up to the one asked for (an array from slot 0)', async () => {
    const call = await start();
    const labId = (await call('POST', '/labs', { title: 'i' })).json.id as string;
    const node = (await call('POST', `/labs/${labId}/nodes`, { label: 'sw', node_definition: 'iol-xe', x: 0, y: 0 })).json.id as string;
    const one = await call('POST', `/labs/${labId}/interfaces`, { node });
    expect(one.json).toMatchObject({ label: 'Ethernet0/0', slot: 0, type: 'physical', node, lab_id: labId, is_connected: false });
    const bulk = await call('POST', `/labs/${labId}/interfaces`, { node, slot: 2 });
    expect(bulk.json.map((i: { label: string; id: string }) => i.label)).toEqual(['Ethernet0/0', 'Ethernet0/1', 'Ethernet0/2']);
    expect(bulk.json[0].id).toBe(one.json.id);
    const next = await call('POST', `/labs/${labId}/interfaces`, { node });
    expect(next.json).toMatchObject({ label: 'Ethernet0/3', slot: 3 });
    expect((await call('GET', `/labs/${labId}/interfaces/${next.json.id}`)).json).toEqual(next.json);
    expect((await call('GET', `/labs/${labId}/interfaces/${next.json.id}/state`)).json).toEqual({ label: 'Ethernet0/3', state: 'DEFINED_ON_CORE' });
    expect(await call('POST', `/labs/${labId}/interfaces`, { node, slot: 16 })).toMatchObject({ status: 400, json: { code: 400 } });
    expect(await call('POST', `/labs/${labId}/interfaces`, { node: '90f84e38-a71c-4d57-8d90-00fa8a197385' })).toMatchObject({ status: 404 });
    expect(await call('GET', `/labs/${labId}/interfaces/90f84e38-a71c-4d57-8d90-00fa8a197385`)).toMatchObject({ status: 404 });
  });

  it('locks a node\'s physical configuration once it has run, and deletes it only when wiped, with its links', async () => {
    const call = await start();
    const { labId, r1, r2 } = await buildTwoRouters(call);
    await call('PUT', `/labs/${labId}/start`);
    await converge(call, labId);
    expect(await call('POST', `/labs/${labId}/interfaces`, { node: r1 })).toMatchObject({ status: 404, json: { description: expect.stringContaining('locked') } });
    expect(await call('DELETE', `/labs/${labId}/nodes/${r2}`)).toMatchObject({ status: 400, json: { code: 400 } });
    await call('PUT', `/labs/${labId}/stop`);
    await converge(call, labId);
    await call('PUT', `/labs/${labId}/wipe`);
    await converge(call, labId);
    expect((await call('DELETE', `/labs/${labId}/nodes/${r2}`)).status).toBe(204);
    expect((await call('GET', `/labs/${labId}`)).json).toMatchObject({ node_count: 1, link_count: 0 });
    expect(await call('DELETE', `/labs/${labId}/nodes/${r2}`)).toMatchObject({ status: 404 });
  });
});

describe('links', () => {
  it('links two interfaces ({id}), shows and deletes the link, and refuses a busy or loopback interface', async () => {
    const call = await start();
    const { labId, r1, linkId } = await buildTwoRouters(call);
    const link = (await call('GET', `/labs/${labId}/links/${linkId}`)).json;
    expect(link).toMatchObject({ id: linkId, lab_id: labId, label: 'r1-GigabitEthernet0/0<->r2-GigabitEthernet0/0', state: 'DEFINED_ON_CORE', node_a: r1 });
    expect((await call('GET', `/labs/${labId}/interfaces/${link.interface_a}`)).json.is_connected).toBe(true);
    const busy = await call('POST', `/labs/${labId}/links`, { src_int: link.interface_a, dst_int: link.interface_b });
    expect(busy).toMatchObject({ status: 400, json: { description: expect.stringContaining('already connected') } });
    const loop = (await call('POST', `/labs/${labId}/nodes?populate_interfaces=true`, { label: 'r3', node_definition: 'iosv', x: 0, y: 0 })).json.id;
    const [lo0, gi0] = (await call('GET', `/labs/${labId}/nodes/${loop}/interfaces`)).json as string[];
    expect(await call('POST', `/labs/${labId}/links`, { src_int: lo0, dst_int: gi0 })).toMatchObject({ status: 400 });
    expect(await call('POST', `/labs/${labId}/links`, { src_int: gi0, dst_int: '90f84e38-a71c-4d57-8d90-00fa8a197385' })).toMatchObject({ status: 404 });
    expect(await call('POST', `/labs/${labId}/links`, { src_int: gi0 })).toMatchObject({ status: 400 });
    expect((await call('DELETE', `/labs/${labId}/links/${linkId}`)).status).toBe(204);
    expect(await call('GET', `/labs/${labId}/links/${linkId}`)).toMatchObject({ status: 404 });
    expect((await call('GET', `/labs/${labId}/links`)).json).toEqual([]);
  });
});

describe('topology', () => {
  it('serves the JSON topology with server ids; configurations as the main text, every file, or none', async () => {
    const call = await start();
    const { labId, r1, r2, linkId } = await buildTwoRouters(call);
    const main = (await call('GET', `/labs/${labId}/topology`)).json;
    expect(main.lab).toMatchObject({ title: 'student-lab', version: '0.3.0' });
    expect(main.nodes.map((n: { id: string; configuration: unknown }) => [n.id, n.configuration])).toEqual([
      [r1, 'hostname r1'],
      [r2, null],
    ]);
    expect(main.nodes[0].interfaces).toEqual([{ id: expect.any(String), node: r1, label: 'GigabitEthernet0/0', type: 'physical', slot: 0, mac_address: null }]);
    expect(main.links).toEqual([expect.objectContaining({ id: linkId, node_a: r1, node_b: r2, interface_a: main.nodes[0].interfaces[0].id })]);
    const all = (await call('GET', `/labs/${labId}/topology?exclude_configurations=false`)).json;
    expect(all.nodes[0].configuration).toEqual([{ name: 'ios_config.txt', content: 'hostname r1' }]);
    const none = (await call('GET', `/labs/${labId}/topology?exclude_configurations=true`)).json;
    expect(none.nodes[0].configuration).toBeNull();
    expect((await call('GET', '/labs/90f84e38-a71c-4d57-8d90-00fa8a197385/topology')).status).toBe(404);
  });

  it('reads a node with its configuration the same three ways', async () => {
    const call = await start();
    const { labId, r1 } = await buildTwoRouters(call);
    expect((await call('GET', `/labs/${labId}/nodes/${r1}`)).json.configuration).toBe('hostname r1');
    expect((await call('GET', `/labs/${labId}/nodes/${r1}?exclude_configurations=false`)).json.configuration).toEqual([
      { name: 'ios_config.txt', content: 'hostname r1' },
    ]);
    expect((await call('GET', `/labs/${labId}/nodes/${r1}?exclude_configurations=true`)).json.configuration).toBeNull();
  });
});

describe('a lab built node by node runs exactly like the same lab imported', () => {
  it('starts, converges, extracts the same configurations and downloads a YAML that imports again', async () => {
    const call = await start({ bootMs: 40, jitter: 0 });
    const built = await buildTwoRouters(call);
    const imported = (await call('POST', '/import', TWO_ROUTERS_YAML)).json.id as string;

    const extracted: Record<string, Record<string, string>> = {};
    for (const labId of [built.labId, imported]) {
      expect((await call('PUT', `/labs/${labId}/start`)).status).toBe(204);
      await converge(call, labId);
      const nodes = (await call('GET', `/labs/${labId}/nodes?data=true`)).json as Array<{ id: string; label: string; state: string }>;
      expect(nodes.map((n) => n.state)).toEqual(['BOOTED', 'BOOTED']);
      extracted[labId] = {};
      for (const node of nodes) {
        expect(await call('PUT', `/labs/${labId}/nodes/${node.id}/extract_configuration`)).toMatchObject({ status: 200, json: {} });
        extracted[labId][node.label] = (await call('GET', `/labs/${labId}/nodes/${node.id}`)).json.configuration;
      }
    }
    expect(extracted[built.labId]).toEqual(extracted[imported]);
    expect(extracted[imported]!.r1).toMatch(/^hostname r1$/m);
    expect(extracted[imported]!.r2).toMatch(/^hostname r2$/m);

    const strip = (yaml: string) => {
      const t = parseYaml(yaml) as { nodes: Array<Record<string, unknown>>; links: Array<Record<string, unknown>> };
      return { nodes: t.nodes.map(({ id: _id, interfaces, ...rest }) => ({ ...rest, interfaces: (interfaces as unknown[]).length })), links: t.links.length };
    };
    const builtYaml = (await call('GET', `/labs/${built.labId}/download`)).text;
    expect(strip(builtYaml)).toEqual(strip((await call('GET', `/labs/${imported}/download`)).text));
    const again = await call('POST', '/import', builtYaml);
    expect(again).toMatchObject({ status: 200, json: { warnings: [] } });
    expect((await call('GET', `/labs/${again.json.id}`)).json).toMatchObject({ lab_title: 'student-lab', node_count: 2, link_count: 1 });

    const stats = (await call('GET', `/labs/${built.labId}/simulation_stats`)).json;
    expect(stats.nodes[built.r1]).toMatchObject({ is_running: true, cpu_usage: expect.any(Number), times: { QUEUED: expect.any(Number), BOOTED: expect.any(Number) } });
    expect(stats.links[built.linkId]).toMatchObject({ readpackets: expect.any(Number), drops: 0 });
  });

  it('refuses extraction with 400 before the node has booted and for nodes without a configuration', async () => {
    const call = await start({ bootMs: 60_000 });
    const { labId, r1 } = await buildTwoRouters(call);
    const early = await call('PUT', `/labs/${labId}/nodes/${r1}/extract_configuration`);
    expect(early).toMatchObject({ status: 400, json: { code: 400, description: expect.stringContaining('DEFINED_ON_CORE, not BOOTED') } });
    await call('PUT', `/labs/${labId}/start`);
    expect(await call('PUT', `/labs/${labId}/nodes/${r1}/extract_configuration`)).toMatchObject({ status: 400 });
    const ext = (await call('POST', `/labs/${labId}/nodes`, { label: 'nat', node_definition: 'external_connector', x: 0, y: 0 })).json.id;
    const refused = await call('PUT', `/labs/${labId}/nodes/${ext}/extract_configuration`);
    expect(refused).toMatchObject({ status: 400, json: { description: expect.stringContaining('does not support configuration extraction') } });
    expect(await call('PUT', `/labs/${labId}/nodes/90f84e38-a71c-4d57-8d90-00fa8a197385/extract_configuration`)).toMatchObject({ status: 404 });
  });
});
