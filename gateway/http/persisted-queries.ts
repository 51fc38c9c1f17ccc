import { ProtocolErrorCode } from '../../core/errors.ts';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GraphQLError } from 'graphql';

/**
 * Automatic persisted queries (Apollo's APQ protocol): a client sends `extensions.persistedQuery =
 * {version: 1, sha256Hash}` without the query; if the gateway knows the hash it runs the stored
 * query, else it answers `PERSISTED_QUERY_NOT_FOUND` (HTTP 200, as Apollo Server does) and the client
 * retries with the query, which is stored after its hash is checked. Bounded LRU per endpoint.
 */
export class PersistedQueries {
  private readonly cache: LRUCache<string, string>;

  constructor(maxBytes = 16 * 1024 * 1024) {
    this.cache = new LRUCache<string, string>({ maxSize: maxBytes, sizeCalculation: (q) => q.length + 64 });
  }

  /**
   * The query text to run for a request with a persistedQuery extension. Throws a GraphQLError
   * carrying the HTTP status Apollo Server uses for each case.
   */
  resolve(query: string | undefined, persistedQuery: unknown): string {
    const pq = persistedQuery as { version?: unknown; sha256Hash?: unknown };
    if (pq?.version !== 1) {
      throw new GraphQLError('Unsupported persisted query version', { extensions: { code: ProtocolErrorCode.BAD_REQUEST, http: { status: 400 } } });
    }
    const hash = pq.sha256Hash;
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash)) {
      throw new GraphQLError('persistedQuery.sha256Hash must be a sha256 hex digest', { extensions: { code: ProtocolErrorCode.BAD_REQUEST, http: { status: 400 } } });
    }
    if (query === undefined) {
      const stored = this.cache.get(hash.toLowerCase());
      if (stored === undefined) {
        throw new GraphQLError('PersistedQueryNotFound', {
          extensions: { code: ProtocolErrorCode.PERSISTED_QUERY_NOT_FOUND, http: { status: 200, headers: { 'cache-control': 'private, no-cache, must-revalidate' } } },
        });
      }
      return stored;
    }
    if (createHash('sha256').update(query).digest('hex') !== hash.toLowerCase()) {
      throw new GraphQLError('provided sha does not match query', { extensions: { code: ProtocolErrorCode.BAD_REQUEST, http: { status: 400 } } });
    }
    this.cache.set(hash.toLowerCase(), query);
    return query;
  }
}
