import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLError, type ValidationRule } from 'graphql';
import { startBenchmarkSubgraphs, type RunningBenchmarkSubgraphs } from '../test/support/gateway/benchmark-subgraphs.ts';
import { createGateway } from './server.ts';
import type { OperationCompleteEvent, RunningGateway } from './types.ts';
import { eventually } from '../test/support/eventually.ts';
import { startLabSubgraphs, type LabSubgraphs } from '../test/support/gateway/lab-subgraphs.ts';
import type { SubgraphRequestRecord } from '../test/support/gateway/subgraph-server.ts';

/** The gateway server: hook points, ops endpoints, request handling. */
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** A validation rule for the tests: refuses any selection of `email`. */
const noEmail: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === 'email') {
      context.reportError(new GraphQLError('email is not allowed here', { nodes: [node], extensions: { code: 'QUERY_LIMIT_EXCEEDED' } }));
    }
  },
});

describe('gateway server', () => {
  let labs: LabSubgraphs;
  let bench: RunningBenchmarkSubgraphs;
  let gateway: RunningGateway;
  const requests: SubgraphRequestRecord[] = [];
  const completed: OperationCompleteEvent[] = [];

  beforeAll(async () => {
    [labs, bench] = await Promise.all([startLabSubgraphs({ onRequest: (r) => requests.push(r) }), startBenchmarkSubgraphs()]);
    gateway = await createGateway({
      endpoints: [
        {
          path: '/graphql',
          supergraphSdl: labs.supergraphSdl,
          validationRules: [noEmail],
          introspection: false,
        },
        { path: '/internal/graphql', supergraphSdl: labs.supergraphSdl },
        { path: '/bench/graphql', supergraphSdl: bench.supergraphSdl },
      ],
      context: ({ request }) => {
        const auth = request.headers.authorization;
        if (auth === 'Bearer bad') {
          throw new GraphQLError('the token is not valid', { extensions: { code: 'UNAUTHENTICATED' } });
        }
        const forwardHeaders: Record<string, string> = auth ? { 'x-forwarded-identity': auth.replace('Bearer ', '') } : {};
        return { forwardHeaders };
      },
      plugins: [{ operationComplete: (event) => completed.push(event) }],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([labs?.close(), bench?.close()]);
  });

  it('serves /healthz and /readyz (every subgraph reachable)', async () => {
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', failing: [] });
  });

  it('reports a gateway not ready when a subgraph is unreachable', async () => {
    const lonely = await startLabSubgraphs();
    const sdl = lonely.supergraphSdl;
    const devicesUrl = lonely.devices.url;
    await lonely.close();
    const other = await createGateway({ supergraphSdl: sdl, readinessCacheMs: 0 });
    try {
      const ready = await fetch(`${other.url}/readyz`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { failing: string[] };
      expect(body.failing).toHaveLength(3);
      expect(body.failing).toContain('subgraph devices: unreachable');
      // Open to anyone reaching the port: the subgraph's address and the raw error are only logged.
      expect(body.failing.join('\n')).not.toContain(devicesUrl);
      expect(body.failing.join('\n')).not.toContain('ECONNREFUSED');
    } finally {
      await other.close();
    }
  });

  it('forwards the headers chosen by the context hook to subgraphs', async () => {
    const response = await post(`${gateway.url}/internal/graphql`, { query: '{ lab(id: "l1") { owner { strict } } }' }, { authorization: 'Bearer alice' });
    expect(await response.json()).toEqual({ data: { lab: { owner: { strict: 'Ada:alice' } } } });
    const peopleCall = requests.findLast((r) => r.body.query?.includes('strict'));
    expect(peopleCall?.headers['x-forwarded-identity']).toBe('alice');
  });

  it('answers a request the context hook refuses with its code and status', async () => {
    const response = await post(`${gateway.url}/graphql`, { query: '{ __typename }' }, { authorization: 'Bearer bad' });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      errors: [{ message: 'the token is not valid', extensions: { code: 'UNAUTHENTICATED' } }],
    });
  });

  it('serves several endpoints with their own policies from one process', async () => {
    const query = { query: '{ lab(id: "l2") { owner { email } } }' };
    const limited = await post(`${gateway.url}/graphql`, query);
    expect(limited.status).toBe(400);
    expect(await limited.json()).toMatchObject({
      errors: [{ message: 'email is not allowed here', extensions: { code: 'QUERY_LIMIT_EXCEEDED' } }],
    });
    const full = await post(`${gateway.url}/internal/graphql`, query);
    expect(await full.json()).toEqual({ data: { lab: { owner: { email: null } } } });
    const introspection = await post(`${gateway.url}/graphql`, { query: '{ __schema { queryType { name } } }' });
    expect(introspection.status).toBe(400);
    const other = await post(`${gateway.url}/bench/graphql`, { query: '{ topProducts(first: 1) { name } }' });
    expect(await other.json()).toEqual({ data: { topProducts: [{ name: 'Desk' }] } });
  });

  it('sends each distinct entity representation once per fetch', async () => {
    requests.length = 0;
    const response = await post(`${gateway.url}/internal/graphql`, { query: '{ labs(ids: ["l1", "l3", "l2", "l1"]) { id owner { name } } }' });
    expect(await response.json()).toEqual({
      data: {
        labs: [
          { id: 'l1', owner: { name: 'Ada' } },
          { id: 'l3', owner: { name: 'Ada' } },
          { id: 'l2', owner: { name: 'Alan' } },
          { id: 'l1', owner: { name: 'Ada' } },
        ],
      },
    });
    const entityCall = requests.find((r) => r.body.query?.includes('_entities'));
    expect(entityCall?.body.variables?.representations).toEqual([
      { __typename: 'User', id: 'u1' },
      { __typename: 'User', id: 'u2' },
    ]);
  });

  it('shares the answer between identical queries in flight', async () => {
    requests.length = 0;
    const body = { query: 'query Same { labs(ids: ["l1", "l2", "l3"]) { id name owner { name } } }' };
    const answers = await Promise.all([1, 2, 3, 4].map(() => post(`${gateway.url}/internal/graphql`, body).then((r) => r.text())));
    expect(new Set(answers).size).toBe(1);
    expect(JSON.parse(answers[0]!).data.labs).toHaveLength(3);
    const rootCalls = requests.filter((r) => r.body.query?.startsWith('query Same__labs__0'));
    const leaders = completed.filter((e) => e.operationName === 'Same' && !e.deduplicated).length;
    expect(leaders).toBeLessThan(4);
    expect(rootCalls.length).toBeLessThanOrEqual(leaders);
  });

  it('does not share mutations', async () => {
    requests.length = 0;
    const body = { query: 'mutation Rename { renameLab(id: "l1", name: "x") { name } }' };
    await Promise.all([1, 2, 3].map(() => post(`${gateway.url}/internal/graphql`, body)));
    expect(requests.filter((r) => r.body.query?.includes('renameLab')).length).toBe(3);
  });

  it('echoes or assigns request ids and reports every operation to plugins', async () => {
    const response = await post(`${gateway.url}/internal/graphql`, { query: 'query Named { __typename }' }, { 'x-request-id': 'req-42' });
    expect(response.headers.get('x-request-id')).toBe('req-42');
    const event = completed.find((e) => e.requestId === 'req-42');
    expect(event).toMatchObject({ endpoint: '/internal/graphql', transport: 'http', operationName: 'Named', operationType: 'query', status: 200 });
    const other = await post(`${gateway.url}/internal/graphql`, { query: '{ __typename }' });
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-/);
  });

  it('exposes per-operation metrics', async () => {
    await post(`${gateway.url}/internal/graphql`, { query: 'query Measured { lab(id: "l1") { name } }' });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/lcm_gateway_operation_duration_seconds_count\{[^}]*operation_name="Measured"[^}]*\} 1/);
    expect(metrics).toMatch(/lcm_gateway_subgraph_fetch_duration_seconds_count\{subgraph="labs"\} \d+/);
    expect(metrics).toContain('lcm_gateway_subscriptions_open');
  });

  it('applies GraphQL-over-HTTP rules: CSRF prevention, accept negotiation, method and body checks', async () => {
    const csrf = await fetch(`${gateway.url}/graphql?query=%7B__typename%7D`);
    expect(csrf.status).toBe(400);
    expect(((await csrf.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('BAD_REQUEST');

    const graphqlResponse = await post(`${gateway.url}/graphql`, { query: '{ __typename }' }, { accept: 'application/graphql-response+json' });
    expect(graphqlResponse.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
    expect(await graphqlResponse.text()).toBe('{"data":{"__typename":"Query"}}\n');

    const notAcceptable = await post(`${gateway.url}/graphql`, { query: '{ __typename }' }, { accept: 'text/html' });
    expect(notAcceptable.status).toBe(406);

    const put = await fetch(`${gateway.url}/graphql`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');

    const invalid = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(invalid.status).toBe(400);

    const subscription = await post(`${gateway.url}/graphql`, { query: 'subscription { labUpdated { id } }' });
    expect(subscription.status).toBe(400);
    expect(await subscription.text()).toContain('graphql-transport-ws');

    const tooBig = await post(`${gateway.url}/graphql`, { query: `{ __typename }`, variables: { pad: 'x'.repeat(1024 * 1024) } });
    expect(tooBig.status).toBe(413);
  });

  it('stops gracefully: finishes in-flight requests, then refuses connections', async () => {
    const own = await createGateway({ supergraphSdl: labs.supergraphSdl });
    requests.length = 0;
    const inflight = post(`${own.url}/graphql`, { query: '{ labs(ids: ["l1"]) { id owner { name } uptime } }' });
    await eventually('the request to reach a subgraph', () => requests.length > 0, { intervalMs: 1 });
    await own.close();
    const response = await inflight;
    expect(response.status).toBe(200);
    await expect(fetch(`${own.url}/healthz`)).rejects.toThrow();
  });
});
