// The statement digest summary: performance_schema.events_statements_summary_by_digest as MySQL
// keeps it (one row per schema and digest, bounded by performance_schema_digests_size), and moat's
// breakdown of the same figures per account (moat.statements_by_digest_by_account).
//
// MySQL facts kept: row 0 of the digest array is reserved for "all else", so a table of size N
// holds N - 1 digests, and once they are taken every new digest is added to the row whose
// SCHEMA_NAME and DIGEST are NULL (and counted as lost: Performance_schema_digest_lost); nothing
// is evicted until TRUNCATE TABLE. Timer columns are picoseconds. QUERY_SAMPLE_TEXT is the
// statement of the slowest execution, or of a newer one once the sample is older than
// performance_schema_max_digest_sample_age (60 s); here it is redacted first.
//
// Fed one finished command event at a time (Query and Stmt_execute with a digest), off the relay
// path; a known digest costs map lookups and additions, no allocation.

import { z } from 'zod';
import type { CommandEvent } from '../model/events.ts';
import { redactStatement } from './redact.ts';

export const digestConfigSchema = z.strictObject({
  /** Rows of events_statements_summary_by_digest, as performance_schema_digests_size (one is the NULL row). */
  size: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Rows of moat.statements_by_digest_by_account (one is the NULL row). */
  accountSize: z.number().int().min(1).max(1_000_000).default(10_000),
  /** As max_digest_length: bytes of token storage a digest may use; a longer statement gets its prefix's. */
  maxDigestLength: z.number().int().min(16).max(1_048_576).default(1024),
  /** QUERY_SAMPLE_TEXT's length in characters, as performance_schema_max_sql_text_length. */
  maxSampleLength: z.number().int().min(0).max(1_048_576).default(1024),
  /** Seconds after which any new statement replaces the sample, as performance_schema_max_digest_sample_age. */
  sampleAgeSeconds: z.number().int().min(0).max(1_048_576).default(60),
});

export type DigestConfig = z.infer<typeof digestConfigSchema>;

/** What every row sums up. */
export class DigestStats {
  count = 0;
  sumNs = 0;
  minNs = Number.POSITIVE_INFINITY;
  maxNs = 0;
  errors = 0;
  rowsAffected = 0;
  rowsSent = 0;
  firstSeen = 0;
  lastSeen = 0;

  add(e: CommandEvent): void {
    const ns = e.durationMs * 1e6;
    if (this.count === 0) this.firstSeen = e.startedAt;
    this.count++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
    if (ns > this.maxNs) this.maxNs = ns;
    if (e.status === 'ERR') this.errors++;
    this.rowsAffected += e.affectedRows;
    this.rowsSent += e.rows;
    if (e.startedAt > this.lastSeen) this.lastSeen = e.startedAt;
  }
}

export class DigestRow extends DigestStats {
  /** null for the "all else" row. */
  readonly schema: string | null;
  readonly hash: string | null;
  readonly text: string | null;
  sample: string | null = null;
  sampleSeen = 0;
  sampleNs = 0;

  constructor(schema: string | null, hash: string | null, text: string | null) {
    super();
    this.schema = schema;
    this.hash = hash;
    this.text = text;
  }
}

export class AccountDigestRow extends DigestStats {
  readonly user: string | null;
  readonly host: string | null;
  readonly schema: string | null;
  readonly hash: string | null;
  readonly text: string | null;

  constructor(
    user: string | null,
    host: string | null,
    schema: string | null,
    hash: string | null,
    text: string | null,
  ) {
    super();
    this.user = user;
    this.host = host;
    this.schema = schema;
    this.hash = hash;
    this.text = text;
  }
}

/** Digest hash → its rows, one per schema (almost always one). */
type ByHash<R> = Map<string, R[]>;

function find<R extends { schema: string | null }>(
  rows: R[] | undefined,
  schema: string | null,
): R | undefined {
  if (rows === undefined) return undefined;
  for (let i = 0; i < rows.length; i++) if (rows[i]!.schema === schema) return rows[i];
  return undefined;
}

export class DigestSummary {
  private cfg: DigestConfig;
  private readonly digests: ByHash<DigestRow> = new Map();
  private digestRows = 0;
  private other: DigestRow | null = null;
  /** user → host → digest hash → rows. */
  private readonly accounts = new Map<string, Map<string, ByHash<AccountDigestRow>>>();
  private accountRows = 0;
  private accountOther: AccountDigestRow | null = null;
  /** Statements whose digest found no row (MySQL's Performance_schema_digest_lost). */
  lost = 0;

  constructor(cfg: DigestConfig) {
    this.cfg = cfg;
  }

  /** A finished command: counted when it is a statement with a digest (Query, Stmt_execute). */
  record(e: CommandEvent): void {
    const d = e.digest;
    if (d == null || (e.command !== 'Query' && e.command !== 'Stmt_execute')) return;
    const schema = e.database;
    let list = this.digests.get(d.hash);
    let row = find(list, schema);
    if (row === undefined) {
      // Row 0 is the "all else" row: size N leaves N - 1 for digests.
      if (this.digestRows < this.cfg.size - 1) {
        row = new DigestRow(schema, d.hash, d.text);
        if (list === undefined) {
          list = [];
          this.digests.set(d.hash, list);
        }
        list.push(row);
        this.digestRows++;
      } else {
        row = this.other ??= new DigestRow(null, null, null);
        this.lost++;
      }
    }
    row.add(e);
    this.sample(row, e);
    this.recordAccount(e, schema, d.hash, d.text);
  }

  private sample(row: DigestRow, e: CommandEvent): void {
    if (row.hash === null || e.statement === null) return;
    const ns = e.durationMs * 1e6;
    const stale = e.startedAt - row.sampleSeen >= this.cfg.sampleAgeSeconds * 1000;
    if (row.sample !== null && ns <= row.sampleNs && !stale) return;
    const text = redactStatement(e.statement) ?? '';
    row.sample = text.length > this.cfg.maxSampleLength ? text.slice(0, this.cfg.maxSampleLength) : text;
    row.sampleSeen = e.startedAt;
    row.sampleNs = ns;
  }

  private recordAccount(e: CommandEvent, schema: string | null, hash: string, text: string): void {
    let hosts = this.accounts.get(e.user);
    let byHash = hosts?.get(e.clientAddress);
    let list = byHash?.get(hash);
    let row = find(list, schema);
    if (row === undefined) {
      if (this.accountRows < this.cfg.accountSize - 1) {
        row = new AccountDigestRow(e.user, e.clientAddress, schema, hash, text);
        if (hosts === undefined) {
          hosts = new Map();
          this.accounts.set(e.user, hosts);
        }
        if (byHash === undefined) {
          byHash = new Map();
          hosts.set(e.clientAddress, byHash);
        }
        if (list === undefined) {
          list = [];
          byHash.set(hash, list);
        }
        list.push(row);
        this.accountRows++;
      } else {
        row = this.accountOther ??= new AccountDigestRow(null, null, null, null, null);
      }
    }
    row.add(e);
  }

  /** TRUNCATE TABLE performance_schema.events_statements_summary_by_digest: every row goes. */
  truncate(): void {
    this.digests.clear();
    this.digestRows = 0;
    this.other = null;
    this.accounts.clear();
    this.accountRows = 0;
    this.accountOther = null;
    this.lost = 0;
  }

  *rows(): Iterable<DigestRow> {
    if (this.other !== null) yield this.other;
    for (const list of this.digests.values()) yield* list;
  }

  *accountDigestRows(): Iterable<AccountDigestRow> {
    if (this.accountOther !== null) yield this.accountOther;
    for (const hosts of this.accounts.values())
      for (const byHash of hosts.values()) for (const list of byHash.values()) yield* list;
  }
}

/** Nanoseconds as MySQL's picosecond timer columns (BIGINT: beyond 2^53 ps as a bigint). */
export function picoseconds(ns: number): number | bigint {
  const ps = Math.round(ns * 1000);
  return Number.isSafeInteger(ps) ? ps : BigInt(Math.round(ns)) * 1000n;
}

/** MySQL's TIMESTAMP(6) text, UTC: '2026-11-23 12:30:22.902000'. */
export function mysqlTime6(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23).replace('T', ' ')}000`;
}
