/**
 * The long chaos run (`npm run test:chaos`): 500 sessions and 10 minutes of kill -9 by default, sized
 * by LCM_CHAOS_* (test/chaos/run.ts). Prints the figures docs/reliability.md records.
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from './chaos.ts';
import { chaosOptionsFromEnv, chaosRun } from './run.ts';

describe('chaos (long form)', () => {
  it('holds every invariant while random processes are killed', async () => {
    const options = chaosOptionsFromEnv({ sessions: 500, chaosSeconds: 600, killEveryMs: 4000, settleSeconds: 600 });
    const report = await chaosRun(options, (line) => console.log(line));
    console.log(formatReport(report));
    expect(report.findings).toEqual({ stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] });
    expect(report.sessions).toBeGreaterThanOrEqual(options.sessions);
  });
});
