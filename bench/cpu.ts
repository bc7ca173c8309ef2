// CPU time from /proc/<pid>/stat: what a proxy spends per query is the figure that stays steadier
// than QPS on a 2-core box, and what everyone else on the machine spent tells whether a run was fair.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for utime/stime (`getconf CLK_TCK`, 100 on Linux x86). */
export const CLK_TCK: number = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const US_PER_TICK = 1e6 / CLK_TCK;

export type CpuTimes = { userUs: number; sysUs: number };

type Stat = { ppid: number; utime: number; stime: number };

/** Every process's parent and CPU ticks at one moment. */
export type Snapshot = Map<number, Stat>;

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited
  }
  // Field 2 (comm) is in parentheses and may hold spaces or ')': split after the last ')'.
  // What follows starts at field 3 (state); ppid is field 4, utime 14, stime 15 (all threads).
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
}

export function snapshot(): Snapshot {
  const snap: Snapshot = new Map();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st) snap.set(pid, st);
  }
  return snap;
}

/** The pid and its descendants in a snapshot (a proxy that forks workers is measured whole). */
function tree(snap: Snapshot, root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const [pid, st] of snap) {
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out = new Set<number>();
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.add(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU the process tree rooted at `pid` spent between two snapshots. */
export function treeCpu(before: Snapshot, after: Snapshot, pid: number): CpuTimes {
  let user = 0;
  let sys = 0;
  for (const p of tree(after, pid)) {
    const a = after.get(p)!;
    const b = before.get(p);
    user += a.utime - (b?.utime ?? 0);
    sys += a.stime - (b?.stime ?? 0);
  }
  return { userUs: user * US_PER_TICK, sysUs: sys * US_PER_TICK };
}

/**
 * CPU spent by processes that are not ours (not this process or its descendants, not kernel
 * threads) between two snapshots: another test run or build on the box. Processes that exited in
 * between are missed, so this is a lower bound.
 */
export function foreignCpuUs(before: Snapshot, after: Snapshot): number {
  const ours = tree(after, process.pid);
  const kernel = tree(after, 2); // kthreadd and its children (ksoftirqd, kworkers: partly our traffic)
  let ticks = 0;
  for (const [pid, a] of after) {
    if (ours.has(pid) || kernel.has(pid)) continue;
    const b = before.get(pid);
    ticks += a.utime + a.stime - (b ? b.utime + b.stime : 0);
  }
  return ticks * US_PER_TICK;
}

/** The machine-wide line of /proc/stat, in ticks: user nice system idle iowait irq softirq steal. */
function procStat(): number[] {
  return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
}

/**
 * Ticks the hypervisor ran someone else on our virtual CPUs (steal): on a shared VM host this, not
 * the proxy, is often why one run is half as fast as the one before.
 */
export function stealTicks(): number {
  return procStat()[7] ?? 0;
}

/** Shares of all cores that processes used, and that the hypervisor stole, over `ms`. */
export async function machineLoad(ms = 1000): Promise<{ busy: number; steal: number }> {
  const a = procStat();
  await new Promise((r) => setTimeout(r, ms));
  const d = procStat().map((v, i) => v - a[i]!);
  const total = d.reduce((x, y) => x + y, 0);
  const [user, nice, system, , , irq, softirq, steal] = d as [number, ...number[]];
  return { busy: (user + nice! + system! + irq! + softirq!) / total, steal: steal! / total };
}
