import type { Registry } from 'prom-client';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { CloudEventDelivery, type DeliveryMode, type DeliverySnapshot, type RetryPolicy } from '../shared/delivery.ts';
import { JsonRouter } from '../shared/http.ts';
import {
  addControlRoutes,
  applyDeliveryConfig,
  commonFaultShape,
  deliveryConfigShape,
  deliveryMetrics,
  serve,
  stripUndefined,
  type DeliveryConfigPatch,
} from '../shared/sim-server.ts';
import { sleep, TimerSet } from '../shared/timers.ts';
import { addGradingApiRoutes, gradingSessionView, problemDetails, type GradingSessionView } from './api.ts';
import { GradingEngine, type GradingPolicy, type GradingTimings } from './engine.ts';
import { checkRuleset, DEFAULT_RULESET, type GradingOutcome, type Ruleset } from './scoring.ts';

/**
 * The grading-engine simulator: an HTTP server imitating the grading engine (API v1 plus a one-call
 * facade) that grades lablet sessions after a delay, deterministically from a seed, and reports
 * `grading.session.completed` (with the score report) or `grading.session.failed` as CloudEvents.
 * See README.md.
 */

export interface GradingSimulatorOptions {
  /** 0 (default) = any free port. */
  port?: number;
  host?: string;
  /** Where CloudEvents go (changeable later); absent = nowhere. */
  sinkUrl?: string | null;
  mode?: DeliveryMode;
  retry?: Partial<RetryPolicy>;
  attemptTimeoutMs?: number;
  /** Default 500 ms. */
  gradingDelayMs?: number;
  /** Default 0. */
  reviewDelayMs?: number;
  /** Default true. */
  autoSubmit?: boolean;
  /** Default "seeded". */
  outcome?: GradingOutcome;
  /** Default "lcm". */
  seed?: string;
  /** Rulesets by part id (form / ruleset name); other part ids use `defaultRuleset`. */
  rulesets?: Record<string, RulesetInput>;
  defaultRuleset?: RulesetInput;
  /** CloudEvent `source`; default "grading-engine". */
  source?: string;
  logger?: Logger;
  /** Metrics registry for `/metrics`; default a fresh one without process metrics. */
  registry?: Registry;
}

/** A ruleset as configured: sections with points (weight defaults to 1), an optional cut score. */
export interface RulesetInput {
  version?: string;
  sections: Array<{ name: string; maxScore: number; weight?: number }>;
  cutScore?: number | null;
}

export interface GradingFaults {
  /** The next N session creations answer 500. */
  failCreate: number;
  /** true = every grading fails; N = the next N gradings fail (grading.session.failed). */
  failGrading: boolean | number;
  /** Reason given in grading.session.failed for injected failures. */
  failReason: string;
  /** Extra time every grading takes. */
  slowGradingMs: number;
  /** Extra latency on every API request (not `/_sim/*`). */
  latencyMs: number;
  /** Sink outage: true = every delivery attempt fails; N = the next N attempts fail. */
  sinkDown: boolean | number;
}

export interface GradingConfig extends GradingTimings, GradingPolicy {
  rulesets: Record<string, Ruleset>;
  defaultRuleset: Ruleset;
  sinkUrl: string | null;
  mode: DeliveryMode;
  retry: RetryPolicy;
  attemptTimeoutMs: number;
}

export type GradingConfigPatch = Partial<GradingTimings & GradingPolicy> & {
  rulesets?: Record<string, RulesetInput>;
  defaultRuleset?: RulesetInput;
} & DeliveryConfigPatch;

export interface GradingSimState {
  simulator: 'grading';
  url: string;
  config: GradingConfig;
  faults: GradingFaults;
  sessions: GradingSessionView[];
  delivery: DeliverySnapshot;
}

export interface GradingSimulator {
  url: string;
  port: number;
  readonly faults: GradingFaults;
  setFaults(patch: Partial<GradingFaults>): GradingFaults;
  readonly config: GradingConfig;
  /** Merge configuration; `rulesets` replaces the whole ruleset map. */
  configure(patch: GradingConfigPatch): GradingConfig;
  /** The engine: create sessions, grade, submit, complete or fail programmatically. */
  readonly engine: GradingEngine;
  view(id: string): GradingSessionView;
  readonly delivery: CloudEventDelivery;
  state(): GradingSimState;
  /** Resolves when every emitted event is delivered or dead-lettered. */
  idle(): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

const rulesetInputSchema = z
  .object({
    version: z.string().min(1).optional(),
    sections: z
      .array(z.object({ name: z.string().min(1), maxScore: z.number().int().min(0).max(1000), weight: z.number().min(0).optional() }).strict())
      .min(1)
      .max(50),
    cutScore: z.number().min(0).nullable().optional(),
  })
  .strict();

export const gradingFaultsSchema = z
  .object({
    failCreate: z.number().int().min(0),
    failGrading: z.union([z.boolean(), z.number().int().min(0)]),
    failReason: z.string().min(1),
    slowGradingMs: z.number().int().min(0),
    ...commonFaultShape,
  })
  .partial()
  .strict();

export const gradingConfigSchema = z
  .object({
    gradingDelayMs: z.number().int().min(0),
    reviewDelayMs: z.number().int().min(0),
    autoSubmit: z.boolean(),
    outcome: z.enum(['seeded', 'pass', 'fail', 'perfect', 'zero']),
    seed: z.string().min(1),
    rulesets: z.record(z.string().min(1), rulesetInputSchema),
    defaultRuleset: rulesetInputSchema,
    ...deliveryConfigShape,
  })
  .partial()
  .strict();

const NO_FAULTS: GradingFaults = {
  failCreate: 0,
  failGrading: false,
  failReason: 'grading failed: device output collection timed out (injected fault)',
  slowGradingMs: 0,
  latencyMs: 0,
  sinkDown: false,
};
const OUTCOMES: readonly GradingOutcome[] = ['seeded', 'pass', 'fail', 'perfect', 'zero'];

function toRuleset(name: string, input: RulesetInput): Ruleset {
  return checkRuleset({
    name,
    version: input.version ?? '1.0',
    sections: input.sections.map((s) => ({ name: s.name, maxScore: s.maxScore, weight: s.weight ?? 1 })),
    cutScore: input.cutScore === undefined ? null : input.cutScore,
  });
}

function checkTimings(t: GradingTimings): void {
  for (const name of ['gradingDelayMs', 'reviewDelayMs'] as const) {
    if (!Number.isInteger(t[name]) || t[name] < 0) throw new TypeError(`${name} must be an integer ≥ 0`);
  }
}

export async function startGradingSimulator(options: GradingSimulatorOptions = {}): Promise<GradingSimulator> {
  const logger = options.logger ?? silentLogger;
  const registry = options.registry ?? createMetricsRegistry(false);
  const timings: GradingTimings = {
    gradingDelayMs: options.gradingDelayMs ?? 500,
    reviewDelayMs: options.reviewDelayMs ?? 0,
    autoSubmit: options.autoSubmit ?? true,
  };
  checkTimings(timings);
  const policy: GradingPolicy = { outcome: options.outcome ?? 'seeded', seed: options.seed ?? 'lcm' };
  if (!OUTCOMES.includes(policy.outcome)) throw new TypeError(`outcome must be one of ${OUTCOMES.join(', ')}`);
  let defaultRuleset = options.defaultRuleset ? toRuleset('default', options.defaultRuleset) : DEFAULT_RULESET;
  let rulesets = Object.fromEntries(Object.entries(options.rulesets ?? {}).map(([name, r]) => [name, toRuleset(name, r)]));
  /** Cut scores set through `PUT /api/v1/sessions/parts/ruleset/scoring`, by part id. */
  const cutScores = new Map<string, number>();
  const rulesetFor = (partId: string): Ruleset => {
    const base = rulesets[partId] ?? { ...defaultRuleset, name: partId };
    const cut = cutScores.get(partId);
    return cut === undefined ? base : { ...base, cutScore: cut };
  };

  let faults: GradingFaults = { ...NO_FAULTS };
  const delivery = new CloudEventDelivery({
    sinkUrl: options.sinkUrl ?? null,
    mode: options.mode ?? 'binary',
    retry: options.retry ?? {},
    attemptTimeoutMs: options.attemptTimeoutMs ?? 5_000,
    logger,
    observer: deliveryMetrics(registry, 'grading'),
  });
  const timers = new TimerSet();
  const engine = new GradingEngine({
    delivery,
    timers,
    source: options.source ?? 'grading-engine',
    logger,
    timings: () => ({ ...timings }),
    policy: () => ({ ...policy }),
    ruleset: rulesetFor,
    takeFailure: () => {
      if (faults.failGrading === false || faults.failGrading === 0) return null;
      if (typeof faults.failGrading === 'number') faults.failGrading = faults.failGrading - 1 === 0 ? false : faults.failGrading - 1;
      return faults.failReason;
    },
    extraDelayMs: () => faults.slowGradingMs,
  });

  const router = new JsonRouter({
    formatError: problemDetails,
    before: async (ctx) => {
      if (!ctx.path.startsWith('/_sim/')) await sleep(faults.latencyMs);
    },
    onUnexpectedError: (e, where) => logger.error({ err: e, ...where }, 'grading simulator error'),
  });
  addGradingApiRoutes(router, {
    engine,
    injectCreateFailure: () => {
      if (faults.failCreate <= 0) return false;
      faults.failCreate--;
      return true;
    },
    ruleset: rulesetFor,
    setCutScore: (partId, cutScore) => {
      const max = rulesetFor(partId).sections.reduce((sum, s) => sum + s.maxScore, 0);
      if (cutScore > max) throw new TypeError(`cutScore ${cutScore} is above the ruleset's total of ${max}`);
      cutScores.set(partId, cutScore);
    },
  });

  const currentConfig = (): GradingConfig => ({
    ...timings,
    ...policy,
    rulesets: { ...rulesets },
    defaultRuleset,
    sinkUrl: delivery.sinkUrl,
    mode: delivery.mode,
    retry: delivery.retry,
    attemptTimeoutMs: delivery.attemptTimeoutMs,
  });
  const currentFaults = (): GradingFaults => ({ ...faults, sinkDown: delivery.sinkDown });
  const setFaults = (patch: Partial<GradingFaults>): GradingFaults => {
    const clean = stripUndefined(patch);
    const next = { ...faults, ...clean };
    for (const name of ['failCreate', 'slowGradingMs', 'latencyMs'] as const) {
      if (!Number.isInteger(next[name]) || next[name] < 0) throw new TypeError(`${name} must be an integer ≥ 0`);
    }
    if (typeof next.failGrading === 'number' && (!Number.isInteger(next.failGrading) || next.failGrading < 0)) {
      throw new TypeError('failGrading must be a boolean or an integer ≥ 0');
    }
    if (clean.sinkDown !== undefined) delivery.setSinkDown(clean.sinkDown);
    faults = next;
    return currentFaults();
  };
  const configure = (patch: GradingConfigPatch): GradingConfig => {
    const { gradingDelayMs, reviewDelayMs, autoSubmit, outcome, seed, rulesets: rs, defaultRuleset: dr, ...deliveryPatch } = patch;
    const nextTimings = { ...timings, ...stripUndefined({ gradingDelayMs, reviewDelayMs, autoSubmit }) };
    checkTimings(nextTimings);
    if (outcome !== undefined && !OUTCOMES.includes(outcome)) throw new TypeError(`outcome must be one of ${OUTCOMES.join(', ')}`);
    const nextRulesets = rs ? Object.fromEntries(Object.entries(rs).map(([name, r]) => [name, toRuleset(name, r)])) : rulesets;
    const nextDefault = dr ? toRuleset('default', dr) : defaultRuleset;
    applyDeliveryConfig(delivery, deliveryPatch);
    Object.assign(timings, nextTimings);
    Object.assign(policy, stripUndefined({ outcome, seed }));
    rulesets = nextRulesets;
    defaultRuleset = nextDefault;
    return currentConfig();
  };
  const view = (id: string) => gradingSessionView(engine.get(id));
  let baseUrl = '';
  const state = (): GradingSimState => ({
    simulator: 'grading',
    url: baseUrl,
    config: currentConfig(),
    faults: currentFaults(),
    sessions: engine.list().map(gradingSessionView),
    delivery: delivery.snapshot(),
  });
  const reset = () => {
    timers.clear();
    engine.reset();
    cutScores.clear();
    faults = { ...NO_FAULTS };
    delivery.setSinkDown(false);
    delivery.clearHistory();
  };

  addControlRoutes(router, {
    faultsSchema: gradingFaultsSchema,
    configSchema: gradingConfigSchema,
    setFaults: setFaults as (patch: never) => unknown,
    configure: configure as (patch: never) => unknown,
    state,
    reset,
    delivery,
  });

  if (options.sinkUrl === undefined || options.sinkUrl === null) logger.warn('grading simulator has no sink: events will be dead-lettered until one is configured');
  const server = await serve(router, { port: options.port ?? 0, host: options.host ?? '127.0.0.1', registry, logger });
  baseUrl = server.url;
  logger.info({ url: server.url }, 'grading simulator listening');

  let closed = false;
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
    engine,
    view,
    delivery,
    state,
    idle: () => delivery.idle(),
    reset,
    async close() {
      if (closed) return;
      closed = true;
      timers.close();
      await Promise.all([delivery.close(), server.close()]);
    },
  };
}
