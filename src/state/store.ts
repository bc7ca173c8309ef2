// The guard's state behind one interface: the embedded SQLite store (sqlite-store.ts) is the
// default; the Redis store (redis/fleet.ts) is shared by a fleet of moat instances. Calls are
// batched by the caller (guard/persist.ts), never on the relay path; SQLite answers synchronously,
// Redis with a promise.
import type { Block, HostRow } from '../model/guard.ts';

export interface FailedLogin {
  userHost: string;
  failures: number;
}

export interface GuardSnapshot {
  hosts: HostRow[];
  blocks: Block[];
  failedLogins: FailedLogin[];
}

export interface GuardChanges {
  hosts: HostRow[];
  removedHosts: string[];
  blocks: Block[];
  removedBlocks: string[];
  failedLogins: FailedLogin[];
  removedFailedLogins: string[];
  /** Every failed-login entry goes first (a threshold change). */
  clearFailedLogins: boolean;
}

export interface GuardStore {
  load(): GuardSnapshot | Promise<GuardSnapshot>;
  /** Applies one batch (atomically where the store can). Throws / rejects on a storage error (the caller keeps the batch). */
  apply(changes: GuardChanges): void | Promise<void>;
  close(): void | Promise<void>;
}
