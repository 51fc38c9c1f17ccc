/**
 * The stores under chaos in CI (issue 12), short form: one cluster (every role its own process, two of
 * each controller, real etcd and FerretDB), 10 sessions plus a writer adding one every 10 s, and the
 * script: the leaders of the three controllers killed with SIGKILL (failover timed against the lease
 * TTL), etcd killed and restarted, etcd's history compacted behind every watch, FerretDB killed and
 * restarted. Every invariant of the chaos run holds, no failover is slower than TTL + 5 s (or faster
 * than the lease allows), no two leaders, no double placement, no acknowledged write lost, every
 * compaction re-listed, the subscription never hung. Long form: test/chaos/stores.chaos.ts.
 */
import { describe, expect, it } from 'vitest';
import { NO_STORE_FINDINGS, storesRun } from './stores-run.ts';

describe('stores under chaos (short form)', () => {
  it('fails over within the lease TTL and survives etcd restart, compaction and a database restart', { timeout: 12 * 60_000 }, async () => {
    const started = Date.now();
    const r = await storesRun(
      { sessions: 10, script: ['leader', 'leader', 'etcd-restart', 'leader', 'compaction', 'db-restart'], chaosSeconds: 140, settleSeconds: 240 },
      (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`),
    );
    expect(r.stores.failovers).toHaveLength(3);
    expect(r.stores.acked.creates.length).toBeGreaterThan(0);
    expect(r.findings).toEqual(NO_STORE_FINDINGS);
  });
});
