// The statement digest tables of the admin port: performance_schema.events_statements_summary_by_digest
// with MySQL's column names (those moat can know: no lock time, rows examined, temporary tables or
// index use, which only the server sees), and moat.statements_by_digest_by_account, the same
// figures per USER and HOST (the client's address), for "who runs this" and GROUP BY USER / HOST.
import { type DigestStats, type DigestSummary, mysqlTime6, picoseconds } from '../sql/digest-table.ts';
import type { TableDef } from './tables.ts';

const TIMER_COLUMNS = [
  ['COUNT_STAR', 'INTEGER'],
  ['SUM_TIMER_WAIT', 'INTEGER'],
  ['MIN_TIMER_WAIT', 'INTEGER'],
  ['AVG_TIMER_WAIT', 'INTEGER'],
  ['MAX_TIMER_WAIT', 'INTEGER'],
  ['SUM_ERRORS', 'INTEGER'],
  ['SUM_ROWS_AFFECTED', 'INTEGER'],
  ['SUM_ROWS_SENT', 'INTEGER'],
  ['FIRST_SEEN', 'TEXT'],
  ['LAST_SEEN', 'TEXT'],
] as const;

function figures(s: DigestStats): unknown[] {
  return [
    s.count,
    picoseconds(s.sumNs),
    picoseconds(s.minNs),
    picoseconds(s.sumNs / s.count),
    picoseconds(s.maxNs),
    s.errors,
    s.rowsAffected,
    s.rowsSent,
    mysqlTime6(s.firstSeen),
    mysqlTime6(s.lastSeen),
  ];
}

export const DIGEST_TABLE = 'events_statements_summary_by_digest';
export const ACCOUNT_DIGEST_TABLE = 'statements_by_digest_by_account';

export function digestTables(summary: DigestSummary): TableDef[] {
  return [
    {
      schema: 'performance_schema',
      name: DIGEST_TABLE,
      columns: [
        ['SCHEMA_NAME', 'TEXT'],
        ['DIGEST', 'TEXT'],
        ['DIGEST_TEXT', 'TEXT'],
        ...TIMER_COLUMNS,
        ['QUERY_SAMPLE_TEXT', 'TEXT'],
        ['QUERY_SAMPLE_SEEN', 'TEXT'],
        ['QUERY_SAMPLE_TIMER_WAIT', 'INTEGER'],
      ],
      *rows() {
        for (const r of summary.rows()) {
          const sampled = r.sample !== null;
          yield [
            r.schema,
            r.hash,
            r.text,
            ...figures(r),
            r.sample,
            sampled ? mysqlTime6(r.sampleSeen) : null,
            sampled ? picoseconds(r.sampleNs) : null,
          ];
        }
      },
    },
    {
      schema: 'moat',
      name: ACCOUNT_DIGEST_TABLE,
      columns: [
        ['USER', 'TEXT'],
        ['HOST', 'TEXT'],
        ['SCHEMA_NAME', 'TEXT'],
        ['DIGEST', 'TEXT'],
        ['DIGEST_TEXT', 'TEXT'],
        ...TIMER_COLUMNS,
      ],
      *rows() {
        for (const r of summary.accountDigestRows())
          yield [r.user, r.host, r.schema, r.hash, r.text, ...figures(r)];
      },
    },
  ];
}
