// The digest summary store behind events_statements_summary_by_digest: MySQL's bound (row 0 kept
// for "all else"), what a row sums, the sample (slowest, or newer once stale; redacted), the
// per-account rows, TRUNCATE, and picosecond timers past 2^53.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandEvent } from '../../src/model/events.ts';
import { digestOf } from '../../src/sql/digest.ts';
import { DigestSummary, digestConfigSchema, mysqlTime6, picoseconds } from '../../src/sql/digest-table.ts';
import { event as commandEvent } from './detect-fixtures.ts';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

function event(statement: string, o: Partial<CommandEvent> = {}): CommandEvent {
  const base = { clientAddress: '192.0.2.7', clientPort: 50000, rows: 1, startedAt: T0, durationMs: 2 };
  return commandEvent({ ...base, statement, digest: digestOf(statement), ...o });
}

const summary = (o: Record<string, unknown> = {}) => new DigestSummary(digestConfigSchema.parse(o));

describe('digest summary', () => {
  test('defaults as MySQL: 10000 rows, 1024 bytes of digest, 1024 characters of sample, 60 s sample age', () => {
    assert.deepEqual(digestConfigSchema.parse({}), {
      size: 10_000,
      accountSize: 10_000,
      maxDigestLength: 1024,
      maxSampleLength: 1024,
      sampleAgeSeconds: 60,
    });
  });

  test('one row per schema and digest; it sums count, time, errors and rows', () => {
    const s = summary();
    s.record(event('SELECT 1', { durationMs: 1, rows: 1 }));
    s.record(event('SELECT 2', { durationMs: 3, rows: 1, startedAt: T0 + 5 }));
    s.record(event('SELECT 3', { status: 'ERR', errorCode: 1146, rows: 0, durationMs: 2 }));
    s.record(event('SELECT 4', { database: 'other' }));
    const rows = [...s.rows()];
    assert.equal(rows.length, 2);
    const r = rows.find((x) => x.schema === 'shop')!;
    assert.equal(r.text, 'SELECT ?');
    assert.equal(r.count, 3);
    assert.equal(r.errors, 1);
    assert.equal(r.rowsSent, 2);
    assert.equal(picoseconds(r.sumNs), 6e9);
    assert.equal(picoseconds(r.minNs), 1e9);
    assert.equal(picoseconds(r.maxNs), 3e9);
    assert.equal(r.firstSeen, T0);
    assert.equal(r.lastSeen, T0 + 5);
  });

  test('only statements with a digest count: Query and Stmt_execute, not Stmt_prepare or Ping', () => {
    const s = summary();
    s.record(event('SELECT ?', { command: 'Stmt_prepare' }));
    s.record(event('SELECT ?', { command: 'Stmt_execute' }));
    s.record(event('SELECT 1', { command: 'Ping', statement: null, digest: null }));
    assert.deepEqual(
      [...s.rows()].map((r) => [r.text, r.count]),
      [['SELECT ?', 1]],
    );
  });

  test('size N holds N - 1 digests; the rest go to the NULL row and count as lost', () => {
    const s = summary({ size: 3, accountSize: 2 });
    for (const sql of ['SELECT 1', 'SELECT 1, 2', 'SELECT 5', 'SELECT a FROM t', 'SELECT b FROM t'])
      s.record(event(sql));
    const rows = [...s.rows()].map((r) => [r.schema, r.hash === null ? null : r.text, r.count]);
    assert.deepEqual(rows, [
      [null, null, 2],
      ['shop', 'SELECT ?', 2],
      ['shop', 'SELECT ?, ...', 1],
    ]);
    assert.equal(s.lost, 2);
    const accounts = [...s.accountDigestRows()].map((r) => [r.user, r.text, r.count]);
    assert.deepEqual(accounts, [
      [null, null, 3],
      ['app', 'SELECT ?', 2],
    ]);
    s.truncate();
    assert.deepEqual([...s.rows()], []);
    assert.deepEqual([...s.accountDigestRows()], []);
    assert.equal(s.lost, 0);
    s.record(event('SELECT a FROM t'));
    assert.deepEqual(
      [...s.rows()].map((r) => r.text),
      ['SELECT `a` FROM `t`'],
    );
  });

  test('per account: one row per user, host, schema and digest', () => {
    const s = summary();
    s.record(event('SELECT 1'));
    s.record(event('SELECT 2', { clientAddress: '192.0.2.8' }));
    s.record(event('SELECT 3', { user: 'report' }));
    s.record(event('SELECT 4'));
    const rows = [...s.accountDigestRows()].map((r) => [r.user, r.host, r.count]);
    assert.deepEqual(rows, [
      ['app', '192.0.2.7', 2],
      ['app', '192.0.2.8', 1],
      ['report', '192.0.2.7', 1],
    ]);
  });

  test('the sample is the slowest execution, or a newer one once older than sampleAgeSeconds; redacted', () => {
    const s = summary({ sampleAgeSeconds: 60, maxSampleLength: 40 });
    const at = (sql: string, ms: number, startedAt: number) =>
      s.record(event(sql, { durationMs: ms, startedAt }));
    at("SELECT AES_ENCRYPT('a', 'k1')", 5, T0);
    const row = () => [...s.rows()][0]!;
    assert.equal(row().sample, "SELECT AES_ENCRYPT('a', '***')");
    at("SELECT AES_ENCRYPT('b', 'k2')", 1, T0 + 1000); // faster, fresh sample: kept
    assert.match(row().sample!, /'a'/);
    at("SELECT AES_ENCRYPT('c', 'k3')", 9, T0 + 2000); // slower: replaces
    assert.match(row().sample!, /'c'/);
    assert.equal(row().sampleSeen, T0 + 2000);
    assert.equal(picoseconds(row().sampleNs), 9e9);
    at("SELECT AES_ENCRYPT('d', 'k4')", 1, T0 + 62_000); // faster, but the sample is stale
    assert.match(row().sample!, /'d'/);
    at(`SELECT AES_ENCRYPT('${'x'.repeat(100)}', 'k5')`, 99, T0 + 63_000);
    assert.equal(row().sample!.length, 40);
    assert.doesNotMatch(JSON.stringify([...s.rows()]), /k[1-5]/);
  });

  test('picoseconds stay exact past 2^53 (as bigints); TIMESTAMP(6) text', () => {
    assert.equal(picoseconds(1.5), 1500);
    assert.equal(picoseconds(3e13), 3e16 > Number.MAX_SAFE_INTEGER ? 30_000_000_000_000_000n : 3e16);
    assert.equal(mysqlTime6(T0 + 902), '2026-11-23 12:00:00.902000');
  });
});
