// Which TLS versions and suites moat's client listener agrees to, asked the way a scanner asks:
// `openssl s_client -starttls mysql` (greeting, SSLRequest, then the handshake). TLS 1.2 must settle
// on an ECDHE + AEAD suite or fail; CBC suites (SHA-1 or SHA-2 MACs) and TLS 1.1 must fail.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { nativePasswordHash } from '../../src/admin/password.ts';
import { TLS_CIPHERS } from '../../src/net/tls.ts';
import { testBackend } from '../harness/env.ts';
import { startMoat as startInProcess } from '../harness/moat.ts';
import { type MoatProcess, startMoatProcess } from '../harness/spawn-moat.ts';

const backend = testBackend();
const BACKEND = `${backend.host}:${backend.port}`;
const tmp = mkdtempSync(join(tmpdir(), 'moat-tls-suites-'));
const running: MoatProcess[] = [];
after(async () => {
  await Promise.all(running.map((p) => p.kill()));
  rmSync(tmp, { recursive: true, force: true });
});

interface Handshake {
  ok: boolean;
  cipher: string | null;
  protocol: string | null;
  output: string;
}

/** One `openssl s_client -starttls mysql` handshake; stdin closed, so it ends right after. */
function sClient(port: number, args: string[]): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'openssl',
      ['s_client', '-starttls', 'mysql', '-connect', `127.0.0.1:${port}`, '-brief', ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      // -brief prints "CONNECTION ESTABLISHED", "Protocol version: …" and "Ciphersuite: …".
      const cipher = /^Ciphersuite: (\S+)/m.exec(output)?.[1] ?? null;
      const protocol = /^Protocol version: (\S+)/m.exec(output)?.[1] ?? null;
      resolve({ ok: code === 0 && cipher !== null, cipher, protocol, output });
    });
  });
}

async function startMoat(extra: string[]): Promise<number> {
  const p = await startMoatProcess([
    '--listen',
    '127.0.0.1:0',
    '--backend',
    BACKEND,
    '--state-dir',
    mkdtempSync(join(tmp, 'state-')),
    ...extra,
  ]);
  running.push(p);
  return p.port;
}

// SECLEVEL=0 on the client side: OpenSSL 3 itself refuses TLS 1.1 and SHA-1 suites at its default
// level, and the question here is what moat accepts, not what this openssl offers.
const OLD = 'DEFAULT:@SECLEVEL=0';

describe('client TLS offers only AEAD suites with forward secrecy', { concurrency: true }, () => {
  let ecdsaPort = 0;
  let rsaPort = 0;
  before(async () => {
    const key = join(tmp, 'rsa.key');
    const cert = join(tmp, 'rsa.pem');
    await promisify(execFile)('openssl', [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-noenc', '-keyout', key, '-out', cert],
      ...['-subj', '/CN=moat rsa test', '-days', '2'],
    ]);
    // The self-signed ECDSA certificate moat generates, and a configured RSA one.
    [ecdsaPort, rsaPort] = await Promise.all([
      startMoat([]),
      startMoat(['--tls-cert', cert, '--tls-key', key]),
    ]);
  });

  const CBC_SHA1 = 'AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0';
  // [certificate, protocol flag, the client's cipher list, the suite agreed, or null: refused]
  const cases: Array<
    [cert: 'ecdsa' | 'rsa', version: string, ciphers: string | null, expect: string | null]
  > = [
    ['ecdsa', '-tls1_2', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
    ['ecdsa', '-tls1_2', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    ['rsa', '-tls1_2', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
    ['ecdsa', '-tls1_2', CBC_SHA1, null],
    ['rsa', '-tls1_2', CBC_SHA1, null],
    ['ecdsa', '-tls1_2', 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384', null], // CBC, SHA-2 MAC
    ['rsa', '-tls1_2', 'AES128-GCM-SHA256:AES256-GCM-SHA384', null], // RSA key exchange: no forward secrecy
    ['rsa', '-tls1_2', 'DHE-RSA-AES128-GCM-SHA256', null], // finite-field DH: not offered
    ['ecdsa', '-tls1_1', OLD, null],
    ['rsa', '-tls1', OLD, null],
    ['ecdsa', '-tls1_3', null, 'TLS_AES_256_GCM_SHA384'],
    // The server's preference wins: a client listing CBC first still gets GCM.
    [
      'rsa',
      '-tls1_2',
      'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0',
      'ECDHE-RSA-AES128-GCM-SHA256',
    ],
  ];
  for (const [cert, version, ciphers, expect] of cases) {
    test(`${cert} ${version} ${ciphers ?? '(default)'}: ${expect ?? 'refused'}`, async () => {
      const h = await sClient(cert === 'ecdsa' ? ecdsaPort : rsaPort, [
        version,
        ...(ciphers === null ? [] : ['-cipher', ciphers]),
      ]);
      if (expect === null) assert.equal(h.ok, false, `handshake succeeded with ${h.cipher}\n${h.output}`);
      else assert.equal(h.cipher, expect, h.output);
    });
  }
});

test("SHOW VARIABLES on the admin port names the suites, as MySQL's ssl_cipher and tls_ciphersuites", async () => {
  const dba = { user: 'dba', password: 'Adm1n-pw' };
  const moat = await startInProcess(backend, {
    admin: {
      listen: '127.0.0.1:0',
      users: [{ user: dba.user, passwordHash: nativePasswordHash(dba.password) }],
    },
  });
  try {
    const a = moat.gateway.adminAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    const conn = await mysql.createConnection({ ...dba, host: '127.0.0.1', port: a.port });
    const [rows] = await conn.query("SHOW VARIABLES LIKE '%cipher%'");
    await conn.end();
    const v = Object.fromEntries(
      (rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, r.Value]),
    );
    assert.deepEqual(v, {
      ssl_cipher: TLS_CIPHERS.split(':')
        .filter((s) => !s.startsWith('TLS_'))
        .join(':'),
      tls_ciphersuites: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256',
    });
    assert.doesNotMatch(v.ssl_cipher ?? '', /CBC|-SHA(:|$)/);
  } finally {
    await moat.stop();
  }
});
