// Sliding-window counters and a bounded map, the detector's only state per session and address.
//
// A WindowCounter splits its window into BUCKETS slots and forgets a slot as time moves past it:
// memory is fixed (BUCKETS × classes integers) whatever the threshold, and the window slides in
// steps of window/BUCKETS (6 s of a minute), which is all the precision a burst rule needs.

export const BUCKETS = 10;

export class WindowCounter {
  private readonly counts: Uint32Array;
  private readonly bucketMs: number;
  private readonly classes: number;
  /** Index (time / bucketMs) of the newest bucket. */
  private head = -1;

  constructor(windowMs: number, classes = 1) {
    this.bucketMs = Math.max(1, Math.ceil(windowMs / BUCKETS));
    this.classes = classes;
    this.counts = new Uint32Array(BUCKETS * classes);
  }

  add(now: number, cls = 0, amount = 1): void {
    this.advance(now);
    const slot = ((this.head % BUCKETS) + BUCKETS) % BUCKETS;
    this.counts[slot * this.classes + cls]! += amount;
  }

  /** Events in the window ending at `now`. */
  total(now: number): number {
    this.advance(now);
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) sum += this.counts[i]!;
    return sum;
  }

  /** Events in the window, per class. */
  byClass(now: number): number[] {
    this.advance(now);
    const out = new Array<number>(this.classes).fill(0);
    for (let b = 0; b < BUCKETS; b++) {
      for (let c = 0; c < this.classes; c++) out[c]! += this.counts[b * this.classes + c]!;
    }
    return out;
  }

  private advance(now: number): void {
    const idx = Math.floor(now / this.bucketMs);
    // A clock that steps back counts into the newest bucket rather than corrupting older ones.
    if (idx <= this.head) return;
    if (this.head < 0 || idx - this.head >= BUCKETS) {
      this.counts.fill(0);
    } else {
      for (let i = this.head + 1; i <= idx; i++) {
        const slot = ((i % BUCKETS) + BUCKETS) % BUCKETS;
        this.counts.fill(0, slot * this.classes, (slot + 1) * this.classes);
      }
    }
    this.head = idx;
  }
}

/**
 * A Map bounded to `capacity` entries, least recently used evicted first (a Map's insertion
 * order, refreshed by `touch`). Touch only on the rare paths: the hot path reads with `get`.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Read and mark as recently used. */
  touch(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done === true) break;
      this.map.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}
