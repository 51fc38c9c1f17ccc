/**
 * The CML client driven against the CML simulator over real HTTP: authentication, import validation,
 * the lab lifecycle, node states, external access, system statistics and licensing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCmlSimulator, type CmlSimulator, type CmlSimulatorOptions } from '../../../simulators/cml/index.ts';
import {
  LINK_TO_MISSING_INTERFACE_YAML,
  LINK_TO_MISSING_NODE_YAML,
  MIXED_LAB_YAML,
  TWO_ROUTERS_YAML,
  UNKNOWN_NODE_DEFINITION_YAML,
  singleNodeYaml,
} from '../../../test/support/simulators/cml-fixtures.ts';
import { CmlClient, type CmlClientOptions } from './client.ts';
import { CmlApiError, CmlAuthenticationError, CmlLicenseError } from './errors.ts';

let sim: CmlSimulator;
let client: CmlClient;
const clients: CmlClient[] = [];

async function setup(simOptions: CmlSimulatorOptions = {}, clientOptions: Partial<CmlClientOptions> = {}): Promise<void> {
  sim = await startCmlSimulator({ bootMs: 80, ...simOptions });
  client = newClient(clientOptions);
}

function newClient(options: Partial<CmlClientOptions> = {}): CmlClient {
  const c = new CmlClient({
    baseUrl: sim.url,
    username: 'admin',
    password: 'admin',
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
    ...options,
  });
  clients.push(c);
  return c;
}

const wait = { timeoutMs: 5_000, intervalMs: 20 };
const activeTokens = () => sim.state().activeTokens as number;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sim?.close();
});

describe('authentication', () => {
  beforeEach(() => setup());

  it('gets a token lazily and reuses it for later calls', async () => {
    expect(activeTokens()).toBe(0);
    await client.listLabs();
    await client.systemStats();
    expect(activeTokens()).toBe(1);
  });

  it('rejects bad credentials with CmlAuthenticationError carrying 403 and CML description', async () => {
    const bad = newClient({ password: 'wrong' });
    const error = await bad.listLabs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmlAuthenticationError);
    expect(error).toMatchObject({ status: 403, code: 403, description: 'Authentication failed!' });
    expect(activeTokens()).toBe(0);
  });

  it('accepts other credentials when the simulator is started with them', async () => {
    await sim.close();
    await setup({ username: 'lcm', password: 's3cret' }, { username: 'lcm', password: 's3cret' });
    await expect(client.listLabs()).resolves.toEqual([]);
    await expect(newClient().listLabs()).rejects.toBeInstanceOf(CmlAuthenticationError);
  });

  it('re-authenticates transparently once every token is revoked mid-run', async () => {
    await client.listLabs();
    const firstToken = await client.authenticate();
    expect(sim.faults.expireTokens()).toBeGreaterThan(0);
    expect(activeTokens()).toBe(0);
    await expect(client.listLabs()).resolves.toEqual([]);
    expect(activeTokens()).toBe(1);
    expect(await client.authenticate()).not.toBe(firstToken);
  });

  it('shares one re-authentication between concurrent calls that hit the 401', async () => {
    await client.listLabs();
    sim.faults.expireTokens();
    await Promise.all([client.listLabs(), client.systemStats(), client.systemHealth(), client.nodeDefinitions()]);
    expect(activeTokens()).toBe(1);
  });

  it('keeps working when tokens live shorter than a second', async () => {
    sim.faults.shortTokenTtl(120);
    await client.authenticate();
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 600) {
      await client.listLabs();
      calls += 1;
    }
    expect(calls).toBeGreaterThan(3);
  });
});

describe('topology import', () => {
  beforeEach(() => setup());

  it('imports a valid topology and returns the lab id with no warnings', async () => {
    const result = await client.importLab(TWO_ROUTERS_YAML);
    expect(result.id).toMatch(/^[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/);
    expect(result.warnings).toEqual([]);
    const lab = await client.getLab(result.id);
    expect(lab).toMatchObject({ id: result.id, lab_title: 'student-lab', state: 'DEFINED_ON_CORE', node_count: 2, link_count: 1 });
    expect(await client.listLabs()).toEqual([result.id]);
  });

  it('lets ?title= override the title of the YAML', async () => {
    const { id } = await client.importLab(TWO_ROUTERS_YAML, { title: 'session-42' });
    expect((await client.getLab(id)).lab_title).toBe('session-42');
  });

  it.each([
    ['an unknown node definition', UNKNOWN_NODE_DEFINITION_YAML, /Node definition not found: "iosv-does-not-exist"/],
    ['a link to a missing interface', LINK_TO_MISSING_INTERFACE_YAML, /Link "l0" refers to an interface that does not exist on node "r2": i2="i7"/],
    ['a link to a missing node', LINK_TO_MISSING_NODE_YAML, /Link "l0" refers to a node that does not exist: n2="n9"/],
    ['an unknown schema version', 'lab: {version: 9.9.9}\nnodes: []\nlinks: []\n', /unsupported schema version "9.9.9"/],
    ['a node without coordinates', 'lab: {version: 0.2.2}\nnodes: [{id: n0, label: a, node_definition: alpine}]\n', /nodes\.0\.x/],
    ['text that is not YAML', 'lab: [unclosed', /not valid YAML/],
  ])('rejects %s with 400 {code, description}', async (_what, yaml, description) => {
    const error = await client.importLab(yaml).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmlApiError);
    expect(error).toMatchObject({ status: 400, code: 400 });
    expect((error as CmlApiError).description).toMatch(description);
    expect(await client.listLabs()).toEqual([]);
  });

  it('warns about PATty tags outside the port range or reused, and still imports', async () => {
    const yaml = `lab: {version: 0.2.2, title: w}
nodes:
  - {id: n0, label: a, node_definition: alpine, x: 0, y: 0, tags: ["serial:9500", "serial:4001"]}
  - {id: n1, label: b, node_definition: alpine, x: 0, y: 0, tags: ["serial:4001"]}
links: []
`;
    const result = await client.importLab(yaml);
    expect(result.warnings).toHaveLength(2);
    expect(result.warnings[0]).toContain('serial:9500');
    expect(result.warnings[1]).toContain('already used by `a`');
    expect(await client.listLabs()).toEqual([result.id]);
  });

  it('downloads the topology it imported, with server-side labels filled in', async () => {
    const { id } = await client.importLab(MIXED_LAB_YAML);
    const yaml = await client.downloadLab(id);
    expect(yaml).toContain('node_definition: iol-xe');
    expect(yaml).toContain('label: Ethernet0/1');
    expect(yaml).toContain('vnc:4103');
  });
});

describe('lab lifecycle', () => {
  beforeEach(() => setup({ bootMs: 80 }));

  it('import → start → all nodes BOOTED → converged → stop → wipe → delete', async () => {
    const { id } = await client.importLab(MIXED_LAB_YAML);
    expect(await client.checkIfConverged(id)).toBe(true);

    await client.startLab(id);
    expect(await client.labState(id)).toBe('STARTED');
    expect(await client.checkIfConverged(id)).toBe(false);
    await client.waitForConverged(id, wait);
    const nodes = await client.listNodes(id);
    expect(nodes.map((n) => [n.label, n.state, n.boot_progress])).toEqual([
      ['edge', 'BOOTED', 'Booted'],
      ['host', 'BOOTED', 'Booted'],
      ['nat', 'BOOTED', 'Booted'],
    ]);
    expect(nodes[0]!.operational?.serial_consoles).toHaveLength(1);
    expect(nodes[1]!.operational?.vnc_key).toMatch(/^[\da-f-]{36}$/);
    const elements = await client.labElementState(id);
    expect(Object.values(elements.links)).toEqual(['STARTED', 'STARTED']);

    const running = await client.deleteLab(id).catch((e: unknown) => e);
    expect(running).toMatchObject({ status: 400, code: 400 });
    expect(await client.wipeLab(id).catch((e: unknown) => e)).toMatchObject({ status: 400 });

    await client.stopLab(id);
    await client.waitForConverged(id, wait);
    expect(await client.labState(id)).toBe('STOPPED');
    expect((await client.listNodes(id)).every((n) => n.state === 'STOPPED')).toBe(true);
    expect(await client.deleteLab(id).catch((e: unknown) => e)).toMatchObject({ status: 400 });

    await client.wipeLab(id);
    await client.waitForConverged(id, wait);
    expect(await client.labState(id)).toBe('DEFINED_ON_CORE');
    await client.deleteLab(id);
    expect(await client.listLabs()).toEqual([]);
    const gone = await client.getLab(id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(CmlApiError);
    expect((gone as CmlApiError).isNotFound).toBe(true);
  });

  it('walks each node through QUEUED/STARTED ("Booting") before BOOTED', async () => {
    await sim.close();
    await setup({ bootMs: 400, jitter: 0 });
    const { id } = await client.importLab(singleNodeYaml('iosv', 'r1'));
    await client.startLab(id);
    const seen: string[] = [];
    while (!(await client.checkIfConverged(id))) {
      const [node] = await client.listNodes(id);
      if (seen.at(-1) !== node!.state) seen.push(node!.state);
      if (node!.state === 'STARTED') expect(node!.boot_progress).toBe('Booting');
    }
    const [node] = await client.listNodes(id);
    if (seen.at(-1) !== node!.state) seen.push(node!.state);
    expect(seen).toContain('STARTED');
    expect(seen.at(-1)).toBe('BOOTED');
    const order = ['QUEUED', 'STARTED', 'BOOTED'];
    expect(seen.map((s) => order.indexOf(s))).toEqual([...seen.map((s) => order.indexOf(s))].sort());
  });

  it('tears a running lab down in the order CML requires with teardownLab', async () => {
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    await client.startLab(id);
    await client.waitForConverged(id, wait);
    await client.teardownLab(id, wait);
    expect(await client.listLabs()).toEqual([]);
  });

  it('exposes external access from PATty tags, and binds the ports while the nodes run', async () => {
    const { id } = await client.importLab(MIXED_LAB_YAML);
    const access = await client.externalAccess(id);
    expect(access.map((a) => ({ label: a.label, serial: a.serial, vnc: a.vnc, pat: a.pat }))).toEqual([
      { label: 'edge', serial: [{ port: 4101, line: 0 }], vnc: null, pat: [{ protocol: 'tcp', port: 4180, insidePort: 80 }] },
      { label: 'host', serial: [{ port: 4102, line: 0 }], vnc: 4103, pat: [] },
      { label: 'nat', serial: [], vnc: null, pat: [] },
    ]);
    const patty = async () => ((await (await fetch(`${sim.url}/_sim/pat`)).json()) as { bindings: Array<{ port: number }> }).bindings;
    expect(await patty()).toEqual([]);
    await client.startLab(id);
    await client.waitForConverged(id, wait);
    expect((await patty()).map((b) => b.port)).toEqual([4101, 4102, 4103, 4180]);
    await client.stopLab(id);
    await client.waitForConverged(id, wait);
    expect(await patty()).toEqual([]);
  });

  it('replaces node tags with PATCH and the new ports apply at the next start', async () => {
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    const [r1] = await client.listNodes(id);
    const updated = await client.updateNodeTags(id, r1!.id, ['serial:5001', 'lab:r1']);
    expect(updated.tags).toEqual(['serial:5001', 'lab:r1']);
    expect((await client.externalAccess(id))[0]!.serial).toEqual([{ port: 5001, line: 0 }]);
  });

  it('starts and stops single nodes', async () => {
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    const [r1, r2] = await client.listNodes(id);
    await client.startNode(id, r1!.id);
    await client.waitForConverged(id, wait);
    expect((await client.getNode(id, r1!.id)).state).toBe('BOOTED');
    expect((await client.getNode(id, r2!.id)).state).toBe('DEFINED_ON_CORE');
    expect(await client.labState(id)).toBe('STARTED');
    await client.stopNode(id, r1!.id);
    await client.waitForConverged(id, wait);
    expect(await client.labState(id)).toBe('STOPPED');
  });

  it('answers 400 for an unknown node and 404 for an unknown lab', async () => {
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    expect(await client.getNode(id, '90f84e38-a71c-4d57-8d90-00fa8a197385').catch((e: unknown) => e)).toMatchObject({ status: 400 });
    expect(await client.startLab('90f84e38-a71c-4d57-8d90-00fa8a197385').catch((e: unknown) => e)).toMatchObject({
      status: 404,
      code: 404,
    });
  });

  it('boots immediately with bootMs 0 (zero-delay simulators)', async () => {
    await sim.close();
    await setup({ bootMs: 0 });
    const { id } = await client.importLab(MIXED_LAB_YAML);
    await client.startLab(id);
    expect(await client.checkIfConverged(id)).toBe(true);
    expect((await client.listNodes(id)).every((n) => n.state === 'BOOTED')).toBe(true);
  });
});

describe('system information, statistics and health', () => {
  beforeEach(() => setup({ bootMs: 40, capacity: { cpus: 16, memoryGb: 64, diskGb: 200 } }));

  it('reports version and readiness without authentication', async () => {
    const info = await client.systemInformation();
    expect(info).toMatchObject({ version: '2.9.1+build.7', ready: true });
    expect(activeTokens()).toBe(0);
    expect(await client.isSystemReady()).toBe(true);
  });

  it('lists node and image definitions', async () => {
    const definitions = await client.nodeDefinitions();
    expect(definitions.map((d) => d.id)).toEqual(expect.arrayContaining(['iosv', 'iol-xe', 'alpine', 'external_connector']));
    expect(definitions.find((d) => d.id === 'iosv')?.boot?.timeout).toBeGreaterThan(0);
    const images = await client.imageDefinitions();
    expect(images.find((i) => i.node_definition_id === 'iosv')).toMatchObject({ id: 'iosv-159-3-m9' });
  });

  it('reflects the running nodes in system_stats: more booted nodes, more memory and CPUs', async () => {
    const compute = async () => Object.values((await client.systemStats()).computes)[0]!.stats;
    const idle = await compute();
    expect(idle.cpu.count).toBe(16);
    expect(idle.memory.total).toBe(64 * 1024 ** 3);
    expect(idle.dominfo).toMatchObject({ running_nodes: 0, allocated_cpus: 0, allocated_memory: 0 });

    const a = await client.importLab(TWO_ROUTERS_YAML);
    const b = await client.importLab(MIXED_LAB_YAML);
    await client.startLab(a.id);
    await client.waitForConverged(a.id, wait);
    const one = await compute();
    expect(one.dominfo).toMatchObject({ total_nodes: 5, running_nodes: 2, allocated_cpus: 2, allocated_memory: 2 * 512 * 1024 });
    expect(one.memory.used).toBe(idle.memory.used + 2 * 512 * 1024 ** 2);

    await client.startLab(b.id);
    await client.waitForConverged(b.id, wait);
    const both = await compute();
    expect(both.dominfo?.running_nodes).toBe(5);
    expect(both.dominfo?.allocated_cpus).toBe(4); // the external connector has no vCPU
    expect(both.memory.used).toBeGreaterThan(one.memory.used);
    expect(both.cpu.percent).toBeGreaterThan(idle.cpu.percent);

    await client.stopLab(a.id);
    await client.stopLab(b.id);
    await client.waitForConverged(a.id, wait);
    await client.waitForConverged(b.id, wait);
    const stopped = await compute();
    expect(stopped.dominfo?.running_nodes).toBe(0);
    expect(stopped.memory.used).toBe(idle.memory.used);
    expect(stopped.disk.used).toBeGreaterThan(idle.disk.used); // stopped nodes keep their disks until wiped
  });

  it('reports health with the licence state', async () => {
    const health = await client.systemHealth();
    expect(health).toMatchObject({ valid: true, is_licensed: false, is_enterprise: true });
    expect(Object.values(health.computes)[0]).toMatchObject({ valid: true, admission_state: 'READY' });
  });
});

describe('licensing', () => {
  beforeEach(() => setup({ licensing: { registrationMs: 120 } }));

  it('registers asynchronously: IN_PROGRESS, then COMPLETED and IN_COMPLIANCE; then deregisters', async () => {
    expect((await client.licensing()).registration.status).toBe('UNREGISTERED');
    await client.registerLicense('ODJhN2QzYTgtZjY3YS00ZjBmLWE1MTMtYmQwOGVhMzc1N2I');
    expect((await client.licensing()).registration.status).toBe('IN_PROGRESS');
    const conflict = await client.registerLicense('T0tFTg').catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(CmlApiError);
    expect((conflict as CmlApiError).isConflict).toBe(true);

    const status = await client.waitForLicenseRegistration(wait);
    expect(status.registration.status).toBe('COMPLETED');
    expect(status.authorization.status).toBe('IN_COMPLIANCE');
    expect(status.product_license).toEqual({ active: 'CML_Enterprise', is_enterprise: true });
    expect((await client.systemHealth()).is_licensed).toBe(true);

    expect(await client.deregisterLicense()).toBe('deregistered');
    expect((await client.licensing()).registration.status).toBe('UNREGISTERED');
    expect(await client.deregisterLicense().catch((e: unknown) => e)).toMatchObject({ status: 400 });
  });

  it('rejects a malformed token with 400', async () => {
    expect(await client.registerLicense('not a token!').catch((e: unknown) => e)).toMatchObject({ status: 400, code: 400 });
  });

  it('surfaces a failed registration as CmlLicenseError', async () => {
    sim.faults.failLicenseRegistration();
    await client.registerLicense('T0tFTg');
    const error = await client.waitForLicenseRegistration(wait).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmlLicenseError);
    expect(error).toMatchObject({ registrationStatus: 'FAILED' });
  });

  it('reports a personal licence, limited to 20 running nodes', async () => {
    await sim.close();
    await setup({ bootMs: 0, licensing: { product: 'CML_Personal', registered: true } });
    expect((await client.licensing()).product_license).toEqual({ active: 'CML_Personal', is_enterprise: false });
    const nodes = Array.from({ length: 21 }, (_, i) => `  - {id: n${i}, label: s${i}, node_definition: server, x: 0, y: 0}`).join('\n');
    const { id } = await client.importLab(`lab: {version: 0.2.2}\nnodes:\n${nodes}\nlinks: []\n`);
    const error = await client.startLab(id).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400 });
    expect((error as CmlApiError).description).toContain('licensed node limit of 20');
  });
});
