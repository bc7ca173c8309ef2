// Table extraction for the new-table rule: which names a statement touches, qualified with the
// session's database, and which words after FROM are not tables at all.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_TABLES_PER_STATEMENT, TableScan, tableHash } from '../../src/detect/tables.ts';
import { Lexer } from '../../src/sql/lexer.ts';

const lexer = new Lexer();
const scan = new TableScan();

function tables(sql: string, db: string | null = 'app'): string[] {
  const n = scan.scan(lexer.lex(sql), db);
  return Array.from({ length: n }, (_, k) => scan.name(lexer, k));
}

describe('detect tables', () => {
  const cases: [string, string[]][] = [
    // sysbench
    ['SELECT c FROM sbtest1 WHERE id=?', ['app.sbtest1']],
    ['SELECT DISTINCT c FROM sbtest7 WHERE id BETWEEN 1 AND 100 ORDER BY c', ['app.sbtest7']],
    ['UPDATE sbtest1 SET k=k+1 WHERE id=5', ['app.sbtest1']],
    ['DELETE FROM sbtest1 WHERE id=5', ['app.sbtest1']],
    ["INSERT INTO sbtest1(k, c, pad) VALUES(1,'a','b'),(2,'c','d')", ['app.sbtest1']],
    ['INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)', ['app.sbtest1']],
    // joins, aliases, hints, qualified and quoted names
    ['SELECT * FROM a JOIN `db2`.`b` ON a.x=b.y LEFT JOIN c USING (id)', ['app.a', '`db2`.`b`', 'app.c']],
    [
      'SELECT * FROM a AS x, b y, c USE INDEX (i1) , d PARTITION (p0) WHERE 1',
      ['app.a', 'app.b', 'app.c', 'app.d'],
    ],
    ['SELECT * FROM t1 STRAIGHT_JOIN t2 WHERE t1.a=t2.a FOR UPDATE', ['app.t1', 'app.t2']],
    // subqueries, derived tables, CTEs
    [
      'SELECT * FROM t WHERE a IN (SELECT b FROM u) AND EXISTS (SELECT 1 FROM v)',
      ['app.t', 'app.u', 'app.v'],
    ],
    ['SELECT * FROM (SELECT a FROM inner1) AS d, outer1', ['app.outer1', 'app.inner1']],
    [
      'WITH c1 AS (SELECT * FROM r1), c2 (x) AS (SELECT 1 FROM r2) SELECT * FROM c1 JOIN c2',
      ['app.r1', 'app.r2'],
    ],
    ['WITH RECURSIVE n AS (SELECT 1 UNION ALL SELECT x+1 FROM n) SELECT * FROM n', []],
    // FROM that is not a table list
    ["SELECT EXTRACT(YEAR FROM created), TRIM(LEADING 'x' FROM name), SUBSTRING(s FROM 2) FROM t", ['app.t']],
    ['SELECT 1 FROM DUAL', []],
    ["SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS j", []],
    // DML variants
    ['INSERT IGNORE t SET a=1', ['app.t']],
    ['REPLACE LOW_PRIORITY INTO t VALUES (1)', ['app.t']],
    ['INSERT INTO t (a) SELECT b FROM u ON DUPLICATE KEY UPDATE a=VALUES(a)', ['app.t', 'app.u']],
    ['UPDATE LOW_PRIORITY t1, t2 SET t1.a=t2.b', ['app.t1', 'app.t2']],
    ['UPDATE t1 JOIN t2 ON t1.id=t2.id SET t1.a=1', ['app.t1', 'app.t2']],
    ['DELETE t1 FROM t1 JOIN t2 ON t1.id=t2.id', ['app.t1', 'app.t2']],
    ['DELETE FROM t1, t2 USING t1 JOIN t2 JOIN t3', ['app.t1', 'app.t2', 'app.t1', 'app.t2', 'app.t3']],
    ['(SELECT a FROM t) UNION (SELECT b FROM u)', ['app.t', 'app.u']],
    ['SELECT * FROM information_schema.tables', ['information_schema.tables']],
    // statements that touch no table here
    ['SHOW TABLES FROM app', []],
    ['SHOW COLUMNS FROM t', []],
    ['DESCRIBE t', []],
    ['SET NAMES utf8mb4', []],
    ['BEGIN', []],
    ['CALL p(1)', []],
    ['DROP TABLE t', []],
    ['ALTER TABLE t ADD COLUMN c INT', []],
  ];
  for (const [sql, want] of cases) {
    test(sql, () => assert.deepEqual(tables(sql), want));
  }

  test('CREATE TABLE: the created name comes first and is marked', () => {
    assert.deepEqual(tables('CREATE TEMPORARY TABLE IF NOT EXISTS tmp_42 (a INT)'), ['app.tmp_42']);
    assert.equal(scan.created, 1);
    assert.deepEqual(tables('CREATE TABLE copy AS SELECT * FROM src'), ['app.copy', 'app.src']);
    assert.equal(scan.created, 1);
    tables('SELECT * FROM t');
    assert.equal(scan.created, 0);
  });

  test('hashes ignore case and backquotes, and qualify unqualified names with the database', () => {
    scan.scan(lexer.lex('SELECT * FROM `Shop`.`Orders`, orders, other.orders'), 'shop');
    assert.equal(scan.hash[0], tableHash('shop', 'orders'));
    assert.equal(scan.hash[1], scan.hash[0]);
    assert.notEqual(scan.hash[2], scan.hash[0]);
    scan.scan(lexer.lex('SELECT * FROM orders'), null);
    assert.equal(scan.hash[0], tableHash('', 'orders'));
    assert.ok(Number.isSafeInteger(scan.hash[0]));
  });

  test('bounded: at most MAX_TABLES_PER_STATEMENT names, and a huge statement stays linear', () => {
    const many = `SELECT * FROM ${Array.from({ length: 100 }, (_, i) => `t${i}`).join(', ')}`;
    assert.equal(tables(many).length, MAX_TABLES_PER_STATEMENT);
    // Subqueries nested deeper than the tracked levels are not read; the scan stays linear.
    const deep = `SELECT * FROM t WHERE a IN ${'(SELECT a FROM t WHERE a IN '.repeat(20_000)}(1)${')'.repeat(20_000)}`;
    const started = performance.now();
    assert.deepEqual(tables(deep), Array(MAX_TABLES_PER_STATEMENT).fill('app.t'));
    assert.ok(performance.now() - started < 1000);
  });
});
