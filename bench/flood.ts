// `node bench/flood.ts`: legitimate sysbench clients through moat, with and without a flood of
// failing handshakes, password guesses and idle half-open sockets from other addresses, in the
// same moat process, interleaved (baseline, flood, baseline, ...). Prints the legitimate QPS and
// latency of each run side by side, and what happened to the attack; writes
// bench/results/flood-latest.json. See bench/README.md ("Flood").

import { type ChildProcess, execFile, fork } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startMariaDB } from '../test/harness/mariadb.ts';
import { percentile } from './connect-rate.ts';
import { CLK_TCK, foreignCpuUs, machineLoad, snapshot, stealTicks, treeCpu } from './cpu.ts';
import {
  ATTACK_KINDS,
  type AttackConfig,
  type AttackKind,
  type AttackStats,
  type FromAttacker,
  type ToAttacker,
} from './flood-attacker.ts';
import { fdCount, type MoatChild, memoryKb, moatRevision, startMoat } from './moat-process.ts';
import { connectQueryQuit } from './mysql-client.ts';
import { writeResults } from './results-file.ts';
import { log, scratch } from './scratch.ts';
import * as sysbench from './sysbench.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const DATABASE = 'sbtest';
const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const USAGE = `node bench/flood.ts [flags]
  --time S              seconds of sysbench per run (default 10)
  --rounds N            flood runs; each is preceded and followed by a baseline run (default 2)
  --threads N           sysbench oltp_point_select threads (default 8)
  --rate N              attack connections per second, all kinds together (default 300)
  --mix H,G,I           weights of handshake failures, password guesses, idle sockets (default 1,1,1)
  --addresses H,G,I     source addresses per kind, 127.10/20/30.x.y (default 1024,64,1024)
  --guess-timeout S     how long a guesser waits for an answer before giving up (default 5)
  --ramp S              flood seconds before sysbench starts (default: moat's handshake timeout + 1)
  --handshake-timeout MS  moat's limits.handshakeTimeoutMs (default: moat's own, 10000)
  --log-level L         moat's log.level (default: moat's own, info: one line per failed login)
  --probe-interval MS   pause between the legitimate connect probe's logins (default 100)
  --warmup S            seconds of point_select before the first run (default 2)
  --tables N --table-size N   sbtest size (default 4 x 10000)`;

type Options = {
  time: number;
  rounds: number;
  threads: number;
  rate: number;
  mix: Record<AttackKind, number>;
  addresses: Record<AttackKind, number>;
  guessTimeoutS: number;
  rampS: number | undefined;
  handshakeTimeoutMs: number | undefined;
  logLevel: string | undefined;
  probeIntervalMs: number;
  warmup: number;
  tables: number;
  tableSize: number;
};

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      time: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '2' },
      threads: { type: 'string', default: '8' },
      rate: { type: 'string', default: '300' },
      mix: { type: 'string', default: '1,1,1' },
      addresses: { type: 'string', default: '1024,64,1024' },
      'guess-timeout': { type: 'string', default: '5' },
      ramp: { type: 'string' },
      'handshake-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'probe-interval': { type: 'string', default: '100' },
      warmup: { type: 'string', default: '2' },
      tables: { type: 'string', default: '4' },
      'table-size': { type: 'string', default: '10000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const num = (v: string, flag: string, min = 0): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag}: expected a number >= ${min}`);
    return n;
  };
  const triple = (v: string, flag: string, min: number): Record<AttackKind, number> => {
    const parts = v.split(',').map((x) => num(x, flag, min));
    if (parts.length !== 3) throw new Error(`${flag}: expected three numbers (handshake,guess,idle)`);
    return { handshake: parts[0]!, guess: parts[1]!, idle: parts[2]! };
  };
  const addresses = triple(values.addresses, '--addresses', 1);
  for (const k of ATTACK_KINDS) {
    if (!Number.isInteger(addresses[k]) || addresses[k] > 254 * 254)
      throw new Error(`--addresses: at most ${254 * 254} per kind`);
  }
  return {
    time: num(values.time, '--time', 1),
    rounds: num(values.rounds, '--rounds', 1),
    threads: num(values.threads, '--threads', 1),
    rate: num(values.rate, '--rate', 0),
    mix: triple(values.mix, '--mix', 0),
    addresses,
    guessTimeoutS: num(values['guess-timeout'], '--guess-timeout', 0.1),
    rampS: values.ramp === undefined ? undefined : num(values.ramp, '--ramp', 0),
    handshakeTimeoutMs:
      values['handshake-timeout'] === undefined
        ? undefined
        : num(values['handshake-timeout'], '--handshake-timeout', 100),
    logLevel: values['log-level'],
    probeIntervalMs: num(values['probe-interval'], '--probe-interval', 0),
    warmup: num(values.warmup, '--warmup', 0),
    tables: num(values.tables, '--tables', 1),
    tableSize: num(values['table-size'], '--table-size', 1),
  };
}

// ---- sysbench with p95 and p99 -------------------------------------------------------------------

type Sysbench = {
  queries: number;
  qps: number;
  p95Ms: number;
  p99Ms: number;
  errors: number;
  reconnects: number;
  seconds: number;
};

/**
 * sysbench.ts's runner prints one percentile; this one asks for the 99th and reads the 95th from
 * the latency histogram (the buckets sysbench computes its own percentile from).
 */
async function runSysbench(c: sysbench.SysbenchConn, threads: number, seconds: number): Promise<Sysbench> {
  const args = [
    'oltp_point_select',
    '--db-driver=mysql',
    `--mysql-host=${c.host}`,
    `--mysql-port=${c.port}`,
    `--mysql-user=${c.user}`,
    `--mysql-password=${c.password}`,
    `--mysql-db=${c.database}`,
    '--mysql-ssl=off',
    `--tables=${c.tables}`,
    `--table-size=${c.tableSize}`,
    `--db-ps-mode=${c.psMode}`,
    `--threads=${threads}`,
    `--time=${seconds}`,
    '--events=0',
    '--percentile=99',
    '--histogram=on',
    'run',
  ];
  let out: string;
  try {
    out = (await exec('sysbench', args, { timeout: (seconds + 60) * 1000, maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    const lines = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '');
    // sysbench prints its FATAL lines on stdout: the first says why (e.g. MySQL error 1040).
    const fatal = lines.filter((l) => /FATAL|error/i.test(l)).slice(0, 3);
    throw new Error(`sysbench exit ${e.code}: ${fatal.length > 0 ? fatal.join(' / ') : lines.at(-1)}`);
  }
  const num = (re: RegExp, what: string): number => {
    const m = out.match(re);
    if (!m) throw new Error(`sysbench output has no ${what}:\n${out}`);
    return Number(m[1]);
  };
  // Histogram rows: "       0.153 |****                                     1234"
  const buckets = [...out.matchAll(/^\s+([\d.]+) \|\**\s+(\d+)$/gm)].map((m) => ({
    ms: Number(m[1]),
    n: Number(m[2]),
  }));
  const total = buckets.reduce((s, b) => s + b.n, 0);
  const fromHistogram = (p: number): number => {
    let seen = 0;
    for (const b of buckets) {
      seen += b.n;
      if (seen >= (p / 100) * total) return b.ms;
    }
    return Number.NaN;
  };
  return {
    queries: num(/^\s+queries:\s+(\d+)/m, 'queries'),
    qps: num(/^\s+queries:\s+\d+\s+\(([\d.]+) per sec/m, 'queries per sec'),
    p95Ms: fromHistogram(95),
    p99Ms: num(/^\s+99th percentile:\s+([\d.]+)/m, '99th percentile'),
    errors: num(/^\s+ignored errors:\s+(\d+)/m, 'ignored errors'),
    reconnects: num(/^\s+reconnects:\s+(\d+)/m, 'reconnects'),
    seconds: num(/^\s+total time:\s+([\d.]+)s/m, 'total time'),
  };
}

// ---- the legitimate connect probe ------------------------------------------------------------------

type Probe = { ok: number; failed: number; firstError?: string; p99Ms: number };

/** Logins from 127.0.0.1 (connect, auth, SELECT 1, quit) one after another until `stop()`. */
function startProbe(ep: Parameters<typeof connectQueryQuit>[0], pauseMs: number): () => Promise<Probe> {
  let running = true;
  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const loop = (async () => {
    while (running) {
      try {
        latencies.push((await connectQueryQuit(ep)) / 1e6);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
      await sleep(pauseMs);
    }
  })();
  return async () => {
    running = false;
    await loop;
    latencies.sort((a, b) => a - b);
    return {
      ok: latencies.length,
      failed,
      ...(firstError === undefined ? {} : { firstError }),
      p99Ms: percentile(latencies, 99),
    };
  };
}

// ---- the attacker process --------------------------------------------------------------------------

class Attacker {
  private readonly child: ChildProcess;
  private waiting: ((s: AttackStats) => void) | undefined;

  constructor(config: AttackConfig) {
    this.child = fork(join(import.meta.dirname, 'flood-attacker.ts'), [], { stdio: 'inherit' });
    this.child.on('message', (m: FromAttacker) => this.waiting?.(m.stats));
    this.send({ type: 'start', config });
  }

  get pid(): number {
    return this.child.pid!;
  }

  private send(m: ToAttacker): void {
    this.child.send(m);
  }

  private ask(m: ToAttacker): Promise<AttackStats> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the attacker process did not answer')), 30_000);
      this.waiting = (s) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(s);
      };
      this.send(m);
    });
  }

  snapshot(): Promise<AttackStats> {
    return this.ask({ type: 'snapshot' });
  }

  async stop(): Promise<AttackStats> {
    const s = await this.ask({ type: 'stop' });
    await new Promise((r) => (this.child.exitCode !== null ? r(null) : this.child.once('exit', r)));
    return s;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Counters in `b` minus those in `a` (the attack during the measured window). */
function diffKinds(a: AttackStats, b: AttackStats): Record<AttackKind, Record<string, number>> {
  const out = {} as Record<AttackKind, Record<string, number>>;
  for (const k of ATTACK_KINDS) {
    out[k] = {};
    for (const [key, v] of Object.entries(b.kinds[k])) {
      const d = v - (a.kinds[k][key] ?? 0);
      if (d !== 0) out[k][key] = d;
    }
  }
  return out;
}

// ---- moat's log ---------------------------------------------------------------------------------------

type LogSummary = {
  blockedHosts: number;
  loginFailed: Record<string, number>;
  other: Record<string, number>;
};

/** moat's JSON log between two byte offsets: hosts blocked, failed logins by outcome. */
function readMoatLog(file: string, from: number, to: number): LogSummary {
  const text = readFileSync(file).subarray(from, to).toString('utf8');
  const s: LogSummary = { blockedHosts: 0, loginFailed: {}, other: {} };
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let j: { msg?: string; login?: { outcome?: string } };
    try {
      j = JSON.parse(line);
    } catch {
      continue;
    }
    if (j.msg === 'host blocked') s.blockedHosts++;
    else if (j.msg === 'login failed') {
      const o = j.login?.outcome ?? '?';
      s.loginFailed[o] = (s.loginFailed[o] ?? 0) + 1;
    } else if (j.msg !== undefined) s.other[j.msg] = (s.other[j.msg] ?? 0) + 1;
  }
  return s;
}

// ---- one run ---------------------------------------------------------------------------------------

/** The flood before sysbench starts (the second half of the ramp): moat's cost per attack connection. */
type AttackAlone = {
  seconds: number;
  connPerS: number;
  moatCpuPct: number;
  moatUsPerConn: number;
  moatUserUsPerConn: number;
  dbCpuPct: number;
};

type Run = {
  scenario: 'baseline' | 'flood';
  index: number;
  sysbench?: Sysbench;
  failure?: string;
  probe: Probe;
  moatCpu: { userUs: number; sysUs: number };
  moatCpuUsPerOp: number;
  moatCpuPct: number;
  moatRssKb: number;
  moatHwmKb: number;
  dbCpuUsPerOp: number;
  othersPct: number;
  stealPct: number;
  attack?: {
    alone?: AttackAlone;
    connPerS: number;
    attackerCpuPct: number;
    openAtEnd: number;
    window: Record<AttackKind, Record<string, number>>;
    total: Record<AttackKind, Record<string, number>>;
    totalSeconds: number;
  };
  moatLog: LogSummary;
  /** moat after the run and 2 s of settling, after a forced GC: leaks show here run after run. */
  afterGc?: { rssKb: number; heapUsedKb: number; fds: number; ledgerRows: number };
  /** This run's QPS over the mean of the baselines around it (flood runs). */
  vsBaseline?: number;
};

type Ctx = {
  opts: Options;
  conn: sysbench.SysbenchConn;
  moat: MoatChild;
  dbPid: number;
  handshakeTimeoutMs: number;
};

async function measure(ctx: Ctx, scenario: Run['scenario'], index: number): Promise<Run> {
  const { opts, conn, moat } = ctx;
  let attacker: Attacker | undefined;
  let before: AttackStats | undefined;
  let attackAlone: AttackAlone | undefined;
  try {
    if (scenario === 'flood') {
      attacker = new Attacker({
        host: conn.host,
        port: conn.port,
        rate: opts.rate,
        mix: opts.mix,
        addresses: opts.addresses,
        user: conn.user,
        database: DATABASE,
        guessTimeoutMs: opts.guessTimeoutS * 1000,
        idleMaxMs: ctx.handshakeTimeoutMs + 30_000,
        maxOpen: 15_000,
      });
      const ramp = opts.rampS ?? ctx.handshakeTimeoutMs / 1000 + 1;
      log(
        `  flood at ${opts.rate}/s for ${ramp} s before sysbench starts (idle sockets reach their steady state)`,
      );
      // The second half of the ramp, with no legitimate load: what the attack alone costs moat.
      await sleep((ramp / 2) * 1000);
      const c0 = snapshot();
      const a0 = await attacker.snapshot();
      await sleep((ramp / 2) * 1000);
      const c1 = snapshot();
      before = await attacker.snapshot();
      const conns = ATTACK_KINDS.reduce(
        (s, k) => s + (before!.kinds[k].attempts! - a0.kinds[k].attempts!),
        0,
      );
      const seconds = before.elapsedS - a0.elapsedS;
      const m = treeCpu(c0, c1, moat.pid);
      const d = treeCpu(c0, c1, ctx.dbPid);
      attackAlone = {
        seconds,
        connPerS: conns / seconds,
        moatCpuPct: (100 * (m.userUs + m.sysUs)) / (seconds * 1e6),
        moatUsPerConn: (m.userUs + m.sysUs) / conns,
        moatUserUsPerConn: m.userUs / conns,
        dbCpuPct: (100 * (d.userUs + d.sysUs)) / (seconds * 1e6),
      };
    }
    const cpu0 = snapshot();
    const steal0 = stealTicks();
    const t0 = performance.now();
    const stopProbe = startProbe(
      { host: conn.host, port: conn.port, user: conn.user, password: conn.password, database: DATABASE },
      opts.probeIntervalMs,
    );
    let sb: Sysbench | undefined;
    let failure: string | undefined;
    try {
      sb = await runSysbench(conn, opts.threads, opts.time);
    } catch (err) {
      failure = (err as Error).message;
    }
    const probe = await stopProbe();
    const cpu1 = snapshot();
    const wallUs = (performance.now() - t0) * 1000;
    const steal = stealTicks() - steal0;
    const after = attacker ? await attacker.snapshot() : undefined;
    const mem = memoryKb(moat.pid);
    const mc = treeCpu(cpu0, cpu1, moat.pid);
    const db = treeCpu(cpu0, cpu1, ctx.dbPid);
    const ops = sb?.queries ?? 0;
    const machineUs = wallUs * os.availableParallelism();
    const run: Run = {
      scenario,
      index,
      ...(sb ? { sysbench: sb } : {}),
      ...(failure ? { failure } : {}),
      probe,
      moatCpu: mc,
      moatCpuUsPerOp: ops > 0 ? (mc.userUs + mc.sysUs) / ops : Number.NaN,
      moatCpuPct: (100 * (mc.userUs + mc.sysUs)) / wallUs,
      moatRssKb: mem.rssKb,
      moatHwmKb: mem.hwmKb,
      dbCpuUsPerOp: ops > 0 ? (db.userUs + db.sysUs) / ops : Number.NaN,
      othersPct: (100 * foreignCpuUs(cpu0, cpu1)) / machineUs,
      stealPct: (100 * steal * (1e6 / CLK_TCK)) / machineUs,
      moatLog: { blockedHosts: 0, loginFailed: {}, other: {} },
    };
    if (attacker && before && after) {
      const window = diffKinds(before, after);
      const attempts = ATTACK_KINDS.reduce((s, k) => s + (window[k].attempts ?? 0), 0);
      const seconds = after.elapsedS - before.elapsedS;
      const cpuUs = after.cpu.user + after.cpu.system - (before.cpu.user + before.cpu.system);
      const final = await attacker.stop();
      attacker = undefined;
      run.attack = {
        ...(attackAlone ? { alone: attackAlone } : {}),
        connPerS: attempts / seconds,
        attackerCpuPct: (100 * cpuUs) / (seconds * 1e6),
        openAtEnd: after.open,
        window,
        total: final.kinds,
        totalSeconds: final.elapsedS,
      };
    }
    return run;
  } finally {
    attacker?.kill();
    // Let moat see the attacker's sockets close, and its log catch up, before the next run.
    await sleep(2000);
  }
}

function describe(r: Run): string {
  if (!r.sysbench) return `FAILED ${r.failure}`;
  const a = r.attack ? `  attack ${r.attack.connPerS.toFixed(0)} conn/s` : '';
  return (
    `${r.sysbench.qps.toFixed(0)} QPS  p95 ${r.sysbench.p95Ms.toFixed(2)}  p99 ${r.sysbench.p99Ms.toFixed(2)} ms  ` +
    `moat ${r.moatCpuUsPerOp.toFixed(1)} µs/op ${r.moatCpuPct.toFixed(0)}% CPU  ` +
    `probe ${r.probe.ok} ok ${r.probe.failed} failed${a}`
  );
}

// ---- output --------------------------------------------------------------------------------------------

const fmt = (x: number | undefined, digits: number, suffix = ''): string =>
  x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits) + suffix;

function grid(head: string[], rows: string[][], leftCols = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((v, i) => (i < leftCols ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function runTable(runs: Run[]): string {
  const head = [
    'run',
    'legit QPS',
    '×baseline',
    'p95 ms',
    'p99 ms',
    'sb errors',
    'reconnects',
    'legit logins ok/failed',
    'login p99 ms',
    'attack conn/s',
    'moat µs/op',
    'moat CPU%',
    'moat RSS MB',
    'after: heap MB',
    'fds',
    'ledger',
    'attacker CPU%',
    'others%',
    'steal%',
  ];
  const rows = runs.map((r) => [
    `${r.index}. ${r.scenario}`,
    fmt(r.sysbench?.qps, 0),
    fmt(r.vsBaseline, 3, '×'),
    fmt(r.sysbench?.p95Ms, 2),
    fmt(r.sysbench?.p99Ms, 2),
    r.sysbench ? String(r.sysbench.errors) : 'FAILED',
    r.sysbench ? String(r.sysbench.reconnects) : '-',
    `${r.probe.ok}/${r.probe.failed}`,
    fmt(r.probe.p99Ms, 1),
    r.attack ? fmt(r.attack.connPerS, 0) : '-',
    fmt(r.moatCpuUsPerOp, 1),
    fmt(r.moatCpuPct, 0),
    fmt(r.moatRssKb / 1024, 0),
    fmt(r.afterGc ? r.afterGc.heapUsedKb / 1024 : undefined, 1),
    r.afterGc ? String(r.afterGc.fds) : '-',
    r.afterGc ? String(r.afterGc.ledgerRows) : '-',
    r.attack ? fmt(r.attack.attackerCpuPct, 0) : '-',
    fmt(r.othersPct, 0),
    fmt(r.stealPct, 0),
  ]);
  return grid(head, rows);
}

function attackTable(runs: Run[]): string {
  const rows: string[][] = [];
  for (const r of runs) {
    if (!r.attack) continue;
    for (const k of ATTACK_KINDS) {
      const w = r.attack.window[k];
      const attempts = w.attempts ?? 0;
      const rest = Object.entries(w)
        .filter(([key]) => key !== 'attempts')
        .sort((a, b) => b[1] - a[1])
        .map(([key, v]) => `${key} ${v}`)
        .join(', ');
      rows.push([`${r.index}. flood`, k, String(attempts), rest]);
    }
  }
  const head = ['run', 'kind', 'attempts', 'outcomes during the sysbench window (attacker side)'];
  const widths = head.slice(0, 3).map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) =>
    `${x[0]!.padEnd(widths[0]!)}  ${x[1]!.padEnd(widths[1]!)}  ${x[2]!.padStart(widths[2]!)}  ${x[3]}`;
  return [
    line(head),
    `${widths.map((w) => '-'.repeat(w)).join('  ')}  ${'-'.repeat(50)}`,
    ...rows.map(line),
  ].join('\n');
}

// ---- main ---------------------------------------------------------------------------------------------

async function main(opts: Options): Promise<void> {
  const startedAt = new Date();
  const { dir, cleanups, cleanup } = scratch('moat-flood-');
  try {
    const load = await machineLoad();
    const busy = `${(load.busy * 100).toFixed(0)}% busy, ${(load.steal * 100).toFixed(0)}% stolen`;
    if (load.busy + load.steal > 0.15)
      log(`WARNING: before starting, the machine is ${busy}: results will be noisy.`);

    const db = await startMariaDB({
      name: 'flood',
      extraArgs: ['--innodb-buffer-pool-size=256M', '--max-connections=500'],
    });
    cleanups.push(() => db.stop());
    await db.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`);
    const base = {
      host: db.host,
      ...db.users.bench,
      database: DATABASE,
      tables: opts.tables,
      tableSize: opts.tableSize,
      psMode: 'disable' as const,
    };
    log('preparing sbtest through the direct connection...');
    await sysbench.prepare({ ...base, port: db.port });

    // Guard settings are moat's defaults: the point is what an untuned gateway does under a flood.
    const moatConfig: Record<string, unknown> = {};
    if (opts.handshakeTimeoutMs !== undefined)
      moatConfig.limits = { handshakeTimeoutMs: opts.handshakeTimeoutMs };
    const moat = await startMoat({
      repoRoot,
      dir,
      name: 'moat',
      backend: { host: db.host, port: db.port },
      config: moatConfig,
      // For a forced GC and heap reading between runs (never during one).
      inspect: true,
    });
    cleanups.push(() => moat.stop());
    const conn: sysbench.SysbenchConn = { ...base, port: moat.port };
    await connectQueryQuit({ ...base, port: moat.port });
    log(`moat ready on 127.0.0.1:${moat.port} (pid ${moat.pid}), config ${moat.config}`);
    const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000;

    const totalW = ATTACK_KINDS.reduce((s, k) => s + opts.mix[k], 0);
    const perKind = ATTACK_KINDS.map(
      (k) => `${k} ${((opts.rate * opts.mix[k]) / totalW).toFixed(0)}/s from ${opts.addresses[k]} addresses`,
    ).join(', ');
    console.log(
      `moat flood bench  ${startedAt.toISOString()}\n` +
        `machine: ${os.availableParallelism()} cores, Linux ${os.release()}, ${busy} before start; ` +
        `node ${process.version}, MariaDB ${db.version}, moat ${moatRevision(repoRoot)}\n` +
        `legit: sysbench oltp_point_select ${opts.threads} threads x ${opts.time} s from 127.0.0.1, ` +
        `plus one login loop from 127.0.0.1 (connect, auth, SELECT 1, quit; ${opts.probeIntervalMs} ms pause)\n` +
        `attack: ${opts.rate} conn/s: ${perKind}; guessers give up after ${opts.guessTimeoutS} s\n` +
        `moat: guard defaults (max_connect_errors 100, connection_control threshold 3, ` +
        `maxUnauthenticated 2000, maxUnauthenticatedPerHost 50), handshake timeout ${handshakeTimeoutMs} ms, ` +
        `log level ${opts.logLevel ?? 'info'}`,
    );

    if (opts.warmup > 0) {
      log(`warming up: ${opts.warmup} s of point_select through moat`);
      await runSysbench(conn, opts.threads, opts.warmup);
    }

    const plan: Run['scenario'][] = ['baseline'];
    for (let i = 0; i < opts.rounds; i++) plan.push('flood', 'baseline');
    const ctx: Ctx = { opts, conn, moat, dbPid: db.pid, handshakeTimeoutMs };
    const runs: Run[] = [];
    for (const [i, scenario] of plan.entries()) {
      log(`[${i + 1}/${plan.length}] ${scenario}`);
      const from = statSync(moat.log).size;
      const r = await measure(ctx, scenario, i + 1);
      r.moatLog = readMoatLog(moat.log, from, statSync(moat.log).size);
      if (moat.inspector) {
        await moat.inspector.gc();
        const mu = await moat.inspector.memoryUsage();
        const rows = await moat.inspector.ledgerRows();
        await moat.inspector.gc();
        r.afterGc = {
          rssKb: memoryKb(moat.pid).rssKb,
          heapUsedKb: Math.round(mu.heapUsed / 1024),
          fds: fdCount(moat.pid),
          ledgerRows: Math.max(0, ...rows),
        };
      }
      runs.push(r);
      log(`[${i + 1}/${plan.length}] ${scenario}: ${describe(r)}`);
      if (moat.exited()) throw new Error(`moat died: ${moat.exited()}`);
    }
    for (const [i, r] of runs.entries()) {
      if (r.scenario !== 'flood' || !r.sysbench) continue;
      const around = [runs[i - 1], runs[i + 1]].flatMap((b) => (b?.sysbench ? [b.sysbench.qps] : []));
      if (around.length > 0)
        r.vsBaseline = r.sysbench.qps / (around.reduce((s, x) => s + x, 0) / around.length);
    }

    console.log(`\n${runTable(runs)}\n`);
    console.log(`${attackTable(runs)}\n`);
    for (const r of runs.filter((x) => x.scenario === 'flood')) {
      const l = r.moatLog;
      const fails = Object.entries(l.loginFailed)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      const other = Object.entries(l.other)
        .map(([k, v]) => `"${k}" ${v}`)
        .join(', ');
      console.log(
        `run ${r.index} moat log (ramp + window + stop): ${l.blockedHosts} hosts blocked; ` +
          `failed logins: ${fails || 'none'}${other ? `; other lines: ${other}` : ''}`,
      );
    }
    for (const r of runs) {
      const a = r.attack?.alone;
      if (!a) continue;
      console.log(
        `run ${r.index} attack alone (last ${a.seconds.toFixed(1)} s of the ramp, no legit load): ` +
          `${a.connPerS.toFixed(0)} conn/s cost moat ${a.moatCpuPct.toFixed(0)}% of a core = ` +
          `${a.moatUsPerConn.toFixed(0)} µs per attack connection (user ${a.moatUserUsPerConn.toFixed(0)}); ` +
          `MariaDB ${a.dbCpuPct.toFixed(0)}%`,
      );
    }
    console.log(
      '\nlegit QPS/p95/p99: sysbench (p95 from its latency histogram, p99 its own --percentile=99). ' +
        '×baseline: over the mean of the baseline runs before and after.\n' +
        'legit logins: the 127.0.0.1 login loop during the sysbench window (failed = refused or broken). ' +
        "after: moat's V8 heap after the run, 2 s of settling and a forced GC, its open fds and ledger rows. " +
        "moat µs/op: moat's utime+stime over the window / legit queries (attack work included); " +
        'attacker CPU%: of one core, the attack process (on the same 2 cores: it competes too).',
    );

    const floods = runs.filter((r) => r.scenario === 'flood');
    const worst = Math.min(...floods.map((r) => r.vsBaseline ?? 0));
    const refused = runs.reduce(
      (s, r) => s + r.probe.failed + (r.sysbench ? r.sysbench.errors + r.sysbench.reconnects : 1),
      0,
    );
    console.log(
      `\ntarget: legit throughput within 10% under the flood: ${worst >= 0.9 ? 'MET' : 'NOT MET'} ` +
        `(worst flood/baseline ${fmt(worst, 3, '×')}); ` +
        `no legitimate connection refused: ${refused === 0 ? 'MET' : `NOT MET (${refused} failures)`}`,
    );
    const crowded = runs.filter((r) => r.othersPct >= 10).length;
    if (crowded > 0)
      console.log(
        `WARNING: in ${crowded} run(s) other processes used >= 10% of the machine; rerun when quiet.`,
      );

    const file = writeResults(
      join(repoRoot, 'bench/results'),
      'flood',
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        machine: {
          nproc: os.availableParallelism(),
          kernel: os.release(),
          node: process.version,
          mariadb: db.version,
          moat: moatRevision(repoRoot),
          busyBefore: load.busy,
          stealBefore: load.steal,
        },
        options: opts,
        moatConfig: readFileSync(moat.config, 'utf8'),
        runs,
      },
      startedAt,
    );
    console.log(`\nwrote ${file.map((f) => f.slice(repoRoot.length + 1)).join(', ')}`);
  } finally {
    await cleanup();
  }
}

let opts: Options | 'help';
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (opts === 'help') console.log(USAGE);
else await main(opts);
