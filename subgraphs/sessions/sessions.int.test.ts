import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryEventBus } from '../../core/adapters/memory/memory-event-bus.ts';
import { Scope, type Identity } from '../../core/auth/identity.ts';
import { DefinitionStatus } from '../../core/domain/enums.ts';
import { EventTopic, type CloudEvent } from '../../core/events/cloudevent.ts';
import { newId } from '../../core/ids.ts';
import type { DocumentStore, Storage, StoredDocument } from '../../core/persistence/document-store.ts';
import { CoordinationKeys, type CoordinationStore } from '../../core/ports/coordination.ts';
import type { DefinitionStatusProjection } from '../../core/read-models/definition.ts';
import { eventually } from '../../test/support/eventually.ts';
import { onlyError, openStorage, startHarness, type CallOptions, type Harness, type StorageKind } from '../../test/support/subgraph-harness.ts';
import { startSessionsSubgraph } from './server.ts';

const SESSION = /* GraphQL */ `
  id status owner revision definitionVersion timeslotStart timeslotEnd cmlLabId startedAt endedAt durationSeconds
  pipelineProgress createdAt updatedAt
  definition { id } worker { id } allocatedPorts { name port }
  statusHistory { from to at actor reason }
  userSession { id status loginUrl externalId devices { name protocol host port } createdAt updatedAt }
  gradingSession { id status externalId faultReason }
`;
interface SessionView {
  id: string;
  status: string;
  owner: string;
  revision: number;
  definitionVersion: string;
  timeslotStart: string | null;
  timeslotEnd: string | null;
  cmlLabId: string | null;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  pipelineProgress: Record<string, Record<string, unknown>>;
  definition: { id: string };
  worker: { id: string } | null;
  allocatedPorts: Array<{ name: string; port: number }>;
  statusHistory: Array<{ from: string | null; to: string; at: string; actor: string; reason: string | null }>;
  userSession: { id: string; status: string; loginUrl: string | null; externalId: string | null; devices: unknown[] } | null;
  gradingSession: { id: string; status: string; externalId: string | null; faultReason: string | null } | null;
}

const CREATE = `mutation($input: CreateSessionInput!) { createSession(input: $input) { ${SESSION} } }`;
const GET = `query($id: ID!) { session(id: $id) { ${SESSION} } }`;
const TRANSITION = `mutation($id: ID!, $to: LabletSessionStatus!, $reason: String, $rev: Int) {
  transitionSession(id: $id, to: $to, reason: $reason, expectedRevision: $rev) { ${SESSION} } }`;
const ADVANCE = `mutation($id: ID!, $to: LabletSessionStatus!, $reason: String, $rev: Int) {
  advanceSession(id: $id, to: $to, reason: $reason, expectedRevision: $rev) { ${SESSION} } }`;
const TERMINATE = `mutation($id: ID!, $reason: String) { terminateSession(id: $id, reason: $reason) { ${SESSION} } }`;
const SCHEDULE = `mutation($input: ScheduleSessionInput!) { scheduleSession(input: $input) { ${SESSION} } }`;
const RECORD_LAB = `mutation($id: ID!, $lab: String) { recordSessionLab(id: $id, cmlLabId: $lab) { ${SESSION} } }`;
const PROGRESS = `mutation($id: ID!, $p: String!, $progress: JSON!) { recordPipelineProgress(id: $id, pipeline: $p, progress: $progress) { ${SESSION} } }`;
const USER_SESSION = `mutation($id: ID!, $input: UserSessionInput!) { upsertUserSession(sessionId: $id, input: $input) { ${SESSION} } }`;
const GRADING_SESSION = `mutation($id: ID!, $input: GradingSessionInput!) { upsertGradingSession(sessionId: $id, input: $input) { ${SESSION} } }`;

const SCHEDULER: CallOptions = { kind: 'service', subject: 'resource-scheduler', scopes: [Scope.INTERNAL, Scope.READ] };
const CONTROLLER: CallOptions = { kind: 'service', subject: 'lablet-controller', scopes: [Scope.INTERNAL, Scope.READ] };
const STUDENT_APP: CallOptions = { subject: 'portal', scopes: [Scope.READ, Scope.SESSIONS_WRITE] };

/** The event bus of the test, which also tells how many listeners it has (to know a subscription is live). */
class ObservedBus extends MemoryEventBus {
  listening = 0;

  override subscribe(...args: Parameters<MemoryEventBus['subscribe']>): () => void {
    this.listening += 1;
    const off = super.subscribe(...args);
    return () => {
      this.listening -= 1;
      off();
    };
  }
}

/** Holds reads of the sessions collection until `n` of them wait, so concurrent commands read the same revision. */
class ReadGate {
  private waiting: Array<() => void> = [];
  private expected = 0;

  arm(n: number): void {
    this.expected = n;
  }

  pass(): Promise<void> {
    if (this.expected === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length === this.expected) {
        const all = this.waiting;
        this.waiting = [];
        this.expected = 0;
        for (const r of all) r();
      }
    });
  }
}

/** `storage`, with `get` on the sessions collection going through `gate`. */
function gatedStorage(storage: Storage, gate: ReadGate): Storage {
  const bind = <T extends object>(target: T) =>
    (p: string | symbol): unknown => {
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    };
  return new Proxy(storage, {
    get(target, prop) {
      if (prop !== 'collection') return bind(target)(prop);
      return (spec: Parameters<Storage['collection']>[0]) => {
        const store = target.collection<StoredDocument>(spec);
        if (spec.name !== 'sessions') return store;
        return new Proxy(store, {
          get(s, p) {
            if (p === 'get') return (id: string) => gate.pass().then(() => s.get(id));
            return bind(s)(p);
          },
        }) as DocumentStore<StoredDocument>;
      };
    },
  });
}

for (const kind of ['memory', 'mongodb'] as StorageKind[]) {
  describe(`sessions subgraph over HTTP (${kind})`, () => {
    let h: Harness;
    const bus = new ObservedBus();
    const gate = new ReadGate();
    const events: CloudEvent[] = [];
    const projections = new Map<string, unknown>();
    const coordination = {
      put: (key: string, value: string) => {
        projections.set(key, JSON.parse(value));
        return Promise.resolve({ revision: projections.size });
      },
      delete: (key: string) => Promise.resolve({ revision: 0, deleted: projections.delete(key) }),
      get: (key: string) => {
        const value = projections.get(key);
        return Promise.resolve(value === undefined ? undefined : { key, value: JSON.stringify(value), createRevision: 1, modRevision: 1, version: 1 });
      },
    } as unknown as CoordinationStore;
    const clients: Client[] = [];

    beforeAll(async () => {
      const storage = gatedStorage(await openStorage(kind, inject('mongoUri')), gate);
      h = await startHarness((deps) => startSessionsSubgraph(deps), storage, { bus, coordination });
      bus.subscribe(EventTopic.session, (e) => events.push(e));
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.dispose()));
      await h.close();
    });

    /** A definition as the definitions subgraph publishes it (its status projection). */
    async function definition(status: DefinitionStatusProjection['status'] = DefinitionStatus.ACTIVE): Promise<DefinitionStatusProjection> {
      const id = newId('def');
      const def: DefinitionStatusProjection = { id, revision: 1, name: `lab-${id}`, version: '2.1.0', status };
      projections.set(CoordinationKeys.definitionStatus(id), def);
      return def;
    }

    async function ok<K extends string>(key: K, query: string, variables: Record<string, unknown>, options?: CallOptions): Promise<SessionView> {
      const r = await h.call<Record<K, SessionView>>(query, variables, options);
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      return (r.data as Record<K, SessionView>)[key];
    }

    const create = async (input: Record<string, unknown>, options?: CallOptions) => ok('createSession', CREATE, { input }, options);
    const get = async (id: string) => ok('session', GET, { id });
    const transition = (id: string, to: string, options?: CallOptions, reason?: string) =>
      ok('transitionSession', TRANSITION, { id, to, reason }, options);
    const advance = (id: string, to: string, reason?: string) => ok('advanceSession', ADVANCE, { id, to, reason }, CONTROLLER);
    const schedule = (id: string, workerId: string, allocatedPorts: Array<{ name: string; port: number }> = []) =>
      ok('scheduleSession', SCHEDULE, { input: { id, workerId, allocatedPorts } }, SCHEDULER);
    const count = async () => ((await h.call<{ sessions: { totalCount: number } }>(`{ sessions(first: 0) { totalCount } }`)).data?.sessions.totalCount ?? -1);

    it('creates a PENDING session with its creation in the history, a projection and a created event', async () => {
      const def = await definition();
      const end = new Date(Date.now() + 3600_000).toISOString();
      const s = await create({ definitionId: def.id, owner: ' alice ', timeslotEnd: end }, STUDENT_APP);
      expect(s).toMatchObject({
        status: 'PENDING',
        owner: 'alice',
        revision: 1,
        definitionVersion: '2.1.0',
        definition: { id: def.id },
        worker: null,
        timeslotEnd: end,
        allocatedPorts: [],
        userSession: null,
        gradingSession: null,
        startedAt: null,
        endedAt: null,
        durationSeconds: null,
        pipelineProgress: {},
      });
      expect(s.timeslotStart).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      expect(s.statusHistory).toEqual([{ from: null, to: 'PENDING', at: s.timeslotStart, actor: 'user:portal', reason: 'created' }]);
      expect(await get(s.id)).toEqual(s);
      expect(projections.get(`/lcm/sessions/${s.id}/status`)).toEqual({
        status: 'PENDING',
        revision: 1,
        workerId: null,
        definitionId: def.id,
        timeslotStart: s.timeslotStart,
        timeslotEnd: end,
      });
      const created = events.find((e) => e.subject === s.id);
      expect(created).toMatchObject({ type: 'lcm.session.created.v1', entityversion: 1, actor: 'user:portal', data: { id: s.id, status: 'PENDING' } });
    });

    it('refuses a missing or deprecated definition and a bad timeslot or owner, writing nothing', async () => {
      const active = await definition();
      const deprecated = await definition(DefinitionStatus.DEPRECATED);
      const before = await count();
      const soon = Date.now() + 3600_000;
      const missing = onlyError(await h.call(CREATE, { input: { definitionId: 'def_missing', owner: 'bob' } }));
      expect(missing.code).toBe('NOT_FOUND');
      const old = onlyError(await h.call(CREATE, { input: { definitionId: deprecated.id, owner: 'bob' } }));
      expect(old.code).toBe('CONFLICT');
      expect(old.message).toContain('definition is DEPRECATED');
      for (const [input, field] of [
        [{ timeslotStart: new Date(soon).toISOString(), timeslotEnd: new Date(soon - 60_000).toISOString() }, 'input.timeslotEnd'],
        [{ timeslotStart: new Date(soon - 7200_000).toISOString(), timeslotEnd: new Date(soon - 5400_000).toISOString() }, 'input.timeslotEnd'],
        [{ owner: '' }, 'input.owner'],
        [{ owner: 'x'.repeat(257) }, 'input.owner'],
      ] as const) {
        const e = onlyError(await h.call(CREATE, { input: { definitionId: active.id, owner: 'bob', ...input } }));
        expect(e.code).toBe('BAD_USER_INPUT');
        expect(e.extensions.field).toBe(field);
      }
      const notADate = onlyError(await h.call(CREATE, { input: { definitionId: active.id, owner: 'bob', timeslotEnd: 'tomorrow' } }));
      expect(notADate.code).toBe('BAD_USER_INPUT');
      expect(await count()).toBe(before);
    });

    it('runs the whole lifecycle PENDING → … → ARCHIVED with history, actors, children, times and events', async () => {
      const def = await definition();
      const s0 = await create({ definitionId: def.id, owner: 'carol' }, STUDENT_APP);
      const ports = [
        { name: 'r1-serial', port: 2000 },
        { name: 'r2-vnc', port: 2001 },
      ];
      const s1 = await schedule(s0.id, 'wrk_a', ports);
      expect(s1).toMatchObject({ status: 'SCHEDULED', worker: { id: 'wrk_a' }, allocatedPorts: ports, revision: 2 });
      await advance(s0.id, 'INSTANTIATING', 'boot window reached');
      await ok('recordSessionLab', RECORD_LAB, { id: s0.id, lab: 'lab-42' }, CONTROLLER);
      await ok('recordPipelineProgress', PROGRESS, { id: s0.id, p: 'instantiate', progress: { step: 'lab_start', attempt: 1 } }, CONTROLLER);
      const withUser = await ok(
        'upsertUserSession',
        USER_SESSION,
        { id: s0.id, input: { status: 'PROVISIONED', loginUrl: 'https://lds.example/s/1', externalId: 'lds-1', devices: [{ name: 'r1', protocol: 'serial', host: '10.0.0.5', port: 2000 }] } },
        CONTROLLER,
      );
      expect(withUser.userSession).toMatchObject({ status: 'PROVISIONED', loginUrl: 'https://lds.example/s/1', externalId: 'lds-1' });
      await advance(s0.id, 'READY', 'lab booted');
      const running = await transition(s0.id, 'RUNNING', STUDENT_APP, 'student started');
      expect(running.startedAt).not.toBeNull();
      const again = await ok('upsertUserSession', USER_SESSION, { id: s0.id, input: { status: 'active' } }, CONTROLLER);
      expect(again.userSession).toMatchObject({ id: withUser.userSession?.id, status: 'ACTIVE', loginUrl: 'https://lds.example/s/1' });
      await transition(s0.id, 'COLLECTING', STUDENT_APP, 'student finished');
      const graded = await ok('upsertGradingSession', GRADING_SESSION, { id: s0.id, input: { status: 'GRADING', externalId: 'ge-7' } }, CONTROLLER);
      expect(graded.gradingSession).toMatchObject({ status: 'GRADING', externalId: 'ge-7', faultReason: null });
      await advance(s0.id, 'GRADING');
      await advance(s0.id, 'STOPPING');
      const archived = await advance(s0.id, 'ARCHIVED', 'torn down');

      expect(archived).toMatchObject({ status: 'ARCHIVED', cmlLabId: 'lab-42', pipelineProgress: { instantiate: { step: 'lab_start', attempt: 1 } } });
      expect(archived.statusHistory.map((t) => [t.from, t.to, t.actor])).toEqual([
        [null, 'PENDING', 'user:portal'],
        ['PENDING', 'SCHEDULED', 'controller:resource-scheduler'],
        ['SCHEDULED', 'INSTANTIATING', 'controller:lablet-controller'],
        ['INSTANTIATING', 'READY', 'controller:lablet-controller'],
        ['READY', 'RUNNING', 'user:portal'],
        ['RUNNING', 'COLLECTING', 'user:portal'],
        ['COLLECTING', 'GRADING', 'controller:lablet-controller'],
        ['GRADING', 'STOPPING', 'controller:lablet-controller'],
        ['STOPPING', 'ARCHIVED', 'controller:lablet-controller'],
      ]);
      expect(archived.statusHistory[4]?.reason).toBe('student started');
      expect(archived.endedAt).toBe(archived.statusHistory.at(-1)?.at);
      expect(archived.durationSeconds).toBe((Date.parse(archived.endedAt ?? '') - Date.parse(archived.startedAt ?? '')) / 1000);
      expect(archived.revision).toBe(archived.statusHistory.length + 5); // 8 transitions + 5 other changes + creation
      expect(events.filter((e) => e.subject === s0.id).map((e) => e.type)).toEqual([
        'lcm.session.created.v1',
        'lcm.session.scheduled.v1',
        'lcm.session.instantiating.v1',
        'lcm.session.updated.v1',
        'lcm.session.updated.v1',
        'lcm.session.updated.v1',
        'lcm.session.ready.v1',
        'lcm.session.running.v1',
        'lcm.session.updated.v1',
        'lcm.session.collecting.v1',
        'lcm.session.updated.v1',
        'lcm.session.grading.v1',
        'lcm.session.stopping.v1',
        'lcm.session.archived.v1',
      ]);
      expect(projections.get(`/lcm/sessions/${s0.id}/status`)).toMatchObject({ status: 'ARCHIVED', revision: archived.revision, workerId: 'wrk_a' });
      expect(await get(s0.id)).toEqual(archived);
    });

    it('rejects an invalid transition with INVALID_TRANSITION naming both statuses, writing nothing', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'dave' });
      const e = onlyError(await h.call(TRANSITION, { id: s.id, to: 'RUNNING' }));
      expect(e.code).toBe('INVALID_TRANSITION');
      expect(e.message).toContain('PENDING');
      expect(e.message).toContain('RUNNING');
      expect(e.extensions).toMatchObject({ from: 'PENDING', to: 'RUNNING' });
      const terminated = await ok('terminateSession', TERMINATE, { id: s.id, reason: 'cancelled by the student' });
      expect(terminated.statusHistory.at(-1)).toMatchObject({ from: 'PENDING', to: 'TERMINATED', reason: 'cancelled by the student' });
      expect(terminated.endedAt).not.toBeNull();
      const twice = onlyError(await h.call(TERMINATE, { id: s.id }));
      expect(twice).toMatchObject({ code: 'INVALID_TRANSITION', extensions: { from: 'TERMINATED', to: 'TERMINATED' } });
      const schedule = onlyError(await h.call(SCHEDULE, { input: { id: s.id, workerId: 'w', allocatedPorts: [] } }, SCHEDULER));
      expect(schedule).toMatchObject({ code: 'INVALID_TRANSITION', extensions: { from: 'TERMINATED', to: 'SCHEDULED' } });
      expect(await get(s.id)).toEqual(terminated);
      expect(onlyError(await h.call(TRANSITION, { id: 'ses_missing', to: 'RUNNING' })).code).toBe('NOT_FOUND');
    });

    it('keeps the controllers\' moves out of the public transitionSession, writing nothing', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'mallory' });
      // PENDING → SCHEDULED is in the table, but only the scheduler places a session (with a worker).
      const e = onlyError(await h.call(TRANSITION, { id: s.id, to: 'SCHEDULED' }, CONTROLLER));
      expect(e).toMatchObject({ code: 'INVALID_TRANSITION', extensions: { from: 'PENDING', to: 'SCHEDULED' } });
      expect(e.message).toMatch(/controllers make that move/);
      expect(await get(s.id)).toEqual(s);
      await schedule(s.id, 'wrk_g');
      for (const to of ['INSTANTIATING']) {
        expect(onlyError(await h.call(TRANSITION, { id: s.id, to }, STUDENT_APP)).code).toBe('INVALID_TRANSITION');
      }
      await advance(s.id, 'INSTANTIATING');
      expect(onlyError(await h.call(TRANSITION, { id: s.id, to: 'READY' }, STUDENT_APP)).code).toBe('INVALID_TRANSITION');
      await advance(s.id, 'READY');
      await transition(s.id, 'RUNNING', STUDENT_APP);
      await transition(s.id, 'COLLECTING', STUDENT_APP);
      expect(onlyError(await h.call(TRANSITION, { id: s.id, to: 'GRADING' }, STUDENT_APP)).code).toBe('INVALID_TRANSITION');
      expect((await transition(s.id, 'STOPPING', STUDENT_APP)).status).toBe('STOPPING');
      expect(onlyError(await h.call(TRANSITION, { id: s.id, to: 'ARCHIVED' }, STUDENT_APP)).code).toBe('INVALID_TRANSITION');
      // The controllers' mutation needs the internal scope.
      expect(onlyError(await h.call(ADVANCE, { id: s.id, to: 'ARCHIVED' }, STUDENT_APP)).code).toBe('FORBIDDEN');
      expect((await get(s.id)).status).toBe('STOPPING');
      expect((await transition(s.id, 'TERMINATED', STUDENT_APP, 'operator')).status).toBe('TERMINATED');
    });

    it('refuses a stale expectedRevision with CONFLICT, writing nothing', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'erin' });
      await schedule(s.id, 'wrk_b');
      const e = onlyError(await h.call(ADVANCE, { id: s.id, to: 'INSTANTIATING', rev: 1 }, CONTROLLER));
      expect(e).toMatchObject({ code: 'CONFLICT', extensions: { revision: 2, expectedRevision: 1 } });
      expect((await get(s.id)).revision).toBe(2);
      expect((await ok('advanceSession', ADVANCE, { id: s.id, to: 'INSTANTIATING', rev: 2 }, CONTROLLER)).revision).toBe(3);
    });

    /** Two replicas of the subgraph on one store: a race between processes, not inside one (changes of one session are serialised there). */
    async function raceOnTwoReplicas(a: string, b: string, rev: number | undefined, id: string) {
      const other = await h.replica((deps) => startSessionsSubgraph(deps));
      gate.arm(2); // both commands read the same revision before either writes
      return Promise.all([
        h.call<{ transitionSession: SessionView }>(TRANSITION, { id, to: a, rev }, STUDENT_APP),
        other.call<{ advanceSession: SessionView }>(ADVANCE, { id, to: b, rev }, CONTROLLER),
      ]);
    }

    it('races RUNNING against TERMINATED, both naming the revision they read: exactly one wins, the other is a CONFLICT and writes nothing', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'frank' });
      await schedule(s.id, 'wrk_c');
      await advance(s.id, 'INSTANTIATING');
      const ready = await advance(s.id, 'READY');
      const results = await raceOnTwoReplicas('RUNNING', 'TERMINATED', ready.revision, s.id);
      const winners = results.filter((r) => !r.errors);
      const losers = results.filter((r) => r.errors);
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(1);
      expect(onlyError(losers[0] as (typeof results)[number])).toMatchObject({ code: 'CONFLICT', extensions: { expectedRevision: ready.revision } });
      const d = winners[0]?.data as { transitionSession?: SessionView; advanceSession?: SessionView } | undefined;
      const won = (d?.transitionSession ?? d?.advanceSession) as SessionView;
      const stored = await get(s.id);
      expect(stored).toEqual(won);
      expect(stored.revision).toBe(ready.revision + 1);
      expect(stored.statusHistory).toHaveLength(ready.statusHistory.length + 1);
      expect(stored.statusHistory.at(-1)).toMatchObject({ from: 'READY', to: stored.status });
      expect(events.filter((e) => e.subject === s.id && e.entityversion === ready.revision + 1)).toHaveLength(1);
    });

    it('races RUNNING against EXPIRED without revisions: the loser is decided again on the winner\'s state, as if it came second; no write is lost', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'frank' });
      await schedule(s.id, 'wrk_c');
      await advance(s.id, 'INSTANTIATING');
      const ready = await advance(s.id, 'READY');
      const [running, expired] = await raceOnTwoReplicas('RUNNING', 'EXPIRED', undefined, s.id);
      const stored = await get(s.id);
      const after = stored.statusHistory.slice(ready.statusHistory.length).map((t) => [t.from, t.to]);
      if (running.errors) {
        // EXPIRED was written first; RUNNING, decided again on EXPIRED, is not allowed from there.
        expect(onlyError(running)).toMatchObject({ code: 'INVALID_TRANSITION', extensions: { from: 'EXPIRED', to: 'RUNNING' } });
        expect(expired.errors).toBeUndefined();
        expect(after).toEqual([['READY', 'EXPIRED']]);
        expect(stored.revision).toBe(ready.revision + 1);
      } else {
        // RUNNING was written first (or EXPIRED went second on RUNNING): both apply, in one order.
        expect(expired.errors).toBeUndefined();
        expect(after).toEqual([
          ['READY', 'RUNNING'],
          ['RUNNING', 'EXPIRED'],
        ]);
        expect(stored.revision).toBe(ready.revision + 2);
      }
      // One event per saved revision, none lost or doubled.
      for (let r = ready.revision + 1; r <= stored.revision; r++) {
        expect(events.filter((e) => e.subject === s.id && e.entityversion === r)).toHaveLength(1);
      }
    });

    it('validates placement and children, writing nothing', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'gina' });
      const badPort = onlyError(
        await h.call(SCHEDULE, { input: { id: s.id, workerId: 'w', allocatedPorts: [{ name: 'a', port: 2000 }, { name: 'b', port: 10_000 }] } }, SCHEDULER),
      );
      expect(badPort).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.allocatedPorts[1].port' } });
      const dupName = onlyError(
        await h.call(SCHEDULE, { input: { id: s.id, workerId: 'w', allocatedPorts: [{ name: 'a', port: 2000 }, { name: 'a', port: 2001 }] } }, SCHEDULER),
      );
      expect(dupName).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.allocatedPorts[1].name' } });
      const badUser = onlyError(await h.call(USER_SESSION, { id: s.id, input: { status: 'BOOTING' } }, CONTROLLER));
      expect(badUser).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.status' } });
      const badGrading = onlyError(await h.call(GRADING_SESSION, { id: s.id, input: { status: 'DONE' } }, CONTROLLER));
      expect(badGrading).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.status' } });
      const badProgress = onlyError(await h.call(PROGRESS, { id: s.id, p: 'instantiate', progress: 'half' }, CONTROLLER));
      expect(badProgress).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'progress' } });
      expect(await get(s.id)).toEqual(s);
    });

    it('needs an identity, the internal scope for the controllers’ mutations, and a write scope for the others', async () => {
      const def = await definition();
      const s = await create({ definitionId: def.id, owner: 'hank' });
      const before = await count();
      const internalOnly: Array<[string, Record<string, unknown>]> = [
        [SCHEDULE, { input: { id: s.id, workerId: 'w', allocatedPorts: [] } }],
        [RECORD_LAB, { id: s.id, lab: 'x' }],
        [PROGRESS, { id: s.id, p: 'instantiate', progress: { a: 1 } }],
        [USER_SESSION, { id: s.id, input: { status: 'ACTIVE' } }],
        [GRADING_SESSION, { id: s.id, input: { status: 'PENDING' } }],
      ];
      for (const [query, variables] of internalOnly) {
        const e = onlyError(await h.call(query, variables, STUDENT_APP));
        expect(e).toMatchObject({ code: 'FORBIDDEN', extensions: { requiredScopes: ['internal'] } });
      }
      const readOnly: CallOptions = { scopes: [Scope.READ] };
      expect(onlyError(await h.call(CREATE, { input: { definitionId: def.id, owner: 'x' } }, readOnly)).code).toBe('FORBIDDEN');
      expect(onlyError(await h.call(TRANSITION, { id: s.id, to: 'SCHEDULED' }, readOnly)).code).toBe('FORBIDDEN');
      expect(onlyError(await h.call(TERMINATE, { id: s.id }, readOnly)).code).toBe('FORBIDDEN');
      const anonymous = onlyError(await h.call(TERMINATE, { id: s.id }, { anonymous: true }));
      expect(anonymous.code).toBe('UNAUTHENTICATED');
      expect(onlyError(await h.call(GET, { id: s.id }, { scopes: [] })).code).toBe('FORBIDDEN');
      expect(await get(s.id)).toEqual(s);
      expect(await count()).toBe(before);
      // The controllers may create and terminate with the internal scope alone.
      const byController = await create({ definitionId: def.id, owner: 'hank' }, CONTROLLER);
      expect((await ok('terminateSession', TERMINATE, { id: byController.id }, CONTROLLER)).status).toBe('TERMINATED');
    });

    it('filters by status, owner, definition and worker, and pages with cursors', async () => {
      const d1 = await definition();
      const d2 = await definition();
      const ids: string[] = [];
      for (const [def, owner] of [
        [d1, 'ivy'],
        [d1, 'ivy'],
        [d2, 'ivy'],
        [d1, 'jack'],
      ] as const) {
        ids.push((await create({ definitionId: def.id, owner })).id);
      }
      await schedule(ids[1] as string, 'wrk_filter');
      type C = { sessions: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: Array<{ cursor: string; node: { id: string } }> } };
      const q = `query($f: SessionFilter, $first: Int, $after: String) { sessions(filter: $f, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`;
      const list = async (f: Record<string, unknown>, first?: number, after?: string | null) => {
        const r = await h.call<C>(q, { f, first, after });
        expect(r.errors).toBeUndefined();
        return r.data?.sessions as C['sessions'];
      };
      const nodes = (c: C['sessions']) => c.edges.map((e) => e.node.id);
      expect(nodes(await list({ owner: 'ivy' }))).toEqual(ids.slice(0, 3));
      expect(nodes(await list({ owner: 'ivy', definitionId: d1.id }))).toEqual(ids.slice(0, 2));
      expect(nodes(await list({ definitionId: d1.id, statuses: ['PENDING'] }))).toEqual([ids[0], ids[3]]);
      expect(nodes(await list({ workerId: 'wrk_filter' }))).toEqual([ids[1]]);
      expect(nodes(await list({ definitionId: d1.id, statuses: ['SCHEDULED', 'RUNNING'] }))).toEqual([ids[1]]);
      const p1 = await list({ owner: 'ivy' }, 2);
      expect(p1).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
      expect(nodes(p1)).toEqual(ids.slice(0, 2));
      const p2 = await list({ owner: 'ivy' }, 2, p1.pageInfo.endCursor);
      expect(p2).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: false } });
      expect(nodes(p2)).toEqual([ids[2]]);
      expect(onlyError(await h.call(q, { first: 501 }))).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'first' } });
    });

    it('resolves N LabletSession references and the sessions of N workers in one round trip each', async () => {
      const def = await definition();
      const sessionIds: string[] = [];
      const workerIds: string[] = [];
      for (let i = 0; i < 12; i++) {
        const s = await create({ definitionId: def.id, owner: 'kim' });
        workerIds.push(`wrk_n${i}_${kind}`);
        await schedule(s.id, workerIds[i] as string);
        sessionIds.push(s.id);
      }
      // A finished session on the first worker holds no capacity there: not listed by default.
      const extra = await create({ definitionId: def.id, owner: 'kim' });
      await schedule(extra.id, workerIds[0] as string);
      await ok('terminateSession', TERMINATE, { id: extra.id });

      const sessionsQ = `query($r: [_Any!]!) { _entities(representations: $r) { ... on LabletSession { id status worker { id } } } }`;
      const sessionTrips = async (n: number) => {
        const before = h.deps.storage.roundTrips();
        const r = await h.call<{ _entities: Array<{ id: string; worker: { id: string } }> }>(sessionsQ, {
          r: sessionIds.slice(0, n).map((id) => ({ __typename: 'LabletSession', id })),
        });
        expect(r.data?._entities.map((e) => e.id)).toEqual(sessionIds.slice(0, n));
        expect(r.data?._entities.map((e) => e.worker.id)).toEqual(workerIds.slice(0, n));
        return h.deps.storage.roundTrips() - before;
      };
      expect(await sessionTrips(2)).toBe(1);
      expect(await sessionTrips(12)).toBe(1);

      const workersQ = `query($r: [_Any!]!) { _entities(representations: $r) { ... on CmlWorker { id sessions { id status } } } }`;
      const workerTrips = async (n: number) => {
        const before = h.deps.storage.roundTrips();
        const r = await h.call<{ _entities: Array<{ id: string; sessions: Array<{ id: string }> }> }>(workersQ, {
          r: workerIds.slice(0, n).map((id) => ({ __typename: 'CmlWorker', id })),
        });
        expect(r.data?._entities.map((e) => e.id)).toEqual(workerIds.slice(0, n));
        expect(r.data?._entities.map((e) => e.sessions.map((s) => s.id))).toEqual(sessionIds.slice(0, n).map((id) => [id]));
        return h.deps.storage.roundTrips() - before;
      };
      expect(await workerTrips(2)).toBe(1);
      expect(await workerTrips(12)).toBe(1);

      const withStatuses = await h.call<{ _entities: Array<{ sessions: Array<{ id: string }> }> }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on CmlWorker {
          finished: sessions(statuses: [TERMINATED]) { id } all: sessions(statuses: [SCHEDULED, TERMINATED]) { id } } } }`,
        { r: [{ __typename: 'CmlWorker', id: workerIds[0] }] },
      );
      expect(withStatuses.data?._entities[0]).toEqual({ finished: [{ id: extra.id }], all: [{ id: sessionIds[0] }, { id: extra.id }] });
    });

    it('delivers sessionUpdated over graphql-ws, filtered by status and id, also for events that travelled as JSON', async () => {
      const def = await definition();
      const token = await h.deps.signer.sign({ subject: 'dashboard', kind: 'api-key', scopes: [Scope.READ] } satisfies Identity);
      const client = createClient({
        url: h.server.graphqlUrl.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: { 'x-lcm-identity': token },
        retryAttempts: 0,
      });
      clients.push(client);
      const listening = bus.listening;
      const scheduled = client.iterate<{ sessionUpdated: { id: string; status: string; revision: number; statusHistory: Array<{ to: string }> } }>({
        query: `subscription { sessionUpdated(statuses: [SCHEDULED, READY]) { id status revision statusHistory { to } } }`,
      });
      await eventually('the subscription', () => bus.listening > listening);

      const s = await create({ definitionId: def.id, owner: 'liz' });
      await schedule(s.id, 'wrk_sub');
      const first = await scheduled.next();
      expect(first.value?.data?.sessionUpdated).toEqual({ id: s.id, status: 'SCHEDULED', revision: 2, statusHistory: [{ to: 'PENDING' }, { to: 'SCHEDULED' }] });

      // An event from another replica arrives through etcd as JSON (dates as strings).
      const listeningById = bus.listening;
      const byId = client.iterate<{ sessionUpdated: { id: string; status: string; startedAt: string | null; durationSeconds: number | null } }>({
        query: `subscription($ids: [ID!]) { sessionUpdated(ids: $ids) { id status startedAt durationSeconds } }`,
        variables: { ids: [s.id] },
      });
      await eventually('the second subscription', () => bus.listening > listeningById);
      const other = await create({ definitionId: def.id, owner: 'liz' });
      await ok('terminateSession', TERMINATE, { id: other.id });
      const snapshot = { ...(events.find((e) => e.subject === s.id && e.entityversion === 2) as CloudEvent).data as Record<string, unknown> };
      const started = '2026-01-01T10:00:00.000Z';
      const ended = '2026-01-01T10:30:00.000Z';
      await bus.publish(EventTopic.session, JSON.parse(JSON.stringify({ type: 'lcm.session.archived.v1', data: { ...snapshot, status: 'READY', startedAt: started, endedAt: ended } })));
      const fromJson = await byId.next();
      expect(fromJson.value?.data?.sessionUpdated).toEqual({ id: s.id, status: 'READY', startedAt: started, durationSeconds: 1800 });
      const viaFilter = await scheduled.next();
      expect(viaFilter.value?.data?.sessionUpdated).toMatchObject({ id: s.id, status: 'READY' });
      await scheduled.return?.();
      await byId.return?.();
      await eventually('the subscriptions to end', () => bus.listening === listening);
    });
  });
}
