// The audit log as the gateway sees it: record() an event (a filter test and a queue push per
// sink, nothing slower, never a throw), ask `refusing` before running a statement, read stats.
// Writing, redaction, rotation and syslog happen in the sinks' writers, on a timer.
//
//   const audit = new AuditLog(config.audit, log, { baseDir: config.stateDir });
//   await audit.start();                 // opens every sink; rejects with an AuditError if one cannot
//   audit.record(event);                 // per Connect, Quit, Query …
//   if (audit.refusing) …                // strict mode and a sink cannot write: refuse statements
//   await audit.close();                 // flushes; XML files get their </AUDIT>
import type { Logger } from 'pino';
import { redactStatement } from '../sql/redact.ts';
import type { AuditConfig } from './config.ts';
import { describeError } from './errors.ts';
import type { AuditEvent, AuditEventName } from './event.ts';
import { createSink } from './sinks/create.ts';
import type { Candidate } from './sinks/filter.ts';
import { type StatementClass, statementClass } from './statement.ts';
import type { SinkStats, SinkWriter } from './writer.ts';

export { type AuditConfig, type AuditConfigInput, auditConfigSchema } from './config.ts';
export { AUDIT_ERRORS, AuditError, type AuditErrorCode } from './errors.ts';
export type { SinkStats } from './writer.ts';

export interface AuditStats {
  /** Records written, summed over sinks (one event written to two sinks counts twice). */
  written: number;
  /** Records lost: queue full, a failed write in default mode, refused in strict mode, left at close. */
  dropped: number;
  /** Failed writes and other sink problems. */
  errors: number;
  /** The latest problem of any sink, `CODE (ERRNO): message`. */
  lastError: string | null;
  /** Records waiting, summed over sinks. */
  queued: number;
}

export interface AuditLogOptions {
  /** Where relative sink paths start: moat's state directory. Default: the working directory. */
  baseDir?: string;
  /** The clock of rotation by age (tests). */
  now?: () => number;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

export class AuditLog {
  private readonly config: AuditConfig;
  private readonly log: Logger;
  private readonly writers: SinkWriter[];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Failures of record() itself (a bug, never the caller's problem). */
  private recordErrors = 0;
  private recordLastError: string | null = null;

  constructor(config: AuditConfig, log: Logger, options: AuditLogOptions = {}) {
    this.config = config;
    this.log = log.child({ module: 'audit' });
    const ctx = {
      config,
      log: this.log,
      baseDir: options.baseDir ?? process.cwd(),
      ...(options.now ? { now: options.now } : {}),
    };
    this.writers = config.enabled ? config.sinks.map((s) => createSink(s, ctx)) : [];
    const named = config.enabled ? config.sinks.map((s) => s.filter?.events) : [];
    this.takesAll = named.some((events) => events === undefined);
    this.taken = new Set(named.flatMap((events) => events ?? []));
  }

  private readonly takesAll: boolean;
  private readonly taken: ReadonlySet<AuditEventName>;

  /**
   * Some sink's filter may take events of this name: else a caller need not build them (the
   * gateway builds a Query record per statement only when a sink can want it).
   */
  wants(name: AuditEventName): boolean {
    return this.takesAll || this.taken.has(name);
  }

  /** Opens every sink and starts the flush timer. Rejects (an AuditError) when a sink cannot be opened. */
  async start(): Promise<void> {
    const opened = await Promise.allSettled(this.writers.map((w) => w.open()));
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(this.writers.map((w) => w.close()));
      throw failed.reason;
    }
    this.timer = setInterval(() => void this.flush(), this.config.flushIntervalMs);
    this.timer.unref();
    for (const w of this.writers) this.log.info({ sink: w.name, target: w.stats.target }, 'audit sink open');
  }

  /** Queues an event for every sink whose filter takes it. Never throws, never waits. */
  record(event: AuditEvent): void {
    if (this.closed) return;
    try {
      const e = this.cut(event);
      let cls: StatementClass | undefined;
      const candidate: Candidate = {
        event: e,
        statementClass: () => {
          cls ??= statementClass(e.statement ?? '');
          return cls;
        },
      };
      for (const w of this.writers) if (w.filter(candidate)) w.push(e);
    } catch (err) {
      this.recordErrors++;
      this.recordLastError = describeError(err);
    }
  }

  /**
   * The event with its statement cut to audit.maxStatementLength, marked as cut with its whole
   * length. Here, before the queues, so that a queue holds short texts whatever the capture limit;
   * redacted before the cut, so a cut can never leave a password's first characters behind.
   */
  private cut(e: AuditEvent): AuditEvent {
    const s = e.statement;
    const max = this.config.maxStatementLength;
    if (s === null || s.length <= max) return e;
    const whole = redactStatement(s);
    if (whole.length <= max) return { ...e, statement: whole };
    // Never half a surrogate pair: a lone surrogate is not UTF-8 a file can hold.
    const end = isHighSurrogate(whole.charCodeAt(max - 1)) ? max - 1 : max;
    return {
      ...e,
      statement: whole.slice(0, end),
      statementTruncated: true,
      statementLength: e.statementLength ?? Buffer.byteLength(s),
    };
  }

  /** Writes everything queued. Resolves when done or failed (see stats); never rejects. */
  async flush(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.flush()));
  }

  /** Starts new files now, after writing what is queued (FLUSH LOGS, SIGHUP). */
  async rotate(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.rotate()));
  }

  /** Stops the timer, writes what it can and closes every sink. Later records are ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.writers.map((w) => w.close()));
  }

  /** Strict mode and some sink cannot write, or its queue is full: refuse statements. */
  get refusing(): boolean {
    return this.writers.some((w) => w.refusing);
  }

  get stats(): AuditStats {
    const sinks = this.sinks();
    const latest = sinks.reduce<SinkStats | null>(
      (a, s) => (s.lastError !== null && (a === null || s.lastErrorAt > a.lastErrorAt) ? s : a),
      null,
    );
    const sum = (k: 'written' | 'dropped' | 'errors' | 'queued') => sinks.reduce((n, s) => n + s[k], 0);
    return {
      written: sum('written'),
      dropped: sum('dropped'),
      errors: sum('errors') + this.recordErrors,
      lastError: latest?.lastError ?? this.recordLastError,
      queued: sum('queued'),
    };
  }

  /** Per-sink figures, for the admin port's tables and /metrics. */
  sinks(): SinkStats[] {
    return this.writers.map((w) => w.stats);
  }
}
