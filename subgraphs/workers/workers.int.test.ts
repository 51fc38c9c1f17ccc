import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { MemoryCoordinationCluster } from '../../core/adapters/memory/memory-coordination.ts';
import { EtcdEventBus } from '../../core/adapters/etcd/etcd-event-bus.ts';
import { ALL_SCOPES, IDENTITY_HEADER, Scope } from '../../core/auth/identity.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import { CoordinationKeys, type CoordinationStore } from '../../core/ports/coordination.ts';
import { onlyError, openStorage, startHarness, type GraphQLResponse, type Harness, type StorageKind } from '../../test/support/subgraph-harness.ts';
import { startWorkersSubgraph } from './server.ts';

const CAPACITY = 'cpuCores memoryGb storageGb maxNodes';
const WORKER = `id name status desiredStatus statusReason templateName instanceType licenseType revision idleSince
  declaredCapacity { ${CAPACITY} } allocatedCapacity { ${CAPACITY} } availableCapacity { ${CAPACITY} }
  reservations { sessionId capacity { ${CAPACITY} } ports { name port } reservedAt }`;

const SEED = `mutation($yaml: String!) { seedWorkerTemplates(yaml: $yaml) { name instanceType costPerHour licenseType enabled capacity { ${CAPACITY} } } }`;
const TEMPLATES = `{ workerTemplates { name instanceType amiNamePattern costPerHour licenseType enabled description capacity { ${CAPACITY} } } }`;
const REQUEST = `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { ${WORKER} } }`;
const TRANSITION = `mutation($id: ID!, $to: WorkerStatus!, $reason: String, $rev: Int) {
  transitionWorker(id: $id, to: $to, reason: $reason, expectedRevision: $rev) { ${WORKER} } }`;
const RESERVE = `mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { sessionId capacity { ${CAPACITY} } ports { name port } reservedAt } }`;
const RELEASE = `mutation($w: ID!, $s: ID!) { releaseCapacity(workerId: $w, sessionId: $s) { ${WORKER} } }`;
const WORKER_BY_ID = `query($id: ID!) { worker(id: $id) { ${WORKER} } }`;

const TEST_TEMPLATES = `templates:
  - name: lab10
    instance_type: m5.2xlarge
    ami_name_pattern: CML-2.8*
    capacity: { cpu_cores: 10, memory_gb: 40, storage_gb: 100, max_nodes: 20 }
    cost_per_hour_usd: 0.384
  - name: solo
    instanceType: m5.xlarge
    amiNamePattern: CML-*
    capacity: { cpuCores: 8, memoryGb: 32, storageGb: 100, maxNodes: 20 }
    licenseType: PERSONAL
    costPerHour: 0.192
  - name: retired
    instanceType: m4.xlarge
    amiNamePattern: CML-*
    capacity: { cpuCores: 4, memoryGb: 16, storageGb: 50, maxNodes: 10 }
    costPerHour: 0.2
    enabled: false
`;

interface Cap {
  cpuCores: number;
  memoryGb: number;
  storageGb: number;
  maxNodes: number;
}
interface WorkerView {
  id: string;
  name: string;
  status: string;
  desiredStatus: string;
  statusReason: string | null;
  templateName: string;
  licenseType: string | null;
  revision: number;
  idleSince: string | null;
  declaredCapacity: Cap;
  allocatedCapacity: Cap;
  availableCapacity: Cap;
  reservations: Array<{ sessionId: string; capacity: Cap; ports: Array<{ name: string; port: number }>; reservedAt: string }>;
}
interface ReservationView {
  sessionId: string;
  capacity: Cap;
  ports: Array<{ name: string; port: number }>;
}

const need = { cpuCores: 2, memoryGb: 4, storageGb: 10, maxNodes: 2 };

for (const kind of ['memory', 'mongodb'] as StorageKind[]) {
  describe(`workers subgraph over HTTP (${kind})`, () => {
    let h: Harness;
    let cluster: MemoryCoordinationCluster;
    let coordination: CoordinationStore;
    let bus: EtcdEventBus;
    /** A second replica on the same storage, bus and coordination store. */
    let replica: SubgraphServer;

    beforeAll(async () => {
      cluster = new MemoryCoordinationCluster();
      coordination = cluster.client();
      // The etcd event bus on the in-memory coordination store: events travel as JSON, as across processes.
      bus = await EtcdEventBus.start(coordination);
      h = await startHarness((deps) => startWorkersSubgraph(deps), await openStorage(kind, inject('mongoUri')), { coordination, bus });
      replica = await startWorkersSubgraph(h.deps);
      const seeded = await h.call(SEED, { yaml: TEST_TEMPLATES });
      expect(seeded.errors).toBeUndefined();
    });
    afterAll(async () => {
      await replica?.close();
      await h?.close();
      await bus?.close();
      await coordination?.close();
      cluster?.close();
    });

    /** Call the replica with the harness's signer (both trust the same internal secret). */
    async function callReplica<T>(query: string, variables: Record<string, unknown>): Promise<GraphQLResponse<T>> {
      const body = JSON.stringify({ query, variables });
      const identity = await h.deps.signer.forwardedIdentityHeaders({ subject: 'scheduler', kind: 'service', scopes: ALL_SCOPES }, body);
      const res = await fetch(replica.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...identity }, body });
      return (await res.json()) as GraphQLResponse<T>;
    }

    const getWorker = async (id: string): Promise<WorkerView> => {
      const r = await h.call<{ worker: WorkerView }>(WORKER_BY_ID, { id });
      if (!r.data?.worker) throw new Error(`no worker ${id}: ${JSON.stringify(r.errors)}`);
      return r.data.worker;
    };

    async function requestWorker(input: Record<string, unknown>): Promise<WorkerView> {
      const r = await h.call<{ requestWorker: WorkerView }>(REQUEST, { input });
      if (!r.data?.requestWorker) throw new Error(JSON.stringify(r.errors));
      return r.data.requestWorker;
    }

    async function runningWorker(templateName: string): Promise<WorkerView> {
      const w = await requestWorker({ templateName });
      for (const to of ['PROVISIONING', 'RUNNING']) {
        const r = await h.call(TRANSITION, { id: w.id, to });
        expect(r.errors).toBeUndefined();
      }
      return getWorker(w.id);
    }

    const reserve = (workerId: string, sessionId: string, portNames: string[] = ['ssh', 'vnc'], capacity: Cap = need) =>
      h.call<{ reserveCapacity: ReservationView }>(RESERVE, { input: { workerId, sessionId, capacity, portNames } });

    it('seeds the default templates at start and upserts templates by name from YAML', async () => {
      const list = (await h.call<{ workerTemplates: Array<Record<string, unknown>> }>(TEMPLATES)).data?.workerTemplates ?? [];
      expect(list.map((t) => t.name)).toEqual(['lab10', 'large', 'medium', 'metal', 'micro', 'personal', 'retired', 'small', 'solo']);
      expect(list.find((t) => t.name === 'micro')).toMatchObject({ instanceType: 't3.micro', amiNamePattern: 'CML-*', costPerHour: 0.0104, licenseType: 'ENTERPRISE' });
      expect(list.find((t) => t.name === 'personal')).toMatchObject({ licenseType: 'PERSONAL' });
      expect(list.find((t) => t.name === 'lab10')).toMatchObject({ capacity: { cpuCores: 10, memoryGb: 40, storageGb: 100, maxNodes: 20 }, costPerHour: 0.384 });

      const upsert = await h.call<{ seedWorkerTemplates: Array<{ name: string; costPerHour: number }> }>(
        SEED,
        {
          yaml: `templates:
  - { name: small, instanceType: t3.small, amiNamePattern: CML-*, capacity: { cpuCores: 2, memoryGb: 2, storageGb: 50, maxNodes: 5 }, costPerHour: 0.025 }
  - { name: xl, instanceType: m5.4xlarge, amiNamePattern: CML-*, capacity: { cpuCores: 16, memoryGb: 64, storageGb: 200, maxNodes: 40 }, costPerHour: 0.768 }
`,
        },
        { scopes: [Scope.WORKERS_WRITE] },
      );
      expect(upsert.errors).toBeUndefined();
      expect(upsert.data?.seedWorkerTemplates.map((t) => [t.name, t.costPerHour])).toEqual([
        ['small', 0.025],
        ['xl', 0.768],
      ]);
      const after = (await h.call<{ workerTemplates: Array<{ name: string; costPerHour: number }> }>(TEMPLATES)).data?.workerTemplates ?? [];
      expect(after).toHaveLength(list.length + 1);
      expect(after.find((t) => t.name === 'small')?.costPerHour).toBe(0.025);
      const one = await h.call<{ workerTemplate: { instanceType: string } | null }>(`{ workerTemplate(name: "xl") { instanceType } }`);
      expect(one.data?.workerTemplate).toEqual({ instanceType: 'm5.4xlarge' });
      const none = await h.call<{ workerTemplate: null }>(`{ workerTemplate(name: "nope") { name } }`);
      expect(none.data?.workerTemplate).toBeNull();
    });

    it.each([
      ['templates: [', 'yaml'],
      ['templates:\n  - { name: small, instanceType: t3.small, amiNamePattern: x, capacity: { cpuCores: 2, memoryGb: 2, storageGb: 5, maxNodes: 5 }, costPerHour: 9 }\n  - { name: bad }', 'yaml.templates[1].instanceType'],
      [TEST_TEMPLATES.replace('cpu_cores: 10', 'cpu_cores: -3'), 'yaml.templates[0].capacity.cpu_cores'],
      [TEST_TEMPLATES.replace('cpuCores: 4', 'cpuCores: four'), 'yaml.templates[2].capacity.cpuCores'],
    ])('rejects a bad templates document %# with BAD_USER_INPUT naming %s, writing nothing', async (yaml, field) => {
      const before = JSON.stringify((await h.call(TEMPLATES)).data);
      const e = onlyError(await h.call(SEED, { yaml }));
      expect(e.code).toBe('BAD_USER_INPUT');
      expect(e.extensions.field).toBe(field);
      expect(JSON.stringify((await h.call(TEMPLATES)).data)).toBe(before);
    });

    it('requests a PENDING worker from a template; the request key makes it idempotent, even concurrently', async () => {
      const w = await requestWorker({ templateName: 'lab10', reason: 'scale up for s1' });
      expect(w).toMatchObject({
        status: 'PENDING',
        desiredStatus: 'RUNNING',
        statusReason: 'scale up for s1',
        templateName: 'lab10',
        licenseType: 'ENTERPRISE',
        revision: 1,
        declaredCapacity: { cpuCores: 10, memoryGb: 40, storageGb: 100, maxNodes: 20 },
        allocatedCapacity: { cpuCores: 0, memoryGb: 0, storageGb: 0, maxNodes: 0 },
        reservations: [],
      });
      expect(w.name).toMatch(/^cml-lab10-[0-9a-z]{6}$/);

      const count = async () => (await h.call<{ workers: { totalCount: number } }>(`{ workers(filter: { templateName: "lab10" }) { totalCount } }`)).data?.workers.totalCount;
      const before = await count();
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          (i % 2 === 0 ? h.call<{ requestWorker: { id: string } }>(REQUEST, { input: { templateName: 'lab10', requestKey: 'burst-1' } }) : callReplica<{ requestWorker: { id: string } }>(REQUEST, { input: { templateName: 'lab10', requestKey: 'burst-1' } })),
        ),
      );
      const ids = new Set(results.map((r) => r.data?.requestWorker.id));
      expect(ids.size).toBe(1);
      expect(await count()).toBe((before ?? 0) + 1);
      const again = await requestWorker({ templateName: 'solo', requestKey: 'burst-1' });
      expect(again.id).toBe([...ids][0]);
    });

    it('refuses an unknown template (BAD_USER_INPUT) and a disabled one (CONFLICT), writing nothing', async () => {
      const count = async () => (await h.call<{ workers: { totalCount: number } }>(`{ workers { totalCount } }`)).data?.workers.totalCount;
      const before = await count();
      const unknown = onlyError(await h.call(REQUEST, { input: { templateName: 'nope' } }));
      expect(unknown).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.templateName' } });
      const disabled = onlyError(await h.call(REQUEST, { input: { templateName: 'retired' } }));
      expect(disabled.code).toBe('CONFLICT');
      expect(await count()).toBe(before);
    });

    it('transitions through the state machine; an invalid transition names both statuses and writes nothing', async () => {
      const w = await runningWorker('lab10');
      expect(w).toMatchObject({ status: 'RUNNING', revision: 3 });
      expect(w.idleSince).not.toBeNull();
      const bad = onlyError(await h.call(TRANSITION, { id: w.id, to: 'PROVISIONING' }));
      expect(bad.code).toBe('INVALID_TRANSITION');
      expect(bad.message).toContain('RUNNING');
      expect(bad.message).toContain('PROVISIONING');
      expect(bad.extensions).toMatchObject({ from: 'RUNNING', to: 'PROVISIONING' });
      const stale = onlyError(await h.call(TRANSITION, { id: w.id, to: 'DRAINING', rev: 2 }));
      expect(stale.code).toBe('CONFLICT');
      expect((await getWorker(w.id)).revision).toBe(3);
      const drained = await h.call<{ transitionWorker: WorkerView }>(TRANSITION, { id: w.id, to: 'DRAINING', reason: 'scale down', rev: 3 });
      expect(drained.data?.transitionWorker).toMatchObject({ status: 'DRAINING', statusReason: 'scale down', revision: 4 });
      const missing = onlyError(await h.call(TRANSITION, { id: 'wkr_nope', to: 'RUNNING' }));
      expect(missing.code).toBe('NOT_FOUND');
    });

    it('20 concurrent reservations on two replicas for a worker with room for 5: exactly 5 succeed, with distinct lowest ports', async () => {
      const w = await runningWorker('lab10');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const input = { workerId: w.id, sessionId: `burst-${i}`, capacity: need, portNames: ['ssh', 'vnc'] };
          return i % 2 === 0 ? h.call<{ reserveCapacity: ReservationView }>(RESERVE, { input }) : callReplica<{ reserveCapacity: ReservationView }>(RESERVE, { input });
        }),
      );
      const ok = results.filter((r) => r.data?.reserveCapacity).map((r) => r.data?.reserveCapacity as ReservationView);
      const failed = results.filter((r) => r.errors);
      expect(ok).toHaveLength(5);
      expect(failed).toHaveLength(15);
      for (const f of failed) expect(onlyError(f)).toMatchObject({ code: 'CONFLICT', extensions: { reason: 'capacity', dimension: 'cpuCores' } });
      const ports = ok.flatMap((r) => r.ports.map((p) => p.port)).sort((a, b) => a - b);
      expect(ports).toEqual(Array.from({ length: 10 }, (_, i) => 2000 + i));

      const after = await getWorker(w.id);
      expect(after.reservations.map((r) => r.sessionId).sort()).toEqual(ok.map((r) => r.sessionId).sort());
      expect(after.allocatedCapacity).toEqual({ cpuCores: 10, memoryGb: 20, storageGb: 50, maxNodes: 10 });
      expect(after.availableCapacity).toEqual({ cpuCores: 0, memoryGb: 20, storageGb: 50, maxNodes: 10 });
      expect(after.revision).toBe(w.revision + 5);
      expect(after.idleSince).toBeNull();
    });

    it('a PERSONAL worker takes exactly one of 10 concurrent reservations', async () => {
      const w = await runningWorker('solo');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => {
          const input = { workerId: w.id, sessionId: `solo-${i}`, capacity: need, portNames: ['ssh'], licenseAffinity: ['PERSONAL'] };
          return i % 2 === 0 ? h.call(RESERVE, { input }) : callReplica<Record<string, unknown>>(RESERVE, { input });
        }),
      );
      expect(results.filter((r) => !r.errors)).toHaveLength(1);
      for (const f of results.filter((r) => r.errors)) expect(onlyError(f)).toMatchObject({ code: 'CONFLICT', extensions: { reason: 'personal-licence' } });
      expect((await getWorker(w.id)).reservations).toHaveLength(1);
    });

    it('reserving again is idempotent; release then reserve reuses the lowest port; releasing twice is a no-op', async () => {
      const w = await runningWorker('lab10');
      const a = (await reserve(w.id, 'a', ['ssh', 'vnc'])).data?.reserveCapacity;
      const b = (await reserve(w.id, 'b', ['console'])).data?.reserveCapacity;
      expect(a?.ports).toEqual([
        { name: 'ssh', port: 2000 },
        { name: 'vnc', port: 2001 },
      ]);
      expect(b?.ports).toEqual([{ name: 'console', port: 2002 }]);
      const revision = (await getWorker(w.id)).revision;
      const again = (await reserve(w.id, 'a', ['other'])).data?.reserveCapacity;
      expect(again).toEqual(a);
      expect((await getWorker(w.id)).revision).toBe(revision);

      const released = await h.call<{ releaseCapacity: WorkerView }>(RELEASE, { w: w.id, s: 'a' });
      expect(released.data?.releaseCapacity.reservations.map((r) => r.sessionId)).toEqual(['b']);
      expect(released.data?.releaseCapacity.revision).toBe(revision + 1);
      const twice = await h.call<{ releaseCapacity: WorkerView }>(RELEASE, { w: w.id, s: 'a' });
      expect(twice.data?.releaseCapacity.revision).toBe(revision + 1);
      const c = (await reserve(w.id, 'c', ['x', 'y', 'z'])).data?.reserveCapacity;
      expect(c?.ports.map((p) => p.port)).toEqual([2000, 2001, 2003]);

      for (const s of ['b', 'c']) await h.call(RELEASE, { w: w.id, s });
      const idle = await getWorker(w.id);
      expect(idle.reservations).toEqual([]);
      expect(idle.idleSince).not.toBeNull();
    });

    it('refuses bad reservations: duplicate port names (BAD_USER_INPUT), non-RUNNING worker and too much capacity (CONFLICT)', async () => {
      const w = await runningWorker('lab10');
      const dup = onlyError(await reserve(w.id, 's', ['ssh', 'ssh']));
      expect(dup).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.portNames[1]' } });
      const big = onlyError(await reserve(w.id, 's', [], { cpuCores: 1, memoryGb: 1, storageGb: 101, maxNodes: 1 }));
      expect(big).toMatchObject({ code: 'CONFLICT', extensions: { dimension: 'storageGb' } });
      expect(big.message).toContain('storageGb');
      const pending = await requestWorker({ templateName: 'lab10' });
      const notRunning = onlyError(await reserve(pending.id, 's'));
      expect(notRunning.code).toBe('CONFLICT');
      expect(notRunning.message).toContain('PENDING');
      const licence = onlyError(
        await h.call(RESERVE, { input: { workerId: w.id, sessionId: 's', capacity: need, portNames: [], licenseAffinity: ['EVALUATION'] } }),
      );
      expect(licence).toMatchObject({ code: 'CONFLICT', extensions: { reason: 'license' } });
      expect((await getWorker(w.id)).revision).toBe(w.revision);
    });

    it('records instance facts and observations, and guards desired status and declared capacity', async () => {
      const w = await runningWorker('lab10');
      const inst = await h.call<{ recordWorkerInstance: { ec2InstanceId: string; ipAddress: string; region: string; revision: number } }>(
        `mutation($id: ID!, $input: WorkerInstanceInput!) { recordWorkerInstance(id: $id, input: $input) { ec2InstanceId ipAddress region revision } }`,
        { id: w.id, input: { ec2InstanceId: 'i-0123456789abcdef0', ipAddress: '10.1.2.3', region: 'eu-west-1' } },
      );
      expect(inst.data?.recordWorkerInstance).toEqual({ ec2InstanceId: 'i-0123456789abcdef0', ipAddress: '10.1.2.3', region: 'eu-west-1', revision: w.revision + 1 });
      const badIp = onlyError(
        await h.call(`mutation($id: ID!) { recordWorkerInstance(id: $id, input: { ipAddress: "nope" }) { id } }`, { id: w.id }),
      );
      expect(badIp).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.ipAddress' } });

      await reserve(w.id, 'held', ['ssh'], { cpuCores: 6, memoryGb: 8, storageGb: 10, maxNodes: 4 });
      const OBSERVE = `mutation($id: ID!, $input: WorkerObservationInput!) { recordWorkerObservation(id: $id, input: $input) {
        cmlVersion nodeDefinitions licenseStatus systemStats declaredCapacity { ${CAPACITY} } availableCapacity { ${CAPACITY} } } }`;
      const seen = await h.call<{ recordWorkerObservation: Record<string, unknown> }>(OBSERVE, {
        id: w.id,
        input: { cmlVersion: '2.8.1', nodeDefinitions: ['iosv', 'alpine'], licenseStatus: 'REGISTERED', systemStats: { cpu: { percent: 12 } } },
      });
      expect(seen.data?.recordWorkerObservation).toMatchObject({
        cmlVersion: '2.8.1',
        nodeDefinitions: ['alpine', 'iosv'],
        licenseStatus: 'REGISTERED',
        systemStats: { cpu: { percent: 12 } },
      });
      const shrink = onlyError(
        await h.call(OBSERVE, { id: w.id, input: { declaredCapacity: { cpuCores: 4, memoryGb: 40, storageGb: 100, maxNodes: 20 } } }),
      );
      expect(shrink).toMatchObject({ code: 'CONFLICT', extensions: { dimension: 'cpuCores' } });

      const DESIRE = `mutation($id: ID!, $d: WorkerStatus!) { setWorkerDesiredStatus(id: $id, desiredStatus: $d, reason: "idle") { desiredStatus revision } }`;
      const busy = onlyError(await h.call(DESIRE, { id: w.id, d: 'STOPPED' }));
      expect(busy.code).toBe('CONFLICT');
      await h.call(RELEASE, { w: w.id, s: 'held' });
      const stop = await h.call<{ setWorkerDesiredStatus: { desiredStatus: string } }>(DESIRE, { id: w.id, d: 'STOPPED' });
      expect(stop.data?.setWorkerDesiredStatus.desiredStatus).toBe('STOPPED');
      expect(onlyError(await reserve(w.id, 'late')).extensions.reason).toBe('status');
      const badDesired = onlyError(await h.call(DESIRE, { id: w.id, d: 'DRAINING' }));
      expect(badDesired).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'desiredStatus' } });
    });

    it('refuses internal mutations without the internal scope (FORBIDDEN) and calls without identity (UNAUTHENTICATED), writing nothing', async () => {
      const w = await runningWorker('lab10');
      const workerCount = async () => (await h.call<{ workers: { totalCount: number } }>(`{ workers { totalCount } }`)).data?.workers.totalCount;
      const before = await workerCount();
      const userScopes = [Scope.READ, Scope.WORKERS_WRITE, Scope.SESSIONS_WRITE];
      const attempts: Array<[string, Record<string, unknown>]> = [
        [REQUEST, { input: { templateName: 'lab10', requestKey: 'forbidden' } }],
        [TRANSITION, { id: w.id, to: 'DRAINING' }],
        [`mutation($id: ID!) { setWorkerDesiredStatus(id: $id, desiredStatus: TERMINATED) { id } }`, { id: w.id }],
        [`mutation($id: ID!) { recordWorkerInstance(id: $id, input: { region: "us-east-2" }) { id } }`, { id: w.id }],
        [`mutation($id: ID!) { recordWorkerObservation(id: $id, input: { cmlVersion: "2.9.0" }) { id } }`, { id: w.id }],
        [RESERVE, { input: { workerId: w.id, sessionId: 'x', capacity: need, portNames: [] } }],
        [RELEASE, { w: w.id, s: 'x' }],
      ];
      for (const [query, variables] of attempts) {
        expect(onlyError(await h.call(query, variables, { scopes: userScopes })).code).toBe('FORBIDDEN');
        expect(onlyError(await h.call(query, variables, { anonymous: true })).code).toBe('UNAUTHENTICATED');
      }
      expect(onlyError(await h.call(SEED, { yaml: TEST_TEMPLATES }, { scopes: [Scope.READ] })).code).toBe('FORBIDDEN');
      // The controllers' internal scope includes read.
      expect((await h.call(WORKER_BY_ID, { id: w.id }, { scopes: [Scope.INTERNAL] })).errors).toBeUndefined();
      expect(onlyError(await h.call(WORKER_BY_ID, { id: w.id }, { scopes: [Scope.SESSIONS_WRITE] })).code).toBe('FORBIDDEN');
      expect(onlyError(await h.call(WORKER_BY_ID, { id: w.id }, { anonymous: true })).code).toBe('UNAUTHENTICATED');
      expect(await getWorker(w.id)).toEqual(w);
      expect(await workerCount()).toBe(before);
    });

    it('filters and pages workers', async () => {
      const q = `query($after: String, $f: WorkerFilter) { workers(first: 2, after: $after, filter: $f) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id status templateName } } } }`;
      type R = { workers: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: Array<{ node: { id: string; status: string; templateName: string } }> } };
      const pending = (await h.call<R>(q, { f: { statuses: ['PENDING'], templateName: 'lab10' } })).data?.workers;
      expect(pending?.totalCount).toBeGreaterThanOrEqual(3);
      expect(pending?.edges.every((e) => e.node.status === 'PENDING' && e.node.templateName === 'lab10')).toBe(true);
      const next = (await h.call<R>(q, { f: { statuses: ['PENDING'], templateName: 'lab10' }, after: pending?.pageInfo.endCursor })).data?.workers;
      expect((next?.edges[0]?.node.id ?? '') > (pending?.edges[1]?.node.id ?? '~')).toBe(true);
      const solo = (await h.call<R>(q, { f: { templateName: 'solo' } })).data?.workers;
      expect(solo?.edges.map((e) => e.node.templateName)).toEqual(solo?.edges.map(() => 'solo'));
      expect(onlyError(await h.call(`{ workers(first: 501) { totalCount } }`)).extensions.field).toBe('first');
    });

    it('resolves N worker and template references with one database round trip each', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push((await requestWorker({ templateName: 'lab10' })).id);
      const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on CmlWorker { id templateName allocatedCapacity { cpuCores } } ... on WorkerTemplate { name costPerHour } } }`;
      const trips = async (representations: Array<Record<string, string>>) => {
        const before = h.deps.storage.roundTrips();
        const r = await h.call<{ _entities: Array<{ id?: string; name?: string }> }>(q, { r: representations });
        expect(r.errors).toBeUndefined();
        expect(r.data?._entities.map((e) => e.id ?? e.name)).toEqual(representations.map((x) => x.id ?? x.name));
        return h.deps.storage.roundTrips() - before;
      };
      expect(await trips(ids.slice(0, 2).map((id) => ({ __typename: 'CmlWorker', id })))).toBe(1);
      expect(await trips(ids.map((id) => ({ __typename: 'CmlWorker', id })))).toBe(1);
      expect(await trips(['micro', 'metal', 'solo'].map((name) => ({ __typename: 'WorkerTemplate', name })))).toBe(1);
    });

    it('projects status and capacity into the coordination store after every change', async () => {
      const w = await runningWorker('lab10');
      await reserve(w.id, 'p1', ['ssh'], { cpuCores: 3, memoryGb: 5, storageGb: 7, maxNodes: 2 });
      const status = JSON.parse((await coordination.get(CoordinationKeys.workerStatus(w.id)))?.value ?? 'null');
      expect(status).toEqual({ status: 'RUNNING', desiredStatus: 'RUNNING', revision: w.revision + 1 });
      const capacity = JSON.parse((await coordination.get(CoordinationKeys.workerCapacity(w.id)))?.value ?? 'null');
      expect(capacity).toEqual({
        declared: { cpuCores: 10, memoryGb: 40, storageGb: 100, maxNodes: 20 },
        allocated: { cpuCores: 3, memoryGb: 5, storageGb: 7, maxNodes: 2 },
        available: { cpuCores: 7, memoryGb: 35, storageGb: 93, maxNodes: 18 },
        sessions: 1,
        revision: w.revision + 1,
      });
    });

    describe('workerUpdated subscription over graphql-ws', () => {
      let client: Client;
      beforeAll(async () => {
        const token = await h.deps.signer.sign({ subject: 'dashboard', kind: 'api-key', scopes: [Scope.READ] });
        client = createClient({
          url: h.server.graphqlUrl.replace(/^http/, 'ws'),
          webSocketImpl: WebSocket,
          connectionParams: { [IDENTITY_HEADER]: token },
          retryAttempts: 0,
        });
      });
      afterAll(() => client?.dispose());

      it('delivers every change of the watched workers, as the worker after the change', async () => {
        const watched = await runningWorker('lab10');
        const other = await runningWorker('lab10');
        type Event = { workerUpdated: { id: string; status: string; revision: number; createdAt: string; allocatedCapacity: Cap; reservations: Array<{ sessionId: string; reservedAt: string }> } };
        const events = client.iterate<Event>({
          query: `subscription($ids: [ID!]) { workerUpdated(ids: $ids) { id status revision createdAt allocatedCapacity { ${CAPACITY} } reservations { sessionId reservedAt } } }`,
          variables: { ids: [watched.id] },
        });
        // The subscription is live once a change of the watched worker comes through (graphql-ws has
        // no "subscribed" acknowledgement): prime it with observations (each a real change) until one arrives.
        const nextEvent = async (): Promise<Event['workerUpdated']> => {
          const r = await events.next();
          if (r.done || !r.value.data) throw new Error(`subscription ended or failed: ${JSON.stringify(r.value)}`);
          return r.value.data.workerUpdated;
        };
        const primed: { event?: Event['workerUpdated'] } = {};
        void nextEvent().then((e) => (primed.event = e));
        for (let tick = 0; !primed.event && tick < 100; tick++) {
          await h.call(`mutation($id: ID!, $n: JSON) { recordWorkerObservation(id: $id, input: { systemStats: $n }) { id } }`, {
            id: watched.id,
            n: { tick },
          });
          await new Promise((r) => setTimeout(r, 20));
        }
        if (!primed.event) throw new Error('the subscription delivered nothing');
        // Drain the priming events; then a change of the other worker is filtered out and the watched one's arrives.
        const revisionNow = (await getWorker(watched.id)).revision;
        let seen = primed.event.revision;
        while (seen < revisionNow) seen = (await nextEvent()).revision;
        await reserve(other.id, 'elsewhere', []);
        await reserve(watched.id, 'here', ['ssh'], { cpuCores: 1, memoryGb: 2, storageGb: 3, maxNodes: 1 });
        const e = { workerUpdated: await nextEvent() };
        expect(e.workerUpdated).toMatchObject({
          id: watched.id,
          status: 'RUNNING',
          revision: revisionNow + 1,
          allocatedCapacity: { cpuCores: 1, memoryGb: 2, storageGb: 3, maxNodes: 1 },
          reservations: [{ sessionId: 'here' }],
        });
        expect(e.workerUpdated.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
        expect(e.workerUpdated.reservations[0]?.reservedAt).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
        await events.return?.();
      });
    });
  });
}

describe('workers subgraph start: default templates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lcm-templates-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const oneTemplate = (name: string) => `templates:
  - { name: ${name}, instanceType: m5.xlarge, amiNamePattern: CML-*, capacity: { cpuCores: 4, memoryGb: 16, storageGb: 50, maxNodes: 8 }, costPerHour: 0.19 }
`;
  const names = async (h: Harness) => (await h.call<{ workerTemplates: Array<{ name: string }> }>(`{ workerTemplates { name } }`)).data?.workerTemplates.map((t) => t.name);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('seeds from LCM_WORKER_TEMPLATES_FILE or the given file only when there are no templates; a bad file stops the start', async () => {
    const previous = process.env.LCM_WORKER_TEMPLATES_FILE;
    process.env.LCM_WORKER_TEMPLATES_FILE = file('env.yaml', oneTemplate('from-env'));
    let h: Harness | undefined;
    try {
      h = await startHarness((deps) => startWorkersSubgraph(deps), await openStorage('memory'));
      expect(await names(h)).toEqual(['from-env']);
      // A second replica with another file leaves the existing templates alone.
      const second = await startWorkersSubgraph(h.deps, { templatesFile: file('other.yaml', oneTemplate('other')) });
      await second.close();
      expect(await names(h)).toEqual(['from-env']);
      const bad = await startWorkersSubgraph(h.deps, { templatesFile: file('bad.yaml', oneTemplate('x').replace('cpuCores: 4', 'cpuCores: 0')) }).catch((e: unknown) => e);
      expect(bad).toMatchObject({ code: 'BAD_USER_INPUT', details: { field: 'yaml.templates[0].capacity.cpuCores' } });
    } finally {
      if (previous === undefined) delete process.env.LCM_WORKER_TEMPLATES_FILE;
      else process.env.LCM_WORKER_TEMPLATES_FILE = previous;
      await h?.close();
    }
  });
});
