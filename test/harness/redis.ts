// A private redis-server for tests: its own temp directory and a free port on 127.0.0.1, nothing
// kept on disk. Never the system server on 6379. It can be killed and started again on the same
// port (empty, as a Redis without persistence comes back), for the outage tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { freePort } from './ports.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisTls {
  cert: string;
  key: string;
  ca: string;
}

export interface RedisOptions {
  /** redis-server arguments appended last (ACL users, say). */
  extraArgs?: string[];
  /** This port instead of a free one (a test that starts moat before its Redis). */
  port?: number;
  /** TLS only: the port speaks TLS (`--tls-port`), plain TCP is off; clients need no certificate. */
  tls?: RedisTls;
}

export interface RedisServer {
  port: number;
  /** redis:// or, with TLS, rediss:// */
  url: string;
  /** SIGKILL: the sudden outage. */
  kill(): Promise<void>;
  /** Starts it again on the same port (with no data). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

async function waitForPort(
  port: number,
  child: ChildProcess,
  o: RedisOptions,
  timeoutMs = 10_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s: Socket =
        o.tls === undefined
          ? createConnection({ host: '127.0.0.1', port })
          : tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      s.once(o.tls === undefined ? 'connect' : 'secureConnect', () => {
        // Any answer to PING means the server is up (NOAUTH included, when ACLs ask for a login).
        s.end('PING\r\n');
        s.once('data', (d) => resolve(/^[+-]/.test(d.toString())));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

export async function startRedis(o: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'moat-redis-'));
  const port = o.port ?? (await freePort());
  let child: ChildProcess | null = null;
  const launch = async () => {
    const c = spawn(
      REDIS_SERVER,
      [
        ...(o.tls === undefined
          ? ['--port', String(port)]
          : [
              '--port',
              '0',
              '--tls-port',
              String(port),
              '--tls-cert-file',
              o.tls.cert,
              '--tls-key-file',
              o.tls.key,
              '--tls-ca-cert-file',
              o.tls.ca,
              '--tls-auth-clients',
              'no',
            ]),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--logfile',
        join(dir, 'redis.log'),
        ...(o.extraArgs ?? []),
      ],
      { stdio: 'ignore' },
    );
    running.add(c);
    c.once('exit', () => running.delete(c));
    child = c;
    await waitForPort(port, c, o);
  };
  const kill = async () => {
    const c = child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
    child = null;
  };
  await launch();
  return {
    port,
    url: `${o.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Sentinel {
  port: number;
  stop(): Promise<void>;
}

/**
 * One Redis Sentinel (the same redis-server binary, --sentinel) watching the primary on
 * `primaryPort` as `name`, quorum 1, quick to act: down after `downAfterMs`, so a test can see a
 * failover in a few seconds.
 */
export async function startSentinel(
  name: string,
  primaryPort: number,
  o: { downAfterMs?: number; failoverTimeoutMs?: number } = {},
): Promise<Sentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'moat-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file as it learns the topology: it must be its own, writable.
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `logfile ${join(dir, 'sentinel.log')}`,
      `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 1`,
      `sentinel down-after-milliseconds ${name} ${o.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} ${o.failoverTimeoutMs ?? 3000}`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const c = spawn(REDIS_SERVER, [conf, '--sentinel'], { stdio: 'ignore' });
  running.add(c);
  c.once('exit', () => running.delete(c));
  await waitForPort(port, c, {});
  return {
    port,
    stop: async () => {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = once(c, 'exit');
        c.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
