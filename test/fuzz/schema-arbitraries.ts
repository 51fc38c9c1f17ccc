/**
 * fast-check arbitraries generated from the GraphQL schema: values for every argument of every
 * mutation (well-shaped ones, so the fuzz reaches the domain rules, mixed with hostile ones: wrong
 * types, unknown fields, huge and odd strings, out-of-range numbers), and raw documents (mutated valid
 * documents and GraphQL-ish noise), so the property tests in this folder cover what an attacker or a
 * buggy partner can send.
 */
import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

/** Ids that exist in the system under test: the fuzz picks them often, so it gets past "not found". */
export interface KnownIds {
  ids: () => string[];
}

const oddStrings = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '\uFFFF',
  '\uD800',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '{"$where":"1"}',
  '$gt',
  '<script>alert(1)</script>',
  "'; DROP TABLE sessions; --",
  'a'.repeat(10_000),
  '9999-99-99T99:99:99Z',
  '2026-02-30T00:00:00Z',
  'NaN',
  '-0',
  '1e309',
);

const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  oddStrings,
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, Number.MAX_VALUE),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 2 }),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('$set', '$where', '__proto__', 'constructor', '_id', 'x'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

function scalar(name: string, known: KnownIds): fc.Arbitrary<unknown> {
  switch (name) {
    case 'ID':
      return fc.oneof({ weight: 3, arbitrary: fc.constant(null).map(() => pick(known.ids())) }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) });
    case 'String':
      return fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }) }, { weight: 1, arbitrary: oddStrings });
    case 'Int':
      return fc.oneof(fc.integer({ min: -5, max: 100 }), fc.integer());
    case 'Float':
      return fc.oneof(fc.double({ min: -5, max: 100, noNaN: true }), fc.double({ noNaN: true }));
    case 'Boolean':
      return fc.boolean();
    case 'DateTime':
      return fc.oneof(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
        oddStrings,
        fc.integer(),
      );
    case 'JSON':
      return fc.jsonValue({ maxDepth: 3 });
    default:
      return fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 }));
  }
}

const pick = (ids: string[]): string => (ids.length === 0 ? 'missing-id' : ids[Math.floor(Math.random() * ids.length)]!);

/** A value for an input type: mostly well-shaped, sometimes hostile at any level. */
export function inputValue(type: GraphQLInputType, known: KnownIds, depth = 0): fc.Arbitrary<unknown> {
  const shaped = shapedValue(type, known, depth);
  return fc.oneof({ weight: 6, arbitrary: shaped }, { weight: 1, arbitrary: hostile });
}

function shapedValue(type: GraphQLInputType, known: KnownIds, depth: number): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return shapedValue(type.ofType, known, depth);
  if (isListType(type)) return fc.array(inputValue(type.ofType, known, depth + 1), { maxLength: depth > 2 ? 1 : 4 });
  if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
  if (isScalarType(type)) return scalar(type.name, known);
  if (isInputObjectType(type)) {
    if (depth > 4) return fc.constant({});
    const fields = Object.values(type.getFields());
    const record: Record<string, fc.Arbitrary<unknown>> = {};
    const required: string[] = [];
    for (const f of fields) {
      record[f.name] = inputValue(f.type, known, depth + 1);
      if (isNonNullType(f.type) && f.defaultValue === undefined) required.push(f.name);
    }
    const base = fc.record(record, { requiredKeys: required as never[] });
    // Sometimes an unknown field or a missing required one: validation must say so, nothing written.
    return fc.oneof(
      { weight: 8, arbitrary: base },
      { weight: 1, arbitrary: base.map((v) => ({ ...(v as object), unknownField: 1 })) },
      {
        weight: 1,
        arbitrary: base.map((v) => {
          const copy = { ...(v as Record<string, unknown>) };
          if (required[0]) delete copy[required[0]];
          return copy;
        }),
      },
    );
  }
  return hostile;
}

/** A mutation document calling `field` with every argument as a variable, selecting `__typename`. */
export function mutationDocument(field: GraphQLField<unknown, unknown>): string {
  const vars = field.args.map((a, i) => `$a${i}: ${String(a.type)}`).join(', ');
  const args = field.args.map((a, i) => `${a.name}: $a${i}`).join(', ');
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  return `mutation Fuzz${vars ? `(${vars})` : ''} { ${field.name}${args ? `(${args})` : ''}${selection} }`;
}

/** The variables for `mutationDocument(field)`. */
export function mutationVariables(field: GraphQLField<unknown, unknown>, known: KnownIds): fc.Arbitrary<Record<string, unknown>> {
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  field.args.forEach((a: GraphQLArgument, i) => {
    record[`a${i}`] = inputValue(a.type, known);
  });
  return fc.record(record);
}

export function mutationFields(schema: GraphQLSchema): GraphQLField<unknown, unknown>[] {
  return Object.values(schema.getMutationType()?.getFields() ?? {});
}

const GRAPHQL_TOKENS = [
  '{', '}', '(', ')', '[', ']', ':', '$', '!', '@', '...', ',', '=', '|', '&', '"', '"""', '#', '\n', ' ',
  'query', 'mutation', 'subscription', 'fragment', 'on', 'true', 'false', 'null', '__typename', '__schema',
  'sessions', 'session', 'definitions', 'workers', 'edges', 'node', 'id', 'status', 'definition', 'worker', 'first',
  'createSession', 'input', '1', '-1', '1e99', 'a:', 'include(if: true)', 'skip(if: $x)', 'deprecated',
];

/** A valid document with random edits (insertions, deletions, duplications), or GraphQL-ish noise. */
export function rawDocument(valid: readonly string[]): fc.Arbitrary<string> {
  const noise = fc.array(fc.constantFrom(...GRAPHQL_TOKENS), { maxLength: 60 }).map((t) => t.join(' '));
  const edited = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 6 }), fc.constantFrom(...GRAPHQL_TOKENS)), { minLength: 1, maxLength: 6 }),
    )
    .map(([doc, edits]) => {
      let s = doc;
      for (const [at, cut, insert] of edits) {
        const i = at % (s.length + 1);
        s = s.slice(0, i) + insert + s.slice(i + cut);
      }
      return s;
    });
  const nested = fc.integer({ min: 1, max: 400 }).map((n) => `{ ${'sessions { edges { node { worker { sessions { '.repeat(n)} id ${'} } } } } '.repeat(n)}}`);
  const aliases = fc.integer({ min: 1, max: 2_000 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`);
  return fc.oneof(
    { weight: 4, arbitrary: edited },
    { weight: 2, arbitrary: noise },
    { weight: 1, arbitrary: nested },
    { weight: 1, arbitrary: aliases },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  );
}
