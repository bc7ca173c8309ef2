// How clients reach moat and how moat reaches the backend, through real clients: PROXY protocol
// from a trusted balancer, unix sockets on both legs, IPv6 and dual-stack listeners, TLS required
// of clients, TLS to the backend, and the self-signed certificate moat makes for itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import mysql from 'mysql2/promise';
import { pino } from 'pino';
import { Moat } from '../../src/app/moat.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { LoginRecord } from '../../src/model/events.ts';
import { generateCerts } from '../harness/certs.ts';
import { runScenario } from '../harness/clients.ts';
import { testBackend } from '../harness/env.ts';
import { T_ROWS } from '../harness/mariadb.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { proxyV1, proxyV2, proxyV2Local, readPacket, sslRequest } from '../harness/wire.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const tmp = mkdtempSync(join(tmpdir(), 'moat-transport-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Logs in with mysql2 over a socket the test opened itself (and wrote `header` on first). */
async function loginOver(
  port: number,
  header: Buffer | null,
  opts: { localAddress?: string; onSocket?: (s: Socket) => void } = {},
): Promise<mysql.Connection> {
  return mysql.createConnection({
    ...app,
    connectTimeout: 5000,
    stream: () => {
      const s = netConnect({ host: '127.0.0.1', port, localAddress: opts.localAddress });
      if (header !== null) s.write(header);
      opts.onSocket?.(s);
      return s;
    },
  });
}

async function selectOne(conn: mysql.Connection): Promise<void> {
  const [rows] = await conn.query('SELECT 1 AS one');
  assert.deepEqual(rows, [{ one: 1 }]);
  await conn.end();
}

/** Waits for the socket to close; what it received and how long it stayed open. */
async function watchUntilClosed(s: Socket): Promise<{ bytes: number; ms: number }> {
  const t0 = Date.now();
  let bytes = 0;
  s.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  s.on('error', () => {});
  await once(s, 'close');
  return { bytes, ms: Date.now() - t0 };
}

describe('PROXY protocol from a trusted balancer', () => {
  let moat: RunningMoat;
  before(async () => {
    moat = await startMoat(backend, {
      listeners: [{ address: '127.0.0.1:0', proxyProtocolFrom: ['127.0.0.1/32'] }],
      limits: { handshakeTimeoutMs: 1000 },
    });
  });
  after(() => moat?.stop());

  const cases = [
    { name: 'v1 TCP4', header: proxyV1('203.0.113.7', '127.0.0.1', 40000, 3307), address: '203.0.113.7' },
    {
      name: 'v1 TCP6',
      header: proxyV1('2001:db8::5', '2001:db8::1', 40001, 3307),
      address: '2001:db8::5',
    },
    {
      name: 'v2 IPv4',
      header: proxyV2({ address: '203.0.113.7', port: 40002 }, { address: '127.0.0.1', port: 3307 }),
      address: '203.0.113.7',
    },
    {
      name: 'v2 IPv6',
      header: proxyV2({ address: '2001:db8::5', port: 40003 }, { address: '2001:db8::1', port: 3307 }),
      address: '2001:db8::5',
    },
  ];
  for (const [i, c] of cases.entries()) {
    const port = 40000 + i;
    test(`${c.name}: the login and its commands carry the balancer's client address`, async () => {
      await selectOne(await loginOver(moat.port, c.header));
      const login = await moat.waitForLogin((r) => r.clientPort === port);
      assert.equal(login.outcome, 'ok');
      assert.equal(login.clientAddress, c.address);
      assert.equal(login.user, 'app');
      const event = await moat.waitForEvent(
        (e) => e.clientPort === port && e.statement === 'SELECT 1 AS one',
      );
      assert.equal(event.clientAddress, c.address);
    });
  }

  test("v2 LOCAL (a balancer's health check): the connection is the balancer's own", async () => {
    let socket: Socket | undefined;
    const conn = await loginOver(moat.port, proxyV2Local(), { onSocket: (s) => (socket = s) });
    const localPort = socket!.localPort!;
    await selectOne(conn);
    const login = await moat.waitForLogin((r) => r.clientPort === localPort);
    assert.equal(login.outcome, 'ok');
    assert.equal(login.clientAddress, '127.0.0.1');
  });

  test('a PROXY header from an untrusted address is garbage to moat: handshake error', async () => {
    await assert.rejects(
      loginOver(moat.port, proxyV1('203.0.113.66', '127.0.0.1', 41000, 3307), { localAddress: '127.0.0.2' }),
    );
    const login = await moat.waitForLogin((r) => r.clientAddress === '127.0.0.2');
    assert.equal(login.outcome, 'handshake-error', `got ${login.outcome}: ${login.message}`);
    assert.ok(!moat.logins.some((r) => r.clientAddress === '203.0.113.66'));
  });

  test('a trusted peer without a header never gets a greeting and is closed after the timeout', async () => {
    const silent = netConnect({ host: '127.0.0.1', port: moat.port });
    const mysqlClient = loginOver(moat.port, null);
    const [seen, client] = await Promise.all([
      watchUntilClosed(silent),
      mysqlClient.then(
        () => null,
        (e: unknown) => e as NodeJS.ErrnoException,
      ),
    ]);
    assert.equal(seen.bytes, 0, 'no greeting before the PROXY header');
    assert.ok(seen.ms >= 800, `closed after ${seen.ms} ms, before the 1000 ms timeout`);
    assert.ok(client !== null, 'a MySQL client without a header must not log in');
    assert.equal(client.code, 'PROTOCOL_CONNECTION_LOST');
  });

  test('a trusted peer that starts with MySQL bytes instead of a header is closed at once', async () => {
    const s = netConnect({ host: '127.0.0.1', port: moat.port });
    s.write(sslRequest());
    const seen = await watchUntilClosed(s);
    assert.equal(seen.bytes, 0);
    assert.ok(seen.ms < 800, `took ${seen.ms} ms`);
  });
});

describe('unix-socket listener', () => {
  const path = join(tmp, 'moat.sock');
  let moat: RunningMoat;
  before(async () => {
    moat = await startMoat(backend, {
      listeners: [{ address: '127.0.0.1:0' }, { address: `unix:${path}` }],
    });
  });
  after(() => moat?.stop());

  test('the mariadb CLI and mysql2 log in through the socket; the client address is localhost', async () => {
    for (const client of ['cli', 'mysql2'] as const) {
      const before = moat.logins.length;
      const r = await runScenario(client, { socket: path }, { ...app, steps: ['select'] });
      assert.equal(r.currentUser, 'app@%', client);
      assert.deepEqual(r.select, T_ROWS, client);
      const login = await moat.waitForLogin((l) => moat.logins.indexOf(l) >= before);
      assert.equal(login.outcome, 'ok');
      assert.equal(login.clientAddress, 'localhost', client);
    }
  });

  test('a socket another moat is listening on makes start fail with a clear error, and stays', async () => {
    const { gateway } = direct({
      listeners: [{ address: '127.0.0.1:0' }, { address: `unix:${path}` }],
      stateDir: join(tmp, 'state-live'),
      tls: { enabled: false },
    });
    await assert.rejects(gateway.start(), (e: Error) => {
      assert.match(e.message, new RegExp(`${path.replace(/[.]/g, '\\.')} is in use by another process`));
      return true;
    });
    await gateway.stop(0);
    assert.ok(lstatSync(path).isSocket(), 'the live socket is left alone');
    const r = await runScenario('mysql2', { socket: path }, { ...app, steps: [] });
    assert.equal(r.currentUser, 'app@%');
  });

  test('a stale socket file from a crashed moat is removed at start', async () => {
    const stale = join(tmp, 'stale.sock');
    // A socket bound by a process that exited without unlinking it: nobody answers on it.
    execFileSync('/usr/bin/python3', [
      '-c',
      'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      stale,
    ]);
    assert.ok(lstatSync(stale).isSocket());
    const m = await startMoat(backend, {
      listeners: [{ address: '127.0.0.1:0' }, { address: `unix:${stale}` }],
    });
    try {
      const r = await runScenario('mysql2', { socket: stale }, { ...app, steps: [] });
      assert.equal(r.currentUser, 'app@%');
    } finally {
      await m.stop();
    }
    assert.ok(!existsSync(stale), 'the socket file is removed at stop');
  });

  test('a regular file where the socket should be is never removed', async () => {
    const file = join(tmp, 'not-a-socket');
    writeFileSync(file, 'precious');
    const { gateway } = direct({
      listeners: [{ address: `unix:${file}` }],
      stateDir: join(tmp, 'state-file'),
      tls: { enabled: false },
    });
    await assert.rejects(gateway.start(), /exists and is not a socket/);
    await gateway.stop(0);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
  });
});

test('unix-socket backend: mysql2 and the CLI through moat', async () => {
  const moat = await startMoat(backend, { backend: { address: `unix:${backend.socket}` } });
  try {
    for (const client of ['mysql2', 'cli'] as const) {
      const r = await runScenario(
        client,
        { host: moat.host, port: moat.port },
        { ...app, steps: ['select', 'prepared', 'multi', 'changeUser', 'errors'] },
      );
      assert.equal(r.currentUser, 'app@%', client);
      assert.deepEqual(r.select, T_ROWS, client);
      assert.deepEqual(r.prepared, [[{ name: 'beta' }], [{ name: 'alpha' }]], client);
      assert.deepEqual(r.multi, [[{ a: '1' }], [{ b: '2', c: '3' }]], client);
      assert.equal(r.changeUser, client === 'cli' ? null : 'app2@%', client);
      assert.deepEqual(r.errors, { wrongPassword: 1045, noSuchDb: 1049 }, client);
    }
  } finally {
    await moat.stop();
  }
});

describe('IPv6', () => {
  test('an [::1] listener: mysql2 over ::1, the login record shows ::1', async () => {
    const moat = await startMoat(backend, { listeners: [{ address: '[::1]:0' }] });
    try {
      assert.equal(moat.host, '::1');
      await selectOne(await mysql.createConnection({ ...app, host: '::1', port: moat.port }));
      const login = await moat.waitForLogin((r) => r.outcome === 'ok');
      assert.equal(login.clientAddress, '::1');
    } finally {
      await moat.stop();
    }
  });

  test('a dual-stack [::] listener reached over 127.0.0.1 shows 127.0.0.1, not ::ffff:127.0.0.1', async () => {
    const moat = await startMoat(backend, { listeners: [{ address: '[::]:0' }] });
    try {
      await selectOne(await mysql.createConnection({ ...app, host: '127.0.0.1', port: moat.port }));
      const login = await moat.waitForLogin((r) => r.outcome === 'ok');
      assert.equal(login.clientAddress, '127.0.0.1');
      const event = await moat.waitForEvent((e) => e.statement === 'SELECT 1 AS one');
      assert.equal(event.clientAddress, '127.0.0.1');
    } finally {
      await moat.stop();
    }
  });
});

describe('tls.require', () => {
  const path = join(tmp, 'require.sock');
  let moat: RunningMoat;
  before(async () => {
    moat = await startMoat(backend, {
      listeners: [{ address: '127.0.0.1:0' }, { address: `unix:${path}` }],
      tls: { require: true },
    });
  });
  after(() => moat?.stop());

  test("a plain login is refused with 3159 and MySQL's message", async () => {
    const err = await mysql.createConnection({ ...app, host: moat.host, port: moat.port }).then(
      () => assert.fail('plain login succeeded'),
      (e: unknown) => e as { errno: number; sqlState: string; sqlMessage: string },
    );
    assert.equal(err.errno, 3159);
    assert.equal(err.sqlState, 'HY000');
    assert.equal(
      err.sqlMessage,
      'Connections using insecure transport are prohibited while --require_secure_transport=ON.',
    );
    const login = await moat.waitForLogin((r) => r.outcome !== 'ok');
    assert.equal(login.outcome, 'tls-required');
    assert.equal(login.errorCode, 3159);
    assert.equal(login.user, 'app');
    await assert.rejects(
      runScenario('cli', { host: moat.host, port: moat.port }, { ...app, steps: [] }),
      /ERROR 3159 \(HY000\)[^\n]*insecure transport/,
    );
  });

  test('a TLS login works', async () => {
    for (const client of ['mysql2', 'cli'] as const) {
      const r = await runScenario(
        client,
        { host: moat.host, port: moat.port },
        { ...app, tls: { ca: backend.certs.ca }, steps: ['tls'] },
      );
      assert.equal(r.currentUser, 'app@%');
      assert.deepEqual(r.tls, { server: false, client: true }, client);
    }
  });

  test('the unix socket counts as secure, as in MySQL', async () => {
    const r = await runScenario('mysql2', { socket: path }, { ...app, steps: [] });
    assert.equal(r.currentUser, 'app@%');
  });
});

describe('TLS to the backend', () => {
  test('verify: the REQUIRE SSL account logs in over a plain client leg; the server sees TLS', async () => {
    const moat = await startMoat(backend, { backend: { tls: { mode: 'verify', ca: backend.certs.ca } } });
    try {
      for (const client of ['mysql2', 'cli'] as const) {
        const r = await runScenario(
          client,
          { host: moat.host, port: moat.port },
          { ...backend.users.tlsonly, database: backend.database, steps: ['tls'] },
        );
        assert.equal(r.currentUser, 'tlsonly@%', client);
        assert.deepEqual(r.tls, { server: true, client: false }, client);
      }
    } finally {
      await moat.stop();
    }
  });

  test('verify with a CA that did not sign the server: 2003 naming TLS, and moat keeps serving', async () => {
    const other = await generateCerts(join(tmp, 'other-ca'));
    const moat = await startMoat(backend, { backend: { tls: { mode: 'verify', ca: other.ca } } });
    try {
      for (let i = 0; i < 2; i++) {
        const err = await mysql.createConnection({ ...app, host: moat.host, port: moat.port }).then(
          () => assert.fail('login through an unverified backend succeeded'),
          (e: unknown) => e as { errno: number; sqlMessage: string },
        );
        assert.equal(err.errno, 2003);
        assert.match(err.sqlMessage, /TLS/);
        assert.match(err.sqlMessage, new RegExp(`127\\.0\\.0\\.1:${backend.port}`));
      }
      const failed = moat.logins.filter((r) => r.outcome === 'backend-unreachable');
      assert.equal(failed.length, 2);
      assert.match(failed[0]!.message, /TLS/);
    } finally {
      await moat.stop();
    }
  });
});

describe('self-signed certificate for client TLS', () => {
  const stateDir = join(tmp, 'state-selfsigned');
  const certPath = join(stateDir, 'tls', 'server-cert.pem');
  const keyPath = join(stateDir, 'tls', 'server-key.pem');
  const config = { listeners: [{ address: '127.0.0.1:0' }], stateDir };

  test('generated at first start (ECDSA P-256), reused at the second; TLS below 1.2 refused', async () => {
    const first = direct(config);
    await first.gateway.start();
    let pem: string;
    try {
      pem = readFileSync(certPath, 'utf8');
      const cert = new X509Certificate(pem);
      const key = createPrivateKey(readFileSync(keyPath));
      assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
      assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(key.asymmetricKeyType, 'ec');
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.ok(cert.checkPrivateKey(key), 'the key belongs to the certificate');
      assert.ok(cert.verify(cert.publicKey), 'self-signed');
      assert.equal(statSync(keyPath).mode & 0o077, 0, 'the private key is not readable by others');

      const port = first.port();
      const conn = await mysql.createConnection({
        ...app,
        host: '127.0.0.1',
        port,
        ssl: { rejectUnauthorized: false },
      });
      const stream = (conn as unknown as { connection: { stream: TLSSocket } }).connection.stream;
      assert.equal(stream.encrypted, true);
      assert.equal(stream.getPeerX509Certificate()?.fingerprint256, cert.fingerprint256);
      await selectOne(conn);

      const ok = await tlsAfterSslRequest(port, 'TLSv1.2');
      assert.equal(ok.getProtocol(), 'TLSv1.2');
      ok.destroy();
      for (const old of ['TLSv1', 'TLSv1.1'] as const) {
        await assert.rejects(tlsAfterSslRequest(port, old), `${old} must be refused`);
      }
      const refused = await first.waitForLogin((r) => r.outcome === 'tls-error');
      assert.equal(refused.clientAddress, '127.0.0.1');
    } finally {
      await first.gateway.stop(0);
    }

    const second = direct(config);
    await second.gateway.start();
    try {
      assert.equal(readFileSync(certPath, 'utf8'), pem, 'the certificate is reused');
      const s = await tlsAfterSslRequest(second.port(), 'TLSv1.3');
      assert.equal(s.getPeerX509Certificate()?.fingerprint256, new X509Certificate(pem).fingerprint256);
      s.destroy();
    } finally {
      await second.gateway.stop(0);
    }
  });
});

/** Reads moat's greeting on a raw socket, sends an SSLRequest, then a TLS handshake capped at `max`. */
async function tlsAfterSslRequest(port: number, max: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3') {
  const raw = netConnect({ host: '127.0.0.1', port });
  raw.on('error', () => {});
  await once(raw, 'connect');
  const greeting = await readPacket(raw);
  assert.equal(greeting.payload[0], 10, 'protocol version 10 greeting');
  raw.write(sslRequest());
  const secure = tlsConnect({
    socket: raw,
    maxVersion: max,
    minVersion: 'TLSv1',
    rejectUnauthorized: false,
    // OpenSSL's default security level refuses TLS 1.0/1.1 on our side already: lower it, so that
    // it is moat that refuses.
    ciphers: 'DEFAULT:@SECLEVEL=0',
  });
  try {
    await once(secure, 'secureConnect');
  } catch (e) {
    raw.destroy();
    throw e;
  }
  return secure;
}

/** A Moat built from a config without the harness's defaults (own stateDir, generated TLS). */
function direct(input: Record<string, unknown>) {
  const config = validateConfig(
    { backend: { address: `${backend.host}:${backend.port}` }, ...input },
    'test',
  );
  const logins: LoginRecord[] = [];
  const gateway = new Moat(config, pino({ level: 'silent' }), { onLogin: (r) => logins.push(r) });
  return {
    gateway,
    logins,
    port(): number {
      const a = gateway.addresses()[0];
      assert.ok(a?.kind === 'tcp');
      return a.port;
    },
    async waitForLogin(pred: (r: LoginRecord) => boolean): Promise<LoginRecord> {
      for (let i = 0; i < 100; i++) {
        const hit = logins.find(pred);
        if (hit !== undefined) return hit;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('timed out waiting for a login record');
    },
  };
}
