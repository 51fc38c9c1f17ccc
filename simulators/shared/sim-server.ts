import http from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { handleOpsRequest, listen, type RunningServer } from '../../core/ops/ops-server.ts';
import type { Logger } from '../../core/logging.ts';
import { badRequest, ok, validate, type JsonRouter } from './http.ts';
import type { CloudEventDelivery, DeliveryObserver } from './delivery.ts';

/**
 * What the LDS and grading simulators share: the HTTP server (ops endpoints + router), the
 * CloudEvents delivery settings every simulator accepts in `POST /_sim/config`, the `sinkDown` and
 * `latencyMs` faults, and the `/_sim/*` control routes.
 */

const nonNegativeInt = z.number().int().min(0);

/** Delivery settings, as accepted by `POST /_sim/config` (all optional, merged into the current ones). */
export const deliveryConfigShape = {
  /** Where CloudEvents are POSTed; null = nowhere (events are dead-lettered). */
  sinkUrl: z.string().url().refine((u) => /^https?:/i.test(u), 'must be an http(s) URL').nullable(),
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
  mode?: 'binary' | 'structured';
  retry?: { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number; multiplier?: number };
  attemptTimeoutMs?: number;
}

/** Apply the delivery part of a config patch; a bad value is a TypeError naming it. */
export function applyDeliveryConfig(delivery: CloudEventDelivery, patch: DeliveryConfigPatch): void {
  if (patch.sinkUrl !== undefined) delivery.setSinkUrl(patch.sinkUrl);
  if (patch.mode !== undefined) delivery.setMode(patch.mode);
  if (patch.retry !== undefined) delivery.setRetry(stripUndefined(patch.retry));
  if (patch.attemptTimeoutMs !== undefined) delivery.setAttemptTimeoutMs(patch.attemptTimeoutMs);
}

/** Faults every simulator accepts in `POST /_sim/faults`. */
export const commonFaultShape = {
  /** Sink outage: true = every delivery attempt fails until false; a number = that many next attempts fail. */
  sinkDown: z.union([z.boolean(), nonNegativeInt]),
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
