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
    summarise(JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile);
  }
} finally {
  await s.cleanup();
}

type CpuProfile = {
  nodes: Array<{
    id: number;
    children?: number[];
    callFrame: { functionName: string; url: string; lineNumber: number };
  }>;
  samples: number[];
  timeDeltas: number[];
};

/**
 * Self time by function, the top 25, with the share of the run's samples; then the same samples
 * charged to the nearest function of src/ on their stack (what moat's code caused, the native
 * writes and reads it called included).
 */
function summarise(p: CpuProfile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const where = f.url.includes('/src/')
      ? f.url.slice(f.url.indexOf('/src/') + 1)
      : f.url.replace(/^.*\//, '');
    return `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const charged = new Map<string, number>();
  const entry = new Map<string, number>();
  const focused = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    self.set(name(id), (self.get(name(id)) ?? 0) + dt);
    let at: number | undefined = id;
    while (at !== undefined && !byId.get(at)!.callFrame.url.includes('/src/')) at = parent.get(at);
    const key = at === undefined ? '(outside src/)' : name(at);
    charged.set(key, (charged.get(key) ?? 0) + dt);
    // The outermost src/ frame: which of moat's entry points (accept, a login, the relay, the
    // audit writer, a timer) the sample belongs to.
    let outer: number | undefined;
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up))
      if (byId.get(up)!.callFrame.url.includes('/src/')) outer = up;
    const e = outer === undefined ? '(outside src/)' : name(outer);
    entry.set(e, (entry.get(e) ?? 0) + dt);
    if (focus !== undefined && e.startsWith(`${focus} `))
      focused.set(name(id), (focused.get(name(id)) ?? 0) + dt);
  }
  for (const [title, m] of [
    ['self time', self],
    ['charged to the nearest src/ function', charged],
    ['charged to the outermost src/ function (the entry point)', entry],
    ...(focus === undefined ? [] : ([[`self time under ${focus}`, focused]] as const)),
  ] as const) {
    log(`\n${title}:`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 25))
      log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
