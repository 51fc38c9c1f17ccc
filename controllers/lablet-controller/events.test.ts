import { describe, expect, it } from 'vitest';
import { MemoryCoordinationCluster } from '../../core/adapters/memory/memory-coordination.ts';
import { cloudEvent } from '../../core/events/cloudevent.ts';
import { SEEN_EVENTS_PREFIX, SeenEvents } from './events.ts';

describe('SeenEvents (processed event ids shared by replicas)', () => {
  it('remembers an event for every replica, keyed by source and id, under one lease per period', async () => {
    let now = 0;
    const cluster = new MemoryCoordinationCluster({ now: () => now });
    const [a, b] = [cluster.client(), cluster.client()];
    const seenA = new SeenEvents(a, 10, () => now);
    const seenB = new SeenEvents(b, 10, () => now);
    const e1 = cloudEvent({ source: 'lds', type: 'lds.session.started', data: {} });
    const e1OtherSource = { ...e1, source: 'grading-engine' };
    expect(await seenB.has(e1)).toBe(false);
    await seenA.add(e1);
    expect(await seenB.has(e1)).toBe(true);
    expect(await seenB.has(e1OtherSource)).toBe(false);
    const e2 = cloudEvent({ source: 'lds', type: 'lds.session.ended', data: {} });
    await seenA.add(e2);
    const leases = new Set((await a.list(SEEN_EVENTS_PREFIX)).items.map((kv) => kv.lease));
    expect(leases.size).toBe(1);
    // Past half the TTL a new lease takes the new ids; when the first one expires, its ids are forgotten.
    now = 6_000;
    const e3 = cloudEvent({ source: 'lds', type: 'lds.session.ended', data: {} });
    await seenA.add(e3);
    const all = (await a.list(SEEN_EVENTS_PREFIX)).items;
    expect(new Set(all.map((kv) => kv.lease)).size).toBe(2);
    cluster.expireLease([...leases][0] as string); // the first lease's TTL runs out
    expect(await seenB.has(e1)).toBe(false);
    expect(await seenB.has(e3)).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });
});
