/**
 * The stores under chaos, long form (`npm run test:chaos`): the short form's script repeated
 * LCM_STORES_ROUNDS times (default 4: 12 leader kills, 4 etcd restarts, 4 compactions, 4 database
 * restarts), LCM_CHAOS_SESSIONS sessions (default 30), optionally random kills beside it
 * (LCM_CHAOS_KILL_EVERY_MS, default 0: a random kill of the standby would time its restart, not the
 * failover). Prints the failover distribution per controller that docs/reliability.md records.
 */
import { describe, expect, it } from 'vitest';
import { NO_STORE_FINDINGS, storesRun } from './stores-run.ts';
import type { StepKind } from './stores.ts';

const n = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

describe('stores under chaos (long form)', () => {
  it('fails over within the lease TTL and survives etcd restarts, compactions and database restarts', async () => {
    const rounds = n('LCM_STORES_ROUNDS', 4);
    const round: StepKind[] = ['leader', 'leader', 'etcd-restart', 'leader', 'compaction', 'db-restart'];
    const script = Array.from({ length: rounds }, () => round).flat();
    const started = Date.now();
    const r = await storesRun(
      {
        sessions: n('LCM_CHAOS_SESSIONS', 30),
        script,
        // about 130 s per round (three failovers of ~15 s and a restart each, the store steps, the pauses)
        chaosSeconds: n('LCM_CHAOS_SECONDS', rounds * 130),
        settleSeconds: n('LCM_CHAOS_SETTLE_SECONDS', 600),
        killEveryMs: n('LCM_CHAOS_KILL_EVERY_MS', 0),
      },
      (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`),
    );
    expect(r.stores.failovers).toHaveLength(rounds * 3);
    expect(r.findings).toEqual(NO_STORE_FINDINGS);
  });
});
