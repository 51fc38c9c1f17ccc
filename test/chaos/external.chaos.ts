/**
 * External faults under load, the long form (`npm run test:chaos`): by default 50 sessions, 5 minutes
 * of faults armed every 40 s each, beside a kill -9 every 8 s; sized by LCM_EXTERNAL_* (SESSIONS,
 * SECONDS, KILL_EVERY_MS, SETTLE_SECONDS, EVERY_MS, FAULTS=a,b to arm only some; test/chaos/external.ts).
 * Prints the per-fault figures docs/reliability.md records.
 */
import { describe, expect, it } from 'vitest';
import { externalOptionsFromEnv, externalRun, formatExternal } from './external.ts';

describe('external faults under load (long form)', () => {
  it('holds every invariant while EC2, CML, LDS and grading misbehave', async () => {
    const options = externalOptionsFromEnv({ sessions: 50, chaosSeconds: 300, killEveryMs: 8000, settleSeconds: 600, bootTimeoutSeconds: 30, everyMs: 40_000, holdMs: 8_000 });
    const report = await externalRun(options, (line) => console.log(line));
    console.log(formatExternal(report));
    expect(report.chaos.findings).toEqual({ stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] });
    expect(report.findings).toEqual({ backwards: [], reports: [], reasons: [], unexplained: [] });
    expect(report.chaos.sessions).toBeGreaterThanOrEqual(options.sessions);
  });
});
