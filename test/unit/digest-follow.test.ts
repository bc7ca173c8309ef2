// The digest on the follower's command events: computed once per finished Query / Stmt_prepare,
// kept with a prepared statement at PREPARE, and reused by every Stmt_execute of it (even once the
// memo has forgotten the text), MariaDB's pipelined "last prepared" id included; none for commands
// without a statement.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandEvent } from '../../src/model/events.ts';
import { Follower } from '../../src/protocol/follow/follower.ts';
import { PacketScanner } from '../../src/protocol/scanner.ts';
import { clearDigestMemo, digestOf } from '../../src/sql/digest.ts';
import {
  Cap,
  CLIENT_CAPS,
  Com,
  command,
  comQuery,
  comStmtExecute,
  comStmtPrepare,
  LAST_PREPARED,
  ok,
  packets,
  prepareResponse,
} from './fixtures.ts';
import { identity } from './follow-run.ts';

function session() {
  const events: CommandEvent[] = [];
  const f = new Follower(identity(), CLIENT_CAPS, {
    maxStatementLength: 4096,
    onEvent: (e) => events.push(e),
    onChangeUser: () => {},
    onLost: (why) => assert.fail(why),
  });
  const client = new PacketScanner(f.client);
  const server = new PacketScanner(f.server);
  return {
    events,
    send: (payload: Buffer) => client.feed(packets(0, payload)),
    answer: (...payloads: Buffer[]) => server.feed(packets(1, ...payloads)),
  };
}

const deprecateEof = (CLIENT_CAPS & Cap.DEPRECATE_EOF) !== 0;

describe('digests on command events', () => {
  test('Query: the digest of its statement; Ping: none', () => {
    const s = session();
    s.send(comQuery('SELECT 1 /* one */'));
    s.answer(ok());
    s.send(command(Com.PING));
    s.answer(ok());
    assert.equal(s.events[0]!.digest, digestOf('SELECT 1 /* one */'));
    assert.equal(s.events[0]!.digest?.text, 'SELECT ?');
    assert.equal(s.events[1]!.digest, null);
  });

  test('every EXECUTE reuses the digest computed at PREPARE, not a new one', () => {
    const s = session();
    s.send(comStmtPrepare('SELECT a FROM t WHERE id = ?'));
    s.answer(...prepareResponse({ stmtId: 9, params: 1, columns: 1, deprecateEof }));
    // Forgotten by the memo: a digest computed again now would be another object.
    clearDigestMemo();
    s.send(comStmtExecute(9));
    s.answer(ok());
    s.send(comStmtExecute(9));
    s.answer(ok());
    const [prepare, e1, e2] = s.events;
    assert.equal(prepare!.command, 'Stmt_prepare');
    assert.equal(prepare!.digest?.text, 'SELECT `a` FROM `t` WHERE `id` = ?');
    assert.equal(e1!.command, 'Stmt_execute');
    assert.equal(e1!.digest, prepare!.digest);
    assert.equal(e2!.digest, prepare!.digest);
  });

  test('an EXECUTE of the "last prepared" id, pipelined before the PREPARE is answered', () => {
    const s = session();
    s.send(comStmtPrepare('SELECT b FROM t WHERE id = ?'));
    s.send(comStmtExecute(LAST_PREPARED));
    s.answer(...prepareResponse({ stmtId: 3, params: 1, columns: 1, deprecateEof }));
    s.answer(ok());
    const [prepare, exec] = s.events;
    assert.equal(exec!.command, 'Stmt_execute');
    assert.equal(exec!.digest?.text, 'SELECT `b` FROM `t` WHERE `id` = ?');
    assert.equal(exec!.digest, prepare!.digest);
  });
});
