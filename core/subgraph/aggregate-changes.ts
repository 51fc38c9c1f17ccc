import { setTimeout as sleep } from 'node:timers/promises';
import { conflict, ErrorCode, isLcmError, notFound } from '../errors.ts';
import { KeyedSerializer } from './keyed-serializer.ts';

/** What a command decided: nothing to write, or the next state and the event type that announces it. */
export type Decision<A, R> = { changed: false; result: R } | { changed: true; next: A; eventType: string; result: R };

/** A command's decision when it always changes the aggregate and answers with the new state. */
export const changedTo = <A>(next: A, eventType: string): Decision<A, A> => ({ changed: true, next, eventType, result: next });

export interface AggregateChangesSpec<A> {
  /** The GraphQL type, for NOT_FOUND and CONFLICT messages (`LabletSession`, `CmlWorker`, …). */
  entity: string;
  load(id: string): Promise<A | undefined>;
  /** One conditional write on the loaded revision: CONFLICT with `details.expectedRevision` when another writer won. */
  save(next: A): Promise<void>;
  /** Coordination projections and the CloudEvent of a saved change. */
  publish(next: A, eventType: string, actor: string): Promise<void>;
  /** Attempts when other replicas keep winning the write (default 16). */
  maxAttempts?: number;
}

/** A CONFLICT from the store's conditional write: another writer changed the aggregate first. */
const lostRace = (e: unknown): boolean => isLcmError(e) && e.code === ErrorCode.CONFLICT && typeof e.details.expectedRevision === 'number';

/**
 * The one path every change of an existing aggregate takes, in all four subgraphs (docs/architecture.md):
 * load → decide (the pure aggregate) → one conditional write on the loaded revision → publish. Changes of
 * one aggregate are serialised within the process. When another replica's write got there first, the
 * aggregate is loaded again and the command decided again on the fresh state — it may still apply (a
 * reservation that still fits), or now be refused with its own error (a transition no longer allowed) —
 * a bounded number of times. A caller that names the revision it decided on (`expectedRevision`) gets
 * CONFLICT instead as soon as the aggregate is at another revision: it asked to act only on that state.
 */
export class AggregateChanges<A extends { id: string; revision: number }> {
  private readonly serializer = new KeyedSerializer();

  constructor(private readonly spec: AggregateChangesSpec<A>) {}

  run<R>(id: string, actor: string, expectedRevision: number | null | undefined, decide: (current: A) => Decision<A, R>): Promise<R> {
    const maxAttempts = this.spec.maxAttempts ?? 16;
    return this.serializer.run(id, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.spec.load(id);
        if (!current) throw notFound(this.spec.entity, id);
        if (expectedRevision !== null && expectedRevision !== undefined && current.revision !== expectedRevision) {
          throw conflict(`${this.spec.entity} ${id} is at revision ${current.revision}, not the expected ${expectedRevision}`, {
            id,
            revision: current.revision,
            expectedRevision,
          });
        }
        const decision = decide(current);
        if (!decision.changed) return decision.result;
        try {
          await this.spec.save(decision.next);
        } catch (e) {
          if (lostRace(e) && attempt < maxAttempts) {
            await sleep(Math.random() * Math.min(50, 2 ** attempt));
            continue;
          }
          throw e;
        }
        await this.spec.publish(decision.next, decision.eventType, actor);
        return decision.result;
      }
    });
  }
}
