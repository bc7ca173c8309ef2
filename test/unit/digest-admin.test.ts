// The digest tables through the admin engine itself: MySQL's columns, timers past 2^53
// picoseconds read back exactly (SQLite integers as bigints), TRUNCATE by either table's name,
// and ERROR 1227 for a readonly account.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { type AdminCaller, AdminEngine, AdminError, type AdminRuntime } from '../../src/admin/engine.ts';
import { validateConfig } from '../../src/config/load.ts';
import { Guard } from '../../src/guard/guard.ts';
import type { CommandEvent } from '../../src/model/events.ts';
import { digestOf } from '../../src/sql/digest.ts';
import { DigestSummary, digestConfigSchema } from '../../src/sql/digest-table.ts';
import { event } from './detect-fixtures.ts';

const config = validateConfig(
  { listeners: [{ address: '127.0.0.1:0' }], backend: { address: '127.0.0.1:1' } },
  'test',
);
const dba: AdminCaller = { user: 'dba', host: '127.0.0.1', db: null, connectionId: 1, role: 'admin' };
const watcher: AdminCaller = { ...dba, user: 'watcher', role: 'readonly' };

function engine(digests: DigestSummary): AdminEngine {
  const runtime = {
    guard: new Guard(config.guard, pino({ level: 'silent' })),
    sessions: () => [],
    kill: () => false,
    variables: () => [],
    status: () => [],
    setVariable: () => {},
    sqlErrors: () => [],
    reload: () => ({ applied: [], needsRestart: [] }),
    posture: () => null,
    checkPosture: () => Promise.reject(new Error('off')),
    digests,
  } as unknown as AdminRuntime;
  return new AdminEngine(runtime);
}

function digested(statement: string, durationMs: number): CommandEvent {
  return event({
    statement,
    digest: digestOf(statement),
    rows: 0,
    startedAt: Date.UTC(2026, 10, 23),
    durationMs,
    clientAddress: '192.0.2.7',
    clientPort: 5000,
  });
}

test('SUM_TIMER_WAIT past 2^53 picoseconds is exact; small integers stay numbers', () => {
  const s = new DigestSummary(digestConfigSchema.parse({}));
  // 3 hours and 1 ms in one execution: 10_800_001_000_000_000 ps, beyond 2^53.
  s.record(digested('SELECT 1', 10_800_001));
  const e = engine(s);
  const r = e.execute(
    'SELECT SUM_TIMER_WAIT, COUNT_STAR, DIGEST_TEXT FROM performance_schema.events_statements_summary_by_digest',
    dba,
  );
  assert.equal(r.kind, 'rows');
  if (r.kind !== 'rows') return;
  assert.deepEqual(r.rows, [[10_800_001_000_000_000n, 1, 'SELECT ?']]);
  assert.deepEqual(
    r.columns.map((c) => c.name),
    ['SUM_TIMER_WAIT', 'COUNT_STAR', 'DIGEST_TEXT'],
  );
});

test('TRUNCATE TABLE by either name resets both; a readonly account gets 1227', () => {
  const s = new DigestSummary(digestConfigSchema.parse({}));
  const e = engine(s);
  for (const name of [
    'performance_schema.events_statements_summary_by_digest',
    'events_statements_summary_by_digest',
    '`moat`.`statements_by_digest_by_account`',
  ]) {
    s.record(digested('SELECT 1', 1));
    assert.throws(
      () => e.execute(`TRUNCATE TABLE ${name}`, watcher),
      (x: unknown) => x instanceof AdminError && x.error.code === 1227,
    );
    assert.equal([...s.rows()].length, 1);
    assert.deepEqual(e.execute(`truncate table ${name}`, dba), { kind: 'ok', affectedRows: 0 });
    assert.equal([...s.rows()].length, 0, name);
    assert.equal([...s.accountDigestRows()].length, 0, name);
  }
  // Any other table is still a write MySQL refuses with 1142.
  assert.throws(
    () => e.execute('TRUNCATE TABLE performance_schema.events_statements_history', dba),
    (x: unknown) => x instanceof AdminError && x.error.code === 1142,
  );
});
