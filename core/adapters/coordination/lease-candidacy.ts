import type { Logger } from '../../logging.ts';
import {
  CoordinationError,
  CoordinationKeys,
  isCoordinationError,
  type CoordinationStore,
  type ElectionOptions,
  type KeyValue,
  type Candidacy,
  type Lease,
  type Watch,
} from '../../ports/coordination.ts';
import { abortError, abortable, sleep } from './renewing-lease.ts';

/** One campaign: the candidate's lease and key, the watch on the election, and leadership once won. */
interface Campaign {
  lease: Lease;
  key: string;
  /** Keys under the election prefix and their create revisions, kept current by the watch. */
  candidates: Map<string, KeyValue>;
  watch?: Watch;
  /** Aborted when the campaign ends (resign, abort, lease lost) — stops the wait. */
  stop: AbortController;
  /** Set once elected; aborted when leadership is lost. */
  leadership?: AbortController;
  /** Woken on every change of `candidates`. */
  changed: () => void;
}

/**
 * Leader election on any `CoordinationStore` (the recipe of etcd's Go `concurrency.Election`, with a
 * lease that declares itself lost before the store can expire it):
 *
 * 1. grant a lease (TTL = `ttlSeconds`), create `/lcm/elections/<name>/<leaseId>` = candidateId on it
 *    (transaction: the key must not exist);
 * 2. list the election prefix and watch it from the list's revision; the candidate whose key has the
 *    lowest create revision leads. Everyone else waits for the keys before theirs to disappear (resign,
 *    or lease expiry in the store);
 * 3. a leader's signal aborts when its lease is lost (`RenewingLease`: renew deadline < TTL), when its
 *    key disappears, or on `resign()` — always before the key is deleted, so the next candidate can
 *    only take over after the previous leader stopped.
 *
 * Both adapters use this class, so the contract tests exercise one algorithm on etcd and in memory.
 * (etcd3's `Election` is not used: its campaign only learns of a lost lease after 2×TTL.)
 */
export class LeaseCandidacy implements Candidacy {
  private readonly prefix: string;
  private current: Campaign | undefined;
  private pending: Promise<AbortSignal> | undefined;
  private campaignAbort: AbortController | undefined;
  private readonly retryIntervalMs: number;

  constructor(
    private readonly store: CoordinationStore,
    readonly name: string,
    readonly candidateId: string,
    private readonly options: ElectionOptions,
    private readonly logger?: Logger,
  ) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new RangeError(`election name "${name}" must match [A-Za-z0-9._-]+`);
    this.prefix = CoordinationKeys.election(name);
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
  }

  isLeader(): boolean {
    const leadership = this.current?.leadership;
    return leadership !== undefined && !leadership.signal.aborted;
  }

  async leader(): Promise<string | undefined> {
    const { items } = await this.store.list(this.prefix);
    return lowest(items)?.value;
  }

  campaign(signal?: AbortSignal): Promise<AbortSignal> {
    if (this.isLeader()) return Promise.resolve(this.current!.leadership!.signal);
    if (!this.pending) {
      const campaignAbort = new AbortController();
      const forward = () => campaignAbort.abort(signal?.reason);
      if (signal?.aborted) forward();
      else signal?.addEventListener('abort', forward, { once: true });
      this.campaignAbort = campaignAbort;
      this.pending = this.campaignLoop(campaignAbort.signal).finally(() => {
        signal?.removeEventListener('abort', forward);
        this.pending = undefined;
        this.campaignAbort = undefined;
      });
    }
    return this.pending;
  }

  async resign(): Promise<void> {
    this.campaignAbort?.abort('resigned');
    const candidacy = this.current;
    if (candidacy) await this.end(candidacy, 'resigned');
    await this.pending?.catch(() => undefined);
  }

  private async campaignLoop(signal: AbortSignal): Promise<AbortSignal> {
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      try {
        const won = await this.tryOnce(signal);
        if (won) return won;
      } catch (e) {
        if (signal.aborted) throw abortError(signal);
        if (isCoordinationError(e, 'CLOSED')) throw e;
        this.logger?.warn({ election: this.name, err: e }, 'campaign step failed; retrying');
      }
      await sleep(this.retryIntervalMs, signal);
    }
  }

  /** One candidacy: resolves with the leadership signal, or undefined if the candidacy ended first. */
  private async tryOnce(signal: AbortSignal): Promise<AbortSignal | undefined> {
    const granting = this.store.grantLease(this.options.ttlSeconds, {
      renewIntervalMs: this.options.renewIntervalMs,
      renewDeadlineMs: this.options.renewDeadlineMs,
    });
    let lease: Lease;
    try {
      lease = await abortable(granting, signal);
    } catch (e) {
      // Aborted while the grant was in flight: give the lease back when it arrives.
      granting.then((l) => l.revoke(), () => undefined).catch(() => undefined);
      throw e;
    }
    const candidacy: Campaign = {
      lease,
      key: this.prefix + lease.id,
      candidates: new Map(),
      stop: new AbortController(),
      changed: () => undefined,
    };
    this.current = candidacy;
    const onAbort = () => void this.end(candidacy, 'campaign aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    void lease.lost.then(() => this.end(candidacy, `lease ${lease.id} lost`));
    try {
      const created = await this.store.transaction(
        [{ key: candidacy.key, modRevision: 0 }],
        [{ type: 'put', key: candidacy.key, value: this.candidateId, lease: lease.id }],
      );
      if (!created.succeeded) throw new CoordinationError('UNAVAILABLE', `election key ${candidacy.key} already exists`);
      const { items, revision } = await this.store.list(this.prefix);
      for (const kv of items) candidacy.candidates.set(kv.key, kv);
      candidacy.watch = await this.store.watchPrefix(
        this.prefix,
        {
          onEvent: (event) => {
            if (event.type === 'put') candidacy.candidates.set(event.key, event.kv);
            else candidacy.candidates.delete(event.key);
            candidacy.changed();
          },
          onReset: (all) => {
            candidacy.candidates.clear();
            for (const kv of all) candidacy.candidates.set(kv.key, kv);
            candidacy.changed();
          },
          onError: (error) => void this.end(candidacy, `election watch failed: ${error.message}`),
        },
        { fromRevision: revision + 1 },
      );
      if (candidacy.stop.signal.aborted) {
        await candidacy.watch.close();
        return undefined;
      }
      const elected = await this.waitUntilFirst(candidacy);
      if (!elected) return undefined;
      const leadership = new AbortController();
      candidacy.leadership = leadership;
      this.logger?.info({ election: this.name, candidate: this.candidateId, lease: lease.id }, 'elected leader');
      return leadership.signal;
    } catch (e) {
      await this.end(candidacy, 'campaign failed');
      throw e;
    } finally {
      // Once elected, the campaign signal no longer matters: leadership ends by resign() or by loss.
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Resolves true when this candidate's key is the oldest, false when the candidacy ends first. */
  private waitUntilFirst(candidacy: Campaign): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const check = () => {
        if (candidacy.stop.signal.aborted) return finish(false);
        const mine = candidacy.candidates.get(candidacy.key);
        // Our key is gone (lease expired in the store, or deleted): this candidacy is over.
        if (!mine) {
          void this.end(candidacy, 'candidate key deleted');
          return finish(false);
        }
        if (lowest([...candidacy.candidates.values()])?.key === candidacy.key) finish(true);
      };
      const finish = (value: boolean) => {
        candidacy.changed = () => this.watchLeadership(candidacy);
        candidacy.stop.signal.removeEventListener('abort', check);
        resolve(value);
      };
      candidacy.changed = check;
      candidacy.stop.signal.addEventListener('abort', check, { once: true });
      check();
    });
  }

  /** While leading: losing our key means losing leadership. */
  private watchLeadership(candidacy: Campaign): void {
    if (candidacy.leadership && !candidacy.candidates.has(candidacy.key)) {
      void this.end(candidacy, 'leader key deleted');
    }
  }

  /** End a candidacy: leadership aborts first, then the watch closes and the lease is revoked. */
  private async end(candidacy: Campaign, reason: string): Promise<void> {
    if (!candidacy.stop.signal.aborted) {
      if (candidacy.leadership && !candidacy.leadership.signal.aborted) {
        const log = { election: this.name, candidate: this.candidateId, reason };
        if (reason === 'resigned') this.logger?.info(log, 'leadership given up');
        else this.logger?.warn(log, 'leadership lost');
        candidacy.leadership.abort(new CoordinationError('LEASE_LOST', `leadership of ${this.name} lost: ${reason}`));
      }
      candidacy.stop.abort(reason);
      if (this.current === candidacy) this.current = undefined;
    }
    await Promise.allSettled([candidacy.watch?.close(), candidacy.lease.revoke()]);
  }
}

/** The candidate with the lowest create revision (the leader), if any. */
function lowest(items: KeyValue[]): KeyValue | undefined {
  let min: KeyValue | undefined;
  for (const kv of items) if (!min || kv.createRevision < min.createRevision) min = kv;
  return min;
}
