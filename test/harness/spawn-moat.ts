// Runs the real `moat` command as a child process (Node 24 from node_modules, src/cli/main.ts),
// reads its JSON log lines from stdout, and learns the bound port from the "listening" line.
import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NODE = `${ROOT}node_modules/.bin/node`;
export const MAIN = `${ROOT}src/cli/main.ts`;
/** Node's on-disk compile cache: halves the start-up time of every spawned moat (~0.5 s → ~0.2 s). */
const COMPILE_CACHE = join(tmpdir(), 'moat-test-compile-cache');

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface MoatProcess {
  child: ChildProcess;
  /** Every JSON line printed so far, in order. */
  lines: LogLine[];
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Resolves with the first log line matching `pred` (already printed or still to come). */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGKILL if still running (for `after` hooks). */
  kill(): Promise<void>;
}

/**
 * Starts `moat <args>`; returns at once. The working directory is the system's temp directory, so
 * that a forgotten --state-dir never leaves a `.moat` in the repository.
 */
export function spawnMoat(args: readonly string[], env: Record<string, string> = {}): MoatProcess {
  const child = spawn(NODE, [MAIN, ...args], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_COMPILE_CACHE: COMPILE_CACHE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let exit: Exit | null = null;
  const exited = new Promise<Exit>((resolve) =>
    // 'close', not 'exit': by then stdout and stderr have been read to their end.
    child.on('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
      for (const w of [...waiters]) w();
    }),
  );
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ msg: `(not JSON) ${p}` });
      }
    }
    for (const w of [...waiters]) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit !== undefined) finish(() => resolve(hit));
        else if (exit !== null)
          finish(() =>
            reject(
              new Error(`moat exited (${exit?.code ?? exit?.signal}) before the log line\n${err}\n${out}`),
            ),
          );
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for a log line\n${err}\n${out}`))),
        timeoutMs,
      );
      const finish = (f: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });
  return {
    child,
    lines,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog,
    kill: async () => {
      if (exit === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Starts `moat start <args>` and waits for its first "listening" line; the port it bound. */
export async function startMoatProcess(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<MoatProcess & { port: number }> {
  const p = spawnMoat(['start', ...args], env);
  try {
    const line = await p.waitForLog((l) => l.msg === 'listening');
    const port = Number(/:(\d+)$/.exec(String(line.listen))?.[1]);
    if (!(port > 0)) throw new Error(`no port in ${JSON.stringify(line)}`);
    return Object.assign(p, { port });
  } catch (e) {
    await p.kill();
    throw e;
  }
}

/** Runs `moat <args>` to its end (killed after `timeoutMs`). */
export async function runMoat(
  args: readonly string[],
  timeoutMs = 10_000,
  env: Record<string, string> = {},
): Promise<Exit & { stdout: string; stderr: string; lines: LogLine[] }> {
  const p = spawnMoat(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const exit = await p.exited;
  clearTimeout(timer);
  return { ...exit, stdout: p.stdout(), stderr: p.stderr(), lines: p.lines };
}
