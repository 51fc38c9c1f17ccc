import { ProtocolErrorCode } from '../../core/errors.ts';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GraphQLError } from 'graphql';

/**
 * Automatic persisted queries (Apollo's APQ protocol): a client sends `extensions.persistedQuery =
 * {version: 1, sha256Hash}` without the query; if the gateway knows the hash it runs the stored
 * query, else it answers `PERSISTED_QUERY_NOT_FOUND` (HTTP 200, as Apollo Server does) and the client
 * retries with the query, which is stored once its hash is checked and it has passed parsing,
 * validation and the query limits (as Apollo Server does), so a document over a limit is never kept.
 * An LRU per endpoint, bounded by the bytes of the stored text (client input, so not by entries).
 */
export class PersistedQueries {
  private readonly cache: LRUCache<string, string>;

  constructor(maxBytes = 16 * 1024 * 1024) {
    // A V8 string takes up to 2 bytes a character; 64 for the key (the hash) and the entry.
    this.cache = new LRUCache<string, string>({ maxSize: maxBytes, sizeCalculation: (q) => q.length * 2 + 64 });
  }

  /** Bytes of query text held (at most the bound given at construction). */
  get bytes(): number {
    return this.cache.calculatedSize;
  }

  /**
   * The query text to run for a request with a persistedQuery extension, and `remember`, to call once
   * the query is known to be runnable. Throws a GraphQLError carrying the HTTP status Apollo Server
   * uses for each case.
   */
  resolve(query: string | undefined, persistedQuery: unknown): { query: string; remember?: () => void } {
    const pq = persistedQuery as { version?: unknown; sha256Hash?: unknown };
    if (pq?.version !== 1) {
      throw new GraphQLError('Unsupported persisted query version', { extensions: { code: ProtocolErrorCode.BAD_REQUEST, http: { status: 400 } } });
    }
    const hash = pq.sha256Hash;
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash)) {
      throw new GraphQLError('persistedQuery.sha256Hash must be a sha256 hex digest', { extensions: { code: ProtocolErrorCode.BAD_REQUEST, http: { status: 400 } } });
    }
    const key = hash.toLowerCase();
    if (query === undefined) {
      const stored = this.cache.get(key);
      if (stored === undefined) {
        throw new GraphQLError('PersistedQueryNotFound', {
          extensions: { code: ProtocolErrorCode.PERSISTED_QUERY_NOT_FOUND, http: { status: 200, headers: { 'cache-control': 'private, no-cache, must-revalidate' } } },
        });
      }
      return { query: stored };
    }
    if (createHash('sha256').update(query).digest('hex') !== key) {
      throw new GraphQLError('provided sha does not match query', { extensions: { code: ProtocolErrorCode.BAD_REQUEST, http: { status: 400 } } });
    }
    return { query, remember: () => this.cache.set(key, query) };
  }
}
