import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GatewayExecutor } from '../executor/executor.ts';
import { SubgraphClients } from '../executor/subgraph-client.ts';
import { loadSupergraph } from '../supergraph.ts';
import { DEFAULT_LIMITS, parseWithLimits } from './limits.ts';
import { createOperationCache, estimateEntryBytes } from './operation-cache.ts';

const supergraph = loadSupergraph(readFileSync(new URL('../../schema/supergraph.public.graphql', import.meta.url), 'utf8'));

/** A valid query of about `size` characters, unique by `i`. */
function uniqueQuery(i: number, size: number): string {
  const fields: string[] = [];
  for (let j = 0; fields.join(' ').length < size; j++) fields.push(`a${j}: sessions(first: ${i + 1}) { edges { node { id status owner } } }`);
  return `query Q${i} { ${fields.join(' ')} }`;
}

describe('the prepared-operation cache', () => {
  it('keeps its estimated size under its byte bound whatever unique documents arrive', () => {
    const maxBytes = 256 * 1024;
    const executor = new GatewayExecutor({
      supergraph,
      clients: new SubgraphClients({}),
      parse: (q) => parseWithLimits(q, { ...DEFAULT_LIMITS, maxAliases: 1000 }),
      operationCacheBytes: maxBytes,
    });
    let largest = 0;
    for (let i = 0; i < 45; i++) {
      // Valid and cached, failing validation, and over the size limit: each kind is bounded.
      const query = i % 3 === 0 ? uniqueQuery(i, 600) : i % 3 === 1 ? `${uniqueQuery(i, 600)} { nope }` : `# ${'x'.repeat(200_000)} ${i}\n{ __typename }`;
      const preparation = executor.prepare(query);
      expect(preparation.ok).toBe(i % 3 === 0);
      largest = Math.max(largest, executor.operationCacheBytes);
    }
    expect(largest).toBeGreaterThan(maxBytes / 2);
    expect(largest).toBeLessThanOrEqual(maxBytes);
  });

  it('returns a cached preparation for a document seen before', () => {
    const executor = new GatewayExecutor({ supergraph, clients: new SubgraphClients({}), parse: (q) => parseWithLimits(q) });
    const query = uniqueQuery(1, 200);
    const first = executor.prepare(query);
    expect(executor.prepare(query)).toBe(first);
    expect(executor.operationCacheBytes).toBe(estimateEntryBytes(`\u0000${query}`, true));
  });

  it('does not keep an entry larger than its whole bound', () => {
    const cache = createOperationCache<{ ok: boolean }>({ maxBytes: 100_000 });
    cache.set('x'.repeat(10_000), { ok: true }); // 1.6 MB estimated
    cache.set('small', { ok: true });
    expect(cache.size).toBe(1);
    expect(cache.calculatedSize).toBe(estimateEntryBytes('small', true));
  });
});
