// The guard's part of the configuration (`guard:`), with MySQL's names where MySQL has the setting;
// config/schema.ts composes it with the rest.
import { z } from 'zod';
import { network } from '../net/network.ts';

/** MySQL's INT_MAX bound on connection_control delays. */
export const INT_MAX = 2147483647;

const accessRule = z.union([
  z
    .strictObject({ allow: z.array(network).min(1) })
    .transform((r) => ({ action: 'allow' as const, from: r.allow })),
  z
    .strictObject({ deny: z.array(network).min(1) })
    .transform((r) => ({ action: 'deny' as const, from: r.deny })),
]);

/** Address rules: the first rule whose networks hold the client address decides, else `default`. */
export const accessSchema = z.strictObject({
  default: z.enum(['allow', 'deny']).default('allow'),
  rules: z.array(accessRule).default([]),
});

// Names taken from MySQL where MySQL has the setting (max_connect_errors, host_cache_size,
// connection_control_*, max_connections, max_user_connections), so that a DBA's knowledge and
// SET GLOBAL statements carry over; moat's own settings are camelCase like the rest.
export const guardConfigSchema = z.strictObject({
  /** Rows kept in the host ledger (least recently seen evicted). */
  host_cache_size: z.number().int().min(1).max(10_000_000).default(100_000),
  /** Handshake-level errors in a row before a host is blocked (ERR 1129). 0 turns blocking off. */
  max_connect_errors: z.number().int().min(0).max(INT_MAX).default(100),
  blocking: z
    .strictObject({
      /** How long an automatic block lasts, in ms; null: until unblocked (as MySQL). */
      autoBlockDurationMs: z.number().int().min(1000).nullable().default(null),
      /** Networks never blocked, automatically or by hand. */
      exempt: z.array(network).default([]),
    })
    .prefault({}),
  connection_control_failed_connections_threshold: z.number().int().min(0).max(INT_MAX).default(3),
  connection_control_min_connection_delay: z.number().int().min(1000).max(INT_MAX).default(1000),
  connection_control_max_connection_delay: z.number().int().min(1000).max(INT_MAX).default(INT_MAX),
  /**
   * moat's own (MySQL has none): consecutive failed logins from one address, whatever the user
   * name, before its attempts wait as connection control's do — password spraying tries one
   * password on many users, so no single 'user'@'host' reaches the threshold. 0 turns it off.
   */
  connection_control_failed_connections_threshold_per_host: z.number().int().min(0).max(INT_MAX).default(20),
  access: accessSchema.prefault({}),
  /** Per-user rules: the first whose `user` matches applies (MySQL wildcards % and _). */
  users: z
    .array(
      z.strictObject({
        user: z.string().min(1),
        from: z.array(network).optional(),
        require: z
          .strictObject({
            tls: z.boolean().optional(),
            x509: z.boolean().optional(),
            subject: z.string().optional(),
            issuer: z.string().optional(),
            cipher: z.string().optional(),
          })
          .optional(),
      }),
    )
    .default([]),
  /** Sessions at once (ERR 1040); 0: no limit. */
  max_connections: z.number().int().min(0).max(1_000_000).default(0),
  /** Sessions at once per user (ERR 1203); 0: no limit. */
  max_user_connections: z.number().int().min(0).max(1_000_000).default(0),
  /** Connections that have not finished logging in, in total and per address (ERR 1040). */
  maxUnauthenticated: z.number().int().min(1).max(1_000_000).default(2000),
  maxUnauthenticatedPerHost: z.number().int().min(1).max(1_000_000).default(50),
  /** Connections waiting out a connection-control delay, in their own pool (ERR 1040 beyond). */
  maxDelayedLogins: z.number().int().min(1).max(1_000_000).default(10_000),
  /** hosts.allow / hosts.deny files (TCP wrappers syntax) for `daemon`, checked after `access`. */
  tcpWrappers: z
    .strictObject({
      allow: z.string().optional(),
      deny: z.string().optional(),
      daemon: z.string().min(1).default('mysqld'),
    })
    .optional(),
  /**
   * Reverse DNS with forward confirmation, for the ledger's HOST column and for hostname patterns
   * in tcpWrappers. Off by default (MySQL's skip_name_resolve). Lookups never delay a connection
   * that an address decides; only a hostname pattern waits, at most timeoutMs.
   */
  resolve: z
    .strictObject({
      enabled: z.boolean().default(false),
      servers: z.array(z.string()).optional(),
      timeoutMs: z.number().int().min(10).max(30_000).default(500),
      positiveTtlMs: z.number().int().min(0).default(3_600_000),
      negativeTtlMs: z.number().int().min(0).default(300_000),
      transientTtlMs: z.number().int().min(0).default(10_000),
      maxEntries: z.number().int().min(1).max(10_000_000).default(100_000),
      /** Lookups under way at most; beyond, a connection is treated as if DNS had timed out. */
      maxConcurrent: z.number().int().min(1).max(100_000).default(256),
      /** When a hostname rule needs a name and DNS did not answer in time. */
      onTimeout: z.enum(['no-name', 'deny']).default('no-name'),
    })
    .prefault({}),
  /** How often changed counters are written to the state file (blocks are written at once). */
  persistIntervalMs: z.number().int().min(50).max(60_000).default(1000),
  /** Failed-login entries kept for connection control (least recently failed evicted). */
  maxFailedLoginEntries: z.number().int().min(1).max(10_000_000).default(100_000),
});

export type GuardConfig = z.infer<typeof guardConfigSchema>;
