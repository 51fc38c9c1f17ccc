import { buildSchema, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkQuerySize, DEFAULT_LIMITS, limitRules, parseWithLimits } from './limits.ts';

const schema = buildSchema(`
  type Node { id: ID! name: String child: Node children(first: Int): [Node!]! }
  type Query { node(id: ID!): Node nodes: [Node!]! }
`);
const rules = [...specifiedRules, ...limitRules({ ...DEFAULT_LIMITS, maxDepth: 4, maxAliases: 3, maxCost: 200, maxTokens: 200 })];
const check = (q: string) => validate(schema, parseWithLimits(q, { ...DEFAULT_LIMITS, maxTokens: 200 }), rules);

describe('query limits', () => {
  it('accepts an ordinary query', () => {
    expect(check('{ node(id: "1") { id name child { id } } }')).toEqual([]);
  });

  it('rejects depth over the limit with QUERY_LIMIT_EXCEEDED naming the limit', () => {
    const errors = check('{ node(id: "1") { child { child { child { child { id } } } } } }');
    expect(errors.map((e) => e.extensions)).toContainEqual(expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'depth' }));
  });

  it('counts depth through fragments', () => {
    const errors = check('{ node(id: "1") { ...F } } fragment F on Node { child { child { child { child { id } } } } }');
    expect(errors.some((e) => e.extensions.limit === 'depth')).toBe(true);
  });

  it('rejects too many aliases', () => {
    const errors = check('{ a: nodes { id } b: nodes { id } c: nodes { id } d: nodes { id } }');
    expect(errors.map((e) => e.extensions)).toContainEqual(expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' }));
  });

  it('rejects expensive queries by cost', () => {
    const costRules = [...specifiedRules, ...limitRules({ ...DEFAULT_LIMITS, maxCost: 15 })];
    const cheap = validate(schema, parseWithLimits('{ nodes { id } }'), costRules);
    expect(cheap).toEqual([]);
    const errors = validate(schema, parseWithLimits('{ nodes { children { children { id name } name } name id } }'), costRules);
    expect(errors.map((e) => e.extensions)).toContainEqual(expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'cost' }));
  });

  it('rejects documents over the token limit while parsing', () => {
    const big = `{ ${Array.from({ length: 120 }, (_, i) => `f${i}: nodes { id }`).join(' ')} }`;
    expect(() => parseWithLimits(big, { ...DEFAULT_LIMITS, maxTokens: 200 })).toThrowError(
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'tokens' }) }),
    );
  });

  it('counts __typename aliases in the alias limit', () => {
    const errors = check('{ a: __typename b: __typename c: __typename d: __typename }');
    expect(errors.map((e) => e.extensions)).toContainEqual(expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' }));
    expect(check('{ __typename a: __typename b: __typename c: __typename }')).toEqual([]);
  });

  it('bounds the document by its size before lexing: comments, whitespace and long strings count', () => {
    const limits = { ...DEFAULT_LIMITS, maxQueryBytes: 1024 };
    const overLimit = expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'queryBytes' }) });
    // A few tokens each: the token limit alone let all three through, whatever their size.
    const comments = `# ${'x'.repeat(2000)}\n{ nodes { id } }`;
    const blanks = `{ nodes { id } }${' '.repeat(2000)}`;
    const literal = `{ node(id: "${'x'.repeat(2000)}") { id } }`;
    for (const doc of [comments, blanks, literal]) {
      expect(() => parseWithLimits(doc, { ...DEFAULT_LIMITS, maxTokens: 200 })).not.toThrow();
      expect(() => parseWithLimits(doc, limits)).toThrowError(overLimit);
    }
    expect(() => parseWithLimits(`# ${'x'.repeat(900)}\n{ nodes { id } }`, limits)).not.toThrow();
  });

  it('measures the size in UTF-8 bytes, cheaply for huge documents', () => {
    const limits = { maxQueryBytes: 1000 };
    expect(checkQuerySize(`# ${'é'.repeat(400)}\n{ a }`, limits)).toBeUndefined(); // 800 bytes
    expect(checkQuerySize(`# ${'é'.repeat(600)}\n{ a }`, limits)?.extensions).toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'queryBytes' });
    const huge = '#'.repeat(50 * 1024 * 1024);
    const started = performance.now();
    expect(checkQuerySize(huge)).toBeDefined();
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('reports syntax errors as GRAPHQL_PARSE_FAILED', () => {
    expect(() => parseWithLimits('{ node(')).toThrowError(expect.objectContaining({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } }));
  });
});
