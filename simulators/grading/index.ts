import type { Registry } from 'prom-client';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import type { CloudEventDelivery} from '../shared/delivery.ts';
import { type DeliveryMode, type DeliverySnapshot, type RetryPolicy } from '../shared/delivery.ts';
import { JsonRouter } from '../shared/http.ts';
import { commonFaultShape, deliveryConfigShape, EventSimulatorScaffold, stripUndefined, type DeliveryConfigPatch } from '../shared/sim-server.ts';
import { sleep } from '../shared/timers.ts';
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
  /** Bearer token sent with every event (`Authorization: Bearer <token>`; the lablet-controller requires its `LCM_EVENTS_TOKEN`). */
  sinkToken?: string | null;
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
  /** Events sent twice: true = every event; N = the next N events. */
  duplicate: boolean | number;
  /** Events held back and sent after the next event of the same lablet session. */
  reorder: boolean | number;
  /** Events lost for good (no retry, no dead letter). */
  drop: boolean | number;
}

export interface GradingConfig extends GradingTimings, GradingPolicy {
  rulesets: Record<string, Ruleset>;
  defaultRuleset: Ruleset;
  sinkUrl: string | null;
  /** Whether a sink token is set (the token is never shown). */
  sinkTokenSet: boolean;
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
  duplicate: false,
  reorder: false,
  drop: false,
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

  const scaffold = new EventSimulatorScaffold<GradingFaults>(
    {
      name: 'grading',
      logger,
      registry,
      noFaults: NO_FAULTS,
      counters: ['failCreate', 'slowGradingMs', 'latencyMs'],
      checkFaults: (next) => {
        if (typeof next.failGrading === 'number' && (!Number.isInteger(next.failGrading) || next.failGrading < 0)) {
          throw new TypeError('failGrading must be a boolean or an integer ≥ 0');
        }
      },
    },
    options,
  );
  const { delivery, timers } = scaffold;
  const faults = () => scaffold.live;
  const engine = new GradingEngine({
    delivery,
    timers,
    source: options.source ?? 'grading-engine',
    logger,
    timings: () => ({ ...timings }),
    policy: () => ({ ...policy }),
    ruleset: rulesetFor,
    takeFailure: () => {
      const f = faults();
      if (f.failGrading === false || f.failGrading === 0) return null;
      if (typeof f.failGrading === 'number') f.failGrading = f.failGrading - 1 === 0 ? false : f.failGrading - 1;
      return f.failReason;
    },
    extraDelayMs: () => faults().slowGradingMs,
  });

  const router = new JsonRouter({
    formatError: problemDetails,
    before: async (ctx) => {
      if (!ctx.path.startsWith('/_sim/')) await sleep(faults().latencyMs);
    },
    onUnexpectedError: (e, where) => logger.error({ err: e, ...where }, 'grading simulator error'),
  });
  addGradingApiRoutes(router, {
    engine,
    injectCreateFailure: () => scaffold.take('failCreate'),
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
    ...scaffold.deliveryConfig(),
  });
  const currentFaults = (): GradingFaults => scaffold.currentFaults();
  const setFaults = (patch: Partial<GradingFaults>): GradingFaults => scaffold.setFaults(patch);
  const configure = (patch: GradingConfigPatch): GradingConfig => {
    const { gradingDelayMs, reviewDelayMs, autoSubmit, outcome, seed, rulesets: rs, defaultRuleset: dr, ...deliveryPatch } = patch;
    const nextTimings = { ...timings, ...stripUndefined({ gradingDelayMs, reviewDelayMs, autoSubmit }) };
    checkTimings(nextTimings);
    if (outcome !== undefined && !OUTCOMES.includes(outcome)) throw new TypeError(`outcome must be one of ${OUTCOMES.join(', ')}`);
    const nextRulesets = rs ? Object.fromEntries(Object.entries(rs).map(([name, r]) => [name, toRuleset(name, r)])) : rulesets;
    const nextDefault = dr ? toRuleset('default', dr) : defaultRuleset;
    scaffold.configureDelivery(deliveryPatch);
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
    scaffold.resetCommon();
    engine.reset();
    cutScores.clear();
  };

  const server = await scaffold.listen(
    router,
    { faultsSchema: gradingFaultsSchema, configSchema: gradingConfigSchema, configure: configure as (patch: never) => unknown, state, reset },
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
    engine,
    view,
    delivery,
    state,
    idle: () => delivery.idle(),
    reset,
    close: () => scaffold.close(),
  };
}
