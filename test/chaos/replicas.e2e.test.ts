/**
 * Several replicas on one machine, in CI (issue 14; docs/adr/0015-atomic-test-store.md): two gateways
 * and two processes of every subgraph behind round-robin balancers, two of each controller, one etcd and
 * one FerretDB. 16 sessions driven through the gateways' balancer to their end; a subscriber on each
 * gateway replica must receive every revision of every session; no port clash (no double placement),
 * no capacity leak, no duplicate EC2 instance, no stuck session; both gateways answered operations and
 * both replicas of the sessions and workers subgraphs executed mutations. Longer or with kills:
 * `npx tsx test/chaos/replicas.ts` (LCM_CHAOS_* as test/chaos/run.ts).
 */
import { describe, expect, it } from 'vitest';
import { formatReplicasReport, replicasRun } from './replicas.ts';

describe('replicas', () => {
  it('keeps every guarantee with two of each gateway, subgraph and controller', { timeout: 10 * 60_000 }, async () => {
    const report = await replicasRun({ sessions: 16, chaosSeconds: 0, killEveryMs: 0, settleSeconds: 300, graceSeconds: 30 }, (line) => console.log(line));
    console.log(formatReplicasReport(report));
    expect(report.chaos.findings).toEqual({ stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] });
    expect(report.chaos.sessions).toBeGreaterThanOrEqual(16);
    expect(report.subscribers).toHaveLength(2);
    for (const s of report.subscribers) {
      expect(s.missed).toEqual([]);
      expect(s.errors).toBe(0);
      expect(s.events).toBeGreaterThan(16);
    }
    for (const name of ['gateway-1', 'gateway-2']) expect(report.gatewayOperations[name]).toBeGreaterThan(0);
    for (const name of ['sessions-1', 'sessions-2', 'workers-1', 'workers-2']) expect(report.subgraphMutations[name]).toBeGreaterThan(0);
  });
});
