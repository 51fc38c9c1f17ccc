/**
 * The repository port every aggregate store is built on: documents with an `id` and an optimistic
 * concurrency `revision`, conditional replace, batched reads, and filtered cursor pages. Two adapters
 * hold to one contract suite (`test/support/contracts/document-store.contract.ts`): MongoDB (the official driver) and memory.
 *
 * Filters are a small typed condition language both adapters understand, so a repository states its
 * queries once. Pages are sorted by `id` ascending (ids are time-ordered, see `core/ids.ts`); the
 * cursor is the last id of the page.
 */
export interface StoredDocument {
  id: string;
  /** Optimistic concurrency: 1 after insert, +1 on every replace. */
  revision: number;
}

export type Condition =
  | { field: string; op: 'eq' | 'ne'; value: unknown }
  | { field: string; op: 'in' | 'nin'; value: readonly unknown[] }
  | { field: string; op: 'gt' | 'gte' | 'lt' | 'lte'; value: number | string | Date }
  | { field: string; op: 'exists'; value: boolean };

export interface IndexSpec {
  /** Dotted field paths, ascending. */
  fields: string[];
  unique?: boolean;
  /** Unique only among documents that have every field (MongoDB partial index on existence). */
  sparse?: boolean;
  /** Name shown in CONFLICT errors for unique violations (e.g. "name and version"). */
  description?: string;
}

export interface CollectionSpec {
  name: string;
  indexes: IndexSpec[];
}

export interface PageRequest {
  first: number;
  /** Cursor from a previous page's `endCursor`. */
  after?: string;
}

export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
  totalCount: number;
}

export interface DocumentStore<T extends StoredDocument> {
  readonly spec: CollectionSpec;
  /** Insert a new document (revision must be 1). CONFLICT on a duplicate id or unique index. */
  insert(doc: T): Promise<void>;
  /**
   * Replace `doc` if the stored revision equals `expectedRevision` (doc.revision must be
   * expectedRevision + 1). CONFLICT when another write got there first, NOT_FOUND when absent.
   */
  replace(doc: T, expectedRevision: number): Promise<void>;
  get(id: string): Promise<T | undefined>;
  /** Documents with these ids, in one round trip (order unspecified, missing ids skipped). */
  getMany(ids: readonly string[]): Promise<T[]>;
  findOne(conditions: readonly Condition[]): Promise<T | undefined>;
  /** All matching documents sorted by id (bounded by `limit`, default 10,000). */
  find(conditions: readonly Condition[], options?: { limit?: number }): Promise<T[]>;
  page(conditions: readonly Condition[], page: PageRequest): Promise<Page<T>>;
  count(conditions: readonly Condition[]): Promise<number>;
  /** Delete every document (tests and embedded resets only). */
  clear(): Promise<void>;
}

/** Hands out the document stores of one database. */
export interface Storage {
  readonly kind: 'memory' | 'mongodb';
  collection<T extends StoredDocument>(spec: CollectionSpec): DocumentStore<T>;
  /** Create the indexes of every collection asked for so far (idempotent). */
  ensureIndexes(): Promise<void>;
  /** Round trips made to the database so far (for the N+1 tests and metrics). */
  roundTrips(): number;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const encodeCursor = (id: string): string => Buffer.from(id, 'utf8').toString('base64url');

export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return id.length > 0 ? id : undefined;
}

/** Read a dotted path of a plain object. */
export function getPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
