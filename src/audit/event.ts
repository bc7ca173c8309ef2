// The audit event model: one record per connection attempt, quit, change of user, statement,
// block, unblock, login delay and admin statement. Field names follow MySQL Enterprise Audit's
// where it has one (NAME, CONNECTION_ID, STATUS, USER, HOST, IP, DB), so every sink can be a
// plain rendering of this record. Statements are redacted before they get here.

export type AuditEventName =
  | 'Connect'
  | 'Quit'
  | 'Change user'
  | 'Query'
  | 'Blocked'
  | 'Unblocked'
  | 'Delayed'
  | 'Admin'
  /** A detection rule fired (detect/): its rule, score and evidence in message / statement. */
  | 'Alert';

export interface AuditEvent {
  /** ISO 8601 with milliseconds, UTC. */
  timestamp: string;
  name: AuditEventName;
  /** moat's session id (the connection id clients saw in the greeting); 0 when there is none. */
  connectionId: number;
  /** MySQL error code: 0 for success (Enterprise Audit's STATUS). */
  status: number;
  /** moat's failure class for a failed Connect (a host_cache column family), else null. */
  failureClass: string | null;
  /** moat's outcome of a Connect (ok, auth-denied, blocked, …), else null. */
  outcome: string | null;
  user: string | null;
  /** The client's host name when resolved and confirmed, else its address. */
  host: string;
  ip: string;
  port: number;
  db: string | null;
  tlsVersion: string | null;
  tlsCipher: string | null;
  /** The client program, from the connect attribute `program_name` (or `_program_name`). */
  program: string | null;
  /** Which moat wrote it (config `audit.instance`, default the host name). */
  instance: string;
  /** Query: the MySQL command (Query, Stmt_execute, Init_DB …) and its statement, redacted. */
  command: string | null;
  statement: string | null;
  /** The statement was cut: at capture (limits.maxStatementLength) or for the record (audit.maxStatementLength). */
  statementTruncated: boolean;
  /** When cut: the statement's whole length in bytes as the client sent it, else null. */
  statementLength: number | null;
  /** Query: the statement's digest (SHA-256 hex of its MySQL digest text, src/sql/digest.ts), else null. */
  digest: string | null;
  sqlState: string | null;
  /** The error message for a failed Connect or Query. */
  message: string | null;
  rows: number | null;
  affectedRows: number | null;
  durationMs: number | null;
}

// One ISO string per millisecond: a busy gateway writes many records within one, and formatting a
// Date showed in the connect-path profile (bench/login-profile.ts).
let isoAtMs = -1;
let iso = '';
function nowIso(): string {
  const ms = Date.now();
  if (ms !== isoAtMs) {
    isoAtMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

export function emptyEvent(name: AuditEventName, instance: string): AuditEvent {
  return {
    timestamp: nowIso(),
    name,
    connectionId: 0,
    status: 0,
    failureClass: null,
    outcome: null,
    user: null,
    host: '',
    ip: '',
    port: 0,
    db: null,
    tlsVersion: null,
    tlsCipher: null,
    program: null,
    instance,
    command: null,
    statement: null,
    statementTruncated: false,
    statementLength: null,
    digest: null,
    sqlState: null,
    message: null,
    rows: null,
    affectedRows: null,
    durationMs: null,
  };
}
