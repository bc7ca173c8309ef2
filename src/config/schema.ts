// The one configuration schema. Every key has a default that is safe for a security gateway
// (loopback listener, TLS 1.2+, LOCAL INFILE refused); `moat start --help` and the README list them.
import { z } from 'zod';
import { auditConfigSchema } from '../audit/config.ts';
import { detectConfigSchema } from '../detect/config.ts';
import { firewallConfigSchema } from '../firewall/config.ts';
import { accessSchema, guardConfigSchema, INT_MAX } from '../guard/config.ts';
import { parseEndpoint } from '../net/endpoint.ts';
import { blockListOf, network } from '../net/network.ts';
import { digestConfigSchema } from '../sql/digest-table.ts';
import { sqlFirewallConfigSchema } from '../sqlfw/config.ts';
import { stateConfigSchema } from '../state/config.ts';

const endpoint = z.string().transform((s, ctx) => {
  try {
    return parseEndpoint(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

const tlsVersion = z.enum(['TLSv1.2', 'TLSv1.3']);

const listener = z.strictObject({
  /** Port 0 picks a free port (tests); the bound one is logged. */
  address: endpoint,
  /** Balancers allowed to send a PROXY protocol header; from them a header is required. */
  proxyProtocolFrom: z.array(network).default([]),
  /** Address rules for this listener only (instead of guard.access). */
  access: accessSchema.optional(),
});

/** What an admin account or HTTP token may do: everything, or look (SELECT / SHOW / GET). */
const adminRole = z.enum(['admin', 'readonly']).default('admin');
const tokenHash = z.string().regex(/^[0-9a-f]{64}$/i, 'expected 64 hex digits (the SHA-256 of the token)');

export const configSchema = z.strictObject({
  listeners: z
    .array(listener)
    .min(1, 'at least one listener is needed')
    .prefault([{ address: '127.0.0.1:3307' }]),
  backend: z
    .strictObject({
      address: endpoint.refine((e) => e.kind === 'unix' || e.port > 0, {
        message: 'backend port must not be 0',
      }),
      connectTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      /**
       * A PROXY protocol header before each backend login, so the server sees the client's address
       * (MariaDB reads it from the addresses in proxy_protocol_networks: list moat's there).
       */
      proxyProtocol: z.enum(['off', 'v1', 'v2']).default('off'),
      /**
       * With proxyProtocol off, the server matches accounts against moat's address: an account
       * limited to moat's host (root@localhost, u@127.0.0.1) would be open to every client. refuse:
       * such a login from a non-local client gets 1045. allow: the old behaviour.
       */
      localAccounts: z.enum(['refuse', 'allow']).default('refuse'),
      /**
       * KILL [QUERY] <the id moat greeted with> is carried out on that session's backend thread.
       * Off when backend.address is a load balancer in front of several servers: the caller's
       * connection may be on another server, where that thread id is someone else's.
       */
      killMapping: z.boolean().default(true),
      tls: z
        .strictObject({
          /** off: plain; require: TLS without verification; verify: TLS, certificate checked against `ca`. */
          mode: z.enum(['off', 'require', 'verify']).default('off'),
          ca: z.string().optional(),
          cert: z.string().optional(),
          key: z.string().optional(),
          servername: z.string().optional(),
        })
        .prefault({}),
      /** Optional account for a complete login at start and on an interval: learns the greeting, checks health. */
      healthCheck: z
        .strictObject({
          user: z.string().min(1),
          password: z.string(),
          intervalMs: z.number().int().min(1000).default(30_000),
        })
        .optional(),
    })
    .refine((b) => b.tls.mode !== 'verify' || b.tls.ca !== undefined, {
      message: "backend.tls.mode 'verify' needs backend.tls.ca",
      path: ['tls', 'ca'],
    }),
  tls: z
    .strictObject({
      /** PEM files. Without them moat generates a self-signed ECDSA pair in stateDir at first start. */
      cert: z.string().optional(),
      key: z.string().optional(),
      /** CA for client certificates (REQUIRE X509-style policies); when set, clients are asked for one. */
      ca: z.string().optional(),
      /** Refuse logins that did not upgrade to TLS (MySQL's require_secure_transport). */
      require: z.boolean().default(false),
      minVersion: tlsVersion.default('TLSv1.2'),
      /** OpenSSL cipher list. Default: TLS_CIPHERS in src/net/tls.ts (TLS 1.2: ECDHE + AEAD only). */
      ciphers: z.string().optional(),
      enabled: z.boolean().default(true),
    })
    .refine((t) => (t.cert === undefined) === (t.key === undefined), {
      message: 'tls.cert and tls.key go together',
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest logical packet moat assembles during login (max_allowed_packet for the handshake). */
      maxPacketSize: z
        .number()
        .int()
        .min(1024)
        .max(1 << 30)
        .default(64 * 1024 * 1024),
      /** connect_timeout: the whole login, from accept to the backend's OK, must finish within it. */
      handshakeTimeoutMs: z.number().int().min(100).max(3_600_000).default(10_000),
      /**
       * Statement text captured per command, in bytes: what detection sees. A longer statement is
       * itself a finding (detect rule statement-truncated), so padding cannot push an attack past
       * it unseen. Audit records keep `audit.maxStatementLength` of it.
       */
      maxStatementLength: z
        .number()
        .int()
        .min(0)
        .max(1 << 20)
        .default(65_536),
    })
    .prefault({}),
  guard: guardConfigSchema
    .refine((g) => g.connection_control_min_connection_delay <= g.connection_control_max_connection_delay, {
      message:
        'connection_control_min_connection_delay must not exceed connection_control_max_connection_delay',
    })
    .prefault({}),
  /**
   * The admin port: the MySQL protocol over moat's own state. Off until a user is configured
   * (there is no default password); loopback only unless `listen` and `allowFrom` say otherwise.
   */
  admin: z
    .strictObject({
      listen: endpoint.default(parseEndpoint('127.0.0.1:6033')),
      /** Source networks allowed to connect (others get ERROR 1130). */
      allowFrom: z.array(network).default(['127.0.0.0/8', '::1']),
      users: z
        .array(
          z.strictObject({
            user: z.string().min(1),
            /** mysql_native_password's stored form: '*' + hex SHA1(SHA1(password)); `moat hash-password` prints it. */
            passwordHash: z
              .string()
              .regex(/^\*[0-9A-Fa-f]{40}$/, "expected '*' and 40 hex digits, as `moat hash-password` prints"),
            /** admin: every statement; readonly: SELECT / SHOW only (others get ERROR 1227). */
            role: adminRole,
          }),
        )
        .default([]),
      /**
       * TLS for admin logins from off this host (ERROR 3159 without it); loopback and unix-socket
       * clients are exempt. Unset: follows `tls.require`.
       */
      requireTls: z.boolean().optional(),
      /**
       * The admin port's and the HTTP API's own guard (a separate ledger, blocks and login delays;
       * MySQL's variable names). Unlike the database port, failed admin logins count towards
       * max_connect_errors: an admin-port guesser is blocked there after that many in a row.
       */
      guard: z
        .strictObject({
          connection_control_failed_connections_threshold: z.number().int().min(0).max(INT_MAX).default(3),
          connection_control_min_connection_delay: z.number().int().min(1000).max(INT_MAX).default(1000),
          connection_control_max_connection_delay: z.number().int().min(1000).max(INT_MAX).default(60_000),
          /** Failed logins (and handshake errors) in a row before the address is blocked; 0: never. */
          max_connect_errors: z.number().int().min(0).max(INT_MAX).default(10),
          /** How long such a block lasts (ms); null: until `UNBLOCK ADMIN HOST` or a restart. */
          blockDurationMs: z.number().int().min(1000).nullable().default(600_000),
          /** Networks never blocked on the admin side. */
          exempt: z.array(network).default([]),
          /** Also block the address on the database listeners (off: a mistyping DBA keeps the apps up). */
          blockDatabasePort: z.boolean().default(false),
        })
        .refine(
          (g) => g.connection_control_min_connection_delay <= g.connection_control_max_connection_delay,
          {
            message:
              'admin.guard.connection_control_min_connection_delay must not exceed connection_control_max_connection_delay',
          },
        )
        .prefault({}),
      /**
       * The HTTP side: JSON API, Prometheus /metrics and the dashboard. Off until a token is set;
       * only its SHA-256 is configured (`moat hash-token` prints it), clients send the token as
       * `Authorization: Bearer <token>`.
       */
      http: z
        .strictObject({
          listen: endpoint.default(parseEndpoint('127.0.0.1:6034')),
          /** A token with the admin scope (the original single-token form). */
          tokenSha256: tokenHash.optional(),
          /** More tokens, each with its scope: readonly tokens get 403 on every POST. */
          tokens: z.array(z.strictObject({ sha256: tokenHash, scope: adminRole })).default([]),
          /** Let /metrics be scraped without the token (it shows counts, never addresses). */
          metricsWithoutToken: z.boolean().default(false),
        })
        .prefault({}),
    })
    .prefault({}),
  /** The audit log: sinks, filters, rotation, strict mode (src/audit/config.ts). Relative paths are in stateDir. */
  audit: auditConfigSchema.prefault({}),
  /** Attack detection over the statement stream (src/detect/config.ts): alert by default. */
  detect: detectConfigSchema.prefault({}),
  /** Statement digests and events_statements_summary_by_digest (src/sql/digest-table.ts, docs/digests.md). */
  digests: digestConfigSchema.prefault({}),
  /** LOAD DATA LOCAL INFILE lets a server read client files: refused unless allowed here. */
  localInfile: z.boolean().default(false),
  /** On SIGTERM: stop accepting, then wait this long for sessions to finish. */
  shutdownTimeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
  stateDir: z.string().default('.moat'),
  /**
   * `moat check` inside the running gateway: its findings in moat.posture_findings, /api/posture
   * and the dashboard. Off without a check account (docs/check.md lists the privilege it needs).
   */
  posture: z
    .strictObject({
      user: z.string().min(1).optional(),
      /** The check account's password: a file, or an environment variable; never in this file. */
      passwordFile: z.string().optional(),
      passwordEnv: z.string().optional(),
      /** Log in here instead of backend.address (e.g. the server's unix socket). */
      endpoint: endpoint.optional(),
      /** How often the check runs again (ms); 0: at start and on CHECK POSTURE only. */
      intervalMs: z
        .number()
        .int()
        .min(0)
        .max(30 * 86_400_000)
        .default(6 * 3_600_000),
    })
    .refine((p) => p.user === undefined || p.passwordFile !== undefined || p.passwordEnv !== undefined, {
      message: 'posture.user needs posture.passwordFile or posture.passwordEnv',
    })
    .prefault({}),
  /** Mirror blocks into an nftables table of moat's own (src/firewall/config.ts). Off by default. */
  firewall: firewallConfigSchema.prefault({}),
  /** The SQL firewall, MySQL Enterprise Firewall's model (src/sqlfw/config.ts, docs/sqlfw.md). */
  sqlFirewall: sqlFirewallConfigSchema.prefault({}),
  /** Where the guard's state lives: SQLite in stateDir (default) or a Redis shared by a fleet (src/state/config.ts). */
  state: stateConfigSchema.prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
  greeting: z
    .strictObject({
      /** Shown to clients until moat has seen the backend's own greeting once. */
      serverVersion: z.string().min(1).default('8.0.0-moat'),
    })
    .prefault({}),
});

export type { GuardConfig } from '../guard/config.ts';
export { blockListOf, network };

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ListenerConfig = Config['listeners'][number];
