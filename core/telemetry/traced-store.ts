import type { DocumentStore, StoredDocument } from '../persistence/document-store.ts';
import { inSpan, SpanKind, tracing } from './tracing.ts';

const OPERATIONS = ['insert', 'replace', 'get', 'getMany', 'findOne', 'find', 'page', 'count', 'clear'] as const;

/**
 * A document store whose calls are CLIENT spans (`insert sessions`, `get workers`, with the OTel
 * database attributes): the repository step under a subgraph's resolver span. Wrapped only when
 * tracing is on as the collection is opened (`Storage.collection`), so that with tracing off the store
 * is the adapter itself, not a layer that checks a switch on every call.
 */
export function traceDocumentStore<T extends StoredDocument>(store: DocumentStore<T>, system: 'memory' | 'mongodb'): DocumentStore<T> {
  if (!tracing.on) return store;
  const traced = Object.create(store) as DocumentStore<T>;
  const collection = store.spec.name;
  for (const operation of OPERATIONS) {
    const method = store[operation] as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(traced, operation, {
      value: (...args: unknown[]) =>
        tracing.on
          ? inSpan(
              'lcm-repository',
              `${operation} ${collection}`,
              { kind: SpanKind.CLIENT, attributes: { 'db.system.name': system, 'db.collection.name': collection, 'db.operation.name': operation } },
              () => method.apply(store, args),
            )
          : method.apply(store, args),
    });
  }
  return traced;
}
