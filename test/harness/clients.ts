// The real-client matrix: the same scenario run by six MySQL clients, with results normalised so
// that what different clients saw, through different servers (MariaDB directly, or moat), can be
// compared with deepEqual.
//
// mysql2 and the mariadb Node connector run in this process (a spawned node would cost more than
// the scenario); the mariadb CLI, PHP, Python and Perl run as child processes. Parameters reach the
// scripts through environment variables, never argv: passwords must not show up in `ps`.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Account } from './mariadb.ts';

export const CLIENTS = ['cli', 'mysql2', 'mariadb-node', 'php', 'python', 'perl'] as const;
export type Client = (typeof CLIENTS)[number];

/** Every step but the login check (CURRENT_USER(), always run). */
export const STEPS = ['select', 'prepared', 'multi', 'bigRow', 'tls', 'changeUser', 'errors'] as const;
export type Step = (typeof STEPS)[number];

export type Target = { host: string; port: number } | { socket: string };

export interface ScenarioOptions {
  user: string;
  password: string;
  /** Database to connect to; the select/prepared steps need moat_test. */
  database?: string | undefined;
  /** Use TLS and verify the server certificate (chain and name) against this CA. */
  tls?: { ca: string } | undefined;
  /** Which steps to run (default all). */
  steps?: readonly Step[];
  /** Whom changeUser switches to (default app2 / app2-pw). */
  changeUserTo?: Account;
  timeoutMs?: number;
}

/** A row with every value as text (numbers as JS prints them), NULL as null. */
export type Row = Record<string, string | null>;

/**
 * What one client saw. A step that was not asked for is absent; `null` means this client cannot do
 * it (the reason is in a comment where the client's scenario is written).
 */
export interface ScenarioResult {
  client: Client;
  /** CURRENT_USER() right after login, e.g. app@%. */
  currentUser: string;
  /** SELECT id, name, v FROM t ORDER BY id. */
  select?: Row[];
  /** SELECT name FROM t WHERE id = ? prepared once, executed with 2 then 1. */
  prepared?: Row[][];
  /** SELECT 1 AS a; SELECT 2 AS b, 3 AS c in one COM_QUERY: one entry per result set. */
  multi?: Row[][];
  /** SELECT REPEAT('x', 20 MiB): its length and sha256 (hex), not the data. */
  bigRow?: { length: number; sha256: string };
  /** server: Ssl_cipher is non-empty (the leg the server sees); client: the driver's own view. */
  tls?: { server: boolean; client: boolean | null };
  /** CURRENT_USER() after a change-user to changeUserTo. */
  changeUser?: string | null;
  /** Error codes for a wrong password (1045) and for database no_such_db (1049). */
  errors?: { wrongPassword: number; noSuchDb: number };
}

/** What the scripts print (and the in-process drivers return): values not yet normalised. */
export type RawRow = Record<string, unknown>;
export interface RawResult {
  currentUser: string;
  select?: RawRow[];
  prepared?: RawRow[][];
  multi?: RawRow[][];
  bigRow?: { length: number; sha256: string };
  tls?: { server: boolean; client: boolean | null };
  changeUser?: string | null;
  errors?: { wrongPassword: number; noSuchDb: number };
}

/** Options as the clients receive them: defaults filled in. */
export interface ResolvedOptions extends Required<Omit<ScenarioOptions, 'database' | 'tls'>> {
  database: string | undefined;
  tls: { ca: string } | undefined;
  target: Target;
}

export const BIG_ROW_LENGTH = 20 * 1024 * 1024;
export const BIG_ROW_SQL = `SELECT REPEAT('x', ${BIG_ROW_LENGTH}) AS big`;
export const SELECT_SQL = 'SELECT id, name, v FROM t ORDER BY id';
export const PREPARED_SQL = 'SELECT name FROM t WHERE id = ?';
export const PREPARED_PARAMS = [2, 1] as const;
export const MULTI_SQL = 'SELECT 1 AS a; SELECT 2 AS b, 3 AS c';
export const NO_SUCH_DB = 'no_such_db';

export async function runScenario(
  client: Client,
  target: Target,
  opts: ScenarioOptions,
): Promise<ScenarioResult> {
  const resolved: ResolvedOptions = {
    user: opts.user,
    password: opts.password,
    database: opts.database,
    tls: opts.tls,
    steps: opts.steps ?? STEPS,
    changeUserTo: opts.changeUserTo ?? { user: 'app2', password: 'app2-pw' },
    timeoutMs: opts.timeoutMs ?? 60_000,
    target,
  };
  let raw: RawResult;
  switch (client) {
    case 'mysql2':
      raw = await (await import('./clients/mysql2.ts')).run(resolved);
      break;
    case 'mariadb-node':
      raw = await (await import('./clients/mariadb-node.ts')).run(resolved);
      break;
    case 'cli':
      raw = await (await import('./clients/cli.ts')).run(resolved);
      break;
    case 'php':
      raw = await runScript(
        ['/usr/bin/php', '-d', 'memory_limit=1G', '-d', 'display_errors=stderr', script('scenario.php')],
        resolved,
      );
      break;
    case 'python':
      raw = await runScript(['/usr/bin/python3', script('scenario.py')], resolved);
      break;
    case 'perl':
      raw = await runScript(['/usr/bin/perl', script('scenario.pl')], resolved);
      break;
  }
  return normalise(client, raw, resolved.steps);
}

const script = (name: string): string => fileURLToPath(new URL(`./clients/${name}`, import.meta.url));

/** The environment a scenario script reads its parameters from (also used for the CLI). */
export function scenarioEnv(o: ResolvedOptions): Record<string, string> {
  const t = o.target;
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    MOAT_HOST: 'host' in t ? t.host : '',
    MOAT_PORT: 'port' in t ? String(t.port) : '',
    MOAT_SOCKET: 'socket' in t ? t.socket : '',
    MOAT_USER: o.user,
    MOAT_PASSWORD: o.password,
    MOAT_DATABASE: o.database ?? '',
    MOAT_TLS_CA: o.tls?.ca ?? '',
    MOAT_STEPS: o.steps.join(','),
    MOAT_CHANGE_USER: o.changeUserTo.user,
    MOAT_CHANGE_PASSWORD: o.changeUserTo.password,
    MOAT_NO_SUCH_DB: NO_SUCH_DB,
  };
}

/** Spawns a program with the scenario in its environment; rejects with its stderr on failure. */
export function spawnWithEnv(
  argv: readonly string[],
  env: Record<string, string>,
  opts: { timeoutMs: number; input?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { env, timeout: opts.timeoutMs, maxBuffer: 256 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && (err.killed || typeof err.code !== 'number')) {
          reject(new Error(`${argv.join(' ')}: ${err.message}\n${stderr}`));
        } else {
          resolve({ code, stdout, stderr });
        }
      },
    );
    // A program that exits without reading its input makes this write fail with EPIPE; its exit
    // status and stderr tell what happened.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}

async function runScript(argv: string[], o: ResolvedOptions): Promise<RawResult> {
  const { code, stdout, stderr } = await spawnWithEnv(argv, scenarioEnv(o), { timeoutMs: o.timeoutMs });
  if (code !== 0) throw new Error(`${argv.at(-1)} exited with ${code}:\n${stderr.trim()}`);
  try {
    return JSON.parse(stdout) as RawResult;
  } catch {
    throw new Error(`${argv.at(-1)} printed no JSON:\n${stdout.slice(0, 2000)}\n${stderr}`);
  }
}

function normalise(client: Client, raw: RawResult, steps: readonly Step[]): ScenarioResult {
  const out: ScenarioResult = { client, currentUser: raw.currentUser };
  const want = new Set(steps);
  const need = <T>(step: Step, v: T | undefined): T => {
    if (v === undefined) throw new Error(`${client} did not report step ${step}`);
    return v;
  };
  if (want.has('select')) out.select = rows(need('select', raw.select));
  if (want.has('prepared')) out.prepared = need('prepared', raw.prepared).map(rows);
  if (want.has('multi')) out.multi = need('multi', raw.multi).map(rows);
  if (want.has('bigRow')) out.bigRow = need('bigRow', raw.bigRow);
  if (want.has('tls')) {
    const t = need('tls', raw.tls);
    out.tls = { server: Boolean(t.server), client: t.client === null ? null : Boolean(t.client) };
  }
  if (want.has('changeUser')) out.changeUser = need('changeUser', raw.changeUser);
  if (want.has('errors')) {
    const e = need('errors', raw.errors);
    out.errors = { wrongPassword: Number(e.wrongPassword), noSuchDb: Number(e.noSuchDb) };
  }
  return out;
}

const rows = (list: RawRow[]): Row[] => list.map(row);

function row(r: RawRow): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) out[k] = value(v);
  return out;
}

// Drivers differ in types (PHP, Perl and the CLI give text; mysql2 numbers; PyMySQL floats that
// JSON prints as -2.25 or 3.0): text is what they all can agree on.
function value(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return JSON.stringify(v);
}

/**
 * The parts of two results that both clients could do: null (cannot) and absent (not asked) fields
 * are left out, so `deepEqual(comparable(a, b), comparable(b, a))` compares like with like.
 */
export function comparable(a: ScenarioResult, b: ScenarioResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) {
    if (k === 'client' || v === null || v === undefined) continue;
    const other = (b as unknown as Record<string, unknown>)[k];
    if (other === null || other === undefined) continue;
    if (k === 'tls') {
      const t = v as { server: boolean; client: boolean | null };
      const u = other as { server: boolean; client: boolean | null };
      out[k] = t.client === null || u.client === null ? { server: t.server } : t;
      continue;
    }
    out[k] = v;
  }
  return out;
}
