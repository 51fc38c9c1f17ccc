/**
 * External faults under load, the CI form (issue 12): one cluster (test/chaos/cluster.ts), 12 sessions,
 * every external fault armed at least once during a minute (EC2 throttling, internal errors,
 * insufficient capacity, an instance lost; CML 502s, expired tokens, nodes that never boot; LDS and
 * grading events duplicated, reordered, lost), no kills. Every session ends ARCHIVED or TERMINATED with
 * a reason; no port clash, capacity leak or duplicate instance; no status entered twice; at most one
 * score report per session. The long form is test/chaos/external.chaos.ts.
 */
import { describe, expect, it } from 'vitest';
import { externalRun, FAULTS, formatExternal } from './external.ts';

describe('external faults under load (short form)', () => {
  it('ends every session, with a reason when TERMINATED, whatever EC2, CML, LDS and grading do', { timeout: 12 * 60_000 }, async () => {
    const report = await externalRun(
      { sessions: 12, chaosSeconds: 60, killEveryMs: 0, settleSeconds: 180, graceSeconds: 30, bootTimeoutSeconds: 20, everyMs: 20_000, holdMs: 6_000 },
      (line) => console.log(line),
    );
    console.log(formatExternal(report));
    expect(report.chaos.findings).toEqual({ stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] });
    expect(report.findings).toEqual({ backwards: [], reports: [], reasons: [], unexplained: [] });
    expect(report.chaos.sessions).toBeGreaterThanOrEqual(12);
    for (const f of FAULTS) expect(report.faults[f]?.armed, f).toBeGreaterThan(0);
  });
});
