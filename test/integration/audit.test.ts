// The audit log fed by a running gateway: Connect (success and every failure with its code),
// Query with redacted statements, Quit (with and without COM_QUIT), Change user, Blocked /
// Unblocked / Delayed, admin statements — in the JSON, XML, SQL-errors and auth sinks at once;
// and strict mode refusing connections while the log cannot be written (a sink on /dev/full).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { nativePasswordHash } from '../../src/admin/password.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { testBackend } from '../harness/env.ts';
import { mysqlFrom, sendGarbage } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
let moat: RunningMoat;

before(async () => {
  moat = await startMoat(backend, {
    guard: {
      max_connect_errors: 2,
      connection_control_failed_connections_threshold: 2,
      connection_control_max_connection_delay: 1000,
    },
    audit: {
      instance: 'moat-test',
      sinks: [
        { type: 'json', path: 'audit.log' },
        { type: 'xml', path: 'audit.xml' },
        { type: 'sql-errors', path: 'sql-errors.log' },
        { type: 'auth', path: 'auth.log' },
      ],
    },
    admin: {
      listen: '127.0.0.1:0',
      users: [{ user: 'dba', passwordHash: nativePasswordHash('dba-pw') }],
    },
  });
  const login = (from: string, password: string = app.password) =>
    mysqlFrom(moat, from, { ...app, password, connectAttributes: { program_name: 'audit-test' } });
  const c = await login('127.0.7.1');
  await c.query('SELECT 1');
  await assert.rejects(c.query('SELECT * FROM no_such_table'));
  await assert.rejects(c.query("SET PASSWORD FOR 'nobody'@'%' = PASSWORD('Sekr1t-pw')"));
  await c.changeUser({ user: backend.users.app2.user, password: backend.users.app2.password });
  await c.end();
  const dropped = await login('127.0.7.2');
  dropped.destroy(); // no COM_QUIT
  for (let i = 0; i < 3; i++) await assert.rejects(login('127.0.7.3', 'wrong'));
  for (let i = 0; i < 2; i++) await sendGarbage(moat, '127.0.7.4');
  moat.gateway.guard.unblock('127.0.7.4');
  const a = moat.gateway.adminAddress;
  assert.ok(a?.kind === 'tcp');
  await run('mariadb', ['-h127.0.0.1', `-P${a.port}`, '-udba', '-pdba-pw', '-e', 'SHOW PROCESSLIST']);
  await new Promise((r) => setTimeout(r, 100));
  await moat.gateway.audit!.flush();
});

after(() => moat.stop());

const file = (name: string) => readFileSync(join(moat.stateDir, name), 'utf8');
const events = () =>
  file('audit.log')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEvent);

test('JSON lines: every kind of event, with codes, classes, TLS, program and instance', () => {
  const all = events();
  const ok = all.find((e) => e.name === 'Connect' && e.ip === '127.0.7.1');
  assert.equal(ok?.status, 0);
  assert.equal(ok?.program, 'audit-test');
  assert.equal(ok?.instance, 'moat-test');
  assert.equal(ok?.db, app.database);
  const denied = all.filter((e) => e.name === 'Connect' && e.ip === '127.0.7.3');
  assert.deepEqual(
    denied.map((e) => [e.status, e.failureClass]),
    [
      [1045, 'authentication'],
      [1045, 'authentication'],
      [1045, 'authentication'],
    ],
  );
  const handshake = all.filter((e) => e.name === 'Connect' && e.ip === '127.0.7.4');
  assert.deepEqual(
    handshake.map((e) => e.failureClass),
    ['handshake', 'handshake'],
  );
  const q = all.filter((e) => e.name === 'Query' && e.ip === '127.0.7.1');
  assert.deepEqual(
    q.map((e) => [e.statement, e.status]),
    [
      ['SELECT 1', 0],
      ['SELECT * FROM no_such_table', 1146],
      ["SET PASSWORD FOR 'nobody'@'%' = PASSWORD('***')", q[2]!.status],
    ],
  );
  assert.ok(
    all.some((e) => e.name === 'Change user' && e.user === backend.users.app2.user && e.status === 0),
  );
  assert.ok(all.some((e) => e.name === 'Quit' && e.ip === '127.0.7.1' && e.status === 0));
  assert.ok(
    all.some((e) => e.name === 'Quit' && e.ip === '127.0.7.2' && e.status === 1053),
    'a Quit without COM_QUIT',
  );
  assert.ok(all.some((e) => e.name === 'Delayed' && e.ip === '127.0.7.3'));
  assert.ok(all.some((e) => e.name === 'Blocked' && e.ip === '127.0.7.4'));
  assert.ok(all.some((e) => e.name === 'Unblocked' && e.ip === '127.0.7.4'));
  assert.ok(all.some((e) => e.name === 'Admin' && e.statement === 'SHOW PROCESSLIST' && e.user === 'dba'));
});

test('no password reaches any sink', () => {
  for (const name of ['audit.log', 'audit.xml', 'sql-errors.log', 'auth.log']) {
    const text = file(name);
    assert.ok(!text.includes('Sekr1t-pw'), name);
    assert.ok(!text.includes(app.password), name);
  }
});

// The document is closed (</AUDIT>) when moat stops; test/unit/audit-formats.test.ts parses
// closed and rotated files with xmllint and Python's XML parser.
test('Enterprise Audit XML holds the same records', () => {
  const xml = file('audit.xml');
  assert.match(xml, /<AUDIT_RECORD>[\s\S]*?<NAME>Connect<\/NAME>[\s\S]*?<STATUS>1045<\/STATUS>/);
  assert.match(xml, /<SQLTEXT>SELECT \* FROM no_such_table<\/SQLTEXT>/);
});

test('the SQL-errors log has one OSSEC-style line per failed statement', () => {
  const lines = file('sql-errors.log').trim().split('\n');
  assert.ok(
    lines.some((l) =>
      /^SQL-Error: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d app@127\.0\.7\.1:\d+ -> Error 1146: Table '.*no_such_table' doesn't exist -- SELECT \* FROM no_such_table$/.test(
        l,
      ),
    ),
    lines.join('\n'),
  );
});

test("fail2ban's stock mysqld-auth filter matches the auth log's failed logins", async () => {
  const { stdout } = await run('fail2ban-regex', [
    join(moat.stateDir, 'auth.log'),
    '/etc/fail2ban/filter.d/mysqld-auth.conf',
  ]);
  assert.match(stdout, /Failregex: 3 total/);
  assert.match(stdout, /Lines: 3 lines, 0 ignored, 3 matched, 0 missed/);
});

test('strict mode: while the log cannot be written, connections are refused; default mode keeps serving', async () => {
  const strict = await startMoat(backend, {
    audit: { strict: true, flushIntervalMs: 20, sinks: [{ type: 'json', path: '/dev/full' }] },
  });
  const lax = await startMoat(backend, {
    audit: { flushIntervalMs: 20, sinks: [{ type: 'json', path: '/dev/full' }] },
  });
  try {
    const first = await mysql.createConnection({ ...app, host: strict.host, port: strict.port });
    first.on('error', () => {});
    await first.query('SELECT 1').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(strict.gateway.audit!.refusing, 'the strict audit log is refusing');
    await assert.rejects(
      mysql.createConnection({ ...app, host: strict.host, port: strict.port }),
      (e: Error & { errno?: number }) => {
        assert.equal(e.errno, 1105);
        assert.match(e.message, /audit log cannot be written/);
        return true;
      },
    );
    await assert.rejects(first.query('SELECT 2'), 'the open session was closed at its idle point');
    first.destroy();

    const c = await mysql.createConnection({ ...app, host: lax.host, port: lax.port });
    await c.query('SELECT 1');
    await new Promise((r) => setTimeout(r, 150));
    const [rows] = await c.query('SELECT 2 AS two');
    assert.deepEqual(rows, [{ two: 2 }], 'default mode keeps serving');
    assert.ok(lax.gateway.audit!.stats.dropped > 0, 'and counts what it drops');
    await c.end();
  } finally {
    await strict.stop();
    await lax.stop();
  }
});
