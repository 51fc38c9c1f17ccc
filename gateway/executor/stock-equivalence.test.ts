import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCHMARK_QUERY } from '../../bench/gateway/query.ts';
import { startBenchmarkSubgraphs, type RunningBenchmarkSubgraphs } from '../../test/support/gateway/benchmark-subgraphs.ts';
import { createGateway } from '../server.ts';
import type { RunningGateway } from '../types.ts';
import { startLabSubgraphs, type LabSubgraphs } from '../../test/support/gateway/lab-subgraphs.ts';
import { startStockGateway } from '../../test/support/gateway/stock-gateway.ts';

/**
 * Our gateway answers exactly like the stock `@apollo/server` + `@apollo/gateway` on the same
 * subgraphs: same HTTP status and the same response body, byte for byte (data, errors, extensions,
 * field order).
 */
interface Case {
  name: string;
  query?: string;
  operationName?: string;
  variables?: Record<string, unknown>;
  /** A raw GET search string instead of a POST body. */
  get?: string;
}

const labCases: Case[] = [
  {
    name: 'aliases, named and inline fragments, __typename',
    query: `query Q { first: lab(id: "l1") { __typename ...LabFields owner { __typename n: name id } }
      second: lab(id: "l2") { id kind: __typename ... on Lab { status } } }
      fragment LabFields on Lab { id name tags }`,
  },
  {
    name: 'variables with @include and @skip',
    query: `query V($id: ID!, $withOwner: Boolean!, $skipName: Boolean = false) {
      lab(id: $id) { name @skip(if: $skipName) owner @include(if: $withOwner) { name email } } }`,
    variables: { id: 'l2', withOwner: true },
  },
  {
    name: 'variables: @include false and defaults',
    query: `query V($id: ID!, $withOwner: Boolean!, $skipName: Boolean = true) {
      lab(id: $id) { id name @skip(if: $skipName) owner @include(if: $withOwner) { name } } }`,
    variables: { id: 'l1', withOwner: false },
  },
  { name: 'a missing required variable', query: `query V($id: ID!) { lab(id: $id) { name } }` },
  { name: 'a variable of the wrong type', query: `query V($ids: [ID!]) { labs(ids: $ids) { id } }`, variables: { ids: [{}] } },
  { name: 'an error from a subgraph root field', query: `{ failing lab(id: "l1") { name } }` },
  {
    name: 'entity fetch errors, duplicate representations, null propagation to a nullable parent',
    query: `{ a: lab(id: "l4") { id owner { name } } b: lab(id: "l1") { owner { name } } c: lab(id: "l6") { owner { id name } } }`,
  },
  {
    name: 'a non-null violation that nulls the whole response',
    query: `{ labs { id owner { strict } } }`,
  },
  {
    name: 'nullability inside lists of non-null elements',
    query: `{ labs(ids: ["l1", "l5", "l3"]) { id owner { id strict } } }`,
  },
  { name: 'interface with inline fragments', query: `{ node(id: "l3") { id ... on Lab { name status } } }` },
  {
    name: 'fragments on the same type split by another field',
    query: `{ lab(id: "l1") { ... on Lab { id } name ... on Lab { status owner { name } } ... on Lab { owner { email } } } }`,
  },
  { name: '@requires across subgraphs', query: `{ labs { id status uptime } }` },
  {
    name: '@interfaceObject: entity fetches with input rewrites',
    query: `{ devices { id name firmware ... on Router { ports } ... on Switch { vlans } } }`,
  },
  {
    name: '@interfaceObject: the concrete type resolved from another subgraph',
    query: `{ newestDevice { __typename id firmware name ... on Switch { vlans } } }`,
  },
  { name: 'mutation', query: `mutation { renameLab(id: "l1", name: "renamed") { id name owner { name } uptime } }` },
  { name: 'root __typename', query: `{ __typename lab(id: "l2") { __typename } }` },
  { name: 'introspection of a type', query: `{ __type(name: "Lab") { name kind fields { name type { name kind ofType { name } } } } }` },
  { name: 'a parse error', query: `{ lab(id: "l1") { name ` },
  { name: 'a validation error', query: `{ lab(id: "l1") { nope } }` },
  { name: 'a selected operation among several', query: `query A { failing } query B { lab(id: "l3") { name } }`, operationName: 'B' },
  { name: 'GET query', get: `query=${encodeURIComponent('{ lab(id: "l1") { name owner { name } } }')}` },
  { name: 'GET mutation is refused', get: `query=${encodeURIComponent('mutation { renameLab(id: "l1", name: "x") { id } }')}` },
  { name: 'an empty body', query: '' },
];

async function call(baseUrl: string, c: Case): Promise<{ status: number; body: string }> {
  const response = c.get !== undefined
    ? await fetch(`${baseUrl}/graphql?${c.get}`, { headers: { 'apollo-require-preflight': 'true' } })
    : await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: c.query, operationName: c.operationName, variables: c.variables }),
      });
  return { status: response.status, body: await response.text() };
}

describe('responses equal the stock @apollo/server + @apollo/gateway', () => {
  let labs: LabSubgraphs;
  let bench: RunningBenchmarkSubgraphs;
  const ours: RunningGateway[] = [];
  const stock: { url: string; close(): Promise<void> }[] = [];

  beforeAll(async () => {
    [labs, bench] = await Promise.all([startLabSubgraphs(), startBenchmarkSubgraphs()]);
    ours.push(await createGateway({ supergraphSdl: labs.supergraphSdl }));
    ours.push(await createGateway({ supergraphSdl: bench.supergraphSdl }));
    stock.push(await startStockGateway(labs.supergraphSdl));
    stock.push(await startStockGateway(bench.supergraphSdl));
  });

  afterAll(async () => {
    await Promise.all([...ours, ...stock].map((g) => g.close()));
    await Promise.all([labs?.close(), bench?.close()]);
  });

  it("the benchmark's deep query", async () => {
    const c: Case = { name: 'TestQuery', query: BENCHMARK_QUERY, operationName: 'TestQuery' };
    const [mine, theirs] = await Promise.all([call(ours[1]!.url, c), call(stock[1]!.url, c)]);
    expect(mine.status).toBe(200);
    expect(JSON.parse(mine.body).errors).toBeUndefined();
    expect(mine).toEqual(theirs);
  });

  it.each(labCases)('$name', async (c) => {
    const mine = await call(ours[0]!.url, c);
    const theirs = await call(stock[0]!.url, c);
    expect(mine).toEqual(theirs);
  });

  // Deliberate difference: the stock gateway answers a request naming no (or an unknown) operation
  // with 500 INVALID_GRAPHQL; it is the client's mistake, so we answer 400 OPERATION_RESOLUTION_FAILURE
  // (what Apollo Server does without a gateway), with the same message.
  it.each([
    { name: 'an unknown operation name', query: `query A { __typename } query B { __typename }`, operationName: 'C' },
    { name: 'two operations without a name', query: `query A { __typename } query B { __typename }` },
  ])('$name: same message, answered as a client error', async (c) => {
    const mine = await call(ours[0]!.url, c);
    const theirs = await call(stock[0]!.url, c);
    expect(theirs.status).toBe(500);
    expect(mine.status).toBe(400);
    const stockError = JSON.parse(theirs.body).errors[0];
    expect(JSON.parse(mine.body)).toEqual({
      errors: [{ message: stockError.message, extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }],
    });
  });
});
