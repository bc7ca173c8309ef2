// What the guard tells a shared state (a fleet of moat instances on one Redis, src/state/redis)
// as it happens, and asks of it. The guard never waits for it: every call returns at once and the
// shared state answers later by adjusting the guard's local state (counts, blocks). While it is
// down, the guard decides on local state alone and the shared state keeps what to replay.
export interface SharedGuardState {
  /** Reachable and reconciled: the shared counters decide blocking for the whole fleet. */
  readonly up: boolean;
  /** While down: admit ('allow') or refuse ('deny') an address this instance has never seen. */
  readonly unknownHostsWhenDown: 'allow' | 'deny';
  /** A handshake-level error from `ip`; blocks fleet-wide when the shared count reaches `max` (0: never). */
  connectError(ip: string, max: number, blockMs: number | null): void;
  /** A successful login from `ip` that had connect errors: the shared count starts again. */
  connectOk(ip: string): void;
  /** A failed login of connection control's 'user'@'host' key. */
  loginFailed(userHost: string): void;
  /** A successful login of a key that had failures. */
  loginOk(userHost: string): void;
  /** FLUSH HOSTS: connect errors start again fleet-wide. */
  hostsFlushed(): void;
}
