// Redis not there when moat starts: moat starts anyway, serves on local state (fail-open here),
// reports the shared state down, and joins the fleet by itself once Redis answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, sendGarbage } from '../harness/hosts.ts';
import { startMoat } from '../harness/moat.ts';
import { freePort } from '../harness/ports.ts';
import { startRedis } from '../harness/redis.ts';

const backend = testBackend();

test('Redis down at start: moat serves, then joins when Redis comes up', async () => {
  const port = await freePort();
  const moat = await startMoat(backend, {
    state: {
      store: 'redis',
      instance: 'late',
      redis: { url: `redis://127.0.0.1:${port}`, namespace: 'late' },
    },
  });
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    const fleet = moat.gateway.fleet;
    assert.ok(fleet !== null);
    assert.equal(fleet.up, false);
    const { user, password } = backend.users.app;
    assert.equal(await loginCodeFrom(moat, '127.0.10.1', { user, password }), 0, 'served without Redis');
    moat.gateway.guard.block('192.0.2.90', 'test', null);

    redis = await startRedis({ port });
    for (let i = 0; i < 500 && !fleet.up; i++) await sleep(20);
    assert.equal(fleet.up, true, 'joined once Redis answered');
    const view = await fleet.view();
    assert.deepEqual(
      view.instances.map((i) => i.instance),
      ['late'],
    );
    assert.ok(
      view.rows.some((r) => r.row.ip === '127.0.10.1'),
      'its ledger rows reached Redis',
    );
    const r = new Redis({ port, lazyConnect: true });
    await r.connect();
    const stored = await r.get('moat:{late}:block:192.0.2.90');
    r.disconnect();
    assert.equal(JSON.parse(stored ?? '{}').by, 'test', 'the block made while Redis was away reached it');
  } finally {
    await moat.stop();
    await redis?.stop();
  }
});

test('a slow Redis: admission does not wait for it, one outage is counted, and it recovers', async () => {
  const redis = await startRedis({ extraArgs: ['--enable-debug-command', 'yes'] });
  const moat = await startMoat(backend, {
    state: {
      store: 'redis',
      instance: 'slow',
      redis: { url: redis.url, namespace: 'slow', commandTimeoutMs: 200 },
    },
  });
  const blocker = new Redis({ port: redis.port, lazyConnect: true });
  try {
    const fleet = moat.gateway.fleet!;
    for (let i = 0; i < 500 && !fleet.up; i++) await sleep(20);
    assert.equal(fleet.up, true);
    await blocker.connect();
    // Redis stops answering anyone for 3 s.
    const sleeping = blocker.call('DEBUG', 'SLEEP', '3');
    await sleep(50);
    await sendGarbage(moat, '127.0.10.2'); // a connect error: its script times out
    for (let i = 0; i < 150 && fleet.up; i++) await sleep(20);
    assert.equal(fleet.up, false, 'a command slower than commandTimeoutMs means down');
    const { user, password } = backend.users.app;
    const t0 = performance.now();
    assert.equal(await loginCodeFrom(moat, '127.0.10.3', { user, password }), 0);
    assert.ok(performance.now() - t0 < 1000, 'a login does not wait for Redis');
    await sleeping;
    for (let i = 0; i < 500 && !fleet.up; i++) await sleep(20);
    assert.equal(fleet.up, true, 'back once Redis answers');
    assert.equal(fleet.stats.outages, 1, 'one outage, however many retries it took');
    assert.equal(fleet.pending, 0, 'the connect error was replayed');
  } finally {
    blocker.disconnect();
    await moat.stop();
    await redis.stop();
  }
});
