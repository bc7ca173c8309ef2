// A fleet: three real `moat start` processes sharing their guard state on a real redis-server that
// this test starts on a free port (never the system's 6379). Failures spread across the instances
// reach the thresholds exactly; blocks and unblocks hold everywhere within a second; the fleet views
// show every instance; Redis killed and restarted empty: nobody crashes, service goes on, and the
// state made during the outage reaches the whole fleet afterwards.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { ADMIN_USER, configHead } from '../harness/config-file.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, sendGarbage } from '../harness/hosts.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { type MoatProcess, runMoat, startMoatProcess } from '../harness/spawn-moat.ts';

const backend = testBackend();
const dir = mkdtempSync(join(tmpdir(), 'moat-fleet-'));
const TOKEN = 'fleet-test-token';
const MAX_CONNECT_ERRORS = 5;

interface Instance {
  name: string;
  proc: MoatProcess & { port: number };
  adminPort: number;
  httpPort: number | null;
  admin(sql: string): Promise<Record<string, unknown>[]>;
  login(from: string, password?: string): Promise<number>;
  /**
   * A login that cannot succeed — an existing native-password account, wrong password, a different
   * account each time so that connection control never delays it: 1045 while the host is admitted,
   * 1129 once it is blocked. Unlike a successful login it leaves the host's connect errors alone.
   * (Not an unknown account: MariaDB answers those with a plugin picked by the name, sometimes
   * client_ed25519, which mysql2 cannot speak, and its hang-up is a handshake error.)
   */
  probe(from: string): Promise<number>;
}

let redis: RedisServer;
let probes = 0;
const PROBE_USERS = [
  backend.users.app.user,
  backend.users.app2.user,
  backend.users.bench.user,
  backend.users.nopw.user,
];
let fleet: Instance[] = [];
const byName = (n: string): Instance => fleet.find((i) => i.name === n)!;

async function startInstance(name: string, url: string): Promise<Instance> {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    `${configHead(backend, join(dir, name), { admin: true })}  http:
    listen: 127.0.0.1:0
    tokenSha256: "${createHash('sha256').update(TOKEN).digest('hex')}"
guard:
  max_connect_errors: ${MAX_CONNECT_ERRORS}
  connection_control_failed_connections_threshold: 3
  persistIntervalMs: 100
state:
  store: redis
  instance: ${name}
  redis:
    url: ${url}
    namespace: fleet-test
    # Generous: a loaded CI machine must not turn into a Redis outage here (fleet-start tests those).
    commandTimeoutMs: 2000
    unknownHostsWhenDown: ${name === 'c' ? 'deny' : 'allow'}
`,
  );
  const proc = await startMoatProcess(['--config', config]);
  await proc.waitForLog((l) => l.msg === 'shared state on Redis reconciled');
  const adminLine = await proc.waitForLog((l) => l.msg === 'admin port listening');
  const adminPort = Number(String(adminLine.admin).split(':')[1]);
  const httpLine = await proc.waitForLog((l) => l.msg === 'admin HTTP listening');
  const httpPort = Number(String(httpLine.http).split(':')[1]);
  return {
    name,
    proc,
    adminPort,
    httpPort,
    admin: async (sql) => {
      const c = await mysql.createConnection({
        host: '127.0.0.1',
        port: adminPort,
        ...ADMIN_USER,
      });
      try {
        const [rows] = await c.query(sql);
        return rows as Record<string, unknown>[];
      } finally {
        await c.end();
      }
    },
    login: (from, password = backend.users.app.password) =>
      loginCodeFrom({ host: '127.0.0.1', port: proc.port }, from, { user: backend.users.app.user, password }),
    probe: (from) =>
      loginCodeFrom({ host: '127.0.0.1', port: proc.port }, from, {
        user: PROBE_USERS[probes++ % PROBE_USERS.length]!,
        password: 'not-the-password',
      }),
  };
}

/** Polls `read` until it returns `want` or `ms` pass; returns the last value and when it matched. */
async function within<T>(ms: number, read: () => Promise<T>, want: T): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let value = await read();
  while (!isDeepEqual(value, want) && Date.now() - start < ms) {
    await sleep(25);
    value = await read();
  }
  return { value, ms: Date.now() - start };
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const garbage = (i: Instance, from: string) => sendGarbage({ host: '127.0.0.1', port: i.proc.port }, from);

before(async () => {
  redis = await startRedis();
  fleet = await Promise.all(['a', 'b', 'c'].map((n) => startInstance(n, redis.url)));
});

after(async () => {
  await Promise.all(fleet.map((i) => i.proc.kill()));
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('connect errors spread across instances reach max_connect_errors exactly, and the block holds everywhere', async () => {
  const [a, b, c] = [byName('a'), byName('b'), byName('c')];
  const ip = '127.0.7.1';
  await garbage(a, ip);
  await garbage(a, ip);
  await garbage(b, ip);
  await garbage(b, ip);
  const four = await within(
    1000,
    async () =>
      (await c.admin(`SELECT SUM_CONNECT_ERRORS AS n FROM moat.fleet_hosts WHERE IP = '${ip}'`))[0]?.n,
    4,
  );
  assert.equal(four.value, 4, 'the shared count is the sum over instances');
  assert.deepEqual(
    await c.admin(`SELECT IP FROM moat.blocked_hosts WHERE IP = '${ip}'`),
    [],
    'not blocked at 4 of 5',
  );
  await garbage(c, ip);
  // Probed with a login that fails (1045 until the block arrives): a successful login would reset
  // the host's connect errors, as in MySQL, and race the fifth error's count.
  for (const i of fleet) {
    const r = await within(1000, () => i.probe(ip), 1129);
    assert.equal(r.value, 1129, `instance ${i.name} refuses the host within a second`);
  }
  // One block, made once (by the instance whose error reached the count).
  // (Log lines arrive through the processes' stdout, a moment after the block is in force.)
  const made = () =>
    fleet.flatMap((i) => i.proc.lines.filter((l) => l.msg === 'host blocked' && l.ip === ip));
  await within(1000, async () => made().length, 1);
  await sleep(100); // and no second one follows
  assert.equal(made().length, 1, `one 'host blocked' line: ${JSON.stringify(made())}`);
  // Each instance writes its ledger rows every guard.persistIntervalMs (100 ms here), so the
  // fleet views may lag by that much. Handshake errors: the five pieces of garbage (the refusals
  // after the block count as host-blocked).
  const want = [{ INSTANCES: 3, SUM_CONNECT_ERRORS: 5, COUNT_HANDSHAKE_ERRORS: 5, BLOCKED: 'YES' }];
  const sql = `SELECT INSTANCES, SUM_CONNECT_ERRORS, COUNT_HANDSHAKE_ERRORS, BLOCKED FROM moat.fleet_hosts WHERE IP = '${ip}'`;
  const outcomes = () =>
    fleet.flatMap((i) =>
      i.proc.lines
        .filter((l) => (l.login as { clientAddress?: string } | undefined)?.clientAddress === ip)
        .map((l) => `${i.name}:${(l.login as { outcome: string; user: string | null }).outcome}`),
    );
  assert.deepEqual(
    (await within(1000, () => a.admin(sql), want)).value,
    want,
    `outcomes: ${outcomes().join(' ')}`,
  );
  const tagged = await a.admin(
    `SELECT INSTANCE, COUNT_HANDSHAKE_ERRORS AS n FROM moat.fleet_host_cache WHERE IP = '${ip}' ORDER BY INSTANCE`,
  );
  assert.deepEqual(tagged, [
    { INSTANCE: 'a', n: 2 },
    { INSTANCE: 'b', n: 2 },
    { INSTANCE: 'c', n: 1 },
  ]);
  // The operator CLI on the fleet view.
  const cli = await runMoat(
    ['hosts', '--fleet', '--json', '--url', `http://127.0.0.1:${a.httpPort}`],
    10_000,
    {
      MOAT_TOKEN: TOKEN,
    },
  );
  assert.equal(cli.code, 0, cli.stderr);
  const fromCli = JSON.parse(cli.stdout) as {
    totals: Array<{ ip: string; instances: number; sumConnectErrors: number }>;
  };
  assert.deepEqual(
    fromCli.totals.filter((t) => t.ip === ip).map((t) => [t.instances, t.sumConnectErrors]),
    [[3, 5]],
  );
  const res = await fetch(`http://127.0.0.1:${b.httpPort}/api/fleet`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = (await res.json()) as {
    instances: Array<{ instance: string }>;
    totals: Array<{ ip: string; sumConnectErrors: number; blocked: boolean }>;
  };
  assert.deepEqual(
    body.instances.map((i) => i.instance),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    body.totals.filter((t) => t.ip === ip).map((t) => [t.sumConnectErrors, t.blocked]),
    [[5, true]],
  );
});

test('failed logins spread across instances reach the connection-control threshold exactly', async () => {
  const ip = '127.0.7.2';
  for (const i of fleet) assert.equal(await i.login(ip, 'wrong'), 1045);
  const key = `'${backend.users.app.user}'@'${ip}'`;
  const a = byName('a');
  const seen = await within(
    1000,
    async () =>
      (
        await a.admin(
          `SELECT FAILED_ATTEMPTS AS n FROM information_schema.CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS WHERE USERHOST = ${sqlString(key)}`,
        )
      )[0]?.n,
    3,
  );
  assert.equal(seen.value, 3, 'instance a counts the failures made on b and c');
  const t0 = Date.now();
  assert.equal(await a.login(ip), 0);
  assert.ok(Date.now() - t0 >= 950, `the fourth attempt waits the 1 s delay (took ${Date.now() - t0} ms)`);
  const cleared = await within(
    1000,
    async () =>
      (
        await byName('c').admin(
          `SELECT COUNT(*) AS n FROM information_schema.CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS WHERE USERHOST = ${sqlString(key)}`,
        )
      )[0]?.n,
    0,
  );
  assert.equal(cleared.value, 0, 'the success clears the count on every instance');
});

test('a manual block on one instance and an unblock on another reach every instance within a second', async (t) => {
  const ip = '127.0.7.3';
  const [a, b, c] = [byName('a'), byName('b'), byName('c')];
  assert.equal(await b.login(ip), 0);
  await a.admin(`BLOCK HOST '${ip}'`);
  for (const i of [b, c]) {
    const r = await within(1000, () => i.login(ip), 1129);
    assert.equal(r.value, 1129, `blocked on ${i.name} after ${r.ms} ms`);
    t.diagnostic(`blocked on ${i.name} after ${r.ms} ms`);
  }
  await b.admin(`UNBLOCK HOST '${ip}'`);
  for (const i of [a, c]) {
    const r = await within(1000, () => i.login(ip), 0);
    assert.equal(r.value, 0, `unblocked on ${i.name} after ${r.ms} ms`);
    t.diagnostic(`unblocked on ${i.name} after ${r.ms} ms`);
  }
});

test('RELOAD CONFIG on one instance reloads every instance', async () => {
  const before = fleet.map((i) => i.proc.lines.filter((l) => l.msg === 'configuration reloaded').length);
  await byName('b').admin('RELOAD CONFIG');
  for (const [n, i] of fleet.entries()) {
    await i.proc.waitForLog(
      (l) =>
        l.msg === 'configuration reloaded' &&
        i.proc.lines.filter((x) => x.msg === 'configuration reloaded').length > before[n]!,
      2000,
    );
  }
});

test('SET GLOBAL on one instance reaches every instance (one threshold for the fleet)', async () => {
  const value = async (i: Instance) =>
    (await i.admin("SHOW GLOBAL VARIABLES LIKE 'max_connect_errors'"))[0]?.Value;
  for (const [from, v] of [
    ['a', 7],
    ['c', MAX_CONNECT_ERRORS],
  ] as const) {
    await byName(from).admin(`SET GLOBAL max_connect_errors = ${v}`);
    for (const i of fleet) {
      const r = await within(1000, () => value(i), String(v));
      assert.equal(r.value, String(v), `${i.name} took the value set on ${from}`);
    }
  }
});

test('Redis killed and restarted empty: service continues, fail-closed refuses unknown hosts, state reconciles', async () => {
  const [a, b, c] = [byName('a'), byName('b'), byName('c')];
  await redis.kill();
  for (const i of fleet)
    await i.proc.waitForLog((l) => String(l.msg).startsWith('shared state on Redis unavailable'), 5000);
  const status = async (i: Instance, name: string) =>
    Number((await i.admin(`SHOW GLOBAL STATUS LIKE '${name}'`))[0]?.Value);
  assert.equal(await status(a, 'Moat_redis_up'), 0);

  assert.equal(await a.login('127.0.7.2'), 0, 'a known host logs in');
  assert.equal(await c.login('127.0.7.2'), 0, 'a known host logs in on the fail-closed instance too');
  assert.equal(await a.login('127.0.7.9'), 0, 'fail-open: an unknown host is admitted');
  assert.equal(await c.login('127.0.7.9'), 1130, 'fail-closed: an unknown host is refused');
  assert.equal(await b.login('127.0.7.1'), 1129, 'blocks made before the outage still hold');
  const fleetDown = await a.admin('SELECT * FROM moat.fleet_hosts').then(
    () => 'answered',
    (e: { message: string }) => e.message,
  );
  assert.match(fleetDown, /fleet state on Redis is unavailable/);

  // During the outage: connect errors split 3 + 2 (each below the limit alone), and a manual block.
  for (let n = 0; n < 3; n++) await garbage(a, '127.0.7.5');
  for (let n = 0; n < 2; n++) await garbage(b, '127.0.7.5');
  await a.admin("BLOCK HOST '127.0.7.6'");
  await a.admin('SET GLOBAL max_user_connections = 100');
  assert.ok((await status(a, 'Moat_redis_pending')) > 0, 'changes wait for Redis');
  assert.equal(await c.login('127.0.7.6'), 1130, 'c has not heard of the block yet (and fails closed)');

  await redis.restart();
  for (const i of fleet) {
    await i.proc.waitForLog(
      (l) =>
        l.msg === 'shared state on Redis reconciled' &&
        i.proc.lines.filter((x) => x.msg === 'shared state on Redis reconciled').length >= 2,
      8000,
    );
  }
  for (const i of [b, c])
    assert.equal(
      (await within(2000, () => i.login('127.0.7.6'), 1129)).value,
      1129,
      `${i.name}: a's outage block`,
    );
  for (const i of fleet)
    assert.equal(
      (await within(2000, () => i.login('127.0.7.1'), 1129)).value,
      1129,
      `${i.name}: the older block survives Redis's loss`,
    );
  assert.equal(
    (await within(2000, () => c.login('127.0.7.5'), 1129)).value,
    1129,
    'errors made on a and b during the outage add up to the limit after it',
  );
  assert.equal(await c.login('127.0.7.9'), 0, 'with Redis back, c admits the host it refused');
  const maxUser = async (i: Instance) =>
    (await i.admin("SHOW GLOBAL VARIABLES LIKE 'max_user_connections'"))[0]?.Value;
  for (const i of [b, c]) {
    assert.equal(
      (await within(2000, () => maxUser(i), '100')).value,
      '100',
      `${i.name}: the outage's SET GLOBAL`,
    );
  }
  assert.equal(await status(a, 'Moat_redis_up'), 1);
  assert.equal(await status(a, 'Moat_redis_pending'), 0);
  assert.ok((await status(c, 'Moat_redis_outages')) >= 1);
  for (const i of fleet) assert.equal(i.proc.child.exitCode, null, `${i.name} is still running`);
});

test('an instance restarted on the Redis store gets its ledger rows and the fleet blocks back', async () => {
  const b = byName('b');
  await b.proc.child.kill('SIGTERM');
  await b.proc.exited;
  const again = await startInstance('b', redis.url);
  fleet = fleet.map((i) => (i.name === 'b' ? again : i));
  const rows = await again.admin(
    "SELECT COUNT_HANDSHAKE_ERRORS AS n FROM performance_schema.host_cache WHERE IP = '127.0.7.1'",
  );
  assert.deepEqual(rows, [{ n: 2 }], "b's own ledger row, from Redis");
  assert.equal(await again.login('127.0.7.1'), 1129, 'the fleet block, from Redis');
});

test('FLUSH HOSTS on one instance lifts automatic blocks and starts the shared counts again everywhere', async () => {
  const [a, b, c] = [byName('a'), byName('b'), byName('c')];
  const ip = '127.0.7.4';
  for (let n = 0; n < MAX_CONNECT_ERRORS; n++) await garbage(a, ip);
  for (const i of fleet) assert.equal((await within(1000, () => i.probe(ip), 1129)).value, 1129);
  await b.admin('FLUSH HOSTS');
  // Before any login (a success would reset the count too): the shared count is gone, and no
  // instance holds the block.
  const sum = async () =>
    (await a.admin(`SELECT SUM_CONNECT_ERRORS AS n FROM moat.fleet_hosts WHERE IP = '${ip}'`))[0]?.n;
  assert.equal((await within(1000, sum, 0)).value, 0);
  for (const i of fleet) {
    const blocked = () => i.admin(`SELECT IP FROM moat.blocked_hosts WHERE IP = '${ip}'`);
    assert.deepEqual((await within(1000, blocked, [])).value, [], `${i.name} lifted the block`);
  }
  await garbage(c, ip);
  assert.equal((await within(1000, sum, 1)).value, 1, 'counting starts again');
  for (const i of fleet) assert.equal(await i.login(ip), 0, `${i.name} admits the host`);
});
