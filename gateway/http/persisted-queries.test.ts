import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PersistedQueries } from './persisted-queries.ts';

const sha = (q: string) => createHash('sha256').update(q).digest('hex');
const pq = (q: string) => ({ version: 1, sha256Hash: sha(q) });

describe('automatic persisted queries', () => {
  it('keeps a query only once it is remembered, and finds it by its hash', () => {
    const store = new PersistedQueries();
    const query = '{ __typename }';
    const { remember } = store.resolve(query, pq(query));
    expect(() => store.resolve(undefined, pq(query))).toThrowError(expect.objectContaining({ extensions: expect.objectContaining({ code: 'PERSISTED_QUERY_NOT_FOUND' }) }));
    remember!();
    expect(store.resolve(undefined, pq(query))).toEqual({ query });
  });

  it('stays under its byte bound whatever unique large queries arrive', () => {
    const maxBytes = 1024 * 1024;
    const store = new PersistedQueries(maxBytes);
    let largest = 0;
    for (let i = 0; i < 100; i++) {
      const query = `# ${i} ${'x'.repeat(60 * 1024)}\n{ __typename }`;
      store.resolve(query, pq(query)).remember!();
      largest = Math.max(largest, store.bytes);
    }
    expect(largest).toBeGreaterThan(maxBytes / 2);
    expect(largest).toBeLessThanOrEqual(maxBytes);
  });

  it('refuses a hash that does not match the query', () => {
    expect(() => new PersistedQueries().resolve('{ a }', pq('{ b }'))).toThrowError(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_REQUEST' }) }));
  });
});
