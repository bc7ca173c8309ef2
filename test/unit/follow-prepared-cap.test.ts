// The texts of prepared statements a session's follower remembers (for Stmt_execute events) are
// bounded in total, not only in number: with 64 KiB captured per statement, 4096 of them would
// hold 256 MiB for one session. The oldest go first; a closed one gives its room back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Follower } from '../../src/protocol/follow/follower.ts';

function follower(): Follower {
  const identity = { session: 1, user: 'app', clientAddress: '127.0.0.1', clientPort: 1, database: null };
  return new Follower(identity, 0, {
    maxStatementLength: 65_536,
    onEvent: () => {},
    onChangeUser: () => {},
    onLost: () => {},
  });
}

test('remembered prepared texts are bounded in total size, oldest evicted first', () => {
  const f = follower();
  const text = 'x'.repeat(64 * 1024);
  for (let id = 1; id <= 100; id++) f.rememberPrepared(id, text, false, text.length);
  assert.ok(f.prepared.size <= 64, `${f.prepared.size} texts of 64 KiB kept`);
  assert.ok(f.prepared.has(100) && f.prepared.has(99), 'the newest are kept');
  assert.ok(!f.prepared.has(1), 'the oldest went first');
});

test('a closed statement gives its room back; re-preparing an id does not count twice', () => {
  const f = follower();
  const text = 'y'.repeat(1024 * 1024);
  for (let id = 1; id <= 4; id++) f.rememberPrepared(id, text, false, text.length);
  f.closePrepared(1);
  f.rememberPrepared(2, text, false, text.length);
  f.rememberPrepared(5, text, false, text.length);
  assert.deepEqual([...f.prepared.keys()].sort(), [2, 3, 4, 5]);
});
