// The real-client matrix through moat: every client, plain and with TLS terminated by moat, gets
// exactly what it gets from the server directly (rows, prepared statements, multi-results, a
// 20 MB row, change user, and the server's own 1045 / 1049 errors).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENTS, type Client, comparable, runScenario, type ScenarioResult } from '../harness/clients.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
let moat: RunningMoat;
const direct = new Map<Client, ScenarioResult>();

before(async () => {
  moat = await startMoat(backend);
});
after(async () => {
  await moat?.stop();
});

describe('every client through moat gets what it gets directly', { concurrency: 2 }, () => {
  for (const client of CLIENTS) {
    for (const tls of [false, true]) {
      test(`${client} ${tls ? 'with TLS terminated by moat' : 'plain'}`, async () => {
        let reference = direct.get(client);
        if (reference === undefined) {
          reference = await runScenario(client, { host: backend.host, port: backend.port }, app);
          direct.set(client, reference);
        }
        const via = await runScenario(
          client,
          { host: moat.host, port: moat.port },
          {
            ...app,
            tls: tls ? { ca: backend.certs.ca } : undefined,
          },
        );
        assert.equal(via.currentUser, 'app@%');
        // The client's own view of TLS is moat's leg; the server's view is moat → backend (plain).
        if (via.tls !== undefined && via.tls !== null) {
          assert.equal(via.tls.server, false, 'backend leg is plain in this setup');
          if (via.tls.client !== null) assert.equal(via.tls.client, tls);
        }
        const a = comparable(via, reference);
        const b = comparable(reference, via);
        delete a.tls;
        delete b.tls;
        assert.deepEqual(a, b);
        assert.deepEqual(via.errors, { wrongPassword: 1045, noSuchDb: 1049 });
      });
    }
  }
});

test('the ed25519 account logs in through moat (mariadb CLI and Node connector)', async () => {
  for (const client of ['cli', 'mariadb-node'] as const) {
    const r = await runScenario(
      client,
      { host: moat.host, port: moat.port },
      { ...backend.users.ed, steps: [] },
    );
    assert.equal(r.currentUser, 'ed@%', client);
  }
});

test('an account with an empty password logs in through moat', async () => {
  const r = await runScenario(
    'mysql2',
    { host: moat.host, port: moat.port },
    { ...backend.users.nopw, steps: [] },
  );
  assert.equal(r.currentUser, 'nopw@%');
});

test('each command produces one event with user, address, statement, status and rows', async () => {
  const before = moat.events.length;
  await runScenario('mysql2', { host: moat.host, port: moat.port }, { ...app, steps: ['select', 'multi'] });
  const select = await moat.waitForEvent((e) => e.statement === 'SELECT id, name, v FROM t ORDER BY id');
  assert.equal(select.user, 'app');
  assert.equal(select.clientAddress, '127.0.0.1');
  assert.ok(select.clientPort > 0);
  assert.equal(select.database, backend.database);
  assert.equal(select.command, 'Query');
  assert.equal(select.status, 'OK');
  assert.equal(select.rows, 3);
  const multi = await moat.waitForEvent((e) => e.statement === 'SELECT 1 AS a; SELECT 2 AS b, 3 AS c');
  assert.equal(multi.rows, 2, 'rows of both result sets');
  assert.ok(moat.events.length > before);
});
