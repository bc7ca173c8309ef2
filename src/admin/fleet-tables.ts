// The fleet views of the admin port (state.store: redis): every instance's ledger rows tagged by
// instance, and merged totals per address. Read from Redis just before the statement runs
// (AdminEngine.prepare), so they are as fresh as the instances' last write (guard.persistIntervalMs).

import type { HostRow } from '../guard/ledger.ts';
import { FAILURE_CLASSES, FAILURE_COLUMN } from '../model/failure.ts';
import { mysqlTime, type TableDef } from './tables.ts';

const COUNTS = FAILURE_CLASSES.map((c) => [FAILURE_COLUMN[c], 'INTEGER'] as const);
const ACTIVITY = [
  ['CURRENT_CONNECTIONS', 'INTEGER'],
  ['TOTAL_CONNECTIONS', 'INTEGER'],
  ['SUCCESSES', 'INTEGER'],
  ['FIRST_SEEN', 'TEXT'],
  ['LAST_SEEN', 'TEXT'],
] as const;

/** The ACTIVITY columns of a row. */
function activity(r: HostRow): unknown[] {
  return [
    r.currentConnections,
    r.totalConnections,
    r.successes,
    mysqlTime(r.firstSeen),
    mysqlTime(r.lastSeen),
  ];
}

export const FLEET_TABLES: readonly TableDef[] = [
  {
    schema: 'moat',
    name: 'fleet_instances',
    columns: [
      ['INSTANCE', 'TEXT'],
      ['STATE', 'TEXT'],
      ['PID', 'INTEGER'],
      ['STARTED', 'TEXT'],
      ['LAST_SEEN', 'TEXT'],
      ['HOSTS', 'INTEGER'],
    ],
    *rows({ fleet }) {
      if (fleet === null) return;
      const hosts = new Map<string, number>();
      for (const r of fleet.rows) hosts.set(r.instance, (hosts.get(r.instance) ?? 0) + 1);
      for (const i of fleet.instances) {
        yield [
          i.instance,
          i.state,
          i.pid,
          mysqlTime(i.startedAt),
          mysqlTime(i.lastSeen),
          hosts.get(i.instance) ?? 0,
        ];
      }
    },
  },
  {
    schema: 'moat',
    name: 'fleet_host_cache',
    columns: [
      ['INSTANCE', 'TEXT'],
      ['IP', 'TEXT'],
      ['HOST', 'TEXT'],
      ['SUM_CONNECT_ERRORS', 'INTEGER'],
      ...COUNTS,
      ...ACTIVITY,
    ],
    *rows({ fleet }) {
      if (fleet === null) return;
      for (const { instance, row: r } of fleet.rows) {
        yield [instance, r.ip, r.host, r.sumConnectErrors, ...r.counts, ...activity(r)];
      }
    },
  },
  {
    schema: 'moat',
    name: 'fleet_hosts',
    columns: [
      ['IP', 'TEXT'],
      ['INSTANCES', 'INTEGER'],
      /** The shared counter max_connect_errors is checked against. */
      ['SUM_CONNECT_ERRORS', 'INTEGER'],
      ...COUNTS,
      ...ACTIVITY,
      ['BLOCKED', 'TEXT'],
    ],
    *rows({ fleet, guard, now }) {
      if (fleet === null) return;
      const blocked = new Set(guard.blocker.list(now).map((b) => b.ip));
      for (const [ip, t] of mergedTotals(fleet.rows)) {
        yield [
          ip,
          t.instances,
          fleet.connectErrors.get(ip) ?? 0,
          ...t.row.counts,
          ...activity(t.row),
          blocked.has(ip) ? 'YES' : 'NO',
        ];
      }
    },
  },
];

/** Per address: the sum of every instance's counts, the earliest first and latest last sighting. */
export function mergedTotals(
  rows: ReadonlyArray<{ instance: string; row: HostRow }>,
): Map<string, { instances: number; row: HostRow }> {
  const out = new Map<string, { instances: number; row: HostRow }>();
  for (const { row } of rows) {
    const t = out.get(row.ip);
    if (t === undefined) {
      out.set(row.ip, { instances: 1, row: { ...row, counts: [...row.counts] } });
      continue;
    }
    t.instances++;
    const m = t.row;
    row.counts.forEach((n, i) => {
      m.counts[i] = (m.counts[i] ?? 0) + n;
    });
    m.currentConnections += row.currentConnections;
    m.totalConnections += row.totalConnections;
    m.successes += row.successes;
    m.firstSeen = Math.min(m.firstSeen, row.firstSeen);
    m.lastSeen = Math.max(m.lastSeen, row.lastSeen);
    m.host ??= row.host;
  }
  return out;
}
