// `moat start`: flags and config file → validated Config → running gateway.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Moat } from '../app/moat.ts';
import { ConfigError, mergeConfig, readConfigFile, validateConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { errnoText, prepareStateDir } from '../state/state-dir.ts';

export const START_HELP = `Usage: moat start [options]

Runs the gateway: clients connect to moat's listeners, moat relays them to the backend.
Options override the same keys of the config file.

  --config FILE             YAML config file (see docs/configuration.md)
  --listen ADDR             listener, repeatable: 127.0.0.1:3307 | [::]:3307 | unix:/run/moat.sock
                            (config: listeners[].address; default 127.0.0.1:3307)
  --backend ADDR            the database server: 127.0.0.1:3306 | unix:/run/mysqld/mysqld.sock
                            (config: backend.address; required)
  --proxy-protocol-from NETS  comma-separated balancer networks whose PROXY protocol header is
                            trusted (config: listeners[].proxyProtocolFrom)
  --tls-cert FILE           PEM certificate for client TLS (config: tls.cert); without it moat
  --tls-key FILE            generates a self-signed ECDSA pair in the state directory
  --tls-ca FILE             CA for client certificates (config: tls.ca)
  --require-tls             refuse logins without TLS, error 3159 (config: tls.require)
  --no-tls                  do not offer TLS to clients (config: tls.enabled=false)
  --backend-tls MODE        off | require | verify (config: backend.tls.mode)
  --backend-tls-ca FILE     CA to verify the backend's certificate (config: backend.tls.ca)
  --local-infile            allow LOAD DATA LOCAL INFILE (config: localInfile; default refused)
  --max-packet-size BYTES   largest packet during login (config: limits.maxPacketSize; 64 MiB)
  --connect-timeout MS      whole-login timeout (config: limits.handshakeTimeoutMs; 10000)
  --state-dir DIR           where moat keeps state and generated certificates (config: stateDir)
  --log-level LEVEL         trace|debug|info|warn|error (config: log.level; debug logs every command)
  --debug                   print the stack trace of a start-up failure (so does log.level debug)
  -h, --help                this help
`;

export function configFromArgs(argv: string[]): Config {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      listen: { type: 'string', multiple: true },
      backend: { type: 'string' },
      'proxy-protocol-from': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'require-tls': { type: 'boolean' },
      'no-tls': { type: 'boolean' },
      'backend-tls': { type: 'string' },
      'backend-tls-ca': { type: 'string' },
      'local-infile': { type: 'boolean' },
      'max-packet-size': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'state-dir': { type: 'string' },
      'log-level': { type: 'string' },
      debug: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(START_HELP);
    process.exit(0);
  }
  const source = values.config ?? 'command line';
  const base = values.config !== undefined ? readConfigFile(values.config) : {};
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new ConfigError(`--${flag}: expected a number, got '${v}'`);
    return Number(v);
  };
  const trusted = values['proxy-protocol-from']
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const over: Record<string, unknown> = {
    listeners: values.listen?.map((address) => ({ address, proxyProtocolFrom: trusted ?? [] })),
    backend:
      values.backend !== undefined ||
      values['backend-tls'] !== undefined ||
      values['backend-tls-ca'] !== undefined
        ? {
            address: values.backend,
            tls:
              values['backend-tls'] !== undefined || values['backend-tls-ca'] !== undefined
                ? { mode: values['backend-tls'] ?? 'verify', ca: values['backend-tls-ca'] }
                : undefined,
          }
        : undefined,
    tls: {
      cert: values['tls-cert'],
      key: values['tls-key'],
      ca: values['tls-ca'],
      require: values['require-tls'],
      enabled: values['no-tls'] ? false : undefined,
    },
    limits: {
      maxPacketSize: num('max-packet-size', values['max-packet-size']),
      handshakeTimeoutMs: num('connect-timeout', values['connect-timeout']),
    },
    localInfile: values['local-infile'],
    stateDir: values['state-dir'],
    log: values['log-level'] !== undefined ? { level: values['log-level'] } : undefined,
  };
  if (trusted !== undefined && values.listen === undefined) {
    const ls = (base.listeners as Array<Record<string, unknown>> | undefined) ?? [
      { address: '127.0.0.1:3307' },
    ];
    over.listeners = ls.map((l) => ({ ...l, proxyProtocolFrom: trusted }));
  }
  const merged = mergeConfig(base, stripUndefined(over));
  if (merged.backend === undefined) {
    throw new ConfigError(
      `${source}: backend: required — give --backend HOST:PORT or backend.address in the config file`,
    );
  }
  return validateConfig(merged, source);
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const inner = stripUndefined(v as Record<string, unknown>);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else out[k] = v;
  }
  return out;
}

/**
 * Why `moat start` could not start, in one line for stderr; the original error is the cause, and
 * main.ts prints its stack only when `debug` (--debug, or log.level debug or trace).
 */
export class StartError extends Error {
  readonly code = 'MOAT_START_FAILED';
  readonly debug: boolean;
  constructor(message: string, cause: unknown, debug: boolean) {
    super(message, { cause });
    this.debug = debug;
  }
}

/** One line naming what failed: the listener and the reason, the file and the reason. */
export function describeStartFailure(e: unknown, stateDir: string): string {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (!(e instanceof Error)) return String(e);
  if (err.syscall === 'listen' || err.syscall === 'bind') {
    const tcp = err.port !== undefined && err.port >= 0;
    const where = tcp ? `${err.address}:${err.port}` : `unix:${err.address}`;
    const hint =
      err.code === 'EADDRINUSE'
        ? ' — another process (another moat?) is listening there'
        : err.code === 'EACCES' && tcp
          ? ' — ports below 1024 need root or CAP_NET_BIND_SERVICE'
          : err.code === 'EADDRNOTAVAIL'
            ? ' — no interface of this host has that address'
            : '';
    // Node's message ends with the address, already named in front.
    const reason = errnoText(e).replace(` ${tcp ? where : err.address} (`, ' (');
    return `cannot listen on ${where}: ${reason}${hint}`;
  }
  // node:sqlite's errors do not name the file; at start only the guard's store opens one.
  if (err.code === 'ERR_SQLITE_ERROR') return `${join(stateDir, 'guard.sqlite')}: ${e.message}`;
  if (err.syscall !== undefined && err.path !== undefined) {
    return `cannot ${err.syscall} ${err.path}: ${errnoText(e)}`;
  }
  return e.message.split('\n')[0] ?? e.message;
}

export async function start(argv: string[]): Promise<void> {
  const config = configFromArgs(argv);
  const debug = argv.includes('--debug') || config.log.level === 'debug' || config.log.level === 'trace';
  const log = pino({ level: config.log.level, base: { pid: process.pid } });
  let gateway: Moat;
  try {
    const dir = await prepareStateDir(config.stateDir);
    for (const w of dir.warnings) log.warn({ stateDir: config.stateDir }, w);
    if (dir.tightened.length > 0)
      log.info({ stateDir: config.stateDir, files: dir.tightened }, 'state files made private (mode 0600)');
    // RELOAD CONFIG and SIGHUP read the same file and flags again.
    gateway = new Moat(config, log, { loadConfig: () => configFromArgs(argv) });
    await gateway.start();
  } catch (e) {
    log.flush();
    throw new StartError(describeStartFailure(e, config.stateDir), e, debug);
  }
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    gateway.stop().then(
      () => {
        log.info('stopped');
        log.flush();
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      gateway.reload();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'reload failed; the running configuration stays');
    }
  });
  // A bug in one session must not take every other session down with the process.
  process.on('uncaughtException', (e) => log.error({ err: e }, 'uncaught exception (moat keeps running)'));
  process.on('unhandledRejection', (e) => log.error({ err: e }, 'unhandled rejection (moat keeps running)'));
}
