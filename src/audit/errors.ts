// Typed errors of the audit log. Each has a stable `code` (logs, lastError, tests) and keeps the
// system error code (ENOSPC, EIO, ECONNREFUSED …) it came from, which is what an operator acts on.

export type AuditErrorCode =
  | 'MOAT_AUDIT_OPEN_FAILED'
  | 'MOAT_AUDIT_WRITE_FAILED'
  | 'MOAT_AUDIT_ROTATE_FAILED'
  | 'MOAT_AUDIT_SYSLOG_FAILED'
  | 'MOAT_AUDIT_QUEUE_FULL'
  | 'MOAT_AUDIT_RENDER_FAILED';

/** What each code means, for the README and the operator reading a log line. */
export const AUDIT_ERRORS: Record<AuditErrorCode, string> = {
  MOAT_AUDIT_OPEN_FAILED: 'a sink could not be opened (missing directory, permissions, DNS of a syslog host)',
  MOAT_AUDIT_WRITE_FAILED:
    'a batch could not be written to a file (disk full, I/O error); the file is left as before',
  MOAT_AUDIT_ROTATE_FAILED: 'a log file could not be rotated, compressed or pruned',
  MOAT_AUDIT_SYSLOG_FAILED: 'a syslog datagram could not be sent, or the unix-socket relay stopped',
  MOAT_AUDIT_QUEUE_FULL:
    'records arrived faster than a sink could write them and its queue reached its bound',
  MOAT_AUDIT_RENDER_FAILED: 'a record could not be rendered (a bug: the record is skipped, never the batch)',
};

export class AuditError extends Error {
  readonly code: AuditErrorCode;
  /** The system error code underneath (ENOSPC, EIO …), when there is one. */
  readonly errno: string | null;

  /** Records of the failed batch that did reach their destination (datagrams sent before the error). */
  readonly written: number;

  constructor(code: AuditErrorCode, message: string, cause?: unknown, written = 0) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AuditError';
    this.code = code;
    this.errno = systemCode(cause);
    this.written = written;
  }
}

function systemCode(cause: unknown): string | null {
  if (typeof cause !== 'object' || cause === null) return null;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

/** `MOAT_AUDIT_WRITE_FAILED (ENOSPC): …`, the form stats.lastError and log lines use. */
export function describeError(err: unknown): string {
  if (err instanceof AuditError) return `${err.code}${err.errno ? ` (${err.errno})` : ''}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
