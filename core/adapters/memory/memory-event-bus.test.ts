import { describe, expect, it } from 'vitest';
import { cloudEvent, EventTopic, type CloudEvent } from '../../events/cloudevent.ts';
import { eventCursorOf, subscribeIterator } from '../../ports/event-bus.ts';
import { MemoryEventBus } from './memory-event-bus.ts';

const sessionEvent = (n: number): CloudEvent =>
  cloudEvent({ source: 'test', type: 'lablet_session.updated', subject: 's1', data: { id: 's1', n }, entityversion: n });

const refusal = (bus: MemoryEventBus, after: string) =>
  new Promise<{ code: string; delivered: number }>((resolve) => {
    let delivered = 0;
    bus.subscribe(EventTopic.session, () => delivered++, { after, onError: (e) => resolve({ code: e.code, delivered }) });
  });

describe('MemoryEventBus', () => {
  it('resumes after a cursor: exactly the events after it, in order, then live ones', async () => {
    const bus = new MemoryEventBus();
    const seen: { n: number; cursor: string }[] = [];
    const stop = bus.subscribe(EventTopic.session, (e, cursor) => seen.push({ n: e.entityversion!, cursor }));
    for (let n = 1; n <= 3; n++) await bus.publish(EventTopic.session, sessionEvent(n));
    stop();
    for (let n = 4; n <= 6; n++) await bus.publish(EventTopic.session, sessionEvent(n));
    await bus.publish(EventTopic.worker, cloudEvent({ source: 'test', type: 'cml_worker.updated', data: {} }));
    const resumed: number[] = [];
    bus.subscribe(EventTopic.session, (e) => resumed.push(e.entityversion!), { after: seen[1]!.cursor });
    await bus.publish(EventTopic.session, sessionEvent(7));
    expect(resumed).toEqual([3, 4, 5, 6, 7]);
    expect(new Set(seen.map((s) => s.cursor)).size).toBe(3);
  });

  it('refuses a trimmed cursor, a stale one (older than the retention) and a foreign one with SUBSCRIPTION_CURSOR_EXPIRED', async () => {
    let now = 1_000_000;
    const bus = new MemoryEventBus({ maxEventsPerTopic: 5, retentionSeconds: 60, now: () => now });
    const cursors: string[] = [];
    bus.subscribe(EventTopic.session, (_, cursor) => cursors.push(cursor));
    for (let n = 1; n <= 10; n++) await bus.publish(EventTopic.session, sessionEvent(n));
    expect(await refusal(bus, cursors[0]!)).toEqual({ code: 'SUBSCRIPTION_CURSOR_EXPIRED', delivered: 0 });
    // The newest dropped event's cursor is fine: nothing after it is gone.
    const after: number[] = [];
    bus.subscribe(EventTopic.session, (e) => after.push(e.entityversion!), { after: cursors[4]! });
    expect(after).toEqual([6, 7, 8, 9, 10]);
    now += 61_000;
    expect(await refusal(bus, cursors[8]!)).toEqual({ code: 'SUBSCRIPTION_CURSOR_EXPIRED', delivered: 0 });
    expect(await refusal(bus, 'not-a-cursor')).toMatchObject({ code: 'SUBSCRIPTION_CURSOR_EXPIRED' });
    const other = new MemoryEventBus();
    expect(await refusal(other, cursors[9]!)).toMatchObject({ code: 'SUBSCRIPTION_CURSOR_EXPIRED' });
  });

  it('subscribeIterator tags each value with its cursor and rejects with the code for an expired cursor', async () => {
    const bus = new MemoryEventBus({ maxEventsPerTopic: 2 });
    const iterator = subscribeIterator(bus, EventTopic.session, (e) => ({ n: e.entityversion }));
    for (let n = 1; n <= 4; n++) await bus.publish(EventTopic.session, sessionEvent(n));
    const first = (await iterator.next()).value!;
    const cursor = eventCursorOf(first)!;
    expect(cursor).toEqual(expect.any(String));
    const resumed = subscribeIterator(bus, EventTopic.session, (e) => e.entityversion, { after: cursor });
    await expect(resumed.next()).rejects.toHaveProperty('code', 'SUBSCRIPTION_CURSOR_EXPIRED');
    expect(await resumed.next()).toEqual({ value: undefined, done: true });
    const recent = subscribeIterator(bus, EventTopic.session, (e) => e.entityversion, { after: eventCursorOf((await iterator.next()).value)! });
    expect((await recent.next()).value).toBe(3);
    expect((await recent.next()).value).toBe(4);
    await Promise.all([iterator.return?.(), recent.return?.()]);
  });
});
