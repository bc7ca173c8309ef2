// A private MariaDB server for tests: its own temp data directory, a free port on 127.0.0.1, its own
// unix socket, TLS with certificates made at test time, and the accounts the tests log in with.
// Never the system server on 3306: nothing here reads a my.cnf (--no-defaults everywhere).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { type Certs, generateCerts } from './certs.ts';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export const MARIADBD = '/usr/sbin/mariadbd';
export const INSTALL_DB = '/usr/bin/mariadb-install-db';

export interface Account {
  user: string;
  password: string;
}

/** The accounts every harness server has. `app`..`tlsonly` may use database moat_test. */
export const USERS = {
  /** root@localhost only, reachable over the unix socket. */
  root: { user: 'root', password: 'root-pw' },
  /** mysql_native_password, ALL on moat_test.*. */
  app: { user: 'app', password: 'app-pw' },
  /** mysql_native_password, SELECT on moat_test.* (change-user target). */
  app2: { user: 'app2', password: 'app2-pw' },
  /** Empty password, SELECT on moat_test.*. */
  nopw: { user: 'nopw', password: '' },
  /** client_ed25519, SELECT on moat_test.*. */
  ed: { user: 'ed', password: 'ed-pw' },
  /** REQUIRE SSL, SELECT on moat_test.*. */
  tlsonly: { user: 'tlsonly', password: 'tls-pw' },
  /** ALL on sbtest.* (benchmarks). */
  bench: { user: 'bench', password: 'bench-pw' },
} as const satisfies Record<string, Account>;

export type Users = typeof USERS;

export const TEST_DATABASE = 'moat_test';

/** The rows of moat_test.t, as every client reports them after normalisation (see clients.ts). */
export const T_ROWS = [
  { id: '1', name: 'alpha', v: '1.5' },
  { id: '2', name: 'beta', v: '-2.25' },
  { id: '3', name: 'gämma ☃', v: null },
] as const;

/** Plain data about a running server: safe to serialise and hand to test-file processes. */
export interface MariaDBInfo {
  name: string;
  host: '127.0.0.1';
  port: number;
  socket: string;
  dataDir: string;
  /** The temp directory holding data, socket, certs and logs. */
  baseDir: string;
  errorLog: string;
  pid: number;
  certs: Certs;
  /** SELECT VERSION(), e.g. 10.11.19-MariaDB-0+deb12u1. */
  version: string;
  database: typeof TEST_DATABASE;
  users: Users;
}

export interface MariaDB extends MariaDBInfo {
  /** One statement as root over the socket; rows for a SELECT, [] otherwise. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** SIGTERM, wait for exit (SIGKILL after a timeout), remove the temp directory. */
  stop(): Promise<void>;
  /** Plain-data view of this server (no functions). */
  info(): MariaDBInfo;
}

export interface StartOptions {
  /** Appears in the temp directory's name and in errors. */
  name?: string;
  /** Extra mariadbd arguments, appended last (so they win). */
  extraArgs?: string[];
  /** Milliseconds to wait for the server to accept connections (default 30 s). */
  startTimeoutMs?: number;
  /**
   * proxy_protocol_networks: connections from these networks must begin with a PROXY protocol
   * header (MariaDB refuses them otherwise); 'localhost' would include the unix socket, which the
   * harness itself logs in over, so leave it out.
   */
  proxyProtocolNetworks?: string;
}

// Small and fast: the data directory is thrown away after the run, so durability settings are off.
const SERVER_ARGS = [
  '--skip-name-resolve',
  '--skip-log-bin',
  '--performance-schema=OFF',
  '--innodb-buffer-pool-size=32M',
  '--innodb-log-file-size=16M',
  '--innodb-log-buffer-size=4M',
  '--innodb-flush-log-at-trx-commit=0',
  '--innodb-doublewrite=0',
  '--innodb-fast-shutdown=2',
  '--key-buffer-size=1M',
  '--max-allowed-packet=64M',
  '--max-connections=500',
  '--character-set-server=utf8mb4',
  '--collation-server=utf8mb4_general_ci',
  '--loose-skip-innodb-buffer-pool-dump-at-shutdown',
  '--loose-skip-innodb-buffer-pool-load-at-startup',
];

// One 'exit' listener for all servers: kill (synchronously, the only kind allowed in 'exit') whatever
// a test forgot to stop, so no mariadbd outlives the node process that started it.
const running = new Set<() => void>();
process.on('exit', () => {
  for (const kill of running) kill();
});

export async function startMariaDB(opts: StartOptions = {}): Promise<MariaDB> {
  const name = opts.name ?? 'mariadb';
  const baseDir = await mkdtemp(join(tmpdir(), `moat-${name.replace(/[^\w.-]/g, '_')}-`));
  try {
    return await startIn(baseDir, name, opts);
  } catch (err) {
    await rm(baseDir, { recursive: true, force: true });
    throw err;
  }
}

async function startIn(baseDir: string, name: string, opts: StartOptions): Promise<MariaDB> {
  const dataDir = join(baseDir, 'data');
  const socket = join(baseDir, 'mysqld.sock');
  const errorLog = join(baseDir, 'mariadbd.err');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const [certs] = await Promise.all([
    generateCerts(join(baseDir, 'certs')),
    installDb(dataDir, baseDir, asRoot),
  ]);

  // A port found free by binding port 0 may be taken before mariadbd binds it: retry on that.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [
      '--no-defaults',
      ...asRoot,
      `--datadir=${dataDir}`,
      `--tmpdir=${baseDir}`,
      `--socket=${socket}`,
      `--pid-file=${join(baseDir, 'mariadbd.pid')}`,
      `--log-error=${errorLog}`,
      '--bind-address=127.0.0.1',
      `--port=${port}`,
      `--ssl-ca=${certs.ca}`,
      `--ssl-cert=${certs.serverCert}`,
      `--ssl-key=${certs.serverKey}`,
      ...SERVER_ARGS,
      ...(opts.proxyProtocolNetworks === undefined
        ? []
        : [`--proxy-protocol-networks=${opts.proxyProtocolNetworks}`]),
      ...(opts.extraArgs ?? []),
    ];
    // Output goes to a file in the temp dir, never to the test's console.
    const out = openSync(join(baseDir, 'mariadbd.out'), 'a');
    const child = spawn(MARIADBD, args, { stdio: ['ignore', out, out] });
    closeSync(out);
    const killOnExit = (): void => {
      child.kill('SIGKILL');
      rmSync(baseDir, { recursive: true, force: true });
    };
    running.add(killOnExit);
    const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
    try {
      await waitReady(child, exited, socket, errorLog, name, opts.startTimeoutMs ?? 30_000);
    } catch (err) {
      running.delete(killOnExit);
      await terminate(child, exited);
      const log = await tail(errorLog);
      if (attempt < 3 && /Address already in use|Can't start server: Bind/.test(log)) continue;
      throw err;
    }
    try {
      const version = await provision(socket);
      return handle({
        info: {
          name,
          host: '127.0.0.1',
          port,
          socket,
          dataDir,
          baseDir,
          errorLog,
          pid: child.pid!,
          certs,
          version,
        },
        child,
        exited,
        killOnExit,
      });
    } catch (err) {
      running.delete(killOnExit);
      await terminate(child, exited);
      throw err;
    }
  }
}

async function installDb(dataDir: string, baseDir: string, asRoot: string[]): Promise<void> {
  const args = [
    '--no-defaults',
    ...asRoot,
    `--datadir=${dataDir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--skip-name-resolve',
    // Passed through to the bootstrap mariadbd: keep its redo log as small as the server's.
    '--innodb-log-file-size=16M',
    '--innodb-buffer-pool-size=32M',
    // The bootstrap server's temporary tables go here, not to the shared /tmp: two installs at once
    // there delete each other's `#sql-temptable-*` files and the bootstrap crashes (signal 11).
    `--tmpdir=${baseDir}`,
  ];
  try {
    await run(INSTALL_DB, args, {
      cwd: baseDir,
      maxBuffer: 4 << 20,
      env: { ...process.env, TMPDIR: baseDir },
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`mariadb-install-db failed: ${String(err)}\n${e.stderr ?? ''}\n${e.stdout ?? ''}`);
  }
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

async function waitReady(
  child: ChildProcess,
  exited: Promise<Exit>,
  socket: string,
  errorLog: string,
  name: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead: Exit | undefined;
  void exited.then((e) => {
    dead = e;
  });
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (dead || child.exitCode !== null) {
      throw new Error(
        `MariaDB ${name} exited during startup (code ${dead?.code ?? child.exitCode}, ` +
          `signal ${dead?.signal ?? null}); tail of ${errorLog}:\n${await tail(errorLog)}`,
      );
    }
    try {
      const conn = await mysql.createConnection({ socketPath: socket, user: 'root', connectTimeout: 2000 });
      await conn.end();
      return;
    } catch (err) {
      lastErr = err;
      await sleep(50);
    }
  }
  throw new Error(
    `MariaDB ${name} did not accept connections on ${socket} within ${timeoutMs} ms ` +
      `(last error: ${String(lastErr)}); tail of ${errorLog}:\n${await tail(errorLog)}`,
  );
}

// Runs once on a fresh data directory, as the password-less root that mariadb-install-db made. Only
// root@localhost stays, with a password: the other root accounts it made have none and listen on TCP.
const provisionSql = (hostname: string): string => `
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'${hostname}';
INSTALL SONAME 'auth_ed25519';
CREATE DATABASE ${TEST_DATABASE};
CREATE TABLE ${TEST_DATABASE}.t (id INT PRIMARY KEY, name VARCHAR(64), v DOUBLE) DEFAULT CHARSET = utf8mb4;
INSERT INTO ${TEST_DATABASE}.t VALUES ${T_ROWS.map((r) => `(${r.id}, '${r.name}', ${r.v ?? 'NULL'})`).join(', ')};
CREATE DATABASE sbtest;
CREATE USER 'app'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${USERS.app.password}');
GRANT ALL ON ${TEST_DATABASE}.* TO 'app'@'%';
CREATE USER 'app2'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${USERS.app2.password}');
GRANT SELECT ON ${TEST_DATABASE}.* TO 'app2'@'%';
CREATE USER 'nopw'@'%' IDENTIFIED VIA mysql_native_password USING '';
GRANT SELECT ON ${TEST_DATABASE}.* TO 'nopw'@'%';
CREATE USER 'ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('${USERS.ed.password}');
GRANT SELECT ON ${TEST_DATABASE}.* TO 'ed'@'%';
CREATE USER 'tlsonly'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${USERS.tlsonly.password}') REQUIRE SSL;
GRANT SELECT ON ${TEST_DATABASE}.* TO 'tlsonly'@'%';
CREATE USER 'bench'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${USERS.bench.password}');
GRANT ALL ON sbtest.* TO 'bench'@'%';
-- Without any privilege on a database MariaDB answers 1044 (access denied) before it looks for it;
-- with one it answers 1049 (unknown database), which is what the errors step expects.
GRANT SELECT ON no_such_db.* TO 'app'@'%', 'app2'@'%', 'nopw'@'%', 'ed'@'%', 'tlsonly'@'%', 'bench'@'%';
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('${USERS.root.password}');
`;

async function provision(socket: string): Promise<string> {
  const conn = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
  try {
    const [[host]] = (await conn.query('SELECT @@hostname AS h')) as unknown as [[{ h: string }]];
    await conn.query(provisionSql(host.h));
    const [[plugin]] = (await conn.query(
      "SELECT PLUGIN_STATUS AS s FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'",
    )) as unknown as [[{ s: string } | undefined]];
    if (plugin?.s !== 'ACTIVE') throw new Error(`auth_ed25519 is not active after INSTALL SONAME`);
    const [[v]] = (await conn.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
    return v.v;
  } finally {
    await conn.end();
  }
}

function handle(s: {
  info: Omit<MariaDBInfo, 'database' | 'users'>;
  child: ChildProcess;
  exited: Promise<Exit>;
  killOnExit: () => void;
}): MariaDB {
  const info: MariaDBInfo = { ...s.info, database: TEST_DATABASE, users: USERS };
  let conn: Promise<mysql.Connection> | undefined;
  let stopped: Promise<void> | undefined;
  return {
    ...info,
    info: () => structuredClone(info),
    async query(sql, params) {
      conn ??= mysql.createConnection({ socketPath: info.socket, ...USERS.root, supportBigNumbers: true });
      const [rows] = await (await conn).query(sql, params);
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    },
    stop() {
      stopped ??= (async () => {
        if (conn) await (await conn.catch(() => undefined))?.end().catch(() => undefined);
        await terminate(s.child, s.exited);
        running.delete(s.killOnExit);
        await rm(info.baseDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

async function terminate(child: ChildProcess, exited: Promise<Exit>, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(cannot read ${file}: ${String(err)})`;
  }
}
