// sha256_password (MySQL) through moat, over each combination of TLS, plain TCP and unix-socket
// legs, with mysql2, the mariadb Node connector and the `mariadb` CLI (libmariadb's
// sha256_password.so).
//
// The backend is SCRIPTED (test/harness/scripted-mysql8.ts) because no MySQL 8 server can be
// installed on this machine (Debian ships MariaDB only, and MariaDB has no sha256_password server
// plugin). It plays MySQL 8's sha256_password_authenticate: a fresh nonce in the AuthSwitchRequest;
// 0x00 or an empty packet for no password; over TLS the password in clear; over any other leg
// (a unix socket included) 0x01 for its key, then RSA-OAEP((password ‖ NUL) ⊕ nonce). It records as
// a violation any password bytes on a plain TCP leg, an answer that should be sealed and is not,
// and a sequence id out of order; every test asserts there is none.
//
// The hole this guards: a client on TLS sends its password in clear, and moat relayed it as it
// was onto a plain backend leg. moat now asks the backend for its key and sends it sealed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  type Attempt,
  assertAccessDenied,
  assertLoggedIn,
  assertSteps,
  CLIENTS,
  type ClientName,
  login,
  serverRecord,
} from '../harness/auth-clients.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { type AuthStep, type ScriptedMysql8, startScriptedMysql8 } from '../harness/scripted-mysql8.ts';

const backend = testBackend();

const SHA256 = { user: 'sha256u', password: 'sha256-secret' } as const;
const EMPTY = { user: 'sha256e', password: '' } as const;

let dir: string;
let mysql8: ScriptedMysql8;
let noKeys: ScriptedMysql8;
/** moat → scripted server over plain TCP. */
let plainLeg: RunningMoat;
/** moat → scripted server over TLS, certificate verified; moat also listens on a unix socket. */
let tlsLeg: RunningMoat;
let tlsLegSocket: string;
/** moat → scripted server over its unix socket. */
let socketLeg: RunningMoat;
/** moat → a scripted server without RSA keys, plain TCP. */
let noKeysLeg: RunningMoat;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'moat-sha256-'));
  // The harness certificate (SAN 127.0.0.1): the clients' CA fits the scripted server too.
  const tls = { cert: backend.certs.serverCert, key: backend.certs.serverKey };
  const accounts = [
    { ...SHA256, plugin: 'sha256_password' as const },
    { ...EMPTY, plugin: 'sha256_password' as const },
  ];
  [mysql8, noKeys] = await Promise.all([
    startScriptedMysql8({ accounts, tls, socketPath: join(dir, 'mysql8.sock') }),
    startScriptedMysql8({ accounts, tls, rsaKeys: false }),
  ]);
  const address = `127.0.0.1:${mysql8.port}`;
  tlsLegSocket = join(dir, 'moat.sock');
  // Many wrong-password logins from one address on purpose: connection control would only slow
  // them down here.
  const guard = { connection_control_failed_connections_threshold: 0 };
  [plainLeg, tlsLeg, socketLeg, noKeysLeg] = await Promise.all([
    startMoat(backend, { backend: { address }, guard }),
    startMoat(backend, {
      listeners: [{ address: '127.0.0.1:0' }, { address: `unix:${tlsLegSocket}` }],
      backend: { address, tls: { mode: 'verify', ca: backend.certs.ca } },
      guard,
    }),
    startMoat(backend, { backend: { address: `unix:${mysql8.socketPath}` }, guard }),
    startMoat(backend, { backend: { address: `127.0.0.1:${noKeys.port}` }, guard }),
  ]);
});

after(async () => {
  await Promise.all([plainLeg?.stop(), tlsLeg?.stop(), socketLeg?.stop(), noKeysLeg?.stop()]);
  await Promise.all([mysql8?.close(), noKeys?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Each test answers for its own logins: a violation one of them caused is not carried into the next.
beforeEach(() => {
  for (const server of [mysql8, noKeys]) server.violations.length = 0;
});

const SEALED: AuthStep[] = ['handshake-response', 'public-key-request', 'rsa-password'];
const IN_TLS: AuthStep[] = ['ssl-request', 'handshake-response', 'cleartext-password'];

/** One leg combination: the moat to use, how the client connects, what the server must receive. */
interface Path {
  name: string;
  moat: () => RunningMoat;
  tls: boolean;
  socket?: () => string;
  steps: AuthStep[];
  path: 'sha256-rsa' | 'sha256-cleartext';
  /** The 1045's host part: the server saw moat over TCP, or over its socket. */
  host?: string;
  /** The client got the server's own key (true), moat's (false), or none (undefined). */
  serverKey?: boolean;
}

const PATHS: Path[] = [
  {
    name: 'client TLS, backend plain: moat sends the password sealed with the backend key',
    moat: () => plainLeg,
    tls: true,
    steps: SEALED,
    path: 'sha256-rsa',
  },
  {
    name: 'client TLS, backend TLS: the cleartext password inside the backend TLS',
    moat: () => tlsLeg,
    tls: true,
    steps: IN_TLS,
    path: 'sha256-cleartext',
  },
  {
    name: 'client plain, backend plain: the client seals for the backend, end to end',
    moat: () => plainLeg,
    tls: false,
    steps: SEALED,
    path: 'sha256-rsa',
    serverKey: true,
  },
  {
    name: 'client plain, backend TLS: moat answers the key request with its own key',
    moat: () => tlsLeg,
    tls: false,
    steps: IN_TLS,
    path: 'sha256-cleartext',
    serverKey: false,
  },
  {
    // MySQL's sha256_password reads a cleartext answer over TLS only, not over its unix socket.
    name: 'client TLS, backend unix socket: moat sends the password sealed with the backend key',
    moat: () => socketLeg,
    tls: true,
    steps: SEALED,
    path: 'sha256-rsa',
    host: 'localhost',
  },
  {
    // The clients send a key request (0x01) over a unix socket: they ask for TLS, not "secure".
    name: "client on moat's unix socket, backend TLS: moat answers the key request with its own key",
    moat: () => tlsLeg,
    tls: false,
    socket: () => tlsLegSocket,
    steps: IN_TLS,
    path: 'sha256-cleartext',
    serverKey: false,
  },
];

function attempt(p: Path, account: { user: string; password: string }, keys: Buffer[]): Attempt {
  return {
    ...account,
    tls: p.tls,
    socketPath: p.socket?.(),
    allowPublicKeyRetrieval: true,
    sha256: { onServerPublicKey: (k) => keys.push(k) },
  };
}

describe("the scripted MySQL 8's sha256_password agrees with real clients directly (no moat)", () => {
  for (const client of CLIENTS) {
    test(`${client}: plain, the key fetched and the password sealed`, async () => {
      const o = await login(client, mysql8.port, { ...SHA256, tls: false, allowPublicKeyRetrieval: true });
      assertLoggedIn(o, SHA256.user, 'direct, plain');
      const rec = serverRecord(mysql8, SHA256.user);
      assert.equal(rec.path, 'sha256-rsa');
      assertSteps(rec, SEALED, 'direct, plain');
    });

    test(`${client}: TLS, the password in clear`, async () => {
      const o = await login(client, mysql8.port, { ...SHA256, tls: true });
      assertLoggedIn(o, SHA256.user, 'direct, TLS');
      const rec = serverRecord(mysql8, SHA256.user);
      assert.equal(rec.path, 'sha256-cleartext');
      assertSteps(rec, IN_TLS, 'direct, TLS');
    });
  }
});

describe('sha256_password through moat', () => {
  for (const p of PATHS) {
    for (const client of CLIENTS) {
      test(`${p.name}: ${client}`, async () => {
        const keys: Buffer[] = [];
        const o = await login(client, p.moat().port, attempt(p, SHA256, keys));
        const rec = serverRecord(mysql8, SHA256.user);
        assertLoggedIn(o, SHA256.user, `${p.name} (server notes: ${rec.notes.join('; ') || 'none'})`);
        assert.equal(rec.path, p.path);
        assertSteps(rec, p.steps, p.name);
        if (client === 'mysql2' && p.serverKey !== undefined) {
          assert.equal(keys.length, 1, 'the client asked for a key once');
          assert.equal(String(keys[0]) === mysql8.publicKeyPem, p.serverKey, 'whose key the client got');
        }
      });
    }
  }
});

describe('sha256_password: a wrong password gets the server 1045, with valid sequence ids, in every path', () => {
  for (const p of PATHS) {
    for (const client of CLIENTS) {
      test(`${p.name}: ${client}`, async () => {
        const o = await login(client, p.moat().port, attempt(p, { ...SHA256, password: 'not-it' }, []));
        assertAccessDenied(o, SHA256.user, p.name, { host: p.host });
        const rec = serverRecord(mysql8, SHA256.user);
        assert.equal(rec.result, 'denied');
        assertSteps(rec, p.steps, p.name);
      });
    }
  }

  for (const client of ['mysql2', 'cli'] as const satisfies ClientName[]) {
    test(`client TLS, a backend without RSA keys denies moat's key request; moat relays its 1045: ${client}`, async () => {
      const o = await login(client, noKeysLeg.port, { ...SHA256, tls: true });
      assertAccessDenied(o, SHA256.user, 'no RSA keys on the backend');
      assertSteps(serverRecord(noKeys, SHA256.user), ['handshake-response', 'public-key-request'], 'no keys');
    });
  }
});

describe('sha256_password: the empty password is relayed, never sealed', () => {
  // libmariadb sends 0x00 over TLS and an empty packet without it, the mariadb connector an empty
  // packet on every leg (libmysqlclient: 0x00 on every leg). A sealed empty password is refused by
  // MySQL ("if (pkt_len == 1)"), so moat must relay these as they are, never seal them. mysql2 is
  // left out: it turns an empty password into undefined (connection_config.js) and sends the
  // string "undefined".
  for (const p of PATHS) {
    for (const client of ['mariadb-node', 'cli'] as const satisfies ClientName[]) {
      test(`${p.name}: ${client}`, async () => {
        const o = await login(client, p.moat().port, attempt(p, EMPTY, []));
        const rec = serverRecord(mysql8, EMPTY.user);
        assertLoggedIn(o, EMPTY.user, `${p.name} (server notes: ${rec.notes.join('; ') || 'none'})`);
        assert.equal(rec.path, 'empty-password');
        assertSteps(
          rec,
          p.steps === IN_TLS ? ['ssl-request', 'handshake-response'] : ['handshake-response'],
          p.name,
        );
      });
    }
  }
});
