import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import type { Registry } from 'prom-client';
import type { CloudEventDelivery} from '../shared/delivery.ts';
import { type DeliveryMode, type DeliverySnapshot, type RetryPolicy } from '../shared/delivery.ts';
import { HttpError, JsonRouter } from '../shared/http.ts';
import { commonFaultShape, deliveryConfigShape, EventSimulatorScaffold, stripUndefined, type DeliveryConfigPatch } from '../shared/sim-server.ts';
import { sleep } from '../shared/timers.ts';
import { addLdsApiRoutes, userSessionView, type UserSessionView } from './api.ts';
import { LdsSessions, type LdsTimings } from './sessions.ts';

/**
 * The LDS simulator: an HTTP server imitating the Lab Delivery System (Reservations API v3 plus a
 * one-call facade), whose simulated students start and finish on request or by themselves, and which
 * reports `lds.session.started` / `lds.session.ended` as CloudEvents to a sink. See README.md.
 */

export interface LdsSimulatorOptions {
  /** 0 (default) = any free port. */
  port?: number;
  host?: string;
  /** Where CloudEvents go (changeable later); absent = nowhere. */
  sinkUrl?: string | null;
  /** Bearer token sent with every event (`Authorization: Bearer <token>`; the lablet-controller requires its `LCM_EVENTS_TOKEN`). */
  sinkToken?: string | null;
  mode?: DeliveryMode;
  retry?: Partial<RetryPolicy>;
  attemptTimeoutMs?: number;
  /** Automatic student; all default to null (manual). */
  autoStartMs?: number | null;
  autoFinishMs?: number | null;
  timeoutMs?: number | null;
  /** When set, the Reservations API requires these HTTP Basic credentials (LDS API v3 uses Basic auth). */
  credentials?: { username: string; password: string };
  /** CloudEvent `source`; default "lds". */
  source?: string;
  /** Base of login URLs and `location` values when clients reach the simulator by another address. */
  publicUrl?: string;
  logger?: Logger;
  /** Metrics registry for `/metrics`; default a fresh one without process metrics. */
  registry?: Registry;
}

export interface LdsFaults {
  /** The next N session creations answer 500. */
  failCreate: number;
  /** The next N device updates answer 500 (the facade's create counts as one too). */
  failSetDevices: number;
  /** Extra latency on every API request (not `/_sim/*`). */
  latencyMs: number;
  /** Sink outage: true = every delivery attempt fails; N = the next N attempts fail. */
  sinkDown: boolean | number;
  /** Events sent twice: true = every event; N = the next N events. */
  duplicate: boolean | number;
  /** Events held back and sent after the next event of the same lablet session. */
  reorder: boolean | number;
  /** Events lost for good (no retry, no dead letter). */
  drop: boolean | number;
}

export interface LdsConfig extends LdsTimings {
  sinkUrl: string | null;
  /** Whether a sink token is set (the token is never shown). */
  sinkTokenSet: boolean;
  mode: DeliveryMode;
  retry: RetryPolicy;
  attemptTimeoutMs: number;
}

export type LdsConfigPatch = Partial<LdsTimings> & DeliveryConfigPatch;

export interface LdsSimState {
  simulator: 'lds';
  url: string;
  config: LdsConfig;
  faults: LdsFaults;
  sessions: UserSessionView[];
  delivery: DeliverySnapshot;
}

export interface LdsSimulator {
  url: string;
  port: number;
  /** Current faults (a copy). */
  readonly faults: LdsFaults;
  /** Merge faults; returns the current ones. */
  setFaults(patch: Partial<LdsFaults>): LdsFaults;
  /** Current configuration (a copy). */
  readonly config: LdsConfig;
  /** Merge configuration (timings, sink URL and token, mode, retry); returns the current one. */
  configure(patch: LdsConfigPatch): LdsConfig;
  /** The session store: drive the simulated student programmatically (`start`, `finish`, ...). */
  readonly sessions: LdsSessions;
  /** The user-session view of one session (what `GET /sessions/:id` answers). */
  view(id: string): UserSessionView;
  readonly delivery: CloudEventDelivery;
  state(): LdsSimState;
  /** Resolves when every emitted event is delivered or dead-lettered. */
  idle(): Promise<void>;
  /** Forget sessions, faults and delivery history. */
  reset(): void;
  close(): Promise<void>;
}

const nullableMs = z.number().int().min(0).nullable();

export const ldsFaultsSchema = z
  .object({
    failCreate: z.number().int().min(0),
    failSetDevices: z.number().int().min(0),
    ...commonFaultShape,
  })
  .partial()
  .strict();

export const ldsConfigSchema = z
  .object({
    autoStartMs: nullableMs,
    autoFinishMs: nullableMs,
    timeoutMs: nullableMs,
    ...deliveryConfigShape,
  })
  .partial()
  .strict();

const NO_FAULTS: LdsFaults = { failCreate: 0, failSetDevices: 0, latencyMs: 0, sinkDown: false, duplicate: false, reorder: false, drop: false };

function checkTimings(t: LdsTimings): void {
  for (const [name, value] of Object.entries(t)) {
    if (value !== null && (!Number.isInteger(value) || value < 0)) throw new TypeError(`${name} must be null or an integer ≥ 0`);
  }
}

function basicAuthMatches(header: string | undefined, expected: { username: string; password: string }): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const given = Buffer.from(header.slice(6), 'base64');
  const wanted = Buffer.from(`${expected.username}:${expected.password}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export async function startLdsSimulator(options: LdsSimulatorOptions = {}): Promise<LdsSimulator> {
  const logger = options.logger ?? silentLogger;
  const registry = options.registry ?? createMetricsRegistry(false);
  const timings: LdsTimings = {
    autoStartMs: options.autoStartMs ?? null,
    autoFinishMs: options.autoFinishMs ?? null,
    timeoutMs: options.timeoutMs ?? null,
  };
  checkTimings(timings);
  const scaffold = new EventSimulatorScaffold<LdsFaults>(
    { name: 'lds', title: 'LDS', logger, registry, noFaults: NO_FAULTS, counters: ['failCreate', 'failSetDevices', 'latencyMs'] },
    options,
  );
  const { delivery, timers } = scaffold;
  let baseUrl = '';
  const publicUrl = () => (options.publicUrl ?? baseUrl).replace(/\/$/, '');
  const sessions = new LdsSessions({
    delivery,
    timers,
    source: options.source ?? 'lds',
    timings: () => ({ ...timings }),
    launchBaseUrl: publicUrl,
    logger,
  });

  const router = new JsonRouter({
    before: async (ctx) => {
      if (ctx.path.startsWith('/_sim/')) return;
      if (options.credentials && ctx.path.startsWith('/reservations/') && !basicAuthMatches(ctx.req.headers.authorization, options.credentials)) {
        throw new HttpError(401, 'UNAUTHENTICATED', 'LDS API requires HTTP Basic credentials');
      }
      await sleep(scaffold.live.latencyMs);
    },
    onUnexpectedError: (e, where) => logger.error({ err: e, ...where }, 'LDS simulator error'),
  });

  addLdsApiRoutes(router, {
    sessions,
    injectFailure: (op) => scaffold.take(op === 'create' ? 'failCreate' : 'failSetDevices'),
    baseUrl: publicUrl,
  });

  const currentConfig = (): LdsConfig => ({ ...timings, ...scaffold.deliveryConfig() });
  const currentFaults = (): LdsFaults => scaffold.currentFaults();
  const setFaults = (patch: Partial<LdsFaults>): LdsFaults => scaffold.setFaults(patch);
  const configure = (patch: LdsConfigPatch): LdsConfig => {
    const { autoStartMs, autoFinishMs, timeoutMs, ...deliveryPatch } = patch;
    const nextTimings = { ...timings, ...stripUndefined({ autoStartMs, autoFinishMs, timeoutMs }) };
    checkTimings(nextTimings);
    scaffold.configureDelivery(deliveryPatch);
    Object.assign(timings, nextTimings);
    return currentConfig();
  };
  const view = (id: string) => userSessionView(sessions.get(id), sessions.launchUrl(id));
  const state = (): LdsSimState => ({
    simulator: 'lds',
    url: baseUrl,
    config: currentConfig(),
    faults: currentFaults(),
    sessions: sessions.list().map((s) => view(s.id)),
    delivery: delivery.snapshot(),
  });
  const reset = () => {
    sessions.reset();
    scaffold.resetCommon();
  };

  const server = await scaffold.listen(
    router,
    { faultsSchema: ldsFaultsSchema, configSchema: ldsConfigSchema, configure: configure as (patch: never) => unknown, state, reset },
    { port: options.port, host: options.host, sinkUrl: options.sinkUrl },
  );
  baseUrl = server.url;

  return {
    url: server.url,
    port: server.port,
    get faults() {
      return currentFaults();
    },
    setFaults,
    get config() {
      return currentConfig();
    },
    configure,
    sessions,
    view,
    delivery,
    state,
    idle: () => delivery.idle(),
    reset,
    close: () => scaffold.close(),
  };
}
