// Progressive login delay, with the semantics and variable names of MySQL's CONNECTION_CONTROL
// plugin: consecutive failed logins are counted per 'user'@'host'; once they reach
// connection_control_failed_connections_threshold, every further attempt — even one that will
// succeed — waits (failures + 1 − threshold) seconds, clamped to [min, max] delay; a success
// clears the entry; changing the threshold clears all. A threshold of 0 turns it off.
//
// Beyond MySQL (moat's own): the same count per address, across user names, against
// connection_control_failed_connections_threshold_per_host, with the same formula. MySQL's
// per-account count never slows password spraying — one guess each for many user names from one
// address — since no account ever reaches the threshold.
//
// The delay is a timer in the session, before the backend is contacted: a delayed attacker costs
// one socket, never a thread or a backend connection (MySQL's plugin holds a server thread).

/** MySQL's ranges: threshold 0..INT_MAX, delays 1000..INT_MAX milliseconds. */
export const INT_MAX = 2147483647;

export interface ConnectionControlSettings {
  threshold: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Failed logins from one address, whatever the user, before its attempts wait (0: off). */
  perHostThreshold: number;
}

/** A per-host key in the shared state: no 'user'@ part (a 'user'@'host' key starts with a quote). */
const HOST_KEY_PREFIX = '@';

/** Distinct user names remembered per address, for the spraying alert (bounded memory). */
export const MAX_USERS_PER_HOST = 256;

/**
 * Consecutive-failure counts, bounded. Entries below the threshold (not delaying anyone) are kept
 * apart from those at or above it, so that when the table is full the least harmful entry goes
 * first: the least recently failed of those below the threshold; only when every entry is under
 * delay, the least recently failed of those. Evicting oldest-first across all would let a handful
 * of fresh failures reset a victim's — or an attacker's — delay.
 */
export class FailureTable {
  /** Below the threshold, least recently failed first (a Map's insertion order). */
  private readonly counting = new Map<string, number>();
  /** At or above the threshold. */
  private readonly delaying = new Map<string, number>();
  private readonly maxEntries: number;
  threshold: number;

  constructor(threshold: number, maxEntries: number) {
    this.threshold = threshold;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.counting.size + this.delaying.size;
  }

  get(k: string): number {
    return this.delaying.get(k) ?? this.counting.get(k) ?? 0;
  }

  has(k: string): boolean {
    return this.delaying.has(k) || this.counting.has(k);
  }

  /** Sets `k` to `n` (most recently failed), evicting for room; returns the evicted key. */
  set(k: string, n: number): string | null {
    const had = this.delete(k);
    const evicted = !had && this.size >= this.maxEntries ? this.evictOne() : null;
    (this.threshold > 0 && n >= this.threshold ? this.delaying : this.counting).set(k, n);
    return evicted;
  }

  /** Adds `k` only when there is room (a restore never evicts). */
  setIfRoom(k: string, n: number): void {
    if (this.has(k) || this.size < this.maxEntries) this.set(k, n);
  }

  delete(k: string): boolean {
    return this.counting.delete(k) || this.delaying.delete(k);
  }

  clear(): void {
    this.counting.clear();
    this.delaying.clear();
  }

  private evictOne(): string | null {
    const from = this.counting.size > 0 ? this.counting : this.delaying;
    const k = from.keys().next().value;
    if (k === undefined) return null;
    from.delete(k);
    return k;
  }

  entries(): Array<[string, number]> {
    return [...this.counting, ...this.delaying];
  }
}

export class ConnectionControl {
  private settings: ConnectionControlSettings;
  /** "'user'@'host'" → consecutive failures. */
  private readonly failures: FailureTable;
  /** address → consecutive failed logins from it, any user. */
  private readonly hostFailures: FailureTable;
  /**
   * address → each user name's share of its count (at most MAX_USERS_PER_HOST names): the alert
   * counts the names, and a success forgives only its own user's share (hostSucceeded).
   */
  private readonly hostUsers = new Map<string, Map<string, number>>();
  /** Every count that changed, by its shared-state key ('user'@'host' or hostKey()); null: gone. */
  onChange: (userHost: string, failures: number | null) => void = () => {};
  onClear: () => void = () => {};

  constructor(settings: ConnectionControlSettings, maxEntries: number) {
    this.settings = { ...settings };
    this.failures = new FailureTable(settings.threshold, maxEntries);
    this.hostFailures = new FailureTable(settings.perHostThreshold, maxEntries);
  }

  get current(): Readonly<ConnectionControlSettings> {
    return this.settings;
  }

  /** As SET GLOBAL: a threshold change clears every entry (MySQL does); so for the per-host one. */
  update(next: Partial<ConnectionControlSettings>): void {
    const changed = next.threshold !== undefined && next.threshold !== this.settings.threshold;
    const hostChanged =
      next.perHostThreshold !== undefined && next.perHostThreshold !== this.settings.perHostThreshold;
    this.settings = { ...this.settings, ...next };
    if (changed) {
      this.failures.clear();
      this.failures.threshold = this.settings.threshold;
    }
    if (hostChanged) {
      this.hostFailures.clear();
      this.hostUsers.clear();
      this.hostFailures.threshold = this.settings.perHostThreshold;
    }
    if (changed || hostChanged) this.onClear();
  }

  /** USERHOST as MySQL's CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS shows it. */
  static key(user: string, host: string): string {
    return `'${user}'@'${host}'`;
  }

  /** The shared-state key of an address's count across users. */
  static hostKey(host: string): string {
    return `${HOST_KEY_PREFIX}'${host}'`;
  }

  failuresOf(user: string, host: string): number {
    return this.failures.get(ConnectionControl.key(user, host));
  }

  hostFailuresOf(host: string): number {
    return this.hostFailures.get(host);
  }

  /** User names seen failing from `host` (capped at MAX_USERS_PER_HOST). */
  hostUsersOf(host: string): number {
    return this.hostUsers.get(host)?.size ?? 0;
  }

  /**
   * Milliseconds this attempt must wait before it is let through; 0 for none. The longer of the
   * account's delay and the address's.
   */
  delayFor(user: string, host: string): number {
    const { threshold, perHostThreshold } = this.settings;
    return Math.max(
      this.delay(this.failuresOf(user, host), threshold),
      this.delay(this.hostFailuresOf(host), perHostThreshold),
    );
  }

  private delay(failed: number, threshold: number): number {
    if (threshold === 0 || failed < threshold) return 0;
    const ms = (failed + 1 - threshold) * 1000;
    return Math.min(Math.max(ms, this.settings.minDelayMs), this.settings.maxDelayMs);
  }

  /**
   * Counts a failure of the account; false when connection control is off (threshold 0) and
   * nothing was counted.
   */
  failed(user: string, host: string): boolean {
    if (this.settings.threshold === 0) return false;
    const k = ConnectionControl.key(user, host);
    const evicted = this.failures.set(k, this.failures.get(k) + 1);
    if (evicted !== null) this.onChange(evicted, null);
    this.onChange(k, this.failures.get(k));
    return true;
  }

  /**
   * Counts a failed login from `host` (any user); returns the address's count, or 0 when the
   * per-host threshold is 0 and nothing was counted.
   */
  hostFailed(user: string, host: string): number {
    if (this.settings.perHostThreshold === 0) return 0;
    const n = this.hostFailures.get(host) + 1;
    const evicted = this.hostFailures.set(host, n);
    if (evicted !== null) {
      this.hostUsers.delete(evicted);
      this.onChange(ConnectionControl.hostKey(evicted), null);
    }
    this.onChange(ConnectionControl.hostKey(host), n);
    let users = this.hostUsers.get(host);
    if (users === undefined) {
      users = new Map();
      this.hostUsers.set(host, users);
    }
    const share = users.get(user);
    if (share !== undefined) users.set(user, share + 1);
    else if (users.size < MAX_USERS_PER_HOST) users.set(user, 1);
    return n;
  }

  /** Clears the user@host's failures; true when it had some. */
  succeeded(user: string, host: string): boolean {
    const k = ConnectionControl.key(user, host);
    if (!this.failures.delete(k)) return false;
    this.onChange(k, null);
    return true;
  }

  /**
   * `user` logged in from `host`: that user's failures from it are forgiven, no one else's. A
   * success used to clear the whole count, so an attacker holding one valid account could reset
   * it between guesses at other accounts and never be delayed. Returns how many were forgiven (0:
   * the count is unchanged); a user beyond MAX_USERS_PER_HOST has no share and forgives nothing.
   */
  hostSucceeded(user: string, host: string): number {
    const users = this.hostUsers.get(host);
    const share = users?.get(user) ?? 0;
    if (share === 0) return 0;
    users!.delete(user);
    if (users!.size === 0) this.hostUsers.delete(host);
    const left = this.hostFailures.get(host) - share;
    if (left <= 0) {
      this.hostFailures.delete(host);
      this.hostUsers.delete(host);
      this.onChange(ConnectionControl.hostKey(host), null);
    } else {
      this.hostFailures.set(host, left);
      this.onChange(ConnectionControl.hostKey(host), left);
    }
    return share;
  }

  /**
   * The fleet's count for a key (0: cleared), from the shared state: a 'user'@'host' key or a
   * hostKey(). Not reported through onChange: the shared state is where it came from.
   */
  setShared(key: string, failures: number): void {
    const { isHost, table, k } = this.route(key);
    if (failures <= 0) {
      table.delete(k);
      if (isHost) this.hostUsers.delete(k);
      return;
    }
    const evicted = table.set(k, failures);
    if (isHost && evicted !== null) this.hostUsers.delete(evicted);
  }

  /** Every key with failures, both kinds (for a reconciliation that replaces them all). */
  keys(): string[] {
    return this.sharedEntries().map((e) => e.key);
  }

  /** Every count as the shared state keys it: 'user'@'host' and hostKey() entries. */
  sharedEntries(): Array<{ key: string; failures: number }> {
    return [
      ...this.failures.entries().map(([key, failures]) => ({ key, failures })),
      ...this.hostFailures
        .entries()
        .map(([h, failures]) => ({ key: ConnectionControl.hostKey(h), failures })),
    ];
  }

  /** CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS rows. */
  entries(): Array<{ userHost: string; failedAttempts: number }> {
    return this.failures.entries().map(([userHost, failedAttempts]) => ({ userHost, failedAttempts }));
  }

  /** Per-address counts across users (moat.failed_logins_by_host-style views). */
  hostEntries(): Array<{ host: string; failedAttempts: number; users: number }> {
    return this.hostFailures
      .entries()
      .map(([host, failedAttempts]) => ({ host, failedAttempts, users: this.hostUsersOf(host) }));
  }

  /** A persisted count, by its shared-state key (at start: never evicts). */
  restore(key: string, failures: number): void {
    const { table, k } = this.route(key);
    table.setIfRoom(k, failures);
  }

  private route(key: string): { isHost: boolean; table: FailureTable; k: string } {
    const isHost = key.startsWith(HOST_KEY_PREFIX);
    return isHost
      ? { isHost, table: this.hostFailures, k: key.slice(HOST_KEY_PREFIX.length + 1, -1) }
      : { isHost, table: this.failures, k: key };
  }
}
