import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryCoordinationStore } from '../../core/adapters/memory/memory-coordination.ts';
import { MemoryEventBus } from '../../core/adapters/memory/memory-event-bus.ts';
import { CoordinationKeys } from '../../core/ports/coordination.ts';
import { Scope } from '../../core/auth/identity.ts';
import { EventTopic, type CloudEvent } from '../../core/events/cloudevent.ts';
import { newId } from '../../core/ids.ts';
import { eventually } from '../../test/support/eventually.ts';
import { onlyError, openStorage, startHarness, type CallOptions, type Harness, type StorageKind } from '../../test/support/subgraph-harness.ts';
import { startScoreReportsSubgraph } from './server.ts';

const REPORT = /* GraphQL */ `id session { id } definitionId owner score maxScore cutScore passed sections { name score maxScore weight } submittedAt createdAt`;
interface ReportView {
  id: string;
  session: { id: string };
  definitionId: string;
  owner: string;
  score: number;
  maxScore: number;
  cutScore: number | null;
  passed: boolean | null;
  sections: Array<{ name: string; score: number; maxScore: number; weight: number }>;
  submittedAt: string;
  createdAt: string;
}
const PUBLISH = `mutation($input: PublishScoreReportInput!) { publishScoreReport(input: $input) { ${REPORT} } }`;
const CONTROLLER: CallOptions = { kind: 'service', subject: 'lablet-controller', scopes: [Scope.INTERNAL, Scope.READ] };

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

const input = (over: Record<string, unknown> = {}) => ({
  sessionId: newId('ses'),
  definitionId: 'def_reports',
  owner: 'alice',
  gradingSessionId: 'ge-1',
  score: 42,
  maxScore: 60,
  cutScore: 40,
  sections: [
    { name: 'routing', score: 30, maxScore: 40, weight: 2 },
    { name: 'security', score: 12, maxScore: 20 },
  ],
  ...over,
});

for (const kind of ['memory', 'mongodb'] as StorageKind[]) {
  describe(`score-reports subgraph over HTTP (${kind})`, () => {
    let h: Harness;
    const bus = new ObservedBus();
    const events: CloudEvent[] = [];
    const clients: Client[] = [];

    // What the sessions subgraph publishes: the status projection of each session (here: in GRADING).
    const coordination = new MemoryCoordinationStore();
    const setStatus = (sessionId: string, status: string, definitionId = 'def_reports') =>
      coordination.put(CoordinationKeys.sessionStatus(sessionId), JSON.stringify({ status, definitionId, revision: 1, workerId: null }));

    beforeAll(async () => {
      h = await startHarness((deps) => startScoreReportsSubgraph(deps), await openStorage(kind, inject('mongoUri')), { bus, coordination });
      bus.subscribe(EventTopic.scoreReport, (e) => events.push(e));
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.dispose()));
      await h.close();
    });

    const publish = async (over: Record<string, unknown> = {}) => {
      const i = input(over);
      await setStatus(i.sessionId, 'GRADING', i.definitionId);
      const r = await h.call<{ publishScoreReport: ReportView }>(PUBLISH, { input: i }, CONTROLLER);
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      return r.data?.publishScoreReport as ReportView;
    };
    const count = async () => ((await h.call<{ scoreReports: { totalCount: number } }>(`{ scoreReports(first: 0) { totalCount } }`)).data?.scoreReports.totalCount ?? -1);

    it('publishes a validated report with passed derived from the cut score, and an event', async () => {
      const before = new Date();
      const r = await publish({ sessionId: 'ses_first' });
      expect(r).toMatchObject({
        session: { id: 'ses_first' },
        definitionId: 'def_reports',
        owner: 'alice',
        score: 42,
        maxScore: 60,
        cutScore: 40,
        passed: true,
        sections: [
          { name: 'routing', score: 30, maxScore: 40, weight: 2 },
          { name: 'security', score: 12, maxScore: 20, weight: 1 },
        ],
      });
      expect(Date.parse(r.submittedAt)).toBeGreaterThanOrEqual(before.getTime());
      expect(r.submittedAt).toBe(r.createdAt);
      const got = await h.call<{ scoreReport: ReportView }>(`query($id: ID!) { scoreReport(id: $id) { ${REPORT} } }`, { id: r.id });
      expect(got.data?.scoreReport).toEqual(r);
      expect(events.filter((e) => e.subject === r.id)).toMatchObject([
        { type: 'lcm.score-report.published.v1', actor: 'controller:lablet-controller', data: { id: r.id, sessionId: 'ses_first', gradingSessionId: 'ge-1' } },
      ]);
      expect((await publish({ cutScore: 43 })).passed).toBe(false);
      expect((await publish({ cutScore: null })).passed).toBeNull();
      const submittedAt = '2026-03-01T12:00:00.000Z';
      expect((await publish({ submittedAt })).submittedAt).toBe(submittedAt);
    });

    it.each([
      [{ maxScore: 0 }, 'input.maxScore'],
      [{ score: -1 }, 'input.score'],
      [{ score: 61 }, 'input.score'],
      [{ cutScore: 61 }, 'input.cutScore'],
      [{ cutScore: -0.5 }, 'input.cutScore'],
      [{ sections: [] }, 'input.sections'],
      [{ sections: [{ name: 'a', score: 5, maxScore: 4 }] }, 'input.sections[0].score'],
      [{ sections: [{ name: 'a', score: -1, maxScore: 4 }] }, 'input.sections[0].score'],
      [{ sections: [{ name: 'a', score: 1, maxScore: 0 }] }, 'input.sections[0].maxScore'],
      [{ sections: [{ name: 'a', score: 1, maxScore: 4, weight: -1 }] }, 'input.sections[0].weight'],
      [{ sections: [{ name: 'a', score: 1, maxScore: 4 }, { name: 'a', score: 1, maxScore: 4 }] }, 'input.sections[1].name'],
      [{ sections: [{ name: ' ', score: 1, maxScore: 4 }] }, 'input.sections[0].name'],
      [{ owner: '' }, 'input.owner'],
      [{ sessionId: '' }, 'input.sessionId'],
    ])('refuses %j naming %s, writing nothing', async (over, field) => {
      const before = await count();
      const e = onlyError(await h.call(PUBLISH, { input: input(over) }, CONTROLLER));
      expect(e.code).toBe('BAD_USER_INPUT');
      expect(e.extensions.field).toBe(field);
      expect(await count()).toBe(before);
    });

    it('publishes only for a session in GRADING, of the definition the report names, writing nothing otherwise', async () => {
      const before = await count();
      const unknown = onlyError(await h.call(PUBLISH, { input: input({ sessionId: 'ses_unknown' }) }, CONTROLLER));
      expect(unknown.code).toBe('NOT_FOUND');
      await setStatus('ses_collecting', 'COLLECTING');
      const early = onlyError(await h.call(PUBLISH, { input: input({ sessionId: 'ses_collecting' }) }, CONTROLLER));
      expect(early).toMatchObject({ code: 'CONFLICT', extensions: { sessionId: 'ses_collecting', status: 'COLLECTING' } });
      await setStatus('ses_other_def', 'GRADING', 'def_other');
      const wrongDef = onlyError(await h.call(PUBLISH, { input: input({ sessionId: 'ses_other_def' }) }, CONTROLLER));
      expect(wrongDef).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'input.definitionId' } });
      expect(await count()).toBe(before);
      expect(events.filter((e) => ['ses_unknown', 'ses_collecting', 'ses_other_def'].includes((e.data as { sessionId: string }).sessionId))).toHaveLength(0);
    });

    it('keeps one report per session: publishing again returns the first report and sends no second event', async () => {
      const sessionId = newId('ses');
      const first = await publish({ sessionId });
      const before = await count();
      const again = await publish({ sessionId, score: 10 });
      expect(again).toEqual(first);
      const raced = await Promise.all([publish({ sessionId: 'ses_race', score: 1 }), publish({ sessionId: 'ses_race', score: 2 })]);
      expect(raced[0]).toEqual(raced[1]);
      expect(await count()).toBe(before + 1);
      expect(events.filter((e) => (e.data as { sessionId: string }).sessionId === sessionId)).toHaveLength(1);
      expect(events.filter((e) => (e.data as { sessionId: string }).sessionId === 'ses_race')).toHaveLength(1);
    });

    it('publishes only with the internal scope, and answers only callers with an identity', async () => {
      const before = await count();
      const e = onlyError(await h.call(PUBLISH, { input: input() }, { scopes: [Scope.READ, Scope.SESSIONS_WRITE] }));
      expect(e).toMatchObject({ code: 'FORBIDDEN', extensions: { requiredScopes: ['internal'] } });
      expect(onlyError(await h.call(PUBLISH, { input: input() }, { anonymous: true })).code).toBe('UNAUTHENTICATED');
      expect(onlyError(await h.call(`{ scoreReports { totalCount } }`, {}, { scopes: [] })).code).toBe('FORBIDDEN');
      expect(await count()).toBe(before);
    });

    it('filters by definition, owner, passed and a submitted time range, and pages with cursors', async () => {
      const def = newId('def');
      const at = (day: number) => `2026-05-${String(day).padStart(2, '0')}T00:00:00.000Z`;
      const ids: string[] = [];
      for (const [day, owner, score] of [
        [1, 'ann', 50],
        [2, 'ann', 10],
        [3, 'bob', 45],
        [4, 'bob', 20],
        [5, 'ann', 59],
      ] as const) {
        ids.push((await publish({ definitionId: def, owner, score, submittedAt: at(day) })).id);
      }
      await publish({ definitionId: def, owner: 'ann', cutScore: null, submittedAt: at(6) });
      type C = { scoreReports: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: Array<{ node: { id: string } }> } };
      const q = `query($f: ScoreReportFilter, $first: Int, $after: String) { scoreReports(filter: $f, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`;
      const list = async (f: Record<string, unknown>, first?: number, after?: string | null) => {
        const r = await h.call<C>(q, { f: { definitionId: def, ...f }, first, after });
        expect(r.errors).toBeUndefined();
        return r.data?.scoreReports as C['scoreReports'];
      };
      const nodes = (c: C['scoreReports']) => c.edges.map((e) => e.node.id);
      expect((await list({})).totalCount).toBe(6);
      expect(nodes(await list({ passed: true }))).toEqual([ids[0], ids[2], ids[4]]);
      expect(nodes(await list({ passed: false }))).toEqual([ids[1], ids[3]]);
      expect(nodes(await list({ owner: 'bob' }))).toEqual([ids[2], ids[3]]);
      expect(nodes(await list({ owner: 'ann', passed: true }))).toEqual([ids[0], ids[4]]);
      expect(nodes(await list({ submittedAfter: at(2), submittedBefore: at(4) }))).toEqual([ids[1], ids[2]]);
      expect(nodes(await list({ submittedAfter: at(5) }))).toHaveLength(2);
      expect(nodes(await list({ submittedBefore: at(1) }))).toEqual([]);
      const p1 = await list({ passed: true }, 2);
      expect(p1).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
      const p2 = await list({ passed: true }, 2, p1.pageInfo.endCursor);
      expect(nodes(p2)).toEqual([ids[4]]);
      expect(p2.pageInfo.hasNextPage).toBe(false);
    });

    it('resolves the score reports of N sessions, and N report references, in one round trip each', async () => {
      const sessionIds = Array.from({ length: 12 }, () => newId('ses'));
      const reportIds: string[] = [];
      for (const sessionId of sessionIds.slice(0, 11)) reportIds.push((await publish({ sessionId })).id);
      const sessionsQ = `query($r: [_Any!]!) { _entities(representations: $r) { ... on LabletSession { id scoreReport { id session { id } } } } }`;
      const sessionTrips = async (ids: string[]) => {
        const before = h.deps.storage.roundTrips();
        const r = await h.call<{ _entities: Array<{ id: string; scoreReport: { id: string; session: { id: string } } | null }> }>(sessionsQ, {
          r: ids.map((id) => ({ __typename: 'LabletSession', id })),
        });
        expect(r.data?._entities.map((e) => e.id)).toEqual(ids);
        for (const e of r.data?._entities ?? []) expect(e.scoreReport?.session.id ?? e.id).toBe(e.id);
        return { trips: h.deps.storage.roundTrips() - before, reports: r.data?._entities.map((e) => e.scoreReport?.id ?? null) };
      };
      expect((await sessionTrips(sessionIds.slice(0, 2))).trips).toBe(1);
      const all = await sessionTrips(sessionIds);
      expect(all.trips).toBe(1);
      expect(all.reports).toEqual([...reportIds, null]);

      const reportsQ = `query($r: [_Any!]!) { _entities(representations: $r) { ... on ScoreReport { id score } } }`;
      const before = h.deps.storage.roundTrips();
      const refs = await h.call<{ _entities: Array<{ id: string }> }>(reportsQ, { r: reportIds.map((id) => ({ __typename: 'ScoreReport', id })) });
      expect(refs.data?._entities.map((e) => e.id)).toEqual(reportIds);
      expect(h.deps.storage.roundTrips() - before).toBe(1);
    });

    it('delivers scoreReportPublished over graphql-ws once per report', async () => {
      const token = await h.deps.signer.sign({ subject: 'reporting', kind: 'api-key', scopes: [Scope.READ] });
      const client = createClient({
        url: h.server.graphqlUrl.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: { 'x-lcm-identity': token },
        retryAttempts: 0,
      });
      clients.push(client);
      const listening = bus.listening;
      const published = client.iterate<{ scoreReportPublished: { id: string; passed: boolean; submittedAt: string; session: { id: string } } }>({
        query: `subscription { scoreReportPublished { id passed submittedAt session { id } } }`,
      });
      await eventually('the subscription', () => bus.listening > listening, { timeoutMs: 5_000 });
      const first = await publish({ sessionId: 'ses_sub_1', submittedAt: '2026-06-01T08:00:00.000Z' });
      await publish({ sessionId: 'ses_sub_1' }); // idempotent: no second event
      const second = await publish({ sessionId: 'ses_sub_2', cutScore: 59 });
      const a = await published.next();
      const b = await published.next();
      expect(a.value?.data?.scoreReportPublished).toEqual({ id: first.id, passed: true, submittedAt: '2026-06-01T08:00:00.000Z', session: { id: 'ses_sub_1' } });
      expect(b.value?.data?.scoreReportPublished).toMatchObject({ id: second.id, passed: false, session: { id: 'ses_sub_2' } });
      // An event from another replica, as JSON (dates as strings), is served the same way.
      const asJson = JSON.parse(JSON.stringify(events.find((e) => e.subject === second.id))) as CloudEvent;
      await bus.publish(EventTopic.scoreReport, asJson);
      const c = await published.next();
      expect(c.value?.data?.scoreReportPublished).toMatchObject({ id: second.id, submittedAt: second.submittedAt });
      await published.return?.();
      await eventually('the subscription to end', () => bus.listening === listening, { timeoutMs: 5_000 });
    });
  });
}
