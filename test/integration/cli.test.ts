// The real `moat` command as a child process: help and exit codes, configuration errors that name
// the key, a YAML config file, graceful shutdown on SIGTERM, a backend that is down at start or
// goes away mid-session, and what its log must never contain.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { runScenario } from '../harness/clients.ts';
import { testBackend } from '../harness/env.ts';
import { T_ROWS } from '../harness/mariadb.ts';
import { freePort } from '../harness/ports.ts';
import { type MoatProcess, runMoat, startMoatProcess } from '../harness/spawn-moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const BACKEND = `${backend.host}:${backend.port}`;
const tmp = mkdtempSync(join(tmpdir(), 'moat-cli-'));
const running = new Set<MoatProcess>();
after(async () => {
  await Promise.all([...running].map((p) => p.kill()));
  rmSync(tmp, { recursive: true, force: true });
});

let files = 0;
function file(name: string, text: string): string {
  const path = join(tmp, `${files++}-${name}`);
  writeFileSync(path, text);
  return path;
}
const stateDir = () => join(tmp, `state-${files++}`);
/** Client TLS with the harness's certificate: no key generation in every test. */
const TLS_ARGS = ['--tls-cert', backend.certs.serverCert, '--tls-key', backend.certs.serverKey];

async function start(args: string[]): Promise<MoatProcess & { port: number }> {
  const p = await startMoatProcess(args);
  running.add(p);
  return p;
}

async function selectOne(port: number): Promise<void> {
  const conn = await mysql.createConnection({ ...app, host: '127.0.0.1', port });
  try {
    const [rows] = await conn.query('SELECT 1 AS one');
    assert.deepEqual(rows, [{ one: 1 }]);
  } finally {
    await conn.end();
  }
}

async function loginError(port: number): Promise<{ errno: number; sqlMessage: string }> {
  return mysql.createConnection({ ...app, host: '127.0.0.1', port }).then(
    async (c) => {
      await c.end();
      return assert.fail('login succeeded');
    },
    (e: unknown) => e as { errno: number; sqlMessage: string },
  );
}

function connectError(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(null);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Rejects if `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms, undefined, { ref: false }).then(() => {
      throw new Error(`${what}: not within ${ms} ms`);
    }),
  ]);
}

describe('help and commands', { concurrency: true }, () => {
  test('moat start --help prints every flag and exits 0', async () => {
    const r = await runMoat(['start', '--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const flag of [
      '--config',
      '--listen',
      '--backend',
      '--proxy-protocol-from',
      '--tls-cert',
      '--tls-key',
      '--tls-ca',
      '--require-tls',
      '--no-tls',
      '--backend-tls',
      '--backend-tls-ca',
      '--local-infile',
      '--max-packet-size',
      '--connect-timeout',
      '--state-dir',
      '--log-level',
      '--help',
    ]) {
      assert.match(r.stdout, new RegExp(`^\\s+(-\\w, )?${flag}\\b`, 'm'), `${flag} is documented`);
    }
  });

  test('an unknown command exits 2 with the usage', async () => {
    const r = await runMoat(['bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'bogus'/);
    assert.match(r.stderr, /Usage: moat <command>/);
  });

  test('an unknown flag exits 2', async () => {
    const r = await runMoat(['start', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--bogus/);
  });
});

describe('configuration errors name the key and the reason, exit 2, nothing listens', {
  concurrency: true,
}, () => {
  const listen = ['--listen', '127.0.0.1:0'];
  const cases: Array<{ name: string; args: () => string[]; expect: RegExp }> = [
    {
      name: 'unknown key',
      args: () => [
        '--config',
        file('moat.yaml', `lisen:\n  - address: 127.0.0.1:0\nbackend:\n  address: ${BACKEND}\n`),
      ],
      expect: /moat\.yaml: invalid configuration\n\s+unknown key 'lisen'/,
    },
    {
      name: 'bad port in backend.address',
      args: () => [...listen, '--backend', '127.0.0.1:33o6'],
      expect: /backend\.address: '127\.0\.0\.1:33o6': bad port '33o6'/,
    },
    {
      name: 'bad CIDR in proxyProtocolFrom (flag)',
      args: () => [...listen, '--backend', BACKEND, '--proxy-protocol-from', '10.0.0.0/33'],
      expect: /listeners\.0\.proxyProtocolFrom\.0: expected an IP address or CIDR network/,
    },
    {
      name: 'bad CIDR in proxyProtocolFrom (file)',
      args: () => [
        '--config',
        file(
          'moat.yaml',
          `listeners:\n  - address: 127.0.0.1:0\n    proxyProtocolFrom: [10.0.0.1/8, 10.0.0.0/x]\nbackend:\n  address: ${BACKEND}\n`,
        ),
      ],
      expect: /listeners\.0\.proxyProtocolFrom\.1: expected an IP address or CIDR network/,
    },
    {
      name: 'YAML syntax error',
      args: () => [
        '--config',
        file('moat.yaml', `listeners:\n  - address: 127.0.0.1:0\nbackend:\n  address: [${BACKEND}\n`),
      ],
      expect: /moat\.yaml:\d+:\d+: \w/,
    },
    {
      name: 'missing backend',
      args: () => [...listen],
      expect: /backend: required/,
    },
    {
      name: 'backend.tls.mode verify without ca',
      args: () => [
        '--config',
        file(
          'moat.yaml',
          `listeners:\n  - address: 127.0.0.1:0\nbackend:\n  address: ${BACKEND}\n  tls:\n    mode: verify\n`,
        ),
      ],
      expect: /backend\.tls\.ca: backend\.tls\.mode 'verify' needs backend\.tls\.ca/,
    },
    {
      name: 'backend TLS verify without ca (flag)',
      args: () => [...listen, '--backend', BACKEND, '--backend-tls', 'verify'],
      expect: /backend\.tls\.ca: backend\.tls\.mode 'verify' needs backend\.tls\.ca/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await runMoat(['start', '--state-dir', stateDir(), ...c.args()]);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, c.expect);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for a configuration error');
      assert.ok(!r.lines.some((l) => l.msg === 'listening'), 'nothing listening');
    });
  }
});

test('a YAML config file with listeners, backend and limits', async () => {
  const config = file(
    'moat.yaml',
    [
      'listeners:',
      '  - address: 127.0.0.1:0',
      'backend:',
      `  address: ${BACKEND}`,
      '  connectTimeoutMs: 2000',
      'tls:',
      `  cert: ${backend.certs.serverCert}`,
      `  key: ${backend.certs.serverKey}`,
      'limits:',
      '  handshakeTimeoutMs: 5000',
      '  maxPacketSize: 1048576',
      `stateDir: ${stateDir()}`,
      '',
    ].join('\n'),
  );
  const moat = await start(['--config', config]);
  const r = await runScenario(
    'mysql2',
    { host: '127.0.0.1', port: moat.port },
    { ...app, tls: { ca: backend.certs.ca }, steps: ['select', 'tls'] },
  );
  assert.equal(r.currentUser, 'app@%');
  assert.deepEqual(r.select, T_ROWS);
  assert.deepEqual(r.tls, { server: false, client: true });
  await moat.kill();
});

describe('SIGTERM', () => {
  test('refuses new connections at once, lets the running query finish, then closes it and exits 0', async () => {
    const timeoutMs = 10_000;
    const config = file(
      'moat.yaml',
      `backend:\n  address: ${BACKEND}\nshutdownTimeoutMs: ${timeoutMs}\nstateDir: ${stateDir()}\n`,
    );
    const moat = await start(['--config', config, '--listen', '127.0.0.1:0', ...TLS_ARGS]);
    const conn = await mysql.createConnection({ ...app, host: '127.0.0.1', port: moat.port });
    conn.on('error', () => {});
    const stream = (conn as unknown as { connection: { stream: Socket } }).connection.stream;
    const closed = once(stream, 'close');
    let queryDone = false;
    const query = conn.query('SELECT SLEEP(1) AS s');
    void query.then(
      () => (queryDone = true),
      () => (queryDone = true),
    );
    await sleep(200); // the query is at the backend
    const signalled = Date.now();
    moat.child.kill('SIGTERM');
    // A connect racing the listener's close may be reset instead; what follows must be refused.
    let refused: string | null = null;
    for (let i = 0; i < 50 && refused !== 'ECONNREFUSED'; i++) {
      refused = await connectError(moat.port);
      if (refused !== 'ECONNREFUSED') await sleep(10);
    }
    assert.equal(refused, 'ECONNREFUSED');
    assert.ok(Date.now() - signalled < 600, 'refused at once');
    assert.equal(queryDone, false, 'new connections are refused before the running query ends');
    const [rows] = await query;
    assert.deepEqual(rows, [{ s: 0 }]);
    // Between commands and outside a transaction: moat closes the session itself.
    await within(closed, 3000, 'the session is closed once its query is done');
    const exit = await within(moat.exited, 3000, 'exit after the last session ended');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - signalled < timeoutMs);
    const msgs = moat.lines.map((l) => l.msg);
    assert.ok(msgs.includes('shutting down') && msgs.includes('stopped'), msgs.join(', '));
  });

  test('an idle session closes at once; one in a transaction is closed at shutdownTimeoutMs', async () => {
    const timeoutMs = 400;
    const config = file(
      'moat.yaml',
      `backend:\n  address: ${BACKEND}\nshutdownTimeoutMs: ${timeoutMs}\nstateDir: ${stateDir()}\n`,
    );
    const moat = await start(['--config', config, '--listen', '127.0.0.1:0', ...TLS_ARGS]);
    const open = async (sql: string) => {
      const conn = await mysql.createConnection({ ...app, host: '127.0.0.1', port: moat.port });
      conn.on('error', () => {});
      await conn.query(sql);
      const stream = (conn as unknown as { connection: { stream: Socket } }).connection.stream;
      return { closedAt: once(stream, 'close').then(() => Date.now()) };
    };
    const idleClosed = (await open('SELECT 1')).closedAt;
    const txClosed = (await open('BEGIN')).closedAt;
    const signalled = Date.now();
    moat.child.kill('SIGTERM');
    const exit = await within(moat.exited, 5000, 'exit');
    assert.deepEqual(exit, { code: 0, signal: null });
    const idleAt = (await within(idleClosed, 2000, 'the idle session is closed')) - signalled;
    const txAt = (await within(txClosed, 2000, 'the session in a transaction is closed')) - signalled;
    assert.ok(idleAt < timeoutMs, `idle session closed after ${idleAt} ms`);
    assert.ok(txAt >= timeoutMs - 50, `the transaction was given its time (closed after ${txAt} ms)`);
  });
});
describe('backend availability', () => {
  test('down at start: 2003 naming it; logins work once it is up; a drop mid-session is survived', async () => {
    const port = await freePort();
    const moat = await start([
      '--listen',
      '127.0.0.1:0',
      '--backend',
      `127.0.0.1:${port}`,
      '--state-dir',
      stateDir(),
      ...TLS_ARGS,
    ]);
    const down = await loginError(moat.port);
    assert.equal(down.errno, 2003);
    assert.match(down.sqlMessage, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal(moat.child.exitCode, null, 'moat keeps running');

    let forwarder = await forward(port, backend.port);
    await selectOne(moat.port);

    const conn = await mysql.createConnection({ ...app, host: '127.0.0.1', port: moat.port });
    conn.on('error', () => {});
    const stream = (conn as unknown as { connection: { stream: Socket } }).connection.stream;
    const lost = once(stream, 'close');
    await conn.query('SELECT 1');
    await forwarder.kill();
    await within(lost, 2000, 'the client sees the connection lost');
    await assert.rejects(conn.query('SELECT 1'));
    assert.equal((await loginError(moat.port)).errno, 2003);

    forwarder = await forward(port, backend.port);
    try {
      await selectOne(moat.port);
      assert.equal(moat.child.exitCode, null);
    } finally {
      await forwarder.kill();
    }
  });

  test('a listener that cannot be bound: moat exits non-zero with a clear error', async () => {
    const live = join(tmp, 'live.sock');
    const holder: Server = createServer((s) => s.destroy()).listen(live);
    await once(holder, 'listening');
    try {
      const r = await runMoat(
        [
          'start',
          '--listen',
          '127.0.0.1:0',
          '--listen',
          `unix:${live}`,
          '--backend',
          BACKEND,
          '--state-dir',
          stateDir(),
          ...TLS_ARGS,
        ],
        5000,
      );
      assert.equal(r.signal, null, 'moat exits by itself instead of hanging with a half-open listener');
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`${live.replace(/[.]/g, '\\.')} is in use by another process`));
    } finally {
      holder.close();
    }
  });
});

describe('the log', () => {
  test('debug logging never contains the login password', async () => {
    const moat = await start([
      '--listen',
      '127.0.0.1:0',
      '--backend',
      BACKEND,
      '--log-level',
      'debug',
      '--state-dir',
      stateDir(),
      ...TLS_ARGS,
    ]);
    const conn = await mysql.createConnection({ ...app, host: '127.0.0.1', port: moat.port });
    await conn.query('SELECT 1');
    for (const sql of [
      "ALTER USER 'moat_nobody'@'%' IDENTIFIED BY 'Secr3t-XYZ'",
      "SET PASSWORD FOR 'moat_nobody'@'%' = PASSWORD('Secr3t-XYZ')",
    ]) {
      await assert.rejects(conn.query(sql)); // app may not: the statement is still logged
    }
    await conn.end();
    // A failed login too: its password must not show up either.
    const wrong = 'Wr0ng-pw-1234';
    await assert.rejects(
      mysql.createConnection({ ...app, password: wrong, host: '127.0.0.1', port: moat.port }),
    );
    await moat.waitForLog((l) => l.msg === 'login failed');
    await moat.waitForLog((l) => String(JSON.stringify(l)).includes('moat_nobody') && l.msg === 'command');
    moat.child.kill('SIGTERM');
    await within(moat.exited, 5000, 'exit');
    const out = moat.stdout();
    assert.ok(
      moat.lines.some((l) => l.msg === 'command'),
      'debug logs commands (else this test proves nothing)',
    );
    assert.ok(!out.includes(app.password), 'the login password is not in the log');
    assert.ok(!moat.stderr().includes(app.password));
    assert.ok(!out.includes(wrong), 'nor the password of a failed login');
    debugLog = out;
  });

  test('debug logging redacts passwords in statements', () => {
    assert.ok(debugLog !== '', 'the test above ran');
    assert.ok(debugLog.includes('moat_nobody'), 'the statements were logged');
    assert.ok(!debugLog.includes('Secr3t-XYZ'), 'their passwords were not');
  });
});
let debugLog = '';

/** A TCP forwarder on `port` to the harness MariaDB: the backend as moat sees it, switchable. */
async function forward(port: number, to: number): Promise<{ kill(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: to });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    async kill() {
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
