// `npm run bench`: sysbench and a connect-rate test against the database directly and through
// HAProxy, a bare Node pipe and moat, interleaved, with each proxy's own CPU per query.
// See bench/README.md for how to read the output.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { startMariaDB } from '../test/harness/mariadb.ts';
import { startRedis } from '../test/harness/redis.ts';
import { runConnectRate } from './connect-rate.ts';
import { CLK_TCK, foreignCpuUs, machineLoad, snapshot, stealTicks, treeCpu } from './cpu.ts';
import { connectQueryQuit, type Endpoint } from './mysql-client.ts';
import { type Options, parseOptions, type Scenario, USAGE } from './options.ts';
import { type Cell, type Sample, summarize, table, writeJson } from './report.ts';
import { log, scratch } from './scratch.ts';
import * as sysbench from './sysbench.ts';
import { haproxyVersion, type StartContext, startTarget, type Target, unavailable } from './targets.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const DATABASE = 'sbtest';
const SETTLE_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function version(cmd: string, args: string[], re: RegExp): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).match(re)?.[1] ?? 'unknown';
  } catch {
    return 'missing';
  }
}

type Measured = { ops: number; seconds: number; opsPerSec: number; p95Ms: number; errors: number };

/** Everything a run needs to reach a target. */
type Bench = { opts: Options; base: Omit<sysbench.SysbenchConn, 'port'>; dbPid: number };

/** One scenario against one target: sysbench's queries, or the connect loop's cycles. */
async function runScenario(b: Bench, scenario: Scenario, threads: number, t: Target): Promise<Measured> {
  if (scenario === 'connect') {
    const { user, password, database } = b.base;
    const ep: Endpoint = { host: t.host, port: t.port, user, password, database };
    const r = await runConnectRate(ep, {
      concurrency: threads,
      seconds: b.opts.time,
      client: b.opts.connectClient,
    });
    if (r.cycles === 0) throw new Error(`no connection succeeded: ${r.firstError}`);
    return { ops: r.cycles, seconds: r.seconds, opsPerSec: r.perSecond, p95Ms: r.p95Ms, errors: r.errors };
  }
  const script = scenario === 'point_select' ? 'oltp_point_select' : 'oltp_read_only';
  const r = await sysbench.run(script, { ...b.base, host: t.host, port: t.port }, threads, b.opts.time);
  return { ops: r.queries, seconds: r.seconds, opsPerSec: r.qps, p95Ms: r.p95Ms, errors: r.errors };
}

/** Runs one scenario with the proxy's, the server's and everyone else's CPU read around it. */
async function measure(
  b: Bench,
  scenario: Scenario,
  threads: number,
  t: Target,
  round: number,
): Promise<Sample> {
  const before = snapshot();
  const steal0 = stealTicks();
  const t0 = performance.now();
  try {
    const m = await runScenario(b, scenario, threads, t);
    const after = snapshot();
    const steal = stealTicks() - steal0;
    const wallUs = (performance.now() - t0) * 1000;
    const machineUs = wallUs * os.availableParallelism();
    return {
      round,
      ...m,
      ...(t.pid === undefined ? {} : { proxyCpu: treeCpu(before, after, t.pid) }),
      dbCpu: treeCpu(before, after, b.dbPid),
      othersPct: (100 * foreignCpuUs(before, after)) / machineUs,
      stealPct: (100 * steal * (1e6 / CLK_TCK)) / machineUs,
    };
  } catch (err) {
    const gone = t.exited();
    const failure = (gone ? `${t.name} process died (${gone}); ` : '') + (err as Error).message;
    return { round, ops: 0, seconds: 0, opsPerSec: 0, p95Ms: 0, errors: 0, failure };
  }
}

function describe(s: Sample): string {
  if (s.failure) return `FAILED ${s.failure.split('\n')[0]}`;
  const cpu = s.proxyCpu ? `  cpu ${((s.proxyCpu.userUs + s.proxyCpu.sysUs) / s.ops).toFixed(1)} µs/op` : '';
  const errs = s.errors ? `  ${s.errors} errors` : '';
  const others = (s.othersPct ?? 0) >= 5 ? `  (others used ${s.othersPct!.toFixed(0)}% of the machine)` : '';
  const steal = (s.stealPct ?? 0) >= 5 ? `  (hypervisor stole ${s.stealPct!.toFixed(0)}%)` : '';
  return `${s.opsPerSec.toFixed(0)}/s  p95 ${s.p95Ms.toFixed(2)} ms${cpu}${errs}${others}${steal}`;
}

/** Every (scenario, threads) for every target, `rounds` times; targets back to back. */
async function runAll(b: Bench, targets: Target[]): Promise<Cell[]> {
  const { opts } = b;
  const plan: { scenario: Scenario; threads: number }[] = [];
  for (const scenario of opts.scenarios) {
    if (scenario === 'connect') plan.push({ scenario, threads: opts.connectConcurrency });
    else for (const threads of opts.threads) plan.push({ scenario, threads });
  }
  const cells: Cell[] = plan.flatMap((p) => targets.map((t) => ({ ...p, target: t.name, samples: [] })));
  const total = opts.rounds * cells.length;
  log(`${total} runs, about ${Math.ceil((total * (opts.time + 1.5)) / 60)} min`);
  let n = 0;
  for (let round = 0; round < opts.rounds; round++) {
    for (const p of plan) {
      // Back to back, so drift hits every target alike; the order rotates each round.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const t of order) {
        const sample = await measure(b, p.scenario, p.threads, t, round);
        cells
          .find((c) => c.scenario === p.scenario && c.threads === p.threads && c.target === t.name)!
          .samples.push(sample);
        log(`[${++n}/${total}] ${p.scenario} ${p.threads} ${t.name}: ${describe(sample)}`);
        await sleep(SETTLE_MS);
      }
    }
  }
  return cells;
}

async function main(opts: Options): Promise<void> {
  const startedAt = new Date();
  const { dir, cleanups, cleanup } = scratch('moat-bench-');

  try {
    const load = await machineLoad();
    const busy = `${(load.busy * 100).toFixed(0)}% busy, ${(load.steal * 100).toFixed(0)}% stolen by the hypervisor`;
    if (load.busy + load.steal > 0.15)
      log(`WARNING: before starting, the machine is ${busy}: results will be noisy.`);

    const db = await startMariaDB({
      name: 'bench',
      // A buffer pool that holds sbtest whole, and room for 32 sysbench threads through every proxy.
      extraArgs: ['--innodb-buffer-pool-size=256M', '--max-connections=500'],
    });
    cleanups.push(() => db.stop());
    await db.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`);

    const machine = {
      nproc: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      kernel: os.release(),
      node: process.version,
      mariadb: db.version,
      sysbench: version('sysbench', ['--version'], /sysbench (\S+)/),
      haproxy: haproxyVersion(),
      clkTck: CLK_TCK,
      busyBefore: Number(load.busy.toFixed(3)),
      stealBefore: Number(load.steal.toFixed(3)),
    };
    console.log(
      `moat bench  ${startedAt.toISOString()}\n` +
        `machine: ${machine.nproc} cores (${machine.cpu}), Linux ${machine.kernel}, ` +
        `${busy} before start\n` +
        `software: node ${machine.node}, MariaDB ${machine.mariadb}, sysbench ${machine.sysbench}, ` +
        `HAProxy ${machine.haproxy} (nbthread ${opts.haproxyThreads})\n` +
        `run: ${opts.time} s per run, ${opts.rounds} round(s), sysbench --db-ps-mode=${opts.psMode}, ` +
        `${opts.tables} tables x ${opts.tableSize} rows, connect: ${opts.connectConcurrency} loops ` +
        `(${opts.connectClient} client)`,
    );

    const b: Bench = {
      opts,
      dbPid: db.pid,
      base: {
        host: db.host,
        ...db.users.bench,
        database: DATABASE,
        tables: opts.tables,
        tableSize: opts.tableSize,
        psMode: opts.psMode,
      },
    };
    const sysbenchScenarios = opts.scenarios.filter((s) => s !== 'connect');
    if (sysbenchScenarios.length > 0) {
      log('preparing sbtest through the direct connection...');
      await sysbench.prepare({ ...b.base, port: db.port });
    }

    let redisUrl: string | undefined;
    if (opts.targets.includes('moat-redis')) {
      const redis = await startRedis();
      cleanups.push(() => redis.stop());
      redisUrl = redis.url;
    }
    const ctx: StartContext = {
      backend: { host: db.host, port: db.port },
      dir,
      repoRoot,
      haproxyThreads: opts.haproxyThreads,
      moatMain: opts.moatMain,
      moatArgs: opts.moatArgs,
      redisUrl,
      benchUser: db.users.bench.user,
      tables: opts.tables,
      note: log,
    };
    const targets: Target[] = [];
    for (const name of opts.targets) {
      const why = unavailable(name, ctx);
      if (why) {
        log(`skipping target ${name}: ${why}`);
        continue;
      }
      const t = await startTarget(name, ctx);
      cleanups.push(() => t.stop());
      // One full login and query through the target before anything is measured.
      await connectQueryQuit({ ...b.base, host: t.host, port: t.port });
      targets.push(t);
      log(`target ${name} ready on ${t.host}:${t.port}${t.pid ? ` (pid ${t.pid})` : ''}`);
    }
    if (targets.length === 0) throw new Error('no target to measure');

    if (opts.warmup > 0 && sysbenchScenarios.length > 0) {
      // The server's buffer pool, and the JIT of the Node proxies, as a long-running proxy has them.
      log(`warming up: ${opts.warmup} s of point_select through each target`);
      for (const t of targets) {
        await sysbench.run('oltp_point_select', { ...b.base, host: t.host, port: t.port }, 8, opts.warmup);
      }
    }

    const cells = await runAll(b, targets);
    summarize(cells);
    console.log(`\n${table(cells)}\n`);
    console.log(
      'QPS: queries/s (connect: connect+auth+SELECT 1+quit cycles/s). p95: per sysbench event ' +
        '(read_only: per 16-query transaction; connect: connect() to the SELECT 1 result).\n' +
        `CPU µs/op: the proxy's utime+stime / ops (clock tick ${1000 / CLK_TCK} ms); db µs/op: mariadbd's. ` +
        'Ratios: this row over direct / haproxy in the same group; CPU ×relay: over moat-relay ' +
        '(audit of logins only, no detection). Medians over rounds.',
    );
    const samples = cells.flatMap((c) => c.samples);
    const crowded = samples.filter((s) => (s.othersPct ?? 0) >= 10).length;
    const stolen = samples.filter((s) => (s.stealPct ?? 0) >= 20).length;
    if (crowded > 0) {
      console.log(
        `\nWARNING: in ${crowded} run(s) processes the benchmark did not start used >= 10% of the machine ` +
          '(others%): those rows are not comparable; rerun when the machine is quiet.',
      );
    }
    if (stolen > 0) {
      console.log(
        `\nNOTE: in ${stolen} run(s) the hypervisor withheld >= 20% of the vCPUs' time (steal%): usual at 1 ` +
          'thread, where the vCPUs idle between queries; elsewhere the VM host was busy. Compare within a ' +
          'group and prefer CPU µs/op.',
      );
    }
    const data = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      options: opts,
      cells,
    };
    const files = writeJson(join(repoRoot, 'bench/results'), data, startedAt);
    console.log(`\nwrote ${files.map((f) => f.slice(repoRoot.length + 1)).join(', ')}`);
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
