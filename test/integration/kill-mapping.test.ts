// KILL by the connection id moat greeted with (issue 13, item 3): drivers remember the greeting's
// id (mysql2's threadId) and name it in KILL QUERY / KILL; moat carries it out on that session's
// backend thread, sent from the caller's own backend connection so that the server's privilege
// checks apply. KILL of a backend id (CONNECTION_ID()) keeps working.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };

function connect(moat: RunningMoat, who: mysql.ConnectionOptions = app): Promise<mysql.Connection> {
  return mysql.createConnection({ ...who, host: moat.host, port: moat.port });
}

async function backendId(c: mysql.Connection): Promise<number> {
  const [rows] = await c.query('SELECT CONNECTION_ID() AS id');
  return Number((rows as Array<{ id: number }>)[0]!.id);
}

describe('KILL by the greeted connection id', () => {
  test('KILL QUERY <greeted id> interrupts that session; KILL <greeted id> ends it', async () => {
    const moat = await startMoat(backend);
    try {
      const victim = await connect(moat);
      victim.on('error', () => {});
      const killer = await connect(moat);
      assert.ok(victim.threadId! >= 2 ** 30, `greeted with moat's id, got ${victim.threadId}`);
      assert.notEqual(await backendId(victim), victim.threadId);

      const t0 = performance.now();
      // MariaDB ends the interrupted statement with 1317; MySQL's SLEEP() returns 1. The handlers
      // are attached at once: the rejection may come before the KILL's own answer.
      const sleeping = victim.query('SELECT SLEEP(20) AS s').then(
        ([rows]) => Number((rows as Array<{ s: number }>)[0]!.s),
        (e: { errno?: number }) => e.errno,
      );
      await new Promise((r) => setTimeout(r, 300));
      await killer.query(`KILL QUERY ${victim.threadId}`);
      const r = await sleeping;
      assert.ok(r === 1317 || r === 1, `the sleep was interrupted (${r})`);
      assert.ok(performance.now() - t0 < 10_000, 'interrupted long before 20 s');
      // The session survives a KILL QUERY.
      assert.equal((await backendId(victim)) > 0, true);

      await killer.query(`kill connection ${victim.threadId};`);
      await assert.rejects(victim.query('SELECT 1'), 'the session was killed');

      // An id no session has: the server's own 1094.
      await assert.rejects(killer.query('KILL 2147483000'), (e: { errno?: number }) => e.errno === 1094);
      await killer.end();
    } finally {
      await moat.stop();
    }
  });

  test("KILL <backend id> still works; another user's session is not mapped, the server checks the backend id", async () => {
    const moat = await startMoat(backend);
    try {
      const victim = await connect(moat);
      victim.on('error', () => {});
      const killer = await connect(moat);
      await killer.query(`KILL ${await backendId(victim)}`);
      await assert.rejects(victim.query('SELECT 1'));

      // Another user's session is not mapped: the server would refuse it (1095) in a message that
      // names that session's backend thread; unmapped, the server knows no such id (1094).
      const other = await connect(moat);
      const intruder = await connect(moat, { ...backend.users.app2, database: backend.database });
      const otherThread = await backendId(other);
      await assert.rejects(
        intruder.query(`KILL ${other.threadId}`),
        (e: { errno?: number; message: string }) => {
          assert.equal(e.errno, 1094);
          assert.ok(!e.message.includes(` ${otherThread}`), e.message);
          return true;
        },
      );
      // The backend id itself still goes to the server, whose own check decides (1095).
      await assert.rejects(
        intruder.query(`KILL ${otherThread}`),
        (e: { errno?: number }) => e.errno === 1095,
      );
      assert.equal((await backendId(other)) > 0, true, 'the victim lives on');
      await Promise.all([killer.end(), other.end(), intruder.end()]);
    } finally {
      await moat.stop();
    }
  });
});

test('backend.killMapping: false (a balancer in front of several servers): ids pass as they are', async () => {
  const moat = await startMoat(backend, { backend: { killMapping: false } });
  try {
    const victim = await connect(moat);
    const killer = await connect(moat);
    await assert.rejects(
      killer.query(`KILL ${victim.threadId}`),
      (e: { errno?: number }) => e.errno === 1094,
    );
    const [rows] = await victim.query('SELECT 1 AS one');
    assert.deepEqual(rows, [{ one: 1 }], 'the victim lives on');
    await Promise.all([victim.end(), killer.end()]);
  } finally {
    await moat.stop();
  }
});
