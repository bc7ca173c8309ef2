// `node bench/login-profile.ts [cycles]`: where one login's time goes. Sequential
// connect + login + SELECT 1 + quit cycles (one at a time, so the figures are latency, not
// throughput) directly and through moat, interleaved in rounds, then moat's own CPU profile of the
// run (--cpu-prof) summarised by the functions of src/ that spent the most. Not a test: a tool for
// the connect-latency work (the comparison with HAProxy is `npm run bench -- --scenarios connect`).
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startMariaDB } from '../test/harness/mariadb.ts';
import { percentile } from './connect-rate.ts';
import { CLK_TCK, snapshot, treeCpu } from './cpu.ts';
import { startMoat } from './moat-process.ts';
import { connectQueryQuit, type Endpoint } from './mysql-client.ts';
import { type CpuProfile, summarise } from './profile-summary.ts';
import { log, scratch } from './scratch.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const cycles = Number(process.argv[2] ?? 2000);
// --no-profile: moat's CPU per cycle without the profiler's own cost.
const profile = !process.argv.includes('--no-profile');
// --focus NAME: also the self time of what runs under moat's entry point NAME (e.g. login).
const focusAt = process.argv.indexOf('--focus');
const focus = focusAt > 0 ? process.argv[focusAt + 1] : undefined;
const s = scratch('moat-login-profile-');
try {
  const db = await startMariaDB({ name: 'login-profile' });
  s.cleanups.push(() => db.stop());
  const profDir = join(s.dir, 'prof');
  const moat = await startMoat({
    repoRoot,
    dir: s.dir,
    name: 'moat',
    backend: { host: db.info().host, port: db.info().port },
    config: { log: { level: 'warn' } },
    nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  s.cleanups.push(() => moat.stop());
  const { user, password } = db.info().users.bench;
  const ep = (port: number): Endpoint => ({ host: '127.0.0.1', port, user, password, database: 'sbtest' });
  const lat: Record<'direct' | 'moat', number[]> = { direct: [], moat: [] };
  // moat's own CPU over its cycles only (start-up excluded): user and system time from /proc.
  const cpu = { userUs: 0, sysUs: 0 };
  for (let round = 0; round < 10; round++) {
    for (const [name, port] of [
      ['direct', db.info().port],
      ['moat', moat.port],
    ] as const) {
      const before = snapshot();
      for (let i = 0; i < cycles / 10; i++) lat[name].push((await connectQueryQuit(ep(port))) / 1e6);
      if (name === 'moat') {
        const t = treeCpu(before, snapshot(), moat.pid);
        cpu.userUs += t.userUs;
        cpu.sysUs += t.sysUs;
      }
    }
  }
  const n = lat.moat.length;
  log(
    `moat CPU per cycle: ${((cpu.userUs + cpu.sysUs) / n).toFixed(0)} µs (user ${(cpu.userUs / n).toFixed(0)}, system ${(cpu.sysUs / n).toFixed(0)}; clock tick ${1e6 / CLK_TCK} µs)`,
  );
  for (const name of ['direct', 'moat'] as const) {
    const v = lat[name].sort((a, b) => a - b);
    log(
      `${name.padEnd(7)} p50 ${percentile(v, 50).toFixed(3)} ms  p95 ${percentile(v, 95).toFixed(3)} ms  p99 ${percentile(v, 99).toFixed(3)} ms`,
    );
  }
  await moat.stop();
  if (profile) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('no CPU profile written');
    summarise(JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile, focus);
  }
} finally {
  await s.cleanup();
}
