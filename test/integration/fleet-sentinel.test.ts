// A Sentinel-managed Redis, as the issue names for those who outgrow one node: a primary, a
// replica and a Sentinel (all real redis-server processes on free ports). moat finds the primary
// through Sentinel; the primary is killed, Sentinel promotes the replica, and moat follows it:
// logins go on throughout, the block made before the failover holds (it was replicated), and a
// block made after it is written to the new primary.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Redis } from 'ioredis';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { eventually } from '../harness/poll.ts';
import { type RedisServer, type Sentinel, startRedis, startSentinel } from '../harness/redis.ts';

const backend = testBackend();
let primary: RedisServer;
let replica: RedisServer;
let sentinel: Sentinel;
let moat: RunningMoat;

async function ask<T>(port: number, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  try {
    await r.connect();
    return await f(r);
  } finally {
    r.disconnect();
  }
}

before(async () => {
  primary = await startRedis();
  replica = await startRedis({ extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)] });
  // A full resync (the primary's RDB, the replica's load) took over 5 s once on a loaded 2-core CI.
  await eventually(
    'the replica to sync',
    async () => /master_link_status:up/.test(await ask(replica.port, (r) => r.info('replication'))),
    30_000,
  );
  sentinel = await startSentinel('moatmaster', primary.port, { downAfterMs: 400, failoverTimeoutMs: 2000 });
  moat = await startMoat(backend, {
    state: {
      store: 'redis',
      instance: 'sentinel-test',
      redis: { sentinels: [`127.0.0.1:${sentinel.port}`], sentinelName: 'moatmaster', namespace: 'sent' },
    },
  });
  await eventually('the shared state to be up', () => moat.gateway.fleet?.up === true);
});

after(async () => {
  await moat?.stop();
  await sentinel?.stop();
  await replica?.stop();
  await primary?.stop();
});

test('moat follows a Sentinel failover: service goes on, blocks hold, new blocks reach the new primary', async () => {
  const fleet = moat.gateway.fleet!;
  const login = (from: string) =>
    loginCodeFrom(moat, from, { user: backend.users.app.user, password: backend.users.app.password });
  moat.gateway.guard.block('192.0.2.81', 'test', null);
  const key = (ip: string) => `moat:{sent}:block:${ip}`;
  await eventually(
    'the block to reach the replica',
    async () => (await ask(replica.port, (r) => r.get(key('192.0.2.81')))) !== null,
  );

  await primary.kill();
  assert.equal(await login('127.0.9.1'), 0, 'a login while the primary is gone');
  await eventually('Sentinel to promote the replica', async () => {
    const addr = await ask(sentinel.port, (r) => r.call('SENTINEL', 'get-master-addr-by-name', 'moatmaster'));
    return Array.isArray(addr) && Number(addr[1]) === replica.port;
  });
  await eventually('moat to reconcile with the new primary', () => fleet.up && fleet.stats.outages >= 1);

  assert.equal(await login('127.0.9.1'), 0);
  assert.ok(moat.gateway.guard.blocker.blocked('192.0.2.81', Date.now()) !== null, 'the old block holds');
  moat.gateway.guard.block('192.0.2.82', 'test', null);
  await eventually(
    'the new block on the new primary',
    async () => (await ask(replica.port, (r) => r.get(key('192.0.2.82')))) !== null,
  );
  assert.match(await ask(replica.port, (r) => r.info('replication')), /role:master/);
});
