// Write-behind persistence of the guard's state: changes are collected as they happen (a Set or
// Map entry each, never I/O) and written in one transaction per interval, and at stop. Blocks are
// written at once, being rare and the state an operator most expects to survive a crash.
// A store that fails (disk full, read-only file) is reported loudly; the batch is kept and
// retried, and moat keeps serving from memory.
import type { Logger } from 'pino';
import type { GuardChanges, GuardStore } from '../state/store.ts';
import type { Block } from './blocker.ts';
import type { Guard } from './guard.ts';
import type { HostRow } from './ledger.ts';

export class GuardPersistence {
  private readonly guard: Guard;
  private readonly store: GuardStore;
  private readonly log: Logger;
  private readonly hosts = new Map<string, HostRow>();
  private readonly removedHosts = new Set<string>();
  private readonly blocks = new Map<string, Block | null>();
  private readonly failed = new Map<string, number | null>();
  private clearFailed = false;
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  /** A write in flight (async stores): the next flush waits for it, then writes what came since. */
  private writing: Promise<void> | null = null;
  private again = false;
  /** Batches that could not be written so far (a metric for the admin views). */
  writeErrors = 0;

  constructor(guard: Guard, store: GuardStore, log: Logger) {
    this.guard = guard;
    this.store = store;
    this.log = log;
  }

  /** Loads the stored state into the guard and starts collecting changes. */
  async start(
    intervalMs: number,
    now = Date.now(),
  ): Promise<{ hosts: number; blocks: number; failedLogins: number }> {
    const snap = await this.store.load();
    const { ledger, blocker, connectionControl } = this.guard;
    // Oldest first, so the ledger's recency order is what it was.
    for (const h of snap.hosts) ledger.restore(h);
    let blocks = 0;
    for (const b of snap.blocks) {
      if (b.until !== null && b.until <= now) this.blocks.set(b.ip, null);
      else {
        blocker.restore(b);
        blocks++;
      }
    }
    for (const f of snap.failedLogins) connectionControl.restore(f.userHost, f.failures);

    ledger.onChange = (row) => {
      this.hosts.set(row.ip, row);
      this.removedHosts.delete(row.ip);
    };
    ledger.onEvict = (ip) => {
      this.hosts.delete(ip);
      this.removedHosts.add(ip);
    };
    const onBlock = blocker.onBlock;
    blocker.onBlock = (b) => {
      onBlock(b);
      this.blocks.set(b.ip, b);
      this.flush();
    };
    const onUnblock = blocker.onUnblock;
    blocker.onUnblock = (b, why) => {
      onUnblock(b, why);
      // An expired block is not written: every store drops lapsed blocks by itself (SQLite at
      // load, Redis by the key's expiry), and a fleet member's late "expired" must never delete a
      // newer block another instance has just made.
      if (why === 'expired') return;
      this.blocks.set(b.ip, null);
      this.flush();
    };
    connectionControl.onChange = (k, n) => this.failed.set(k, n);
    connectionControl.onClear = () => {
      this.failed.clear();
      this.clearFailed = true;
    };
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
    return { hosts: snap.hosts.length, blocks, failedLogins: snap.failedLogins.length };
  }

  /** Writes what changed; an async store's write runs in the background (one at a time). */
  flush(): void {
    if (this.writing !== null) {
      this.again = true;
      return;
    }
    if (
      this.hosts.size === 0 &&
      this.removedHosts.size === 0 &&
      this.blocks.size === 0 &&
      this.failed.size === 0 &&
      !this.clearFailed
    ) {
      return;
    }
    const changes: GuardChanges = {
      // Snapshots of the rows: the live objects keep changing while SQLite binds them.
      hosts: [...this.hosts.values()].map((h) => ({ ...h, counts: [...h.counts] })),
      removedHosts: [...this.removedHosts],
      blocks: [...this.blocks.values()].filter((b) => b !== null),
      removedBlocks: [...this.blocks].filter(([, b]) => b === null).map(([ip]) => ip),
      failedLogins: [...this.failed]
        .filter(([, n]) => n !== null)
        .map(([userHost, n]) => ({ userHost, failures: n! })),
      removedFailedLogins: [...this.failed].filter(([, n]) => n === null).map(([k]) => k),
      clearFailedLogins: this.clearFailed,
    };
    // What is written leaves the pending maps now; on failure it goes back unless newer changes
    // to the same key arrived meanwhile.
    this.hosts.clear();
    this.removedHosts.clear();
    this.blocks.clear();
    this.failed.clear();
    this.clearFailed = false;
    let result: void | Promise<void>;
    try {
      result = this.store.apply(changes);
    } catch (e) {
      this.failed_(changes, e as Error);
      return;
    }
    if (result instanceof Promise) {
      this.writing = result.then(
        () => this.saved(),
        (e: Error) => this.failed_(changes, e),
      );
      void this.writing.finally(() => {
        this.writing = null;
        if (this.again) {
          this.again = false;
          this.flush();
        }
      });
    } else this.saved();
  }

  private saved(): void {
    if (this.failing) this.log.warn({ failedBatches: this.writeErrors }, 'guard state saved again');
    this.failing = false;
  }

  private failed_(c: GuardChanges, e: Error): void {
    // Keep everything for the next attempt; say so once per outage, not per interval.
    this.writeErrors++;
    if (!this.failing) this.log.error({ err: e.message }, 'guard state could not be saved; retrying');
    this.failing = true;
    for (const h of c.hosts)
      if (!this.hosts.has(h.ip) && !this.removedHosts.has(h.ip)) this.hosts.set(h.ip, h);
    for (const ip of c.removedHosts) if (!this.hosts.has(ip)) this.removedHosts.add(ip);
    for (const b of c.blocks) if (!this.blocks.has(b.ip)) this.blocks.set(b.ip, b);
    for (const ip of c.removedBlocks) if (!this.blocks.has(ip)) this.blocks.set(ip, null);
    for (const f of c.failedLogins) if (!this.failed.has(f.userHost)) this.failed.set(f.userHost, f.failures);
    for (const k of c.removedFailedLogins) if (!this.failed.has(k)) this.failed.set(k, null);
    if (c.clearFailedLogins) this.clearFailed = true;
  }

  /**
   * Writes what is pending now and waits for it (a fleet's reconciliation runs after); rejects
   * when the store could not take it, so nothing is read back as if it had been written.
   */
  async settle(): Promise<void> {
    while (this.writing !== null) await this.writing;
    this.flush();
    while (this.writing !== null) await this.writing;
    if (this.failing) throw new Error('guard state could not be written to the store');
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.settle().catch(() => {}); // already logged; a stop does not wait for a dead store
    await this.store.close();
  }
}
