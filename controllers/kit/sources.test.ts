import { describe, expect, it } from 'vitest';
import { MemoryCoordinationStore } from '../../core/adapters/memory/memory-coordination.ts';
import { CoordinationKeys, type WatchEvent } from '../../core/ports/coordination.ts';
import { eventually } from '../../test/support/eventually.ts';
import { withoutWatchWakeups } from './sources.ts';

describe('withoutWatchWakeups (LCM_CONTROLLER_WATCH=false)', () => {
  it('silences the session and worker status watches, and nothing else', async () => {
    const store = new MemoryCoordinationStore();
    const polling = withoutWatchWakeups(store);
    const seen: Record<string, string[]> = { sessions: [], workers: [], other: [] };
    const on = (bucket: string) => ({ onEvent: (e: WatchEvent) => void seen[bucket]!.push(e.key) });
    const watches = [
      await polling.watchPrefix(CoordinationKeys.sessions, on('sessions')),
      await polling.watchPrefix(CoordinationKeys.workers, on('workers')),
      await polling.watchPrefix('/lcm/other/', on('other')),
    ];
    await polling.put(CoordinationKeys.sessionStatus('s1'), '{"status":"PENDING","revision":1}');
    await polling.put(CoordinationKeys.workerStatus('w1'), '{"status":"RUNNING","revision":1}');
    await polling.put('/lcm/other/x', 'y');
    // Positive signal first: the unsilenced watch saw its change, made after the two others.
    await eventually('the other prefix to be delivered', () => seen.other!.length === 1);
    expect(seen).toEqual({ sessions: [], workers: [], other: ['/lcm/other/x'] });
    // Reads and writes go to the store itself.
    expect((await store.get(CoordinationKeys.sessionStatus('s1')))?.value).toContain('PENDING');
    await Promise.all(watches.map((w) => w.close()));
    await store.close();
  });
});
