// What the guard keeps that outlives a process and crosses a fleet: block and ledger records, and
// the two contracts between the guard (src/guard/) and a shared state (src/state/redis/): what the
// guard tells the shared state as it happens, and what the shared state may do to the local guard.
// A leaf: the guard and the state stores both import it, neither imports the other's classes.

export type BlockReason = 'max_connect_errors' | 'manual' | 'detection';

export interface Block {
  ip: string;
  reason: BlockReason;
  /** Who: 'moat' for automatic blocks, the admin user or detector rule otherwise. */
  by: string;
  since: number;
  /** Epoch ms when the block lapses; null for "until unblocked". */
  until: number | null;
}

/** What the guard did, for the audit log and the nftables mirror. */
export type GuardAction =
  | { kind: 'blocked'; block: Block }
  | { kind: 'unblocked'; block: Block; why: 'manual' | 'expired' | 'flush' }
  | { kind: 'delayed'; user: string; ip: string; port?: number; delayMs: number; failures: number }
  /** Failed logins from one address across user names reached the per-host threshold (or doubled). */
  | { kind: 'spraying'; ip: string; users: number; failures: number };

/** One client address in the ledger (host_cache and moat.hosts). */
export interface HostRow {
  ip: string;
  /** Resolved and forward-confirmed name; null without name resolution or on failure. */
  host: string | null;
  hostValidated: boolean;
  /** Handshake-level errors since the last successful login (max_connect_errors counts these). */
  sumConnectErrors: number;
  /** One counter per FailureClass, in FAILURE_CLASSES order. */
  counts: number[];
  firstSeen: number;
  lastSeen: number;
  firstErrorSeen: number | null;
  lastErrorSeen: number | null;
  /** Every connection from the address, authenticated or not (moat's ledger, not `hosts`). */
  currentConnections: number;
  totalConnections: number;
  /** Logins that succeeded (moat's own column: a host with none only ever failed). */
  successes: number;
}

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
  /** An address's count across users goes down by `n`: the failures of a user who then logged in. */
  loginForgiven(hostKey: string, n: number): void;
  /** FLUSH HOSTS: connect errors start again fleet-wide. */
  hostsFlushed(): void;
}

/**
 * The local guard as a shared state drives it (src/state/redis/fleet.ts): it adopts blocks and
 * counts made elsewhere and reads what to publish. The Guard class satisfies it; the fleet never
 * sees more of it.
 */
export interface FleetGuard {
  shared: SharedGuardState | null;
  readonly settings: {
    readonly max_connect_errors: number;
    readonly blocking: { readonly autoBlockDurationMs?: number | null | undefined };
  };
  /** Re-checks `ip` against max_connect_errors once a shared count changed. */
  enforceConnectErrors(ip: string): void;
  readonly ledger: {
    rows(): IterableIterator<HostRow>;
    setConnectErrors(ip: string, n: number): void;
  };
  readonly connectionControl: {
    keys(): string[];
    setShared(key: string, failures: number): void;
    sharedEntries(): Array<{ key: string; failures: number }>;
  };
  readonly blocker: {
    isExempt(ip: string): boolean;
    blocked(ip: string, now: number): Block | null;
    list(now: number): Block[];
    adopt(b: Block): boolean;
    drop(ip: string): Block | null;
  };
}
