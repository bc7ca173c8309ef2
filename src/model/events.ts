// The event stream the gateway produces: one CommandEvent per client command, with what audit
// and detection need. Built once per command (never per packet).
import type { LoginOutcome } from './failure.ts';

export type { LoginOutcome };

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

/** A statement's digest (src/sql/digest.ts makes them): one per distinct statement shape. */
export interface StatementDigest {
  /** MySQL's normalised digest text, e.g. "SELECT `c` FROM `t` WHERE `id` = ?". */
  text: string;
  /** 64 hex chars: SHA-256 of `text`. */
  hash: string;
  /** The statement was cut (capture limit or maxDigestLength): this is the digest of its prefix. */
  truncated: boolean;
}

/** One login (or change of user) outcome: refused at accept, failed, or in. */
export interface LoginRecord {
  session: number;
  outcome: LoginOutcome;
  user: string | null;
  clientAddress: string;
  clientPort: number;
  errorCode: number;
  message: string;
  /** A login, or a COM_CHANGE_USER re-authentication. */
  kind?: 'connect' | 'change-user';
  database?: string | null;
  tlsVersion?: string | null;
  tlsCipher?: string | null;
  /** The client program (connect attribute program_name), when sent. */
  program?: string | null;
}
