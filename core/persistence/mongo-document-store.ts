import { MongoClient, MongoServerError, type Collection, type Db, type Document, type Filter } from 'mongodb';
import { conflict, notFound } from '../errors.ts';
import { traceDocumentStore } from '../telemetry/traced-store.ts';
import {
  decodeCursor,
  type CollectionSpec,
  type Condition,
  type DocumentStore,
  type Page,
  type PageRequest,
  type Storage,
  type StoredDocument,
} from './document-store.ts';
import type { WriteLocks } from './write-locks.ts';

const DEFAULT_FIND_LIMIT = 10_000;
/**
 * Longest one replace may take, end to end, before its caller gets an error and the document's next
 * replace runs: above the socket timeout (30 s) plus the driver's one retry on a fresh connection.
 */
const OPERATION_TIMEOUT_MS = 45_000;

/** `work`, or an error once `ms` have passed without it settling (the work itself is left to finish or not). */
function withDeadline<R>(work: Promise<R>, ms: number, what: () => string): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what()} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work.finally(() => clearTimeout(timer)), deadline]);
}
const DUPLICATE_KEY = 11000;

const mongoField = (field: string): string => (field === 'id' ? '_id' : field);

/** Translate the condition language into a MongoDB filter. */
export function toMongoFilter(conditions: readonly Condition[]): Filter<Document> {
  const and: Filter<Document>[] = conditions.map((c): Filter<Document> => {
    const f = mongoField(c.field);
    switch (c.op) {
      case 'eq':
        return { [f]: c.value };
      case 'ne':
        return { [f]: { $ne: c.value } };
      case 'in':
        return { [f]: { $in: [...c.value] } };
      case 'nin':
        return { [f]: { $nin: [...c.value] } };
      case 'exists':
        return { [f]: { $exists: c.value } };
      case 'gt':
        return { [f]: { $gt: c.value } };
      case 'gte':
        return { [f]: { $gte: c.value } };
      case 'lt':
        return { [f]: { $lt: c.value } };
      case 'lte':
        return { [f]: { $lte: c.value } };
    }
  });
  if (and.length === 0) return {};
  if (and.length === 1) return and[0] as Filter<Document>;
  return { $and: and };
}

/**
 * A duplicate-key error. MongoDB reports code 11000; FerretDB v1 on SQLite reports 11000 on insert but
 * an InternalError carrying SQLite's "UNIQUE constraint failed" on update.
 */
function isDuplicateKey(e: unknown): e is MongoServerError {
  return e instanceof MongoServerError && (e.code === DUPLICATE_KEY || /UNIQUE constraint failed/.test(String(e.message)));
}

const indexName = (fields: string[], unique: boolean): string => `${unique ? 'ux' : 'ix'}_${fields.join('_')}`;

/** A collection on MongoDB: `_id` holds the document id; conditional replace on `revision`. */
export class MongoDocumentStore<T extends StoredDocument> implements DocumentStore<T> {
  private readonly collection: Collection<Document>;
  private readonly uniqueDescriptions = new Map<string, string>();
  /** The last queued replace of each document being replaced (see `replace`). */
  private readonly replacing = new Map<string, Promise<void>>();

  constructor(
    readonly spec: CollectionSpec,
    db: Db,
    private readonly tick: () => void,
    /** Cross-process locks around each conditional write (only for servers without atomic ones; see `replace`). */
    private readonly locks?: WriteLocks,
    /** Longest a replace may hold its document's queue (see `replace`). */
    private readonly operationTimeoutMs = OPERATION_TIMEOUT_MS,
  ) {
    this.collection = db.collection(spec.name);
    for (const i of spec.indexes) {
      if (i.unique) this.uniqueDescriptions.set(indexName(i.fields, true), i.description ?? i.fields.join(', '));
    }
  }

  async ensureIndexes(): Promise<void> {
    if (this.spec.indexes.length === 0) return;
    this.tick();
    const existing = new Set(
      (await this.collection.listIndexes().toArray().catch(() => [] as Document[])).map((i) => String(i.name)),
    );
    // One index per call, and only the missing ones: FerretDB v1 fails on a multi-index createIndexes
    // when some of the indexes already exist.
    for (const i of this.spec.indexes) {
      const name = indexName(i.fields, i.unique ?? false);
      if (existing.has(name)) continue;
      this.tick();
      await this.collection.createIndex(Object.fromEntries(i.fields.map((f) => [mongoField(f), 1 as const])), {
        name,
        ...(i.unique ? { unique: true } : {}),
        ...(i.sparse ? { sparse: true } : {}),
      });
    }
  }

  private toDoc(doc: T): Document {
    const { id, ...rest } = doc;
    return { _id: id, ...rest };
  }

  private fromDoc(doc: Document): T {
    const { _id, ...rest } = doc;
    return { id: _id as string, ...rest } as unknown as T;
  }

  /** Map a duplicate-key error to CONFLICT naming the violated index (or the id). */
  private async duplicate(e: unknown, doc: T): Promise<Error> {
    if (!isDuplicateKey(e)) return e instanceof Error ? e : new Error(String(e));
    const msg = String(e.message);
    for (const [name, description] of this.uniqueDescriptions) {
      if (msg.includes(name)) return conflict(`${this.spec.name}: an item with the same ${description} already exists`, { index: description });
    }
    // Some servers (FerretDB) do not name the index: find out which uniqueness rule the document breaks.
    for (const i of this.spec.indexes) {
      if (!i.unique) continue;
      const filter: Document = { _id: { $ne: doc.id } };
      let complete = true;
      for (const f of i.fields) {
        const v = (doc as Record<string, unknown>)[f];
        if (v === undefined) complete = false;
        filter[mongoField(f)] = v ?? null;
      }
      if (i.sparse && !complete) continue;
      this.tick();
      if (await this.collection.findOne(filter, { projection: { _id: 1 } })) {
        const description = i.description ?? i.fields.join(', ');
        return conflict(`${this.spec.name}: an item with the same ${description} already exists`, { index: description });
      }
    }
    return conflict(`${this.spec.name} ${doc.id} already exists`, { id: doc.id });
  }

  async insert(doc: T): Promise<void> {
    this.tick();
    try {
      await this.collection.insertOne(this.toDoc(doc));
    } catch (e) {
      throw await this.duplicate(e, doc);
    }
  }

  /**
   * Replaces of one document are serialised within this process. MongoDB applies a filtered
   * replaceOne atomically, but FerretDB v1 (the MongoDB-compatible test server) matches the filter and
   * writes in two steps, so two concurrent replaces at the same revision could both succeed; queued one
   * after the other, the second no longer matches and gets CONFLICT. (Each subgraph is the single
   * writer of its collections, so one process holds all writers of a document.) Several replicas of a
   * subgraph on FerretDB also need `locks` (`LCM_MONGODB_WRITE_LOCKS`): the same exclusion across
   * processes, per document, in etcd (docs/adr/0015-atomic-test-store.md).
   */
  replace(doc: T, expectedRevision: number): Promise<void> {
    const previous = this.replacing.get(doc.id) ?? Promise.resolve();
    // Bounded: a replace whose promise never settles (the driver lost it with its connection) must not
    // hold every later replace of the document for good (issue 12).
    const run = previous.then(() => withDeadline(this.replaceAtRevision(doc, expectedRevision), this.operationTimeoutMs, () => `${this.spec.name} ${doc.id}: replace`));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.replacing.set(doc.id, settled);
    void settled.then(() => {
      if (this.replacing.get(doc.id) === settled) this.replacing.delete(doc.id);
    });
    return run;
  }

  private async replaceAtRevision(doc: T, expectedRevision: number): Promise<void> {
    const write = async (): Promise<number> => {
      this.tick();
      return (await this.collection.replaceOne({ _id: doc.id as never, revision: expectedRevision }, this.toDoc(doc))).matchedCount;
    };
    let matched: number;
    try {
      matched = this.locks ? await this.locks.hold(`${this.spec.name}/${doc.id}`, write) : await write();
    } catch (e) {
      throw await this.duplicate(e, doc);
    }
    if (matched === 1) return;
    this.tick();
    const current = await this.collection.findOne({ _id: doc.id as never }, { projection: { revision: 1 } });
    if (!current) throw notFound(this.spec.name, doc.id);
    throw conflict(
      `${this.spec.name} ${doc.id} was changed concurrently (revision ${String(current.revision)}, expected ${expectedRevision})`,
      { id: doc.id, revision: current.revision as number, expectedRevision },
    );
  }

  async get(id: string): Promise<T | undefined> {
    this.tick();
    const d = await this.collection.findOne({ _id: id as never });
    return d ? this.fromDoc(d) : undefined;
  }

  async getMany(ids: readonly string[]): Promise<T[]> {
    if (ids.length === 0) return [];
    this.tick();
    const docs = await this.collection.find({ _id: { $in: [...new Set(ids)] as never[] } }).toArray();
    return docs.map((d) => this.fromDoc(d));
  }

  async findOne(conditions: readonly Condition[]): Promise<T | undefined> {
    this.tick();
    const d = await this.collection.find(toMongoFilter(conditions)).sort({ _id: 1 }).limit(1).next();
    return d ? this.fromDoc(d) : undefined;
  }

  async find(conditions: readonly Condition[], options: { limit?: number } = {}): Promise<T[]> {
    this.tick();
    const docs = await this.collection
      .find(toMongoFilter(conditions))
      .sort({ _id: 1 })
      .limit(options.limit ?? DEFAULT_FIND_LIMIT)
      .toArray();
    return docs.map((d) => this.fromDoc(d));
  }

  async page(conditions: readonly Condition[], page: PageRequest): Promise<Page<T>> {
    const filter = toMongoFilter(conditions);
    const after = page.after === undefined ? undefined : decodeCursor(page.after);
    const pageFilter: Filter<Document> =
      after === undefined ? filter : { $and: [filter, { _id: { $gt: after as never } }] };
    this.tick();
    this.tick();
    const [docs, totalCount] = await Promise.all([
      this.collection.find(pageFilter).sort({ _id: 1 }).limit(page.first + 1).toArray(),
      this.collection.countDocuments(filter),
    ]);
    return {
      items: docs.slice(0, page.first).map((d) => this.fromDoc(d)),
      hasNextPage: docs.length > page.first,
      totalCount,
    };
  }

  async count(conditions: readonly Condition[]): Promise<number> {
    this.tick();
    return this.collection.countDocuments(toMongoFilter(conditions));
  }

  async clear(): Promise<void> {
    this.tick();
    await this.collection.deleteMany({});
  }
}

/** Storage on one MongoDB database through the official driver. */
export class MongoStorage implements Storage {
  readonly kind = 'mongodb' as const;
  private readonly stores = new Map<string, MongoDocumentStore<StoredDocument>>();
  private trips = 0;
  private readonly db: Db;

  private constructor(
    private readonly client: MongoClient,
    dbName: string,
    private readonly locks?: WriteLocks,
  ) {
    this.db = client.db(dbName);
  }

  /**
   * `options.writeLocks`: only for a server whose filtered replace is not atomic (FerretDB v1) shared by
   * several processes writing one collection; MongoDB never needs it.
   */
  static async connect(uri: string, dbName: string, options: { writeLocks?: WriteLocks; socketTimeoutMs?: number } = {}): Promise<MongoStorage> {
    // socketTimeoutMS: the driver's default (0) waits for an answer forever. A connection whose peer
    // vanished (a partition, a host gone without a FIN) then holds its operation — and, in a subgraph,
    // the write queue of that document — for good; the chaos run's blackholed links wedged sessions
    // that way. 30 s is far above any single operation here; a timed-out one fails like any network
    // error (retried, or the caller's optimistic concurrency decides).
    // waitQueueTimeoutMS: a connection check-out waits at most this long (the default waits forever).
    const client = new MongoClient(uri, {
      maxPoolSize: 20,
      serverSelectionTimeoutMS: 10_000,
      socketTimeoutMS: options.socketTimeoutMs ?? 30_000,
      waitQueueTimeoutMS: 10_000,
    });
    await client.connect();
    return new MongoStorage(client, dbName, options.writeLocks);
  }

  collection<T extends StoredDocument>(spec: CollectionSpec): DocumentStore<T> {
    let s = this.stores.get(spec.name);
    if (!s) {
      s = new MongoDocumentStore<StoredDocument>(
        spec,
        this.db,
        () => {
          this.trips += 1;
        },
        this.locks,
      );
      this.stores.set(spec.name, s);
    }
    return traceDocumentStore(s as unknown as DocumentStore<T>, 'mongodb');
  }

  async ensureIndexes(): Promise<void> {
    for (const s of this.stores.values()) await s.ensureIndexes();
  }

  roundTrips(): number {
    return this.trips;
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  /** Drop the whole database (tests only). */
  async dropDatabase(): Promise<void> {
    await this.db.dropDatabase();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
