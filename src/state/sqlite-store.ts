// The embedded store: one SQLite file (node:sqlite) in the state directory, so blocks, host
// counters and failed-login counts survive a restart and a kill -9. WAL journal with
// synchronous=NORMAL: a committed batch survives a process crash; a power cut may lose the last
// batch, never corrupt the file.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { FAILURE_CLASSES } from '../model/failure.ts';
import type { Block, BlockReason, HostRow } from '../model/guard.ts';
import { openPrivateDatabase } from './sqlite-file.ts';
import type { GuardChanges, GuardSnapshot, GuardStore } from './store.ts';

const SCHEMA_VERSION = 1;

export class SqliteStore implements GuardStore {
  private readonly db: DatabaseSync;
  private readonly putHost: StatementSync;
  private readonly delHost: StatementSync;
  private readonly putBlock: StatementSync;
  private readonly delBlock: StatementSync;
  private readonly putFailed: StatementSync;
  private readonly delFailed: StatementSync;

  constructor(path: string) {
    this.db = openPrivateDatabase(path);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS hosts (
        ip TEXT PRIMARY KEY, host TEXT, host_validated INTEGER NOT NULL,
        sum_connect_errors INTEGER NOT NULL, counts TEXT NOT NULL,
        first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
        first_error_seen INTEGER, last_error_seen INTEGER, total_connections INTEGER NOT NULL,
        successes INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS blocks (
        ip TEXT PRIMARY KEY, reason TEXT NOT NULL, by_whom TEXT NOT NULL,
        since INTEGER NOT NULL, until INTEGER);
      CREATE TABLE IF NOT EXISTS failed_logins (user_host TEXT PRIMARY KEY, failures INTEGER NOT NULL);
    `);
    const v = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as
      | { value: string }
      | undefined;
    if (v === undefined) {
      this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    } else if (Number(v.value) !== SCHEMA_VERSION) {
      throw new Error(`${path}: state schema ${v.value}, this moat reads ${SCHEMA_VERSION}`);
    }
    this.putHost = this.db.prepare(`INSERT OR REPLACE INTO hosts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.delHost = this.db.prepare('DELETE FROM hosts WHERE ip = ?');
    this.putBlock = this.db.prepare('INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?)');
    this.delBlock = this.db.prepare('DELETE FROM blocks WHERE ip = ?');
    this.putFailed = this.db.prepare('INSERT OR REPLACE INTO failed_logins VALUES (?, ?)');
    this.delFailed = this.db.prepare('DELETE FROM failed_logins WHERE user_host = ?');
  }

  load(): GuardSnapshot {
    const hosts = (
      this.db.prepare('SELECT * FROM hosts ORDER BY last_seen').all() as Record<string, unknown>[]
    ).map((r): HostRow => {
      // Counts are stored by class name, so adding a class later keeps old files readable.
      const byName = JSON.parse(String(r.counts)) as Record<string, number>;
      return {
        ip: String(r.ip),
        host: r.host === null ? null : String(r.host),
        hostValidated: Number(r.host_validated) === 1,
        sumConnectErrors: Number(r.sum_connect_errors),
        counts: FAILURE_CLASSES.map((c) => byName[c] ?? 0),
        firstSeen: Number(r.first_seen),
        lastSeen: Number(r.last_seen),
        firstErrorSeen: r.first_error_seen === null ? null : Number(r.first_error_seen),
        lastErrorSeen: r.last_error_seen === null ? null : Number(r.last_error_seen),
        currentConnections: 0,
        totalConnections: Number(r.total_connections),
        successes: Number(r.successes),
      };
    });
    const blocks = (this.db.prepare('SELECT * FROM blocks').all() as Record<string, unknown>[]).map(
      (r): Block => ({
        ip: String(r.ip),
        reason: String(r.reason) as BlockReason,
        by: String(r.by_whom),
        since: Number(r.since),
        until: r.until === null ? null : Number(r.until),
      }),
    );
    const failedLogins = (
      this.db.prepare('SELECT * FROM failed_logins').all() as Record<string, unknown>[]
    ).map((r) => ({ userHost: String(r.user_host), failures: Number(r.failures) }));
    return { hosts, blocks, failedLogins };
  }

  apply(c: GuardChanges): void {
    this.db.exec('BEGIN');
    try {
      for (const h of c.hosts) {
        const counts: Record<string, number> = {};
        FAILURE_CLASSES.forEach((name, i) => {
          if (h.counts[i]! > 0) counts[name] = h.counts[i]!;
        });
        this.putHost.run(
          h.ip,
          h.host,
          h.hostValidated ? 1 : 0,
          h.sumConnectErrors,
          JSON.stringify(counts),
          h.firstSeen,
          h.lastSeen,
          h.firstErrorSeen,
          h.lastErrorSeen,
          h.totalConnections,
          h.successes,
        );
      }
      for (const ip of c.removedHosts) this.delHost.run(ip);
      for (const b of c.blocks) this.putBlock.run(b.ip, b.reason, b.by, b.since, b.until);
      for (const ip of c.removedBlocks) this.delBlock.run(ip);
      if (c.clearFailedLogins) this.db.exec('DELETE FROM failed_logins');
      for (const f of c.failedLogins) this.putFailed.run(f.userHost, f.failures);
      for (const k of c.removedFailedLogins) this.delFailed.run(k);
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  close(): void {
    this.db.close();
  }
}
