// The guard's state survives a kill -9: a real `moat start` process with a config file and a
// state directory is killed with SIGKILL and started again on the same directory. Blocks are
// written at once; counters within guard.persistIntervalMs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configHead } from '../harness/config-file.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, sendGarbage } from '../harness/hosts.ts';
import { startMoatProcess } from '../harness/spawn-moat.ts';

const backend = testBackend();
const dir = mkdtempSync(join(tmpdir(), 'moat-guard-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, 'moat.yaml');
writeFileSync(
  config,
  `${configHead(backend, join(dir, 'state'))}guard:
  max_connect_errors: 3
  connection_control_failed_connections_threshold: 2
  connection_control_min_connection_delay: 1000
  connection_control_max_connection_delay: 1000
  persistIntervalMs: 100
`,
);

function garbage(port: number, from: string): Promise<Buffer> {
  return sendGarbage({ host: '127.0.0.1', port }, from);
}

function loginCode(port: number, from: string, password: string): Promise<number> {
  return loginCodeFrom({ host: '127.0.0.1', port }, from, { user: backend.users.app.user, password });
}

test('blocks, connect errors and failed-login counts survive SIGKILL', async () => {
  const first = await startMoatProcess(['--config', config]);
  try {
    for (let i = 0; i < 3; i++) await garbage(first.port, '127.0.1.1');
    assert.equal(await loginCode(first.port, '127.0.1.1', backend.users.app.password), 1129);
    for (let i = 0; i < 2; i++) await garbage(first.port, '127.0.1.2');
    for (let i = 0; i < 2; i++) assert.equal(await loginCode(first.port, '127.0.1.3', 'wrong'), 1045);
    await new Promise((r) => setTimeout(r, 400)); // past persistIntervalMs
  } finally {
    first.child.kill('SIGKILL');
    await first.exited;
  }
  const second = await startMoatProcess(['--config', config]);
  try {
    const loaded = await second.waitForLog((l) => l.msg === 'guard state loaded');
    assert.equal(loaded.blocks, 1);
    assert.equal(
      await loginCode(second.port, '127.0.1.1', backend.users.app.password),
      1129,
      'still blocked',
    );
    await garbage(second.port, '127.0.1.2');
    assert.equal(
      await loginCode(second.port, '127.0.1.2', backend.users.app.password),
      1129,
      'two connect errors before the kill and one after make three',
    );
    const t = performance.now();
    assert.equal(await loginCode(second.port, '127.0.1.3', backend.users.app.password), 0);
    const waited = performance.now() - t;
    assert.ok(
      waited >= 950,
      `the failed logins before the kill still delay this one (${Math.round(waited)} ms)`,
    );
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});
