// The admin port through real clients (the `mariadb` command-line client and mysql2): MySQL's
// own queries over performance_schema / information_schema and moat's schema, the statements a
// DBA expects, SET GLOBAL persisted, block / unblock, KILL, read-only tables, and the port's own
// access control (hashed password, allowed networks).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { nativePasswordHash } from '../../src/admin/password.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, sendGarbage } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const DBA = { user: 'dba', password: 'Adm1n-pw' };
let moat: RunningMoat;
let adminPort = 0;

before(async () => {
  moat = await startMoat(backend, {
    admin: {
      listen: '127.0.0.1:0',
      allowFrom: ['127.0.0.1/32'],
      users: [{ user: DBA.user, passwordHash: nativePasswordHash(DBA.password) }],
    },
    guard: { connection_control_failed_connections_threshold: 0 },
  });
  const a = moat.gateway.adminAddress;
  assert.ok(a !== null && a.kind === 'tcp');
  adminPort = a.port;
});

after(() => moat.stop());

/** Runs SQL through the mariadb CLI on the admin port; tab-separated rows with a header. */
async function cli(sql: string, extra: string[] = []): Promise<string> {
  const { stdout } = await run('mariadb', [
    '-h127.0.0.1',
    `-P${adminPort}`,
    `-u${DBA.user}`,
    `-p${DBA.password}`,
    '--batch',
    ...extra,
    '-e',
    sql,
  ]);
  return stdout;
}

async function cliError(sql: string, user = DBA.user, password = DBA.password): Promise<string> {
  try {
    await run('mariadb', [
      '-h127.0.0.1',
      `-P${adminPort}`,
      `-u${user}`,
      `-p${password}`,
      '--batch',
      '-e',
      sql,
    ]);
  } catch (e) {
    return String((e as { stderr?: string }).stderr);
  }
  assert.fail('expected an error');
}

function appLogin(from: string, password: string = app.password): Promise<number> {
  return loginCodeFrom(moat, from, { ...app, password });
}

function garbage(from: string): Promise<Buffer> {
  return sendGarbage(moat, from);
}

test("host_cache answers a DBA's query, upper or lower case, as on MySQL", async () => {
  await garbage('127.0.3.1');
  await garbage('127.0.3.1');
  assert.equal(await appLogin('127.0.3.2', 'wrong'), 1045);
  assert.equal(await appLogin('127.0.3.3'), 0);
  const out = await cli(
    'SELECT IP, SUM_CONNECT_ERRORS, COUNT_HANDSHAKE_ERRORS, COUNT_AUTHENTICATION_ERRORS FROM performance_schema.host_cache ' +
      "WHERE IP LIKE '127.0.3.%' ORDER BY IP",
  );
  assert.equal(
    out,
    'IP\tSUM_CONNECT_ERRORS\tCOUNT_HANDSHAKE_ERRORS\tCOUNT_AUTHENTICATION_ERRORS\n' +
      '127.0.3.1\t2\t2\t0\n127.0.3.2\t0\t0\t1\n127.0.3.3\t0\t0\t0\n',
  );
  const lower = await cli("select ip from PERFORMANCE_SCHEMA.HOST_CACHE where ip = '127.0.3.1'");
  assert.equal(lower, 'ip\n127.0.3.1\n');
  // Hosts whose every connection failed: in host_cache, not in hosts (which, as in MySQL, counts
  // only authenticated connections; test/integration/guard-hosts.test.ts has the DBA's query).
  const onlyFailed = await cli(
    'SELECT h.IP FROM performance_schema.host_cache h ' +
      'LEFT JOIN performance_schema.hosts s ON s.HOST = h.IP ' +
      "WHERE h.IP LIKE '127.0.3.%' AND s.HOST IS NULL ORDER BY h.IP",
  );
  assert.equal(onlyFailed, 'IP\n127.0.3.1\n127.0.3.2\n');
  const users = await cli(
    "SELECT USER, HOST, TOTAL_CONNECTIONS FROM performance_schema.accounts WHERE HOST = '127.0.3.3'",
  );
  assert.equal(users, `USER\tHOST\tTOTAL_CONNECTIONS\n${app.user}\t127.0.3.3\t1\n`);
});

test('SHOW STATUS / VARIABLES, @@variables, \\G output', async () => {
  const status = await cli("SHOW GLOBAL STATUS LIKE 'Aborted_conn%'");
  assert.match(status, /^Variable_name\tValue\nAborted_connects\t\d+\n$/);
  assert.equal(
    await cli("SHOW VARIABLES LIKE 'max_connect_errors'"),
    'Variable_name\tValue\nmax_connect_errors\t100\n',
  );
  assert.equal(await cli('SELECT @@version_comment LIMIT 1'), '@@version_comment\nmoat security gateway\n');
  const vertical = await cli(
    "SELECT IP, HOST_VALIDATED FROM performance_schema.host_cache WHERE IP = '127.0.3.3'",
    ['--vertical'],
  );
  assert.match(vertical, /IP: 127\.0\.3\.3\nHOST_VALIDATED: NO/);
});

test('SET GLOBAL changes the guard at once and is persisted; bad values and names get MySQL errors', async () => {
  await cli('SET GLOBAL max_connect_errors = 2');
  assert.equal(await cli('SELECT @@global.max_connect_errors AS m'), 'm\n2\n');
  const saved = JSON.parse(readFileSync(join(moat.stateDir, 'variables.json'), 'utf8')) as Record<
    string,
    number
  >;
  assert.equal(saved.max_connect_errors, 2);
  await garbage('127.0.3.9');
  await garbage('127.0.3.9');
  assert.equal(await appLogin('127.0.3.9'), 1129, 'blocked after the new limit');
  assert.match(await cliError('SET GLOBAL connection_control_min_connection_delay = 5'), /ERROR 1231/);
  assert.match(await cliError('SET GLOBAL host_cache_size = 5'), /ERROR 1238 .*read only/);
  assert.match(await cliError('SET GLOBAL no_such_thing = 5'), /ERROR 1193/);
  await cli('SET GLOBAL max_connect_errors = 100');
});

test('BLOCK HOST / UNBLOCK HOST, moat.blocked_hosts, FLUSH HOSTS', async () => {
  await cli("BLOCK HOST '127.0.3.20' FOR 1 HOUR");
  assert.equal(await appLogin('127.0.3.20'), 1129);
  const blocked = await cli("SELECT IP, REASON, BLOCKED_BY FROM moat.blocked_hosts WHERE IP = '127.0.3.20'");
  assert.equal(blocked, 'IP\tREASON\tBLOCKED_BY\n127.0.3.20\tmanual\tdba@127.0.0.1\n');
  await cli("UNBLOCK HOST '127.0.3.20'");
  assert.equal(await appLogin('127.0.3.20'), 0);
  await cli('FLUSH HOSTS');
  assert.equal(
    await cli("SELECT COUNT(*) AS n FROM performance_schema.host_cache WHERE IP LIKE '127.0.3.%'"),
    'n\n0\n',
  );
  assert.equal(await appLogin('127.0.3.9'), 0, 'FLUSH HOSTS lifts automatic blocks');
});

test('SHOW PROCESSLIST and KILL', async () => {
  const conn = await mysql.createConnection({ ...app, host: moat.host, port: moat.port });
  try {
    const list = await cli('SHOW PROCESSLIST');
    const line = list.split('\n').find((l) => l.includes(`\t${app.user}\t`));
    assert.ok(line !== undefined, list);
    const id = line.split('\t')[0]!;
    assert.equal(
      await cli(`SELECT USER, COMMAND FROM moat.sessions WHERE ID = ${id}`),
      `USER\tCOMMAND\n${app.user}\tSleep\n`,
    );
    await cli(`KILL ${id}`);
    await assert.rejects(conn.query('SELECT 1'));
    assert.match(await cliError(`KILL ${id}`), /ERROR 1094/);
  } finally {
    conn.destroy();
  }
});

test('moat.sql_errors keeps failed statements, passwords redacted; moat.variables', async () => {
  const c = await mysql.createConnection({ ...app, host: moat.host, port: moat.port });
  await assert.rejects(c.query('SELECT * FROM no_such_table_here'));
  await assert.rejects(c.query("ALTER USER nobody IDENTIFIED BY 'S3cret-zz'"));
  await c.end();
  const out = await cli('SELECT ERROR_CODE, USER, STATEMENT FROM moat.sql_errors ORDER BY TIME');
  assert.match(out, /1146\tapp\tSELECT \* FROM no_such_table_here\n/);
  assert.match(out, /\tapp\tALTER USER nobody IDENTIFIED BY '\*\*\*'\n/);
  assert.ok(!out.includes('S3cret-zz'));
  assert.equal(
    await cli("SELECT VARIABLE_VALUE FROM moat.variables WHERE VARIABLE_NAME = 'version_comment'"),
    'VARIABLE_VALUE\nmoat security gateway\n',
  );
});

test('tables are read-only; unknown tables and bad SQL get MySQL errors', async () => {
  assert.match(
    await cliError('DELETE FROM performance_schema.host_cache'),
    /ERROR 1142 \(42000\).*DELETE command denied/,
  );
  assert.match(await cliError('SELECT * FROM performance_schema.nope'), /ERROR 1146/);
  assert.match(await cliError('SELECT nope FROM performance_schema.hosts'), /ERROR 1054/);
  assert.match(await cliError('SELEC 1'), /ERROR 1064/);
  // `mysql` holds MySQL Enterprise Firewall's tables (the SQL firewall): a database of moat's now.
  assert.match(await cliError('USE no_such_db'), /ERROR 1049/);
});

test('admin access: a wrong password gets 1045; mysql2 logs in too', async () => {
  assert.match(
    await cliError('SELECT 1', DBA.user, 'wrong'),
    /ERROR 1045 \(28000\): Access denied for user 'dba'@'127.0.0.1'/,
  );
  const c = await mysql.createConnection({
    host: '127.0.0.1',
    port: adminPort,
    user: DBA.user,
    password: DBA.password,
  });
  const [rows] = await c.query(
    'SELECT COUNT(*) AS n FROM information_schema.CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS',
  );
  assert.deepEqual(rows, [{ n: 0 }]);
  await c.end();
  assert.ok(existsSync(moat.stateDir));
});

test('TLS on the admin port, verified against the CA; USE and TRUNCATE host_cache', async () => {
  const status = await cli('status', [`--ssl-ca=${backend.certs.ca}`, '--ssl-verify-server-cert']);
  assert.match(status, /SSL:\s+Cipher in use is \S+/);
  assert.equal(await cli('USE performance_schema; SELECT DATABASE() AS db'), 'db\nperformance_schema\n');
  await garbage('127.0.3.40');
  await cli('TRUNCATE TABLE performance_schema.host_cache');
  assert.equal(await cli("SELECT COUNT(*) AS n FROM host_cache WHERE IP = '127.0.3.40'"), 'n\n0\n');
});

test('a network outside admin.allowFrom gets 1130', async () => {
  const err = await new Promise<Buffer>((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port: adminPort, localAddress: '127.0.0.2' });
    s.once('data', resolve);
    s.once('error', reject);
  });
  assert.equal(err[4], 0xff);
  assert.equal(err.readUInt16LE(5), 1130);
});
