// Redis not there when moat starts: moat starts anyway, serves on local state (fail-open here),
// reports the shared state down, and joins the fleet by itself once Redis answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { startMoat } from '../harness/moat.ts';
import { freePort, startRedis } from '../harness/redis.ts';

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
    for (let i = 0; i < 150 && !fleet.up; i++) await sleep(20);
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
