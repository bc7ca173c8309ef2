// The CommandEvent of one sysbench point select (--db-ps-mode=disable) as the follower reports
// it, for the micro-benchmarks: statement i of a run over 4 tables of 10,000 rows.
import type { CommandEvent } from '../src/model/events.ts';
import { digestOf } from '../src/sql/digest.ts';

export function pointSelectEvent(i: number): CommandEvent {
  const statement = `SELECT c FROM sbtest${1 + (i % 4)} WHERE id=${(i * 7919) % 10000}`;
  return {
    session: (1 << 30) + (i % 32),
    user: 'bench',
    clientAddress: '127.0.0.1',
    clientPort: 40000 + (i % 32),
    database: 'sbtest',
    command: 'Query',
    statement,
    statementTruncated: false,
    statementBytes: Buffer.byteLength(statement),
    digest: digestOf(statement),
    status: 'OK',
    errorCode: 0,
    sqlState: null,
    errorMessage: null,
    rows: 1,
    affectedRows: 0,
    startedAt: Date.now() + i,
    durationMs: 0.1 + (i % 97) / 1000,
  };
}
