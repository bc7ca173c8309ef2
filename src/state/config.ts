// Where the guard's state lives: the embedded SQLite file (one instance, the default) or a shared
// Redis for a fleet of moat instances. Redis is reached by URL (redis:// or rediss:// for TLS) or
// through Sentinel; its password comes from a file or an environment variable, never the config
// text, so that the config can be shown, diffed and logged.
import { hostname } from 'node:os';
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port (IPv6 in brackets)');

export const redisConfigSchema = z.strictObject({
  /** redis://host:port/db or rediss://… (TLS). A password inside the URL is refused: use passwordFile. */
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
    .refine((u) => {
      try {
        return new URL(u).password === '';
      } catch {
        return false;
      }
    }, 'no password in the URL (it would reach logs and process lists): use passwordFile or passwordEnv')
    .default('redis://127.0.0.1:6379'),
  /** Sentinels to ask for the current primary of `sentinelName` (instead of url's host). */
  sentinels: z.array(hostPort).optional(),
  sentinelName: z.string().min(1).default('mymaster'),
  /** Redis 6 ACL user (AUTH user password). */
  username: z.string().min(1).optional(),
  passwordFile: z.string().optional(),
  /** Name of an environment variable holding the password. */
  passwordEnv: z.string().optional(),
  /** TLS (rediss:// turns it on): PEM files; the server name is checked against the URL's host. */
  tls: z
    .strictObject({
      ca: z.string().optional(),
      cert: z.string().optional(),
      key: z.string().optional(),
      servername: z.string().optional(),
    })
    .optional(),
  /** Key prefix: several moat fleets can share one Redis. */
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)')
    .default('moat'),
  /** A command slower than this counts as Redis being unavailable (moat never waits longer). */
  commandTimeoutMs: z.number().int().min(10).max(60_000).default(500),
  /**
   * Shared counters (connect errors, failed logins) expire after this long without a change: the
   * bound on Redis memory that the local ledger's LRU is for one instance.
   */
  counterTtlSeconds: z
    .number()
    .int()
    .min(60)
    .max(365 * 86_400)
    .default(7 * 86_400),
  /**
   * While Redis is unavailable: 'allow' (fail open) admits an address this instance has never
   * seen, judged on local state alone; 'deny' (fail closed) refuses it with ERR 1130 until Redis
   * is back. Hosts this instance knows are always judged on their local state.
   */
  unknownHostsWhenDown: z.enum(['allow', 'deny']).default('allow'),
  /** Changes made while Redis was unavailable, kept to replay later (oldest dropped beyond, and counted). */
  maxPending: z.number().int().min(100).max(10_000_000).default(100_000),
});

export const stateConfigSchema = z.strictObject({
  store: z.enum(['sqlite', 'redis']).default('sqlite'),
  /** This instance's name in the fleet (rows of fleet views are tagged with it). Unique per fleet. */
  instance: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, _ . : - (at most 64)')
    .default(
      hostname()
        .replace(/[^A-Za-z0-9_.:-]/g, '-')
        .slice(0, 64) || 'moat',
    ),
  redis: redisConfigSchema.prefault({}),
});

export type StateConfig = z.infer<typeof stateConfigSchema>;
export type RedisConfig = z.infer<typeof redisConfigSchema>;
