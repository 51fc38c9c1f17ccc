import { Counter, type Registry } from 'prom-client';
import { cloudEvent, type EventTopic } from '../events/cloudevent.ts';
import type { Logger } from '../logging.ts';
import type { CoordinationStore } from '../ports/coordination.ts';
import type { EventBus } from '../ports/event-bus.ts';
import { inSpan, SpanKind, traceparentOf, tracing } from '../telemetry/tracing.ts';

export type Projection = { key: string; value: unknown } | { key: string; delete: true };

export interface Change {
  topic: EventTopic;
  /** CloudEvent type, e.g. `lcm.session.scheduled.v1`. */
  type: string;
  /** The entity id. */
  subject: string;
  /** Snapshot of the entity after the change (what subscribers receive). */
  data: unknown;
  /** Aggregate revision after the change. */
  revision: number;
  actor?: string;
  /** Keys to write (or delete) in the coordination store for the controllers' watches. */
  projections: Projection[];
}

/** How long a publish (projections and event) may take before the change's caller is answered without it. */
export const PUBLISH_TIMEOUT_MS = 20_000;

/**
 * After a change is saved (the database is the source of truth), project it to the coordination
 * store and publish it on the event bus. Both are best effort after the save: a failure is logged and
 * counted, and the controllers' periodic resync (a list through GraphQL) repairs a missed projection.
 * A publish is also bounded in time (`timeoutMs`): it runs while the aggregate's next changes wait
 * (`AggregateChanges`), so a coordination call that never settles must not hold them (issue 12); one
 * that overruns is logged and counted like a failure, and the projection repair catches up.
 */
export class ChangePublisher {
  private readonly failures: Counter | undefined;
  /** `lcm-subgraph-<name>` for a source `/lcm/subgraphs/<name>`. */
  private readonly tracerName: string;

  constructor(
    private readonly source: string,
    private readonly bus: EventBus,
    private readonly coordination: CoordinationStore | undefined,
    /** Also where the subgraph's change path reports (see `AggregateChanges`). */
    readonly logger: Logger,
    registry?: Registry,
    private readonly timeoutMs = PUBLISH_TIMEOUT_MS,
  ) {
    this.tracerName = `lcm-subgraph-${source.split('/').filter(Boolean).at(-1) ?? 'unknown'}`;
    this.failures = registry
      ? new Counter({
          name: 'lcm_change_publish_failures_total',
          help: 'Projections or events that could not be written after a saved change',
          labelNames: ['target'],
          registers: [registry],
        })
      : undefined;
  }

  publish(change: Change): Promise<void> {
    if (!tracing.on) return this.publishNow(change, undefined);
    // A span of its own, whose context travels with the event and the projections (the CloudEvents
    // distributed-tracing extension, `traceparent`): the reconcile a controller runs on it continues it.
    return inSpan(
      this.tracerName,
      `publish ${change.type}`,
      { kind: SpanKind.PRODUCER, attributes: { 'messaging.destination.name': change.topic, 'lcm.entity.id': change.subject, 'lcm.entity.revision': change.revision } },
      () => this.publishNow(change, traceparentOf()),
    );
  }

  private publishNow(change: Change, traceparent: string | undefined): Promise<void> {
    const work = this.publishUnbounded(change, traceparent);
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.failures?.inc({ target: 'timeout' });
        this.logger.warn(
          { type: change.type, subject: change.subject, timeoutMs: this.timeoutMs },
          'publishing a change did not finish in time; answering without it (resync will repair the projection)',
        );
        resolve();
      }, this.timeoutMs);
    });
    return Promise.race([work.finally(() => clearTimeout(timer)), overrun]);
  }

  private async publishUnbounded(change: Change, traceparent: string | undefined): Promise<void> {
    if (this.coordination) {
      const store = this.coordination;
      await Promise.all(
        change.projections.map(async (p) => {
          try {
            if ('delete' in p) await store.delete(p.key);
            else await store.put(p.key, JSON.stringify(traceparent ? withTraceparent(p.value, traceparent) : p.value));
          } catch (err) {
            this.failures?.inc({ target: 'projection' });
            this.logger.warn({ err, key: p.key }, 'projection failed; resync will repair it');
          }
        }),
      );
    }
    try {
      await this.bus.publish(
        change.topic,
        cloudEvent({
          source: this.source,
          type: change.type,
          subject: change.subject,
          data: change.data,
          entityversion: change.revision,
          ...(change.actor ? { actor: change.actor } : {}),
          ...(traceparent ? { traceparent } : {}),
        }),
      );
    } catch (err) {
      this.failures?.inc({ target: 'event' });
      this.logger.warn({ err, type: change.type }, 'event publish failed');
    }
  }
}

/** A projection object with the trace context of its change (other values are written as they are). */
function withTraceparent(value: unknown, traceparent: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value, traceparent } : value;
}
