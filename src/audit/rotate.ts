// Rotation of log files: when a file is due (size, age), what its rotated name is, compressing
// it, and which rotated files retention removes. Rotated names carry the UTC time of rotation
// (`audit.log.20261123T120000Z`, `-1`, `-2` … when two rotations fall in one second, `.gz` when
// compressed), so they sort by name in the order they were written and a glob finds them all.
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface RotationPolicy {
  /** Rotate once the file holds this many bytes (a file may pass it by one flush); null: never. */
  maxBytes: number | null;
  /** Rotate once the file is this old; null: never. */
  maxAgeMs: number | null;
  /** Rotated files kept, newest first; null: all. */
  keep: number | null;
  /** Rotated files older than this are removed; null: kept whatever their age. */
  retainMs: number | null;
  /** Compress rotated files (`.gz`). */
  gzip: boolean;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `20261123T120000Z`: ISO 8601 basic format, UTC, which sorts as it reads. */
export function stamp(d: Date): string {
  return (
    `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`
  );
}

function parseStamp(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** Whether a file holding records should be rotated before the next write. */
export function isDue(size: number, openedAt: number, now: number, policy: RotationPolicy): boolean {
  if (policy.maxBytes !== null && size >= policy.maxBytes) return true;
  return policy.maxAgeMs !== null && now - openedAt >= policy.maxAgeMs;
}

export interface RotatedFile {
  path: string;
  /** When it was rotated (from its name), epoch ms. */
  at: number;
  /** Tells rotations within one second apart. */
  seq: number;
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** The rotated files of `path`, newest first. */
export async function listRotated(path: string): Promise<RotatedFile[]> {
  const dir = dirname(path);
  const pattern = new RegExp(`^${escapeRegExp(basename(path))}\\.(\\d{8}T\\d{6}Z)(?:-(\\d+))?(?:\\.gz)?$`);
  const found: RotatedFile[] = [];
  for (const name of await readdir(dir)) {
    const m = pattern.exec(name);
    if (m !== null) found.push({ path: join(dir, name), at: parseStamp(m[1]!), seq: Number(m[2] ?? 0) });
  }
  return found.sort((a, b) => b.at - a.at || b.seq - a.seq || (a.path < b.path ? 1 : -1));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A free rotated name for `path` at `at`: plain, or with `-1`, `-2` … when taken. */
export async function rotatedPath(path: string, at: Date): Promise<string> {
  const base = `${path}.${stamp(at)}`;
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? base : `${base}-${n}`;
    if (!(await exists(candidate)) && !(await exists(`${candidate}.gz`))) return candidate;
  }
}

/** Compresses `file` to `file.gz` and removes `file`; on failure the original is kept. */
export async function compress(file: string, mode = 0o600): Promise<string> {
  const target = `${file}.gz`;
  try {
    await pipeline(createReadStream(file), createGzip(), createWriteStream(target, { flags: 'wx', mode }));
  } catch (err) {
    await rm(target, { force: true });
    throw err;
  }
  await rm(file);
  return target;
}

/** Removes the rotated files retention no longer keeps; returns their paths. */
export async function prune(path: string, policy: RotationPolicy, now: number): Promise<string[]> {
  if (policy.keep === null && policy.retainMs === null) return [];
  const rotated = await listRotated(path);
  const doomed = rotated.filter(
    (f, i) =>
      (policy.keep !== null && i >= policy.keep) ||
      (policy.retainMs !== null && now - f.at > policy.retainMs),
  );
  for (const f of doomed) await rm(f.path, { force: true });
  return doomed.map((f) => f.path);
}
