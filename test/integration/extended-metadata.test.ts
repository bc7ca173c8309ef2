// MariaDB's extended metadata through moat (issue 13, item 4): a MariaDB backend's
// MARIADB_CLIENT_EXTENDED_METADATA is offered and relayed, so a driver learns that a column is
// JSON (or UUID, INET6 …) exactly as it does direct. Both Node drivers, side by side with the
// direct connection to the harness's MariaDB.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as mariadb from 'mariadb';
import mysql from 'mysql2/promise';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const JSON_QUERY = "SELECT JSON_OBJECT('test', true) AS j, 7 AS n";

async function viaMysql2(host: string, port: number): Promise<unknown> {
  const c = await mysql.createConnection({ ...app, host, port });
  try {
    const [rows] = await c.query(JSON_QUERY);
    const [prepared] = await c.execute(JSON_QUERY);
    return [(rows as Array<{ j: unknown }>)[0]!.j, (prepared as Array<{ j: unknown }>)[0]!.j];
  } finally {
    await c.end();
  }
}

async function viaMariadb(host: string, port: number): Promise<unknown> {
  const c = await mariadb.createConnection({ ...app, host, port, metaAsArray: false });
  try {
    const rows = (await c.query(JSON_QUERY)) as Array<{ j: unknown }>;
    // The connector keeps the extended type name (the new field of the column definition) here.
    const meta = (rows as unknown as { meta: Array<{ _dataTypeFormat?: Buffer }> }).meta;
    const prepared = (await c.execute(JSON_QUERY)) as Array<{ j: unknown }>;
    return [rows[0]!.j, prepared[0]!.j, meta[0]!._dataTypeFormat?.toString() ?? null];
  } finally {
    await c.end();
  }
}

describe('MariaDB extended metadata', () => {
  test('a JSON column reaches mysql2 and the mariadb connector as it does direct', async () => {
    const moat = await startMoat(backend);
    try {
      // The first login teaches moat the backend's greeting (its extended capabilities).
      await viaMysql2(moat.host, moat.port);
      for (const [name, via] of [
        ['mysql2', viaMysql2],
        ['mariadb', viaMariadb],
      ] as const) {
        const direct = await via(backend.host, backend.port);
        const through = await via(moat.host, moat.port);
        assert.deepEqual(through, direct, `${name}: through moat as direct`);
        if (name === 'mysql2')
          assert.deepEqual(direct, [{ test: true }, { test: true }], 'mysql2 parses JSON');
        if (name === 'mariadb') assert.deepEqual(direct, [{ test: true }, { test: true }, 'json']);
      }
    } finally {
      await moat.stop();
    }
  });

  test('over a TLS backend leg too (MariaDB takes the capabilities from the SSLRequest)', async () => {
    const moat = await startMoat(backend, { backend: { tls: { mode: 'require' } } });
    try {
      await viaMysql2(moat.host, moat.port);
      assert.deepEqual(await viaMysql2(moat.host, moat.port), [{ test: true }, { test: true }]);
      assert.deepEqual(await viaMariadb(moat.host, moat.port), [{ test: true }, { test: true }, 'json']);
      // The SSLRequest carries the login's capabilities (the server takes them from there), so
      // multi-statements work over a TLS backend leg as over a plain one.
      const c = await mysql.createConnection({
        ...app,
        host: moat.host,
        port: moat.port,
        multipleStatements: true,
      });
      const [sets] = await c.query('SELECT 1 AS a; SELECT 2 AS b');
      assert.deepEqual(sets, [[{ a: 1 }], [{ b: 2 }]]);
      await c.end();
    } finally {
      await moat.stop();
    }
  });
});
