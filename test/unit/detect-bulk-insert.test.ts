// statement-truncated spares a dense bulk INSERT … VALUES cut at the capture, and nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBulkValues } from '../../src/detect/bulk-insert.ts';
import { Lexer } from '../../src/sql/lexer.ts';

const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => `(${i}, 'c-${i}', -1.5, NULL, DEFAULT)`).join(',');

test('bulk loads are recognised, cut anywhere', () => {
  const lx = new Lexer();
  for (const head of [
    'INSERT INTO sbtest1(k, c, pad) VALUES',
    'insert ignore into `db`.`t` (a,b,c,d,e) values ',
    'REPLACE LOW_PRIORITY t VALUE',
  ]) {
    const full = `${head}${rows(400)}`;
    for (const cut of [full.length, full.length - 7, full.length - 20])
      assert.equal(isBulkValues(lx.lex(full.slice(0, cut))), true, `${head} cut at ${cut}`);
  }
});

test('anything else is not', () => {
  const lx = new Lexer();
  for (const s of [
    `SELECT * FROM t WHERE id IN (${rows(10)})`,
    `INSERT INTO t VALUES ${rows(10)}, ((SELECT password FROM mysql.user LIMIT 1), 2)`,
    `INSERT INTO t VALUES ${rows(10)} ON DUPLICATE KEY UPDATE a = 1`,
    `INSERT INTO t VALUES (1) /* ${'x'.repeat(5000)} */ , (2)`,
    `INSERT INTO t VALUES ${rows(3)}; DROP TABLE t`,
    `INSERT INTO t SELECT 1 UNION SELECT 2`,
    `INSERT INTO t VALUES (SLEEP(5))`,
  ])
    assert.equal(isBulkValues(lx.lex(s)), false, s.slice(0, 80));
});
