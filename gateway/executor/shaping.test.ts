import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  getNamedType,
  isAbstractType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  type GraphQLError,
  type GraphQLOutputType,
  type GraphQLSchema,
  type SelectionSetNode,
  type FragmentDefinitionNode,
  Kind,
} from 'graphql';
import { operationFromDocument } from '@apollo/federation-internals';
// The stock gateway's result shaping, to compare with (an internal module of @apollo/gateway).
import { computeResponse } from '@apollo/gateway/dist/resultShaping.js';
import { composeSupergraph } from '../../test/support/gateway/compose.ts';
import { loadSupergraph } from '../supergraph.ts';
import { CompiledShape, ShapingSchema } from './shaping.ts';

/**
 * Property: for any data the subgraphs could have sent (right values, nulls, missing fields, wrong
 * types, unknown or abstract `__typename`s), the compiled shaper returns exactly what
 * `@apollo/gateway`'s `computeResponse` returns — same data (and key order), same value-completion
 * errors — or both refuse the data.
 */
const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  enum Status { UP DOWN }
  interface Node { id: ID! }
  type Lab implements Node @key(fields: "id") {
    id: ID! name: String! status: Status owner: User! tags: [String!] scores: [[Int]!] rating: Float open: Boolean
  }
  type User implements Node @key(fields: "id") { id: ID! name: String labs: [Lab!]! best: Lab }
  union Thing = Lab | User
  type Query { lab: Lab labs: [Lab!]! node: Node things: [Thing] user: User! }
`);
const supergraph = loadSupergraph(composeSupergraph([{ name: 'only', url: 'http://127.0.0.1:1/graphql', typeDefs }]));
const shapingSchema = new ShapingSchema(supergraph.apiSchema, supergraph.apiGraphQLSchema);

const OPERATIONS: { query: string; variables?: Record<string, unknown> }[] = [
  { query: `{ lab { id name status tags scores rating open owner { id name } } }` },
  {
    query: `query Q($skip: Boolean!) { first: lab { __typename kind: __typename ...L owner { n: name @skip(if: $skip) } }
      labs { id ... on Lab { name owner { labs { id status } } } } }
      fragment L on Lab { id name status @include(if: $skip) }`,
    variables: { skip: true },
  },
  { query: `{ node { __typename id ... on Lab { name owner { id } } ... on User { name best { id } } } }` },
  { query: `{ things { __typename ... on Lab { id tags } ... on User { id labs { name } } } }` },
  { query: `{ user { id best { id name ... on Lab { owner { name } } } labs { id ...F } } } fragment F on Lab { name owner { id } }` },
  { query: `{ lab { ... on Lab { id } name ... on Lab { owner { name } status } ... on Node { id } } }` },
];

/** A tiny deterministic random source, so fast-check only has to shrink a seed. */
function rng(seed: number) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
}

/** Random data shaped like (and sometimes unlike) the selections' results. */
function generate(schema: GraphQLSchema, selections: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, parentType: string, random: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const object = (set: SelectionSetNode, typeName: string, depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const type = schema.getType(typeName)!;
    let concrete = typeName;
    if (isAbstractType(type)) concrete = pick(schema.getPossibleTypes(type)).name;
    const typenameRoll = random();
    if (typenameRoll < 0.7) out.__typename = concrete;
    else if (typenameRoll < 0.75) out.__typename = 'Nope';
    else if (typenameRoll < 0.8) out.__typename = 'Node';
    fill(set, concrete, out, depth);
    return out;
  };
  const fill = (set: SelectionSetNode, typeName: string, out: Record<string, unknown>, depth: number) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value)!;
        fill(fragment.selectionSet, typeName, out, depth);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        fill(selection.selectionSet, selection.typeCondition?.name.value ?? typeName, out, depth);
      } else {
        const name = selection.alias?.value ?? selection.name.value;
        if (selection.name.value === '__typename') {
          if (random() < 0.5) out[name] = pick([typeName, 'Lab', 'User', 'Nope']);
          continue;
        }
        const owner = schema.getType(typeName);
        const field = owner && 'getFields' in owner ? (owner.getFields() as Record<string, { type: GraphQLOutputType }>)[selection.name.value] : undefined;
        if (!field) continue;
        if (random() < 0.08) continue; // missing
        if (name in out && random() < 0.5) continue; // keep what an earlier fragment put there
        out[name] = value(field.type, selection.selectionSet, depth + 1);
      }
    }
  };
  const value = (type: GraphQLOutputType, set: SelectionSetNode | undefined, depth: number): unknown => {
    const roll = random();
    if (roll < 0.1) return null;
    if (roll < 0.14) return pick(['x', 7, true, { a: 1 }, [1]]);
    if (isNonNullType(type)) return value(type.ofType, set, depth);
    if (isListType(type)) {
      const length = depth > 4 ? 0 : Math.floor(random() * 3);
      return Array.from({ length }, () => value(type.ofType, set, depth + 1));
    }
    const named = getNamedType(type);
    if (set) return depth > 5 ? null : object(set, named.name, depth);
    if (isEnumType(named)) return pick([...named.getValues().map((v) => v.name), 'SIDEWAYS']);
    switch (named.name) {
      case 'ID':
        return pick(['i1', 42, 1.5]);
      case 'Int':
        return pick([1, -3, 2.5, 1e21, '4']);
      case 'Float':
        return pick([1.25, 3, 'x']);
      case 'Boolean':
        return pick([true, false, 0]);
      default:
        return pick(['text', 3, false]);
    }
  };
  const root: Record<string, unknown> = {};
  fill(selections, parentType, root, 0);
  return root;
}

function stockShape(query: string, variables: Record<string, unknown> | undefined, input: Record<string, unknown>) {
  const operation = operationFromDocument(supergraph.apiSchema, parse(query), { validate: false });
  try {
    const { data, errors } = computeResponse({ operation, variables, input, introspectionHandling: () => null });
    return { data: JSON.stringify(data), errors: errors.map((e: GraphQLError) => [e.message, e.path]) };
  } catch {
    return { threw: true };
  }
}

function ourShape(query: string, variables: Record<string, unknown> | undefined, input: Record<string, unknown>) {
  const document = parse(query);
  const definition = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION)!;
  const operation = operationFromDocument(supergraph.apiSchema, document, { validate: false });
  const shape = new CompiledShape(shapingSchema, operation, definition.variableDefinitions ?? []);
  const errors: GraphQLError[] = [];
  try {
    const data = shape.shape(input, variables, errors);
    return { data: JSON.stringify(data), errors: errors.map((e) => [e.message, e.path]) };
  } catch {
    return { threw: true };
  }
}

describe('compiled result shaping', () => {
  it.each(OPERATIONS.map((o, i) => ({ ...o, i })))('equals @apollo/gateway computeResponse on random data (operation $i)', ({ query, variables }) => {
    const document = parse(query);
    const fragments = new Map(
      document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
    );
    const definition = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION)!;
    const outcomes = { clean: 0, errors: 0, threw: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const input = generate(supergraph.apiGraphQLSchema, definition.selectionSet, fragments, 'Query', rng(seed));
        const ours = ourShape(query, variables, input);
        expect(ours).toEqual(stockShape(query, variables, input));
        outcomes[ours.threw ? 'threw' : ours.errors!.length > 0 ? 'errors' : 'clean']++;
      }),
      { numRuns: 300 },
    );
    // The generator must exercise all three outcomes, or the comparison proves little.
    expect(outcomes.clean).toBeGreaterThan(0);
    expect(outcomes.errors).toBeGreaterThan(0);
    expect(outcomes.threw).toBeGreaterThan(0);
  });

  it('keeps the data of a valid response as is', () => {
    const input = { lab: { __typename: 'Lab', id: 'l1', name: 'n', status: 'UP', tags: ['a'], scores: [[1, null]], rating: 1.5, open: true, owner: { __typename: 'User', id: 'u', name: null } } };
    const result = ourShape(OPERATIONS[0]!.query, undefined, input);
    expect(JSON.parse(result.data as string)).toEqual({
      lab: { id: 'l1', name: 'n', status: 'UP', tags: ['a'], scores: [[1, null]], rating: 1.5, open: true, owner: { id: 'u', name: null } },
    });
    expect(result.errors).toEqual([]);
    expect(isObjectType(supergraph.apiGraphQLSchema.getType('Lab'))).toBe(true);
  });
});
