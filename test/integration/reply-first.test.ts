// The reply is written to the client before the command's event is built and consumed: a slow
// consumer of events (metrics, the detector, the audit record, here a test hook that blocks the
// whole process) never adds latency to the response it is about. The client is a child process
// (PyMySQL), so it can read the answer while moat's one thread is held in the hook.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Moat } from '../../src/app/moat.ts';
import { mergeConfig, validateConfig } from '../../src/config/load.ts';
import { spawnWithEnv } from '../harness/clients.ts';
import { testBackend } from '../harness/env.ts';

const backend = testBackend();
const MARK = "SELECT 'reply-first' AS mark";
const HOLD_MS = 600;

const CLIENT_PY = `
import os, time, pymysql
c = pymysql.connect(host=os.environ['H'], port=int(os.environ['PORT']), user='app', password=os.environ['P'])
cur = c.cursor()
cur.execute('SELECT 1')
cur.fetchall()
t = time.monotonic()
cur.execute(${JSON.stringify(MARK)})
rows = cur.fetchall()
elapsed = (time.monotonic() - t) * 1000
print(int(elapsed), rows[0][0])
c.close()
`;

test('the client has the answer before onCommand runs (a blocked event consumer does not delay it)', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'moat-state-'));
  const config = validateConfig(
    mergeConfig(
      {
        listeners: [{ address: '127.0.0.1:0' }],
        backend: { address: `${backend.host}:${backend.port}` },
        stateDir,
        log: { level: 'silent' },
        shutdownTimeoutMs: 2000,
      },
      {},
    ),
    'test',
  );
  let held = 0;
  const gateway = new Moat(config, pino({ level: 'silent' }), {
    onCommand: (e) => {
      if (e.statement !== MARK) return;
      held++;
      // Blocks moat's only thread, as a consumer that took this long would.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, HOLD_MS);
    },
  });
  await gateway.start();
  try {
    const addr = gateway.addresses()[0];
    assert.ok(addr !== undefined && addr.kind === 'tcp');
    const { code, stdout, stderr } = await spawnWithEnv(
      ['/usr/bin/python3', '-c', CLIENT_PY],
      { H: addr.host, PORT: String(addr.port), P: backend.users.app.password },
      { timeoutMs: 20_000 },
    );
    assert.equal(code, 0, stderr);
    const [ms, mark] = stdout.trim().split(' ');
    assert.equal(mark, 'reply-first');
    assert.equal(held, 1, 'the hook saw the statement');
    assert.ok(Number(ms) < HOLD_MS / 2, `answer took ${ms} ms: it waited for the event consumer`);
  } finally {
    await gateway.stop(500);
    rmSync(stateDir, { recursive: true, force: true });
  }
});
