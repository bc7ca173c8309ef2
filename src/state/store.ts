// The guard's state behind one interface: the embedded SQLite store (sqlite-store.ts) is the
// default; a shared Redis store for a fleet of moat instances comes next. Calls are synchronous
// and batched by the caller (guard/persist.ts), never on the relay path.
import type { Block } from '../guard/blocker.ts';
import type { HostRow } from '../guard/ledger.ts';

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
  load(): GuardSnapshot;
  /** Applies one batch atomically. Throws on a storage error (the caller keeps the batch). */
  apply(changes: GuardChanges): void;
  close(): void;
}
