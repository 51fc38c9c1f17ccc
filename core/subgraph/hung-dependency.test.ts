/**
 * A subgraph's change path when one dependency call never settles (a promise lost with a dead
 * connection): the aggregate's queue must move on and its callers be answered (issue 12: after
 * blackholed links one session's changes went unanswered for good in the sessions subgraph, every
 * later change of it queued behind one that never finished).
 */
import { describe, expect, it } from 'vitest';
import { MemoryCoordinationStore } from '../adapters/memory/memory-coordination.ts';
import { MemoryEventBus } from '../adapters/memory/memory-event-bus.ts';
import { EventTopic } from '../events/cloudevent.ts';
import { silentLogger } from '../logging.ts';
import { AggregateChanges, changedTo } from './aggregate-changes.ts';
import { ChangePublisher } from './change-publisher.ts';
import { KeyedSerializer } from './keyed-serializer.ts';

const never = <T>(): Promise<T> => new Promise<T>(() => {});
const settledWithin = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      () => 'fulfilled',
      () => 'rejected',
    ),
    new Promise((r) => setTimeout(() => r('pending'), ms)),
  ]);

describe('KeyedSerializer with a time limit', () => {
  it('fails a task that never settles after the limit and runs the key’s next task', async () => {
    const timedOut: string[] = [];
    const serializer = new KeyedSerializer({ timeoutMs: 50, onTimeout: (key) => timedOut.push(key) });
    const hung = serializer.run('a', () => never<string>());
    const next = serializer.run('a', () => Promise.resolve('next'));
    await expect(hung).rejects.toThrow(/did not finish within 50 ms/);
    await expect(next).resolves.toBe('next');
    expect(timedOut).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 0));
    expect(serializer.activeKeys).toBe(0);
  });

  it('leaves a task that finishes in time alone', async () => {
    const serializer = new KeyedSerializer({ timeoutMs: 200 });
    await expect(serializer.run('a', () => new Promise((r) => setTimeout(() => r('done'), 20)))).resolves.toBe('done');
  });
});

describe('AggregateChanges when a dependency call never settles', () => {
  type Doc = { id: string; revision: number };
  const docs = new Map<string, Doc>([['s1', { id: 's1', revision: 1 }]]);
  const spec = (hangSave: () => boolean) => ({
    entity: 'Doc',
    changeTimeoutMs: 100,
    load: (id: string) => Promise.resolve(docs.get(id)),
    save: (next: Doc) => {
      if (hangSave()) return never<void>();
      docs.set(next.id, next);
      return Promise.resolve();
    },
    publish: () => Promise.resolve(),
  });

  it('answers the hung change with an error and applies the next change of the aggregate', async () => {
    let hang = true;
    const changes = new AggregateChanges<Doc>(spec(() => hang));
    const first = changes.run('s1', 'test', null, (d) => changedTo({ ...d, revision: d.revision + 1 }, 'changed'));
    const second = changes.run('s1', 'test', null, (d) => {
      hang = false;
      return changedTo({ ...d, revision: d.revision + 1 }, 'changed');
    });
    expect(await settledWithin(first, 1000)).toBe('rejected');
    expect(await settledWithin(second, 1000)).toBe('fulfilled');
    expect(docs.get('s1')?.revision).toBe(2);
  });
});

describe('ChangePublisher when the coordination store never answers', () => {
  it('gives up the publish after its deadline instead of holding the change', async () => {
    const coordination = new MemoryCoordinationStore();
    coordination.put = () => never();
    const publisher = new ChangePublisher('/lcm/subgraphs/test', new MemoryEventBus(), coordination, silentLogger, undefined, 50);
    const publishing = publisher.publish({
      topic: EventTopic.session,
      type: 'lcm.session.updated.v1',
      subject: 's1',
      data: {},
      revision: 2,
      projections: [{ key: '/lcm/sessions/s1/status', value: { status: 'READY' } }],
    });
    expect(await settledWithin(publishing, 1000)).toBe('fulfilled');
  });
});
