// Changes to the shared counters made while Redis was unavailable, kept to replay: per key, whether
// the count was reset and how much was added since. Bounded: beyond `max` keys the least recently
// changed goes, and is counted (a replay can then only undercount, never invent errors).
export interface Delta {
  reset: boolean;
  inc: number;
}

export class PendingDeltas {
  private readonly map = new Map<string, Delta>();
  private readonly max: number;
  private readonly onDrop: () => void;

  constructor(max: number, onDrop: () => void) {
    this.max = max;
    this.onDrop = onDrop;
  }

  get size(): number {
    return this.map.size;
  }

  add(key: string, reset: boolean, inc: number): void {
    const d = this.map.get(key);
    const next: Delta = reset ? { reset: true, inc } : { reset: d?.reset ?? false, inc: (d?.inc ?? 0) + inc };
    this.map.delete(key);
    this.map.set(key, next);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
      this.onDrop();
    }
  }

  clear(): void {
    this.map.clear();
  }

  /** Takes every delta out, oldest first. */
  take(): Array<[string, Delta]> {
    const all = [...this.map];
    this.map.clear();
    return all;
  }
}
