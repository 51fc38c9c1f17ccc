/**
 * TCP cuts between roles, the long form (`npm run test:chaos`): every role pair cut (reset) and
 * blackholed (connections then stranded half-open) at least once each — two passes of the shuffled
 * round-robin, or more if the chaos lasts — one pair at a time, with a kill -9 every 15 s beside it by
 * default. Sized by LCM_CHAOS_SESSIONS (default 50), LCM_CHAOS_SECONDS (default 420),
 * LCM_CHAOS_KILL_EVERY_MS (default 15000, 0 = no kills), LCM_CHAOS_SETTLE_SECONDS (default 300), and
 * LCM_LINKS_HOLD_MS (how long each cut lasts, default 5000). Prints the per-pair figures
 * docs/reliability.md records ("Cuts between roles").
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from './chaos.ts';
import { formatPairFigures, linkChaosRun } from './links.ts';
import { chaosOptionsFromEnv } from './run.ts';

describe('chaos: TCP cuts between roles (long form)', () => {
  it('holds every invariant while each role pair is cut and blackholed', async () => {
    const options = chaosOptionsFromEnv({ sessions: 50, chaosSeconds: 420, killEveryMs: 15_000, settleSeconds: 300 });
    const holdMs = Number(process.env.LCM_LINKS_HOLD_MS ?? 5000);
    const report = await linkChaosRun(options, { holdMs, everyMs: 500, lanes: 1, watchMs: 8000 }, (line) => console.log(line));
    console.log(formatReport(report));
    console.log(formatPairFigures(report.pairs));
    console.log(`event delivery to the sink: ${JSON.stringify(report.sinkDelivery)}`);
    const notBoth = report.pairs.filter((p) => p.cut === 0 || p.blackhole === 0).map((p) => p.pair);
    expect(notBoth).toEqual([]);
    expect(report.findings).toEqual({ stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] });
    expect(report.sessions).toBeGreaterThanOrEqual(options.sessions);
  });
});
