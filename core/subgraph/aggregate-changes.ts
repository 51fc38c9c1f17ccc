import { setTimeout as sleep } from 'node:timers/promises';
import { conflict, ErrorCode, isLcmError, notFound } from '../errors.ts';
import type { Logger } from '../logging.ts';
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
  /**
   * How long one change may hold its aggregate (default 60 s, above the store's 30 s socket timeout
   * and the publisher's deadline). Past it the caller gets INTERNAL_SERVER_ERROR and the aggregate's
   * next change runs: one hung dependency call must not wedge an aggregate for good (issue 12).
   */
  changeTimeoutMs?: number;
  /** Where an overrun is reported (which aggregate, and the step it was stuck in). */
  logger?: Logger;
}

/** Default of `AggregateChangesSpec.changeTimeoutMs`. */
export const CHANGE_TIMEOUT_MS = 60_000;

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
  private readonly serializer: KeyedSerializer;
  /** The step each running change is in (load, save, publish, backoff), for the overrun report. */
  private readonly steps = new Map<string, { step: string }>();

  constructor(private readonly spec: AggregateChangesSpec<A>) {
    this.serializer = new KeyedSerializer({
      timeoutMs: spec.changeTimeoutMs ?? CHANGE_TIMEOUT_MS,
      onTimeout: (id, timeoutMs) =>
        spec.logger?.error(
          { entity: spec.entity, id, step: this.steps.get(id)?.step, timeoutMs },
          'a change did not finish in time: its caller gets an error and the next change of the aggregate runs',
        ),
    });
  }

  run<R>(id: string, actor: string, expectedRevision: number | null | undefined, decide: (current: A) => Decision<A, R>): Promise<R> {
    const maxAttempts = this.spec.maxAttempts ?? 16;
    return this.serializer.run(id, async () => {
      const state = { step: 'load' };
      this.steps.set(id, state);
      try {
        return await this.attempt(id, expectedRevision, decide, actor, maxAttempts, state);
      } finally {
        if (this.steps.get(id) === state) this.steps.delete(id);
      }
    });
  }

  private async attempt<R>(
    id: string,
    expectedRevision: number | null | undefined,
    decide: (current: A) => Decision<A, R>,
    actor: string,
    maxAttempts: number,
    state: { step: string },
  ): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      state.step = 'load';
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
        state.step = 'save';
        await this.spec.save(decision.next);
      } catch (e) {
        if (lostRace(e) && attempt < maxAttempts) {
          state.step = 'backoff';
          await sleep(Math.random() * Math.min(50, 2 ** attempt));
          continue;
        }
        throw e;
      }
      state.step = 'publish';
      await this.spec.publish(decision.next, decision.eventType, actor);
      return decision.result;
    }
  }
}
