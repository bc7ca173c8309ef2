// A V8 CPU profile (--cpu-prof) summarised for moat: self time, time charged to the nearest and
// to the outermost function of src/ (moat's entry points), to stderr. Used by the profiling tools
// bench/login-profile.ts and bench/query-profile.ts.
import { log } from './scratch.ts';

export type CpuProfile = {
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
export function summarise(p: CpuProfile, focus?: string): void {
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
