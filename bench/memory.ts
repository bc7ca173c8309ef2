// `node bench/memory.ts`: moat's memory (RSS from /proc/<pid>/status) with
//   (a) 10,000 idle unauthenticated sockets (connected, greeted, never answering),
//   (b) 1,000 established idle sessions (logged in through moat to MariaDB, doing nothing),
//   (c) 100,000 distinct client addresses passing through the host ledger, with host_cache_size
//       below that (50,000 by default): the ledger must stay within its bound.
// Each phase runs against a fresh moat process, so one phase's heap growth cannot hide the next
// one's. moat runs with --inspect so that a full GC can be forced before every reading (RSS then
// measures live data rather than garbage not yet collected) and its heap and ledger be looked at;
// --no-inspect turns that off. Writes bench/results/memory-latest.json. See bench/README.md.

import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startMariaDB } from '../test/harness/mariadb.ts';
import { machineLoad } from './cpu.ts';
import { fdCount, type MoatChild, memoryKb, moatRevision, startMoat } from './moat-process.ts';
import { connectQueryQuit } from './mysql-client.ts';
import { writeResults } from './results-file.ts';
import { log, scratch } from './scratch.ts';
import { login, loopbackAddress, manyLoopbackAddress, Wire } from './wire.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const USAGE = `node bench/memory.ts [flags]
  --phases a,b,c        which measurements (default all): a idle sockets, b sessions, c ledger
  --idle N              idle unauthenticated sockets in phase a (default 10000)
  --per-address N       idle sockets per source address in phase a (default 10)
  --sessions N          established idle sessions in phase b (default 1000)
  --addresses N         distinct client addresses in phase c (default 100000)
  --host-cache N        guard.host_cache_size in phase c (default 50000)
  --steps N             readings in phase c (default 4: after 25k, 50k, 75k, 100k)
  --control             phase c once more with host_cache_size above --addresses (unbounded growth)
  --concurrency N       connections being opened at once (default 200)
  --no-inspect          no --inspect on moat: no forced GC, no heap or ledger figures`;

type Options = {
  phases: Set<'a' | 'b' | 'c'>;
  idle: number;
  perAddress: number;
  sessions: number;
  addresses: number;
  hostCache: number;
  steps: number;
  control: boolean;
  concurrency: number;
  inspect: boolean;
};

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      phases: { type: 'string', default: 'a,b,c' },
      idle: { type: 'string', default: '10000' },
      'per-address': { type: 'string', default: '10' },
      sessions: { type: 'string', default: '1000' },
      addresses: { type: 'string', default: '100000' },
      'host-cache': { type: 'string', default: '50000' },
      steps: { type: 'string', default: '4' },
      control: { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '200' },
      'no-inspect': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const int = (v: string, flag: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer`);
    return n;
  };
  const phases = new Set(values.phases.split(',').filter((p) => p !== ''));
  for (const p of phases) if (!['a', 'b', 'c'].includes(p)) throw new Error(`--phases: unknown phase ${p}`);
  const o: Options = {
    phases: phases as Set<'a' | 'b' | 'c'>,
    idle: int(values.idle, '--idle'),
    perAddress: int(values['per-address'], '--per-address'),
    sessions: int(values.sessions, '--sessions'),
    addresses: int(values.addresses, '--addresses'),
    hostCache: int(values['host-cache'], '--host-cache'),
    steps: int(values.steps, '--steps'),
    control: values.control,
    concurrency: int(values.concurrency, '--concurrency'),
    inspect: !values['no-inspect'],
  };
  if (o.addresses > 254 * 254 * 100) throw new Error('--addresses: at most 6,451,600');
  return o;
}

/** Soft and hard RLIMIT_NOFILE, as a child shell inherits them from this process. */
function fdLimits(): { soft: number; hard: number } {
  const out = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
  const n = (s: string | undefined) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(out[0]), hard: n(out[1]) };
}

/** Runs `fn(i)` for i in [from, to) with at most `limit` at once. */
async function pool(
  from: number,
  to: number,
  limit: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, to - from) }, worker));
}

type Reading = {
  rssKb: number;
  hwmKb: number;
  fds: number;
  heapUsedKb?: number;
  externalKb?: number;
  ledgerRows?: number;
  /** Sizes of every Map holding ledger rows. */
  rowMaps?: number[];
};

/**
 * moat's memory after a moment to settle and a forced full GC (when the inspector is on). The
 * settling is 2.5 s because a session that moat closes keeps its socket reachable from a 2 s
 * destroy timer (Session.close): sooner, the last 2 s of closed connections count as live.
 */
async function read(moat: MoatChild): Promise<Reading> {
  await sleep(2500);
  const r: Reading = { ...memoryKb(moat.pid), fds: fdCount(moat.pid) };
  if (moat.inspector) {
    await moat.inspector.gc();
    await sleep(300);
    const mu = await moat.inspector.memoryUsage();
    const rows = await moat.inspector.ledgerRows();
    await moat.inspector.gc(); // queryObjects' own garbage
    await sleep(300);
    Object.assign(r, memoryKb(moat.pid));
    r.heapUsedKb = Math.round(mu.heapUsed / 1024);
    r.externalKb = Math.round(mu.external / 1024);
    // The ledger's own Map holds every row; another such Map (the persistence's pending batch) holds
    // some of the same rows: the largest is the ledger.
    r.ledgerRows = Math.max(0, ...rows);
    r.rowMaps = rows;
  }
  return r;
}

type Counts = Record<string, number>;
const bump = (c: Counts, k: string) => {
  c[k] = (c[k] ?? 0) + 1;
};

type Env = {
  opts: Options;
  dir: string;
  backend: { host: string; port: number };
  account: { user: string; password: string; database: string };
  dbPid: number;
};

let moatSeq = 0;

/** A fresh moat, warmed up: logins, and sockets opened and closed, so that lazily loaded code and
 * the first allocations of every path are in the baseline, not in the measurement. */
async function freshMoat(env: Env, config: Record<string, unknown>): Promise<MoatChild> {
  const moat = await startMoat({
    repoRoot,
    dir: env.dir,
    name: `moat-${++moatSeq}`,
    backend: env.backend,
    config,
    inspect: env.opts.inspect,
  });
  const ep = { host: '127.0.0.1', port: moat.port, ...env.account };
  for (let i = 0; i < 20; i++) await connectQueryQuit(ep);
  const warm: Wire[] = [];
  for (let i = 0; i < 100; i++) {
    const w = new Wire({ host: '127.0.0.1', port: moat.port, localAddress: loopbackAddress(49, i) });
    warm.push(w);
    await w.next(5000);
  }
  for (const w of warm) w.destroy();
  await Promise.all(warm.map((w) => w.waitClose(5000)));
  return moat;
}

type Phase = {
  phase: string;
  what: string;
  items: number;
  opened: number;
  outcomes: Counts;
  before: Reading;
  after: Reading;
  kbPerItem: number;
  heapKbPerItem?: number;
  targetKb?: number;
  seconds: number;
  note?: string;
  extra?: Record<string, unknown>;
};

function perItem(before: Reading, after: Reading, n: number): { kb: number; heapKb?: number } {
  const kb = (after.rssKb - before.rssKb) / n;
  if (before.heapUsedKb === undefined || after.heapUsedKb === undefined) return { kb };
  return { kb, heapKb: (after.heapUsedKb - before.heapUsedKb) / n };
}

/** (a) Idle unauthenticated sockets: greeted by moat, never answering. */
async function idleSockets(env: Env, n: number, note: string | undefined): Promise<Phase> {
  const { opts } = env;
  const moat = await freshMoat(env, {
    guard: {
      maxUnauthenticated: n + 1000,
      maxUnauthenticatedPerHost: opts.perAddress + 10,
      max_connect_errors: 0,
    },
    limits: { handshakeTimeoutMs: 3_600_000 },
  });
  try {
    const before = await read(moat);
    const t0 = performance.now();
    const wires: Wire[] = [];
    const outcomes: Counts = {};
    await pool(0, n, opts.concurrency, async (i) => {
      const w = new Wire({
        host: '127.0.0.1',
        port: moat.port,
        localAddress: manyLoopbackAddress(40, Math.floor(i / opts.perAddress)),
      });
      wires.push(w);
      const p = await w.next(10_000);
      if (typeof p === 'string') bump(outcomes, w.errno ? `errno-${w.errno}` : p);
      else bump(outcomes, p.payload[0] === 0xff ? `err${p.payload.readUInt16LE(1)}` : 'greeted');
    });
    const seconds = (performance.now() - t0) / 1000;
    log(`  (a) ${n} sockets opened in ${seconds.toFixed(1)} s: ${JSON.stringify(outcomes)}`);
    const after = await read(moat);
    const stillOpen = wires.filter((w) => !w.isClosed).length;
    for (const w of wires) w.destroy();
    const { kb, heapKb } = perItem(before, after, n);
    return {
      phase: 'a',
      what: 'idle unauthenticated sockets',
      items: n,
      opened: outcomes.greeted ?? 0,
      outcomes: { ...outcomes, 'still-open-at-reading': stillOpen },
      before,
      after,
      kbPerItem: kb,
      ...(heapKb === undefined ? {} : { heapKbPerItem: heapKb }),
      targetKb: 16,
      seconds,
      ...(note === undefined ? {} : { note }),
    };
  } finally {
    await moat.stop();
  }
}

/** (b) Established idle sessions: logged in through moat, then silent. */
async function sessions(env: Env, n: number): Promise<Phase> {
  const { opts } = env;
  const moat = await freshMoat(env, {});
  try {
    const before = await read(moat);
    const dbBefore = memoryKb(env.dbPid).rssKb;
    const t0 = performance.now();
    const wires: Wire[] = [];
    const outcomes: Counts = {};
    // 10 sessions per address, and never more than 32 logins at once: within the guard's default
    // caps (50 unauthenticated per host, 2000 in all).
    await pool(0, n, Math.min(32, opts.concurrency), async (i) => {
      const r = await login(
        { host: '127.0.0.1', port: moat.port, localAddress: loopbackAddress(41, Math.floor(i / 10)) },
        env.account,
        30_000,
      );
      if (r.kind === 'ok') {
        wires.push(r.wire);
        bump(outcomes, 'logged-in');
      } else bump(outcomes, r.kind === 'err' ? `err${r.code}` : r.kind);
    });
    const seconds = (performance.now() - t0) / 1000;
    log(`  (b) ${n} logins in ${seconds.toFixed(1)} s: ${JSON.stringify(outcomes)}`);
    const after = await read(moat);
    const dbAfter = memoryKb(env.dbPid).rssKb;
    const stillOpen = wires.filter((w) => !w.isClosed).length;
    for (const w of wires) w.destroy();
    const { kb, heapKb } = perItem(before, after, n);
    return {
      phase: 'b',
      what: 'established idle sessions',
      items: n,
      opened: outcomes['logged-in'] ?? 0,
      outcomes: { ...outcomes, 'still-open-at-reading': stillOpen },
      before,
      after,
      kbPerItem: kb,
      ...(heapKb === undefined ? {} : { heapKbPerItem: heapKb }),
      seconds,
      extra: { mariadbRssKbPerSession: (dbAfter - dbBefore) / n },
    };
  } finally {
    await moat.stop();
  }
}

type LedgerStep = { addresses: number; reading: Reading; rateS: number; outcomes: Counts };
type LedgerPhase = {
  phase: string;
  hostCacheSize: number;
  addresses: number;
  before: Reading;
  steps: LedgerStep[];
  boundHeld: boolean | undefined;
  plateau: { growthFirstHalfKb: number; growthSecondHalfKb: number };
  /** RSS and heap per row while the ledger fills: between the first reading and the first at the
   * bound (or the last), so one-time growth before the first reading is left out. */
  kbPerRow: number | undefined;
  heapKbPerRow: number | undefined;
};

/** (c) Distinct addresses through the ledger: connect, read the greeting, close; 127.50.0.0 on. */
async function ledger(env: Env, addresses: number, hostCache: number, label: string): Promise<LedgerPhase> {
  const { opts } = env;
  const moat = await freshMoat(env, { guard: { host_cache_size: hostCache } });
  try {
    const before = await read(moat);
    const steps: LedgerStep[] = [];
    for (let s = 1; s <= opts.steps; s++) {
      const from = Math.floor(((s - 1) * addresses) / opts.steps);
      const to = Math.floor((s * addresses) / opts.steps);
      const outcomes: Counts = {};
      const t0 = performance.now();
      await pool(from, to, opts.concurrency, async (i) => {
        const w = new Wire({ host: '127.0.0.1', port: moat.port, localAddress: manyLoopbackAddress(50, i) });
        const p = await w.next(10_000);
        if (typeof p === 'string') bump(outcomes, w.errno ? `errno-${w.errno}` : p);
        else bump(outcomes, p.payload[0] === 0xff ? `err${p.payload.readUInt16LE(1)}` : 'greeted');
        w.destroy();
        await w.waitClose(1000);
      });
      const rateS = (to - from) / ((performance.now() - t0) / 1000);
      const reading = await read(moat);
      steps.push({ addresses: to, reading, rateS, outcomes });
      log(
        `  (${label}) ${to} addresses (${rateS.toFixed(0)}/s): RSS ${(reading.rssKb / 1024).toFixed(1)} MB` +
          (reading.ledgerRows === undefined ? '' : `, ledger rows ${reading.ledgerRows}`) +
          ` ${JSON.stringify(outcomes)}`,
      );
    }
    // Rows: the phase's addresses, plus the warm-up's 101 (127.49.x.y and 127.0.0.1).
    const rows = steps.map((x) => x.reading.ledgerRows);
    const boundHeld = rows.every((r) => r !== undefined) ? rows.every((r) => r! <= hostCache) : undefined;
    const mid = steps[Math.floor(steps.length / 2) - 1] ?? steps[0]!;
    const last = steps.at(-1)!;
    const first = steps[0]!;
    const full = steps.find((x) => x.addresses >= hostCache) ?? last;
    const dRows =
      first.reading.ledgerRows !== undefined && full.reading.ledgerRows !== undefined
        ? full.reading.ledgerRows - first.reading.ledgerRows
        : Math.min(hostCache, full.addresses) - Math.min(hostCache, first.addresses);
    const slope = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined || dRows <= 0 ? undefined : (b - a) / dRows;
    return {
      phase: label,
      hostCacheSize: hostCache,
      addresses,
      before,
      steps,
      boundHeld,
      plateau: {
        growthFirstHalfKb: mid.reading.rssKb - before.rssKb,
        growthSecondHalfKb: last.reading.rssKb - mid.reading.rssKb,
      },
      kbPerRow: slope(first.reading.rssKb, full.reading.rssKb),
      heapKbPerRow: slope(first.reading.heapUsedKb, full.reading.heapUsedKb),
    };
  } finally {
    await moat.stop();
  }
}

const mb = (kb: number | undefined) => (kb === undefined ? '-' : (kb / 1024).toFixed(1));
const f = (x: number | undefined, d: number) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

function grid(head: string[], rows: string[][], leftCols: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((v, i) => (i < leftCols ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(opts: Options): Promise<void> {
  const startedAt = new Date();
  const { dir, cleanups, cleanup } = scratch('moat-memory-');
  try {
    const load = await machineLoad();
    const limits = fdLimits();
    // This process holds one end of every idle socket and moat the other (moat inherits the limit).
    let idle = opts.idle;
    let idleNote: string | undefined;
    const need = idle + 500;
    if (limits.soft < need) {
      idle = Math.max(100, Math.floor((limits.soft - 500) / 100) * 100);
      idleNote = `open-file limit ${limits.soft} (hard ${limits.hard}): ${idle} sockets instead of ${opts.idle}`;
      log(`NOTE: ${idleNote}`);
    }
    const db = await startMariaDB({
      name: 'memory',
      // Room for 1,000 sessions through moat, plus the warm-ups.
      extraArgs: [`--max-connections=${opts.sessions + 200}`],
    });
    cleanups.push(() => db.stop());
    const env: Env = {
      opts,
      dir,
      backend: { host: db.host, port: db.port },
      account: { ...db.users.bench, database: 'sbtest' },
      dbPid: db.pid,
    };
    console.log(
      `moat memory bench  ${startedAt.toISOString()}\n` +
        `machine: ${os.availableParallelism()} cores, Linux ${os.release()}, ` +
        `${(load.busy * 100).toFixed(0)}% busy before start; node ${process.version}, MariaDB ${db.version}, ` +
        `moat ${moatRevision(repoRoot)}\n` +
        `open-file limit: soft ${limits.soft}, hard ${limits.hard} (this process and moat each hold one end ` +
        `of every socket)\n` +
        `readings: VmRSS of moat's process${opts.inspect ? ' after a forced full GC (inspector); heap = V8 heapUsed' : ' (no forced GC)'}`,
    );

    const phases: Phase[] = [];
    const ledgers: LedgerPhase[] = [];
    if (opts.phases.has('a')) {
      log(`(a) ${idle} idle unauthenticated sockets, ${opts.perAddress} per address from 127.40.x.y`);
      phases.push(await idleSockets(env, idle, idleNote));
    }
    if (opts.phases.has('b')) {
      log(`(b) ${opts.sessions} established idle sessions, 10 per address from 127.41.x.y`);
      phases.push(await sessions(env, opts.sessions));
    }
    if (opts.phases.has('c')) {
      log(`(c) ${opts.addresses} distinct addresses from 127.50.0.0 on, host_cache_size ${opts.hostCache}`);
      ledgers.push(await ledger(env, opts.addresses, opts.hostCache, 'c'));
      if (opts.control) {
        log(`(c control) the same with host_cache_size ${opts.addresses * 2}`);
        ledgers.push(await ledger(env, opts.addresses, opts.addresses * 2, 'c-control'));
      }
    }

    if (phases.length > 0) {
      const head = [
        'phase',
        'items',
        'opened',
        'RSS before MB',
        'RSS after MB',
        'Δ RSS MB',
        'KB/item',
        'target',
        'heap Δ MB',
        'heap KB/item',
        'moat fds',
      ];
      const rows = phases.map((p) => [
        `(${p.phase}) ${p.what}`,
        String(p.items),
        String(p.opened),
        mb(p.before.rssKb),
        mb(p.after.rssKb),
        mb(p.after.rssKb - p.before.rssKb),
        f(p.kbPerItem, 1),
        p.targetKb === undefined ? '-' : `≤ ${p.targetKb} ${p.kbPerItem <= p.targetKb ? 'MET' : 'NOT MET'}`,
        p.after.heapUsedKb === undefined ? '-' : mb(p.after.heapUsedKb - p.before.heapUsedKb!),
        f(p.heapKbPerItem, 1),
        `${p.before.fds}→${p.after.fds}`,
      ]);
      console.log(`\n${grid(head, rows, 1)}`);
      for (const p of phases) {
        if (p.note) console.log(`note (${p.phase}): ${p.note}`);
        if (p.extra?.mariadbRssKbPerSession !== undefined)
          console.log(
            `(${p.phase}) for comparison, MariaDB's own RSS grew ${f(p.extra.mariadbRssKbPerSession as number, 1)} KB per session`,
          );
      }
    }
    for (const l of ledgers) {
      const head = ['addresses', 'conn/s', 'RSS MB', 'Δ RSS MB', 'heap MB', 'ledger rows', 'bound'];
      const rows = [
        [
          '0 (warmed up)',
          '-',
          mb(l.before.rssKb),
          '0.0',
          mb(l.before.heapUsedKb),
          String(l.before.ledgerRows ?? '-'),
          '',
        ],
        ...l.steps.map((s) => [
          String(s.addresses),
          f(s.rateS, 0),
          mb(s.reading.rssKb),
          mb(s.reading.rssKb - l.before.rssKb),
          mb(s.reading.heapUsedKb),
          String(s.reading.ledgerRows ?? '-'),
          s.reading.ledgerRows === undefined
            ? ''
            : s.reading.ledgerRows <= l.hostCacheSize
              ? 'held'
              : 'EXCEEDED',
        ]),
      ];
      console.log(`\n(${l.phase}) ${l.addresses} distinct addresses, host_cache_size ${l.hostCacheSize}`);
      console.log(grid(head, rows, 1));
      const { growthFirstHalfKb: g1, growthSecondHalfKb: g2 } = l.plateau;
      console.log(
        `RSS growth: ${mb(g1)} MB over the first half of the addresses, ${mb(g2)} MB over the second ` +
          `half; while the ledger fills, ${f(l.kbPerRow, 2)} KB RSS (${f(l.heapKbPerRow, 2)} KB heap) per ` +
          'row. Bound held: ' +
          `${l.boundHeld === undefined ? 'unknown (no inspector: judge by the RSS plateau)' : l.boundHeld ? 'yes' : 'NO'}`,
      );
    }
    const file = writeResults(
      join(repoRoot, 'bench/results'),
      'memory',
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
          fdLimits: { soft: String(limits.soft), hard: String(limits.hard) },
        },
        options: { ...opts, phases: [...opts.phases] },
        phases,
        ledgers,
      },
      startedAt,
    );
    console.log(`\nwrote ${file.map((x) => x.slice(repoRoot.length + 1)).join(', ')}`);
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
else {
  // Raise the soft open-file limit to the hard one for this run if it is too low, by starting
  // again under a shell that does (Node cannot call setrlimit itself); moat inherits it.
  const { soft, hard } = fdLimits();
  if (soft < opts.idle + 500 && hard > soft && process.env.MOAT_BENCH_RAISED_NOFILE === undefined) {
    const r = spawnSync(
      'sh',
      [
        '-c',
        `ulimit -Sn ${hard === Number.POSITIVE_INFINITY ? 'unlimited' : hard} && exec "$0" "$@"`,
        process.execPath,
        ...process.execArgv,
        ...process.argv.slice(1),
      ],
      { stdio: 'inherit', env: { ...process.env, MOAT_BENCH_RAISED_NOFILE: '1' } },
    );
    process.exit(r.status ?? 1);
  }
  await main(opts);
}
