/**
 * The system through its front door: the gateway over real HTTP and WebSocket in front of the four
 * subgraphs (issue 3, "Done means"), and the N+1 guarantee across the whole graph (issue 2).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Scope } from '../../core/auth/identity.ts';
import { silentLogger } from '../../core/logging.ts';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { gql, subscribe, data, untilSubscribed, nudgeSession } from '../support/gateway-client.ts';
import { advance, createDefinition, createSession, publishReport, runningWorker, schedule, type Endpoints } from './fixtures.ts';

const ADMIN = 'e2e-admin-token-0123456789abcdef';

for (const storage of ['memory', 'mongodb'] as const) {
  describe(`through the gateway (${storage} storage)`, () => {
    let system: RunningSystem;
    let e: Endpoints;

    beforeAll(async () => {
      system = await startSystem({
        gatewayPort: 0,
        adminToken: ADMIN,
        simulators: false,
        controllers: false,
        logger: silentLogger,
        ...(storage === 'mongodb' ? { mongoUri: inject('mongoUri'), mongoDb: `e2e_${process.pid}_${Date.now()}` } : {}),
      });
      e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    });
    afterAll(() => system?.stop());

    it('resolves a session graph across the four subgraphs', async () => {
      const definitionId = await createDefinition(e, 'cross-graph');
      const workerId = await runningWorker(e, 'cml-cross');
      const sessionId = await createSession(e, definitionId);
      await schedule(e, sessionId, workerId);
      await publishReport(e, sessionId, definitionId, 80);
      const d = await data<{ session: Record<string, unknown> }>(
        e.publicUrl,
        ADMIN,
        `query($id: ID!) { session(id: $id) { id status owner
          definition { id name version }
          worker { id name status sessions { id } }
          allocatedPorts { name port }
          scoreReport { score passed session { id } }
          statusHistory { from to actor } } }`,
        { id: sessionId },
      );
      expect(d.session).toMatchObject({
        id: sessionId,
        status: 'GRADING',
        definition: { id: definitionId, name: 'cross-graph', version: '1.0.0' },
        worker: { id: workerId, name: 'cml-cross', status: 'RUNNING', sessions: [{ id: sessionId }] },
        allocatedPorts: [{ name: 'console', port: 2000 }],
        scoreReport: { score: 80, passed: true, session: { id: sessionId } },
        statusHistory: [
          { from: null, to: 'PENDING', actor: 'user:admin' },
          { from: 'PENDING', to: 'SCHEDULED', actor: 'user:admin' },
          { from: 'SCHEDULED', to: 'INSTANTIATING', actor: 'user:admin' },
          { from: 'INSTANTIATING', to: 'READY', actor: 'user:admin' },
          { from: 'READY', to: 'RUNNING', actor: 'user:admin' },
          { from: 'RUNNING', to: 'COLLECTING', actor: 'user:admin' },
          { from: 'COLLECTING', to: 'GRADING', actor: 'user:admin' },
        ],
      });
    });

    it('delivers subscription events carrying fields of the other subgraphs', async () => {
      const definitionId = await createDefinition(e, 'live-lab');
      const workerId = await runningWorker(e, 'cml-live');
      const sessionId = await createSession(e, definitionId);
      const sub = subscribe<{ sessionUpdated: { id: string; status: string; definition: { name: string }; worker: { name: string } | null } }>(
        `${system.gatewayUrl.replace('http', 'ws')}/graphql`,
        ADMIN,
        `subscription($ids: [ID!]) { sessionUpdated(ids: $ids) { id status definition { name } worker { name } } }`,
        { ids: [sessionId] },
      );
      try {
        await untilSubscribed(sub, nudgeSession(e.internalUrl, ADMIN, sessionId));
        const before = sub.events.length;
        await schedule(e, sessionId, workerId);
        await advance(e, sessionId, 'INSTANTIATING');
        await advance(e, sessionId, 'READY');
        // Probe events may still be arriving: keep the events of the scenario.
        const scenario = () => sub.events.slice(before).filter((ev) => ev.data?.sessionUpdated.status !== 'PENDING');
        await expect.poll(() => scenario().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
        const events = scenario();
        for (const ev of events) {
          expect(ev.errors).toBeUndefined();
          expect(ev.data?.sessionUpdated.definition.name).toBe('live-lab');
        }
        expect(events.map((ev) => ev.data?.sessionUpdated.status)).toEqual(['SCHEDULED', 'INSTANTIATING', 'READY']);
        expect(events.map((ev) => ev.data?.sessionUpdated.worker?.name)).toEqual(['cml-live', 'cml-live', 'cml-live']);
      } finally {
        await sub.close();
      }
    });

    it('rejects unauthenticated and unauthorised calls with the contract codes, writing nothing', async () => {
      const definitionId = await createDefinition(e, 'guarded');
      const count = async () => (await data<{ sessions: { totalCount: number } }>(e.publicUrl, ADMIN, `{ sessions { totalCount } }`)).sessions.totalCount;
      const before = await count();
      const mutation = `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`;
      const vars = { input: { definitionId, owner: 'x' } };
      const anon = await gql(e.publicUrl, undefined, mutation, vars);
      expect(anon.status).toBe(401);
      expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const wrong = await gql(e.publicUrl, 'not-a-token', mutation, vars);
      expect(wrong.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const { key: readOnly } = await system.gateway.apiKeys.create('reader', [Scope.READ]);
      const forbidden = await gql(e.publicUrl, readOnly, mutation, vars);
      expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(await count()).toBe(before);
      const internalForReader = await gql(e.internalUrl, readOnly, `{ sessions { totalCount } }`);
      expect(internalForReader.status).toBe(403);
      expect(internalForReader.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const { key: writer } = await system.gateway.apiKeys.create('booking', [Scope.READ, Scope.SESSIONS_WRITE]);
      expect((await gql(e.publicUrl, writer, mutation, vars)).errors).toBeUndefined();
      expect(await count()).toBe(before + 1);
    });

    it('lets administrators issue, list and revoke scoped API keys over /admin/api-keys', async () => {
      const admin = `${system.gatewayUrl}/admin/api-keys`;
      const json = { 'content-type': 'application/json' };
      const created = await fetch(admin, { method: 'POST', headers: { ...json, authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: 'report-tool', scopes: ['read'] }) });
      expect(created.status).toBe(201);
      const { key, apiKey } = (await created.json()) as { key: string; apiKey: { id: string; name: string; scopes: string[] } };
      expect(apiKey).toMatchObject({ name: 'report-tool', scopes: ['read'] });
      expect((await gql(e.publicUrl, key, '{ sessions { totalCount } }')).errors).toBeUndefined();
      const list = (await (await fetch(admin, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { apiKeys: Array<{ id: string }> };
      expect(list.apiKeys.map((k) => k.id)).toContain(apiKey.id);
      expect(JSON.stringify(list)).not.toContain(key.split('.')[1]);
      expect((await fetch(admin, { headers: { authorization: `Bearer ${key}` } })).status).toBe(403);
      expect((await fetch(admin)).status).toBe(401);
      const bad = await fetch(admin, { method: 'POST', headers: { ...json, authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: 'x', scopes: ['root'] }) });
      expect(bad.status).toBe(400);
      expect((await fetch(`${admin}/${apiKey.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
      expect((await gql(e.publicUrl, key, '{ sessions { totalCount } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('rejects an invalid transition naming both statuses, writing nothing', async () => {
      const sessionId = await createSession(e, await createDefinition(e, 'strict'));
      const r = await gql(e.publicUrl, ADMIN, `mutation($id: ID!) { transitionSession(id: $id, to: RUNNING) { id } }`, { id: sessionId });
      expect(r.errors?.[0]?.extensions?.code).toBe('INVALID_TRANSITION');
      expect(r.errors?.[0]?.message).toMatch(/PENDING.*RUNNING/);
      const s = await data<{ session: { status: string; statusHistory: unknown[] } }>(e.publicUrl, ADMIN, `query($id: ID!) { session(id: $id) { status statusHistory { to } } }`, { id: sessionId });
      expect(s.session).toEqual({ status: 'PENDING', statusHistory: [{ to: 'PENDING' }] });
    });

    it('reads nothing for a key without `read`, also through the result of a mutation it may make', async () => {
      const definitionId = await createDefinition(e, 'write-only');
      const { key: writeOnly } = await system.gateway.apiKeys.create('write-only-booking', [Scope.SESSIONS_WRITE]);
      const r = await gql<{ createSession: { id: string; definition: { labYaml: string } } | null }>(
        e.publicUrl,
        writeOnly,
        `mutation($input: CreateSessionInput!) { createSession(input: $input) { id definition { labYaml } } }`,
        { input: { definitionId, owner: 'student' } },
      );
      expect(JSON.stringify(r.data ?? {})).not.toContain('nodes:');
      expect(r.errors?.map((x) => x.extensions?.code)).toContain('FORBIDDEN');
      const own = await gql(e.publicUrl, writeOnly, `{ sessions { totalCount } }`);
      expect(own.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('keeps internal fields and mutations out of the public schema', async () => {
      const intro = `{ __schema { mutationType { fields { name } } types { name fields { name } } } }`;
      type Intro = { __schema: { mutationType: { fields: Array<{ name: string }> }; types: Array<{ name: string; fields: Array<{ name: string }> | null }> } };
      const pub = await data<Intro>(e.publicUrl, ADMIN, intro);
      const internal = await data<Intro>(e.internalUrl, ADMIN, intro);
      const mutations = (i: Intro) => i.__schema.mutationType.fields.map((f) => f.name).sort();
      expect(mutations(pub)).toEqual(['createDefinition', 'createSession', 'deprecateDefinition', 'terminateSession', 'transitionSession']);
      expect(mutations(internal)).toEqual(expect.arrayContaining(['reserveCapacity', 'scheduleSession', 'publishScoreReport', 'requestWorker']));
      const fields = (i: Intro, type: string) => i.__schema.types.find((t) => t.name === type)?.fields?.map((f) => f.name) ?? [];
      expect(fields(pub, 'LabletSession')).not.toContain('pipelineProgress');
      expect(fields(internal, 'LabletSession')).toContain('pipelineProgress');
      expect(pub.__schema.types.map((t) => t.name)).not.toContain('ReserveCapacityInput');
      const r = await gql(e.publicUrl, ADMIN, `mutation { releaseCapacity(workerId: "w", sessionId: "s") { id } }`);
      expect(r.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    });

    it('rejects over-limit queries before executing them', async () => {
      let q = 'id';
      for (let i = 0; i < 8; i++) q = `worker { sessions { ${q} } }`;
      const deep = await gql(e.publicUrl, ADMIN, `{ sessions { edges { node { ${q} } } } }`);
      expect(deep.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'depth' });
      const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: sessions { totalCount }`).join(' ');
      const many = await gql(e.publicUrl, ADMIN, `{ ${aliases} }`);
      expect(many.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' });
      const tokens = `{ ${Array.from({ length: 6000 }, () => 'a').join(' ')} }`;
      const manyTokens = await gql(e.publicUrl, ADMIN, tokens);
      expect(manyTokens.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'tokens' });
      // Comments and whitespace are not tokens; they count by the document's size.
      const padded = `# ${'x'.repeat(70_000)}\n{ __typename }`;
      const big = await gql(e.publicUrl, ADMIN, padded);
      expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'queryBytes' });
    });

    it('serves automatic persisted queries, refuses CSRF-prone requests and exports metrics', async () => {
      const query = '{ definitions(first: 1) { totalCount } }';
      const sha256Hash = createHash('sha256').update(query).digest('hex');
      const post = (body: unknown) =>
        fetch(e.publicUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) });
      const ext = { persistedQuery: { version: 1, sha256Hash } };
      const miss = await post({ extensions: ext });
      expect(miss.status).toBe(200);
      expect(((await miss.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]?.extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      const register = await post({ query, extensions: ext });
      expect(((await register.json()) as { data: unknown }).data).toMatchObject({ definitions: { totalCount: expect.any(Number) } });
      const hit = await fetch(`${e.publicUrl}?extensions=${encodeURIComponent(JSON.stringify(ext))}`, { headers: { authorization: `Bearer ${ADMIN}`, 'apollo-require-preflight': 'true' } });
      expect(((await hit.json()) as { data: unknown }).data).toMatchObject({ definitions: { totalCount: expect.any(Number) } });
      const mismatch = await post({ query: '{ sessions { totalCount } }', extensions: ext });
      expect(mismatch.status).toBe(400);

      const csrf = await fetch(e.publicUrl, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ query }) });
      expect(csrf.status).toBe(400);
      const simpleGet = await fetch(`${e.publicUrl}?query=${encodeURIComponent(query)}`, { headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'text/plain' } });
      expect(simpleGet.status).toBeGreaterThanOrEqual(400);

      const metrics = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
      expect(metrics).toMatch(/_seconds_bucket\{[^}]*operation/);
      expect(metrics).toMatch(/subscriptions/);
    });

    it('answers batched operations up to the batch limit, and refuses larger batches', async () => {
      const post = (body: unknown) =>
        fetch(e.publicUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) });
      const ok = await post([{ query: '{ a: sessions { totalCount } }' }, { query: '{ nope }' }, { query: '{ b: workers { totalCount } }' }]);
      expect(ok.status).toBe(200);
      const results = (await ok.json()) as Array<{ data?: Record<string, unknown>; errors?: Array<{ extensions: { code: string } }> }>;
      expect(results).toHaveLength(3);
      expect(results[0]?.data).toMatchObject({ a: { totalCount: expect.any(Number) } });
      expect(results[1]?.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(results[2]?.data).toMatchObject({ b: { totalCount: expect.any(Number) } });
      const tooMany = await post(Array.from({ length: 11 }, () => ({ query: '{ sessions { totalCount } }' })));
      expect(tooMany.status).toBe(400);
      expect(((await tooMany.json()) as { errors: Array<{ message: string }> }).errors[0]?.message).toMatch(/at most 10 operations/);
    });

    it('costs a constant number of database round trips for a page of N sessions with definition, worker and score report', async () => {
      const definitionId = await createDefinition(e, 'n-plus-one');
      const workerIds = [await runningWorker(e, 'cml-np1-a'), await runningWorker(e, 'cml-np1-b'), await runningWorker(e, 'cml-np1-c')];
      for (let i = 0; i < 30; i++) {
        const id = await createSession(e, definitionId, `owner-np1`);
        await schedule(e, id, workerIds[i % 3] as string);
        await publishReport(e, id, definitionId, 50 + i);
      }
      const page = `query($first: Int) { sessions(first: $first, filter: { owner: "owner-np1" }) { totalCount edges { node {
        id definition { name version } worker { name status } scoreReport { score passed } } } } }`;
      const trips = async (first: number) => {
        const before = system.deps.storage.roundTrips();
        const d = await data<{ sessions: { edges: Array<{ node: { definition: { name: string }; worker: { name: string }; scoreReport: { score: number } } }> } }>(
          e.publicUrl,
          ADMIN,
          page,
          { first },
        );
        expect(d.sessions.edges).toHaveLength(first);
        for (const edge of d.sessions.edges) {
          expect(edge.node.definition.name).toBe('n-plus-one');
          expect(edge.node.worker.name).toMatch(/^cml-np1-/);
          expect(edge.node.scoreReport.score).toBeGreaterThanOrEqual(50);
        }
        return system.deps.storage.roundTrips() - before;
      };
      const small = await trips(3);
      const large = await trips(30);
      expect(large).toBe(small);
      // sessions page (items + count), definitions, workers, score reports: one batch each.
      expect(small).toBe(5);
    });
  });
}

describe('introspection switched off', () => {
  it('refuses introspection but serves queries', async () => {
    const system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, simulators: false, controllers: false, introspection: false, logger: silentLogger });
    try {
      const url = `${system.gatewayUrl}/graphql`;
      const intro = await gql(url, ADMIN, '{ __schema { queryType { name } } }');
      expect(intro.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect((await gql(url, ADMIN, '{ sessions { totalCount } }')).data).toEqual({ sessions: { totalCount: 0 } });
    } finally {
      await system.stop();
    }
  });
});
