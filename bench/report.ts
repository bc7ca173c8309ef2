// Results: medians over rounds, ratios against `direct` and `haproxy`, the table and the JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CpuTimes } from './cpu.ts';
import type { Scenario } from './options.ts';
import type { TargetName } from './targets.ts';

/** One measured run of one target. `ops` are queries (sysbench) or connection cycles (connect). */
export type Sample = {
  round: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  p95Ms: number;
  errors: number;
  /** The proxy's own CPU over the run (absent for `direct`). */
  proxyCpu?: CpuTimes;
  /** mariadbd's CPU over the run: does a proxy make the server work harder per query? */
  dbCpu?: CpuTimes;
  /** CPU used by processes not started by the benchmark, in % of all cores: >5% taints the run. */
  othersPct?: number;
  /** CPU the hypervisor gave to other guests while this run wanted it, in % of all cores. */
  stealPct?: number;
  failure?: string;
};

export type Summary = {
  opsPerSec: number;
  p95Ms: number;
  cpuUserUsPerOp?: number;
  cpuSysUsPerOp?: number;
  cpuUsPerOp?: number;
  dbCpuUsPerOp?: number;
  othersPct?: number;
  stealPct?: number;
  /** This target's ops/s over direct's and haproxy's in the same scenario and thread count. */
  vsDirect?: number;
  vsHaproxy?: number;
  /** This target's CPU per op over haproxy's. */
  cpuVsHaproxy?: number;
  /** This target's p95 over haproxy's. */
  p95VsHaproxy?: number;
  /** A moat target's CPU per op over moat-relay's: what watching costs (target: moat-full ≤ 1.10×). */
  cpuVsRelay?: number;
};

export type Cell = {
  scenario: Scenario;
  threads: number;
  target: TargetName;
  samples: Sample[];
  summary?: Summary;
};

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

function perOp(samples: Sample[], pick: (s: Sample) => number | undefined): number | undefined {
  return median(samples.flatMap((s) => (pick(s) === undefined || s.ops === 0 ? [] : [pick(s)! / s.ops])));
}

/** Medians per metric, over the rounds that did not fail. */
export function summarize(cells: Cell[]): void {
  for (const cell of cells) {
    const ok = cell.samples.filter((s) => s.failure === undefined);
    if (ok.length === 0) continue;
    cell.summary = {
      opsPerSec: median(ok.map((s) => s.opsPerSec))!,
      p95Ms: median(ok.map((s) => s.p95Ms))!,
      cpuUserUsPerOp: perOp(ok, (s) => s.proxyCpu?.userUs),
      cpuSysUsPerOp: perOp(ok, (s) => s.proxyCpu?.sysUs),
      cpuUsPerOp: perOp(ok, (s) => (s.proxyCpu ? s.proxyCpu.userUs + s.proxyCpu.sysUs : undefined)),
      dbCpuUsPerOp: perOp(ok, (s) => (s.dbCpu ? s.dbCpu.userUs + s.dbCpu.sysUs : undefined)),
      othersPct: median(ok.flatMap((s) => (s.othersPct === undefined ? [] : [s.othersPct]))),
      stealPct: median(ok.flatMap((s) => (s.stealPct === undefined ? [] : [s.stealPct]))),
    };
  }
  for (const cell of cells) {
    const peer = (t: TargetName) =>
      cells.find((c) => c.scenario === cell.scenario && c.threads === cell.threads && c.target === t)
        ?.summary;
    const s = cell.summary;
    if (!s) continue;
    const direct = peer('direct');
    const haproxy = peer('haproxy');
    if (direct) s.vsDirect = s.opsPerSec / direct.opsPerSec;
    if (haproxy) s.vsHaproxy = s.opsPerSec / haproxy.opsPerSec;
    if (s.cpuUsPerOp !== undefined && haproxy?.cpuUsPerOp) s.cpuVsHaproxy = s.cpuUsPerOp / haproxy.cpuUsPerOp;
    if (haproxy?.p95Ms) s.p95VsHaproxy = s.p95Ms / haproxy.p95Ms;
    const relay = peer('moat-relay');
    if (cell.target.startsWith('moat') && s.cpuUsPerOp !== undefined && relay?.cpuUsPerOp)
      s.cpuVsRelay = s.cpuUsPerOp / relay.cpuUsPerOp;
  }
}

const fmt = (x: number | undefined, digits: number, suffix = ''): string =>
  x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits) + suffix;

export function table(cells: Cell[]): string {
  const head = [
    'scenario',
    'thr',
    'target',
    'QPS',
    '×direct',
    '×haproxy',
    'p95 ms',
    'p95 ×haproxy',
    'CPU µs/op',
    'user',
    'sys',
    'CPU ×haproxy',
    'CPU ×relay',
    'db µs/op',
    'others%',
    'steal%',
  ];
  const rows = cells.map((c) => {
    const s = c.summary;
    if (!s) {
      const why = c.samples.find((x) => x.failure)?.failure?.split('\n')[0] ?? 'no sample';
      return [c.scenario, String(c.threads), c.target, `FAILED: ${why}`];
    }
    return [
      c.scenario,
      String(c.threads),
      c.target,
      fmt(s.opsPerSec, 0),
      fmt(s.vsDirect, 2, '×'),
      fmt(s.vsHaproxy, 2, '×'),
      fmt(s.p95Ms, 2),
      fmt(s.p95VsHaproxy, 2, '×'),
      fmt(s.cpuUsPerOp, 1),
      fmt(s.cpuUserUsPerOp, 1),
      fmt(s.cpuSysUsPerOp, 1),
      fmt(s.cpuVsHaproxy, 2, '×'),
      fmt(s.cpuVsRelay, 2, '×'),
      fmt(s.dbCpuUsPerOp, 1),
      fmt(s.othersPct, 0),
      fmt(s.stealPct, 0),
    ];
  });
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.filter((r) => r.length > 4).map((r) => r[i]!.length)),
  );
  // Text columns left-aligned, numbers right-aligned; a failed row is its three keys and the reason.
  const pad = (v: string, i: number) => (i === 0 || i === 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!));
  const line = (r: string[]) =>
    r.length === 4 ? `${r.slice(0, 3).map(pad).join('  ')}  ${r[3]}` : r.map(pad).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  let prev = '';
  for (const [i, r] of rows.entries()) {
    const group = `${cells[i]!.scenario}/${cells[i]!.threads}`;
    if (prev && group !== prev) out.push('');
    prev = group;
    out.push(line(r));
  }
  return out.join('\n');
}

export function writeJson(dir: string, data: object, startedAt: Date): string[] {
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(data, null, 2) + '\n';
  const stamped = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const latest = join(dir, 'latest.json');
  writeFileSync(stamped, text);
  writeFileSync(latest, text);
  return [latest, stamped];
}
