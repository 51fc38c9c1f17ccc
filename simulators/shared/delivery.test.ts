import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { cloudEvent, type CloudEvent } from '../../core/events/cloudevent.ts';
import { cloudEventsHandler } from '../../core/events/cloudevents-http.ts';
import { listen, type RunningServer } from '../../core/ops/ops-server.ts';
import { backoffDelay, CloudEventDelivery, DEFAULT_RETRY_POLICY } from './delivery.ts';
import { eventually } from '../../test/support/eventually.ts';

const event = (subject: string, n = 0): CloudEvent => cloudEvent({ source: 'test', type: 'test.happened', subject, data: { n } });

describe('backoffDelay', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000 };
  it('grows exponentially from the initial delay and is capped', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(policy, attempt))).toEqual([100, 200, 400, 800, 1_000]);
  });
  it('waits at least Retry-After, still within the cap', () => {
    expect(backoffDelay(policy, 1, 300)).toBe(300);
    expect(backoffDelay(policy, 1, 60_000)).toBe(1_000);
    expect(backoffDelay(policy, 3, 10)).toBe(400);
  });
});

describe('CloudEventDelivery', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A sink whose handler decides per event: accept, or throw (→ 500, retried). */
  async function sink(accept: (e: CloudEvent) => boolean): Promise<{ server: RunningServer; got: CloudEvent[] }> {
    const got: CloudEvent[] = [];
    const handler = cloudEventsHandler({
      onEvent(e) {
        if (!accept(e)) throw new Error('not now');
        got.push(e);
      },
    });
    const server = await listen(http.createServer((req, res) => void handler(req, res)), 0);
    cleanups.push(() => server.close());
    return { server, got };
  }

  it('a session whose events keep failing does not hold up other sessions', async () => {
    const { server, got } = await sink((e) => e.subject !== 'A');
    const delivery = new CloudEventDelivery({ sinkUrl: server.url, retry: { initialDelayMs: 20, maxDelayMs: 20, maxAttempts: 50 } });
    cleanups.push(() => delivery.close());
    delivery.enqueue(event('A', 1));
    delivery.enqueue(event('A', 2));
    delivery.enqueue(event('B', 1));
    await eventually('B to be delivered', () => delivery.snapshot().delivered.length === 1, { timeoutMs: 5_000 });
    expect(got.map((e) => e.subject)).toEqual(['B']);
    expect(delivery.pending).toBe(2);
  });

  it('retries an attempt that times out', async () => {
    let requests = 0;
    const got: CloudEvent[] = [];
    const handler = cloudEventsHandler({ onEvent: (e) => void got.push(e) });
    const server = await listen(
      http.createServer((req, res) => {
        requests++;
        if (requests === 1) return; // never answer the first request
        void handler(req, res);
      }),
      0,
    );
    cleanups.push(() => server.close());
    const delivery = new CloudEventDelivery({ sinkUrl: server.url, attemptTimeoutMs: 50, retry: { initialDelayMs: 5 } });
    cleanups.push(() => delivery.close());
    delivery.enqueue(event('S'));
    await delivery.idle();
    expect(got).toHaveLength(1);
    expect(delivery.snapshot().delivered[0]?.attempts).toBe(2);
  });

  it('treats a refused connection as retryable and dead-letters after maxAttempts with the reason', async () => {
    const { server } = await sink(() => true);
    const url = server.url;
    await server.close();
    const delivery = new CloudEventDelivery({ sinkUrl: url, retry: { initialDelayMs: 1, maxAttempts: 2 } });
    cleanups.push(() => delivery.close());
    delivery.enqueue(event('S'));
    await delivery.idle();
    const [letter] = delivery.snapshot().deadLetters;
    expect(letter).toMatchObject({ attempts: 2, sinkUrl: url });
    expect(letter?.reason).toMatch(/gave up after 2 attempts: sink unreachable: ECONNREFUSED/);
  });

  it('close() stops a delivery that is waiting to retry, and refuses new events', async () => {
    const { server } = await sink(() => false);
    const delivery = new CloudEventDelivery({ sinkUrl: server.url, retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    delivery.enqueue(event('S'));
    await eventually('the first failed attempt', () => delivery.snapshot().stats.failedAttempts === 1, { timeoutMs: 5_000 });
    const started = Date.now();
    await delivery.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(delivery.enqueue(event('S'))).toBe(false);
    await delivery.idle();
  });

  it('sends the sink token as a bearer token; a sink refusing it (401) dead-letters at once, and a redelivery with the right one succeeds', async () => {
    const TOKEN = 'sink-token-0123456789abcdef';
    const got: CloudEvent[] = [];
    const authorizations: Array<string | undefined> = [];
    const handler = cloudEventsHandler({ bearerToken: TOKEN, onEvent: (e) => void got.push(e) });
    const server = await listen(
      http.createServer((req, res) => {
        authorizations.push(req.headers.authorization);
        void handler(req, res);
      }),
      0,
    );
    cleanups.push(() => server.close());
    const delivery = new CloudEventDelivery({ sinkUrl: server.url, sinkToken: 'wrong-token-0123456789abcdef', retry: { initialDelayMs: 1 } });
    cleanups.push(() => delivery.close());
    expect(delivery.snapshot().sinkTokenSet).toBe(true);
    delivery.enqueue(event('S'));
    await delivery.idle();
    expect(delivery.snapshot().deadLetters[0]).toMatchObject({ attempts: 1, lastStatus: 401 });
    expect(got).toEqual([]);
    delivery.setSinkToken(TOKEN);
    expect(delivery.redeliverDeadLetters()).toBe(1);
    await delivery.idle();
    expect(got).toHaveLength(1);
    expect(authorizations).toEqual(['Bearer wrong-token-0123456789abcdef', `Bearer ${TOKEN}`]);
    // No token: no header at all.
    delivery.setSinkToken(null);
    delivery.enqueue(event('T'));
    await delivery.idle();
    expect(authorizations[2]).toBeUndefined();
    expect(JSON.stringify(delivery.snapshot())).not.toContain(TOKEN);
  });

  describe('injected event faults', () => {
    it('duplicate: the event is sent twice with the same id, the next N events only', async () => {
      const { server, got } = await sink(() => true);
      const delivery = new CloudEventDelivery({ sinkUrl: server.url });
      cleanups.push(() => delivery.close());
      delivery.setEventFault('duplicate', 1);
      const first = event('S', 1);
      delivery.enqueue(first);
      delivery.enqueue(event('S', 2));
      await delivery.idle();
      expect(got.map((e) => e.data)).toEqual([{ n: 1 }, { n: 1 }, { n: 2 }]);
      expect(got[0]?.id).toBe(first.id);
      expect(got[1]?.id).toBe(first.id);
      expect(delivery.eventFault('duplicate')).toBe(false);
      expect(delivery.snapshot().stats).toMatchObject({ enqueued: 2, delivered: 3, duplicated: 1 });
    });

    it('reorder: the event is held and sent right after the next event of its key; other keys are not held up', async () => {
      const { server, got } = await sink(() => true);
      const delivery = new CloudEventDelivery({ sinkUrl: server.url, reorderHoldMs: 60_000 });
      cleanups.push(() => delivery.close());
      delivery.setEventFault('reorder', 1);
      delivery.enqueue(event('S', 1));
      delivery.enqueue(event('T', 1));
      await eventually('T delivered', () => delivery.snapshot().stats.delivered === 1, { timeoutMs: 5_000 });
      expect(delivery.snapshot()).toMatchObject({ held: 1, pending: 1, reorder: false });
      delivery.enqueue(event('S', 2));
      await delivery.idle();
      expect(got.map((e) => `${e.subject}${(e.data as { n: number }).n}`)).toEqual(['T1', 'S2', 'S1']);
      expect(delivery.snapshot().stats).toMatchObject({ reordered: 1, delivered: 3 });
    });

    it('reorder: a held event with nothing after it is sent when the hold runs out (late, not lost)', async () => {
      const { server, got } = await sink(() => true);
      const delivery = new CloudEventDelivery({ sinkUrl: server.url, reorderHoldMs: 50 });
      cleanups.push(() => delivery.close());
      delivery.setEventFault('reorder', true);
      const started = Date.now();
      delivery.enqueue(event('S', 1));
      await delivery.idle();
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      expect(got).toHaveLength(1);
      expect(delivery.eventFault('reorder')).toBe(true);
    });

    it('drop: the event is never sent, not dead-lettered (a redelivery cannot bring it back), only counted', async () => {
      const { server, got } = await sink(() => true);
      const delivery = new CloudEventDelivery({ sinkUrl: server.url });
      cleanups.push(() => delivery.close());
      delivery.setEventFault('drop', 1);
      const lost = event('S', 1);
      delivery.enqueue(lost);
      delivery.enqueue(event('S', 2));
      await delivery.idle();
      expect(got.map((e) => e.data)).toEqual([{ n: 2 }]);
      expect(delivery.redeliverDeadLetters()).toBe(0);
      const snap = delivery.snapshot();
      expect(snap.stats).toMatchObject({ enqueued: 2, delivered: 1, dropped: 1, deadLettered: 0 });
      expect(snap.dropped).toEqual([expect.objectContaining({ eventId: lost.id, orderingKey: 'S' })]);
      expect(snap.drop).toBe(false);
    });

    it('refuses a bad fault value', () => {
      const delivery = new CloudEventDelivery();
      expect(() => delivery.setEventFault('drop', -1)).toThrow(/drop must be a boolean or an integer/);
      expect(() => delivery.setEventFault('drop', 1.5)).toThrow(/drop/);
      expect(() => delivery.setEventFault('lose' as never, true)).toThrow(/unknown delivery fault/);
    });
  });

  it('rejects bad settings with a message naming them', () => {
    expect(() => new CloudEventDelivery({ sinkUrl: 'mailto:x@y' })).toThrow(/must use http or https/);
    const delivery = new CloudEventDelivery();
    expect(() => delivery.setRetry({ maxAttempts: 0 })).toThrow(/retry.maxAttempts/);
    expect(() => delivery.setMode('batch' as never)).toThrow(/mode must be "binary" or "structured"/);
    expect(() => delivery.setSinkDown(-1)).toThrow(/sinkDown/);
    expect(() => delivery.setSinkToken('two words')).toThrow(/sink token/);
    expect(() => new CloudEventDelivery({ sinkToken: 'line\nbreak' })).toThrow(/sink token/);
  });
});
