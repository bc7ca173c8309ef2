// MySQL LIKE patterns as regular expressions (src/sql/like.ts): the one implementation behind
// account patterns in guard and detection rules, SHOW … LIKE, and audit grep.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { likeRegExp } from '../../src/sql/like.ts';

describe('likeRegExp', () => {
  test('account patterns: % and _ are wildcards, \\ escapes, everything else is literal', () => {
    const cases: [string, string, boolean][] = [
      ['app%', 'app_rw', true],
      ['app_', 'app1', true],
      ['app\\_', 'app1', false],
      ['app\\_', 'app_', true],
      ['a.b', 'axb', false],
      ['%', '', true],
      ['(x)+', '(x)+', true],
    ];
    for (const [pattern, user, want] of cases) assert.equal(likeRegExp(pattern).test(user), want, pattern);
  });

  test('SHOW … LIKE and grep compare without case; grep reads a backslash as itself', () => {
    assert.ok(likeRegExp('aborted_conn%', { ignoreCase: true }).test('Aborted_connects'));
    assert.ok(!likeRegExp('aborted_conn%').test('Aborted_connects'));
    assert.ok(likeRegExp('C:\\tmp%', { escapes: false }).test('C:\\tmp\\x'));
  });
});
