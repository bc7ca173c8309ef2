// The detector's semantics: the new-table rule's learning, exemptions, switches, reloads,
// severity escalation, evidence excerpts, per-session state and counters.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DetectConfigInput, detectConfigSchema } from '../../src/detect/config.ts';
import { Detector } from '../../src/detect/detector.ts';
import { Clock, event, failed, feed, summary } from './detect-fixtures.ts';

function detector(config: DetectConfigInput = {}): { d: Detector; clock: Clock } {
  const clock = new Clock();
  return { d: new Detector(detectConfigSchema.parse(config), clock.now), clock };
}

const learnFast: DetectConfigInput = { rules: { 'new-table': { learnStatements: 3, learnSeconds: 60 } } };
const select = (table: string, over = {}) =>
  event({ statement: `SELECT * FROM ${table} WHERE id = 1`, ...over });

describe('detect: new-table', () => {
  test('learns until both the statement count and the time are reached, then reports new tables once', () => {
    const { d, clock } = detector(learnFast);
    assert.deepEqual(feed(d, clock, [select('users'), select('orders'), select('products')]), []);
    clock.t += 30_000;
    assert.deepEqual(feed(d, clock, [select('invoices')]), [], 'still learning: a minute has not passed');
    clock.t += 31_000;
    assert.deepEqual(feed(d, clock, [select('users')]), []);
    const found = feed(d, clock, [
      event({ statement: 'SELECT u.*, c.number FROM users u JOIN shop.cards c' }),
    ]);
    assert.equal(found.length, 1);
    const f = found[0]!;
    assert.equal(f.rule, 'new-table');
    assert.equal(f.severity, 'low');
    assert.equal(f.scope, 'session');
    assert.equal(f.score, 1);
    assert.match(f.reason, /^first access by app to shop\.cards \(4 tables known before\)$/);
    assert.equal(f.evidence, 'SELECT u.*, c.number FROM users u JOIN shop.cards c');
    assert.deepEqual(feed(d, clock, [select('cards')]), [], 'reported once, then known');
  });

  test('per user and per database; only successful statements count', () => {
    const { d, clock } = detector({ rules: { 'new-table': { learnStatements: 1, learnSeconds: 0 } } });
    // The second `users` is checked after learning and remembered as clean, for shop only.
    feed(d, clock, [select('users'), select('users'), select('users', { user: 'other' })]);
    assert.deepEqual(feed(d, clock, [failed(1146, { statement: 'SELECT * FROM nope' })]), []);
    assert.deepEqual(
      summary(feed(d, clock, [select('users', { database: 'crm' })])),
      ['new-table/session'],
      'crm.users is not shop.users',
    );
    assert.deepEqual(summary(feed(d, clock, [select('orders', { user: 'other' })])), ['new-table/session']);
  });

  test('tables the user creates are its own; a saturated user is no longer checked', () => {
    const { d, clock } = detector({
      rules: { 'new-table': { learnStatements: 1, learnSeconds: 0, maxTablesPerUser: 3 } },
    });
    feed(d, clock, [select('users')]);
    const own = [
      event({ statement: 'CREATE TEMPORARY TABLE tmp_report_81 (id INT)' }),
      event({ statement: 'INSERT INTO tmp_report_81 SELECT id FROM users' }),
      select('tmp_report_81'),
    ];
    assert.deepEqual(feed(d, clock, own), []);
    assert.deepEqual(summary(feed(d, clock, [select('a')])), ['new-table/session']);
    assert.deepEqual(feed(d, clock, [select('b'), select('c')]), [], 'past maxTablesPerUser');
  });

  test('statements that touch no table neither count nor report', () => {
    const { d, clock } = detector({ rules: { 'new-table': { learnStatements: 1, learnSeconds: 0 } } });
    feed(d, clock, [select('users')]);
    const quiet = ['SELECT 1', 'SET NAMES utf8mb4', 'SHOW TABLES', 'BEGIN', 'COMMIT', 'SELECT @@version'];
    assert.deepEqual(
      feed(
        d,
        clock,
        quiet.map((statement) => event({ statement })),
      ),
      [],
    );
  });
});

describe('detect: configuration at work', () => {
  test('exemptUsers with MySQL wildcards silence one rule for matching users only', () => {
    const { d, clock } = detector({ rules: { 'time-based': { exemptUsers: ['dba\\_%', 'monitor'] } } });
    const sleep = 'SELECT * FROM t WHERE id=1 AND SLEEP(1)';
    assert.deepEqual(feed(d, clock, [event({ user: 'dba_alice', statement: sleep })]), []);
    assert.deepEqual(feed(d, clock, [event({ user: 'monitor', statement: sleep })]), []);
    assert.deepEqual(feed(d, clock, [event({ user: 'dbaXalice', statement: sleep, session: 2 })]).length, 1);
    assert.deepEqual(
      summary(feed(d, clock, [event({ user: 'dba_alice', session: 3, statement: 'SELECT 1 OR 1=1' })])),
      ['tautology/session'],
    );
  });

  test('enabled: false turns the detector off; a disabled rule stays silent', () => {
    const off = detector({ enabled: false });
    assert.deepEqual(feed(off.d, off.clock, [event({ statement: 'SELECT 1 OR 1=1' })]), []);
    const { d, clock } = detector({ rules: { tautology: { enabled: false } } });
    assert.deepEqual(feed(d, clock, [event({ statement: 'SELECT 1 FROM t WHERE a=1 OR 1=1' })]), []);
  });

  test('a statement scoring highScore or more is high severity whatever the rule', () => {
    const { d, clock } = detector();
    const f = feed(d, clock, [
      failed(1142, { statement: "SELECT a FROM t WHERE b='' UNION SELECT user FROM mysql.user-- '" }),
    ]);
    const schema = f.find((x) => x.rule === 'schema-enumeration')!;
    assert.equal(schema.score, 40 + 50 + 25);
    assert.equal(schema.severity, 'high');
  });

  test('update: new thresholds apply, learned tables stay, windows restart when their length changes', () => {
    const { d, clock } = detector({ rules: { 'new-table': { learnStatements: 1, learnSeconds: 0 } } });
    feed(d, clock, [select('users')]);
    const errors = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) =>
        failed(1064, { statement: `SELECT ${from + i} FROM x${from + i}'` }),
      );
    assert.deepEqual(feed(d, clock, errors(3, 0)), []);
    d.update(
      detectConfigSchema.parse({ rules: { 'sql-errors': { sessionThreshold: 4, addressThreshold: 0 } } }),
    );
    assert.deepEqual(summary(feed(d, clock, errors(1, 3))), ['sql-errors/session'], 'counts kept');
    assert.deepEqual(feed(d, clock, [select('users')]), [], 'learned tables kept');
    d.update(detectConfigSchema.parse({ windowSeconds: 30 }));
    assert.equal(d.stats().sessions, 0);
  });
});

describe('detect: state and output', () => {
  test('sessionEnded drops the session state; stats count findings per rule', () => {
    const { d, clock } = detector();
    feed(d, clock, [event({ session: 1, statement: 'SELECT 1 OR 1=1' })]);
    feed(d, clock, [event({ session: 2, statement: 'SELECT 1 OR 1=1' })]);
    assert.equal(d.stats().sessions, 2);
    d.sessionEnded(1);
    assert.equal(d.stats().sessions, 1);
    assert.equal(d.stats().findings.tautology, 2);
    assert.equal(d.stats().findings['union-probe'], 0);
  });

  test('evidence is an excerpt around the match, marked where cut; a truncated statement says so', () => {
    const { d, clock } = detector({ evidenceLength: 40 });
    const long = `SELECT * FROM t WHERE a IN (${'1,'.repeat(100)}1) OR 1=1 AND b IN (${'2,'.repeat(100)}2)`;
    const [f] = feed(d, clock, [event({ statement: long })]);
    assert.equal(f!.evidence.length, 42);
    assert.ok(f!.evidence.startsWith('…') && f!.evidence.endsWith('…'));
    assert.match(f!.evidence, /OR 1=1/);
    const [g] = feed(d, clock, [
      event({ session: 2, statement: 'SELECT 1 OR 1=1', statementTruncated: true }),
    ]);
    assert.equal(g!.evidence, 'SELECT 1 OR 1=1…');
  });

  test('failures without text (COM_INIT_DB) count per database', () => {
    const { d, clock } = detector({
      rules: { 'access-denied': { sessionThreshold: 3, addressThreshold: 0 } },
    });
    const denied = ['hr', 'hr', 'finance', 'mysql'].map((database) =>
      failed(1044, { command: 'Init_db', statement: null, database }),
    );
    const f = feed(d, clock, denied);
    assert.deepEqual(summary(f), ['access-denied/session']);
    assert.equal(f[0]!.evidence, '');
  });

  test('no findings: the same frozen empty array every time', () => {
    const { d } = detector();
    const a = d.observe(event({ statement: 'SELECT 1' }));
    const b = d.observe(event({ statement: 'SELECT 2' }));
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
  });
});
