// The backend must see the client, and never authenticate moat in its place (issues 13.5, 16.1,
// 16.2). A MariaDB of this file's own, started with proxy_protocol_networks = 127.0.0.1: moat's
// TCP connections to it come from 127.0.0.1 and may begin with a PROXY header (MariaDB reads one
// when the first bytes are one, and treats the connection as direct otherwise); its unix socket
// is outside the list, so moat reaches it there as a plain local client — the README's layout,
// in which the server sees every client as moat: 'localhost', and moat's OS user (root here).
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { healthCheck } from '../../src/client/health.ts';
import { validateConfig } from '../../src/config/load.ts';
import { runPostureCheck } from '../../src/posture/check.ts';
import { connectSql } from '../../src/posture/client.ts';
import { generateCerts } from '../harness/certs.ts';
import { type MariaDB, startMariaDB } from '../harness/mariadb.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { freePort } from '../harness/ports.ts';

let server: MariaDB;

before(async () => {
  // 'localhost': the socket reads headers too (the harness's own socket logins send none, which
  // MariaDB accepts from listed networks as direct connections).
  server = await startMariaDB({ name: 'proxy-protocol', proxyProtocolNetworks: '127.0.0.1/32,localhost' });
  for (const sql of [
    "CREATE USER 'u'@'127.0.0.77' IDENTIFIED BY 'u-pw'",
    "CREATE USER 'lo'@'localhost' IDENTIFIED BY 'lo-pw'",
    "CREATE USER 'lo'@'127.0.0.1' IDENTIFIED BY 'lo-pw'",
    "CREATE USER 'lo'@'127.0.0.50' IDENTIFIED BY 'lo50-pw'",
    "CREATE USER 'any'@'%' IDENTIFIED BY 'any-pw'",
    "CREATE USER 'net'@'127.0.0.0/255.255.255.0' IDENTIFIED BY 'net-pw'",
  ]) {
    await server.query(sql);
  }
});
after(async () => {
  await server?.stop();
});

/** mysql2 from a chosen loopback address: a different host to moat and to the server. */
function connectFrom(
  from: string,
  port: number,
  account: { user: string; password: string },
): Promise<mysql.Connection> {
  return mysql.createConnection({
    ...account,
    stream: netConnect({ host: '127.0.0.1', port, localAddress: from }),
  });
}

async function loginError(p: Promise<mysql.Connection>): Promise<{ errno: number; message: string }> {
  try {
    const c = await p;
    await c.end();
  } catch (e) {
    const err = e as { errno: number; message: string };
    return { errno: err.errno, message: err.message };
  }
  assert.fail('the login was expected to fail');
}

for (const version of ['v1', 'v2'] as const) {
  describe(`backend.proxyProtocol: ${version}`, () => {
    let moat: RunningMoat;
    before(async () => {
      moat = await startMoat(server.info(), { backend: { proxyProtocol: version } });
    });
    after(async () => {
      await moat?.stop();
    });

    test("the server sees the client's address: USER(), processlist HOST", async () => {
      const c = await connectFrom('127.0.0.77', moat.port, { user: 'u', password: 'u-pw' });
      try {
        const [rows] = await c.query(
          'SELECT USER() AS u, CURRENT_USER() AS cu, HOST AS h FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()',
        );
        const row = (rows as Array<{ u: string; cu: string; h: string }>)[0]!;
        assert.equal(row.u, 'u@127.0.0.77');
        assert.equal(row.cu, 'u@127.0.0.77');
        assert.match(row.h, /^127\.0\.0\.77:\d+$/);
      } finally {
        await c.end();
      }
    });

    test("a grant for 'u'@'127.0.0.77' works only from .77, and the server's 1045 names the client", async () => {
      const e = await loginError(connectFrom('127.0.0.78', moat.port, { user: 'u', password: 'u-pw' }));
      assert.equal(e.errno, 1045);
      assert.match(e.message, /Access denied for user 'u'@'127\.0\.0\.78'/);
    });

    test("moat's own logins send LOCAL: the server sees moat, and accepts the header", async () => {
      const target = {
        endpoint: { kind: 'tcp' as const, host: '127.0.0.1', port: server.port },
        connectTimeoutMs: 5000,
        tls: { mode: 'off' as const },
        maxPacketSize: 1 << 24,
        proxyProtocol: version,
      };
      const health = await healthCheck(target, {}, { user: 'lo', password: 'lo-pw' }, null);
      assert.equal(health.ok, true, health.error ?? '');
      const c = await connectSql(target, {}, { user: 'lo', password: 'lo-pw' });
      try {
        const rows = await c.query('SELECT CURRENT_USER() AS cu');
        assert.equal(rows[0]?.cu, 'lo@127.0.0.1');
      } finally {
        c.close();
      }
    });
  });
}

/** Waits for moat's login record of a refused login from `from`. */
async function refusal(moat: RunningMoat, from: string) {
  return moat.waitForLogin((r) => r.clientAddress === from && r.errorCode !== 0, 5000);
}

describe("a unix-socket backend (the README's layout): moat's OS user and host are not the client's", () => {
  let moat: RunningMoat;
  let allow: RunningMoat;
  const ROOT_NATIVE =
    "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('root-pw')";
  before(async () => {
    const backend = { address: `unix:${server.socket}` };
    moat = await startMoat(server.info(), { backend });
    // localAccounts allow: only the peer-credential rule stands between the client and root.
    allow = await startMoat(server.info(), { backend: { ...backend, localAccounts: 'allow' } });
  });
  after(async () => {
    await server.query(ROOT_NATIVE);
    await moat?.stop();
    await allow?.stop();
  });

  test('unix_socket_account_is_refused: root IDENTIFIED VIA unix_socket, any password', async () => {
    assert.equal(process.getuid?.(), 0, 'this test runs as OS user root, whose name is the account');
    await server.query("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket");
    try {
      // Direct over the socket, any password gets in: the server authenticates the OS user.
      const direct = await mysql.createConnection({
        socketPath: server.socket,
        user: 'root',
        password: 'any',
      });
      const [rows] = await direct.query('SELECT CURRENT_USER() AS cu');
      await direct.end();
      assert.equal((rows as Array<{ cu: string }>)[0]?.cu, 'root@localhost');
      for (const [m, from] of [
        [allow, '127.0.0.51'],
        [moat, '127.0.0.52'],
      ] as const) {
        const e = await loginError(connectFrom(from, m.port, { user: 'root', password: 'any' }));
        assert.equal(e.errno, 1045);
        assert.match(
          e.message,
          new RegExp(
            `Access denied for user 'root'@'${from.replaceAll('.', '\\.')}' \\(using password: YES\\)`,
          ),
        );
        const r = await refusal(m, from);
        assert.equal(r.outcome, 'auth-denied');
        assert.match(r.message, /before the client answered/);
      }
    } finally {
      await server.query(ROOT_NATIVE);
    }
  });

  test("default_root_chain_is_refused: native OR unix_socket lets a wrong password in through moat's socket", async () => {
    await server.query(`${ROOT_NATIVE} OR unix_socket`);
    try {
      // What moat did before: the wrong password fails mysql_native_password, then unix_socket
      // authenticates moat's OS user. localAccounts: allow keeps that behaviour.
      const open = await connectFrom('127.0.0.53', allow.port, { user: 'root', password: 'wrong' });
      const [rows] = await open.query('SELECT CURRENT_USER() AS cu');
      await open.end();
      assert.equal((rows as Array<{ cu: string }>)[0]?.cu, 'root@localhost');
      const e = await loginError(connectFrom('127.0.0.54', moat.port, { user: 'root', password: 'wrong' }));
      assert.equal(e.errno, 1045);
      assert.match(e.message, /Access denied for user 'root'@'127\.0\.0\.54' \(using password: YES\)/);
      const r = await refusal(moat, '127.0.0.54');
      assert.equal(r.outcome, 'auth-denied');
      assert.match(r.message, /'root'@'localhost', an account limited to moat's own host/);
    } finally {
      await server.query(ROOT_NATIVE);
    }
  });

  test("refuses_to_start_as_mapped_os_user: moat as root in front of root's unix_socket", async () => {
    const backend = { address: `unix:${server.socket}` };
    for (const method of ['unix_socket', `mysql_native_password USING PASSWORD('root-pw') OR unix_socket`]) {
      await server.query(`ALTER USER 'root'@'localhost' IDENTIFIED VIA ${method}`);
      try {
        await assert.rejects(
          startMoat(server.info(), { backend }),
          (e: { code?: string; message: string }) =>
            e.code === 'MOAT_OS_USER_IS_ACCOUNT' && /OS user 'root'/.test(e.message),
          method,
        );
      } finally {
        await server.query(ROOT_NATIVE);
      }
    }
    // A password-only root: moat starts.
    const ok = await startMoat(server.info(), { backend });
    await ok.stop();
  });

  test('proxy_header_on_the_socket_is_not_enough: MariaDB still matches localhost accounts', async () => {
    const backend = { address: `unix:${server.socket}`, proxyProtocol: 'v2' };
    const seen = await startMoat(server.info(), { backend });
    const open = await startMoat(server.info(), { backend: { ...backend, localAccounts: 'allow' } });
    await server.query(`${ROOT_NATIVE} OR unix_socket`);
    try {
      // The header's address is seen ...
      const c = await connectFrom('127.0.0.77', seen.port, { user: 'u', password: 'u-pw' });
      const [rows] = await c.query('SELECT USER() AS u');
      await c.end();
      assert.equal((rows as Array<{ u: string }>)[0]?.u, 'u@127.0.0.77');
      // ... yet root@localhost still matches, and unix_socket authenticates moat: MariaDB's view.
      const inside = await connectFrom('127.0.0.56', open.port, { user: 'root', password: 'wrong' });
      const [who] = await inside.query('SELECT CURRENT_USER() AS cu');
      await inside.end();
      assert.equal((who as Array<{ cu: string }>)[0]?.cu, 'root@localhost');
      // So moat keeps asking over a socket, PROXY protocol or not.
      const e = await loginError(connectFrom('127.0.0.57', seen.port, { user: 'root', password: 'wrong' }));
      assert.equal(e.errno, 1045);
      assert.match(e.message, /'root'@'127\.0\.0\.57'/);
    } finally {
      await server.query(ROOT_NATIVE);
      await seen.stop();
      await open.stop();
    }
  });

  test('localhost_account_is_refused for a remote client; a % account is not', async () => {
    const e = await loginError(connectFrom('127.0.0.55', moat.port, { user: 'lo', password: 'lo-pw' }));
    assert.equal(e.errno, 1045);
    assert.match(e.message, /'lo'@'127\.0\.0\.55'/);
    const c = await connectFrom('127.0.0.55', moat.port, { user: 'any', password: 'any-pw' });
    await c.end();
  });
});

describe("a TCP backend on moat's host, proxyProtocol off: accounts limited to moat's address", () => {
  let moat: RunningMoat;
  before(async () => {
    moat = await startMoat(server.info());
  });
  after(async () => {
    await moat?.stop();
  });

  test("loopback_account_is_refused: 'lo'@'127.0.0.1' from 127.0.0.60", async () => {
    const e = await loginError(connectFrom('127.0.0.60', moat.port, { user: 'lo', password: 'lo-pw' }));
    assert.equal(e.errno, 1045);
    assert.match(e.message, /Access denied for user 'lo'@'127\.0\.0\.60'/);
    const r = await refusal(moat, '127.0.0.60');
    assert.equal(r.outcome, 'auth-denied');
  });

  test("a netmask account that admits the client passes, and so does a client on moat's own address", async () => {
    const c = await connectFrom('127.0.0.61', moat.port, { user: 'net', password: 'net-pw' });
    await c.end();
    const local = await connectFrom('127.0.0.1', moat.port, { user: 'lo', password: 'lo-pw' });
    const [rows] = await local.query('SELECT CURRENT_USER() AS cu');
    await local.end();
    assert.equal((rows as Array<{ cu: string }>)[0]?.cu, 'lo@127.0.0.1');
  });
});

describe('moat check names the accounts a login through moat would reach as moat', () => {
  const ROOT_NATIVE =
    "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('root-pw')";
  const check = (backend: Record<string, unknown>) =>
    runPostureCheck(validateConfig({ backend }), {
      ...server.users.root,
      // The check logs in as root over the socket; the findings are about backend.address.
      endpoint: { kind: 'unix', path: server.socket },
      localAddresses: [],
    });

  test("peer_credential_finding: root's default chain over the unix socket fails, with its fix", async () => {
    await server.query(`${ROOT_NATIVE} OR unix_socket`);
    try {
      const found = await check({ address: `unix:${server.socket}` });
      const peer = found.find((f) => f.id === 'account.peer-credential' && f.severity === 'fail');
      assert.equal(peer?.subject, "'root'@'localhost'");
      assert.equal(
        peer?.fix,
        "ALTER USER 'root'@'localhost' IDENTIFIED VIA ed25519 USING PASSWORD('<new password>');",
      );
    } finally {
      await server.query(ROOT_NATIVE);
    }
    const fixed = await check({ address: `unix:${server.socket}` });
    assert.equal(fixed.find((f) => f.id === 'account.peer-credential')?.severity, 'pass');
  });

  test('moat_local_finding: fails per account with localAccounts allow, passes naming them with refuse', async () => {
    const open = await check({ address: `unix:${server.socket}`, localAccounts: 'allow' });
    const subjects = open
      .filter((f) => f.id === 'account.moat-local' && f.severity === 'fail')
      .map((f) => f.subject)
      .sort();
    assert.deepEqual(subjects, ["'lo'@'localhost'", "'root'@'localhost'"]);
    assert.equal(open.find((f) => f.subject === "'lo'@'localhost'")?.fix, 'backend.localAccounts: refuse');
    const refused = await check({ address: `unix:${server.socket}` });
    const local = refused.filter((f) => f.id === 'account.moat-local');
    assert.equal(local.length, 1);
    assert.equal(local[0]?.severity, 'pass');
    assert.match(local[0]?.seen ?? '', /'lo'@'localhost'/);
    // Over loopback TCP the server sees moat as 127.0.0.1: 'lo'@'127.0.0.1' and the netmask account.
    const tcp = await check({ address: `127.0.0.1:${server.port}`, localAccounts: 'allow' });
    const overTcp = tcp
      .filter((f) => f.id === 'account.moat-local' && f.severity === 'fail')
      .map((f) => f.subject);
    assert.deepEqual(overTcp.sort(), ["'lo'@'127.0.0.1'", "'net'@'127.0.0.0/255.255.255.0'"]);
    // With the PROXY protocol the server sees the client: nothing to name.
    const proxied = await check({
      address: `127.0.0.1:${server.port}`,
      proxyProtocol: 'v2',
      localAccounts: 'allow',
    });
    assert.equal(proxied.find((f) => f.id === 'account.moat-local')?.severity, 'pass');
  });
});

describe('a backend that cannot be reached: the 2003 names the endpoint and the reason apart', () => {
  test("backend_error_fields: TLS failure reads 'host:port' (TLS error), a refused port its socket error", async () => {
    const other = await generateCerts(join(server.baseDir, 'other-ca'));
    const tls = await startMoat(server.info(), { backend: { tls: { mode: 'verify', ca: other.ca } } });
    const closed = await freePort();
    const gone = await startMoat(server.info(), { backend: { address: `127.0.0.1:${closed}` } });
    try {
      const a = await loginError(connectFrom('127.0.0.62', tls.port, { user: 'any', password: 'any-pw' }));
      assert.equal(a.errno, 2003);
      assert.equal(a.message, `Can't connect to MySQL server on '127.0.0.1:${server.port}' (TLS error)`);
      const b = await loginError(connectFrom('127.0.0.62', gone.port, { user: 'any', password: 'any-pw' }));
      assert.equal(b.errno, 2003);
      assert.equal(b.message, `Can't connect to MySQL server on '127.0.0.1:${closed}' (ECONNREFUSED)`);
    } finally {
      await tls.stop();
      await gone.stop();
    }
  });
});
