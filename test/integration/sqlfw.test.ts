// The SQL firewall through real clients against the harness's MariaDB: RECORDING learns digests
// from mysql2 traffic; DETECTING lets an unlisted statement through with an Alert record;
// PROTECTING refuses it with MySQL EE's ERROR 1045 (28000) "Statement was blocked by Firewall"
// before the server sees it, through the mariadb CLI, mysql2 (text and prepared: the PREPARE is
// refused), PHP mysqli and Python PyMySQL; group profiles, network scope, readonly admins, bad
// modes, and a restart that keeps the lists.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import mariadb from 'mariadb';
import mysql from 'mysql2/promise';
import { nativePasswordHash } from '../../src/admin/password.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const DBA = { user: 'dba', password: 'Adm1n-pw' };
const WATCHER = { user: 'watcher', password: 'W4tch-pw' };
const TOKEN = 'sqlfw-test-token';

const BLOCKED = /1045.*28000.*Statement was blocked by Firewall|Statement was blocked by Firewall/;

async function start(
  stateDir?: string,
  overrides: Record<string, unknown> = {},
): Promise<{ moat: RunningMoat; admin: (sql: string, who?: typeof DBA) => Promise<string> }> {
  const moat = await startMoat(backend, {
    ...overrides,
    ...(stateDir === undefined ? {} : { stateDir }),
    admin: {
      http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') },
      listen: '127.0.0.1:0',
      allowFrom: ['127.0.0.1/32'],
      users: [
        { user: DBA.user, passwordHash: nativePasswordHash(DBA.password) },
        { user: WATCHER.user, passwordHash: nativePasswordHash(WATCHER.password), role: 'readonly' },
      ],
    },
  });
  const a = moat.gateway.adminAddress;
  assert.ok(a !== null && a.kind === 'tcp');
  const admin = async (sql: string, who = DBA) => {
    const args = [
      '--no-defaults',
      '-h127.0.0.1',
      `-P${a.port}`,
      `-u${who.user}`,
      `-p${who.password}`,
      '--batch',
    ];
    try {
      const { stdout } = await run('/usr/bin/mariadb', [...args, '-e', sql]);
      return stdout;
    } catch (e) {
      return `ERR ${(e as { stderr?: string }).stderr ?? String(e)}`;
    }
  };
  return { moat, admin };
}

/** The mariadb CLI through moat as app; stdout, or 'ERR <stderr>'. */
/** One statement through mysql2 from a chosen client address: 0, or the MySQL error code. */
async function from(moat: RunningMoat, address: string, sql: string): Promise<number> {
  const c = await mysql.createConnection({
    ...app,
    host: moat.host,
    port: moat.port,
    stream: netConnect({ host: moat.host, port: moat.port, localAddress: address }),
  });
  try {
    await c.query(sql);
    return 0;
  } catch (e) {
    return (e as { errno?: number }).errno ?? -1;
  } finally {
    await c.end();
  }
}

async function cli(moat: RunningMoat, sql: string): Promise<string> {
  const args = [
    '--no-defaults',
    '--protocol=TCP',
    `--host=${moat.host}`,
    `--port=${moat.port}`,
    `--user=${app.user}`,
    '--skip-ssl',
    `--database=${app.database}`,
    '--batch',
    '-e',
    sql,
  ];
  try {
    const { stdout } = await run('/usr/bin/mariadb', args, {
      env: { PATH: '/usr/bin:/bin', MYSQL_PWD: app.password },
    });
    return stdout;
  } catch (e) {
    return `ERR ${(e as { stderr?: string }).stderr ?? String(e)}`;
  }
}

const PHP = `
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$c = new mysqli(getenv('H'), getenv('U'), getenv('P'), getenv('D'), (int)getenv('PORT'));
$out = [];
foreach (json_decode(getenv('SQL')) as $sql) {
  try { $r = $c->query($sql); $out[] = ['ok' => $r === true ? 0 : $r->num_rows]; }
  catch (mysqli_sql_exception $e) { $out[] = ['code' => $e->getCode(), 'state' => $e->getSqlState(), 'message' => $e->getMessage()]; }
}
echo json_encode($out);
`;

const PY = `
import json, os, pymysql
c = pymysql.connect(host=os.environ['H'], port=int(os.environ['PORT']), user=os.environ['U'], password=os.environ['P'], database=os.environ['D'])
out = []
for sql in json.loads(os.environ['SQL']):
    try:
        with c.cursor() as cur:
            cur.execute(sql)
            out.append({'ok': len(cur.fetchall())})
    except pymysql.err.MySQLError as e:
        out.append({'code': e.args[0], 'message': e.args[1]})
print(json.dumps(out))
`;

type DriverResult = Array<{ ok?: number; code?: number; state?: string; message?: string }>;

async function driver(
  bin: string,
  script: string[],
  moat: RunningMoat,
  sqls: string[],
): Promise<DriverResult> {
  const { stdout } = await run(bin, script, {
    env: {
      PATH: '/usr/bin:/bin',
      H: moat.host,
      PORT: String(moat.port),
      U: app.user,
      P: app.password,
      D: app.database,
      SQL: JSON.stringify(sqls),
    },
  });
  return JSON.parse(stdout) as DriverResult;
}

async function audit(moat: RunningMoat): Promise<AuditEvent[]> {
  await moat.gateway.audit!.flush();
  return readFileSync(join(moat.gateway.config.stateDir, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEvent);
}

async function backendHasTable(name: string): Promise<boolean> {
  const c = await mysql.createConnection({ ...app, host: backend.host, port: backend.port });
  try {
    const [rows] = await c.query('SHOW TABLES LIKE ?', [name]);
    return (rows as unknown[]).length > 0;
  } finally {
    await c.end();
  }
}

test('RECORDING learns, DETECTING alerts, PROTECTING refuses through the mariadb CLI, mysql2, PHP and Python; the lists survive a restart', async () => {
  // A stateDir of the test's own: the harness removes the one it makes at stop.
  const stateDir = mkdtempSync(join(tmpdir(), 'moat-sqlfw-'));
  let { moat, admin } = await start(stateDir);
  try {
    assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'RECORDING')"), '');
    const c = await mysql.createConnection({ ...app, host: moat.host, port: moat.port });
    await c.query('SELECT name FROM t WHERE id = 1');
    await c.execute('SELECT name FROM t WHERE id = ?', [1]);
    // Training runs of the other drivers too: what they send on connect (PyMySQL's
    // SET AUTOCOMMIT) is part of the application's workload and must be learned with it.
    for (const [bin, script] of [
      ['/usr/bin/php', ['-r', PHP]],
      ['/usr/bin/python3', ['-c', PY]],
    ] as const)
      assert.deepEqual(await driver(bin, [...script], moat, ['SELECT name FROM t WHERE id = 1']), [
        { ok: 1 },
      ]);
    await c.query('SELECT id, name, v FROM t ORDER BY id');
    await moat.waitForEvent((e) => e.statement === 'SELECT id, name, v FROM t ORDER BY id');
    const list = await admin(
      "SELECT RULE FROM mysql.firewall_whitelist WHERE USERHOST = 'app@%' ORDER BY ID",
    );
    assert.match(list, /FROM `t` WHERE `id` = \?\n/);
    assert.match(list, /ORDER BY `id`/);
    assert.match(await admin('SELECT USERHOST, MODE FROM mysql.firewall_users'), /app@%\tRECORDING/);

    // DETECTING: an unlisted statement runs, and is an Alert record and a report row.
    assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'DETECTING')"), '');
    // Prepared while not protecting: judged at its first EXECUTE once the mode is PROTECTING.
    const early = await c.prepare('SELECT v FROM t WHERE id = ? OR 1 = 1');
    const [rows] = await c.query('SELECT name FROM t WHERE id = 1 OR TRUE');
    assert.equal((rows as unknown[]).length, 3, 'DETECTING lets it run');
    const report = await admin('SELECT PROFILE, MODE, DIGEST_TEXT, COUNT_STAR FROM moat.firewall_report');
    assert.match(report, /app@%\tDETECTING\tSELECT .* FROM `t` WHERE `id` = \? OR TRUE\t1/);
    const http = moat.gateway.httpAddress;
    assert.ok(http !== null && http.kind === 'tcp');
    const api = (await (
      await fetch(`http://127.0.0.1:${http.port}/api/sqlfw/report`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as {
      report: Array<{ profile: string; mode: string; text: string; count: number; firstSeen: number }>;
    };
    assert.equal(api.report.length, 2, 'the OR TRUE query and the early PREPARE');
    const entry = api.report.find((r) => /OR TRUE$/.test(r.text));
    assert.equal(entry?.profile, 'app@%');
    assert.equal(entry?.count, 1);

    // PROTECTING, switched while c is connected: the live session is protected at once.
    assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'PROTECTING')"), '');
    const [ok] = await c.query('SELECT name FROM t WHERE id = 2');
    assert.deepEqual(ok, [{ name: 'beta' }], 'a listed digest passes (another literal)');
    await assert.rejects(
      c.query('SELECT name FROM t WHERE id = 1 OR TRUE'),
      (e: Error & { errno?: number; sqlState?: string }) => {
        assert.equal(e.errno, 1045);
        assert.equal(e.sqlState, '28000');
        assert.equal(e.message, 'Statement was blocked by Firewall');
        return true;
      },
    );
    // mysql2 prepared statements: an unlisted PREPARE is refused, a listed one runs.
    await assert.rejects(
      c.execute('SELECT v FROM t WHERE name = ?', ['beta']),
      (e: Error & { errno?: number }) => e.errno === 1045,
    );
    for (let i = 0; i < 2; i++)
      await assert.rejects(early.execute([1]), (e: Error & { errno?: number }) => e.errno === 1045);
    const [prepared] = await c.execute('SELECT name FROM t WHERE id = ?', [3]);
    assert.deepEqual(prepared, [{ name: 'gämma ☃' }]);
    await c.end();

    // The mariadb CLI: the refused statement never reaches the server.
    assert.match(await cli(moat, 'CREATE TABLE fw_never (a INT)'), BLOCKED);
    assert.equal(await backendHasTable('fw_never'), false, 'the server never saw the CREATE TABLE');
    assert.match(await cli(moat, 'SELECT name FROM t WHERE id = 2'), /beta/);

    // PHP mysqli and Python PyMySQL (both send COM_QUERY). The session goes on after a refusal.
    const sqls = [
      'SELECT name FROM t WHERE id = 1',
      'SELECT name FROM t WHERE 1 = 1',
      'SELECT name FROM t WHERE id = 2',
    ];
    const php = await driver('/usr/bin/php', ['-r', PHP], moat, sqls);
    assert.equal(php[0]?.ok, 1);
    assert.deepEqual(php[1], { code: 1045, state: '28000', message: 'Statement was blocked by Firewall' });
    assert.equal(php[2]?.ok, 1);
    const py = await driver('/usr/bin/python3', ['-c', PY], moat, sqls);
    assert.equal(py[0]?.ok, 1);
    assert.deepEqual(py[1], { code: 1045, message: 'Statement was blocked by Firewall' });
    assert.equal(py[2]?.ok, 1);

    const events = await audit(moat);
    const blocked = events.filter((e) => e.name === 'Alert' && e.outcome === 'sqlfw-blocked');
    assert.ok(
      blocked.some((e) => e.statement === 'CREATE TABLE fw_never (a INT)'),
      JSON.stringify(blocked),
    );
    assert.ok(
      blocked.every(
        (e) => e.status === 1045 && /not on the allowlist of account profile 'app@%'/.test(e.message ?? ''),
      ),
    );
    assert.ok(events.some((e) => e.name === 'Alert' && e.outcome === 'sqlfw-detected'));
    assert.ok(
      events.some(
        (e) => e.name === 'Admin' && e.statement?.includes("sp_set_firewall_mode('app@%', 'PROTECTING')"),
      ),
      'the mode change is an Admin record',
    );
    assert.ok(
      !moat.events.some((e) => e.statement === 'CREATE TABLE fw_never (a INT)'),
      'no command event: never relayed',
    );
  } finally {
    await moat.stop();
  }

  // A restart on the same stateDir keeps the mode and the list.
  ({ moat, admin } = await start(stateDir));
  try {
    assert.match(await admin('SELECT USERHOST, MODE FROM mysql.firewall_users'), /app@%\tPROTECTING/);
    assert.equal(statSync(join(stateDir, 'sqlfw.sqlite')).mode & 0o777, 0o600, 'statement texts: 0600');
    assert.match(await cli(moat, 'SELECT name FROM t WHERE id = 1 OR TRUE'), BLOCKED);
    assert.match(await cli(moat, 'SELECT name FROM t WHERE id = 1'), /alpha/);
  } finally {
    await moat.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('group profiles, network scope, readonly admins and bad modes', async () => {
  const { moat, admin } = await start();
  try {
    // A group in PROTECTING with an empty list, scoped to 127.0.9.0/24, app a member.
    assert.equal(await admin("CALL mysql.sp_set_firewall_group_mode('apps', 'PROTECTING')"), '');
    assert.equal(await admin("CALL mysql.sp_firewall_group_enlist('apps', 'app@%')"), '');
    assert.equal(await admin("CALL mysql.sp_set_firewall_group_network('apps', '127.0.9.0/24')"), '');
    assert.match(await admin('SELECT GROUP_ID, MEMBER_ID FROM mysql.firewall_membership'), /apps\tapp@%/);
    assert.match(
      await admin('SELECT NAME, MODE FROM performance_schema.firewall_groups'),
      /apps\tPROTECTING/,
    );
    assert.equal(await from(moat, '127.0.9.5', 'SELECT 1'), 1045, 'inside the network: protected');
    assert.equal(await from(moat, '127.0.0.1', 'SELECT 1'), 0, 'outside: not under the profile');

    // Delisted: no longer under the group.
    assert.equal(await admin("CALL mysql.sp_firewall_group_delist('apps', 'app@%')"), '');
    assert.equal(await from(moat, '127.0.9.5', 'SELECT 1'), 0);

    // A live mysql2 session from the network is caught when it joins the group again.
    const c = await mysql.createConnection({
      ...app,
      host: moat.host,
      port: moat.port,
      stream: netConnect({ host: moat.host, port: moat.port, localAddress: '127.0.9.6' }),
    });
    await c.query('SELECT 1');
    assert.equal(await admin("CALL mysql.sp_firewall_group_enlist('apps', 'app@127.0.9.%')"), '');
    await assert.rejects(c.query('SELECT 1'), (e: Error & { errno?: number }) => e.errno === 1045);
    await c.end();

    // MySQL EE's status variables: the refusals above, no suspicious statement (no DETECTING).
    const status = await admin("SHOW GLOBAL STATUS LIKE 'Firewall_access%'");
    assert.match(status, /Firewall_access_denied\t2\n/);
    assert.match(status, /Firewall_access_suspicious\t0\n/);

    // Readonly admins read, but may not change.
    assert.match(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'OFF')", WATCHER), /ERROR 1227/);
    assert.match(await admin('SELECT COUNT(*) FROM mysql.firewall_groups', WATCHER), /1/);
    // Bad input: named.
    assert.match(
      await admin("CALL mysql.sp_set_firewall_mode('app@%', 'PROTECT')"),
      /ERROR 1210 .*sp_set_firewall_mode: unknown firewall mode 'PROTECT' \(expected OFF, RECORDING, DETECTING, PROTECTING or RESET\)/,
    );
    assert.match(
      await admin("CALL mysql.sp_firewall_group_enlist('nosuch', 'app@%')"),
      /ERROR 1210 .*no firewall group profile named 'nosuch'/,
    );
    assert.match(
      await admin("CALL mysql.sp_set_firewall_group_network('apps', '10.0.0.0/33')"),
      /ERROR 1210 .*'10.0.0.0\/33' is not an IP address or CIDR network/,
    );
    assert.match(await admin("CALL mysql.sp_set_firewall_mode('app@%')"), /ERROR 1318/);
  } finally {
    await moat.stop();
  }
});

test('pipelined commands (the mariadb connector): a refusal answers in order; PREPARE + EXECUTE refused together; a statement past the capture is judged by its prefix and refused', async () => {
  const { moat, admin } = await start(undefined, { limits: { maxStatementLength: 1024 } });
  const long = `SELECT name FROM t WHERE id = 1 ${'/* pad */ '.repeat(200)}`;
  try {
    assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'RECORDING')"), '');
    const conn = await mariadb.createConnection({ ...app, host: moat.host, port: moat.port });
    try {
      await conn.query('SELECT SLEEP(0.2) AS s');
      await conn.query('SELECT name FROM t WHERE id = 1');
      await conn.query(long);
      await moat.waitForEvent((e) => e.statementTruncated && e.statement?.startsWith('SELECT name') === true);
      assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'PROTECTING')"), '');
      // Sent in one write: the slow statement's rows come first, then the refusal of the next.
      const slow = conn.query('SELECT SLEEP(0.2) AS s');
      const refused = conn.query('SELECT name FROM t WHERE id = 1 OR 1 = 1');
      const after = conn.query('SELECT name FROM t WHERE id = 2');
      const outcome = await Promise.allSettled([slow, refused, after]);
      assert.equal(outcome[0].status, 'fulfilled', String((outcome[0] as PromiseRejectedResult).reason));
      assert.equal(outcome[1].status, 'rejected');
      assert.equal((outcome[1] as PromiseRejectedResult).reason.errno, 1045);
      assert.deepEqual((outcome[2] as PromiseFulfilledResult<unknown>).value, [{ name: 'beta' }]);
      // The connector sends PREPARE and EXECUTE together: both fail, the session goes on.
      await assert.rejects(
        conn.execute('SELECT v FROM t WHERE id = ?', [1]),
        (e: { errno?: number }) => e.errno === 1045,
      );
      assert.deepEqual(await conn.query('SELECT name FROM t WHERE id = 2'), [{ name: 'beta' }]);
      // Longer than limits.maxStatementLength: its prefix digest is listed, but the rest is unseen.
      await assert.rejects(conn.query(long), (e: { errno?: number }) => e.errno === 1045);
    } finally {
      await conn.end();
    }
    const events = await audit(moat);
    const cut = events.find(
      (e) => e.name === 'Alert' && e.outcome === 'sqlfw-blocked' && e.statementTruncated,
    );
    assert.ok(cut !== undefined, 'the refusal of the long statement is an Alert');
    assert.match(
      cut.message ?? '',
      /judged by the digest of its prefix.*sqlFirewall\.allowTruncated is false/,
    );
  } finally {
    await moat.stop();
  }
});

test('the last early-prepared statement let through at EXECUTE does not let the next statement by', async () => {
  const { moat, admin } = await start();
  try {
    assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'RECORDING')"), '');
    const c = await mysql.createConnection({ ...app, host: moat.host, port: moat.port });
    try {
      const p = await c.prepare('SELECT name FROM t WHERE id = ?');
      await p.execute([1]);
      await c.query('SELECT 1');
      await moat.waitForEvent((e) => e.statement === 'SELECT 1');
      assert.equal(await admin("CALL mysql.sp_set_firewall_mode('app@%', 'PROTECTING')"), '');
      const [rows] = await p.execute([2]);
      assert.deepEqual(rows, [{ name: 'beta' }], 'listed: judged at its first EXECUTE and let through');
      await assert.rejects(
        c.query('SELECT 2 + 2 AS four'),
        (e: Error & { errno?: number }) => e.errno === 1045,
      );
    } finally {
      await c.end();
    }
  } finally {
    await moat.stop();
  }
});
