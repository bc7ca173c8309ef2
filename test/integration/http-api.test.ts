// The HTTP API, /metrics and the operator CLI against a moat with traffic from several hosts:
// the bearer token (hash-only in config), each endpoint's shape, block / unblock / flush, the
// Prometheus text, and `moat hosts | blocked | block | unblock | status | sessions | report`
// as real child processes printing aligned tables and JSON.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, sendGarbage } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { MAIN, NODE } from '../harness/spawn-moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const TOKEN = 'test-token-0123456789';
let moat: RunningMoat;
let base = '';

before(async () => {
  moat = await startMoat(backend, {
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
    guard: { connection_control_failed_connections_threshold: 1 },
  });
  const a = moat.gateway.httpAddress;
  assert.ok(a !== null && a.kind === 'tcp');
  base = `http://${a.host}:${a.port}`;
  await garbage('127.0.4.1');
  await garbage('127.0.4.1');
  assert.equal(await appLogin('127.0.4.2', 'wrong'), 1045);
  assert.equal(await appLogin('127.0.4.3'), 0);
});

after(() => moat.stop());

function appLogin(from: string, password: string = app.password): Promise<number> {
  return loginCodeFrom(moat, from, { ...app, password }, 'SELECT 1');
}

function garbage(from: string): Promise<Buffer> {
  return sendGarbage(moat, from);
}

async function api(
  method: string,
  path: string,
  body?: unknown,
  token = TOKEN,
  // biome-ignore lint/suspicious/noExplicitAny: the tests read the API's JSON by path
): Promise<{ status: number; data: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, data: await res.json() };
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(NODE, [MAIN, ...args, '--url', base], {
    env: { PATH: process.env.PATH ?? '', MOAT_TOKEN: TOKEN },
  });
  return stdout;
}

test('no token or a wrong one: 401, and nothing leaks', async () => {
  const none = await fetch(`${base}/api/hosts`);
  assert.equal(none.status, 401);
  const wrong = await api('GET', '/api/hosts', undefined, 'nope');
  assert.equal(wrong.status, 401);
  assert.deepEqual(Object.keys(wrong.data), ['error']);
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
});

test('hosts, failed logins, status, outcomes', async () => {
  const { data } = await api('GET', '/api/hosts');
  const byIp = new Map(data.hosts.map((h: { ip: string }) => [h.ip, h]));
  assert.deepEqual((byIp.get('127.0.4.1') as { counts: unknown }).counts, { handshake: 2 });
  assert.equal((byIp.get('127.0.4.1') as { sumConnectErrors: number }).sumConnectErrors, 2);
  assert.deepEqual((byIp.get('127.0.4.2') as { counts: unknown }).counts, { authentication: 1 });
  assert.equal((byIp.get('127.0.4.3') as { successes: number }).successes, 1);
  const failed = await api('GET', '/api/failed-logins');
  assert.deepEqual(failed.data.failedLogins, [{ userHost: `'${app.user}'@'127.0.4.2'`, failedAttempts: 1 }]);
  const status = await api('GET', '/api/status');
  assert.ok(status.data.status.Connections >= 4);
  assert.equal(status.data.variables.max_connect_errors, 100);
  const outcomes = await api('GET', '/api/outcomes');
  const total = outcomes.data.minutes.reduce(
    (n: number, m: { ok: number; failed: number }) => n + m.ok + m.failed,
    0,
  );
  assert.ok(total >= 4);
});

test('block, unblock and flush through the API', async () => {
  const b = await api('POST', '/api/block', { ip: '127.0.4.9', seconds: 3600 });
  assert.equal(b.status, 200);
  assert.equal(b.data.blocked.ip, '127.0.4.9');
  assert.equal(await appLogin('127.0.4.9'), 1129);
  assert.deepEqual((await api('POST', '/api/unblock', { ip: '127.0.4.9' })).data, { unblocked: true });
  assert.equal(await appLogin('127.0.4.9'), 0);
  assert.equal((await api('POST', '/api/block', { ip: 'not-an-ip' })).status, 400);
  assert.equal((await api('GET', '/api/nope')).status, 404);
});

test('/metrics: Prometheus text with logins by class, commands, status, event-loop lag', async () => {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  assert.match(text, /moat_logins_total\{outcome="handshake-error",class="handshake"\} 2/);
  assert.match(text, /moat_logins_total\{outcome="auth-denied",class="authentication"\} 1/);
  assert.match(text, /moat_commands_total\{command="Query",status="OK"\} \d+/);
  assert.match(text, /moat_status\{name="Connections"\} \d+/);
  assert.match(text, /moat_relay_bytes_total\{direction="backend_to_client"\} [1-9]\d*/);
  assert.match(text, /moat_process_nodejs_eventloop_lag_seconds \d/);
});

test('the CLI prints aligned tables, JSON with --json, and the security report', async () => {
  const hosts = await cli('hosts');
  const lines = hosts.trimEnd().split('\n');
  assert.match(lines[0]!, /^IP\s+HOST\s+CONNECTIONS\s+OK\s+CONNECT_ERRORS\s+FAILURES\s+LAST_SEEN\s+BLOCKED$/);
  assert.ok(
    lines.some((l) => /^127\.0\.4\.1\s+-\s+2\s+0\s+2\s+handshake:2\s/.test(l)),
    hosts,
  );
  const json = JSON.parse(await cli('hosts', '--failing', '--json')) as { hosts: Array<{ ip: string }> };
  // 127.0.4.9 failed once too: its attempt while blocked (COUNT_HOST_BLOCKED_ERRORS).
  assert.deepEqual(json.hosts.map((h) => h.ip).sort(), ['127.0.4.1', '127.0.4.2', '127.0.4.9']);
  assert.match(await cli('block', '127.0.4.8', '--for', '10m'), /blocked 127\.0\.4\.8 for 10m/);
  assert.match(await cli('blocked'), /127\.0\.4\.8\s+manual\s+http@/);
  assert.match(await cli('unblock', '127.0.4.8'), /unblocked 127\.0\.4\.8/);
  assert.match(await cli('status'), /Connections\s+\d+/);
  assert.match(await cli('sessions'), /^ID\s+USER\s+HOST/);
  const report = await cli('report');
  assert.match(report, /Hosts whose connections all failed \(none ever succeeded\): 2/);
  assert.match(report, /Hosts with handshake errors[^\n]*: 1\n[^\n]*\n127\.0\.4\.1 /);
  assert.match(
    report,
    /Users under login delay \(connection control\): 1\nUSERHOST\s+FAILED_ATTEMPTS\n'app'@'127\.0\.4\.2'\s+1/,
  );
});

test('the CLI without a token, or with moat unreachable, says so and exits 1', async () => {
  await assert.rejects(
    run(NODE, [MAIN, 'hosts', '--url', base], { env: { PATH: process.env.PATH ?? '' } }),
    (e: Error & { code?: number; stderr?: string }) => {
      assert.equal(e.code, 1);
      assert.match(String(e.stderr), /no token/);
      return true;
    },
  );
  await assert.rejects(
    run(NODE, [MAIN, 'hosts', '--url', 'http://127.0.0.1:1'], {
      env: { PATH: process.env.PATH ?? '', MOAT_TOKEN: 'x' },
    }),
    (e: Error & { stderr?: string }) => /cannot reach moat/.test(String(e.stderr)),
  );
});
