// `moat check` inside the running gateway: with a check account configured (here the harness
// server's root over its unix socket), the findings are in moat.posture_findings at start,
// CHECK POSTURE runs the check again and answers with them, and /api/posture serves them; without
// one, CHECK POSTURE says what to configure.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { nativePasswordHash } from '../../src/admin/password.ts';
import { ADMIN_USER } from '../harness/config-file.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const backend = testBackend();
const TOKEN = 'posture-gateway-token';
const PASSWORD_ENV = 'MOAT_TEST_POSTURE_PW';
let checked: RunningMoat;
let plain: RunningMoat;

const admin = {
  listen: '127.0.0.1:0',
  users: [{ user: ADMIN_USER.user, passwordHash: nativePasswordHash(ADMIN_USER.password) }],
  http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') },
};

async function query(m: RunningMoat, sql: string): Promise<Record<string, unknown>[]> {
  const a = m.gateway.adminAddress;
  assert.ok(a?.kind === 'tcp');
  const c = await mysql.createConnection({ host: a.host, port: a.port, ...ADMIN_USER });
  try {
    return (await c.query(sql))[0] as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

before(async () => {
  process.env[PASSWORD_ENV] = backend.users.root.password;
  checked = await startMoat(backend, {
    admin,
    posture: { user: 'root', passwordEnv: PASSWORD_ENV, endpoint: `unix:${backend.socket}`, intervalMs: 0 },
  });
  plain = await startMoat(backend, { admin });
});

after(async () => {
  await checked?.stop();
  await plain?.stop();
  delete process.env[PASSWORD_ENV];
});

test('the findings of the check run at start are in moat.posture_findings', async () => {
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 100 && rows.length === 0; i++) {
    rows = await query(checked, 'SELECT ID, SEVERITY, SUBJECT, FIX, CHECKED_AT FROM moat.posture_findings');
    if (rows.length === 0) await sleep(50);
  }
  assert.ok(rows.length > 0, 'the check ran at start');
  // The harness server has accounts at '%' with native passwords (the test clients log in over
  // TCP): real findings, each with its fix.
  assert.ok(
    rows.some((r) => r.SEVERITY !== 'pass' && String(r.FIX).length > 0),
    `some finding fails or warns, with a fix: ${JSON.stringify(rows.map((r) => r.ID))}`,
  );
  assert.ok(rows.every((r) => typeof r.CHECKED_AT === 'string'));
});

test('CHECK POSTURE runs the check again and answers with its findings', async () => {
  const before = checked.gateway.posture?.last.checkedAt ?? 0;
  const rows = await query(checked, 'CHECK POSTURE');
  assert.ok(rows.length > 0);
  assert.deepEqual(Object.keys(rows[0]!), ['SEVERITY', 'AREA', 'ID', 'SUBJECT', 'SEEN', 'FIX']);
  assert.ok((checked.gateway.posture?.last.checkedAt ?? 0) > before, 'a new run');
});

test('/api/posture serves the last check; POST runs it', async () => {
  const a = checked.gateway.httpAddress;
  assert.ok(a?.kind === 'tcp');
  const headers = { authorization: `Bearer ${TOKEN}` };
  const got = (await (await fetch(`http://${a.host}:${a.port}/api/posture`, { headers })).json()) as {
    configured: boolean;
    findings: Array<{ id: string; severity: string; fix: string }>;
    error: string | null;
  };
  assert.equal(got.configured, true);
  assert.equal(got.error, null);
  assert.ok(got.findings.length > 0);
  const posted = await fetch(`http://${a.host}:${a.port}/api/posture`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(posted.status, 200);
});

test('without a check account: CHECK POSTURE names the setting, the table is empty', async () => {
  await assert.rejects(query(plain, 'CHECK POSTURE'), /set posture\.user/);
  assert.deepEqual(await query(plain, 'SELECT * FROM moat.posture_findings'), []);
});
