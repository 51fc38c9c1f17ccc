/**
 * The contract every `Storage` adapter keeps. `documentStoreContract(name, factory)` registers the
 * same vitest suite for an adapter; the memory and MongoDB adapters both run it.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, LcmError } from '../../../core/errors.ts';
import { encodeCursor, type Condition, type DocumentStore, type Storage, type StoredDocument } from '../../../core/persistence/document-store.ts';

interface Item extends StoredDocument {
  name: string;
  version: string;
  status: string;
  size: number;
  at: Date;
  tags: string[];
  nested: { owner: string };
  key?: string;
}

const spec = {
  name: 'contract_items',
  indexes: [
    { fields: ['name', 'version'], unique: true, description: 'name and version' },
    { fields: ['key'], unique: true, sparse: true, description: 'key' },
    { fields: ['status'] },
  ],
};

const item = (id: string, over: Partial<Item> = {}): Item => ({
  id,
  revision: 1,
  name: `n-${id}`,
  version: '1.0.0',
  status: 'A',
  size: 1,
  at: new Date('2026-01-01T00:00:00Z'),
  tags: [],
  nested: { owner: 'o' },
  ...over,
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<LcmError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LcmError);
    expect((e as LcmError).code).toBe(code);
    return e as LcmError;
  }
  throw new Error(`expected ${code}`);
}

export function documentStoreContract(adapter: string, open: () => Promise<Storage>): void {
  describe(`DocumentStore contract: ${adapter}`, () => {
    let storage: Storage;
    let store: DocumentStore<Item>;

    beforeEach(async () => {
      storage ??= await open();
      store = storage.collection<Item>(spec);
      await storage.ensureIndexes();
      await store.clear();
    });

    afterAll(async () => {
      await storage?.close();
    });

    it('inserts and reads back documents with their types intact', async () => {
      const doc = item('a1', { tags: ['x', 'y'], at: new Date('2026-03-04T05:06:07.089Z') });
      await store.insert(doc);
      const back = await store.get('a1');
      expect(back).toEqual(doc);
      expect(back?.at).toBeInstanceOf(Date);
      expect(await store.get('missing')).toBeUndefined();
    });

    it('rejects a duplicate id and a duplicate unique key with CONFLICT, writing nothing', async () => {
      await store.insert(item('a1', { name: 'x', version: '1.0.0' }));
      await rejectsWith(store.insert(item('a1', { name: 'other' })), ErrorCode.CONFLICT);
      const e = await rejectsWith(store.insert(item('a2', { name: 'x', version: '1.0.0' })), ErrorCode.CONFLICT);
      expect(e.message).toContain('name and version');
      expect(await store.count([])).toBe(1);
      await store.insert(item('a3', { name: 'x', version: '1.0.1' }));
      expect(await store.count([])).toBe(2);
    });

    it('treats a sparse unique index as unique only among documents having the field', async () => {
      await store.insert(item('a1'));
      await store.insert(item('a2'));
      await store.insert(item('a3', { key: 'k' }));
      await rejectsWith(store.insert(item('a4', { key: 'k' })), ErrorCode.CONFLICT);
      expect(await store.count([])).toBe(3);
    });

    it('replaces only at the expected revision: of two concurrent writers exactly one wins', async () => {
      await store.insert(item('a1'));
      const results = await Promise.allSettled([
        store.replace(item('a1', { revision: 2, size: 10 }), 1),
        store.replace(item('a1', { revision: 2, size: 20 }), 1),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((rejected.reason as LcmError).code).toBe(ErrorCode.CONFLICT);
      const back = await store.get('a1');
      expect(back?.revision).toBe(2);
      expect([10, 20]).toContain(back?.size);
      await rejectsWith(store.replace(item('zz', { revision: 2 }), 1), ErrorCode.NOT_FOUND);
    });

    it('keeps unique indexes on replace', async () => {
      await store.insert(item('a1', { name: 'x' }));
      await store.insert(item('a2', { name: 'y' }));
      await rejectsWith(store.replace(item('a2', { name: 'x', revision: 2 }), 1), ErrorCode.CONFLICT);
      expect((await store.get('a2'))?.name).toBe('y');
    });

    it('reads many ids at once, skipping missing ones', async () => {
      await Promise.all(['a1', 'a2', 'a3'].map((id) => store.insert(item(id))));
      const got = await store.getMany(['a3', 'a1', 'nope', 'a1']);
      expect(got.map((d) => d.id).sort()).toEqual(['a1', 'a3']);
      expect(await store.getMany([])).toEqual([]);
    });

    it('filters with every operator, on nested fields, arrays and dates', async () => {
      await store.insert(item('a1', { status: 'A', size: 1, tags: ['t1'], nested: { owner: 'ann' }, at: new Date('2026-01-01T00:00:00Z') }));
      await store.insert(item('a2', { status: 'B', size: 5, tags: ['t2', 't1'], nested: { owner: 'bob' }, at: new Date('2026-02-01T00:00:00Z') }));
      await store.insert(item('a3', { status: 'C', size: 9, tags: [], nested: { owner: 'ann' }, at: new Date('2026-03-01T00:00:00Z'), key: 'k' }));
      const ids = async (c: Condition[]) => (await store.find(c)).map((d) => d.id);
      expect(await ids([{ field: 'status', op: 'eq', value: 'B' }])).toEqual(['a2']);
      expect(await ids([{ field: 'status', op: 'ne', value: 'B' }])).toEqual(['a1', 'a3']);
      expect(await ids([{ field: 'status', op: 'in', value: ['A', 'C'] }])).toEqual(['a1', 'a3']);
      expect(await ids([{ field: 'status', op: 'nin', value: ['A', 'C'] }])).toEqual(['a2']);
      expect(await ids([{ field: 'size', op: 'gt', value: 1 }])).toEqual(['a2', 'a3']);
      expect(await ids([{ field: 'size', op: 'lte', value: 5 }])).toEqual(['a1', 'a2']);
      expect(await ids([{ field: 'at', op: 'gte', value: new Date('2026-02-01T00:00:00Z') }])).toEqual(['a2', 'a3']);
      expect(await ids([{ field: 'at', op: 'lt', value: new Date('2026-02-01T00:00:00Z') }])).toEqual(['a1']);
      expect(await ids([{ field: 'nested.owner', op: 'eq', value: 'ann' }])).toEqual(['a1', 'a3']);
      expect(await ids([{ field: 'tags', op: 'eq', value: 't1' }])).toEqual(['a1', 'a2']);
      expect(await ids([{ field: 'key', op: 'exists', value: true }])).toEqual(['a3']);
      expect(await ids([{ field: 'id', op: 'in', value: ['a3', 'a1'] }])).toEqual(['a1', 'a3']);
      expect(
        await ids([
          { field: 'nested.owner', op: 'eq', value: 'ann' },
          { field: 'size', op: 'gte', value: 2 },
        ]),
      ).toEqual(['a3']);
      expect((await store.findOne([{ field: 'nested.owner', op: 'eq', value: 'ann' }]))?.id).toBe('a1');
      expect(await store.count([{ field: 'tags', op: 'eq', value: 't1' }])).toBe(2);
    });

    it('pages in id order with cursors and a total count', async () => {
      for (let i = 0; i < 7; i++) await store.insert(item(`p${i}`, { status: i % 2 === 0 ? 'even' : 'odd' }));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.page([{ field: 'status', op: 'eq', value: 'even' }], { first: 2, ...(after ? { after } : {}) });
        expect(page.totalCount).toBe(4);
        seen.push(...page.items.map((d) => d.id));
        if (!page.hasNextPage) break;
        after = encodeCursor(page.items.at(-1)?.id ?? '');
      }
      expect(seen).toEqual(['p0', 'p2', 'p4', 'p6']);
      const empty = await store.page([], { first: 3, after: encodeCursor('p6') });
      expect(empty).toEqual({ items: [], hasNextPage: false, totalCount: 7 });
    });

    it('counts round trips: a page is two, a batch read is one', async () => {
      await store.insert(item('r1'));
      const before = storage.roundTrips();
      await store.getMany(['r1', 'r2', 'r3']);
      expect(storage.roundTrips() - before).toBe(1);
      await store.page([], { first: 10 });
      expect(storage.roundTrips() - before).toBe(3);
    });
  });
}
