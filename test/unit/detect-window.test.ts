// The detector's state primitives: a bucketed sliding-window counter and a bounded LRU map.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BUCKETS, Lru, WindowCounter } from '../../src/detect/window.ts';

describe('detect window counter', () => {
  test('counts within the window, forgets what slid out, per class', () => {
    const w = new WindowCounter(60_000, 2);
    const t0 = 1_700_000_000_000;
    w.add(t0, 0);
    w.add(t0 + 1000, 1);
    w.add(t0 + 30_000, 1);
    assert.equal(w.total(t0 + 30_000), 3);
    assert.deepEqual(w.byClass(t0 + 30_000), [1, 2]);
    assert.equal(w.total(t0 + 66_001), 1, 'the first two slid out');
    assert.equal(w.total(t0 + 200_000), 0);
  });

  test('never counts an event older than the window, never drops one younger than window - bucket', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 500_000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 200_000 }),
        (offsets, extra) => {
          const windowMs = 60_000;
          const times = offsets.sort((a, b) => a - b);
          const w = new WindowCounter(windowMs);
          for (const t of times) w.add(t);
          const now = times.at(-1)! + extra;
          const got = w.total(now);
          const surely = times.filter((t) => now - t < windowMs - windowMs / BUCKETS).length;
          const atMost = times.filter((t) => now - t < windowMs).length;
          return got >= surely && got <= atMost;
        },
      ),
    );
  });

  test('a clock stepping back counts into the newest bucket', () => {
    const w = new WindowCounter(10_000);
    w.add(50_000);
    w.add(20_000);
    assert.equal(w.total(50_000), 2);
  });
});

describe('detect lru', () => {
  test('evicts the least recently touched beyond capacity; get does not refresh', () => {
    const l = new Lru<string, number>(2);
    l.set('a', 1);
    l.set('b', 2);
    l.touch('a');
    l.set('c', 3);
    assert.deepEqual([...l.keys()], ['a', 'c']);
    l.get('a');
    l.set('d', 4);
    assert.deepEqual([...l.keys()], ['c', 'd']);
    l.capacity = 1;
    l.set('e', 5);
    assert.deepEqual([...l.keys()], ['e']);
    assert.equal(l.size, 1);
  });
});
