// The things a benchmark connects to: the database itself, and the proxies in front of it, each
// started as its own process so that its CPU can be read from /proc/<pid>/stat.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { configSchema } from '../src/config/schema.ts';
import { freePort } from '../test/harness/ports.ts';

export { freePort };

export const TARGET_NAMES = [
  'direct',
  'haproxy',
  'node-pipe',
  'moat',
  'moat-relay',
  'moat-full',
  'moat-redis',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
/** What `npm run bench` measures without --targets (`moat` is moat-full without the SQL firewall). */
export const DEFAULT_TARGETS: readonly TargetName[] = [
  'direct',
  'haproxy',
  'node-pipe',
  'moat-relay',
  'moat-full',
  'moat-redis',
];
const MOATS: readonly TargetName[] = ['moat', 'moat-relay', 'moat-full', 'moat-redis'];

export type Target = {
  name: TargetName;
  host: string;
  port: number;
  /** The proxy's process; undefined for `direct`, which has no process of its own to measure. */
  pid?: number;
  /** Why the target's process is gone (exit code or signal), or undefined while it runs. */
  exited(): string | undefined;
  stop(): Promise<void>;
};

export type Backend = { host: string; port: number };

export type StartContext = {
  backend: Backend;
  /** A private temporary directory for configs, logs and the proxies' working directory. */
  dir: string;
  repoRoot: string;
  haproxyThreads: number;
  /** moat's entry script, absolute or relative to the repository. */
  moatMain: string;
  moatArgs: string[];
  /** The redis-server that `moat-redis` keeps its guard state in (started by run.ts when needed). */
  redisUrl?: string;
  /** The account sysbench logs in as (moat-full puts it in the SQL firewall's DETECTING mode). */
  benchUser: string;
  /** sbtest tables (the firewall's allowlist names each). */
  tables: number;
  /** Progress notes (stderr). */
  note: (line: string) => void;
};

const HOST = '127.0.0.1';

/**
 * Ready means a MySQL greeting (or ERR) arrives through the port: the listener is up and, for a
 * plain TCP proxy, the path to the backend works too.
 */
export async function waitForGreeting(
  port: number,
  child: ChildProcess | undefined,
  log: string,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) break;
    try {
      await new Promise<void>((resolve, reject) => {
        const sock = net.connect({ host: HOST, port });
        sock.setTimeout(2000, () => sock.destroy(new Error('no greeting within 2 s')));
        sock.once('data', (chunk) => {
          sock.destroy();
          const kind = chunk[4];
          if (chunk.length >= 5 && (kind === 10 || kind === 0xff)) resolve();
          else reject(new Error(`not a MySQL greeting: ${chunk.subarray(0, 16).toString('hex')}`));
        });
        sock.once('error', reject);
        sock.once('close', () => reject(new Error('closed before a greeting')));
      });
      return;
    } catch (err) {
      last = (err as Error).message;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-15).join('\n') : '';
  throw new Error(`no MySQL greeting on ${HOST}:${port} (${last}); log ${log}:\n${tail}`);
}

async function spawnProxy(
  name: TargetName,
  ctx: StartContext,
  port: number,
  cmd: string,
  args: string[],
): Promise<Target> {
  // Output goes straight to a file, not through a pipe to us: our process stays out of its path.
  const log = join(ctx.dir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { cwd: ctx.dir, stdio: ['ignore', fd, fd] });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  await spawned.finally(() => closeSync(fd));
  try {
    await waitForGreeting(port, child, log);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    name,
    host: HOST,
    port,
    pid: child.pid!,
    exited: () =>
      child.exitCode !== null
        ? `exit code ${child.exitCode}`
        : child.signalCode !== null
          ? `signal ${child.signalCode}`
          : undefined,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * HAProxy in plain `mode tcp`, one thread: moat is one Node thread, so one HAProxy thread is the
 * like-for-like peer (and on 2 cores shared with the server and the load generator, a second
 * thread mostly adds contention). `--haproxy-threads` changes it.
 */
function haproxyConfig(ctx: StartContext, port: number): string {
  return `global
  nbthread ${ctx.haproxyThreads}
  maxconn 4096

defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h

listen mysql
  bind ${HOST}:${port}
  server db ${ctx.backend.host}:${ctx.backend.port}
`;
}

export function haproxyVersion(): string {
  try {
    const out = execFileSync('haproxy', ['-v'], { encoding: 'utf8' });
    return out.match(/version (\S+)/)?.[1] ?? 'unknown';
  } catch {
    return 'missing';
  }
}

/** The moat command line; the one place to change if the CLI's shape changes. */
export function moatCommand(ctx: StartContext, port: number): { cmd: string; args: string[] } | string {
  const main = resolve(ctx.repoRoot, ctx.moatMain);
  if (!existsSync(main)) return `${main} does not exist yet`;
  return {
    cmd: process.execPath,
    args: [
      main,
      'start',
      '--listen',
      `${HOST}:${port}`,
      '--backend',
      `${ctx.backend.host}:${ctx.backend.port}`,
      ...ctx.moatArgs,
    ],
  };
}

/** Whether a target can be started here, and if not, why. */
export function unavailable(name: TargetName, ctx: StartContext): string | undefined {
  if (name === 'moat-redis' && ctx.redisUrl === undefined) return 'no redis-server was started';
  if (MOATS.includes(name)) {
    const c = moatCommand(ctx, 0);
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

export async function startTarget(name: TargetName, ctx: StartContext): Promise<Target> {
  if (name === 'direct') {
    return {
      name,
      host: ctx.backend.host,
      port: ctx.backend.port,
      exited: () => undefined,
      stop: async () => {},
    };
  }
  const port = await freePort();
  switch (name) {
    case 'haproxy': {
      const cfg = join(ctx.dir, 'haproxy.cfg');
      writeFileSync(cfg, haproxyConfig(ctx, port));
      // -db: stay in the foreground, so the spawned pid is the process that relays.
      return spawnProxy(name, ctx, port, 'haproxy', ['-db', '-f', cfg]);
    }
    case 'node-pipe':
      return spawnProxy(name, ctx, port, process.execPath, [
        join(ctx.repoRoot, 'bench/node-pipe.ts'),
        '--listen',
        `${HOST}:${port}`,
        '--backend',
        `${ctx.backend.host}:${ctx.backend.port}`,
      ]);
    case 'moat': {
      const c = moatCommand(ctx, port);
      if (typeof c === 'string') throw new Error(c);
      return spawnProxy(name, ctx, port, c.cmd, c.args);
    }
    case 'moat-relay': {
      // moat as a relay that follows but hardly watches: only logins audited, no detection.
      const cfg = join(ctx.dir, 'moat-relay.yaml');
      writeFileSync(
        cfg,
        `stateDir: ${join(ctx.dir, 'moat-relay-state')}\n` +
          'audit:\n  sinks:\n    - type: json\n      path: audit.log\n' +
          '      filter:\n        events: [Connect, Quit, Change user]\n' +
          'detect:\n  enabled: false\n',
      );
      const c = moatCommand(ctx, port);
      if (typeof c === 'string') throw new Error(c);
      return spawnProxy(name, ctx, port, c.cmd, [...c.args, '--config', cfg]);
    }
    case 'moat-full': {
      // moat's defaults (every statement audited and detected) plus, where moat has one, the SQL
      // firewall with the bench account in DETECTING: every statement digested and looked up.
      const state = join(ctx.dir, 'moat-full-state');
      const cfg = join(ctx.dir, 'moat-full.yaml');
      // The backend too: `moat sqlfw import --config` validates the whole file.
      writeFileSync(
        cfg,
        `stateDir: ${state}\nbackend:\n  address: ${ctx.backend.host}:${ctx.backend.port}\n`,
      );
      const c = moatCommand(ctx, port);
      if (typeof c === 'string') throw new Error(c);
      const fw = sqlFirewallDetecting(ctx, c, cfg, state);
      ctx.note(`moat-full: ${fw}`);
      return spawnProxy(name, ctx, port, c.cmd, [...c.args, '--config', cfg]);
    }
    case 'moat-redis': {
      // The same moat with its guard state on Redis (a fleet of one): what the shared store costs.
      const cfg = join(ctx.dir, 'moat-redis.yaml');
      writeFileSync(
        cfg,
        `stateDir: ${join(ctx.dir, 'moat-redis-state')}\nstate:\n  store: redis\n  instance: bench\n  redis:\n    url: ${ctx.redisUrl}\n    namespace: bench\n`,
      );
      const c = moatCommand(ctx, port);
      if (typeof c === 'string') throw new Error(c);
      return spawnProxy(name, ctx, port, c.cmd, [...c.args, '--config', cfg]);
    }
  }
}

/**
 * Puts the bench account's firewall profile in DETECTING (its allowlist: sysbench's statements),
 * through `moat sqlfw import`, when this moat has an SQL firewall (the `sqlFirewall` config key);
 * what was done, or why not, for the progress log.
 */
function sqlFirewallDetecting(
  ctx: StartContext,
  moat: { cmd: string; args: string[] },
  cfg: string,
  state: string,
): string {
  if (!('sqlFirewall' in configSchema.shape))
    return 'no sqlFirewall config key in this moat: firewall not used';
  const file = join(ctx.dir, 'moat-full-firewall.yaml');
  // sysbench's oltp_point_select and oltp_read_only statements, one digest per table.
  // BEGIN / COMMIT of read_only, and the connect loop's SELECT 1 (an application's allowlist holds
  // its own statements; without it every connect cycle is an Alert record and a log line).
  const statements = ['BEGIN', 'COMMIT', 'SELECT 1'];
  for (let t = 1; t <= ctx.tables; t++) {
    statements.push(
      `SELECT c FROM sbtest${t} WHERE id=1`,
      `SELECT c FROM sbtest${t} WHERE id BETWEEN 1 AND 2`,
      `SELECT SUM(k) FROM sbtest${t} WHERE id BETWEEN 1 AND 2`,
      `SELECT c FROM sbtest${t} WHERE id BETWEEN 1 AND 2 ORDER BY c`,
      `SELECT DISTINCT c FROM sbtest${t} WHERE id BETWEEN 1 AND 2 ORDER BY c`,
    );
  }
  writeFileSync(
    file,
    `version: 1\nprofiles:\n  - account: ${ctx.benchUser}@%\n    mode: DETECTING\n    digests:\n` +
      statements.map((q) => `      - statement: ${JSON.stringify(q)}\n`).join(''),
  );
  const main = moat.args[0]!;
  try {
    execFileSync(moat.cmd, [main, 'sqlfw', 'import', file, '--config', cfg], {
      cwd: ctx.dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr ?? e.message).trim().split('\n')[0];
    return `sqlFirewall exists but \`moat sqlfw import\` failed (${why}): firewall not used`;
  }
  return `SQL firewall: ${ctx.benchUser}@% in DETECTING (${statements.length} digests, stateDir ${state})`;
}
