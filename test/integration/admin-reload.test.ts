// RELOAD CONFIG on the admin port and SIGHUP: a real `moat start --config` process whose file
// changes under it; new connections follow the new rules at once, live sessions are untouched.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { configHead } from '../harness/config-file.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, mysqlFrom } from '../harness/hosts.ts';
import { startMoatProcess } from '../harness/spawn-moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const dir = mkdtempSync(join(tmpdir(), 'moat-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'moat.yaml');

function writeConfig(deny: string[]): void {
  writeFileSync(
    config,
    `${configHead(backend, join(dir, 'state'), { admin: true })}guard:
  access:
    default: allow
    rules: ${deny.length === 0 ? '[]' : `\n      - deny: [${deny.join(', ')}]`}
`,
  );
}

function loginCode(port: number, from: string): Promise<number> {
  const { user, password } = backend.users.app;
  return loginCodeFrom({ host: '127.0.0.1', port }, from, { user, password });
}

test('RELOAD CONFIG and SIGHUP apply a changed file to new connections only', async () => {
  writeConfig([]);
  const moat = await startMoatProcess(['--config', config]);
  try {
    const adminLine = await moat.waitForLog((l) => l.msg === 'admin port listening');
    const adminPort = Number(String(adminLine.admin).split(':')[1]);
    const admin = async (sql: string) =>
      (await run('mariadb', ['-h127.0.0.1', `-P${adminPort}`, '-udba', '-pdba-pw', '--batch', '-e', sql]))
        .stdout;
    assert.equal(await loginCode(moat.port, '127.0.5.1'), 0);
    const live = await mysqlFrom({ host: '127.0.0.1', port: moat.port }, '127.0.5.1', {
      user: backend.users.app.user,
      password: backend.users.app.password,
    });

    writeConfig(['127.0.5.1/32']);
    await admin('RELOAD CONFIG');
    assert.equal(await loginCode(moat.port, '127.0.5.1'), 1130, 'the new rule holds for new connections');
    const [rows] = await live.query('SELECT 1 AS one');
    assert.deepEqual(rows, [{ one: 1 }], 'a live session is untouched');
    assert.equal(
      await admin("SELECT LISTENER, POSITION, ACTION, NETWORKS FROM moat.address_rules WHERE LISTENER = '*'"),
      'LISTENER\tPOSITION\tACTION\tNETWORKS\n*\t1\tdeny\t127.0.5.1/32\n*\tNULL\tallow (default)\tNULL\n',
    );

    writeConfig([]);
    moat.child.kill('SIGHUP');
    await moat.waitForLog(
      (l) =>
        l.msg === 'configuration reloaded' &&
        moat.lines.filter((x) => x.msg === 'configuration reloaded').length === 2,
    );
    assert.equal(await loginCode(moat.port, '127.0.5.1'), 0, 'SIGHUP applied the file again');

    writeFileSync(config, 'listeners: [nonsense');
    moat.child.kill('SIGHUP');
    await moat.waitForLog((l) => l.msg === 'reload failed; the running configuration stays');
    assert.equal(await loginCode(moat.port, '127.0.5.1'), 0, 'a broken file changes nothing');
    await live.end();
  } finally {
    moat.child.kill('SIGTERM');
    await moat.exited;
  }
});

test('RELOAD CONFIG says, key by key, what it applied and what needs a restart', async () => {
  const file = join(dir, 'keys.yaml');
  const head = configHead(backend, join(dir, 'state-keys'), { admin: true });
  const write = (threshold: number, level: string, sinkFile: string) =>
    writeFileSync(
      file,
      `${head}log:
  level: ${level}
detect:
  rules:
    sql-errors: { sessionThreshold: ${threshold}, actions: [alert, kill] }
audit:
  sinks:
    - { type: json, path: ${sinkFile} }
`,
    );
  write(100, 'info', 'a.log');
  const moat = await startMoatProcess(['--config', file]);
  try {
    const adminLine = await moat.waitForLog((l) => l.msg === 'admin port listening');
    const adminPort = Number(String(adminLine.admin).split(':')[1]);
    const admin = async (sql: string) =>
      (await run('mariadb', ['-h127.0.0.1', `-P${adminPort}`, '-udba', '-pdba-pw', '-vvv', '-e', sql]))
        .stdout;
    const { user, password } = backend.users.app;
    // Errors until the session is killed (or `max` of them): how many it took.
    const errorsToKill = async (max: number) => {
      const c = await mysqlFrom({ host: '127.0.0.1', port: moat.port }, '127.0.5.9', { user, password });
      c.on('error', () => {});
      for (let i = 0; i < max; i++) {
        const r = await c.query(`SELECT nope_${i}`).catch((e: Error) => e);
        if (
          r instanceof Error &&
          /closed|lost|PROTOCOL_CONNECTION_LOST/i.test(`${r.message} ${(r as { code?: string }).code}`)
        )
          return i;
      }
      c.destroy();
      return max;
    };
    assert.equal(await errorsToKill(4), 4, 'threshold 100: four errors kill nothing');

    write(2, 'debug', 'b.log');
    const out = await admin('RELOAD CONFIG');
    assert.match(out, /applied: detect, log; needs a restart: audit\.sinks/);
    const line = await moat.waitForLog((l) => l.msg === 'configuration reloaded');
    assert.deepEqual(line.applied, ['detect', 'log']);
    assert.deepEqual(line.needsRestart, ['audit.sinks']);
    assert.ok((await errorsToKill(4)) <= 2, 'the new detection threshold is in force');
    await moat.waitForLog((l) => l.msg === 'command', 5000);
  } finally {
    moat.child.kill('SIGTERM');
    await moat.exited;
  }
});
