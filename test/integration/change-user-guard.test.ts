// COM_CHANGE_USER passes the same guard as a login (issue 13, item 1): per-user networks, REQUIRE
// TLS, max_user_connections and the connection-control delay before the attempt, with the login's
// error codes and ledger classes. Through mysql2's changeUser against the harness's MariaDB.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import { countOf } from '../../src/guard/ledger.ts';
import { testBackend } from '../harness/env.ts';
import { mysqlFrom } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { nativeScramble, packet, rawLogin } from '../harness/raw-mysql.ts';

const backend = testBackend();
const app = backend.users.app;
const app2 = backend.users.app2;

function loginApp(moat: RunningMoat, from: string): Promise<mysql.Connection> {
  return mysqlFrom(moat, from, { user: app.user, password: app.password, connectTimeout: 10_000 });
}

/** The error number a change to `to` gets (0 on success), and CURRENT_USER() after a success. */
async function changeTo(
  c: mysql.Connection,
  to: { user: string; password: string },
): Promise<{ code: number; current: string | null }> {
  try {
    await c.changeUser({ user: to.user, password: to.password });
  } catch (e) {
    c.destroy();
    return { code: (e as { errno?: number }).errno ?? -1, current: null };
  }
  const [rows] = await c.query('SELECT CURRENT_USER() AS u');
  await c.end();
  return { code: 0, current: (rows as Array<{ u: string }>)[0]!.u };
}

describe('COM_CHANGE_USER passes the guard', () => {
  test('a per-user network rule refuses a change to that user (1045, host-acl)', async () => {
    const moat = await startMoat(backend, { guard: { users: [{ user: app2.user, from: ['10.0.1.0/24'] }] } });
    try {
      const c = await loginApp(moat, '127.0.0.101');
      const r = await changeTo(c, app2);
      assert.deepEqual(r, { code: 1045, current: null });
      const login = await moat.waitForLogin((l) => l.kind === 'change-user');
      assert.equal(login.outcome, 'user-acl-denied');
      assert.equal(login.user, app2.user);
      assert.equal(countOf(moat.gateway.guard.ledger.get('127.0.0.101')!, 'host-acl'), 1);
      // The backend never saw the attempt: app@'%' still works, app2 never logged in.
      const ok = await loginApp(moat, '127.0.0.101');
      assert.deepEqual(await changeTo(ok, app), { code: 0, current: `${app.user}@%` });
    } finally {
      await moat.stop();
    }
  });

  test('REQUIRE TLS refuses a change to that user over a plain connection (1045, ssl)', async () => {
    const moat = await startMoat(backend, {
      guard: { users: [{ user: app2.user, require: { tls: true } }] },
    });
    try {
      const r = await changeTo(await loginApp(moat, '127.0.0.102'), app2);
      assert.equal(r.code, 1045);
      assert.equal(countOf(moat.gateway.guard.ledger.get('127.0.0.102')!, 'ssl'), 1);
    } finally {
      await moat.stop();
    }
  });

  test('max_user_connections counts a change to a user who is at the cap (1203)', async () => {
    const moat = await startMoat(backend, { guard: { max_user_connections: 1 } });
    try {
      const held = await mysqlFrom(moat, '127.0.0.103', { user: app2.user, password: app2.password });
      const r = await changeTo(await loginApp(moat, '127.0.0.103'), app2);
      assert.equal(r.code, 1203);
      assert.equal(countOf(moat.gateway.guard.ledger.get('127.0.0.103')!, 'max-user-connections'), 1);
      // Changing to oneself is no second connection of that user.
      const self = await changeTo(held, app2);
      assert.deepEqual(self, { code: 0, current: `${app2.user}@%` });
    } finally {
      await moat.stop();
    }
  });

  test('failed changes count for connection control and the next attempt waits the delay', async () => {
    const moat = await startMoat(backend, {
      guard: {
        connection_control_failed_connections_threshold: 2,
        connection_control_min_connection_delay: 1000,
      },
    });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await changeTo(await loginApp(moat, '127.0.0.104'), { user: app2.user, password: 'wrong' });
        assert.equal(r.code, 1045);
      }
      assert.equal(countOf(moat.gateway.guard.ledger.get('127.0.0.104')!, 'authentication'), 2);
      const c = await loginApp(moat, '127.0.0.104');
      const t0 = performance.now();
      const r = await changeTo(c, app2);
      const waited = performance.now() - t0;
      assert.deepEqual(r, { code: 0, current: `${app2.user}@%` });
      assert.ok(waited >= 950, `the change waited ${waited.toFixed(0)} ms, want ≥ 1000`);
      assert.equal(moat.gateway.guard.status.Connection_control_delay_generated, 1);
      // The success cleared app2's failures: the next change does not wait.
      const t1 = performance.now();
      assert.equal((await changeTo(await loginApp(moat, '127.0.0.104'), app2)).code, 0);
      assert.ok(performance.now() - t1 < 900, 'no delay after the success');
    } finally {
      await moat.stop();
    }
  });
});

describe('COM_CHANGE_USER pipelined behind a command', () => {
  test('the command is answered first, then the change of user is a login of its own', async () => {
    const moat = await startMoat(backend);
    try {
      const c = await rawLogin(moat.host, moat.port, { user: app.user, password: app.password });
      try {
        // COM_CHANGE_USER: user, 1-byte auth length (0), database, charset, plugin.
        const cu = Buffer.concat([
          Buffer.from([0x11]),
          Buffer.from(`${app2.user}\0`),
          Buffer.from([0]),
          Buffer.from('\0'),
          Buffer.from([45, 0]),
          Buffer.from('mysql_native_password\0'),
        ]);
        c.write(Buffer.concat([packet(Buffer.from('\x03DO SLEEP(0.3)', 'latin1'), 0), packet(cu, 0)]));
        const done = await c.readPacket(3000);
        assert.equal(done.payload[0], 0x00, "DO's OK first");
        const sw = await c.readPacket(3000);
        assert.equal(sw.payload[0], 0xfe, "then the backend's AuthSwitchRequest for the change of user");
        const end = sw.payload.indexOf(0, 1);
        const nonce = sw.payload.subarray(end + 1, end + 21);
        c.sendPacket(nativeScramble(app2.password, nonce), sw.seq + 1);
        const ok = await c.readPacket(3000);
        assert.equal(ok.payload[0], 0x00, 'changed');
        const login = await moat.waitForLogin((l) => l.kind === 'change-user');
        assert.equal(login.outcome, 'ok');
        assert.equal(login.user, app2.user);
      } finally {
        c.destroy();
      }
    } finally {
      await moat.stop();
    }
  });
});
