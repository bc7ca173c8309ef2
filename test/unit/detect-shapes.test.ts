// The detector's clean verdicts shared by digest: statements of one shape whose literals only
// fill value slots (`id` = ?) share one verdict, so sysbench's `WHERE id=1`, `=2` … are lexed
// once; and no statement an attacker can write gets a verdict it would not get on its own.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DetectConfigInput, detectConfigSchema } from '../../src/detect/config.ts';
import { Detector, plainText, shapeOnly } from '../../src/detect/detector.ts';
import { digestOf } from '../../src/sql/digest.ts';
import { Clock, event, feed, summary } from './detect-fixtures.ts';

function detector(config: DetectConfigInput = {}): { d: Detector; clock: Clock } {
  const clock = new Clock();
  return { d: new Detector(detectConfigSchema.parse(config), clock.now), clock };
}

const q = (statement: string, over = {}) => event({ statement, digest: digestOf(statement), ...over });

describe('detect: clean verdicts by digest', () => {
  test("sysbench's statements share one verdict per shape: lexed once per table, not once per id", () => {
    // New-table off: every first statement of a shape is the one looked at.
    const { d, clock } = detector({ rules: { 'new-table': { enabled: false } } });
    const ids = Array.from({ length: 50 }, (_, i) => i + 1);
    const events = ids.flatMap((id) => [
      q(`SELECT c FROM sbtest1 WHERE id=${id}`),
      q(`SELECT c FROM sbtest1 WHERE id BETWEEN ${id} AND ${id + 99}`),
      q(`SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ${id} AND ${id + 99} ORDER BY c`),
      q(`SELECT * FROM t WHERE id IN (${id}, ${id + 1}) LIMIT 10`),
      q(`INSERT INTO t (a, b) VALUES (${id}, 'x${id}'), (${id + 1}, 'y')`),
    ]);
    assert.deepEqual(feed(d, clock, events), []);
    assert.equal(d.shapeHits, events.length - 5, 'the first of each shape was looked at, the rest shared it');
  });

  test('which shapes and texts may share a verdict', () => {
    const shapes: Array<[string, boolean]> = [
      ['SELECT c FROM sbtest1 WHERE id=5', true],
      ['SELECT a FROM t WHERE b LIKE "x%" LIMIT 1, 2', true],
      ['SELECT * FROM t WHERE a.b NOT IN (1, 2) LIMIT 5 OFFSET 10', true],
      ['SELECT * FROM t WHERE id = 1 OR 1=1', false],
      ["SELECT * FROM t WHERE id = 1 OR 'a'='a'", false],
      ['SELECT * FROM t WHERE id = 1 OR 2', false],
      ['SELECT SLEEP(5)', false],
      ['SELECT * FROM t ORDER BY 3', false],
      ['SELECT * FROM t WHERE a = 1 UNION SELECT 1, 2', false],
      ['SELECT 1', false],
      ['UPDATE t SET k = k + 1 WHERE id = 3', false],
    ];
    for (const [sql, want] of shapes) assert.equal(shapeOnly(digestOf(sql).text), want, sql);
    const texts: Array<[string, boolean]> = [
      ["SELECT c FROM t WHERE id = 1 AND name = 'it''s'", true],
      ['SELECT c FROM t WHERE id = 1 -- x', false],
      ['SELECT c FROM t WHERE id = 1 # x', false],
      ['SELECT c FROM t WHERE id = /**/1', false],
      ["SELECT c FROM t WHERE note = '-- # /* in a string'", true],
      ['SELECT `we``ird` FROM t WHERE id = 2', true],
      ['SELECT c FROM t WHERE id = 0x41', false],
      ["SELECT c FROM t WHERE id = x'41'", false],
      ["SELECT c FROM t WHERE id = _utf8mb4'a'", false],
      ["SELECT c FROM t WHERE name = 'a\\'b'", false],
      ["SELECT c FROM t WHERE name = 'abc", false],
      ['SELECT c FROM t WHERE name = "abc', false],
    ];
    for (const [sql, want] of texts) assert.equal(plainText(sql), want, sql);
  });

  test('a statement that shares a clean shape gets the verdict it gets alone', () => {
    // Each pair: a clean statement first, then one of the same digest (or nearly) that is not.
    const pairs: Array<[string, string]> = [
      ['SELECT c FROM t WHERE id = 1', "SELECT c FROM t WHERE id = 1 -- '"],
      ["SELECT c FROM t WHERE name = 'x'", "SELECT c FROM t WHERE name = 'x' -- '"],
      ['SELECT c FROM t WHERE id = 1', 'SELECT c FROM t WHERE id = 1 #'],
      ['SELECT c FROM t WHERE id = 1', 'SELECT c FROM t WHERE id = /**/1'],
      ["SELECT c FROM t WHERE name = 'x'", "SELECT c FROM t WHERE name = x'78'"],
      ['SELECT c FROM t WHERE id = 1', 'SELECT c FROM t WHERE id = 1 /*!UNION*/'],
      ['SELECT c FROM t WHERE id = 1', 'SELECT c FROM t WHERE id = 0x756e696f6e'],
      ["SELECT c FROM t WHERE name = 'abc'", "SELECT c FROM t WHERE name = 'abc"],
      ['SELECT c FROM t WHERE id = 1 OR 1 = 2', 'SELECT c FROM t WHERE id = 1 OR 1 = 1'],
      ["SELECT c FROM t WHERE id = 1 OR 'a' = 'b'", "SELECT c FROM t WHERE id = 1 OR 'a' = 'a'"],
      ['SELECT c FROM t WHERE id = 1 OR 0', 'SELECT c FROM t WHERE id = 1 OR 7'],
      ['SELECT SLEEP(5)', "SELECT SLEEP('5')"],
      ['SELECT c FROM t WHERE name = CHAR(65)', 'SELECT c FROM t WHERE name = CHAR(117, 110, 105)'],
    ];
    // Every evasion signal a finding of its own, so that a missed one shows; no table rule, so
    // only the signatures decide.
    const strict: DetectConfigInput = {
      rules: { evasion: { minScore: 1 }, 'new-table': { enabled: false } },
    };
    for (const [clean, attack] of pairs) {
      const alone = detector(strict);
      const want = summary(feed(alone.d, alone.clock, [q(attack)]));
      const shared = detector(strict);
      feed(shared.d, shared.clock, [q(clean), q(clean)]);
      assert.deepEqual(summary(feed(shared.d, shared.clock, [q(attack)])), want, `${clean} then ${attack}`);
    }
  });

  test('a shape is shared per user and database, like a remembered text', () => {
    const { d, clock } = detector({ rules: { 'new-table': { learnStatements: 1, learnSeconds: 0 } } });
    // The first learns, the second is checked and remembered, the third shares its verdict.
    feed(d, clock, [
      q('SELECT c FROM users WHERE id = 1'),
      q('SELECT c FROM users WHERE id = 2'),
      q('SELECT c FROM users WHERE id = 4'),
    ]);
    const hits = d.shapeHits;
    assert.equal(hits, 1);
    assert.deepEqual(
      summary(feed(d, clock, [q('SELECT c FROM users WHERE id = 3', { database: 'crm' })])),
      ['new-table/session'],
      'crm.users is not shop.users',
    );
    assert.equal(d.shapeHits, hits, 'not let through by the shop shape');
  });

  test('while a user learns its tables, a statement over tables it knows is remembered, and its repeats count', () => {
    const { d, clock } = detector({ rules: { 'new-table': { learnStatements: 20, learnSeconds: 0 } } });
    const reads = Array.from({ length: 25 }, (_, i) => q(`SELECT c FROM users WHERE id = ${i + 1}`));
    assert.deepEqual(feed(d, clock, reads), []);
    // The first learnt `users`, the second was looked at and remembered, the rest shared it.
    assert.equal(d.shapeHits, 23);
    assert.deepEqual(
      summary(feed(d, clock, [q('SELECT c FROM orders WHERE id = 1')])),
      ['new-table/session'],
      'learning ended at the 20th statement, remembered ones counted',
    );
  });
});
