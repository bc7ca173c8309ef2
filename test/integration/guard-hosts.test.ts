// performance_schema.hosts / accounts / users with MySQL's meaning, through the `mariadb` CLI on
// moat's admin port: a connection counts under its host, account and user only once it has
// authenticated; failed and unfinished ones count under the NULL row. The DBA's query for "hosts
// from which only failed attempts were made" (a host_cache row with no hosts row) must find
// exactly those hosts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startMoatWithAdmin } from '../harness/admin-cli.ts';
import { testBackend } from '../harness/env.ts';
import { connectFrom, loginCodeFrom, mysqlFrom, sendGarbage } from '../harness/hosts.ts';
import type { RunningMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
let moat: RunningMoat;
let cli: (sql: string) => Promise<string>;

before(async () => {
  ({ moat, cli } = await startMoatWithAdmin(backend, {
    guard: { connection_control_failed_connections_threshold: 0 },
  }));
});

after(() => moat.stop());

const login = (from: string, password: string = app.password) =>
  loginCodeFrom(moat, from, { ...app, password });

test("the DBA's query finds the hosts from which only failed attempts were made", async () => {
  // Only failures: a wrong password; garbage instead of a handshake; both.
  assert.equal(await login('127.0.4.1', 'wrong'), 1045);
  assert.equal(await login('127.0.4.1', 'wrong'), 1045);
  await sendGarbage(moat, '127.0.4.2');
  assert.equal(await login('127.0.4.5', 'wrong'), 1045);
  await sendGarbage(moat, '127.0.4.5');
  // Failures and a success.
  assert.equal(await login('127.0.4.3', 'wrong'), 1045);
  assert.equal(await login('127.0.4.3'), 0);
  // Only successes.
  assert.equal(await login('127.0.4.4'), 0);
  assert.equal(await login('127.0.4.4'), 0);
  await moat.waitForLogin((r) => r.clientAddress === '127.0.4.4');

  const out = await cli(
    'SELECT hc.* FROM performance_schema.host_cache hc LEFT JOIN performance_schema.hosts h1 ON (h1.host = hc.host) ' +
      'LEFT JOIN performance_schema.hosts h2 ON (h2.host = hc.ip) WHERE h2.host IS NULL AND h1.host IS NULL\\G',
  );
  const ips = [...out.matchAll(/^\s*IP: (\S+)$/gm)].map((m) => m[1]).sort();
  assert.deepEqual(ips, ['127.0.4.1', '127.0.4.2', '127.0.4.5'], out);

  // hosts: authenticated connections per host, the six failed ones under NULL.
  assert.equal(
    await cli(
      'SELECT HOST, CURRENT_CONNECTIONS, TOTAL_CONNECTIONS FROM performance_schema.hosts ORDER BY HOST IS NOT NULL, HOST',
    ),
    'HOST\tCURRENT_CONNECTIONS\tTOTAL_CONNECTIONS\nNULL\t0\t6\n127.0.4.3\t0\t1\n127.0.4.4\t0\t2\n',
  );
  assert.equal(
    await cli(
      'SELECT USER, HOST, TOTAL_CONNECTIONS FROM performance_schema.accounts ORDER BY HOST IS NOT NULL, HOST',
    ),
    `USER\tHOST\tTOTAL_CONNECTIONS\nNULL\tNULL\t6\n${app.user}\t127.0.4.3\t1\n${app.user}\t127.0.4.4\t2\n`,
  );
  assert.equal(
    await cli('SELECT USER, TOTAL_CONNECTIONS FROM performance_schema.users ORDER BY USER IS NOT NULL, USER'),
    `USER\tTOTAL_CONNECTIONS\nNULL\t6\n${app.user}\t3\n`,
  );
  // The ledger keeps every attempt's real address.
  const total = await cli(
    "SELECT IP, COUNT_AUTHENTICATION_ERRORS FROM performance_schema.host_cache WHERE IP = '127.0.4.3'",
  );
  assert.equal(total, 'IP\tCOUNT_AUTHENTICATION_ERRORS\n127.0.4.3\t1\n');
});

test('a live session counts under its host; one still logging in under NULL', async () => {
  const c = await mysqlFrom(moat, '127.0.4.6', app);
  // A connection that has not sent its handshake response yet: NULL, not its host.
  const pending = connectFrom(moat, '127.0.4.7');
  await new Promise((resolve, reject) => {
    pending.once('data', resolve);
    pending.once('error', reject);
  });
  try {
    const rows = await cli(
      "SELECT HOST, CURRENT_CONNECTIONS FROM performance_schema.hosts WHERE HOST IS NULL OR HOST LIKE '127.0.4.%' ORDER BY HOST IS NOT NULL, HOST",
    );
    assert.equal(rows, 'HOST\tCURRENT_CONNECTIONS\nNULL\t1\n127.0.4.3\t0\n127.0.4.4\t0\n127.0.4.6\t1\n');
  } finally {
    pending.destroy();
    await c.end();
  }
});
