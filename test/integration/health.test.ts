// The optional health-check account: a complete login (never a half-open one) that teaches moat
// the backend's greeting before any client arrives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import { adminQuery, testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';

const backend = testBackend();

async function abortedConnects(): Promise<number> {
  const rows = (await adminQuery("SHOW GLOBAL STATUS LIKE 'Aborted_connects'")) as Array<{ Value: string }>;
  return Number(rows[0]?.Value);
}

test('health check learns the greeting before the first client and leaves no aborted connect', async () => {
  const abortedBefore = await abortedConnects();
  const moat = await startMoat(backend, {
    backend: { healthCheck: { user: 'app', password: 'app-pw', intervalMs: 1000 } },
    greeting: { serverVersion: '0.0.0-placeholder' },
  });
  try {
    const deadline = Date.now() + 5000;
    while (moat.gateway.health?.ok !== true && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(moat.gateway.health?.ok, true, `health: ${moat.gateway.health?.error}`);
    const conn = await mysql.createConnection({
      host: moat.host,
      port: moat.port,
      user: 'app',
      password: 'app-pw',
    });
    // mysql2 keeps the greeting it got: its version must be the backend's, not the placeholder.
    const greeted = (conn as unknown as { connection: { _handshakePacket: { serverVersion: string } } })
      .connection._handshakePacket.serverVersion;
    const [rows] = await conn.query('SELECT VERSION() AS v');
    await conn.end();
    const v = (rows as Array<{ v: string }>)[0]?.v;
    assert.equal(v, backend.version);
    // MariaDB greets as '5.5.5-<version>' (the prefix old MySQL clients need); moat mirrors it.
    assert.equal(greeted, `5.5.5-${backend.version}`);
    assert.equal(
      await abortedConnects(),
      abortedBefore,
      'the health check must finish every login it starts',
    );
  } finally {
    await moat.stop();
  }
});

test('health check reports a wrong password without crashing', async () => {
  const moat = await startMoat(backend, {
    backend: { healthCheck: { user: 'app', password: 'wrong', intervalMs: 1000 } },
  });
  try {
    const deadline = Date.now() + 5000;
    while (moat.gateway.health === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(moat.gateway.health?.ok, false);
    assert.match(moat.gateway.health?.error ?? '', /1045/);
  } finally {
    await moat.stop();
  }
});

test('health check with a client_ed25519 account (MariaDB), as moat check recommends', async () => {
  const { user, password } = backend.users.ed;
  const moat = await startMoat(backend, { backend: { healthCheck: { user, password, intervalMs: 1000 } } });
  try {
    const deadline = Date.now() + 5000;
    while (moat.gateway.health === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(moat.gateway.health?.ok, true, `health: ${moat.gateway.health?.error}`);
  } finally {
    await moat.stop();
  }
});
