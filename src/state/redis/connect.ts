// Two ioredis connections to the shared state: one for commands and scripts, one subscribed to the
// fleet's channel (a subscribed connection can run nothing else). Both reconnect forever with a
// capped backoff; the command connection has no offline queue, so that a command issued while
// Redis is away fails at once instead of piling up in memory — moat then decides on local state.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.ts';

export class RedisConfigError extends Error {
  readonly code = 'MOAT_REDIS_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'RedisConfigError';
  }
}

function password(c: RedisConfig): string | undefined {
  if (c.passwordFile !== undefined) {
    try {
      return readFileSync(c.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new RedisConfigError(
        `state.redis.passwordFile ${c.passwordFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
  if (c.passwordEnv !== undefined) {
    const v = process.env[c.passwordEnv];
    if (v === undefined) throw new RedisConfigError(`state.redis.passwordEnv: $${c.passwordEnv} is not set`);
    return v;
  }
  return undefined;
}

/** ioredis options from moat's config (throws RedisConfigError for an unreadable secret). */
export function redisOptions(c: RedisConfig): RedisOptions {
  const url = new URL(c.url);
  const secure = url.protocol === 'rediss:';
  const tls =
    secure || c.tls !== undefined
      ? {
          ca: c.tls?.ca === undefined ? undefined : readFileSync(c.tls.ca),
          cert: c.tls?.cert === undefined ? undefined : readFileSync(c.tls.cert),
          key: c.tls?.key === undefined ? undefined : readFileSync(c.tls.key),
          // SNI carries names only (RFC 6066); an address in the URL is checked against the IP SANs.
          servername:
            c.tls?.servername ??
            (isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? url.hostname : undefined),
          minVersion: 'TLSv1.2' as const,
        }
      : undefined;
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  const common: RedisOptions = {
    username: c.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username)),
    password: password(c),
    db: Number.isInteger(db) ? db : 0,
    tls,
    lazyConnect: true,
    connectTimeout: Math.max(1000, c.commandTimeoutMs * 2),
    commandTimeout: c.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // Reconnect forever: 100 ms, 200 ms … at most 2 s between attempts.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    // Errors are reported by the fleet's state machine, once per outage, not per attempt.
    showFriendlyErrorStack: false,
  };
  if (c.sentinels !== undefined) {
    return {
      ...common,
      sentinels: c.sentinels.map((s) => {
        const at = s.lastIndexOf(':');
        return { host: s.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(s.slice(at + 1)) };
      }),
      name: c.sentinelName,
      sentinelRetryStrategy: (times) => Math.min(times * 100, 2000),
    };
  }
  return { ...common, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
}

/** Where Redis is, for log lines (never the password). */
export function describeRedis(c: RedisConfig): string {
  return c.sentinels !== undefined ? `sentinel ${c.sentinelName} via ${c.sentinels.join(',')}` : c.url;
}

export interface RedisPair {
  cmd: Redis;
  sub: Redis;
}

export function createRedisPair(c: RedisConfig): RedisPair {
  const o = redisOptions(c);
  const cmd = new Redis(o);
  // The subscriber keeps its (tiny, bounded) queue so that SUBSCRIBE is sent on every reconnect.
  const sub = new Redis({ ...o, enableOfflineQueue: true, commandTimeout: undefined, autoResubscribe: true });
  // ioredis emits 'error' for every failed reconnect; without a listener Node would throw.
  cmd.on('error', () => {});
  sub.on('error', () => {});
  return { cmd, sub };
}
