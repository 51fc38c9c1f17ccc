import type { Registry } from 'prom-client';
import type { Logger } from '../logging.ts';
import { startOpsServer, type RunningServer } from '../ops/ops-server.ts';
import type { CoordinationStore } from '../ports/coordination.ts';
import { Informer, type ChangeOrigin, type InformerSource } from './informer.ts';
import { inSpan, ROOT_CONTEXT, SpanKind, SpanStatusCode, spanContextOf, trace, tracing, type SpanContext } from '../telemetry/tracing.ts';
import { LeaderElector, type LeaderElectorOptions } from './leader-elector.ts';
import { noopControllerMetrics, noopWorkQueueMetrics, prometheusControllerMetrics, prometheusWorkQueueMetrics, type ControllerMetrics, type WorkQueueMetrics } from './metrics.ts';
import { defaultControllerRateLimiter, type ControllerRateLimiterOptions, type RateLimiter } from './rate-limiter.ts';
import { runWorkers, WorkQueue } from './work-queue.ts';

/**
 * What a reconcile asks for next: nothing (done: the key's backoff is forgotten), `requeueAfterMs`
 * (look again later, e.g. a timeslot or a boot in progress), or `requeue` (retry with backoff).
 * A thrown error also means retry with backoff.
 */
export type ReconcileResult = void | undefined | { requeueAfterMs: number } | { requeue: true };

export interface ReconcileContext {
  /** Aborts when this process stops leading or is shutting down: stop acting, do not write. */
  signal: AbortSignal;
  /** How many times this key was retried since it last succeeded. */
  retries: number;
  logger: Logger | undefined;
}

/** Brings the world in line with the desired state of one key. Level-triggered: read, compare, act. */
export type Reconciler = (key: string, context: ReconcileContext) => Promise<ReconcileResult>;

/** What an informer saw happen to one object (the third argument of `WatchSpec.keysFor`). */
export interface ObjectChange<T> {
  /** `delete` also when the object merely left the informer's set (then `current` is its new state). */
  kind: 'add' | 'update' | 'delete';
  /**
   * The informer's cached state before the change: undefined for an add, and for a delete of an
   * object the informer never held (e.g. a change of an object outside its set).
   */
  previous: T | undefined;
  /** The new state; for a delete, the state outside the set when the source tells it (else undefined). */
  current: T | undefined;
}

/** An informer feeding the controller, and which keys a change of one of its objects concerns. */
export interface WatchSpec<T> {
  source: InformerSource<T>;
  /**
   * The reconcile keys for a changed object. Default: the object's own key. `object` is the new
   * state, or for a delete the previous one (undefined if the informer never held the object);
   * `change` says what happened, for a controller to which only some changes matter.
   */
  keysFor?: (key: string, object: T | undefined, change: ObjectChange<T>) => string[];
  /**
   * Enqueue the keys this long after the change (the queue keeps the earliest pending delay and
   * dedupes a queued key), so that the changes of a burst coalesce into one reconcile. Default 0.
   */
  coalesceMs?: number;
}

export interface ControllerOptions {
  /** The controller's name: election name, metrics label, queue name. */
  name: string;
  store: CoordinationStore;
  reconcile: Reconciler;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a controller watches sources of different types
  watches?: WatchSpec<any>[];
  /** Keys reconciled at once (never the same key twice). Default 4. */
  concurrency?: number;
  /** Retry backoff and overall retry rate. Default: client-go's (5 ms…1 000 s per key; 10 qps, burst 100). */
  rateLimit?: ControllerRateLimiterOptions;
  /** Build the rate limiter yourself (overrides `rateLimit`); called once per leadership term. */
  rateLimiter?: () => RateLimiter<string>;
  /** Informer resync period (see `InformerOptions.resyncPeriodMs`). */
  resyncPeriodMs?: number;
  /**
   * Leader election (default on, with Kubernetes' 15 s / 10 s / 2 s). `false` runs the controller
   * unconditionally — only for a single process that is sure to be alone.
   */
  leaderElection?: false | Omit<LeaderElectorOptions, 'store' | 'name' | 'logger' | 'onLeadershipChange'>;
  /** On `stop()`, how long queued and in-flight work may take before it is aborted. Default 30 s. */
  shutdownTimeoutMs?: number;
  /**
   * After a term's reconciles are aborted (leadership lost, or the shutdown timeout), how long they
   * may take to return before the term ends without them: each one still running is logged with its
   * key and counted in `lcm_controller_abandoned_reconciles` until it returns. Default 10 s. Without
   * the bound, one reconcile stuck in a call that ignores its signal kept `lead()` from returning:
   * the process neither led (its queue was shut down) nor campaigned again, silently.
   */
  abortGraceMs?: number;
  registry?: Registry;
  logger?: Logger;
}

type Outcome = 'success' | 'requeue' | 'requeue_after' | 'error';

/** One leadership term: the queue, informers and workers that exist only while leading. */
interface Term {
  queue: WorkQueue<string>;
  informers: Informer<unknown>[];
  /** Aborted to make in-flight reconciles stop acting. */
  abort: AbortController;
  /**
   * Tracing on: the trace contexts of the changes that queued each key since its last reconcile. The
   * reconcile continues the first (its parent) and links the others (changes coalesced into it).
   */
  origins: Map<string, { parent: SpanContext; links: SpanContext[] }>;
}

/** Changes linked to one reconcile at most (a burst coalesced into one cycle). */
const MAX_LINKS = 32;

/**
 * A controller in the spirit of controller-runtime: informers (list + watch + resync) feed a
 * rate-limited work queue; `concurrency` workers call `reconcile(key)`; results requeue or back off.
 * With leader election, all of that exists only while this process leads: on losing leadership the
 * in-flight reconciles are told to stop (their signal aborts), the queue is dropped and the informers
 * stop; the next leader starts from a fresh list. `stop()` shuts down gracefully: queued work is
 * drained (up to `shutdownTimeoutMs`), then leadership is given up at once.
 */
export class Controller {
  readonly name: string;
  private readonly options: ControllerOptions;
  private readonly elector: LeaderElector | undefined;
  private readonly metrics: ControllerMetrics;
  private readonly queueMetrics: WorkQueueMetrics;
  private readonly logger: Logger | undefined;
  private term: Term | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private graceful = false;
  /** Reconciles of ended terms still running past `abortGraceMs`. */
  private abandoned = 0;

  constructor(options: ControllerOptions) {
    if (!/^[A-Za-z0-9._-]+$/.test(options.name)) throw new RangeError(`controller name "${options.name}" must match [A-Za-z0-9._-]+`);
    this.name = options.name;
    this.options = options;
    this.logger = options.logger?.child({ controller: options.name });
    this.metrics = options.registry ? prometheusControllerMetrics(options.registry, options.name) : noopControllerMetrics;
    this.queueMetrics = options.registry ? prometheusWorkQueueMetrics(options.registry, options.name) : noopWorkQueueMetrics;
    if (options.leaderElection !== false) {
      this.elector = new LeaderElector({
        ...(options.leaderElection ?? {}),
        store: options.store,
        name: options.name,
        logger: this.logger,
        onLeadershipChange: (leading) => this.metrics.leader(leading),
      });
    }
  }

  /** Start campaigning (or running, without leader election). Returns at once. */
  start(): void {
    if (this.running) return;
    const lead = (signal: AbortSignal) => this.lead(signal);
    this.running = this.elector ? this.elector.run(lead) : this.runUnelected(lead);
  }

  /** Graceful shutdown: drain queued work (bounded), stop the informers, give up leadership. */
  async stop(): Promise<void> {
    this.graceful = true;
    this.stopping.abort('controller stopping');
    await this.elector?.stop();
    await this.running;
  }

  /** Whether this process currently runs the controller (leads, or runs without election). */
  isLeader(): boolean {
    return this.term !== undefined && (this.elector?.isLeader() ?? true);
  }

  /** Reconcile `key` soon (e.g. on an external event). Ignored while not leading. */
  enqueue(key: string): void {
    this.term?.queue.add(key);
  }

  /** Reconcile `key` after `delayMs`. Ignored while not leading. */
  enqueueAfter(key: string, delayMs: number): void {
    this.term?.queue.addAfter(key, delayMs);
  }

  /** The work queue of the current term (tests and diagnostics). */
  get queue(): WorkQueue<string> | undefined {
    return this.term?.queue;
  }

  /**
   * What keeps this controller from being ready (empty = ready): the store unreachable, or, while
   * leading, an informer not synced or its watch disconnected. A standby replica is ready.
   */
  async readiness(): Promise<string[]> {
    const failing: string[] = [];
    try {
      await this.options.store.revision();
    } catch (e) {
      failing.push(`${this.name}: coordination store unreachable (${e instanceof Error ? e.message : String(e)})`);
    }
    for (const informer of this.term?.informers ?? []) {
      if (!informer.hasSynced()) failing.push(`${this.name}: informer ${informer.name} not synced`);
      else if (!informer.isWatchConnected()) failing.push(`${this.name}: informer ${informer.name} watch disconnected`);
    }
    return failing;
  }

  private async runUnelected(lead: (signal: AbortSignal) => Promise<void>): Promise<void> {
    this.metrics.leader(true);
    try {
      await lead(this.stopping.signal);
    } finally {
      this.metrics.leader(false);
    }
  }

  /** One leadership term: runs until `signal` aborts. */
  private async lead(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue<string>({
      name: this.name,
      rateLimiter: this.options.rateLimiter?.() ?? defaultControllerRateLimiter<string>(this.options.rateLimit),
      metrics: this.queueMetrics,
    });
    const term: Term = { queue, informers: [], abort: new AbortController(), origins: new Map() };
    this.term = term;
    const informers = (this.options.watches ?? []).map((spec) => {
      const informer = new Informer<unknown>({
        store: this.options.store,
        source: spec.source as InformerSource<unknown>,
        resyncPeriodMs: this.options.resyncPeriodMs,
        metrics: this.metrics,
        logger: this.logger,
      });
      const delayMs = spec.coalesceMs ?? 0;
      const enqueue = (key: string, object: unknown, change: ObjectChange<unknown>, origin: ChangeOrigin | undefined) => {
        for (const k of spec.keysFor ? spec.keysFor(key, object, change) : [key]) {
          if (origin?.traceparent && tracing.on) noteOrigin(term, k, origin.traceparent);
          if (delayMs > 0) queue.addAfter(k, delayMs);
          else queue.add(k);
        }
      };
      informer.addHandlers({
        onAdd: (key, object, origin) => enqueue(key, object, { kind: 'add', previous: undefined, current: object }, origin),
        onUpdate: (key, previous, current, origin) => enqueue(key, current, { kind: 'update', previous, current }, origin),
        onDelete: (key, previous, left, origin) => enqueue(key, previous, { kind: 'delete', previous, current: left }, origin),
      });
      return informer;
    });
    term.informers = informers;
    this.logger?.info('starting: syncing informers');
    const workers = Promise.all(informers.map((i) => i.start())).then(() => {
      if (signal.aborted) return;
      this.logger?.info({ concurrency: this.options.concurrency ?? 4 }, 'informers synced; starting workers');
      return runWorkers(queue, this.options.concurrency ?? 4, (key) => (tracing.on ? this.processTraced(term, key) : this.process(queue, key, term.abort.signal).then(() => undefined)));
    });
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await this.endTerm(term, workers);
  }

  private async endTerm(term: Term, workers: Promise<unknown>): Promise<void> {
    const graceful = this.graceful;
    // Lost: not leading as of now, whatever the in-flight reconciles take to stop (see `abortGraceMs`).
    if (!graceful) this.metrics.leader(false);
    this.logger?.info({ graceful }, graceful ? 'stopping: draining the work queue' : 'leadership lost: stopping at once');
    await Promise.all(term.informers.map((i) => i.stop()));
    if (graceful) {
      const timeout = this.options.shutdownTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        term.queue.shutdownWithDrain().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeout))),
      ]);
      clearTimeout(timer);
      if (!drained) this.logger?.warn({ timeoutMs: timeout }, 'shutdown timeout: aborting in-flight reconciles');
    }
    this.metrics.leader(false);
    term.abort.abort(graceful ? 'controller stopping' : 'leadership lost');
    const stopped = term.queue.shutdown().then(() => workers.catch(() => undefined));
    const graceMs = this.options.abortGraceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([stopped.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
    clearTimeout(timer);
    if (!inTime) {
      const hung = term.queue.inFlightItems();
      for (const { item, runningMs } of hung) {
        this.logger?.error({ key: item, runningSeconds: Math.round(runningMs / 1000), graceMs }, 'reconcile ignored its abort; ending the term without it');
      }
      this.abandoned += hung.length;
      this.metrics.abandoned(this.abandoned);
      for (const { item } of hung) {
        void term.queue.whenDone(item).then(() => this.metrics.abandoned((this.abandoned -= 1)));
      }
    }
    if (this.term === term) this.term = undefined;
  }

  /**
   * One reconcile as one span (docs/adr/0016-tracing.md): the child of the change that queued the key
   * (the publish span of the subgraph's mutation), linked to the other changes coalesced into it, or
   * the root of a trace of its own (a re-list, a requeue). The GraphQL calls it makes are its children.
   */
  private processTraced(term: Term, key: string): Promise<void> {
    const origin = term.origins.get(key);
    term.origins.delete(key);
    return inSpan(
      `lcm-${this.name}`,
      `reconcile ${this.name}`,
      {
        kind: SpanKind.CONSUMER,
        parent: origin ? trace.setSpanContext(ROOT_CONTEXT, origin.parent) : ROOT_CONTEXT,
        attributes: { 'lcm.controller': this.name, 'lcm.key': key, 'lcm.retries': term.queue.retries(key) },
        ...(origin && origin.links.length > 0 ? { links: origin.links.map((context) => ({ context })) } : {}),
      },
      async (span) => {
        const outcome = await this.process(term.queue, key, term.abort.signal);
        if (outcome) span.setAttribute('lcm.outcome', outcome);
        if (outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: 'reconcile failed; retrying with backoff' });
      },
    );
  }

  private async process(queue: WorkQueue<string>, key: string, signal: AbortSignal): Promise<Outcome | undefined> {
    const started = performance.now();
    let outcome: Outcome;
    try {
      const result = await this.options.reconcile(key, { signal, retries: queue.retries(key), logger: this.logger });
      if (signal.aborted) return undefined;
      if (result && 'requeueAfterMs' in result) {
        queue.forget(key);
        queue.addAfter(key, result.requeueAfterMs);
        outcome = 'requeue_after';
      } else if (result && 'requeue' in result && result.requeue) {
        queue.addRateLimited(key);
        outcome = 'requeue';
      } else {
        queue.forget(key);
        outcome = 'success';
      }
    } catch (e) {
      if (signal.aborted) return undefined;
      this.logger?.warn({ key, err: e, retries: queue.retries(key) }, 'reconcile failed; retrying with backoff');
      queue.addRateLimited(key);
      outcome = 'error';
    }
    this.metrics.reconciled(outcome, (performance.now() - started) / 1000);
    return outcome;
  }
}

/** Remember the trace context of a change that queued `key` (see `Term.origins`). */
function noteOrigin(term: Term, key: string, traceparent: string): void {
  const spanContext = spanContextOf(traceparent);
  if (!spanContext) return;
  const known = term.origins.get(key);
  if (!known) term.origins.set(key, { parent: spanContext, links: [] });
  else if (known.links.length < MAX_LINKS && known.parent.spanId !== spanContext.spanId) known.links.push(spanContext);
}

/**
 * `/healthz`, `/readyz` and `/metrics` for a controller process (CONTRACT.md "Endpoints"): ready when
 * every controller is (see `Controller.readiness`).
 */
export function serveControllerOps(port: number, controllers: Controller[], registry: Registry, host = '127.0.0.1'): Promise<RunningServer> {
  return startOpsServer(
    port,
    {
      registry,
      readiness: async () => (await Promise.all(controllers.map((c) => c.readiness()))).flat(),
    },
    host,
  );
}
