// Password spraying and the failed-login table's eviction, through moat with mysql2 against the
// harness's MariaDB: many user names failing from one address delay that address's next attempt
// (any user) and raise an alert, while other addresses log in at once; and a small table keeps a
// victim's delay while other users' failures fill it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { GuardAction } from '../../src/guard/guard.ts';
import { adminQuery, testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { eventually } from '../harness/poll.ts';
import { startRedis } from '../harness/redis.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
// Real accounts (mysql_native_password), so that each wrong password is a clean 1045: MariaDB
// answers an unknown user with a plugin chosen by the name, which mysql2 may not speak.
const SPRAYED = Array.from({ length: 30 }, (_, i) => `spray${i}`);

before(async () => {
  for (const u of SPRAYED) {
    await adminQuery(
      `CREATE OR REPLACE USER '${u}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('right-${u}')`,
    );
  }
});

after(async () => {
  for (const u of SPRAYED) await adminQuery(`DROP USER IF EXISTS '${u}'@'%'`);
});

async function timedLogin(moat: RunningMoat, from: string, o: { user: string; password: string }) {
  const t0 = performance.now();
  const code = await loginCodeFrom(moat, from, { ...o, connectTimeout: 20_000 });
  return { code, ms: performance.now() - t0 };
}

test('30 user names failing from one address: its next attempt waits, another address does not', async () => {
  const moat = await startMoat(backend, {
    guard: {
      connection_control_failed_connections_threshold: 3,
      connection_control_failed_connections_threshold_per_host: 30,
    },
  });
  const actions: GuardAction[] = [];
  const audit = moat.gateway.guard.onAction;
  moat.gateway.guard.onAction = (a) => {
    actions.push(a);
    audit(a);
  };
  try {
    for (const u of SPRAYED) {
      const r = await timedLogin(moat, '127.0.0.61', { user: u, password: 'Winter2026!' });
      assert.equal(r.code, 1045, u);
      assert.ok(r.ms < 900, `${u}: no delay before the per-host threshold (${r.ms} ms)`);
    }
    assert.deepEqual(
      actions.filter((a) => a.kind === 'spraying'),
      [{ kind: 'spraying', ip: '127.0.0.61', users: 30, failures: 30 }],
    );
    // The next attempt from that address, as a user that never failed and with the right password.
    const next = await timedLogin(moat, '127.0.0.61', app);
    assert.equal(next.code, 0);
    assert.ok(next.ms >= 950, `delayed about 1 s: (30 + 1 − 30) s, took ${next.ms} ms`);
    const other = await timedLogin(moat, '127.0.0.62', app);
    assert.equal(other.code, 0);
    assert.ok(other.ms < 900, `another address is not delayed (${other.ms} ms)`);
    // That success was another account's: the sprayed names' failures stay, and so does the delay
    // (a success used to clear the count, so one valid account reset it between guesses).
    const after = await timedLogin(moat, '127.0.0.61', app);
    assert.ok(
      after.code === 0 && after.ms >= 950,
      `still delayed after another account's success (${after.ms} ms)`,
    );
    // A sprayed account's own success forgives its own failure only.
    assert.equal(
      (await timedLogin(moat, '127.0.0.61', { user: SPRAYED[0]!, password: `right-${SPRAYED[0]}` })).code,
      0,
    );
    assert.equal(moat.gateway.guard.connectionControl.hostFailuresOf('127.0.0.61'), 29);
  } finally {
    await moat.stop();
  }
});

test("a full failed-login table evicts others' entries first, never the one under delay", async () => {
  const moat = await startMoat(backend, {
    guard: {
      maxFailedLoginEntries: 8,
      connection_control_failed_connections_threshold: 3,
      connection_control_failed_connections_threshold_per_host: 0,
    },
  });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await timedLogin(moat, '127.0.0.71', { user: app.user, password: 'wrong' })).code, 1045);
    }
    // Fifteen other accounts fail once each, from another address: more than the table holds.
    for (const u of SPRAYED.slice(0, 15)) {
      assert.equal((await timedLogin(moat, '127.0.0.72', { user: u, password: 'wrong' })).code, 1045);
    }
    const victim = await timedLogin(moat, '127.0.0.71', app);
    assert.equal(victim.code, 0);
    assert.ok(victim.ms >= 950, `the victim's account is still delayed (${victim.ms} ms)`);
  } finally {
    await moat.stop();
  }
});

test("a fleet shares the address's count: a spray spread over two moats delays the address at both", async () => {
  const redis = await startRedis();
  const member = (instance: string) =>
    startMoat(backend, {
      state: { store: 'redis', instance, redis: { url: redis.url, namespace: 'spray' } },
      guard: {
        connection_control_failed_connections_threshold: 3,
        connection_control_failed_connections_threshold_per_host: 10,
      },
    });
  const a = await member('a');
  const b = await member('b');
  try {
    await eventually('both on Redis', () => a.gateway.fleet?.up === true && b.gateway.fleet?.up === true);
    // Five failures at each instance: neither reaches 10 alone.
    for (const [i, u] of SPRAYED.slice(0, 10).entries()) {
      const code = (await timedLogin(i % 2 === 0 ? a : b, '127.0.0.81', { user: u, password: 'Summer2026!' }))
        .code;
      assert.equal(code, 1045, u);
    }
    await eventually('the shared count at both', () =>
      [a, b].every((m) => m.gateway.guard.connectionControl.hostFailuresOf('127.0.0.81') === 10),
    );
    for (const m of [a, b]) {
      assert.equal(m.gateway.guard.connectionControl.hostFailuresOf('127.0.0.81'), 10);
      assert.equal(m.gateway.guard.connectionControl.delayFor(app.user, '127.0.0.81'), 1000);
    }
    const next = await timedLogin(a, '127.0.0.81', app);
    assert.equal(next.code, 0);
    assert.ok(next.ms >= 950, `delayed at a (${next.ms} ms)`);
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test("the address's count survives a restart (stateDir), as the per-account counts do", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'moat-spray-state-'));
  const start = () =>
    startMoat(backend, {
      stateDir,
      guard: {
        connection_control_failed_connections_threshold: 3,
        connection_control_failed_connections_threshold_per_host: 5,
      },
    });
  try {
    const first = await start();
    try {
      for (const u of SPRAYED.slice(0, 5)) {
        assert.equal(
          (await timedLogin(first, '127.0.0.91', { user: u, password: 'Autumn2026!' })).code,
          1045,
        );
      }
    } finally {
      await first.stop();
    }
    const second = await start();
    try {
      assert.equal(second.gateway.guard.connectionControl.hostFailuresOf('127.0.0.91'), 5);
      const next = await timedLogin(second, '127.0.0.91', app);
      assert.equal(next.code, 0);
      assert.ok(next.ms >= 950, `delayed after the restart (${next.ms} ms)`);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});
