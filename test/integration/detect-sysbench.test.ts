// Ordinary application traffic must raise nothing: real sysbench (prepare, then oltp_read_write
// with text and with prepared statements) through moat with detection on and table learning cut
// short so that the "new table" rule is live too.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';

const run = promisify(execFile);
const backend = testBackend();

test('sysbench oltp_read_write through moat: no detection finding, no Alert', async () => {
  const moat = await startMoat(backend, {
    detect: { rules: { 'new-table': { learnStatements: 300, learnSeconds: 0 } } },
  });
  try {
    const common = [
      '--db-driver=mysql',
      `--mysql-host=${moat.host}`,
      `--mysql-port=${moat.port}`,
      `--mysql-user=${backend.users.bench.user}`,
      `--mysql-password=${backend.users.bench.password}`,
      '--mysql-db=sbtest',
      '--mysql-ssl=off',
      '--tables=2',
      '--table-size=1000',
    ];
    await run('sysbench', ['oltp_read_write', ...common, 'cleanup']).catch(() => undefined);
    await run('sysbench', ['oltp_read_write', ...common, 'prepare'], { timeout: 60_000 });
    for (const ps of ['disable', 'auto']) {
      const { stdout } = await run(
        'sysbench',
        ['oltp_read_write', ...common, `--db-ps-mode=${ps}`, '--threads=4', '--time=3', '--events=0', 'run'],
        { timeout: 60_000 },
      );
      assert.match(stdout, /transactions:\s+[1-9]\d*/, `sysbench ran (${ps})`);
    }
    await run('sysbench', ['oltp_read_write', ...common, 'cleanup']);
    const stats = moat.gateway.detector!.stats();
    assert.ok(moat.events.length > 1000, `${moat.events.length} statements were followed`);
    assert.deepEqual(
      Object.entries(stats.findings).filter(([, n]) => n > 0),
      [],
      'no rule fired on ordinary traffic',
    );
  } finally {
    await moat.stop();
  }
});
