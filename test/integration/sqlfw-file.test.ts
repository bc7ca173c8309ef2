// The portable allowlist file through `moat sqlfw export | import` (the real CLI process): a list
// learned on one moat, exported, imported into another moat's empty stateDir, protects there
// (the mariadb CLI refused, the listed statement served); a malformed file names the entry and
// changes nothing; `statement:` entries are digested at import.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { parse } from 'yaml';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';
import { runMoat } from '../harness/spawn-moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };

async function cli(port: number, sql: string): Promise<string> {
  try {
    const { stdout } = await run(
      '/usr/bin/mariadb',
      [
        '--no-defaults',
        '--protocol=TCP',
        '-h127.0.0.1',
        `-P${port}`,
        `-u${app.user}`,
        '--skip-ssl',
        `-D${app.database}`,
        '--batch',
        '-e',
        sql,
      ],
      { env: { PATH: '/usr/bin:/bin', MYSQL_PWD: app.password } },
    );
    return stdout;
  } catch (e) {
    return `ERR ${(e as { stderr?: string }).stderr}`;
  }
}

test('export from one moat, import into another: the list protects there; bad files name the entry', async () => {
  const dirA = mkdtempSync(join(tmpdir(), 'moat-sqlfw-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'moat-sqlfw-b-'));
  const cfgA = join(dirA, 'moat.yaml');
  const cfgB = join(dirB, 'moat.yaml');
  writeFileSync(
    cfgA,
    `backend: { address: '${backend.host}:${backend.port}' }\nstateDir: ${join(dirA, 'state')}\n`,
  );
  writeFileSync(
    cfgB,
    `backend: { address: '${backend.host}:${backend.port}' }\nstateDir: ${join(dirB, 'state')}\n`,
  );
  try {
    // Learn on A: a group in RECORDING with app as member, then PROTECTING.
    const a = await startMoat(backend, { stateDir: join(dirA, 'state') });
    const fw = a.gateway.sqlFirewall!;
    fw.setGroupMode('apps', 'RECORDING');
    fw.setMember('apps', 'app@%', true);
    fw.setNetworks('group', 'apps', ['127.0.0.0/8']);
    const c = await mysql.createConnection({ ...app, host: a.host, port: a.port });
    await c.query('SELECT name FROM t WHERE id = 1');
    await c.end();
    await a.waitForEvent((e) => e.statement === 'SELECT name FROM t WHERE id = 1');
    fw.setGroupMode('apps', 'PROTECTING');
    await a.gateway.stop(500);

    const exported = await runMoat(['sqlfw', 'export', '--config', cfgA]);
    assert.equal(exported.code, 0, exported.stderr);
    const doc = parse(exported.stdout) as { profiles: Array<Record<string, unknown>> };
    assert.equal(doc.profiles.length, 1);
    assert.deepEqual(
      {
        group: doc.profiles[0]!.group,
        mode: doc.profiles[0]!.mode,
        members: doc.profiles[0]!.members,
        networks: doc.profiles[0]!.networks,
      },
      { group: 'apps', mode: 'PROTECTING', members: ['app@%'], networks: ['127.0.0.0/8'] },
    );
    assert.ok((doc.profiles[0]!.digests as unknown[]).length >= 1, exported.stdout);
    const file = join(dirB, 'firewall.yaml');
    // A reviewer adds one statement by hand: digested at import.
    writeFileSync(file, `${exported.stdout.trimEnd()}\n      - statement: "SELECT COUNT(*) FROM t"\n`);

    // A malformed copy: refused, naming the entry, and nothing imported.
    const bad = join(dirB, 'bad.yaml');
    const broken = readFileSync(file, 'utf8').replace(/hash: [0-9a-f]{64}/, 'hash: nothex');
    writeFileSync(bad, broken);
    const refused = await runMoat(['sqlfw', 'import', bad, '--config', cfgB]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /bad\.yaml: profiles\[0\]\.digests\[0\]\.hash: expected 64 lower-case hex digits/,
    );
    writeFileSync(bad, 'version: 1\nprofiles:\n  - account: app@%\n    mode: PROTECT\n');
    assert.match(
      (await runMoat(['sqlfw', 'import', bad, '--config', cfgB])).stderr,
      /bad\.yaml: profiles\[0\]\.mode: /,
    );
    const empty = await runMoat(['sqlfw', 'export', '--config', cfgB]);
    assert.match(empty.stdout, /profiles: \[\]/, 'nothing was imported');

    const imported = await runMoat(['sqlfw', 'import', file, '--config', cfgB]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /imported 1 profile\(s\)/);

    const b = await startMoat(backend, { stateDir: join(dirB, 'state') });
    try {
      assert.match(await cli(b.port, 'SELECT name FROM t WHERE id = 2'), /beta/);
      assert.match(await cli(b.port, 'SELECT COUNT(*) FROM t'), /3/, 'the hand-added statement');
      assert.match(
        await cli(b.port, 'SELECT name FROM t WHERE id = 1 OR 1 = 1'),
        /ERROR 1045 \(28000\).*Statement was blocked by Firewall/,
      );
    } finally {
      await b.gateway.stop(500);
    }
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});
