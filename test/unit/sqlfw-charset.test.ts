// The SQL firewall's character-set guard (src/sqlfw/charset.ts): sessions in a character set whose
// multibyte characters can end in a backslash, and statements that switch to one, are refused in
// PROTECTING; everything else is judged as usual.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { charsetRefusal } from '../../src/sqlfw/charset.ts';

const UTF8MB4 = 45;
const GBK = 28;

test('a session in gbk, big5, sjis, cp932 or gb18030 cannot be judged', () => {
  for (const id of [1, 84, 13, 88, GBK, 87, 95, 96, 248])
    assert.notEqual(charsetRefusal(id, 'SELECT 1'), null, String(id));
  for (const id of [UTF8MB4, 33, 8, 63, 12, 19, 24])
    assert.equal(charsetRefusal(id, 'SELECT 1'), null, String(id));
});

test('statements that switch to such a set, however written, are refused', () => {
  for (const s of [
    'SET NAMES gbk',
    "SET NAMES 'big5'",
    'set character set sjis',
    'SET CHARSET cp932',
    'SET SESSION character_set_client = gbk',
    'SET @@session.character_set_client = @x',
    'SET autocommit = 1, NAMES gbk',
    '/*!40101 SET NAMES gbk */',
    '/* c */ SET NAMES gbk',
    'SELECT 1; SET NAMES gbk',
    'SET NAMES @v',
  ])
    assert.notEqual(charsetRefusal(UTF8MB4, s), null, s);
});

test('switches to UTF-8 or single-byte sets, and ordinary statements, pass', () => {
  for (const s of [
    'SET NAMES utf8mb4',
    "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'",
    '/*!40101 SET NAMES utf8 */',
    'SET character_set_client = latin1',
    'SET NAMES DEFAULT',
    "UPDATE t SET names = 'gbk' WHERE id = 1",
    "SELECT * FROM t WHERE charset = 'big5'",
    'SET autocommit = 1',
  ])
    assert.equal(charsetRefusal(UTF8MB4, s), null, s);
});
