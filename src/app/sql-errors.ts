// moat.sql_errors: the most recent failed statements (newest last), redacted, bounded.
import type { SqlErrorRow } from '../admin/engine.ts';
import type { CommandEvent } from '../model/events.ts';
import { redactStatement } from '../sql/redact.ts';

/** Failed statements kept. */
const SQL_ERRORS_KEPT = 1000;

export class SqlErrorRing {
  readonly rows: SqlErrorRow[] = [];

  note(e: CommandEvent): void {
    this.rows.push({
      time: e.startedAt,
      session: e.session,
      user: e.user,
      host: e.clientAddress,
      code: e.errorCode,
      state: e.sqlState,
      message: e.errorMessage,
      statement: redactStatement(e.statement),
    });
    if (this.rows.length > SQL_ERRORS_KEPT) this.rows.shift();
  }
}
