// The guard through real sockets and a real MariaDB: many client hosts on one machine (a client
// bound to 127.0.0.x is a host of its own), each failure class in the ledger, max_connect_errors
// blocking with MySQL's 1129, manual blocks with expiry and the exempt list, connection control's
// measured delays, address and per-user rules, and the connection caps.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { countOf, type HostRow } from '../../src/guard/ledger.ts';
import { generateCerts } from '../harness/certs.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, mysqlFrom, sendGarbage } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { parseErr, RawClient } from '../harness/raw-mysql.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };

type LoginOptions = { user?: string; password?: string; database?: string; ssl?: boolean };

/** Logs in as app (or `o.user`) from `from`; TLS logins come from 127.0.0.1 (see mysqlFrom). */
function login(moat: RunningMoat, from: string, o: LoginOptions = {}): Promise<mysql.Connection> {
  return mysqlFrom(moat, from === '127.0.0.1' ? null : from, options(o));
}

function options(o: LoginOptions): mysql.ConnectionOptions {
  return {
    user: o.user ?? app.user,
    password: o.password ?? app.password,
    database: o.database ?? app.database,
    ssl: o.ssl ? { ca: readFileSync(backend.certs.ca) } : undefined,
    connectTimeout: 10_000,
  };
}

/** The MySQL error code a login from `from` gets (0 when it succeeds). */
function loginCode(moat: RunningMoat, from: string, o: LoginOptions = {}): Promise<number> {
  return loginCodeFrom(moat, from === '127.0.0.1' ? null : from, options(o));
}

const garbage = sendGarbage;

/** The first packet moat sends a connection from `from` (a greeting, or an ERR in its place). */
async function firstPacket(moat: RunningMoat, from: string): Promise<Buffer> {
  const c = await new Promise<RawClient>((resolve, reject) => {
    const s = netConnect({ host: moat.host, port: moat.port, localAddress: from });
    s.once('error', reject);
    s.once('connect', () => resolve(RawClient.wrap(s)));
  });
  try {
    return (await c.readPacket(3000)).payload;
  } finally {
    c.destroy();
  }
}

function row(moat: RunningMoat, ip: string): HostRow {
  const r = moat.gateway.guard.ledger.get(ip);
  assert.ok(r !== undefined, `a ledger row for ${ip}`);
  return r;
}

describe('the ledger', () => {
  test('every failure class lands in its host_cache column; only handshake errors count', async () => {
    const moat = await startMoat(backend);
    try {
      await garbage(moat, '127.0.0.11');
      assert.equal(await loginCode(moat, '127.0.0.12', { password: 'wrong' }), 1045);
      assert.equal(await loginCode(moat, '127.0.0.13', { database: 'no_such_db' }), 1049);
      assert.equal(await loginCode(moat, '127.0.0.14'), 0);
      await moat.waitForLogin((r) => r.clientAddress === '127.0.0.14');
      await new Promise((r) => setTimeout(r, 50));
      const g = row(moat, '127.0.0.11');
      assert.equal(countOf(g, 'handshake'), 1);
      assert.equal(g.sumConnectErrors, 1);
      const w = row(moat, '127.0.0.12');
      assert.equal(countOf(w, 'authentication'), 1);
      assert.equal(w.sumConnectErrors, 0, 'a wrong password is no connect error');
      assert.equal(countOf(row(moat, '127.0.0.13'), 'default-database'), 1);
      const ok = row(moat, '127.0.0.14');
      assert.equal(ok.totalConnections, 1);
      assert.equal(ok.firstErrorSeen, null);
      const accounts = moat.gateway.guard.ledger.accountCounts();
      // As MySQL's performance_schema.accounts: only authenticated connections have an account row.
      assert.ok(accounts.some((a) => a.user === app.user && a.ip === '127.0.0.14' && a.count.total === 1));
      assert.ok(!accounts.some((a) => a.ip === '127.0.0.12'));
      const s = moat.gateway.guard.status;
      assert.equal(s.Connections, 4);
      assert.equal(s.Aborted_connects, 3);
    } finally {
      await moat.stop();
    }
  });

  test('bounded: the least recently seen host is evicted', async () => {
    const moat = await startMoat(backend, { guard: { host_cache_size: 3 } });
    try {
      for (const ip of ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24']) await garbage(moat, ip);
      const ips = [...moat.gateway.guard.ledger.rows()].map((r) => r.ip);
      assert.deepEqual(ips, ['127.0.0.22', '127.0.0.23', '127.0.0.24']);
    } finally {
      await moat.stop();
    }
  });
});

describe('blocking', () => {
  test('max_connect_errors: 1129 with MySQL text in place of the greeting; others unaffected; unblock', async () => {
    const moat = await startMoat(backend, { guard: { max_connect_errors: 3 } });
    try {
      for (let i = 0; i < 3; i++) await garbage(moat, '127.0.0.31');
      const err = parseErr(await firstPacket(moat, '127.0.0.31'));
      assert.equal(err.code, 1129);
      assert.equal(
        err.message,
        "Host '127.0.0.31' is blocked because of many connection errors; unblock with 'mysqladmin flush-hosts'",
      );
      assert.equal(countOf(row(moat, '127.0.0.31'), 'host-blocked'), 1);
      assert.equal(await loginCode(moat, '127.0.0.32'), 0, 'another host logs in');
      assert.equal(await loginCode(moat, '127.0.0.31'), 1129);
      assert.ok(moat.gateway.guard.unblock('127.0.0.31') !== null);
      assert.equal(await loginCode(moat, '127.0.0.31'), 0, 'unblocked');
    } finally {
      await moat.stop();
    }
  });

  test('wrong passwords never block; a success resets the connect errors', async () => {
    const moat = await startMoat(backend, {
      guard: { max_connect_errors: 2, connection_control_failed_connections_threshold: 0 },
    });
    try {
      for (let i = 0; i < 4; i++) assert.equal(await loginCode(moat, '127.0.0.33', { password: 'x' }), 1045);
      await garbage(moat, '127.0.0.33');
      assert.equal(row(moat, '127.0.0.33').sumConnectErrors, 1);
      assert.equal(await loginCode(moat, '127.0.0.33'), 0);
      assert.equal(row(moat, '127.0.0.33').sumConnectErrors, 0);
      await garbage(moat, '127.0.0.33');
      assert.equal(await loginCode(moat, '127.0.0.33'), 0, 'one error after the reset does not block');
    } finally {
      await moat.stop();
    }
  });

  test('a manual block with a duration expires; exempt networks are never blocked', async () => {
    const moat = await startMoat(backend, {
      guard: { max_connect_errors: 1, blocking: { exempt: ['127.0.0.40/30'] } },
    });
    try {
      moat.gateway.guard.block('127.0.0.35', 'test', 400);
      assert.equal(await loginCode(moat, '127.0.0.35'), 1129);
      await new Promise((r) => setTimeout(r, 450));
      assert.equal(await loginCode(moat, '127.0.0.35'), 0, 'the block expired');
      assert.throws(() => moat.gateway.guard.block('127.0.0.41', 'test', null), { code: 'MOAT_HOST_EXEMPT' });
      for (let i = 0; i < 3; i++) await garbage(moat, '127.0.0.41');
      assert.equal(await loginCode(moat, '127.0.0.41'), 0, 'exempt: never blocked');
    } finally {
      await moat.stop();
    }
  });
});

describe('connection control', () => {
  test('after the threshold every attempt waits, even a successful one; success clears', async () => {
    const moat = await startMoat(backend, {
      guard: {
        connection_control_failed_connections_threshold: 2,
        connection_control_min_connection_delay: 1000,
        connection_control_max_connection_delay: 1500,
      },
    });
    try {
      const ip = '127.0.0.51';
      for (let i = 0; i < 2; i++) assert.equal(await loginCode(moat, ip, { password: 'x' }), 1045);
      assert.deepEqual(moat.gateway.guard.connectionControl.entries(), [
        { userHost: `'${app.user}'@'${ip}'`, failedAttempts: 2 },
      ]);
      let t = performance.now();
      assert.equal(await loginCode(moat, '127.0.0.52'), 0);
      const other = performance.now() - t;
      assert.ok(other < 500, `another host is not delayed (${Math.round(other)} ms)`);
      t = performance.now();
      assert.equal(await loginCode(moat, ip, { password: 'x' }), 1045);
      const third = performance.now() - t;
      assert.ok(third >= 950 && third < 2500, `third failure waited ${Math.round(third)} ms, ~1000 expected`);
      t = performance.now();
      assert.equal(await loginCode(moat, ip), 0);
      const fourth = performance.now() - t;
      // failures = 3, threshold 2: (3 + 1 - 2) s = 2000 ms, clamped to the 1500 ms maximum.
      assert.ok(fourth >= 1450 && fourth < 3000, `a correct password also waits (${Math.round(fourth)} ms)`);
      assert.deepEqual(moat.gateway.guard.connectionControl.entries(), [], 'success clears the entry');
      assert.equal(moat.gateway.guard.status.Connection_control_delay_generated, 2);
      t = performance.now();
      assert.equal(await loginCode(moat, ip), 0);
      assert.ok(performance.now() - t < 500, 'no delay after the success');
    } finally {
      await moat.stop();
    }
  });
});

describe('address and user rules', () => {
  test('default deny with an allowed network: 1130 with MySQL text before any greeting', async () => {
    const moat = await startMoat(backend, {
      guard: { access: { default: 'deny', rules: [{ allow: ['127.0.0.1/32', '127.0.0.60/31'] }] } },
    });
    try {
      assert.equal(await loginCode(moat, '127.0.0.61'), 0);
      const err = parseErr(await firstPacket(moat, '127.0.0.62'));
      assert.equal(err.code, 1130);
      assert.equal(err.message, "Host '127.0.0.62' is not allowed to connect to this MySQL server");
      assert.equal(countOf(row(moat, '127.0.0.62'), 'host-acl'), 1);
      assert.equal(moat.gateway.guard.status.Connection_errors_tcpwrap, 1);
    } finally {
      await moat.stop();
    }
  });

  test('a user limited to a network, and one that requires TLS, get 1045', async () => {
    const moat = await startMoat(backend, {
      guard: {
        users: [
          { user: app.user, from: ['127.0.0.70/32'] },
          { user: 'app%', require: { tls: true } },
        ],
      },
    });
    try {
      assert.equal(await loginCode(moat, '127.0.0.70'), 0);
      assert.equal(await loginCode(moat, '127.0.0.71'), 1045);
      assert.equal(countOf(row(moat, '127.0.0.71'), 'host-acl'), 1);
      const app2 = backend.users.app2;
      assert.equal(await loginCode(moat, '127.0.0.72', { user: app2.user, password: app2.password }), 1045);
      assert.equal(
        await loginCode(moat, '127.0.0.72', { user: app2.user, password: app2.password, ssl: true }),
        0,
      );
    } finally {
      await moat.stop();
    }
  });
});

describe('connection caps', () => {
  test('max_user_connections: 1203; unauthenticated per host: 1040', async () => {
    const moat = await startMoat(backend, {
      guard: { max_user_connections: 1, maxUnauthenticatedPerHost: 2 },
    });
    try {
      const first = await login(moat, '127.0.0.80');
      assert.equal(await loginCode(moat, '127.0.0.81'), 1203);
      await first.end();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await loginCode(moat, '127.0.0.81'), 0, 'free again once the first one quit');
      const idle = await Promise.all([0, 1].map(() => firstPacketKeepOpen(moat, '127.0.0.82')));
      const err = parseErr(await firstPacket(moat, '127.0.0.82'));
      assert.equal(err.code, 1040);
      for (const s of idle) s.destroy();
      await new Promise((r) => setTimeout(r, 50)); // the earlier sessions' ends are processed
      assert.equal(
        await loginCode(moat, '127.0.0.83', {
          user: backend.users.app2.user,
          password: backend.users.app2.password,
        }),
        0,
        'other hosts are not capped',
      );
    } finally {
      await moat.stop();
    }
  });
  test('max_user_connections holds for logins that arrive together (checked again at the OK)', async () => {
    const moat = await startMoat(backend, { guard: { max_user_connections: 2 } });
    const open: mysql.Connection[] = [];
    try {
      // Eight logins at once: all pass the check before the password (none is counted yet), so
      // only the check at the backend's OK, counted in the same step, can hold the limit.
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => login(moat, `127.0.0.${90 + i}`)),
      );
      const codes = results.map((r) => {
        if (r.status === 'fulfilled') {
          open.push(r.value);
          return 0;
        }
        return (r.reason as { errno?: number }).errno ?? -1;
      });
      assert.deepEqual(
        codes.toSorted((a, b) => a - b),
        [0, 0, 1203, 1203, 1203, 1203, 1203, 1203],
      );
      const refused = await moat.waitForLogin((r) => r.outcome === 'user-limit');
      assert.equal(refused.errorCode, 1203);
      for (const c of open.splice(0)) await c.end();
      await new Promise((r) => setTimeout(r, 50));
      // Every refused place was given back: two fit again.
      const again = await Promise.all([login(moat, '127.0.0.98'), login(moat, '127.0.0.99')]);
      open.push(...again);
    } finally {
      for (const c of open) await c.end().catch(() => {});
      await moat.stop();
    }
  });
});

async function firstPacketKeepOpen(moat: RunningMoat, from: string): Promise<RawClient> {
  const c = await new Promise<RawClient>((resolve, reject) => {
    const s = netConnect({ host: moat.host, port: moat.port, localAddress: from });
    s.once('error', reject);
    s.once('connect', () => resolve(RawClient.wrap(s)));
  });
  await c.readPacket(3000);
  return c;
}

describe('status counters', () => {
  test('Threads_connected, Max_used_connections and Aborted_clients (no COM_QUIT)', async () => {
    const moat = await startMoat(backend);
    try {
      const a = await login(moat, '127.0.0.90');
      const b = await login(moat, '127.0.0.91');
      assert.equal(moat.gateway.guard.status.Threads_connected, 2);
      await a.end();
      b.destroy(); // gone without COM_QUIT
      for (let i = 0; i < 50 && moat.gateway.guard.status.Threads_connected > 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const s = moat.gateway.guard.status;
      assert.equal(s.Threads_connected, 0);
      assert.equal(s.Max_used_connections, 2);
      assert.equal(s.Aborted_clients, 1);
      assert.equal(moat.gateway.guard.ledger.get('127.0.0.90')?.currentConnections, 0);
    } finally {
      await moat.stop();
    }
  });
});

describe('floods cannot lock legitimate clients out', () => {
  test('delayed guessers wait in their own pool; beyond it they get 1040 at once', async () => {
    const moat = await startMoat(backend, {
      guard: {
        connection_control_failed_connections_threshold: 1,
        connection_control_max_connection_delay: 1500,
        maxDelayedLogins: 1,
        maxUnauthenticated: 2,
      },
    });
    try {
      assert.equal(await loginCode(moat, '127.0.6.1', { password: 'x' }), 1045);
      const parked = loginCode(moat, '127.0.6.1', { password: 'y' }); // delayed ~1 s
      await new Promise((r) => setTimeout(r, 200));
      const t = performance.now();
      assert.equal(await loginCode(moat, '127.0.6.1', { password: 'z' }), 1040, 'the delayed pool is full');
      assert.ok(performance.now() - t < 500, 'refused at once, not delayed');
      // The parked guesser is not counted as unauthenticated: legitimate hosts still get in.
      assert.equal(await loginCode(moat, '127.0.6.2'), 0);
      assert.equal(await loginCode(moat, '127.0.6.3'), 0);
      assert.equal(await parked, 1045);
    } finally {
      await moat.stop();
    }
  });

  test('at the unauthenticated cap the oldest unfinished handshake is shed, not the newcomer', async () => {
    const moat = await startMoat(backend, { guard: { maxUnauthenticated: 3 } });
    try {
      const idle = await Promise.all(
        ['127.0.6.11', '127.0.6.12', '127.0.6.13'].map((ip) => firstPacketKeepOpen(moat, ip)),
      );
      assert.equal(await loginCode(moat, '127.0.6.14'), 0, 'a legitimate client gets in');
      const err = parseErr((await idle[0]!.readPacket(2000)).payload);
      assert.equal(err.code, 1159, 'the oldest silent connection was cut');
      for (const c of idle) c.destroy();
      const record = await moat.waitForLogin((r) => r.clientAddress === '127.0.6.11');
      assert.equal(record.outcome, 'timeout');
    } finally {
      await moat.stop();
    }
  });
});

describe('REQUIRE X509 / SUBJECT / ISSUER', () => {
  test('a verified client certificate with the right subject and issuer gets in; others get 1045', async () => {
    const certs = backend.certs;
    const moat = await startMoat(backend, {
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
      guard: {
        users: [
          {
            user: backend.users.app2.user,
            require: { x509: true, subject: certs.clientSubject, issuer: certs.caSubject },
          },
          { user: app.user, require: { subject: '/CN=someone else' } },
        ],
      },
    });
    try {
      const app2 = backend.users.app2;
      const tls = (withCert: boolean) => ({
        ca: readFileSync(certs.ca),
        ...(withCert ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}),
      });
      const attempt = async (user: string, password: string, ssl: object | undefined) => {
        try {
          const c = await mysql.createConnection({
            host: moat.host,
            port: moat.port,
            user,
            password,
            database: app.database,
            ssl,
          });
          await c.end();
          return 0;
        } catch (e) {
          return (e as { errno?: number }).errno ?? -1;
        }
      };
      const ok = await attempt(app2.user, app2.password, tls(true));
      assert.equal(ok, 0, 'right certificate');
      assert.equal(await attempt(app2.user, app2.password, tls(false)), 1045, 'TLS without a certificate');
      assert.equal(await attempt(app2.user, app2.password, undefined), 1045, 'no TLS at all');
      assert.equal(await attempt(app.user, app.password, tls(true)), 1045, 'a subject that does not match');
      // The same subject, issued by another CA with the same name: not verified.
      const otherDir = mkdtempSync(join(tmpdir(), 'moat-other-ca-'));
      const other = await generateCerts(otherDir);
      const forged = {
        ca: readFileSync(certs.ca),
        cert: readFileSync(other.clientCert),
        key: readFileSync(other.clientKey),
      };
      rmSync(otherDir, { recursive: true, force: true });
      assert.equal(await attempt(app2.user, app2.password, forged), 1045, 'a certificate from another CA');
      const denied = moat.logins.filter((r) => r.outcome === 'user-tls-required');
      assert.equal(denied.length, 4);
    } finally {
      await moat.stop();
    }
  });
});
