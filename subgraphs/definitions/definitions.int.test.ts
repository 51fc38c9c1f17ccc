import { MemoryCoordinationStore } from '../../core/adapters/memory/memory-coordination.ts';
import { CoordinationKeys } from '../../core/ports/coordination.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Scope } from '../../core/auth/identity.ts';
import { LAB_YAML, onlyError, openStorage, startHarness, type Harness, type StorageKind } from '../../test/support/subgraph-harness.ts';
import { startDefinitionsSubgraph } from './server.ts';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateDefinitionInput!) {
    createDefinition(input: $input) {
      id name version status revision bootLeadTimeMinutes licenseAffinity
      resourceRequirements { cpuCores memoryGb storageGb nodeCount }
      portTemplate { name protocol }
      cmlRequirements { minVersion maxVersion nodeDefinitions }
      createdAt
    }
  }
`;
const COUNT = `{ definitions(first: 0) { totalCount } }`;

const input = (over: Record<string, unknown> = {}) => ({
  name: 'ccna-lab',
  version: '1.0.0',
  labYaml: LAB_YAML,
  resourceRequirements: { cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 2 },
  portTemplate: [
    { name: 'r1-serial', protocol: 'serial' },
    { name: 'r2-vnc', protocol: 'VNC' },
  ],
  ...over,
});

for (const kind of ['memory', 'mongodb'] as StorageKind[]) {
  describe(`definitions subgraph over HTTP (${kind})`, () => {
    let h: Harness;
    const coordination = new MemoryCoordinationStore();
    beforeAll(async () => {
      h = await startHarness((deps) => startDefinitionsSubgraph(deps), await openStorage(kind, inject('mongoUri')), { coordination });
    });
    afterAll(() => h.close());

    const count = async () => ((await h.call<{ definitions: { totalCount: number } }>(COUNT)).data?.definitions.totalCount ?? -1);

    it('creates a definition with validated and normalised fields', async () => {
      const r = await h.call<{ createDefinition: Record<string, unknown> }>(CREATE, { input: input() });
      expect(r.errors).toBeUndefined();
      const d = r.data?.createDefinition;
      expect(d).toMatchObject({
        name: 'ccna-lab',
        version: '1.0.0',
        status: 'ACTIVE',
        revision: 1,
        bootLeadTimeMinutes: 35,
        licenseAffinity: [],
        portTemplate: [
          { name: 'r1-serial', protocol: 'serial' },
          { name: 'r2-vnc', protocol: 'vnc' },
        ],
        cmlRequirements: { minVersion: null, maxVersion: null, nodeDefinitions: ['iosv'] },
      });
      expect(String(d?.createdAt)).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      const byName = await h.call<{ definitionByNameAndVersion: { id: string } }>(
        `{ definitionByNameAndVersion(name: "ccna-lab", version: "1.0.0") { id } }`,
      );
      expect(byName.data?.definitionByNameAndVersion.id).toBe(d?.id);
    });

    it('rejects a second definition with the same name and version with CONFLICT, writing nothing', async () => {
      const before = await count();
      const r = await h.call(CREATE, { input: input() });
      const e = onlyError(r);
      expect(e.code).toBe('CONFLICT');
      expect(e.message).toContain('name and version');
      expect(await count()).toBe(before);
      const v2 = await h.call(CREATE, { input: input({ version: '1.1.0' }) });
      expect(v2.errors).toBeUndefined();
      expect(await count()).toBe(before + 1);
    });

    it.each([
      [{ version: '1.0' }, 'input.version'],
      [{ name: '' }, 'input.name'],
      [{ labYaml: 'nodes: [' }, 'input.labYaml'],
      [{ labYaml: 'lab: {version: 0.2.2}\nnodes: []' }, 'input.labYaml.nodes'],
      [{ labYaml: LAB_YAML.replace('n2: n1', 'n2: n9') }, 'input.labYaml.links[0].n2'],
      [{ resourceRequirements: { cpuCores: 0, memoryGb: 4, storageGb: 10, nodeCount: 2 } }, 'input.resourceRequirements.cpuCores'],
      [{ resourceRequirements: { cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 1 } }, 'input.resourceRequirements.nodeCount'],
      [{ portTemplate: [{ name: 'a', protocol: 'tcp' }, { name: 'a', protocol: 'udp' }] }, 'input.portTemplate[1].name'],
      [{ portTemplate: [{ name: 'a', protocol: 'gopher' }] }, 'input.portTemplate[0].protocol'],
      [{ cmlRequirements: { minVersion: '2.9.0', maxVersion: '2.7.0' } }, 'input.cmlRequirements.minVersion'],
      [{ cmlRequirements: { nodeDefinitions: ['csr1000v'] } }, 'input.cmlRequirements.nodeDefinitions'],
      [{ bootLeadTimeMinutes: -1 }, 'input.bootLeadTimeMinutes'],
    ])('rejects bad input %j naming %s, writing nothing', async (over, field) => {
      const before = await count();
      const e = onlyError(await h.call(CREATE, { input: input({ version: '9.9.9', ...over }) }));
      expect(e.code).toBe('BAD_USER_INPUT');
      expect(e.extensions.field).toBe(field);
      expect(await count()).toBe(before);
    });

    it('deprecates once; a second deprecation is an INVALID_TRANSITION naming both statuses', async () => {
      const created = await h.call<{ createDefinition: { id: string } }>(CREATE, { input: input({ version: '2.0.0' }) });
      const id = created.data?.createDefinition.id;
      const dep = await h.call<{ deprecateDefinition: { status: string; revision: number; deprecationReason: string } }>(
        `mutation($id: ID!) { deprecateDefinition(id: $id, reason: "replaced") { status revision deprecationReason } }`,
        { id },
      );
      expect(dep.data?.deprecateDefinition).toEqual({ status: 'DEPRECATED', revision: 2, deprecationReason: 'replaced' });
      const again = onlyError(await h.call(`mutation($id: ID!) { deprecateDefinition(id: $id) { status } }`, { id }));
      expect(again.code).toBe('INVALID_TRANSITION');
      expect(again.message).toContain('DEPRECATED');
      expect(again.extensions).toMatchObject({ from: 'DEPRECATED', to: 'DEPRECATED' });
      const missing = onlyError(await h.call(`mutation { deprecateDefinition(id: "def_nope") { status } }`));
      expect(missing.code).toBe('NOT_FOUND');
    });

    it('filters and pages with cursors and totalCount', async () => {
      for (const v of ['3.0.0', '3.1.0', '3.2.0']) await h.call(CREATE, { input: input({ name: 'paged', version: v }) });
      const q = `query($after: String) { definitions(first: 2, after: $after, filter: { name: "paged" }) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { version } } } }`;
      type R = { definitions: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: Array<{ node: { version: string } }> } };
      const p1 = (await h.call<R>(q)).data?.definitions;
      expect(p1?.totalCount).toBe(3);
      expect(p1?.edges.map((e) => e.node.version)).toEqual(['3.0.0', '3.1.0']);
      expect(p1?.pageInfo.hasNextPage).toBe(true);
      const p2 = (await h.call<R>(q, { after: p1?.pageInfo.endCursor })).data?.definitions;
      expect(p2?.edges.map((e) => e.node.version)).toEqual(['3.2.0']);
      expect(p2?.pageInfo.hasNextPage).toBe(false);
      const bad = onlyError(await h.call(`{ definitions(first: 501) { totalCount } }`));
      expect(bad).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'first' } });
      const badCursor = onlyError(await h.call(`{ definitions(after: "!!") { totalCount } }`));
      expect(badCursor).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'after' } });
      const deprecatedOnly = await h.call<R>(`{ definitions(filter: { statuses: [DEPRECATED] }) { totalCount edges { node { version } } } }`);
      expect(deprecatedOnly.data?.definitions.edges.map((e) => e.node.version)).toEqual(['2.0.0']);
    });

    it('refuses calls without the gateway identity, and writes without the scope, writing nothing', async () => {
      const before = await count();
      const anon = onlyError(await h.call(CREATE, { input: input({ version: '4.0.0' }) }, { anonymous: true }));
      expect(anon.code).toBe('UNAUTHENTICATED');
      const readOnly = onlyError(await h.call(CREATE, { input: input({ version: '4.0.0' }) }, { scopes: [Scope.READ] }));
      expect(readOnly.code).toBe('FORBIDDEN');
      expect(await count()).toBe(before);
    });

    it('resolves N entity references with one database round trip', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await h.call<{ createDefinition: { id: string } }>(CREATE, { input: input({ name: 'ref', version: `5.0.${i}` }) });
        ids.push(r.data?.createDefinition.id ?? '');
      }
      const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on LabletDefinition { id version } } }`;
      const trips = async (n: number) => {
        const before = h.deps.storage.roundTrips();
        const r = await h.call<{ _entities: Array<{ id: string }> }>(q, {
          r: ids.slice(0, n).map((id) => ({ __typename: 'LabletDefinition', id })),
        });
        expect(r.data?._entities.map((e) => e.id)).toEqual(ids.slice(0, n));
        return h.deps.storage.roundTrips() - before;
      };
      expect(await trips(2)).toBe(1);
      expect(await trips(12)).toBe(1);
    });
    it('publishes what other subgraphs may know of a definition, and publishes it again at start', async () => {
      const projection = async (id: string) => {
        const kv = await coordination.get(CoordinationKeys.definitionStatus(id));
        return kv ? (JSON.parse(kv.value) as Record<string, unknown>) : undefined;
      };
      const created = await h.call<{ createDefinition: { id: string; name: string } }>(CREATE, { input: input({ name: 'projected-lab', version: '9.0.0' }) });
      const id = created.data?.createDefinition.id as string;
      expect(await projection(id)).toEqual({ id, name: created.data?.createDefinition.name, version: '9.0.0', status: 'ACTIVE', revision: 1 });
      await h.call(`mutation($id: ID!) { deprecateDefinition(id: $id, reason: "old") { id } }`, { id });
      expect(await projection(id)).toMatchObject({ status: 'DEPRECATED', revision: 2 });
      // A wiped coordination store: a restarted subgraph publishes every definition again.
      await coordination.deletePrefix(CoordinationKeys.definitions);
      const again = await startDefinitionsSubgraph({ ...h.deps, coordination });
      await again.close();
      expect(await projection(id)).toMatchObject({ id, status: 'DEPRECATED', revision: 2 });
    });
  });
}
