// The detector's lexer: literals and comments never yield keywords, MySQL's comment rules
// (`-- ` needs a space, `/*! … */` is code), the flags the signature matcher reads, paren matching.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { F, KW, Lexer, T } from '../../src/sql/lexer.ts';

const NAME: Record<number, string> = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));

/** `kind:text` for every code token. */
function tokens(sql: string): string[] {
  const lx = new Lexer().lex(sql);
  return Array.from({ length: lx.n }, (_, i) => `${NAME[lx.kind[i]!]}:${lx.text(i)}`);
}

function flags(sql: string): number {
  return new Lexer().lex(sql).flags;
}

describe('detect lexer', () => {
  const cases: [string, string[]][] = [
    ["SELECT 'union select 1' FROM t", ['word:SELECT', "string:'union select 1'", 'word:FROM', 'word:t']],
    ["SELECT 'it''s', \"a\\\"b\"", ['word:SELECT', "string:'it''s'", 'comma:,', 'string:"a\\"b"']],
    ["SELECT '\\\\' OR 1", ['word:SELECT', "string:'\\\\'", 'word:OR', 'number:1']],
    ['SELECT `we``ird`.x', ['word:SELECT', 'ident:`we``ird`', 'dot:.', 'word:x']],
    ['SELECT 1--1', ['word:SELECT', 'number:1', 'op:-', 'op:-', 'number:1']],
    ['SELECT 1 -- 1\n, 2', ['word:SELECT', 'number:1', 'comma:,', 'number:2']],
    ['SELECT 1 # c\n+ 2', ['word:SELECT', 'number:1', 'op:+', 'number:2']],
    ['SELECT /* union */ 1', ['word:SELECT', 'number:1']],
    ['SELECT /*!50000 1 */ /*M!100100 2*/', ['word:SELECT', 'number:1', 'number:2']],
    [
      "SELECT 0x4142, X'41', 1.5e3, .5, 1abc",
      [
        'word:SELECT',
        'hex:0x4142',
        'comma:,',
        "hex:X'41'",
        'comma:,',
        'number:1.5e3',
        'comma:,',
        'number:.5',
        'comma:,',
        'word:1abc',
      ],
    ],
    [
      'SELECT @@version, @a, ?',
      ['word:SELECT', 'variable:@@version', 'comma:,', 'variable:@a', 'comma:,', 'placeholder:?'],
    ],
    [
      'a<=>b <> c != d || e && f',
      [
        'word:a',
        'op:<=>',
        'word:b',
        'op:<>',
        'word:c',
        'op:!=',
        'word:d',
        'op:||',
        'word:e',
        'op:&&',
        'word:f',
      ],
    ],
    ["x->>'$.a'", ['word:x', 'op:->>', "string:'$.a'"]],
  ];
  for (const [sql, want] of cases) {
    test(`tokens of ${JSON.stringify(sql)}`, () => assert.deepEqual(tokens(sql), want));
  }

  test('keywords are found case-insensitively, in words and backquoted names, never in literals', () => {
    const lx = new Lexer().lex("sElEcT `information_schema`.x, 'UNION', union_all FROM Dual");
    assert.equal(lx.k(0), KW.SELECT);
    assert.equal(lx.k(1), 0, 'a backquoted name is not a keyword to k()');
    assert.equal(lx.name(1), KW.INFORMATION_SCHEMA);
    assert.equal(lx.k(5), 0, 'string');
    assert.equal(lx.k(7), 0, 'union_all is an identifier');
    assert.equal(lx.k(9), KW.DUAL);
  });

  test('a trailing -- or # comment is flagged, with a quote in it marked', () => {
    const cases: [string, number][] = [
      ['SELECT 1 -- ', F.trailingLineComment],
      ['SELECT 1 #', F.trailingLineComment],
      ['SELECT 1 --', F.trailingLineComment],
      ["SELECT 1 -- ' AND pass=''", F.trailingLineComment | F.trailingCommentQuote],
      ['SELECT 1 -- note\n', F.trailingLineComment],
      ['SELECT 1 -- note\nFROM t', 0],
      ['-- only a comment', 0],
      // MySQL reads the terminating NUL after `--` as a control character: a comment.
      ['SELECT 1--', F.trailingLineComment],
      ['SELECT 1--1', 0],
    ];
    for (const [sql, want] of cases) {
      assert.equal(flags(sql) & (F.trailingLineComment | F.trailingCommentQuote), want, sql);
    }
  });

  test('unterminated literals and comments, glued and executable comments, stacked statements', () => {
    assert.ok(flags("SELECT * FROM t WHERE a='x") & F.unterminatedString);
    assert.ok(flags('SELECT * FROM t /* x') & F.unterminatedComment);
    assert.ok(flags('SELECT 1 UNION/**/SELECT 2') & F.inlineComment);
    assert.equal(flags('SELECT 1 /* app:web */') & F.inlineComment, 0);
    assert.ok(flags('SELECT 1 /*!UNION*/ SELECT 2') & F.versionedSuspect);
    assert.equal(flags('/*!40101 SET NAMES utf8 */') & F.versionedSuspect, 0);
    assert.ok(flags('SELECT 1; DROP TABLE t') & F.stacked);
    assert.equal(flags('SELECT 1;') & F.stacked, 0);
    assert.equal(flags("SELECT ';' FROM t") & F.stacked, 0);
  });

  test('ordinary statements raise no trigger (the matcher does not run)', () => {
    for (const sql of [
      'SELECT c FROM sbtest1 WHERE id=?',
      'UPDATE sbtest1 SET k=k+1 WHERE id=42',
      "INSERT INTO t (a, b) VALUES (1, 'x')",
      'SET NAMES utf8mb4',
      'SELECT @@version',
    ]) {
      assert.equal(flags(sql) & F.trigger, 0, sql);
    }
  });

  test('paren depth and matching, unbalanced parens included', () => {
    const lx = new Lexer().lex('SELECT (a + (b)) , (c');
    assert.deepEqual(Array.from(lx.depth.subarray(0, lx.n)), [0, 0, 1, 1, 1, 2, 1, 0, 0, 0, 1]);
    assert.equal(lx.close[1], 7);
    assert.equal(lx.close[4], 6);
    assert.equal(lx.close[9], lx.n, 'never closed');
    const odd = new Lexer().lex(') ) SELECT (');
    assert.deepEqual(Array.from(odd.depth.subarray(0, odd.n)), [0, 0, 0, 0]);
  });

  test('buffers are reused, and dropped after a huge statement', () => {
    const lx = new Lexer();
    lx.lex('SELECT 1');
    const small = lx.kind;
    lx.lex('SELECT 2');
    assert.equal(lx.kind, small);
    lx.lex(`SELECT ${'1,'.repeat(100_000)}1`);
    assert.ok(lx.n > 100_000);
    lx.release();
    assert.ok(lx.kind.length <= 256);
  });
});
