// The two halves of a sink: a Format turns events into text, an Output puts text somewhere (a
// rotated file, a syslog receiver). The writer joins them with a queue; any format can go to any
// file, and syslog has formats of its own.
import type { AuditEvent } from '../event.ts';

export interface Format {
  /** Written at the start of every new file ('' for line formats). */
  readonly header: string;
  /** Written when a file is closed or rotated away ('' for line formats). */
  readonly footer: string;
  /** Events this format has a record for (the SQL-error log: failed statements only). */
  accepts(e: AuditEvent): boolean;
  /** One record: a file format ends it with its line end, a syslog datagram has none. */
  render(e: AuditEvent): string;
  /** A file was opened holding `size` bytes: numbered formats (Enterprise XML) restart from here. */
  fileStarted?(size: number, at: Date): void;
  /**
   * A whole batch as the bytes render() would give joined (JSON lines: one Buffer, no string per
   * record); `count` records made it, the others went to onError.
   */
  encode?(
    batch: readonly AuditEvent[],
    onError: (e: AuditEvent, err: unknown) => void,
  ): { data: Buffer; count: number };
}

export interface Output {
  /** The path or the syslog address, for log lines and stats. */
  readonly target: string;
  open(): Promise<void>;
  /** Before a batch is rendered: a file rotates here, so records are numbered for the file they land in. */
  prepare(): Promise<void>;
  /** Writes the whole batch or throws an AuditError leaving the destination as it was. */
  write(records: readonly string[]): Promise<void>;
  /** The same for a batch already encoded (Format.encode), where the output takes bytes. */
  writeBytes?(data: Buffer): Promise<void>;
  /** Starts a new file now (no-op for syslog). */
  rotate(): Promise<void>;
  close(): Promise<void>;
}
