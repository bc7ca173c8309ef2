// The host ledger: one row per client address with MySQL 8's performance_schema.host_cache
// columns, plus the connection counts of performance_schema.hosts / accounts / users.
//
// Unlike MySQL's host cache it covers loopback hosts, works with name resolution off, and has a
// row from the first byte (the address is known at accept). Bounded: at most `maxHosts` rows, the
// least recently seen evicted first (a Map's insertion order, refreshed on every touch), so a flood
// of addresses cannot exhaust memory. A row with live connections is never evicted... unless every
// row has them, in which case the bound wins and its counts start again when it returns.
//
// performance_schema.hosts / accounts / users are kept apart from the rows, with MySQL's meaning:
// a connection counts under its host, account and user only once it has authenticated. Until
// then — and for good, if it never does — it counts under the NULL row (MySQL: "NULL for a user
// session that failed to authenticate"). That is what lets a DBA find the hosts from which only
// failed attempts were made: a host_cache row with no hosts row. As in MySQL, TOTAL_CONNECTIONS of
// a row is its live connections plus the ended ones, so a connection that authenticates moves,
// current and total, from the NULL row to its host. The real address of every attempt stays on
// the host_cache row (its own currentConnections / totalConnections, for moat's views).

import { countsAsConnectError, FAILURE_CLASSES, type FailureClass } from '../model/failure.ts';
import type { HostRow } from '../model/guard.ts';

const CLASS_INDEX = new Map<FailureClass, number>(FAILURE_CLASSES.map((c, i) => [c, i]));

export type { HostRow };

export interface ConnectionCount {
  current: number;
  total: number;
}

function newRow(ip: string, now: number): HostRow {
  return {
    ip,
    host: null,
    hostValidated: false,
    sumConnectErrors: 0,
    counts: new Array<number>(FAILURE_CLASSES.length).fill(0),
    firstSeen: now,
    lastSeen: now,
    firstErrorSeen: null,
    lastErrorSeen: null,
    currentConnections: 0,
    totalConnections: 0,
    successes: 0,
  };
}

export function countOf(row: HostRow, c: FailureClass): number {
  return row.counts[CLASS_INDEX.get(c)!]!;
}

export class HostLedger {
  readonly maxHosts: number;
  private readonly hosts = new Map<string, HostRow>();
  /** `ip` → authenticated connections (performance_schema.hosts). */
  private readonly authenticatedHosts = new Map<string, ConnectionCount>();
  /** `user` → authenticated connections (performance_schema.users). */
  private readonly users = new Map<string, ConnectionCount>();
  /** `user\0ip` → authenticated connections (performance_schema.accounts). */
  private readonly accounts = new Map<string, ConnectionCount>();
  /** Connections not (yet) authenticated: the NULL row of hosts, accounts and users. */
  readonly unauthenticated: ConnectionCount = { current: 0, total: 0 };
  /** Called with every row whose counters changed (persistence picks them up in batches). */
  onChange: (row: HostRow) => void = () => {};
  onEvict: (ip: string) => void = () => {};

  constructor(maxHosts: number) {
    this.maxHosts = maxHosts;
  }

  get size(): number {
    return this.hosts.size;
  }

  get(ip: string): HostRow | undefined {
    return this.hosts.get(ip);
  }

  /** The row for `ip`, created or refreshed as most recently seen. */
  touch(ip: string, now: number): HostRow {
    let row = this.hosts.get(ip);
    if (row !== undefined) {
      this.hosts.delete(ip);
      row.lastSeen = now;
    } else {
      row = newRow(ip, now);
      this.evictFor(1);
    }
    this.hosts.set(ip, row);
    return row;
  }

  /** A connection from `ip` was accepted: on its row, and under NULL until it authenticates. */
  connected(ip: string, now: number): HostRow {
    const row = this.touch(ip, now);
    row.currentConnections++;
    row.totalConnections++;
    this.unauthenticated.current++;
    this.unauthenticated.total++;
    this.onChange(row);
    return row;
  }

  /** A connection from `ip` ended before it authenticated (refused, failed, gone). */
  disconnected(ip: string): void {
    const row = this.hosts.get(ip);
    if (row !== undefined && row.currentConnections > 0) row.currentConnections--;
    if (this.unauthenticated.current > 0) this.unauthenticated.current--;
  }

  /**
   * The connection from `ip` authenticated as `user` (null: a login with no user name): it leaves
   * the NULL row, current and total, for its host, account and user.
   */
  authenticated(user: string | null, ip: string): void {
    const u = this.unauthenticated;
    if (u.current > 0) {
      u.current--;
      u.total--;
    }
    bump(this.authenticatedHosts, ip, this.maxHosts);
    if (user !== null) this.identified(user, ip);
  }

  /** An authenticated session from `ip` ended. */
  loggedOut(user: string | null, ip: string): void {
    const row = this.hosts.get(ip);
    if (row !== undefined && row.currentConnections > 0) row.currentConnections--;
    drop(this.authenticatedHosts.get(ip));
    if (user !== null) this.unidentified(user, ip);
  }

  /** A session changed user (COM_CHANGE_USER): its account and user change, its host does not. */
  changedUser(from: string | null, to: string, ip: string): void {
    if (from !== null) this.unidentified(from, ip);
    this.identified(to, ip);
  }

  private identified(user: string, ip: string): void {
    bump(this.users, user, this.maxHosts);
    bump(this.accounts, `${user}\0${ip}`, this.maxHosts);
  }

  private unidentified(user: string, ip: string): void {
    drop(this.users.get(user));
    drop(this.accounts.get(`${user}\0${ip}`));
  }

  /** Records a failure; returns the row (its sumConnectErrors tells the blocker what to do). */
  failure(ip: string, c: FailureClass, now: number): HostRow {
    const row = this.touch(ip, now);
    row.counts[CLASS_INDEX.get(c)!]!++;
    if (countsAsConnectError(c)) row.sumConnectErrors++;
    row.firstErrorSeen ??= now;
    row.lastErrorSeen = now;
    this.onChange(row);
    return row;
  }

  /** A successful login resets SUM_CONNECT_ERRORS, as in MySQL. */
  success(ip: string, now: number): void {
    const row = this.touch(ip, now);
    row.sumConnectErrors = 0;
    row.successes++;
    this.onChange(row);
  }

  resetConnectErrors(ip: string): void {
    const row = this.hosts.get(ip);
    if (row === undefined) return;
    row.sumConnectErrors = 0;
    this.onChange(row);
  }

  /** The fleet's SUM_CONNECT_ERRORS for `ip` (shared state), on a row this instance has. */
  setConnectErrors(ip: string, n: number): void {
    const row = this.hosts.get(ip);
    if (row === undefined || row.sumConnectErrors === n) return;
    row.sumConnectErrors = n;
    this.onChange(row);
  }

  setHost(ip: string, host: string | null, validated: boolean): void {
    const row = this.hosts.get(ip);
    if (row === undefined) return;
    row.host = host;
    row.hostValidated = validated;
    this.onChange(row);
  }

  /** Rows, least recently seen first. */
  rows(): IterableIterator<HostRow> {
    return this.hosts.values();
  }

  /** performance_schema.hosts rows: authenticated connections per address. */
  hostCounts(): IterableIterator<[string, ConnectionCount]> {
    return this.authenticatedHosts.entries();
  }

  userCounts(): IterableIterator<[string, ConnectionCount]> {
    return this.users.entries();
  }

  accountCounts(): Array<{ user: string; ip: string; count: ConnectionCount }> {
    return [...this.accounts].map(([k, count]) => {
      const at = k.indexOf('\0');
      return { user: k.slice(0, at), ip: k.slice(at + 1), count };
    });
  }

  /** FLUSH HOSTS / TRUNCATE host_cache: the error history goes; live connection counts stay. */
  flush(): string[] {
    const removed: string[] = [];
    for (const [ip, row] of this.hosts) {
      if (row.currentConnections > 0) {
        const keep = newRow(ip, row.lastSeen);
        keep.currentConnections = row.currentConnections;
        keep.totalConnections = row.totalConnections;
        keep.successes = row.successes;
        keep.host = row.host;
        keep.hostValidated = row.hostValidated;
        keep.firstSeen = row.firstSeen;
        this.hosts.set(ip, keep);
        this.onChange(keep);
      } else {
        this.hosts.delete(ip);
        this.onEvict(ip);
        removed.push(ip);
      }
    }
    return removed;
  }

  /** Restores a persisted row (at start), without evicting beyond the bound. */
  restore(row: HostRow): void {
    if (this.hosts.size >= this.maxHosts) return;
    this.hosts.set(row.ip, { ...row, currentConnections: 0 });
  }

  private evictFor(n: number): void {
    let over = this.hosts.size + n - this.maxHosts;
    if (over <= 0) return;
    // Least recently seen first; skip rows with live connections on the first pass.
    for (const [ip, row] of this.hosts) {
      if (over <= 0) return;
      if (row.currentConnections > 0) continue;
      this.hosts.delete(ip);
      this.onEvict(ip);
      over--;
    }
    for (const ip of this.hosts.keys()) {
      if (over <= 0) return;
      this.hosts.delete(ip);
      this.onEvict(ip);
      over--;
    }
  }
}

function bump(map: Map<string, ConnectionCount>, key: string, max: number): void {
  let c = map.get(key);
  if (c === undefined) {
    if (map.size >= max) {
      for (const [k, v] of map) {
        if (v.current === 0) {
          map.delete(k);
          break;
        }
      }
    }
    c = { current: 0, total: 0 };
    map.set(key, c);
  }
  c.current++;
  c.total++;
}

function drop(c: ConnectionCount | undefined): void {
  if (c !== undefined && c.current > 0) c.current--;
}
