// The state directory, checked and made private before anything is written to it. It holds the
// block list and failure counts keyed by user name (guard.sqlite), the client-TLS private key, the
// learned greeting and the SET GLOBAL values: every file in it is 0600, the directory moat makes is
// 0700. A directory on a kernel pseudo file system is refused up front: under /proc, Node's
// recursive mkdir loops for ever (mkdir says ENOENT, the parent exists, it tries again), and
// nothing written to /sys or /dev would be kept anyway.
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, realpathSync, statfsSync, statSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export class StateDirError extends Error {
  readonly code = 'MOAT_STATE_DIR';
}

/** f_type values (statfs(2), linux/magic.h) of file systems that are views of the kernel, not storage. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x42494e4d, 'binfmt_misc'],
]);
/** /dev is a devtmpfs (a tmpfs to statfs), so it is refused by name. */
const REFUSED_TREES = ['/proc', '/sys', '/dev'];
/** A write and fsync that take longer than this mean a file system moat cannot keep state on. */
const PROBE_TIMEOUT_MS = 5000;

export interface StateDirReport {
  /** The directory did not exist: moat made it (0700). */
  created: boolean;
  /** Files whose mode was wider than 0600 and was narrowed, relative to the directory. */
  tightened: string[];
  /** Something the operator should know but that does not stop moat (a group-writable directory). */
  warnings: string[];
}

/**
 * Makes `dir` usable for moat's state, or throws a StateDirError that says why not: refuses
 * kernel pseudo file systems, creates missing directories 0700, proves that a file can be
 * created, written and fsynced there within a few seconds, and narrows every file in it to 0600.
 */
export async function prepareStateDir(dir: string): Promise<StateDirReport> {
  const path = resolve(dir);
  const { existing, missing } = nearestExisting(path);
  const real = join(realpathSync(existing), ...missing);
  const tree = REFUSED_TREES.find((t) => real === t || real.startsWith(`${t}/`));
  if (tree !== undefined) {
    throw new StateDirError(
      `stateDir ${dir}: is under ${tree}, ${tree === '/dev' ? 'device nodes and memory' : 'a kernel file system'}, not storage — choose a directory on disk (e.g. /var/lib/moat)`,
    );
  }
  const fs = PSEUDO_FS.get(statfsSync(existing).type);
  if (fs !== undefined) {
    throw new StateDirError(
      `stateDir ${dir}: ${existing} is on ${fs}, a kernel file system, not storage — choose a directory on disk`,
    );
  }
  if (!statSync(existing).isDirectory()) {
    throw new StateDirError(`stateDir ${dir}: ${existing} is not a directory`);
  }
  let at = existing;
  for (const name of missing) {
    at = join(at, name);
    try {
      mkdirSync(at, { mode: 0o700 });
      // mkdir's mode passes through the umask; chmod does not.
      chmodSync(at, 0o700);
    } catch (e) {
      throw new StateDirError(`stateDir ${dir}: cannot create ${at}: ${errnoText(e)}`);
    }
  }
  const warnings: string[] = [];
  if (missing.length === 0) {
    const mode = statSync(path).mode;
    if ((mode & 0o022) !== 0 && (mode & 0o1000) === 0) {
      warnings.push(
        `stateDir ${dir} is ${(mode & 0o022) === 0o002 ? 'world' : 'group'}-writable (mode ${(mode & 0o7777).toString(8)}): others can replace guard.sqlite and lift blocks — chmod 700 it`,
      );
    }
  }
  await probe(path, dir);
  return { created: missing.length > 0, tightened: tighten(path, '', warnings), warnings };
}

/** The deepest ancestor of `path` (itself included) that exists, and the names below it that do not. */
function nearestExisting(path: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let at = path;
  for (;;) {
    try {
      statSync(at);
      return { existing: at, missing };
    } catch (e) {
      const parent = dirname(at);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) {
        throw new StateDirError(`stateDir ${path}: ${at === path ? '' : `${at}: `}${errnoText(e)}`);
      }
      missing.unshift(basename(at));
      at = parent;
    }
  }
}

/** Creates, writes, fsyncs and removes a file: what SQLite's WAL needs of the directory. */
async function probe(path: string, dir: string): Promise<void> {
  // A random name: moat is often PID 1 in a container, and a probe left by a crash must not collide.
  const file = join(path, `.moat-probe-${randomBytes(6).toString('hex')}`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StateDirError(
            `stateDir ${dir}: writing a file there took over ${PROBE_TIMEOUT_MS / 1000} s — is it a hung network mount?`,
          ),
        ),
      PROBE_TIMEOUT_MS,
    );
    timer.unref();
  });
  const write = async () => {
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile('moat\n');
      await fh.sync();
    } finally {
      await fh.close();
      await unlink(file);
    }
  };
  try {
    await Promise.race([write(), timeout]);
  } catch (e) {
    if (e instanceof StateDirError) throw e;
    throw new StateDirError(`stateDir ${dir}: cannot write there: ${errnoText(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Narrows every regular file under `root` to 0600 (subdirectories too, a few levels deep).
 * Symbolic links are left alone: chmod would follow them out of the directory.
 */
function tighten(root: string, rel: string, warnings: string[], depth = 0): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const p = join(root, r);
    // Gone since readdir (another process's SQLite WAL, a probe): nothing to narrow.
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isDirectory() && depth < 3) out.push(...tighten(root, r, warnings, depth + 1));
    else if (st.isFile() && (st.mode & 0o177) !== 0) {
      try {
        chmodSync(p, 0o600);
        out.push(r);
      } catch (e) {
        warnings.push(`cannot make ${p} private (0600): ${errnoText(e)}`);
      }
    }
  }
  return out;
}

/** "permission denied (EACCES)" from a Node file-system error; the message for anything else. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // "EACCES: permission denied, open '/x'", "listen EADDRINUSE: address already in use 127.0.0.1:3307"
  const reason = /^(?:\w+ )?E[A-Z]+: ([^,]+)/.exec(err.message ?? '')?.[1];
  return reason !== undefined && err.code !== undefined
    ? `${reason} (${err.code})`
    : String(err.message ?? e);
}
