/**
 * Property-based fuzzing of the front door (issue 12): every public and internal mutation with
 * generated arguments (well-shaped and hostile), and raw GraphQL documents over HTTP and WebSocket.
 * Properties: no 5xx, no INTERNAL_SERVER_ERROR, no internal detail (address, URL, stack) in any
 * answer, nothing written when a mutation is refused (the whole graph's state digest is unchanged),
 * and the process's memory stays bounded. `LCM_FUZZ_RUNS` scales the number of runs (CI: the default).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { buildSchema, type GraphQLSchema } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { silentLogger } from '../../core/logging.ts';
import { gql } from '../support/gateway-client.ts';
import { createDefinition, createSession, runningWorker, schedule, type Endpoints } from '../e2e/fixtures.ts';
import { mutationDocument, mutationFields, mutationVariables, rawDocument, type KnownIds } from './schema-arbitraries.ts';

const ADMIN = 'fuzz-admin-token-0123456789abcdef';
const RUNS = Number(process.env.LCM_FUZZ_RUNS ?? 400);

/** Anything that names an internal address, a URL, a low-level error or a stack frame. */
const LEAK = /127\.0\.0\.1|localhost:\d|ECONNREFUSED|ECONNRESET|https?:\/\/(?!spec\.graphql)|\n\s+at |node:internal|\/work\/|node_modules/;

interface Answer {
  status: number;
  body: unknown;
}

function problems(answer: Answer): string[] {
  const out: string[] = [];
  if (answer.status >= 500) out.push(`HTTP ${answer.status}`);
  const text = JSON.stringify(answer.body);
  if (LEAK.test(text)) out.push(`leak: ${text.slice(0, 400)}`);
  const errors = (answer.body as { errors?: Array<{ extensions?: { code?: string } }> } | undefined)?.errors ?? [];
  for (const e of errors) {
    const code = e.extensions?.code;
    if (code === undefined || code === 'INTERNAL_SERVER_ERROR') out.push(`error without a client code: ${JSON.stringify(e).slice(0, 400)}`);
  }
  return out;
}

async function post(url: string, body: string): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a non-JSON answer is checked for leaks as text
  }
  return { status: res.status, body: parsed };
}

describe('fuzzing the gateway (memory storage)', () => {
  let system: RunningSystem;
  let e: Endpoints;
  const known: string[] = [];
  const knownIds: KnownIds = { ids: () => known };
  const publicSchema: GraphQLSchema = buildSchema(readFileSync('schema/api.public.graphql', 'utf8'));
  const fullSchema: GraphQLSchema = buildSchema(readFileSync('schema/api.graphql', 'utf8'));

  /** Every aggregate's id and revision, and every worker's reservations: what a write would change. */
  const digest = async (): Promise<string> => {
    const parts = await Promise.all(
      [
        `{ definitions(first: 200) { edges { node { id revision } } } }`,
        `{ sessions(first: 200) { edges { node { id revision } } } }`,
        `{ workers(first: 50) { edges { node { id revision reservations { sessionId } } } } }`,
        `{ scoreReports(first: 200) { edges { node { id } } } }`,
      ].map(async (query) => {
        const r = await gql(e.internalUrl, ADMIN, query);
        expect(r.errors).toBeUndefined();
        return r.data;
      }),
    );
    return JSON.stringify(parts);
  };

  beforeAll(async () => {
    system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, simulators: false, controllers: false, logger: silentLogger });
    e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    const definitionId = await createDefinition(e, 'fuzz-lab');
    const workerId = await runningWorker(e, 'cml-fuzz');
    const sessionId = await createSession(e, definitionId);
    await schedule(e, sessionId, workerId);
    known.push(definitionId, workerId, sessionId, await createSession(e, definitionId));
  });
  afterAll(() => system?.stop());

  for (const [endpoint, schema] of [
    ['public', publicSchema],
    ['internal', fullSchema],
  ] as const) {
    it(`every ${endpoint} mutation, generated arguments: no internal error, no leak, nothing written when refused`, async () => {
      const url = endpoint === 'public' ? e.publicUrl : e.internalUrl;
      const fields = mutationFields(schema);
      const arbitrary = fc
        .constantFrom(...fields)
        .chain((field) => mutationVariables(field, knownIds).map((variables) => ({ mutation: field.name, document: mutationDocument(field), variables })));
      let refused = 0;
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(arbitrary, async ({ mutation, document, variables }) => {
          const before = await digest();
          const answer = await post(url, JSON.stringify({ query: document, variables }));
          expect(problems(answer), `${mutation} ${JSON.stringify(variables).slice(0, 300)}`).toEqual([]);
          const body = answer.body as { data?: Record<string, unknown> | null; errors?: unknown[] };
          const failed = body.errors !== undefined && (body.data === null || body.data === undefined || body.data[mutation] === null);
          if (failed) {
            refused++;
            expect(await digest(), `${mutation} was refused but changed the state`).toBe(before);
          } else {
            accepted++;
            const created = body.data?.[mutation] as { id?: string } | undefined;
            if (created?.id && !known.includes(created.id)) known.push(created.id);
          }
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
      // The fuzz reached both sides: some mutations went through, some were refused.
      expect(refused).toBeGreaterThan(0);
      expect(accepted).toBeGreaterThan(0);
    }, 300_000);
  }

  it('raw documents over HTTP (POST and GET) and WebSocket: no internal error, no leak, bounded memory', async () => {
    const valid = [
      `{ sessions(first: 5) { edges { node { id status definition { name } worker { name sessions { id } } scoreReport { score } } } } }`,
      `mutation { createSession(input: { definitionId: "${known[0]}", owner: "x" }) { id } }`,
      `query Q($id: ID!) { session(id: $id) { id statusHistory { from to actor at } } }`,
      `subscription { sessionUpdated { id status } }`,
    ];
    const ws = createClient({ url: `${system.gatewayUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${ADMIN}` }, lazy: true, retryAttempts: 0 });
    const heapBefore = process.memoryUsage().heapUsed;
    try {
      await fc.assert(
        fc.asyncProperty(rawDocument(valid), fc.constantFrom('post', 'get', 'ws'), async (query, transport) => {
          let answer: Answer;
          if (transport === 'post') {
            answer = await post(e.publicUrl, JSON.stringify({ query, variables: { id: known[2] } }));
          } else if (transport === 'get') {
            const res = await fetch(`${e.publicUrl}?query=${encodeURIComponent(query)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
            const text = await res.text();
            answer = { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
          } else {
            answer = await new Promise<Answer>((resolve) => {
              let first: unknown;
              const stop = ws.subscribe(
                { query, variables: { id: known[2] } },
                {
                  next: (value) => {
                    first ??= value;
                    stop(); // a subscription that was accepted: one event is enough (none may come)
                    resolve({ status: 200, body: value });
                  },
                  error: (error) => resolve({ status: 200, body: Array.isArray(error) ? { errors: error } : { errors: [{ message: String(error), extensions: { code: 'CLOSED' } }] } }),
                  complete: () => resolve({ status: 200, body: first ?? {} }),
                },
              );
              // A subscription that was accepted and has no event yet is fine: stop waiting.
              setTimeout(() => {
                stop();
                resolve({ status: 200, body: first ?? {} });
              }, 200);
            });
          }
          expect(problems(answer), `${transport}: ${query.slice(0, 200)}`).toEqual([]);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      await ws.dispose();
    }
    const health = await fetch(`${system.gatewayUrl}/healthz`);
    expect(health.status).toBe(200);
    // Bounded: hundreds of distinct documents, some of them large, leave no lasting heap growth beyond
    // the bounded caches (generous: the test process also holds the whole system).
    const grownMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    expect(grownMiB).toBeLessThan(256);
  }, 300_000);
});
