// Proves the test harness against the private MariaDB itself: every client of the matrix runs the
// scenario over TCP, TCP + TLS and the unix socket, gets the values the server holds, and agrees
// with every other client. The proxy's tests repeat these runs through moat.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { generateCerts } from '../harness/certs.ts';
import {
  BIG_ROW_LENGTH,
  CLIENTS,
  type Client,
  comparable,
  runScenario,
  type ScenarioResult,
  type Target,
} from '../harness/clients.ts';
import { adminQuery, testBackend } from '../harness/env.ts';
import { type MariaDB, startMariaDB, T_ROWS } from '../harness/mariadb.ts';

const backend = testBackend();
const tcp: Target = { host: backend.host, port: backend.port };
const socket: Target = { socket: backend.socket };
const app = { ...backend.users.app, database: backend.database };

const MODES = [
  { mode: 'tcp', target: tcp, tls: undefined },
  { mode: 'tls', target: tcp, tls: { ca: backend.certs.ca } },
  { mode: 'socket', target: socket, tls: undefined },
] as const;

// What a client that cannot do a step reports instead: null.
const CANNOT_CHANGE_USER = new Set<Client>(['cli', 'python', 'perl']);
const NO_CLIENT_TLS_VIEW = new Set<Client>(['mariadb-node', 'php']);

const BIG_ROW = {
  length: BIG_ROW_LENGTH,
  sha256: createHash('sha256').update('x'.repeat(BIG_ROW_LENGTH)).digest('hex'),
};

const results = new Map<string, ScenarioResult>();

describe('client matrix against MariaDB directly', { concurrency: 2 }, () => {
  for (const client of CLIENTS) {
    for (const { mode, target, tls } of MODES) {
      test(`${client} over ${mode}`, async () => {
        const r = await runScenario(client, target, { ...app, tls });
        assert.equal(r.currentUser, 'app@%');
        assert.deepEqual(r.select, T_ROWS);
        assert.deepEqual(r.prepared, [[{ name: 'beta' }], [{ name: 'alpha' }]]);
        assert.deepEqual(r.multi, [[{ a: '1' }], [{ b: '2', c: '3' }]]);
        assert.deepEqual(r.bigRow, BIG_ROW);
        const onTls = mode === 'tls';
        assert.deepEqual(r.tls, { server: onTls, client: NO_CLIENT_TLS_VIEW.has(client) ? null : onTls });
        assert.equal(r.changeUser, CANNOT_CHANGE_USER.has(client) ? null : 'app2@%');
        assert.deepEqual(r.errors, { wrongPassword: 1045, noSuchDb: 1049 });
        results.set(`${client}/${mode}`, r);
      });
    }
  }
});

test('all clients agree with each other, on every transport', () => {
  const all = [...results.entries()];
  assert.equal(all.length, CLIENTS.length * MODES.length, 'every matrix run must have passed');
  for (const [ka, a] of all) {
    for (const [kb, b] of all) {
      const x = comparable(a, b);
      const y = comparable(b, a);
      // Only runs over the same transport agree on TLS.
      if (ka.split('/')[1] !== kb.split('/')[1]) {
        delete x.tls;
        delete y.tls;
      }
      assert.deepEqual(x, y, `${ka} vs ${kb}`);
    }
  }
});

describe('accounts', () => {
  test('ed25519 user logs in with the CLI and the mariadb connector', async () => {
    for (const client of ['cli', 'mariadb-node'] as const) {
      const r = await runScenario(client, tcp, {
        ...backend.users.ed,
        database: backend.database,
        steps: [],
      });
      assert.equal(r.currentUser, 'ed@%', client);
    }
  });

  test('mysql2 has no client_ed25519 plugin (so ed25519 is tested with the CLI and mariadb-node)', async () => {
    await assert.rejects(runScenario('mysql2', tcp, { ...backend.users.ed, steps: [] }), /client_ed25519/);
  });

  test('empty-password user logs in with every client', async () => {
    await Promise.all(
      CLIENTS.map(async (client) => {
        const r = await runScenario(client, tcp, {
          ...backend.users.nopw,
          steps: ['select'],
          database: 'moat_test',
        });
        assert.equal(r.currentUser, 'nopw@%', client);
        assert.equal(r.select?.length, T_ROWS.length, client);
      }),
    );
  });

  test('REQUIRE SSL user: refused over plain TCP, accepted over TLS', async () => {
    const opts = { ...backend.users.tlsonly, steps: ['tls'] } as const;
    await assert.rejects(runScenario('mysql2', tcp, opts), { errno: 1045 });
    const r = await runScenario('mysql2', tcp, { ...opts, tls: { ca: backend.certs.ca } });
    assert.deepEqual(r.tls, { server: true, client: true });
  });

  test('root is reachable over the socket only, with its password', async () => {
    const [row] = await adminQuery('SELECT CURRENT_USER() AS u, @@port AS port');
    assert.deepEqual(row, { u: 'root@localhost', port: backend.port });
    await assert.rejects(
      mysql.createConnection({ host: backend.host, port: backend.port, ...backend.users.root }),
      { errno: 1045 },
    );
  });
});

describe('TLS verification', () => {
  let dir: string;
  let otherCa: string;
  let wrongNameCa: string;
  let misnamed: MariaDB | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-tls-'));
    otherCa = (await generateCerts(join(dir, 'other'))).ca;
    // A second server whose certificate chains to a trusted CA but names a host nobody dials.
    const wrong = await generateCerts(join(dir, 'wrong'), {
      serverName: 'wrong.invalid',
      serverAltNames: ['DNS:wrong.invalid'],
    });
    wrongNameCa = wrong.ca;
    misnamed = await startMariaDB({
      name: 'misnamed',
      extraArgs: [`--ssl-ca=${wrong.ca}`, `--ssl-cert=${wrong.serverCert}`, `--ssl-key=${wrong.serverKey}`],
    });
  });
  after(async () => {
    await misnamed?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('every client refuses a server certificate from another CA', async () => {
    await Promise.all(
      CLIENTS.map((client) =>
        assert.rejects(
          runScenario(client, tcp, { ...app, steps: [], tls: { ca: otherCa } }),
          /certificate/i,
          client,
        ),
      ),
    );
  });

  test('every client refuses a server certificate for another name', async () => {
    const server = misnamed!;
    const target = { host: server.host, port: server.port };
    const opts = { ...server.users.app, steps: [] };
    // The same server lets a client in without TLS: the refusals below are the name check.
    assert.equal((await runScenario('mysql2', target, opts)).currentUser, 'app@%');
    await Promise.all(
      CLIENTS.map((client) =>
        assert.rejects(
          runScenario(client, target, { ...opts, tls: { ca: wrongNameCa } }),
          /certificate/i,
          client,
        ),
      ),
    );
  });
});
