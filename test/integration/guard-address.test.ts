// One canonical client address everywhere (src/model/address.ts), through real clients: a block
// made with any spelling of an address holds against the client Node reports in its own spelling
// — over IPv6 from [::1] and for an IPv4-mapped spelling of an IPv4 client — on the admin port
// (the mariadb CLI) and the HTTP API; text that is no address gets a clear error (1210 / 400).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startMoatWithAdmin } from '../harness/admin-cli.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, type Target } from '../harness/hosts.ts';
import type { RunningMoat } from '../harness/moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const TOKEN = 'address-token-0123456789';
let moat: RunningMoat;
let cli: (sql: string) => Promise<string>;
let adminPort = 0;
let v6: Target;
let http = '';

before(async () => {
  ({ moat, cli, adminPort } = await startMoatWithAdmin(backend, {
    listeners: [{ address: '127.0.0.1:0' }, { address: '[::1]:0' }],
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
    guard: { connection_control_failed_connections_threshold: 0 },
  }));
  const six = moat.gateway.addresses().find((a) => a.kind === 'tcp' && a.host.includes(':'));
  assert.ok(six !== undefined && six.kind === 'tcp', 'a listener on [::1] (this machine has IPv6 loopback)');
  v6 = { host: '::1', port: six.port };
  const h = moat.gateway.httpAddress;
  assert.ok(h !== null && h.kind === 'tcp');
  http = `http://${h.host}:${h.port}`;
});

after(() => moat.stop());

async function cliError(sql: string): Promise<string> {
  try {
    await run('mariadb', ['-h127.0.0.1', `-P${adminPort}`, '-udba', '-pAdm1n-pw', '--batch', '-e', sql]);
  } catch (e) {
    return String((e as { stderr?: string }).stderr);
  }
  assert.fail(`expected an error from ${sql}`);
}

const fromV6 = () => loginCodeFrom(v6, null, app);

test('BLOCK HOST in any spelling of ::1 blocks the client from [::1]; UNBLOCK in another lifts it', async () => {
  assert.equal(await fromV6(), 0);
  const spellings = ['0:0:0:0:0:0:0:1', '::0001', '0000:0000:0000:0000:0000:0000:0000:0001'];
  for (const [i, spelling] of spellings.entries()) {
    await cli(`BLOCK HOST '${spelling}'`);
    assert.equal(await cli('SELECT IP FROM moat.blocked_hosts'), 'IP\n::1\n', `${spelling} is stored as ::1`);
    assert.equal(await fromV6(), 1129, `blocked by '${spelling}'`);
    await cli(`UNBLOCK HOST '${spellings[(i + 1) % spellings.length]}'`);
    assert.equal(await cli('SELECT IP FROM moat.blocked_hosts'), '', 'none');
    assert.equal(await fromV6(), 0, 'unblocked by another spelling');
  }
});

test('an IPv4-mapped spelling, upper case, blocks the IPv4 client', async () => {
  await cli("BLOCK HOST '::FFFF:7F00:0501'");
  assert.equal(await cli('SELECT IP FROM moat.blocked_hosts'), 'IP\n127.0.5.1\n');
  assert.equal(await loginCodeFrom(moat, '127.0.5.1', app), 1129);
  await cli("UNBLOCK HOST '::ffff:127.0.5.1'");
  assert.equal(await loginCodeFrom(moat, '127.0.5.1', app), 0);
});

test('BLOCK / UNBLOCK HOST of what is no address: ERROR 1210, nothing blocked', async () => {
  for (const junk of ['foo', '999.1.1.1', '', '10.0.0.0/8', 'fe80::1%']) {
    assert.match(
      await cliError(`BLOCK HOST '${junk}'`),
      /ERROR 1210 \(HY000\).*Incorrect arguments to BLOCK HOST: '.*' is not an IPv4 or IPv6 address/,
      junk,
    );
    assert.match(await cliError(`UNBLOCK HOST '${junk}'`), /ERROR 1210 .*UNBLOCK HOST/, junk);
  }
  assert.equal(await cli('SELECT IP FROM moat.blocked_hosts'), '', 'none');
});

async function post(path: string, body: unknown): Promise<{ status: number; data: Record<string, unknown> }> {
  const res = await fetch(`${http}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, data: (await res.json()) as Record<string, unknown> };
}

test('the HTTP API: any spelling blocks the canonical address; junk is 400 JSON', async () => {
  const blocked = await post('/api/block', { ip: '0:0::0001' });
  assert.equal(blocked.status, 200);
  assert.equal((blocked.data.blocked as { ip: string }).ip, '::1');
  assert.equal(await fromV6(), 1129);
  assert.deepEqual(await post('/api/unblock', { ip: '0000::1' }), { status: 200, data: { unblocked: true } });
  assert.equal(await fromV6(), 0);
  for (const ip of ['foo', '999.1.1.1', '']) {
    const r = await post('/api/block', { ip });
    assert.equal(r.status, 400, ip);
    assert.match(String(r.data.error), /is not an IPv4 or IPv6 address/, ip);
  }
});
