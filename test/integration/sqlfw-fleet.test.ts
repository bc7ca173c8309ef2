// A fleet's SQL firewall: two moats on one real redis-server share profiles and allowlists. A mode
// set on one applies on the other; digests learned on either (RECORDING) are on both lists; a
// statement the list lacks is refused on the moat that never saw the CALL; a moat that joins later
// adopts the fleet's lists.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { runMoat } from '../harness/spawn-moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
let redis: RedisServer;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const member = (instance: string) =>
  startMoat(backend, { state: { store: 'redis', instance, redis: { url: redis.url, namespace: 'sqlfw' } } });

async function query(m: RunningMoat, sql: string): Promise<number> {
  const c = await mysql.createConnection({ ...app, host: m.host, port: m.port });
  try {
    await c.query(sql);
    return 0;
  } catch (e) {
    return (e as { errno?: number }).errno ?? -1;
  } finally {
    await c.end();
  }
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('modes and lists learned on one moat protect on another; a late member adopts them', async () => {
  const a = await member('a');
  const b = await member('b');
  let c: RunningMoat | null = null;
  try {
    const fwA = a.gateway.sqlFirewall!;
    const fwB = b.gateway.sqlFirewall!;
    fwA.setUserMode('app@%', 'RECORDING');
    await until('B sees the profile', () =>
      fwB.profiles().some((p) => p.name === 'app@%' && p.mode === 'RECORDING'),
    );
    // Both learn: each list ends up with both digests.
    assert.equal(await query(a, 'SELECT name FROM t WHERE id = 1'), 0);
    assert.equal(await query(b, 'SELECT COUNT(*) FROM t'), 0);
    const rules = (fw: typeof fwA) => fw.profiles().find((p) => p.name === 'app@%')?.rules.size ?? 0;
    await until('both digests on A', () => rules(fwA) >= 2);
    await until('both digests on B', () => rules(fwB) >= 2);

    fwB.setUserMode('app@%', 'PROTECTING');
    await until('A protecting', () => fwA.profiles().some((p) => p.mode === 'PROTECTING'));
    assert.equal(await query(a, 'SELECT COUNT(*) FROM t'), 0, 'learned on B, served by A');
    assert.equal(await query(b, 'SELECT name FROM t WHERE id = 2'), 0, 'learned on A, served by B');
    assert.equal(await query(a, 'SELECT name FROM t WHERE id = 1 OR 1 = 1'), 1045);
    assert.equal(await query(b, 'SELECT name FROM t WHERE id = 1 OR 1 = 1'), 1045);

    // A moat joining later takes the fleet's lists (its own stateDir is empty).
    c = await member('c');
    const fwC = c.gateway.sqlFirewall!;
    assert.equal(fwC.profiles().find((p) => p.name === 'app@%')?.mode, 'PROTECTING');
    assert.equal(await query(c, 'SELECT COUNT(*) FROM t'), 0);
    assert.equal(await query(c, 'DELETE FROM t'), 1045);

    // `moat sqlfw import` with a fleet member's config writes to the fleet: running members adopt it.
    const dir = mkdtempSync(join(tmpdir(), 'moat-sqlfw-cli-'));
    try {
      const cfg = join(dir, 'moat.yaml');
      writeFileSync(
        cfg,
        `backend: { address: '${backend.host}:${backend.port}' }\nstateDir: ${join(dir, 'state')}\n` +
          `state: { store: redis, instance: cli, redis: { url: '${redis.url}', namespace: sqlfw } }\n`,
      );
      const file = join(dir, 'firewall.yaml');
      writeFileSync(
        file,
        'version: 1\nprofiles:\n  - account: app@%\n    mode: PROTECTING\n    digests:\n      - statement: SELECT 42\n',
      );
      const r = await runMoat(['sqlfw', 'import', file, '--config', cfg]);
      assert.equal(r.code, 0, r.stderr);
      const has42 = (fw: typeof fwA) =>
        [
          ...(fw
            .profiles()
            .find((p) => p.name === 'app@%')
            ?.rules.values() ?? []),
        ].includes('SELECT ?');
      await until('A adopted the import', () => has42(fwA));
      await until('C adopted the import', () => has42(fwC));
      assert.equal(await query(b, 'SELECT 42'), 0);
      assert.equal(await query(b, 'SELECT COUNT(*) FROM t'), 0, 'merged, not replaced');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await c?.stop();
    await b.stop();
    await a.stop();
  }
});
