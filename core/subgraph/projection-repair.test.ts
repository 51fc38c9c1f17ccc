import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../logging.ts';
import { startProjectionRepair, type ProjectionRepair } from './projection-repair.ts';

const logger = () => ({ warn: vi.fn() }) as unknown as Logger & { warn: ReturnType<typeof vi.fn> };

describe('startProjectionRepair', () => {
  let repair: ProjectionRepair | undefined;
  afterEach(() => {
    repair?.stop();
    vi.useRealTimers();
  });

  it('runs a round at start and every interval, and logs only rounds that wrote something', async () => {
    vi.useFakeTimers();
    const log = logger();
    const results = [0, 2, 0];
    const run = vi.fn(async () => results.shift() ?? 0);
    repair = startProjectionRepair({ what: 'test projections', everyMs: 1000, logger: log, repair: run });
    await repair.first;
    expect(run).toHaveBeenCalledTimes(1);
    expect(log.warn).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(run).toHaveBeenCalledTimes(2);
    expect(log.warn).toHaveBeenCalledWith({ repaired: 2 }, 'test projections were missing or behind; written again');
    repair.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('a failed round is logged, never thrown, and the next round retries', async () => {
    vi.useFakeTimers();
    const log = logger();
    const run = vi.fn().mockRejectedValueOnce(new Error('etcd unreachable')).mockResolvedValue(1);
    repair = startProjectionRepair({ what: 'test projections', everyMs: 1000, logger: log, repair: run });
    await expect(repair.first).resolves.toBeUndefined();
    expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ err: expect.any(Error) }), 'test projections: repair failed; next round retries');
    await vi.advanceTimersByTimeAsync(1000);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('does not stack rounds: a slow round is not started again while it runs', async () => {
    vi.useFakeTimers();
    let finish: (n: number) => void = () => undefined;
    const run = vi.fn(() => new Promise<number>((resolve) => (finish = resolve)));
    repair = startProjectionRepair({ what: 'test projections', everyMs: 1000, logger: logger(), repair: run });
    await vi.advanceTimersByTimeAsync(3500);
    expect(run).toHaveBeenCalledTimes(1);
    finish(0);
    await repair.first;
    await vi.advanceTimersByTimeAsync(1000);
    expect(run).toHaveBeenCalledTimes(2);
  });
});
