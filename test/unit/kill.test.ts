// kill.ts: KILL by moat's session id rewritten in place to the backend thread, never changing a
// length, and nothing else touched.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIRST_SESSION_ID, rewriteKillQuery, rewriteProcessKill } from '../../src/protocol/follow/kill.ts';

const moatId = FIRST_SESSION_ID + 7;
const threadOf = (id: number, caller: string) => (id === moatId && caller === 'app' ? 42 : null);

test('KILL forms naming a live moat session are rewritten to its backend thread, same length', () => {
  for (const [text, want] of [
    [`KILL ${moatId}`, 'KILL 42        '],
    [`kill query ${moatId};`, 'kill query 42        ;'],
    [`  KILL CONNECTION ${moatId}\n`, '  KILL CONNECTION 42        \n'],
    [`KILL HARD QUERY ${moatId}`, 'KILL HARD QUERY 42        '],
    [`KILL SOFT ${moatId}`, 'KILL SOFT 42        '],
  ] as const) {
    const b = Buffer.from(`\x03${text}`, 'latin1');
    assert.equal(rewriteKillQuery(b, 1, b.length, threadOf, 'app'), true, text);
    assert.equal(b.toString('latin1', 1), want);
  }
});

test('anything else passes untouched', () => {
  for (const text of [
    'KILL 42',
    `KILL ${FIRST_SESSION_ID + 8}`,
    `KILL USER ${moatId}`,
    `KILL QUERY ID ${moatId}`,
    `SELECT ${moatId}`,
    `KILL ${moatId}; DROP TABLE t`,
    `/* x */ KILL ${moatId}`,
    `KILL ${moatId}0`,
  ]) {
    const b = Buffer.from(text, 'latin1');
    assert.equal(rewriteKillQuery(b, 0, b.length, threadOf, 'app'), false, text);
    assert.equal(b.toString('latin1'), text);
  }
});

test('COM_PROCESS_KILL: the int<4> id is replaced', () => {
  const b = Buffer.from([0x0c, 0, 0, 0, 0]);
  b.writeUInt32LE(moatId, 1);
  assert.equal(rewriteProcessKill(b, 1, threadOf, 'app'), true);
  assert.equal(b.readUInt32LE(1), 42);
  b.writeUInt32LE(99, 1);
  assert.equal(rewriteProcessKill(b, 1, threadOf, 'app'), false);
  assert.equal(b.readUInt32LE(1), 99);
});
