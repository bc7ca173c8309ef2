// Progressive login delay, with the semantics and variable names of MySQL's CONNECTION_CONTROL
// plugin: consecutive failed logins are counted per 'user'@'host'; once they reach
// connection_control_failed_connections_threshold, every further attempt — even one that will
// succeed — waits (failures + 1 − threshold) seconds, clamped to [min, max] delay; a success
// clears the entry; changing the threshold clears all. A threshold of 0 turns it off.
//
// The delay is a timer in the session, before the backend is contacted: a delayed attacker costs
// one socket, never a thread or a backend connection (MySQL's plugin holds a server thread).

/** MySQL's ranges: threshold 0..INT_MAX, delays 1000..INT_MAX milliseconds. */
export const INT_MAX = 2147483647;

export interface ConnectionControlSettings {
  threshold: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export class ConnectionControl {
  private settings: ConnectionControlSettings;
  /** "'user'@'host'" → consecutive failures. Bounded; least recently failed evicted first. */
  private readonly failures = new Map<string, number>();
  private readonly maxEntries: number;
  onChange: (userHost: string, failures: number | null) => void = () => {};
  onClear: () => void = () => {};

  constructor(settings: ConnectionControlSettings, maxEntries: number) {
    this.settings = { ...settings };
    this.maxEntries = maxEntries;
  }

  get current(): Readonly<ConnectionControlSettings> {
    return this.settings;
  }

  /** As SET GLOBAL: a threshold change clears every entry (MySQL does). */
  update(next: Partial<ConnectionControlSettings>): void {
    const changed = next.threshold !== undefined && next.threshold !== this.settings.threshold;
    this.settings = { ...this.settings, ...next };
    if (changed) {
      this.failures.clear();
      this.onClear();
    }
  }

  /** USERHOST as MySQL's CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS shows it. */
  static key(user: string, host: string): string {
    return `'${user}'@'${host}'`;
  }

  failuresOf(user: string, host: string): number {
    return this.failures.get(ConnectionControl.key(user, host)) ?? 0;
  }

  /** Milliseconds this attempt must wait before it is let through; 0 for none. */
  delayFor(user: string, host: string): number {
    const { threshold, minDelayMs, maxDelayMs } = this.settings;
    if (threshold === 0) return 0;
    const failed = this.failuresOf(user, host);
    if (failed < threshold) return 0;
    const ms = (failed + 1 - threshold) * 1000;
    return Math.min(Math.max(ms, minDelayMs), maxDelayMs);
  }

  /** Counts a failure; false when connection control is off (threshold 0) and nothing was counted. */
  failed(user: string, host: string): boolean {
    if (this.settings.threshold === 0) return false;
    const k = ConnectionControl.key(user, host);
    const n = (this.failures.get(k) ?? 0) + 1;
    this.failures.delete(k);
    if (this.failures.size >= this.maxEntries) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) {
        this.failures.delete(oldest);
        this.onChange(oldest, null);
      }
    }
    this.failures.set(k, n);
    this.onChange(k, n);
    return true;
  }

  /** Clears the user@host's failures; true when it had some. */
  succeeded(user: string, host: string): boolean {
    const k = ConnectionControl.key(user, host);
    if (!this.failures.delete(k)) return false;
    this.onChange(k, null);
    return true;
  }

  /**
   * The fleet's count for a key (0: cleared), from the shared state. Not reported through onChange:
   * the shared state is where it came from.
   */
  setShared(userHost: string, failures: number): void {
    if (failures <= 0) {
      this.failures.delete(userHost);
      return;
    }
    if (!this.failures.has(userHost) && this.failures.size >= this.maxEntries) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(userHost, failures);
  }

  /** Every key with failures (for a reconciliation that replaces them all). */
  keys(): string[] {
    return [...this.failures.keys()];
  }

  /** CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS rows. */
  entries(): Array<{ userHost: string; failedAttempts: number }> {
    return [...this.failures].map(([userHost, failedAttempts]) => ({ userHost, failedAttempts }));
  }

  restore(userHost: string, failures: number): void {
    if (this.failures.size < this.maxEntries) this.failures.set(userHost, failures);
  }
}
