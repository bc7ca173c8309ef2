// Client bytes on the operator's terminal (issue 16 item 7): `moat audit grep` over files holding
// U+2028 in a user name (raw, as older moat wrote it, and as moat writes it now), a line that is not
// JSON, and ESC / C1 sequences; `moat report` with a user name that is a terminal escape, from a
// real failed login through a real moat.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { emptyEvent } from '../../src/audit/event.ts';
import { jsonLines } from '../../src/audit/sinks/json.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { startMoat } from '../harness/moat.ts';
import { MAIN, NODE } from '../harness/spawn-moat.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'moat-hostile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What must never reach a terminal raw (tab and LF are the formats' own): ESC, CSI (C1), BEL, line/paragraph separators, bidi override. */
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202e]/;

function ev(over: Record<string, unknown>) {
  return { ...emptyEvent('Query', 'test'), status: 0, host: '10.0.0.5', ip: '10.0.0.5', ...over };
}

test('moat audit grep: U+2028 in a user name, a line that is not JSON, ESC and C1 sequences', async () => {
  const records = [
    ev({ timestamp: '2026-11-23T10:00:00.000Z', user: 'line\u2028sep', statement: 'SELECT 1' }),
    ev({ timestamp: '2026-11-23T10:00:01.000Z', user: 'x\x1b[2J\x1b]0;pwned\x07', statement: 'SELECT 2' }),
    ev({ timestamp: '2026-11-23T10:00:02.000Z', user: 'csi\x9b31m', statement: 'SELECT\u202e 3' }),
  ];
  // An older file: JSON.stringify's own output, U+2028 raw; then a record cut by a crash.
  const old = records.map((e) => `${JSON.stringify(e)}\n`).join('');
  writeFileSync(join(dir, 'a.log'), `${old}{"timestamp":"2026-11-23T10:00:03.000Z","name":"Que\n`);
  // A file moat writes now, after the bad line's neighbour.
  const now = jsonLines();
  writeFileSync(
    join(dir, 'b.log'),
    now.render(ev({ timestamp: '2026-11-23T10:00:04.000Z', user: 'n\u2029ew', statement: 'SELECT 4' })),
  );
  for (const format of ['grid', 'vertical', 'csv', 'tab', 'json', 'raw']) {
    const { stdout, stderr } = await run(NODE, [MAIN, 'audit', 'grep', dir, '--format', format], {
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.ok(!RAW.test(stdout), `${format}: ${JSON.stringify(stdout)}`);
    for (const s of ['SELECT 1', 'SELECT 2', 'SELECT 4'])
      assert.ok(stdout.includes(s), `${format}: ${s} missing`);
    assert.match(stderr, /a\.log:4: skipped, not a record/);
    if (format === 'json') {
      const users = (JSON.parse(stdout) as Array<{ user: string }>).map((e) => e.user);
      assert.deepEqual(users, ['line\u2028sep', 'x\x1b[2J\x1b]0;pwned\x07', 'csi\x9b31m', 'n\u2029ew']);
    }
    if (format === 'grid') assert.ok(stdout.includes('x\\x1b[2J\\x1b]0;pwned\\x07'), stdout);
  }
});

test('moat report: a user name that is a terminal escape is printed escaped', async () => {
  const backend = testBackend();
  const TOKEN = 'hostile-token-0123456789';
  const moat = await startMoat(backend, {
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
    guard: { connection_control_failed_connections_threshold: 1 },
  });
  try {
    const evil = 'ev\x1b]0;pwned\x07il\x1b[31m';
    const code = await loginCodeFrom(moat, '127.0.4.77', { user: evil, password: 'wrong' });
    assert.ok(code === 1045 || code === 1698, `login answered ${code}`);
    const a = moat.gateway.httpAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    const { stdout } = await run(NODE, [MAIN, 'report', '--url', `http://${a.host}:${a.port}`], {
      env: { PATH: process.env.PATH ?? '', MOAT_TOKEN: TOKEN },
    });
    assert.ok(!RAW.test(stdout), JSON.stringify(stdout));
    assert.ok(stdout.includes("'ev\\x1b]0;pwned\\x07il\\x1b[31m'@'127.0.4.77'"), stdout);
  } finally {
    await moat.stop();
  }
});
