// `node bench/query-profile.ts [--seconds 5] [--threads 8] [--relay] [--no-profile]`: where moat's
// CPU per relayed query goes. sysbench point selects through one moat (its defaults: every
// statement audited and detected; --relay: logins audited only, detection off) on a private
// MariaDB; moat's CPU per query from /proc over the run, then its CPU profile (--cpu-prof)
// summarised. Not the benchmark (`npm run bench` compares with HAProxy): a tool for the hot path.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startMariaDB } from '../test/harness/mariadb.ts';
import { CLK_TCK, snapshot, treeCpu } from './cpu.ts';
import { startMoat } from './moat-process.ts';
import { type CpuProfile, summarise } from './profile-summary.ts';
import { log, scratch } from './scratch.ts';
import * as sysbench from './sysbench.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '8' },
    relay: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    focus: { type: 'string' },
  },
});
const repoRoot = resolve(import.meta.dirname, '..');
const profile = !values['no-profile'];
const s = scratch('moat-query-profile-');
try {
  const db = await startMariaDB({ name: 'query-profile', extraArgs: ['--innodb-buffer-pool-size=128M'] });
  s.cleanups.push(() => db.stop());
  await db.query('CREATE DATABASE IF NOT EXISTS sbtest');
  const { user, password } = db.info().users.bench;
  const conn = { host: '127.0.0.1', user, password, database: 'sbtest', tables: 4, tableSize: 10000 };
  await sysbench.prepare({ ...conn, port: db.info().port, psMode: 'disable' });
  const profDir = join(s.dir, 'prof');
  const relay = {
    audit: {
      sinks: [{ type: 'json', path: 'audit.log', filter: { events: ['Connect', 'Quit', 'Change user'] } }],
    },
    detect: { enabled: false },
  };
  const moat = await startMoat({
    repoRoot,
    dir: s.dir,
    name: 'moat',
    backend: { host: db.info().host, port: db.info().port },
    config: { log: { level: 'warn' }, ...(values.relay ? relay : {}) },
    nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  s.cleanups.push(() => moat.stop());
  const through = { ...conn, port: moat.port, psMode: 'disable' as const };
  await sysbench.run('oltp_point_select', through, 8, 1); // warm-up: JIT, buffer pool
  const before = snapshot();
  const r = await sysbench.run('oltp_point_select', through, Number(values.threads), Number(values.seconds));
  const t = treeCpu(before, snapshot(), moat.pid);
  const perQuery = (us: number) => (us / r.queries).toFixed(1);
  log(
    `${values.relay ? 'relay-only' : 'defaults'}: ${r.qps.toFixed(0)} QPS, p95 ${r.p95Ms.toFixed(2)} ms; ` +
      `moat CPU per query ${perQuery(t.userUs + t.sysUs)} µs (user ${perQuery(t.userUs)}, ` +
      `system ${perQuery(t.sysUs)}; clock tick ${1e6 / CLK_TCK} µs)`,
  );
  await moat.stop();
  if (profile) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('no CPU profile written');
    summarise(JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile, values.focus);
  }
} finally {
  await s.cleanup();
}
