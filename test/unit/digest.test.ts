// Statement digests: MySQL 8's DIGEST_TEXT from the detector's lexer tokens (literals `?`, lists
// and rows collapsed, comments and whitespace gone, keywords upper-case, names back-quoted), the
// SHA-256 beside it, the prefix digest of a cut statement, and the memo.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import {
  clearDigestMemo,
  configureDigests,
  DEFAULT_MAX_DIGEST_LENGTH,
  digestOf,
} from '../../src/sql/digest.ts';

describe('statement digest text', () => {
  const cases: [string, string][] = [
    ['SELECT 1', 'SELECT ?'],
    ['select   2 /*x*/', 'SELECT ?'],
    ['SELECT c FROM t WHERE id = 5', 'SELECT `c` FROM `t` WHERE `id` = ?'],
    // comments of every kind, and an executable comment's content is code
    ['SELECT /* a */ c -- b\nFROM t # c\n WHERE id=5;', 'SELECT `c` FROM `t` WHERE `id` = ?'],
    ['SELECT /*! STRAIGHT_JOIN */ a FROM /*M!100100 t */', 'SELECT STRAIGHT_JOIN `a` FROM `t`'],
    // literals of every kind
    ["SELECT 'a', \"b\", 'it''s', 'x\\'y'", 'SELECT ?, ...'],
    ["SELECT x'41' , 0x41 , 0b101 , b'1' , N'x' , 1.5e3 , .5 , 42", 'SELECT ?, ...'],
    ["SELECT _utf8mb4'x'", 'SELECT (_charset) ?'],
    ['SELECT TRUE, NULL', 'SELECT TRUE , ?'],
    [
      'SELECT * FROM t WHERE a IS NOT NULL AND b IS NULL',
      'SELECT * FROM `t` WHERE `a` IS NOT NULL AND `b` IS NULL',
    ],
    ['SELECT ?, ? FROM t WHERE id = ?', 'SELECT ?, ... FROM `t` WHERE `id` = ?'],
    // signs: folded after `(`, `,`, SELECT and operators, kept after a name and after `=`
    // (`= - 3 , 4` then reads as `- ?, ...` as MySQL's reductions do)
    ['SELECT -1, (-2), a-1, a = -3, 4 - -5', 'SELECT ? , (?) , `a` - ? , `a` = - ?, ... - ?'],
    // IN lists
    ['SELECT * FROM t WHERE id IN (1,2,3)', 'SELECT * FROM `t` WHERE `id` IN (...)'],
    ["SELECT * FROM t WHERE id NOT IN ('a')", 'SELECT * FROM `t` WHERE `id` NOT IN (...)'],
    ['SELECT * FROM t WHERE id IN (?, ?)', 'SELECT * FROM `t` WHERE `id` IN (...)'],
    [
      'SELECT * FROM t WHERE id IN (SELECT id FROM u)',
      'SELECT * FROM `t` WHERE `id` IN ( SELECT `id` FROM `u` )',
    ],
    // rows and multi-row VALUES
    ['INSERT INTO t VALUES (1)', 'INSERT INTO `t` VALUES (?)'],
    ['INSERT INTO t VALUES (1, 2)', 'INSERT INTO `t` VALUES (...)'],
    ['INSERT INTO t (a) VALUES (1),(2),(3)', 'INSERT INTO `t` ( `a` ) VALUES (?) /* , ... */'],
    ['INSERT INTO t VALUES (1,2),(3,4),(5,6)', 'INSERT INTO `t` VALUES (...) /* , ... */'],
    ['INSERT INTO t VALUES (1, now())', 'INSERT INTO `t` VALUES ( ? , NOW ( ) )'],
    ['SELECT f(a, 1)', 'SELECT `f` ( `a` , ? )'],
    // names: case kept, back-quoted, after `.` always names; keywords upper-case
    ['select A.Id from Db.T as A', 'SELECT `A` . `Id` FROM `Db` . `T` AS `A`'],
    [
      'SELECT `we``ird`, name, `name` FROM information_schema.tables',
      'SELECT `we`ird` , NAME , `name` FROM `information_schema` . `tables`',
    ],
    ['SELECT COUNT(*), count FROM t', 'SELECT COUNT ( * ) , `count` FROM `t`'],
    // operators, variables
    [
      'SELECT a FROM t WHERE b <> 1 AND c != 2 AND d <=> e',
      'SELECT `a` FROM `t` WHERE `b` != ? AND `c` != ? AND `d` <=> `e`',
    ],
    ['select @@version_comment limit 1', 'SELECT @@`version_comment` LIMIT ?'],
    ['SET @@session.sql_mode = 1, @x := 2', 'SET @@SESSION . `sql_mode` = ? , @`x` := ?'],
    ["CREATE USER 'u'@'h' IDENTIFIED BY 'secret'", 'CREATE USER ? @? IDENTIFIED BY ?'],
  ];
  for (const [sql, want] of cases) {
    test(`digest of ${JSON.stringify(sql)}`, () => assert.equal(digestOf(sql).text, want));
  }
});

describe('statement digest hash, truncation and memo', () => {
  afterEach(() => configureDigests({}));

  test('the hash is the SHA-256 hex of the digest text; equal texts share it', () => {
    const a = digestOf('SELECT 1');
    const b = digestOf('select   2 /*x*/');
    assert.equal(a.hash, createHash('sha256').update('SELECT ?').digest('hex'));
    assert.match(a.hash, /^[0-9a-f]{64}$/);
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, digestOf('SELECT 1 FROM t').hash);
    assert.equal(a.truncated, false);
  });

  test('memoized: the same statement returns the same (frozen) object', () => {
    const sql = `SELECT * FROM memo_${Date.now()} WHERE id = 1`;
    const a = digestOf(sql);
    assert.equal(digestOf(sql), a);
    assert.ok(Object.isFrozen(a));
    clearDigestMemo();
    const c = digestOf(sql);
    assert.notEqual(c, a);
    assert.deepEqual(c, a);
  });

  test('statements that differ only in literals share one digest object, hashed once', () => {
    const t = `sbtest_${Date.now()}`;
    const a = digestOf(`SELECT c FROM ${t} WHERE id=1`);
    assert.equal(digestOf(`select c from ${t} where id = 2`), a);
    assert.notEqual(digestOf(`SELECT c FROM ${t} WHERE id=`, true), a, 'a cut one is its own');
  });

  test('the memo is bounded: a statement seen again stays, the others go', () => {
    configureDigests({ memoEntries: 4 });
    const kept = digestOf('SELECT a FROM kept');
    const first = digestOf('SELECT a FROM gone');
    for (let i = 0; i < 12; i++) {
      digestOf(`SELECT a FROM t${i}`);
      assert.equal(digestOf('SELECT a FROM kept'), kept, `kept after ${i}`);
    }
    assert.notEqual(digestOf('SELECT a FROM gone'), first, 'forgotten: a new object');
    configureDigests({ memoEntries: 0 });
    assert.notEqual(digestOf('SELECT a FROM kept'), digestOf('SELECT a FROM kept'), 'memoEntries 0: no memo');
  });

  test('a statement cut at the capture limit is judged by its prefix digest and says so', () => {
    const d = digestOf("SELECT a FROM t WHERE name = 'abc", true);
    assert.equal(d.truncated, true);
    assert.equal(d.text, 'SELECT `a` FROM `t` WHERE NAME = ...');
    // the same prefix cut inside one word gives the same digest; the last, cut token is left out
    assert.equal(
      digestOf('SELECT a FROM t WHERE name = 1 AND colu', true).hash,
      digestOf('SELECT a FROM t WHERE name = 1 AND co', true).hash,
    );
    // a cut statement and the whole one are different memo entries
    assert.equal(digestOf('SELECT a FROM tbl', true).text, 'SELECT `a` FROM ...');
    assert.equal(digestOf('SELECT a FROM tbl').text, 'SELECT `a` FROM `tbl`');
  });

  test('max digest length: token storage is bounded as MySQL does; the rest is left out', () => {
    assert.equal(DEFAULT_MAX_DIGEST_LENGTH, 1024);
    // SELECT(2) `a`(4+1) FROM(2) `t`(4+1) = 14 bytes; WHERE would make 16
    configureDigests({ maxDigestLength: 15 });
    const d = digestOf('SELECT a FROM t WHERE id = 1');
    assert.equal(d.text, 'SELECT `a` FROM `t` ...');
    assert.equal(d.truncated, true);
    assert.equal(
      digestOf('SELECT a FROM t WHERE id = 2').hash,
      d.hash,
      'statements differing after the limit share it',
    );
    // reductions count after they apply: a long IN list costs one token
    configureDigests({ maxDigestLength: 40 });
    const list = Array.from({ length: 500 }, (_, i) => i).join(',');
    const long = digestOf(`SELECT a FROM t WHERE id IN (${list})`);
    assert.equal(long.text, 'SELECT `a` FROM `t` WHERE `id` IN (...)');
    assert.equal(long.truncated, false);
  });
});
