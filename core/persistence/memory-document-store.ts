import { conflict, notFound } from '../errors.ts';
import { traceDocumentStore } from '../telemetry/traced-store.ts';
import {
  getPath,
  decodeCursor,
  type CollectionSpec,
  type Condition,
  type DocumentStore,
  type Page,
  type PageRequest,
  type Storage,
  type StoredDocument,
} from './document-store.ts';

const DEFAULT_FIND_LIMIT = 10_000;

function comparable(v: unknown): unknown {
  return v instanceof Date ? v.getTime() : v;
}

function equal(a: unknown, b: unknown): boolean {
  const ca = comparable(a);
  const cb = comparable(b);
  if (Array.isArray(ca)) return ca.some((x) => equal(x, b));
  return ca === cb;
}

function matches(doc: unknown, c: Condition): boolean {
  const v = getPath(doc, c.field);
  switch (c.op) {
    case 'eq':
      return c.value === null ? v === null || v === undefined : equal(v, c.value);
    case 'ne':
      return c.value === null ? !(v === null || v === undefined) : !equal(v, c.value);
    case 'in':
      return c.value.some((x) => equal(v, x));
    case 'nin':
      return !c.value.some((x) => equal(v, x));
    case 'exists':
      return (v !== undefined) === c.value;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (v === undefined || v === null) return false;
      const a = comparable(v) as number | string;
      const b = comparable(c.value) as number | string;
      if (c.op === 'gt') return a > b;
      if (c.op === 'gte') return a >= b;
      if (c.op === 'lt') return a < b;
      return a <= b;
    }
  }
}

/** Deep copy that keeps Dates (documents never share structure with callers). */
function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * An in-memory collection with the same semantics as the MongoDB adapter: unique indexes, conditional
 * replace on revision, id-ordered pages. Used for the embedded default (`npm start`).
 */
export class MemoryDocumentStore<T extends StoredDocument> implements DocumentStore<T> {
  private readonly docs = new Map<string, T>();
  private sortedIds: string[] | undefined;

  constructor(
    readonly spec: CollectionSpec,
    private readonly tick: () => void = () => {},
  ) {
    this.uniques = spec.indexes.filter((i) => i.unique).map((index) => ({ index, owners: new Map<string, string>() }));
  }

  /** One map per unique index: index key → id of the document holding it. */
  private readonly uniques: Array<{ index: CollectionSpec['indexes'][number]; owners: Map<string, string> }>;

  private uniqueKey(doc: T, fields: string[], sparse: boolean): string | undefined {
    const parts: unknown[] = [];
    for (const f of fields) {
      const v = getPath(doc, f);
      if (sparse && (v === undefined || v === null)) return undefined;
      parts.push(comparable(v) ?? null);
    }
    return JSON.stringify(parts);
  }

  private uniqueViolation(doc: T): string | undefined {
    for (const { index, owners } of this.uniques) {
      const key = this.uniqueKey(doc, index.fields, index.sparse ?? false);
      if (key === undefined) continue;
      const owner = owners.get(key);
      if (owner !== undefined && owner !== doc.id) return index.description ?? index.fields.join(', ');
    }
    return undefined;
  }

  private indexUniques(doc: T, previous: T | undefined): void {
    for (const { index, owners } of this.uniques) {
      if (previous) {
        const old = this.uniqueKey(previous, index.fields, index.sparse ?? false);
        if (old !== undefined && owners.get(old) === previous.id) owners.delete(old);
      }
      const key = this.uniqueKey(doc, index.fields, index.sparse ?? false);
      if (key !== undefined) owners.set(key, doc.id);
    }
  }

  insert(doc: T): Promise<void> {
    this.tick();
    if (this.docs.has(doc.id)) return Promise.reject(conflict(`${this.spec.name} ${doc.id} already exists`, { id: doc.id }));
    const violated = this.uniqueViolation(doc);
    if (violated) return Promise.reject(conflict(`${this.spec.name}: an item with the same ${violated} already exists`, { index: violated }));
    this.indexUniques(doc, undefined);
    this.docs.set(doc.id, clone(doc));
    this.sortedIds = undefined;
    return Promise.resolve();
  }

  replace(doc: T, expectedRevision: number): Promise<void> {
    this.tick();
    const current = this.docs.get(doc.id);
    if (!current) return Promise.reject(notFound(this.spec.name, doc.id));
    if (current.revision !== expectedRevision) {
      return Promise.reject(
        conflict(`${this.spec.name} ${doc.id} was changed concurrently (revision ${current.revision}, expected ${expectedRevision})`, {
          id: doc.id,
          revision: current.revision,
          expectedRevision,
        }),
      );
    }
    const violated = this.uniqueViolation(doc);
    if (violated) return Promise.reject(conflict(`${this.spec.name}: an item with the same ${violated} already exists`, { index: violated }));
    this.indexUniques(doc, current);
    this.docs.set(doc.id, clone(doc));
    return Promise.resolve();
  }

  get(id: string): Promise<T | undefined> {
    this.tick();
    const d = this.docs.get(id);
    return Promise.resolve(d ? clone(d) : undefined);
  }

  getMany(ids: readonly string[]): Promise<T[]> {
    this.tick();
    const out: T[] = [];
    for (const id of new Set(ids)) {
      const d = this.docs.get(id);
      if (d) out.push(clone(d));
    }
    return Promise.resolve(out);
  }

  private ordered(): T[] {
    this.sortedIds ??= [...this.docs.keys()].sort();
    return this.sortedIds.map((id) => this.docs.get(id) as T);
  }

  private filter(conditions: readonly Condition[]): T[] {
    return this.ordered().filter((d) => conditions.every((c) => matches(d, c)));
  }

  findOne(conditions: readonly Condition[]): Promise<T | undefined> {
    this.tick();
    const d = this.ordered().find((x) => conditions.every((c) => matches(x, c)));
    return Promise.resolve(d ? clone(d) : undefined);
  }

  find(conditions: readonly Condition[], options: { limit?: number } = {}): Promise<T[]> {
    this.tick();
    return Promise.resolve(this.filter(conditions).slice(0, options.limit ?? DEFAULT_FIND_LIMIT).map(clone));
  }

  page(conditions: readonly Condition[], page: PageRequest): Promise<Page<T>> {
    this.tick();
    this.tick(); // a page is two round trips on MongoDB (items + count); count them alike
    const all = this.filter(conditions);
    const after = page.after === undefined ? undefined : decodeCursor(page.after);
    const rest = after === undefined ? all : all.filter((d) => d.id > after);
    return Promise.resolve({
      items: rest.slice(0, page.first).map(clone),
      hasNextPage: rest.length > page.first,
      totalCount: all.length,
    });
  }

  count(conditions: readonly Condition[]): Promise<number> {
    this.tick();
    return Promise.resolve(this.filter(conditions).length);
  }

  clear(): Promise<void> {
    this.docs.clear();
    for (const u of this.uniques) u.owners.clear();
    this.sortedIds = undefined;
    return Promise.resolve();
  }
}

/** Storage of one process: collections live as long as the storage object. */
export class MemoryStorage implements Storage {
  readonly kind = 'memory' as const;
  private readonly collections = new Map<string, MemoryDocumentStore<StoredDocument>>();
  private trips = 0;

  collection<T extends StoredDocument>(spec: CollectionSpec): DocumentStore<T> {
    let c = this.collections.get(spec.name);
    if (!c) {
      c = new MemoryDocumentStore<StoredDocument>(spec, () => {
        this.trips += 1;
      });
      this.collections.set(spec.name, c);
    }
    return traceDocumentStore(c as unknown as DocumentStore<T>, 'memory');
  }

  ensureIndexes(): Promise<void> {
    return Promise.resolve();
  }

  roundTrips(): number {
    return this.trips;
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
