import { describe, expect, it } from 'vitest';
import { PushIterator } from './push-iterator.ts';

describe('PushIterator', () => {
  const drain = async <T>(iterator: AsyncIterator<T>): Promise<T[]> => {
    const out: T[] = [];
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) return out;
      out.push(value);
    }
  };

  it('delivers pushed values in order, to a waiting or a later reader, until ended', async () => {
    const iterator = new PushIterator<number>(() => {});
    const first = iterator.next();
    iterator.push(1);
    expect(await first).toEqual({ value: 1, done: false });
    iterator.push(2);
    iterator.push(3);
    iterator.end();
    expect(iterator.push(4)).toBe(false);
    expect(await drain(iterator)).toEqual([2, 3]);
  });

  it('ends a reader that falls too far behind with the overflow value', async () => {
    const iterator = new PushIterator<string>(() => {}, 2, () => 'too slow');
    expect(iterator.push('a')).toBe(true);
    expect(iterator.push('b')).toBe(true);
    expect(iterator.push('c')).toBe(false);
    expect(await drain(iterator)).toEqual(['too slow']);
  });

  it('reports the reader leaving once, and drops what was buffered', async () => {
    let returned = 0;
    const iterator = new PushIterator<number>(() => returned++);
    iterator.push(1);
    await iterator.return();
    await iterator.return();
    expect(returned).toBe(1);
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });
});
