// Commands whose answers have their own shapes, through moat with real clients: a server-side
// cursor read with COM_STMT_FETCH (PHP mysqli), COM_RESET_CONNECTION (MariaDB Node connector),
// COM_FIELD_LIST-free metadata, COM_STATISTICS, COM_PING — and the follower keeps track of all of
// them (no UNKNOWN events).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as mariadb from 'mariadb';
import mysql from 'mysql2/promise';
import { spawnWithEnv } from '../harness/clients.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const backend = testBackend();
let moat: RunningMoat;

before(async () => {
  moat = await startMoat(backend);
});
after(async () => {
  await moat?.stop();
});

const CURSOR_PHP = `<?php
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$db = new mysqli(getenv('H'), 'app', getenv('P'), 'moat_test', (int)getenv('PORT'));
$st = $db->prepare('SELECT id, name FROM t WHERE id >= ? ORDER BY id');
$st->attr_set(MYSQLI_STMT_ATTR_CURSOR_TYPE, MYSQLI_CURSOR_TYPE_READ_ONLY);
$st->attr_set(MYSQLI_STMT_ATTR_PREFETCH_ROWS, 1);
$min = 1;
$st->bind_param('i', $min);
$st->execute();
$st->bind_result($id, $name);
$out = [];
while ($st->fetch()) { $out[] = [$id, $name]; }
$st->close();
echo json_encode(['rows' => $out, 'stat' => $db->stat() !== false, 'ping' => $db->ping()]);
`;

test('a server-side cursor (COM_STMT_EXECUTE with a cursor, then COM_STMT_FETCH) through moat', async () => {
  const { code, stdout, stderr } = await spawnWithEnv(
    ['/usr/bin/php', '-r', CURSOR_PHP.replace('<?php', '')],
    { PATH: process.env.PATH ?? '/usr/bin', H: moat.host, PORT: String(moat.port), P: 'app-pw' },
    { timeoutMs: 20_000 },
  );
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout) as { rows: Array<[number, string]>; stat: boolean; ping: boolean };
  assert.deepEqual(
    r.rows.map(([id]) => id),
    [1, 2, 3],
  );
  assert.equal(r.stat, true);
  assert.equal(r.ping, true);
  const fetches = await moat.waitForEvent((e) => e.command === 'Stmt_fetch');
  assert.equal(fetches.statement, 'SELECT id, name FROM t WHERE id >= ? ORDER BY id');
  const stat = await moat.waitForEvent((e) => e.command === 'Statistics');
  assert.equal(stat.status, 'OK');
  assert.ok(!moat.events.some((e) => e.status === 'UNKNOWN'), 'the follower never lost track');
});

test('COM_RESET_CONNECTION through moat (MariaDB Node connector) resets session state', async () => {
  const conn = await mariadb.createConnection({
    host: moat.host,
    port: moat.port,
    user: 'app',
    password: 'app-pw',
    database: 'moat_test',
  });
  try {
    await conn.query('SET @marker = 42');
    await conn.reset();
    const rows = (await conn.query('SELECT @marker AS m')) as Array<{ m: unknown }>;
    assert.equal(rows[0]?.m, null);
    const reset = await moat.waitForEvent((e) => e.command === 'Reset_connection');
    assert.equal(reset.status, 'OK');
  } finally {
    await conn.end();
  }
});

test('pipelined PREPARE + EXECUTE (MariaDB Node connector) are followed: both events carry the text', async () => {
  const conn = await mariadb.createConnection({
    host: moat.host,
    port: moat.port,
    user: 'app',
    password: 'app-pw',
    database: 'moat_test',
  });
  try {
    const rows = (await conn.execute('SELECT name FROM t WHERE id = ?', [3])) as Array<{ name: string }>;
    assert.equal(rows[0]?.name, 'gämma ☃');
    const exec = await moat.waitForEvent(
      (e) => e.command === 'Stmt_execute' && e.statement === 'SELECT name FROM t WHERE id = ?',
    );
    assert.equal(exec.rows, 1);
    assert.equal(exec.status, 'OK');
  } finally {
    await conn.end();
  }
});

test('an error inside a multi-statement ends the answer and is reported with its code', async () => {
  const conn = await mysql.createConnection({
    host: moat.host,
    port: moat.port,
    user: 'app',
    password: 'app-pw',
    database: 'moat_test',
    multipleStatements: true,
  });
  try {
    await assert.rejects(conn.query('SELECT 1; SELECT * FROM no_such_table; SELECT 3'), { errno: 1146 });
    const ev = await moat.waitForEvent(
      (e) => e.statement === 'SELECT 1; SELECT * FROM no_such_table; SELECT 3',
    );
    assert.equal(ev.status, 'ERR');
    assert.equal(ev.errorCode, 1146);
    assert.equal(ev.sqlState, '42S02');
    assert.equal(ev.rows, 1, 'the first result set still counted');
    // The session is still in step: the next query works.
    const [rows] = await conn.query('SELECT 7 AS x');
    assert.deepEqual(rows, [{ x: 7 }]);
  } finally {
    await conn.end();
  }
});
