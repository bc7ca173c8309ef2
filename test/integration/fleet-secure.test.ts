// The fleet's Redis with TLS and AUTH, as production runs it: a real redis-server that speaks only
// TLS (certificates made at test time) and admits only an ACL user with a password, limited to
// moat's keys. moat reaches it with rediss://, the CA, the user and a password file; a wrong
// password keeps the shared state down with Redis's own reason in the log, and never the password.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type Certs, generateCerts } from '../harness/certs.ts';
import { configHead } from '../harness/config-file.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { startMoat } from '../harness/moat.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { startMoatProcess } from '../harness/spawn-moat.ts';

const backend = testBackend();
const dir = mkdtempSync(join(tmpdir(), 'moat-fleet-secure-'));
const PASSWORD = 'fleet-s3cret-do-not-log';
let certs: Certs;
let redis: RedisServer;

before(async () => {
  certs = await generateCerts(join(dir, 'certs'));
  redis = await startRedis({
    tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
    // The default user is off: every client must log in; moat's user sees only moat's keys.
    extraArgs: ['--user', 'default', 'off', '--user', 'moat', 'on', `>${PASSWORD}`, '~moat:*', '&*', '+@all'],
  });
  writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'wrong'), 'not-the-password\n', { mode: 0o600 });
});

after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const state = (passwordFile: string) => ({
  store: 'redis',
  instance: 'secure',
  redis: { url: redis.url, username: 'moat', passwordFile, tls: { ca: certs.ca }, namespace: 'secure' },
});

test("rediss:// with the CA and an ACL user: shared state up, blocks stored under moat's keys", async () => {
  const moat = await startMoat(backend, { state: state(join(dir, 'pw')) });
  const client = new Redis({
    host: '127.0.0.1',
    port: redis.port,
    username: 'moat',
    password: PASSWORD,
    tls: { ca: readFileSync(certs.ca) },
    lazyConnect: true,
  });
  try {
    for (let i = 0; i < 500 && !moat.gateway.fleet?.up; i++) await sleep(20);
    assert.equal(moat.gateway.fleet?.up, true, 'reconciled over TLS with AUTH');
    moat.gateway.guard.block('192.0.2.77', 'test', null);
    await client.connect();
    let stored: string | null = null;
    for (let i = 0; i < 250 && stored === null; i++) {
      stored = await client.get('moat:{secure}:block:192.0.2.77');
      if (stored === null) await sleep(20);
    }
    assert.equal(JSON.parse(stored ?? '{}').reason, 'manual');
  } finally {
    client.disconnect();
    await moat.stop();
  }
});

test('a wrong password: moat serves on local state, says why, and never logs a password', async () => {
  const config = join(dir, 'wrong.yaml');
  writeFileSync(
    config,
    `${configHead(backend, join(dir, 'state-wrong'))}state:
  store: redis
  instance: wrong
  redis:
    url: ${redis.url}
    username: moat
    passwordFile: ${join(dir, 'wrong')}
    tls: { ca: ${certs.ca} }
`,
  );
  const moat = await startMoatProcess(['--config', config]);
  try {
    const down = await moat.waitForLog((l) => String(l.msg).startsWith('shared state on Redis unavailable'));
    assert.match(String(down.err), /WRONGPASS/);
    const { user, password } = backend.users.app;
    assert.equal(
      await loginCodeFrom({ host: '127.0.0.1', port: moat.port }, '127.0.8.1', { user, password }),
      0,
    );
    assert.ok(!moat.stdout().includes('not-the-password') && !moat.stderr().includes('not-the-password'));
    assert.ok(!moat.stdout().includes(PASSWORD));
  } finally {
    await moat.kill();
  }
});
