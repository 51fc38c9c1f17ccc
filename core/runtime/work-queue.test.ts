import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { prometheusWorkQueueMetrics } from './metrics.ts';
import { defaultControllerRateLimiter, ItemExponentialBackoff, MaxOfRateLimiter, TokenBucketRateLimiter } from './rate-limiter.ts';
import { runWorkers, WorkQueue } from './work-queue.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('rate limiters', () => {
  it('per-item exponential backoff doubles from the base up to the cap, per item, until forgotten', () => {
    const limiter = new ItemExponentialBackoff<string>({ baseDelayMs: 10, maxDelayMs: 100 });
    expect([1, 2, 3, 4, 5, 6].map(() => limiter.when('a'))).toEqual([10, 20, 40, 80, 100, 100]);
    expect(limiter.when('b')).toBe(10);
    expect(limiter.retries('a')).toBe(6);
    limiter.forget('a');
    expect(limiter.retries('a')).toBe(0);
    expect(limiter.when('a')).toBe(10);
  });

  it('backoff stays at the cap after very many failures (no overflow)', () => {
    const limiter = new ItemExponentialBackoff<string>();
    let delay = 0;
    for (let i = 0; i < 2000; i++) delay = limiter.when('a');
    expect(delay).toBe(1_000_000);
  });

  it('the token bucket lets a burst through, then spaces retries at the rate, and refills over time', () => {
    let now = 0;
    const bucket = new TokenBucketRateLimiter<string>({ qps: 2, burst: 3, now: () => now });
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => bucket.when(k))).toEqual([0, 0, 0, 500, 1000]);
    now += 10_000;
    expect(bucket.when('f')).toBe(0);
  });

  it('the default controller limiter takes the longer of backoff and bucket (client-go defaults)', () => {
    const now = 0;
    const limiter = defaultControllerRateLimiter<string>({ now: () => now });
    expect([1, 2, 3].map(() => limiter.when('a'))).toEqual([5, 10, 20]);
    // 97 more distinct items empty the 100-token bucket; the next retry waits for a token (10 qps).
    for (let i = 0; i < 97; i++) limiter.when(`k${i}`);
    expect(limiter.when('fresh')).toBe(100);
    expect(limiter.retries('a')).toBe(3);
    const maxOf = new MaxOfRateLimiter<string>(new ItemExponentialBackoff({ baseDelayMs: 1 }), new ItemExponentialBackoff({ baseDelayMs: 7 }));
    expect(maxOf.when('x')).toBe(7);
  });
});

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('dedupes an item added while it is queued, and hands items out in order', async () => {
    const queue = new WorkQueue<string>({ name: 'dedupe' });
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
    expect(queue.length).toBe(0);
  });

  it('never hands out an item being processed: re-added meanwhile, it is queued again on done()', async () => {
    const queue = new WorkQueue<string>({ name: 'exclusive' });
    queue.add('a');
    const item = await queue.get();
    queue.add('a');
    queue.add('a');
    expect(queue.length).toBe(0);
    let second: string | undefined;
    void queue.get().then((i) => (second = i));
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done(item!);
    await Promise.resolve();
    expect(second).toBe('a');
    expect(queue.inFlight).toBe(1);
  });

  it('addAfter queues the item when its delay ends; the earliest pending delay wins', async () => {
    const queue = new WorkQueue<string>({ name: 'delay' });
    queue.addAfter('a', 1000);
    queue.addAfter('a', 300);
    queue.addAfter('a', 5000);
    expect(queue.delayed).toBe(1);
    await vi.advanceTimersByTimeAsync(299);
    expect(queue.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(queue.length).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(queue.length).toBe(1);
    queue.addAfter('b', 0);
    expect(queue.length).toBe(2);
  });

  it('addRateLimited backs an item off exponentially until it is forgotten', async () => {
    const queue = new WorkQueue<string>({ name: 'backoff', rateLimiter: new ItemExponentialBackoff({ baseDelayMs: 100, maxDelayMs: 1000 }) });
    const readyAfter = async (): Promise<number> => {
      queue.addRateLimited('a');
      let waited = 0;
      while (queue.length === 0) {
        await vi.advanceTimersByTimeAsync(10);
        waited += 10;
      }
      queue.done((await queue.get())!);
      return waited;
    };
    expect([await readyAfter(), await readyAfter(), await readyAfter(), await readyAfter(), await readyAfter()]).toEqual([100, 200, 400, 800, 1000]);
    expect(queue.retries('a')).toBe(5);
    queue.forget('a');
    expect(await readyAfter()).toBe(100);
  });

  it('runs at most `concurrency` items at once and processes every item', async () => {
    const queue = new WorkQueue<number>({ name: 'pool' });
    let running = 0;
    let peak = 0;
    const processed: number[] = [];
    const workers = runWorkers(queue, 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 10 + (n % 4) * 5));
      processed.push(n);
      running--;
    });
    for (let n = 0; n < 20; n++) queue.add(n);
    await vi.advanceTimersByTimeAsync(1000);
    expect(processed.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
    await queue.shutdown();
    await workers;
  });

  it('under many workers the same key is never processed twice at once, and a re-add is not lost', async () => {
    const queue = new WorkQueue<string>({ name: 'same-key' });
    const active = new Set<string>();
    let overlaps = 0;
    const runs = new Map<string, number>();
    const workers = runWorkers(queue, 8, async (key) => {
      if (active.has(key)) overlaps++;
      active.add(key);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      // Events keep arriving for the key while it is being reconciled.
      queue.add(key);
      await new Promise((r) => setTimeout(r, 5));
      active.delete(key);
      if (runs.get(key)! >= 3) queue.forget(key);
    });
    for (let i = 0; i < 4; i++) queue.add('hot');
    queue.add('cold');
    await vi.advanceTimersByTimeAsync(14);
    expect(overlaps).toBe(0);
    expect(runs.get('hot')).toBeGreaterThanOrEqual(2);
    const stopping = queue.shutdown();
    await vi.advanceTimersByTimeAsync(10);
    await stopping;
    await workers;
    expect(overlaps).toBe(0);
  });

  it('shutdown drops queued and delayed items, releases idle workers, and waits for items in flight', async () => {
    const queue = new WorkQueue<string>({ name: 'stop' });
    const gate = deferred();
    const processed: string[] = [];
    const workers = runWorkers(queue, 1, async (key) => {
      if (key === 'slow') await gate.promise;
      processed.push(key);
    });
    queue.add('slow');
    queue.add('queued');
    queue.addAfter('later', 100);
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    const stopping = queue.shutdown().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(200);
    expect(stopped).toBe(false);
    queue.add('after-shutdown');
    gate.resolve();
    await stopping;
    await workers;
    expect(processed).toEqual(['slow']);
    expect(await queue.get()).toBeUndefined();
  });

  it('shutdownWithDrain processes what is queued before it resolves', async () => {
    const queue = new WorkQueue<string>({ name: 'drain' });
    const processed: string[] = [];
    const workers = runWorkers(queue, 2, async (key) => {
      await new Promise((r) => setTimeout(r, 20));
      processed.push(key);
    });
    for (const key of ['a', 'b', 'c', 'd', 'e']) queue.add(key);
    const draining = queue.shutdownWithDrain();
    queue.add('too-late');
    await vi.advanceTimersByTimeAsync(200);
    await draining;
    await workers;
    expect(processed.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('a worker survives a processing function that throws', async () => {
    const queue = new WorkQueue<string>({ name: 'throws' });
    const processed: string[] = [];
    const workers = runWorkers(queue, 1, async (key) => {
      if (key === 'bad') throw new Error('boom');
      processed.push(key);
    });
    queue.add('bad');
    queue.add('good');
    await vi.advanceTimersByTimeAsync(0);
    expect(processed).toEqual(['good']);
    expect(queue.inFlight).toBe(0);
    await queue.shutdown();
    await workers;
  });

  it('reports depth, adds, retries, queue and work durations to Prometheus', async () => {
    const registry = new Registry();
    const queue = new WorkQueue<string>({ name: 'metered', metrics: prometheusWorkQueueMetrics(registry, 'metered') });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.name === 'metered')?.value;
    expect(await value('lcm_workqueue_depth')).toBe(2);
    expect(await value('lcm_workqueue_adds_total')).toBe(2);
    await vi.advanceTimersByTimeAsync(50);
    const item = (await queue.get())!;
    await vi.advanceTimersByTimeAsync(30);
    expect(await value('lcm_workqueue_longest_running_processor_seconds')).toBeCloseTo(0.03, 3);
    queue.done(item);
    queue.addRateLimited('a');
    expect(await value('lcm_workqueue_retries_total')).toBe(1);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/lcm_workqueue_work_duration_seconds_count\{name="metered"\} 1/);
    expect(metrics).toMatch(/lcm_workqueue_queue_duration_seconds_sum\{name="metered"\} 0\.05/);
    // A second queue with the same registry shares the metric families.
    new WorkQueue<string>({ name: 'other', metrics: prometheusWorkQueueMetrics(registry, 'other') }).add('x');
    expect(await registry.metrics()).toMatch(/lcm_workqueue_depth\{name="other"\} 1/);
  });
});
