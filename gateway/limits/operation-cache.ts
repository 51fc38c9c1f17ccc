import { LRUCache } from 'lru-cache';
import { DEFAULT_LIMITS } from './limits.ts';

/**
 * The gateway's cache of prepared operations (parsed document, validation result, query plan,
 * compiled shape), keyed by operation name and query text: client input, so it is bounded by bytes,
 * not only by entries. An entry count alone let 1,000 unique large documents hold over a gigabyte.
 *
 * The bytes are an estimate from the key's length, measured on this project's public supergraph
 * (node --expose-gc, heap before and after preparing 200–1,000 distinct queries of 0.5–28 KB): a
 * prepared operation holds about 160 bytes of heap per character of query text (AST with locations,
 * plan, shape), a failed one about 26–40. An entry larger than the whole bound is not kept at all.
 */
export const PREPARED_BYTES_PER_CHAR = 160;
export const FAILED_BYTES_PER_CHAR = 40;
const ENTRY_OVERHEAD_BYTES = 256;

export interface OperationCacheOptions {
  /** Estimated bytes the cache may hold (default: the limits' `operationCacheBytes`, 32 MiB). */
  maxBytes?: number;
  /** Entries the cache may hold (default 1000). */
  maxEntries?: number;
}

/** The estimated heap of one entry: `ok` is whether the value is a prepared operation or a failure. */
export function estimateEntryBytes(key: string, ok: boolean): number {
  return ENTRY_OVERHEAD_BYTES + key.length * (ok ? PREPARED_BYTES_PER_CHAR : FAILED_BYTES_PER_CHAR);
}

/** An LRU cache of preparations bounded by entries and by estimated bytes. */
export function createOperationCache<V extends { ok: boolean }>(options: OperationCacheOptions = {}): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max: options.maxEntries ?? 1000,
    maxSize: options.maxBytes ?? DEFAULT_LIMITS.operationCacheBytes,
    sizeCalculation: (value, key) => estimateEntryBytes(key, value.ok),
  });
}
