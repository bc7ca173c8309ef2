// The event stream the gateway produces: one CommandEvent per client command, with what audit
// and detection need. Built once per command (never per packet).

import type { StatementDigest } from '../sql/digest.ts';

export type CommandStatus = 'OK' | 'ERR' | 'NONE' | 'UNKNOWN';

export interface CommandEvent {
  session: number;
  user: string;
  clientAddress: string;
  clientPort: number;
  database: string | null;
  /** MySQL's spelling: Query, Stmt_execute, Init_db … */
  command: string;
  /** Statement text (COM_QUERY, COM_STMT_PREPARE, the prepared text for COM_STMT_EXECUTE), capped. */
  statement: string | null;
  statementTruncated: boolean;
  /** The statement's length in bytes as the client sent it (at least this when continued past 16 MiB). */
  statementBytes?: number;
  /**
   * The statement's digest (Query, Stmt_prepare; a Stmt_execute has its PREPARE's), computed once
   * per command and memoized by text; null or absent without a statement.
   */
  digest?: StatementDigest | null;
  /** NONE: a command with no response (COM_STMT_CLOSE, COM_QUIT); UNKNOWN: moat stopped following. */
  status: CommandStatus;
  errorCode: number;
  sqlState: string | null;
  errorMessage: string | null;
  /** Rows sent back in result sets (all result sets of a multi-result summed). */
  rows: number;
  affectedRows: number;
  /** Epoch milliseconds when moat saw the command. */
  startedAt: number;
  durationMs: number;
}

export interface SessionIdentity {
  session: number;
  user: string;
  clientAddress: string;
  clientPort: number;
  database: string | null;
}
