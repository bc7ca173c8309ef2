// The admin port and the HTTP API guarded as the database port is (issue 15): login delays per
// 'user'@'host' measured through the mariadb client and curl, the block's 1129, the admin side's
// own ledger tables, Connect audit records (status 1045) in the JSON log and the auth log, and
// fail2ban's stock mysqld-auth filter matching them; read-only accounts and tokens; the admin
// SQL engine closed to the file system and to transactions (issue 16 item 3); admin logins over
// plain TCP from off the host refused with 3159 under requireTls (issue 16 item 8).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer, connect as netConnect, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { nativePasswordHash } from '../../src/admin/password.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { eventually } from '../harness/poll.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const DBA = { user: 'dba', password: 'Adm1n-pw' };
const VIEWER = { user: 'viewer', password: 'V1ew-only' };
const WRONG = 'Gu3ss-n0-' + 'leak';
const TOKEN = 'admin-token-0123456789';
const RO_TOKEN = 'readonly-token-0123456789';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
// Threshold 2: the third attempt in a row waits 1 s, the fourth 2 s; the fourth failure blocks.
const THRESHOLD = 2;
const MAX_ERRORS = 4;

let moat: RunningMoat;
let adminPort = 0;
let httpBase = '';

before(async () => {
  moat = await startMoat(backend, {
    admin: {
      listen: '127.0.0.1:0',
      allowFrom: ['127.0.0.0/8'],
      // Loopback clients are exempt: every login below is plain TCP over 127/8 and must work.
      requireTls: true,
      users: [
        { user: DBA.user, passwordHash: nativePasswordHash(DBA.password) },
        { user: VIEWER.user, passwordHash: nativePasswordHash(VIEWER.password), role: 'readonly' },
      ],
      guard: {
        connection_control_failed_connections_threshold: THRESHOLD,
        connection_control_min_connection_delay: 1000,
        max_connect_errors: MAX_ERRORS,
      },
      http: {
        listen: '127.0.0.1:0',
        tokenSha256: sha256(TOKEN),
        tokens: [{ sha256: sha256(RO_TOKEN), scope: 'readonly' }],
      },
    },
    audit: {
      flushIntervalMs: 20,
      sinks: [
        { type: 'json', path: 'audit.log' },
        { type: 'auth', path: 'auth.log' },
      ],
    },
  });
  const a = moat.gateway.adminAddress;
  const h = moat.gateway.httpAddress;
  assert.ok(a !== null && a.kind === 'tcp' && h !== null && h.kind === 'tcp');
  adminPort = a.port;
  httpBase = `http://${h.host}:${h.port}`;
});

after(() => moat.stop());

/**
 * The mariadb client (10.11) cannot choose its source address, so a login "from" 127.0.7.x goes
 * through a relay on 127.0.0.1 whose upstream socket is bound to that address: to moat it is a
 * client at 127.0.7.x. One relay per address, closed with the test file.
 */
const relays = new Map<string, Promise<number>>();
const relayServers: Server[] = [];
after(() => {
  for (const s of relayServers) s.close();
});

function relayFrom(from: string): Promise<number> {
  let port = relays.get(from);
  if (port === undefined) {
    port = new Promise<number>((resolve) => {
      const server = createServer((client) => {
        const up = netConnect({ host: '127.0.0.1', port: adminPort, localAddress: from });
        client.on('error', () => up.destroy());
        up.on('error', () => client.destroy());
        client.pipe(up).pipe(client);
      });
      relayServers.push(server);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
    relays.set(from, port);
  }
  return port;
}

interface CliResult {
  code: number;
  out: string;
  err: string;
  ms: number;
}

/** The mariadb client on the admin port, from `from` (a loopback address of its own). */
async function cli(
  sql: string,
  o: { from?: string; user?: string; password?: string; port?: number; host?: string; extra?: string[] } = {},
): Promise<CliResult> {
  const port = o.from === undefined ? (o.port ?? adminPort) : await relayFrom(o.from);
  const t0 = performance.now();
  const args = [
    `-h${o.host ?? '127.0.0.1'}`,
    `-P${port}`,
    `-u${o.user ?? DBA.user}`,
    `-p${o.password ?? DBA.password}`,
    '--batch',
    ...(o.extra ?? []),
    '-e',
    sql,
  ];
  try {
    const { stdout, stderr } = await run('mariadb', args);
    return { code: 0, out: stdout, err: stderr, ms: performance.now() - t0 };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    const code = Number(/ERROR (\d+)/.exec(x.stderr ?? '')?.[1] ?? -1);
    return { code, out: x.stdout ?? '', err: x.stderr ?? '', ms: performance.now() - t0 };
  }
}

interface AuditLine {
  name: string;
  status: number;
  outcome: string | null;
  ip: string;
  user: string | null;
  command: string | null;
  statement: string | null;
}

function auditLines(): AuditLine[] {
  const path = join(moat.stateDir, 'audit.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditLine);
}

function authLog(): string {
  const path = join(moat.stateDir, 'auth.log');
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

test('admin-port guessing: delayed before the password check, then blocked with 1129', async () => {
  const from = '127.0.7.1';
  const times: number[] = [];
  for (let i = 0; i < MAX_ERRORS; i++) {
    const r = await cli('SELECT 1', { from, password: WRONG });
    assert.equal(r.code, 1045, r.err);
    times.push(r.ms);
  }
  // Attempts 1 and 2 are answered at once; the 3rd waits 1 s and the 4th 2 s (MySQL's formula).
  assert.ok(times[0]! < 900 && times[1]! < 900, `first attempts fast: ${times.join(', ')}`);
  assert.ok(times[2]! >= 1000, `third attempt delayed ≥ 1 s: ${times[2]}`);
  assert.ok(times[3]! >= 2000, `fourth attempt delayed ≥ 2 s: ${times[3]}`);
  // Blocked now: the right password is refused before any greeting.
  // (--skip-ssl: a client that wants TLS reports an ERR before the greeting as its own 2002.)
  const blocked = await cli('SELECT 1', { from, extra: ['--skip-ssl'] });
  assert.equal(blocked.code, 1129, blocked.err);
  assert.match(blocked.err, /Host '127\.0\.7\.1' is blocked/);

  // The admin side's own ledger, apart from the gateway's.
  const rows = await cli(
    'SELECT IP, COUNT_AUTHENTICATION_ERRORS, COUNT_HOST_BLOCKED_ERRORS FROM moat.admin_host_cache ' +
      `WHERE IP = '${from}'`,
  );
  assert.equal(
    rows.out,
    `IP\tCOUNT_AUTHENTICATION_ERRORS\tCOUNT_HOST_BLOCKED_ERRORS\n${from}\t${MAX_ERRORS}\t1\n`,
  );
  const blocks = await cli(
    `SELECT IP, REASON, BLOCKED_BY FROM moat.admin_blocked_hosts WHERE IP = '${from}'`,
  );
  assert.equal(blocks.out, `IP\tREASON\tBLOCKED_BY\n${from}\tmax_connect_errors\tmoat:admin\n`);
  const gateway = await cli(`SELECT COUNT(*) AS n FROM performance_schema.host_cache WHERE IP = '${from}'`);
  assert.equal(gateway.out, 'n\n0\n');
  // admin.guard.blockDatabasePort is off: the database port still serves that address.
  assert.equal(await loginCodeFrom(moat, from, app), 0);

  // Every failure is a Connect record with 1045, tagged as the admin port's, and an auth-log line.
  await eventually('the audit records of the failed admin logins', () => {
    const fails = auditLines().filter((e) => e.name === 'Connect' && e.ip === from && e.status === 1045);
    return fails.length === MAX_ERRORS && fails.every((e) => e.outcome === 'admin:auth-denied');
  });
  assert.ok(auditLines().some((e) => e.ip === from && e.status === 1129 && e.outcome === 'admin:blocked'));
  await eventually('the auth log lines', () => {
    const lines = authLog().split('\n');
    return lines.filter((l) => l.includes(`Access denied for user 'dba'@'${from}'`)).length === MAX_ERRORS;
  });

  // UNBLOCK ADMIN HOST lifts it: the right password works again (and at once: the count is clear
  // after a success).
  assert.equal((await cli(`UNBLOCK ADMIN HOST '${from}'`)).code, 0);
  const back = await cli('SELECT 1 AS ok', { from });
  assert.equal(back.out, 'ok\n1\n');
  const again = await cli('SELECT 1 AS ok', { from });
  assert.ok(again.ms < 900, `no delay after a success: ${again.ms}`);
});

test('the right password after failures waits out the delay, then works', async () => {
  const from = '127.0.7.2';
  for (let i = 0; i < THRESHOLD; i++)
    assert.equal((await cli('SELECT 1', { from, password: WRONG })).code, 1045);
  const r = await cli('SELECT 1 AS ok', { from });
  assert.equal(r.out, 'ok\n1\n');
  assert.ok(r.ms >= 1000, `delayed ≥ 1 s although the password is right: ${r.ms}`);
  const rows = await cli(
    `SELECT COUNT(*) AS n FROM moat.admin_failed_login_attempts WHERE USERHOST LIKE '%${from}%'`,
  );
  assert.equal(rows.out, 'n\n0\n');
});

test('a read-only account: SELECT and SHOW work, BLOCK HOST and every change get 1227', async () => {
  const as = { user: VIEWER.user, password: VIEWER.password };
  assert.equal(
    (await cli('SELECT COUNT(*) >= 0 AS ok FROM performance_schema.host_cache', as)).out,
    'ok\n1\n',
  );
  assert.equal((await cli("SHOW GLOBAL VARIABLES LIKE 'max_connect_errors'", as)).code, 0);
  assert.equal((await cli('SHOW PROCESSLIST', as)).code, 0);
  for (const sql of [
    "BLOCK HOST '192.0.2.77'",
    "UNBLOCK HOST '192.0.2.77'",
    "UNBLOCK ADMIN HOST '127.0.7.1'",
    'KILL 12345',
    'SET GLOBAL max_connect_errors = 7',
    'FLUSH HOSTS',
    'TRUNCATE TABLE performance_schema.host_cache',
    'RELOAD CONFIG',
    'CHECK POSTURE',
  ]) {
    const r = await cli(sql, as);
    assert.equal(r.code, 1227, `${sql}: ${r.err}`);
    assert.match(
      r.err,
      /ERROR 1227 \(42000\).*Access denied; you need \(at least one of\) the \w+ privilege/,
      sql,
    );
  }
  assert.equal(moat.gateway.guard.blocker.blocked('192.0.2.77', Date.now()), null);
  // The full account still may.
  assert.equal((await cli("BLOCK HOST '192.0.2.77'")).code, 0);
  assert.equal((await cli("UNBLOCK HOST '192.0.2.77'")).code, 0);
});

test('admin SQL cannot reach the file system or hold the engine', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-admin-sql-'));
  const file = (n: string) => join(dir, n);
  const cases: Array<[string, number]> = [
    [`ATTACH DATABASE '${file('a.db')}' AS x`, 1064],
    [`SELECT 1; ATTACH DATABASE '${file('b.db')}' AS x`, 1064],
    [`WITH x AS (SELECT 1) ATTACH DATABASE '${file('c.db')}' AS y`, 1064],
    [`VACUUM INTO '${file('d.db')}'`, 1064],
    ['PRAGMA journal_mode', 1064],
    ['PRAGMA moat.journal_mode = WAL', 1064],
    ['BEGIN', 1064],
    ['START TRANSACTION', 1064],
    ['/* x */ DETACH DATABASE moat', 1064],
    ['WITH x AS (SELECT 1) INSERT INTO moat.blocked_hosts SELECT 1, 2, 3, 4, 5 FROM x', 1142],
    ['WITH x AS (SELECT 1) DELETE FROM moat.sessions', 1142],
    ['SELECT * FROM sqlite_master', 1142],
    ["SELECT * FROM pragma_table_info('host_cache')", 1142],
    ["SELECT load_extension('/tmp/nope')", 1142],
  ];
  for (const [sql, code] of cases) {
    const r = await cli(sql);
    assert.equal(r.code, code, `${sql}: ${r.err || r.out}`);
  }
  // One COM_QUERY holding two statements (the mariadb CLI would split them itself): mysql2 sends it
  // whole when asked for multiple statements.
  const c = await mysql.createConnection({
    host: '127.0.0.1',
    port: adminPort,
    user: DBA.user,
    password: DBA.password,
    multipleStatements: true,
  });
  try {
    await assert.rejects(c.query(`SELECT 1; ATTACH DATABASE '${file('e.db')}' AS x`), { errno: 1064 });
    await assert.rejects(c.query('SELECT 1;BEGIN'), { errno: 1064 });
    const [rows] = await c.query('SELECT 2 AS n;');
    assert.deepEqual(rows, [{ n: 2 }]);
  } finally {
    await c.end();
  }
  for (const n of ['a.db', 'b.db', 'c.db', 'd.db', 'e.db'])
    assert.ok(!existsSync(file(n)), `${n} must not exist`);
  // A refused BEGIN left nothing open: another admin's statement and a SELECT with a CTE run.
  const cte = await cli('WITH x AS (SELECT 1 AS n) SELECT n FROM x', {
    user: VIEWER.user,
    password: VIEWER.password,
  });
  assert.equal(cte.out, 'n\n1\n');
  assert.equal((await cli("SELECT 'a;b' AS s -- ; not a second statement")).out, 's\na;b\n');
});

test('HTTP: rejected tokens are delayed, audited and blocked; a read-only token may only GET', async () => {
  const from = '127.0.7.5';
  const curl = async (token: string, method = 'GET', path = '/api/hosts') => {
    const t0 = performance.now();
    const { stdout } = await run('curl', [
      '-s',
      '--interface',
      from,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      method,
      '-H',
      `Authorization: Bearer ${token}`,
      ...(method === 'POST' ? ['-H', 'content-type: application/json', '-d', '{"ip":"192.0.2.78"}'] : []),
      `${httpBase}${path}`,
    ]);
    return { status: Number(stdout), ms: performance.now() - t0 };
  };
  assert.equal((await curl(RO_TOKEN)).status, 200);
  assert.equal((await curl(RO_TOKEN, 'POST', '/api/block')).status, 403);
  assert.equal(moat.gateway.guard.blocker.blocked('192.0.2.78', Date.now()), null);
  assert.equal((await curl(TOKEN, 'POST', '/api/block')).status, 200);
  assert.equal((await curl(TOKEN, 'POST', '/api/unblock')).status, 200);

  const times: number[] = [];
  for (let i = 0; i < MAX_ERRORS; i++) {
    const r = await curl('wrong-token');
    assert.equal(r.status, 401);
    times.push(r.ms);
  }
  assert.ok(times[0]! < 900 && times[1]! < 900, `first rejections fast: ${times.join(', ')}`);
  assert.ok(times[2]! >= 1000 && times[3]! >= 2000, `then delayed: ${times.join(', ')}`);
  // Blocked on the admin side (the HTTP API and the admin port share the guard): the right token too.
  assert.equal((await curl(TOKEN)).status, 403);
  const port = await cli('SELECT 1', { from, extra: ['--skip-ssl'] });
  assert.equal(port.code, 1129, port.err);

  await eventually('the HTTP 401 audit records', () => {
    const fails = auditLines().filter((e) => e.name === 'Connect' && e.ip === from && e.status === 1045);
    return (
      fails.length === MAX_ERRORS &&
      fails.every(
        (e) => e.outcome === 'http:auth-denied' && e.command === 'HTTP' && e.statement === 'GET /api/hosts',
      )
    );
  });
  await eventually('the HTTP auth log lines', () =>
    authLog().includes(`Access denied for user 'http'@'${from}'`),
  );
  assert.equal((await cli(`UNBLOCK ADMIN HOST '${from}'`)).code, 0);
  assert.equal((await curl(TOKEN)).status, 200);
});

test("fail2ban's stock mysqld-auth filter matches every failed admin login and token", async (t) => {
  const filter = '/etc/fail2ban/filter.d/mysqld-auth.conf';
  if (!existsSync(filter)) {
    t.skip('fail2ban is not installed (scripts/setup-system.sh installs it)');
    return;
  }
  const log = authLog();
  const expected = log.split('\n').filter((l) => l !== '').length;
  assert.ok(expected >= MAX_ERRORS * 2 + THRESHOLD, `auth log lines: ${expected}`);
  const { stdout } = await run('fail2ban-regex', [
    '--print-all-matched',
    join(moat.stateDir, 'auth.log'),
    filter,
  ]);
  const matched = Number(/Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(stdout)?.[1] ?? -1);
  assert.equal(matched, expected, stdout);
  for (const ip of ['127.0.7.1', '127.0.7.5']) assert.match(stdout, new RegExp(ip.replace(/\./g, '\\.')));
  // No password ever reaches a log.
  for (const f of ['audit.log', 'auth.log'])
    assert.ok(!readFileSync(join(moat.stateDir, f), 'utf8').includes(WRONG));
});

test('requireTls: a plain admin login from off this host gets 3159, over TLS it works', async (t) => {
  const ip = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
  if (ip === undefined) {
    t.skip('no non-loopback IPv4 address on this machine');
    return;
  }
  const remote = await startMoat(backend, {
    admin: {
      listen: `${ip}:0`,
      allowFrom: [`${ip}/32`],
      users: [{ user: DBA.user, passwordHash: nativePasswordHash(DBA.password) }],
    },
    tls: { cert: backend.certs.serverCert, key: backend.certs.serverKey, require: true },
  });
  try {
    const a = remote.gateway.adminAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    const plain = await cli('SELECT 1', { host: ip, port: a.port, extra: ['--skip-ssl'] });
    assert.equal(plain.code, 3159, plain.err);
    const tls = await cli("SELECT 'tls' AS t", {
      host: ip,
      port: a.port,
      extra: ['--ssl', `--ssl-ca=${backend.certs.ca}`, '--skip-ssl-verify-server-cert'],
    });
    assert.equal(tls.out, 't\ntls\n', tls.err);
  } finally {
    await remote.stop();
  }
});

test('admin.guard.blockDatabasePort: an admin-port guesser is blocked on the database port too', async () => {
  const strict = await startMoat(backend, {
    admin: {
      listen: '127.0.0.1:0',
      users: [{ user: DBA.user, passwordHash: nativePasswordHash(DBA.password) }],
      guard: { max_connect_errors: 1, blockDatabasePort: true },
    },
  });
  try {
    const a = strict.gateway.adminAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    const from = '127.0.7.9';
    assert.equal(await loginCodeFrom(a, from, { user: DBA.user, password: WRONG }), 1045);
    assert.equal(await loginCodeFrom(a, from, { user: DBA.user, password: DBA.password }), 1129);
    assert.equal(await loginCodeFrom(strict, from, app), 1129);
    assert.equal(strict.gateway.guard.blocker.blocked(from, Date.now())?.by, 'moat:admin-guard');
    // Another address is untouched on both.
    assert.equal(await loginCodeFrom(strict, '127.0.7.10', app), 0);
  } finally {
    await strict.stop();
  }
});
