import { buildSchema, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, limitRules, parseWithLimits } from './limits.ts';

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

  it('reports syntax errors as GRAPHQL_PARSE_FAILED', () => {
    expect(() => parseWithLimits('{ node(')).toThrowError(expect.objectContaining({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } }));
  });
});
