// One login through real clients (mysql2, the mariadb Node connector, the `mariadb` CLI) and the
// assertions the authentication-plugin tests make on it and on the scripted MySQL 8 server's
// record of it (auth-plugins.test.ts, auth-sha256.test.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import mariadb, { type Connection as MariadbConnection } from 'mariadb';
import mysql2 from 'mysql2';
import { testBackend } from './env.ts';
import type { AuthStep, ScriptedConnection, ScriptedMysql8 } from './scripted-mysql8.ts';

const run = promisify(execFile);
const backend = testBackend();
/** Clients verify moat's certificate with the harness CA. */
const MOAT_CA = readFileSync(backend.certs.ca);

export type ClientName = 'mysql2' | 'mariadb-node' | 'cli';
export const CLIENTS: ClientName[] = ['mysql2', 'mariadb-node', 'cli'];

type KeyWatch = { onServerPublicKey?: (key: Buffer) => void };

export interface Attempt {
  user: string;
  password: string;
  /** TLS on the client → moat leg. */
  tls: boolean;
  /** Connect over this unix socket instead of 127.0.0.1:port. */
  socketPath?: string;
  /** mariadb connector: may ask the server for its RSA key. */
  allowPublicKeyRetrieval?: boolean;
  /** mysql2's caching_sha2_password plugin options. */
  sha2?: KeyWatch & { overrideIsSecure?: boolean };
  /** mysql2's sha256_password plugin options. */
  sha256?: KeyWatch;
}

export type Outcome =
  | { ok: true; currentUser: string; seqWarnings: string[] }
  | { ok: false; errno: number | null; code: string; message: string; seqWarnings: string[] };

type DriverError = Error & { errno?: number; code?: string; sqlMessage?: string };

function failure(e: unknown, seqWarnings: string[]): Outcome {
  const err = e as DriverError;
  return {
    ok: false,
    errno: err.errno ?? null,
    code: err.code ?? '',
    message: err.sqlMessage ?? err.message,
    seqWarnings,
  };
}

/** mysql2 reports a sequence id it did not expect as a 'warn' event: collected, must stay empty. */
async function viaMysql2(port: number, a: Attempt): Promise<Outcome> {
  const authPlugins: Record<string, unknown> = {};
  if (a.sha2 !== undefined)
    authPlugins.caching_sha2_password = mysql2.authPlugins.caching_sha2_password(a.sha2);
  if (a.sha256 !== undefined) authPlugins.sha256_password = mysql2.authPlugins.sha256_password(a.sha256);
  const conn = mysql2.createConnection({
    ...(a.socketPath === undefined ? { host: '127.0.0.1', port } : { socketPath: a.socketPath }),
    user: a.user,
    password: a.password,
    connectTimeout: 5000,
    // mysql_clear_password is off by default in mysql2; the server decides whether it is asked for.
    enableCleartextPlugin: true,
    ssl: a.tls ? { ca: MOAT_CA, verifyIdentity: true } : undefined,
    authPlugins: Object.keys(authPlugins).length === 0 ? undefined : (authPlugins as never),
  });
  const seqWarnings: string[] = [];
  conn.on('warn', (e: Error) => seqWarnings.push(e.message));
  conn.on('error', () => {});
  const p = conn.promise();
  try {
    await p.connect();
    const [rows] = await p.query('SELECT CURRENT_USER()');
    await p.end();
    const row = (rows as Array<Record<string, unknown>>)[0];
    return { ok: true, currentUser: String(row?.['CURRENT_USER()']), seqWarnings };
  } catch (e) {
    conn.destroy();
    return failure(e, seqWarnings);
  }
}

/** The mariadb connector does not check sequence ids itself (seqWarnings is always empty). */
async function viaMariadbNode(port: number, a: Attempt): Promise<Outcome> {
  let conn: MariadbConnection | undefined;
  try {
    conn = await mariadb.createConnection({
      ...(a.socketPath === undefined ? { host: '127.0.0.1', port } : { socketPath: a.socketPath }),
      user: a.user,
      password: a.password,
      connectTimeout: 2000,
      allowPublicKeyRetrieval: a.allowPublicKeyRetrieval ?? false,
      ssl: a.tls ? { ca: MOAT_CA } : undefined,
    });
    const rows = (await conn.query('SELECT CURRENT_USER()')) as Array<Record<string, unknown>>;
    await conn.end();
    return { ok: true, currentUser: String(rows[0]?.['CURRENT_USER()']), seqWarnings: [] };
  } catch (e) {
    conn?.destroy();
    return failure(e, []);
  }
}

/**
 * libmariadb refuses any packet whose sequence id is not the next one (my_real_read: "Packets out
 * of order" → a lost-connection error), so a clean 1045 from the CLI also proves the sequence.
 */
async function viaCli(port: number, a: Attempt): Promise<Outcome> {
  const args = [
    '--no-defaults',
    '--batch',
    '--skip-column-names',
    '--connect-timeout=5',
    ...(a.socketPath === undefined
      ? ['--protocol=TCP', '--host=127.0.0.1', `--port=${port}`]
      : ['--protocol=SOCKET', `--socket=${a.socketPath}`]),
    `--user=${a.user}`,
    ...(a.tls ? ['--ssl', `--ssl-ca=${backend.certs.ca}`, '--ssl-verify-server-cert'] : ['--skip-ssl']),
    '--execute=SELECT CURRENT_USER()',
  ];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', MYSQL_PWD: a.password };
  try {
    const { stdout } = await run('/usr/bin/mariadb', args, { env, timeout: 10_000 });
    return { ok: true, currentUser: stdout.trim(), seqWarnings: [] };
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? e);
    const m = /^ERROR (\d+) \((\w+)\)(?: at line \d+)?: (.*)$/m.exec(stderr);
    return {
      ok: false,
      errno: m ? Number(m[1]) : null,
      code: m?.[2] ?? '',
      message: m?.[3] ?? stderr.trim(),
      seqWarnings: [],
    };
  }
}

/** One login with `client` to 127.0.0.1:`port` (moat, or the scripted server directly). */
export function login(client: ClientName, port: number, a: Attempt): Promise<Outcome> {
  if (client === 'mysql2') return viaMysql2(port, a);
  if (client === 'mariadb-node') return viaMariadbNode(port, a);
  return viaCli(port, a);
}

export function describeOutcome(o: Outcome): string {
  return o.ok ? `logged in as ${o.currentUser}` : `error ${o.errno} (${o.code}): ${o.message}`;
}

/** The server's record of the last login of `user`, with no violation seen anywhere. */
export function serverRecord(server: ScriptedMysql8, user: string): ScriptedConnection {
  assert.deepEqual(server.violations, [], 'the scripted MySQL 8 saw a violation (cleartext or sequence)');
  const rec = server.lastFor(user);
  assert.ok(rec, `the scripted MySQL 8 never saw a login of ${user}`);
  return rec;
}

export function assertLoggedIn(o: Outcome, user: string, why: string): void {
  assert.ok(o.ok, `${why}: expected a login, got ${describeOutcome(o)}`);
  assert.equal(o.currentUser, `${user}@%`, `${why}: SELECT CURRENT_USER() through moat`);
  assert.deepEqual(o.seqWarnings, [], `${why}: the client saw sequence ids out of order`);
}

/** The server's own 1045, relayed: it names moat's address (`host`) and whether a password came. */
export function assertAccessDenied(
  o: Outcome,
  user: string,
  why: string,
  { host = '127.0.0.1', password = 'YES' } = {},
): void {
  assert.ok(!o.ok, `${why}: expected 1045, but ${describeOutcome(o)}`);
  assert.equal(o.errno, 1045, `${why}: expected the server's 1045, got ${describeOutcome(o)}`);
  assert.equal(o.message, `Access denied for user '${user}'@'${host}' (using password: ${password})`, why);
  assert.deepEqual(o.seqWarnings, [], `${why}: the ERR came with a sequence id out of order`);
}

/**
 * What the server received during authentication. moat may put the client's scramble in its
 * HandshakeResponse (after switching the client to the server's default plugin itself), or send
 * the HandshakeResponse without one and relay the server's own AuthSwitchRequest: the scramble then
 * arrives as an AuthSwitchResponse. Both are MySQL exchanges; either way it arrives once.
 */
export function assertSteps(rec: ScriptedConnection, steps: AuthStep[], why: string): void {
  const switches = rec.received.filter((s) => s === 'auth-switch-response').length;
  assert.ok(switches <= 1, `${why}: the server switched plugins more than once: ${rec.received.join(', ')}`);
  assert.deepEqual(
    rec.received.filter((s) => s !== 'auth-switch-response'),
    steps,
    `${why}: what the server received: ${rec.received.join(', ')} (notes: ${rec.notes.join('; ') || 'none'})`,
  );
}
