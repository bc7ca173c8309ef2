// How moat reads `"…"` as the session's server does (ANSI_QUOTES), for the SQL firewall: the
// digest under each reading, and what a statement does to the session's mode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestOf, digestWithQuotes } from '../../src/sql/digest.ts';
import { hasAnsiQuotes, modeEffect, readingFor } from '../../src/sql/sql-mode.ts';

const text = (s: string, r: 'string' | 'identifier' | 'either') => digestWithQuotes(s, false, false, r)?.text;

test('"…" is a value, a name, or kept as written, by the reading', () => {
  const s = 'DELETE FROM t WHERE i = "i"';
  assert.equal(text(s, 'string'), 'DELETE FROM `t` WHERE `i` = ?');
  assert.equal(text(s, 'identifier'), 'DELETE FROM `t` WHERE `i` = `i`');
  assert.equal(text(s, 'identifier'), digestOf('DELETE FROM t WHERE i = `i`').text, 'a name like `i`');
  assert.equal(text(s, 'either'), 'DELETE FROM `t` WHERE `i` = "i"');
  assert.equal(text('SELECT "a""b"', 'identifier'), 'SELECT `a"b`');
  // Without a double quote every reading is the default one (the memoized digest itself).
  assert.equal(digestWithQuotes('SELECT 1', false, false, 'either'), digestOf('SELECT 1'));
});

test('a backslash inside "…" splits the readings: no digest stands for the statement', () => {
  const s = 'SELECT "a\\" OR 1=1 -- "';
  assert.equal(text(s, 'string'), 'SELECT ?');
  // Under ANSI_QUOTES the name ends at the second quote and `OR 1=1` is code.
  assert.equal(text(s, 'identifier'), 'SELECT `a\\` OR ? = ?');
  assert.equal(digestWithQuotes(s, false, false, 'either'), null);
  // Under NO_BACKSLASH_ESCAPES the backslash escapes nothing in either reading.
  assert.notEqual(digestWithQuotes(s, false, true, 'either'), null);
});

test('sql_mode values and statements that change them', () => {
  assert.equal(hasAnsiQuotes('STRICT_TRANS_TABLES,ANSI_QUOTES'), true);
  assert.equal(hasAnsiQuotes('oracle'), true, 'a combination mode that includes it');
  assert.equal(hasAnsiQuotes('STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'), false);
  assert.deepEqual(modeEffect('SELECT 1'), { kind: 'none' });
  assert.deepEqual(modeEffect("SET SESSION sql_mode = 'ANSI_QUOTES'"), {
    kind: 'set',
    reading: 'identifier',
  });
  assert.deepEqual(modeEffect("set @@sql_mode='TRADITIONAL';"), { kind: 'set', reading: 'string' });
  for (const s of [
    "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
    "SET sql_mode = 'ANSI'; SELECT 1",
    "SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT 1",
    'CALL p()',
    'EXECUTE s',
  ])
    assert.deepEqual(modeEffect(s), { kind: 'unknown' }, s);
  assert.deepEqual(modeEffect('SELECT 1', true), { kind: 'unknown' }, 'a prefix: the rest may set it');
  assert.equal(readingFor('string', modeEffect('SELECT "x"')), 'string');
  assert.equal(readingFor('string', modeEffect("SET sql_mode = 'STRICT_ALL_TABLES'")), 'string');
  assert.equal(
    readingFor('string', modeEffect("SET sql_mode = 'ANSI'")),
    'either',
    'until the server says OK',
  );
  assert.equal(readingFor('identifier', modeEffect('CALL p()')), 'either');
});
