import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITY_BINDING_HEADER, IDENTITY_HEADER, IdentitySigner, Scope, type Identity } from '../auth/identity.ts';
import { startSubgraphServer, type SubgraphServer } from '../graphql/subgraph-server.ts';
import { silentLogger } from '../logging.ts';

/**
 * Every subgraph request is held to the subgraph limits and needs the gateway's identity bound to
 * its body (issue 12, item 3): a replayed or expired header, an over-deep query, too many
 * `_entities` representations, an anonymous `_service` are all refused.
 */
const typeDefs = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Node @key(fields: "id") { id: ID! child: Node }
  type Query { node(id: ID!): Node }
  type Mutation { poke: Int! }
`;
const who: Identity = { subject: 'tester', kind: 'api-key', scopes: [Scope.READ] };

describe('subgraph request checks', () => {
  const secret = randomBytes(24).toString('hex');
  const signer = new IdentitySigner(secret);
  let server: SubgraphServer;
  let pokes = 0;

  beforeAll(async () => {
    server = await startSubgraphServer({
      name: 'limits-test',
      typeDefs,
      resolvers: {
        Query: { node: (_: unknown, { id }: { id: string }) => ({ id }) },
        Mutation: { poke: () => ++pokes },
        Node: { __resolveReference: (ref: { id: string }) => ({ id: ref.id }), child: (n: { id: string }) => ({ id: `${n.id}.c` }) },
      },
      signer,
      logger: silentLogger,
      context: (identity) => ({ identity }),
      limits: { maxDepth: 6, maxEntities: 50, maxBodyBytes: 64 * 1024 },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  async function post(body: string, headers: Record<string, string>) {
    const res = await fetch(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: res.status, json: (await res.json()) as { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string; limit?: string } }> } };
  }
  const call = async (query: string, variables: Record<string, unknown> = {}) => {
    const body = JSON.stringify({ query, variables });
    return post(body, await signer.forwardedIdentityHeaders(who, body));
  };
  const codeOf = (r: Awaited<ReturnType<typeof post>>) => r.json.errors?.[0]?.extensions?.code;

  it('runs a request carrying the identity bound to its body, once', async () => {
    const body = JSON.stringify({ query: 'mutation { poke }' });
    const headers = await signer.forwardedIdentityHeaders(who, body);
    const first = await post(body, headers);
    expect(first.json).toEqual({ data: { poke: 1 } });
    // The same captured request again: refused, and the mutation does not run twice.
    const replay = await post(body, headers);
    expect(replay.status).toBe(401);
    expect(codeOf(replay)).toBe('UNAUTHENTICATED');
    expect(pokes).toBe(1);
  });

  it('refuses a captured identity header replayed with another body', async () => {
    const captured = await signer.forwardedIdentityHeaders(who, JSON.stringify({ query: '{ node(id: "1") { id } }' }));
    const r = await post(JSON.stringify({ query: 'mutation { poke }' }), captured);
    expect(r.status).toBe(401);
    expect(codeOf(r)).toBe('UNAUTHENTICATED');
    expect(r.json.errors?.[0]?.message).toMatch(/does not match/);
    // The token alone (as before the binding) is refused too.
    const alone = await post(JSON.stringify({ query: 'mutation { poke }' }), { [IDENTITY_HEADER]: captured[IDENTITY_HEADER]! });
    expect(codeOf(alone)).toBe('UNAUTHENTICATED');
    expect(pokes).toBe(1);
  });

  it('refuses an expired identity (binding or token)', async () => {
    const body = JSON.stringify({ query: 'mutation { poke }' });
    const token = await signer.sign(who);
    const stale = await post(body, { [IDENTITY_HEADER]: token, [IDENTITY_BINDING_HEADER]: signer.bind(token, body, Date.now() - 31_000) });
    expect(codeOf(stale)).toBe('UNAUTHENTICATED');
    expect(stale.json.errors?.[0]?.message).toMatch(/expired identity binding/);

    const shortLived = new IdentitySigner(secret, 1);
    const expiring = await shortLived.sign(who);
    await new Promise((r) => setTimeout(r, 2_100));
    const expired = await post(body, { [IDENTITY_HEADER]: expiring, [IDENTITY_BINDING_HEADER]: signer.bind(expiring, body) });
    expect(codeOf(expired)).toBe('UNAUTHENTICATED');
    expect(expired.json.errors?.[0]?.message).toMatch(/ERR_JWT_EXPIRED/);
    expect(pokes).toBe(1);
  });

  it('refuses more `_entities` representations than the cap (QUERY_LIMIT_EXCEEDED)', async () => {
    const query = 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Node { id } } }';
    const reps = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: 'Node', id: String(i) }));
    const ok = await call(query, { r: reps(50) });
    expect((ok.json.data?._entities as unknown[]).length).toBe(50);
    const over = await call(query, { r: reps(51) });
    expect(codeOf(over)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(over.json.errors?.[0]?.extensions?.limit).toBe('entities');
    expect(over.json.data ?? null).toBeNull();
    // Literal lists count too.
    const literal = `{ _entities(representations: [${reps(51).map((r) => `{__typename: "Node", id: "${r.id}"}`).join(',')}]) { ... on Node { id } } }`;
    expect(codeOf(await call(literal))).toBe('QUERY_LIMIT_EXCEEDED');
  });

  it('refuses an over-deep query, too many tokens and an over-large body', async () => {
    const deep = `{ node(id: "1") { ${'child { '.repeat(8)}id${' }'.repeat(8)} } }`;
    const r = await call(deep);
    expect(codeOf(r)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(r.json.errors?.[0]?.extensions?.limit).toBe('depth');
    expect((await call('{ node(id: "1") { child { child { id } } } }')).json.data).toEqual({ node: { child: { child: { id: '1.c.c' } } } });

    const manyTokens = `{ ${Array.from({ length: 7_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    const tokens = await call(manyTokens);
    expect(codeOf(tokens)).toBe('QUERY_LIMIT_EXCEEDED');

    const big = JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(70 * 1024) } });
    const tooLarge = await post(big, await signer.forwardedIdentityHeaders(who, big));
    expect(tooLarge.status).toBe(413);
    expect(codeOf(tooLarge)).toBe('QUERY_LIMIT_EXCEEDED');
  });

  it('serves `_service` (the SDL) only to a valid gateway identity', async () => {
    const anonymous = await post(JSON.stringify({ query: '{ _service { sdl } }' }), {});
    expect(anonymous.status).toBe(401);
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(anonymous.json)).not.toContain('type Node');
    const viaGateway = await call('{ _service { sdl } }');
    expect(String((viaGateway.json.data?._service as { sdl: string }).sdl)).toContain('type Node');
    // GET (the query in the URL, outside any binding) is not served.
    const get = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent('{ _service { sdl } }')}`);
    expect(get.status).toBe(405);
  });
});

