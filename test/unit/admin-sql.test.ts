// The admin port's one-statement rule: a ';' followed by more SQL is a second statement, unless it
// is inside a string, a quoted name or a comment (SQLite would run the first and drop the rest).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasSecondStatement } from '../../src/admin/engine.ts';

const CASES: ReadonlyArray<[sql: string, second: boolean]> = [
  ['SELECT 1', false],
  ['SELECT 1;', false],
  ['SELECT 1;  \n ', false],
  ["SELECT 1; ATTACH DATABASE '/tmp/x' AS x", true],
  ['SELECT 1;BEGIN', true],
  ["SELECT 'a;b'", false],
  ["SELECT 'it''s; fine'", false],
  ["SELECT 'x'; PRAGMA journal_mode", true],
  ['SELECT "a;b" FROM t', false],
  ['SELECT `a;b` FROM t', false],
  ['SELECT 1 -- ; comment', false],
  ['SELECT 1 -- ; comment\n; VACUUM', true],
  ['SELECT /* ; */ 1', false],
  ['SELECT /* ; */ 1; DETACH moat', true],
  ["SELECT 'unterminated; ATTACH", false],
];

test('a second statement after ; is found outside quotes and comments only', () => {
  for (const [sql, second] of CASES) assert.equal(hasSecondStatement(sql), second, sql);
});
