// The buffered writer of one sink: a bounded queue filled by AuditLog.record() (the caller's
// path: a push, nothing else) and drained in batches by a timer, off that path.
//
// When the sink cannot keep up or cannot write:
//   default mode  the batch that failed, and records beyond the bound, are dropped and counted;
//                 serving goes on. One error line when an outage starts, one line when it ends
//                 with the number dropped in between.
//   strict mode   records stay queued while the queue has room and the failed batch is retried;
//                 the sink is `refusing` (the gateway then refuses statements, as Enterprise
//                 Audit's strict mode does) until a write succeeds again. Beyond the bound a
//                 record is refused: counted as dropped, never silently.
//
// Redaction runs here again, whatever the caller did: passwords never reach a sink.
import type { Logger } from 'pino';
import { redactStatement } from '../sql/redact.ts';
import { AuditError, describeError } from './errors.ts';
import type { AuditEvent } from './event.ts';
import type { EventFilter } from './sinks/filter.ts';
import type { Format, Output } from './sinks/format.ts';

/** Records per write: bounds one write's size and how long one flush holds the sink. */
const MAX_BATCH = 2000;

export interface SinkStats {
  name: string;
  target: string;
  written: number;
  dropped: number;
  errors: number;
  queued: number;
  /** The last write failed (and the next has not succeeded yet). */
  failing: boolean;
  lastError: string | null;
  /** Epoch ms of lastError, to tell the latest across sinks. */
  lastErrorAt: number;
}

export interface SinkWriterOptions {
  name: string;
  filter: EventFilter;
  format: Format;
  output: Output;
  strict: boolean;
  maxQueue: number;
  log: Logger;
}

/** The statement and any error message echoing it, redacted (MySQL's 1064 quotes the text near the error). */
export function redacted(e: AuditEvent): AuditEvent {
  const statement = redactStatement(e.statement);
  let message = redactStatement(e.message);
  if (message !== null && statement?.includes("'***'") && message.includes("near '")) {
    message = message.replace(/near '[\s\S]*$/, "near '***'");
  }
  return statement === e.statement && message === e.message ? e : { ...e, statement, message };
}

export class SinkWriter {
  readonly name: string;
  readonly filter: EventFilter;
  readonly strict: boolean;
  private readonly format: Format;
  private readonly output: Output;
  private readonly maxQueue: number;
  private readonly log: Logger;
  private queue: AuditEvent[] = [];
  private written = 0;
  private dropped = 0;
  private errors = 0;
  private lastError: string | null = null;
  private lastErrorAt = 0;
  private failing = false;
  /** Since when records are being lost or held, and how many were dropped meanwhile. */
  private outage: { since: number; dropped: number } | null = null;
  /** Output operations, one at a time. */
  private chain: Promise<void> = Promise.resolve();
  /** A drain queued on the chain and not started yet: flushes asked meanwhile share it. */
  private queuedDrain: Promise<void> | null = null;

  constructor(o: SinkWriterOptions) {
    this.name = o.name;
    this.filter = o.filter;
    this.strict = o.strict;
    this.format = o.format;
    this.output = o.output;
    this.maxQueue = o.maxQueue;
    this.log = o.log;
  }

  /** From record(): never throws, never waits. */
  push(e: AuditEvent): void {
    if (!this.format.accepts(e)) return;
    if (this.queue.length < this.maxQueue) {
      this.queue.push(e);
      return;
    }
    this.dropped++;
    if (this.outage === null) {
      const full = new AuditError('MOAT_AUDIT_QUEUE_FULL', `${this.maxQueue} records waiting`);
      this.note(full);
      this.startOutage(full);
    }
    this.outage!.dropped++;
  }

  /** Strict mode and the sink cannot take records: the gateway must refuse statements. */
  get refusing(): boolean {
    return this.strict && (this.failing || this.queue.length >= this.maxQueue);
  }

  get stats(): SinkStats {
    return {
      name: this.name,
      target: this.output.target,
      written: this.written,
      dropped: this.dropped,
      errors: this.errors,
      queued: this.queue.length,
      failing: this.failing,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
    };
  }

  open(): Promise<void> {
    return this.serial(() => this.output.open());
  }

  /** Writes what is queued; resolves when done or when a write failed (see stats). Never rejects. */
  flush(): Promise<void> {
    if (this.queuedDrain !== null) return this.queuedDrain;
    const drain = this.serial(async () => {
      this.queuedDrain = null;
      await this.drain();
    });
    this.queuedDrain = drain;
    return drain;
  }

  /** Flushes, then starts a new file (FLUSH LOGS, SIGHUP). */
  async rotate(): Promise<void> {
    await this.flush();
    await this.serial(() => this.output.rotate()).catch((err: unknown) => this.report(err));
  }

  /** Flushes what it can and closes; records that could not be written are counted as dropped. */
  async close(): Promise<void> {
    await this.flush();
    const left = this.queue.length;
    if (left > 0) {
      this.queue = [];
      this.dropped += left;
      this.log.error(
        { sink: this.name, target: this.output.target, dropped: left },
        'audit sink closed with records unwritten',
      );
    }
    await this.serial(() => this.output.close()).catch((err: unknown) => this.report(err));
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const n = Math.min(this.queue.length, MAX_BATCH);
      try {
        await this.output.prepare();
        const batch = this.queue.slice(0, n);
        let count: number;
        if (this.format.encode !== undefined && this.output.writeBytes !== undefined) {
          // One Buffer for the batch, written by the format's compiled serializer (JSON lines).
          const encoded = this.format.encode(batch.map(redacted), this.renderFailed);
          await this.output.writeBytes(encoded.data);
          count = encoded.count;
        } else {
          const records = this.render(batch);
          await this.output.write(records);
          count = records.length;
        }
        this.queue.splice(0, n);
        this.written += count;
        this.recovered();
      } catch (err) {
        this.failed(err, n);
        return; // the next tick tries again
      }
    }
  }

  private render(batch: readonly AuditEvent[]): string[] {
    const out: string[] = [];
    for (const e of batch) {
      try {
        out.push(this.format.render(redacted(e)));
      } catch (err) {
        this.renderFailed(e, err);
      }
    }
    return out;
  }

  private readonly renderFailed = (e: AuditEvent, err: unknown): void => {
    this.report(new AuditError('MOAT_AUDIT_RENDER_FAILED', `cannot render a ${e.name} record`, err));
  };

  private failed(err: unknown, n: number): void {
    const sent = err instanceof AuditError ? err.written : 0;
    this.note(err);
    this.failing = true;
    this.startOutage(err);
    this.queue.splice(0, sent);
    this.written += sent;
    if (this.strict) return;
    const lost = n - sent;
    this.queue.splice(0, lost);
    this.dropped += lost;
    this.outage!.dropped += lost;
  }

  private recovered(): void {
    this.failing = false;
    if (this.outage === null || this.queue.length >= this.maxQueue) return;
    const { since, dropped } = this.outage;
    this.outage = null;
    this.log.warn(
      { sink: this.name, target: this.output.target, dropped, outageMs: Date.now() - since },
      'audit sink writing again',
    );
  }

  private startOutage(err: unknown): void {
    if (this.outage !== null) return;
    this.outage = { since: Date.now(), dropped: 0 };
    const what = this.strict
      ? 'audit sink cannot write: records are held and statements refused until it can'
      : 'audit sink cannot write: records are being dropped';
    this.log.error({ sink: this.name, target: this.output.target, err: describeError(err) }, what);
  }

  private note(err: unknown): void {
    this.errors++;
    this.lastError = describeError(err);
    this.lastErrorAt = Date.now();
  }

  /** A problem that failed no write (rotation, the syslog relay, one record's rendering). */
  report(err: unknown): void {
    this.note(err);
    this.log.warn(
      { sink: this.name, target: this.output.target, err: describeError(err) },
      'audit sink problem',
    );
  }
}
