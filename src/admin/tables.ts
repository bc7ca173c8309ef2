// moat's runtime state as rows of tables named and shaped as MySQL's (performance_schema,
// information_schema) and moat's own (schema `moat`), loaded into the admin port's SQLite
// database before each statement. Timestamps in MySQL's 'YYYY-MM-DD HH:MM:SS' (UTC).

import type { Guard } from '../guard/guard.ts';
import { FAILURE_CLASSES, FAILURE_COLUMN } from '../model/failure.ts';
import type { SessionInfo } from '../model/session.ts';
import { findingCells, POSTURE_COLUMNS } from '../posture/report.ts';
import type { PostureResult } from '../posture/runner.ts';
import type { FleetView } from '../state/redis/fleet.ts';
import type { SqlErrorRow } from './engine.ts';

export interface TableDef {
  schema: 'performance_schema' | 'information_schema' | 'moat' | 'mysql';
  name: string;
  /** Column name → SQLite type (INTEGER or TEXT): the admin port tells clients numbers from text. */
  columns: ReadonlyArray<readonly [string, 'INTEGER' | 'TEXT']>;
  rows(src: TableSource): Iterable<unknown[]>;
}

export interface TableSource {
  guard: Guard;
  sessions: SessionInfo[];
  now: number;
  variables(): Array<[string, string | number]>;
  sqlErrors(): SqlErrorRow[];
  /** The fleet's state, read just before a statement that names a fleet_ table; null otherwise. */
  fleet: FleetView | null;
  /** The last posture check (null: not configured). */
  posture: PostureResult | null;
}

export function mysqlTime(ms: number | null): string | null {
  if (ms === null) return null;
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

const HOST_CACHE_COUNTS = FAILURE_CLASSES.map((c) => FAILURE_COLUMN[c]);

export const TABLES: readonly TableDef[] = [
  {
    schema: 'performance_schema',
    name: 'host_cache',
    columns: [
      ['IP', 'TEXT'],
      ['HOST', 'TEXT'],
      ['HOST_VALIDATED', 'TEXT'],
      ['SUM_CONNECT_ERRORS', 'INTEGER'],
      ...HOST_CACHE_COUNTS.map((c) => [c, 'INTEGER'] as const),
      ['FIRST_SEEN', 'TEXT'],
      ['LAST_SEEN', 'TEXT'],
      ['FIRST_ERROR_SEEN', 'TEXT'],
      ['LAST_ERROR_SEEN', 'TEXT'],
    ],
    *rows({ guard }) {
      for (const r of guard.ledger.rows()) {
        yield [
          r.ip,
          r.host,
          r.hostValidated ? 'YES' : 'NO',
          r.sumConnectErrors,
          ...r.counts,
          mysqlTime(r.firstSeen),
          mysqlTime(r.lastSeen),
          mysqlTime(r.firstErrorSeen),
          mysqlTime(r.lastErrorSeen),
        ];
      }
    },
  },
  {
    schema: 'performance_schema',
    name: 'hosts',
    columns: [
      ['HOST', 'TEXT'],
      ['CURRENT_CONNECTIONS', 'INTEGER'],
      ['TOTAL_CONNECTIONS', 'INTEGER'],
    ],
    // MySQL's meaning: authenticated connections per host, and a NULL row for the rest (see
    // guard/ledger.ts); every attempt's own address is in host_cache.
    *rows({ guard }) {
      const u = guard.ledger.unauthenticated;
      if (u.total > 0) yield [null, u.current, u.total];
      for (const [ip, c] of guard.ledger.hostCounts()) yield [ip, c.current, c.total];
    },
  },
  {
    schema: 'performance_schema',
    name: 'users',
    columns: [
      ['USER', 'TEXT'],
      ['CURRENT_CONNECTIONS', 'INTEGER'],
      ['TOTAL_CONNECTIONS', 'INTEGER'],
    ],
    *rows({ guard }) {
      const u = guard.ledger.unauthenticated;
      if (u.total > 0) yield [null, u.current, u.total];
      for (const [user, c] of guard.ledger.userCounts()) yield [user, c.current, c.total];
    },
  },
  {
    schema: 'performance_schema',
    name: 'accounts',
    columns: [
      ['USER', 'TEXT'],
      ['HOST', 'TEXT'],
      ['CURRENT_CONNECTIONS', 'INTEGER'],
      ['TOTAL_CONNECTIONS', 'INTEGER'],
    ],
    *rows({ guard }) {
      const u = guard.ledger.unauthenticated;
      if (u.total > 0) yield [null, null, u.current, u.total];
      for (const a of guard.ledger.accountCounts()) yield [a.user, a.ip, a.count.current, a.count.total];
    },
  },
  {
    schema: 'information_schema',
    name: 'CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS',
    columns: [
      ['USERHOST', 'TEXT'],
      ['FAILED_ATTEMPTS', 'INTEGER'],
    ],
    *rows({ guard }) {
      for (const e of guard.connectionControl.entries()) yield [e.userHost, e.failedAttempts];
    },
  },
  {
    schema: 'moat',
    name: 'blocked_hosts',
    columns: [
      ['IP', 'TEXT'],
      ['REASON', 'TEXT'],
      ['SINCE', 'TEXT'],
      ['UNTIL', 'TEXT'],
      ['BLOCKED_BY', 'TEXT'],
    ],
    *rows({ guard, now }) {
      for (const b of guard.blocker.list(now))
        yield [b.ip, b.reason, mysqlTime(b.since), mysqlTime(b.until), b.by];
    },
  },
  {
    schema: 'moat',
    name: 'sessions',
    columns: [
      ['ID', 'INTEGER'],
      ['USER', 'TEXT'],
      ['HOST', 'TEXT'],
      ['DB', 'TEXT'],
      ['COMMAND', 'TEXT'],
      ['TIME', 'INTEGER'],
      ['STATE', 'TEXT'],
      ['TLS', 'TEXT'],
    ],
    *rows({ sessions }) {
      for (const s of sessions) yield [s.id, s.user, s.host, s.db, s.command, s.timeSeconds, s.state, s.tls];
    },
  },
  {
    schema: 'moat',
    name: 'address_rules',
    columns: [
      ['LISTENER', 'TEXT'],
      ['POSITION', 'INTEGER'],
      ['ACTION', 'TEXT'],
      ['NETWORKS', 'TEXT'],
    ],
    *rows({ guard }) {
      for (const { listener, policy } of guard.addressRules()) {
        let i = 0;
        for (const r of policy.source) yield [listener, ++i, r.action, r.from.join(' ')];
        yield [listener, null, `${policy.defaultVerdict} (default)`, null];
      }
    },
  },
  {
    schema: 'moat',
    name: 'variables',
    columns: [
      ['VARIABLE_NAME', 'TEXT'],
      ['VARIABLE_VALUE', 'TEXT'],
    ],
    *rows({ variables }) {
      for (const [n, v] of variables()) yield [n, String(v)];
    },
  },
  {
    schema: 'moat',
    name: 'posture_findings',
    columns: [['CHECKED_AT', 'TEXT'], ...POSTURE_COLUMNS.map((c) => [c, 'TEXT'] as const)],
    *rows({ posture }) {
      if (posture === null) return;
      const at = mysqlTime(posture.checkedAt);
      for (const f of posture.findings) yield [at, ...findingCells(f)];
    },
  },
  {
    schema: 'moat',
    name: 'sql_errors',
    columns: [
      ['TIME', 'TEXT'],
      ['SESSION', 'INTEGER'],
      ['USER', 'TEXT'],
      ['HOST', 'TEXT'],
      ['ERROR_CODE', 'INTEGER'],
      ['SQLSTATE', 'TEXT'],
      ['MESSAGE', 'TEXT'],
      ['STATEMENT', 'TEXT'],
    ],
    *rows({ sqlErrors }) {
      for (const e of sqlErrors()) {
        yield [mysqlTime(e.time), e.session, e.user, e.host, e.code, e.state, e.message, e.statement];
      }
    },
  },
];
