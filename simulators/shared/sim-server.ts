import http from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { handleOpsRequest, listen, type RunningServer } from '../../core/ops/ops-server.ts';
import type { Logger } from '../../core/logging.ts';
import { badRequest, ok, validate, type JsonRouter } from './http.ts';
import { CloudEventDelivery, type DeliveryObserver } from './delivery.ts';
import { TimerSet } from './timers.ts';

/**
 * What the LDS and grading simulators share: the HTTP server (ops endpoints + router), the
 * CloudEvents delivery settings every simulator accepts in `POST /_sim/config`, the delivery faults
 * (`sinkDown`, `duplicate`, `reorder`, `drop`), the `latencyMs` fault, and the `/_sim/*` control routes.
 */

const nonNegativeInt = z.number().int().min(0);

/** Delivery settings, as accepted by `POST /_sim/config` (all optional, merged into the current ones). */
export const deliveryConfigShape = {
  /** Where CloudEvents are POSTed; null = nowhere (events are dead-lettered). */
  sinkUrl: z.string().url().refine((u) => /^https?:/i.test(u), 'must be an http(s) URL').nullable(),
  /** Bearer token sent with every delivery (`Authorization: Bearer <token>`); null = none. Never shown back. */
  sinkToken: z.string().regex(/^[\x21-\x7e]+$/, 'must be non-empty printable ASCII without spaces').nullable(),
  mode: z.enum(['binary', 'structured']),
  retry: z
    .object({
      maxAttempts: z.number().int().min(1),
      initialDelayMs: nonNegativeInt,
      maxDelayMs: nonNegativeInt,
      multiplier: z.number().min(1),
    })
    .partial()
    .strict(),
  attemptTimeoutMs: z.number().int().min(1),
};

export interface DeliveryConfigPatch {
  sinkUrl?: string | null;
  sinkToken?: string | null;
  mode?: 'binary' | 'structured';
  retry?: { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number; multiplier?: number };
  attemptTimeoutMs?: number;
}

/** Apply the delivery part of a config patch; a bad value is a TypeError naming it. */
export function applyDeliveryConfig(delivery: CloudEventDelivery, patch: DeliveryConfigPatch): void {
  if (patch.sinkUrl !== undefined) delivery.setSinkUrl(patch.sinkUrl);
  if (patch.sinkToken !== undefined) delivery.setSinkToken(patch.sinkToken);
  if (patch.mode !== undefined) delivery.setMode(patch.mode);
  if (patch.retry !== undefined) delivery.setRetry(stripUndefined(patch.retry));
  if (patch.attemptTimeoutMs !== undefined) delivery.setAttemptTimeoutMs(patch.attemptTimeoutMs);
}

/** Faults every simulator accepts in `POST /_sim/faults`. */
export const commonFaultShape = {
  /** Sink outage: true = every delivery attempt fails until false; a number = that many next attempts fail. */
  sinkDown: z.union([z.boolean(), nonNegativeInt]),
  /** Events sent twice (same id): true = every event until false; a number = that many next events. */
  duplicate: z.union([z.boolean(), nonNegativeInt]),
  /** Events held and sent after the next event of the same session (or after the hold time). */
  reorder: z.union([z.boolean(), nonNegativeInt]),
  /** Events lost for good: never sent, never dead-lettered. */
  drop: z.union([z.boolean(), nonNegativeInt]),
  /** Extra latency added to every API request (not to `/_sim/*`). */
  latencyMs: nonNegativeInt,
};

export function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/** The run-time control surface a simulator exposes under `/_sim`. */
export interface SimulatorControl {
  faultsSchema: z.ZodType;
  configSchema: z.ZodType;
  /** Merge a validated faults patch; returns the current faults. */
  setFaults(patch: never): unknown;
  /** Merge a validated config patch; returns the current config. Throws TypeError on a bad value. */
  configure(patch: never): unknown;
  state(): unknown;
  reset(): void;
  delivery: CloudEventDelivery;
}

/**
 * Register the control routes:
 * `GET /_sim/state`, `POST /_sim/faults`, `POST /_sim/config`, `POST /_sim/reset`,
 * `POST /_sim/dead-letters/redeliver` (body `{ "eventIds"?: [...] }`).
 */
export function addControlRoutes(router: JsonRouter, control: SimulatorControl): void {
  const apply = (fn: () => unknown) => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TypeError) throw badRequest(e.message);
      throw e;
    }
  };
  router.get('/_sim/state', () => ok(control.state()));
  router.post('/_sim/faults', async (ctx) => {
    const patch = validate(control.faultsSchema, (await ctx.json()) ?? {}, 'faults');
    return ok(apply(() => control.setFaults(patch as never)));
  });
  router.post('/_sim/config', async (ctx) => {
    const patch = validate(control.configSchema, (await ctx.json()) ?? {}, 'config');
    return ok(apply(() => control.configure(patch as never)));
  });
  router.post('/_sim/reset', () => {
    control.reset();
    return ok({ reset: true });
  });
  const redeliverSchema = z.object({ eventIds: z.array(z.string().min(1)).optional() }).strict();
  router.post('/_sim/dead-letters/redeliver', async (ctx) => {
    const body = validate(redeliverSchema, (await ctx.json()) ?? {});
    return ok({ requeued: control.delivery.redeliverDeadLetters(body.eventIds) });
  });
}

/** Prometheus counters of delivery outcomes, labelled by simulator. */
export function deliveryMetrics(registry: Registry, simulator: string): DeliveryObserver {
  const name = 'lcm_sim_cloudevent_deliveries_total';
  // Simulators embedded in one process may share a registry: reuse the counter.
  const counter =
    (registry.getSingleMetric(name) as Counter<'simulator' | 'outcome'> | undefined) ??
    new Counter({ name, help: 'CloudEvent delivery outcomes of the simulators', labelNames: ['simulator', 'outcome'], registers: [registry] });
  return {
    delivered: () => counter.inc({ simulator, outcome: 'delivered' }),
    attemptFailed: () => counter.inc({ simulator, outcome: 'attempt_failed' }),
    deadLettered: () => counter.inc({ simulator, outcome: 'dead_lettered' }),
  };
}

export interface ServeOptions {
  port: number;
  host: string;
  registry: Registry;
  logger: Logger;
}

/** Serve `/healthz`, `/readyz`, `/metrics` and the router on host:port (0 = a free port). */
export async function serve(router: JsonRouter, options: ServeOptions): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    handleOpsRequest(req, res, { registry: options.registry })
      .then((handled) => (handled ? undefined : router.handle(req, res)))
      .catch((e: unknown) => {
        options.logger.error({ err: e }, 'request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
  });
  server.keepAliveTimeout = 5_000;
  return listen(server, options.port, options.host);
}

/** Delivery options both event-sending simulators take. */
export interface EventSimulatorDeliveryOptions {
  sinkUrl?: string | null;
  /** Bearer token the sink requires (the lablet-controller's `LCM_EVENTS_TOKEN`); absent = none sent. */
  sinkToken?: string | null;
  mode?: 'binary' | 'structured';
  retry?: DeliveryConfigPatch['retry'];
  attemptTimeoutMs?: number;
}

/** The faults every event-sending simulator has: counters of its own plus the delivery's and `latencyMs`. */
export interface EventSimulatorFaults {
  latencyMs: number;
  sinkDown: boolean | number;
  duplicate: boolean | number;
  reorder: boolean | number;
  drop: boolean | number;
}

const EVENT_FAULTS = ['duplicate', 'reorder', 'drop'] as const;

/**
 * The scaffolding the LDS and grading simulators share: the CloudEvents delivery and its metrics, the
 * timers, the faults (merged and checked; `sinkDown` handed to the delivery), the config patch of the
 * delivery settings, the `/_sim/*` control routes, the HTTP server with ops endpoints, and a close that
 * stops everything. Each simulator brings its own API routes, timings and state.
 */
export class EventSimulatorScaffold<F extends EventSimulatorFaults> {
  readonly delivery: CloudEventDelivery;
  readonly timers = new TimerSet();
  private faults: F;
  private server: RunningServer | undefined;
  private closed = false;

  constructor(
    private readonly spec: {
      /** `lds`, `grading`: the metrics label. */
      name: string;
      /** How logs name it (default `name`), e.g. `LDS`. */
      title?: string;
      logger: Logger;
      registry: Registry;
      noFaults: F;
      /** Fault fields that must be integers ≥ 0. */
      counters: ReadonlyArray<keyof F & string>;
      /** Extra checks of a merged faults value (throw a TypeError naming the field). */
      checkFaults?: (faults: F) => void;
    },
    options: EventSimulatorDeliveryOptions,
  ) {
    this.faults = { ...spec.noFaults };
    this.delivery = new CloudEventDelivery({
      sinkUrl: options.sinkUrl ?? null,
      sinkToken: options.sinkToken ?? null,
      mode: options.mode ?? 'binary',
      retry: options.retry ?? {},
      attemptTimeoutMs: options.attemptTimeoutMs ?? 5_000,
      logger: spec.logger,
      observer: deliveryMetrics(spec.registry, spec.name),
    });
  }

  /** The current faults (a copy, with the delivery's `sinkDown`, `duplicate`, `reorder`, `drop` as they count down). */
  currentFaults(): F {
    return {
      ...this.faults,
      sinkDown: this.delivery.sinkDown,
      duplicate: this.delivery.eventFault('duplicate'),
      reorder: this.delivery.eventFault('reorder'),
      drop: this.delivery.eventFault('drop'),
    };
  }

  /** The live faults, for the simulator's own fault checks (e.g. counting down `failCreate`). */
  get live(): F {
    return this.faults;
  }

  /** Take one failure from a counter fault: true when the call should fail. */
  take(name: keyof F & string): boolean {
    const left = this.faults[name];
    if (typeof left !== 'number' || left <= 0) return false;
    (this.faults as Record<string, unknown>)[name] = left - 1;
    return true;
  }

  /** Merge a faults patch, checking every counter; returns the current faults. */
  setFaults(patch: Partial<F>): F {
    const clean = stripUndefined(patch);
    const next = { ...this.faults, ...clean } as F;
    for (const name of this.spec.counters) {
      const v = next[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TypeError(`${name} must be an integer ≥ 0`);
    }
    this.spec.checkFaults?.(next);
    if ((clean as Partial<F>).sinkDown !== undefined) this.delivery.setSinkDown((clean as F).sinkDown);
    for (const fault of EVENT_FAULTS) {
      const value = (clean as Partial<F>)[fault];
      if (value !== undefined) this.delivery.setEventFault(fault, value);
    }
    this.faults = next;
    return this.currentFaults();
  }

  /** The delivery part of a config patch. */
  configureDelivery(patch: DeliveryConfigPatch): void {
    applyDeliveryConfig(this.delivery, patch);
  }

  /** The delivery settings as the config shows them: whether a sink token is set, never the token. */
  deliveryConfig(): Required<Pick<DeliveryConfigPatch, 'mode' | 'attemptTimeoutMs'>> & { sinkUrl: string | null; sinkTokenSet: boolean; retry: CloudEventDelivery['retry'] } {
    return {
      sinkUrl: this.delivery.sinkUrl,
      sinkTokenSet: this.delivery.hasSinkToken,
      mode: this.delivery.mode,
      retry: this.delivery.retry,
      attemptTimeoutMs: this.delivery.attemptTimeoutMs,
    };
  }

  /** Clear the timers, the faults and the delivery history (the simulator clears its own state). */
  resetCommon(): void {
    this.timers.clear();
    this.faults = { ...this.spec.noFaults };
    this.delivery.setSinkDown(false);
    for (const fault of EVENT_FAULTS) this.delivery.setEventFault(fault, false);
    this.delivery.clearHistory();
  }

  /** Add the `/_sim/*` routes and listen; returns the bound URL. */
  async listen(
    router: JsonRouter,
    control: Omit<SimulatorControl, 'delivery' | 'setFaults'>,
    where: { port?: number; host?: string; sinkUrl?: string | null },
  ): Promise<RunningServer> {
    addControlRoutes(router, { ...control, delivery: this.delivery, setFaults: ((patch: Partial<F>) => this.setFaults(patch)) as (patch: never) => unknown });
    if (where.sinkUrl === undefined || where.sinkUrl === null) {
      this.spec.logger.warn(`${this.spec.title ?? this.spec.name} simulator has no sink: events will be dead-lettered until one is configured`);
    }
    this.server = await serve(router, { port: where.port ?? 0, host: where.host ?? '127.0.0.1', registry: this.spec.registry, logger: this.spec.logger });
    this.spec.logger.info({ url: this.server.url }, `${this.spec.title ?? this.spec.name} simulator listening`);
    return this.server;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.close();
    await Promise.all([this.delivery.close(), this.server?.close()]);
  }
}
