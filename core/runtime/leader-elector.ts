import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../logging.ts';
import { isCoordinationError, type CoordinationStore, type Candidacy } from '../ports/coordination.ts';

export interface LeaderElectorOptions {
  store: CoordinationStore;
  /** The election (one per controller): `/lcm/elections/<name>/`. */
  name: string;
  /** This process's identity. Default `<hostname>-<pid>-<random>`. */
  candidateId?: string;
  /** How long a leader that stopped renewing keeps the slot at most (Kubernetes LeaseDuration). Default 15 s. */
  ttlSeconds?: number;
  /** A leader that could not renew for this long steps down (Kubernetes RenewDeadline). Default 10 s. */
  renewDeadlineMs?: number;
  /** Interval between renewals. Default 2 s (Kubernetes RetryPeriod). */
  renewIntervalMs?: number;
  /** Pause before campaigning again after losing or after a failed campaign step. Default 2 s. */
  retryIntervalMs?: number;
  logger?: Logger;
  /** Told when this process starts or stops leading. */
  onLeadershipChange?: (leading: boolean) => void;
}

/** A unique identity for this process in elections. */
export function defaultCandidateId(): string {
  return `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

/**
 * Runs a function only while this process leads (client-go's `leaderelection.LeaderElector`, with
 * its defaults): campaign; when elected call `lead(signal)`; `signal` aborts the moment leadership is
 * lost (renew deadline passed, key gone) or `stop()` is called, and `lead` must then stop acting and
 * return. Afterwards the elector resigns (freeing the slot at once) and campaigns again, until stopped.
 */
export class LeaderElector {
  readonly candidateId: string;
  private readonly election: Candidacy;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private leading = false;
  private readonly retryIntervalMs: number;
  private readonly logger: Logger | undefined;
  private readonly onLeadershipChange: ((leading: boolean) => void) | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.candidateId = options.candidateId ?? defaultCandidateId();
    this.retryIntervalMs = options.retryIntervalMs ?? 2000;
    this.logger = options.logger;
    this.onLeadershipChange = options.onLeadershipChange;
    this.election = options.store.election(options.name, this.candidateId, {
      ttlSeconds: options.ttlSeconds ?? 15,
      renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
      renewIntervalMs: options.renewIntervalMs ?? 2000,
      retryIntervalMs: this.retryIntervalMs,
    });
  }

  isLeader(): boolean {
    return this.leading && this.election.isLeader();
  }

  /** The current leader's candidate id, if any. */
  leader(): Promise<string | undefined> {
    return this.election.leader();
  }

  /** Start the campaign loop (once). Resolves when the elector is stopped. */
  run(lead: (signal: AbortSignal) => Promise<void>): Promise<void> {
    this.running ??= this.loop(lead);
    return this.running;
  }

  /** Stop: the leader's signal aborts, `lead` returns, the slot is freed. Resolves when all that is done. */
  async stop(): Promise<void> {
    this.stopping.abort('leader elector stopped');
    await this.running;
    await this.election.resign();
  }

  private async loop(lead: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      let leadership: AbortSignal;
      try {
        leadership = await this.election.campaign(stop);
      } catch (e) {
        if (stop.aborted) break;
        this.logger?.warn({ election: this.options.name, err: e }, 'campaign failed');
        if (isCoordinationError(e, 'CLOSED')) break;
        await pause(this.retryIntervalMs, stop);
        continue;
      }
      const term = AbortSignal.any([leadership, stop]);
      this.setLeading(true);
      try {
        await lead(term);
        if (!term.aborted) this.logger?.warn({ election: this.options.name }, 'lead() returned while still leading; resigning');
      } catch (e) {
        this.logger?.error({ election: this.options.name, err: e }, 'lead() failed; resigning');
      } finally {
        this.setLeading(false);
      }
      await this.election.resign().catch(() => undefined);
      if (!stop.aborted) await pause(this.retryIntervalMs, stop);
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.logger?.info({ election: this.options.name, candidate: this.candidateId, leading }, leading ? 'started leading' : 'stopped leading');
    try {
      this.onLeadershipChange?.(leading);
    } catch {
      // An observer's failure does not change leadership.
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
