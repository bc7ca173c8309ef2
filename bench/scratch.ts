// A benchmark's scratch space: a temp directory and the servers started in it, stopped in reverse
// order at the end or on Ctrl-C / SIGTERM (no mariadbd or proxy outlives an interrupted run).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/** Progress goes to stderr; the results table to stdout. */
export const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

export interface Scratch {
  dir: string;
  /** Stoppers of what was started, run last-first by cleanup(). */
  cleanups: Array<() => Promise<void>>;
  cleanup(): Promise<void>;
}

export function scratch(prefix: string): Scratch {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  const cleanups: Array<() => Promise<void>> = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const fn of cleanups.reverse()) await fn().catch((e) => log(`cleanup: ${e}`));
    rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`\n${sig}: stopping`);
      void cleanup().then(() => process.exit(130));
    });
  }
  return { dir, cleanups, cleanup };
}
