// The `audit` section of moat's configuration. Every sink is a file format or syslog, with its
// own filter; by default one JSON-lines file, `audit.log` beside moat's state.
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseEndpoint } from '../net/endpoint.ts';
import type { AuditEventName } from './event.ts';
import { parseStatusSpec } from './sinks/filter.ts';
import { FACILITIES, type Facility } from './sinks/syslog.ts';
import { STATEMENT_CLASSES } from './statement.ts';

export const AUDIT_EVENT_NAMES = [
  'Connect',
  'Quit',
  'Change user',
  'Query',
  'Blocked',
  'Unblocked',
  'Delayed',
  'Admin',
  'Alert',
] as const satisfies readonly AuditEventName[];
// Fails to compile when event.ts gains a name this list lacks.
const everyName: [Exclude<AuditEventName, (typeof AUDIT_EVENT_NAMES)[number]>] extends [never]
  ? true
  : never = true;
void everyName;

const filter = z.strictObject({
  events: z.array(z.enum(AUDIT_EVENT_NAMES)).min(1).optional(),
  /** User names or globs (`*`, `?`), one or a list. */
  users: z
    .union([z.string().transform((u) => [u]), z.array(z.string())])
    .optional()
    .refine((u) => u === undefined || u.length > 0, { message: 'give at least one user or glob' }),
  /** `0`, `1045`, `"1045,1130"`, `"1-9999"`: MySQL error codes and ranges; 0 is success. */
  status: z
    .union([z.number(), z.string()])
    .transform((s, ctx) => {
      try {
        return parseStatusSpec(s);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  /** By the statement's first keyword; events without a statement pass. */
  statementClasses: z.array(z.enum(STATEMENT_CLASSES)).min(1).optional(),
});

/** `0640`, `"0640"`, `0o640` or 416: file permissions, octal as people write them. */
const fileMode = z.union([
  z.number().int().min(0).max(0o777),
  z
    .string()
    .regex(/^0?o?[0-7]{3}$/, 'expected an octal mode such as 0600')
    .transform((s) => Number.parseInt(s.replace(/^0?o?/, ''), 8)),
]);

const rotation = z.strictObject({
  /** Rotate once a file holds this many bytes; null: never by size. */
  maxBytes: z
    .number()
    .int()
    .min(1)
    .nullable()
    .default(100 * 1024 * 1024),
  /** Rotate once a file is this old; null: never by age. */
  maxAgeMs: z.number().int().min(1).nullable().default(null),
  /** Rotated files kept, newest first; null: all. */
  keep: z.number().int().min(0).nullable().default(10),
  /** Rotated files older than this are removed; null: whatever their age. */
  retainMs: z.number().int().min(1).nullable().default(null),
  /** Compress rotated files with gzip (`.gz`). */
  gzip: z.boolean().default(false),
});

const common = {
  /** Names the sink in log lines and stats; default `<type>:<path or address>`. */
  name: z.string().min(1).optional(),
  filter: filter.optional(),
  /** Overrides `audit.strict` for this sink. */
  strict: z.boolean().optional(),
};

const fileSink = z.strictObject({
  ...common,
  /**
   * json: JSON lines; xml: MySQL Enterprise Audit's new-style XML; sql-errors: OSSEC/Wazuh
   * `SQL-Error:` lines for failed statements; auth: failed logins as MySQL's error log writes them
   * (fail2ban's mysqld-auth filter).
   */
  type: z.enum(['json', 'xml', 'sql-errors', 'auth']),
  /** Relative paths are taken from moat's state directory. */
  path: z.string().min(1),
  rotate: rotation.prefault({}),
  mode: fileMode.default(0o600),
});

const syslogSink = z
  .strictObject({
    ...common,
    type: z.literal('syslog'),
    /** `host:port` (UDP), `[ipv6]:port`, or a unix datagram socket: `/dev/log`, `unix:/dev/log`. */
    address: z.string().transform((s, ctx) => {
      try {
        const e = parseEndpoint(s);
        if (e.kind === 'tcp' && e.port === 0) throw new Error(`'${s}': the syslog port must not be 0`);
        return e;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
    facility: z.enum(Object.keys(FACILITIES) as [Facility, ...Facility[]]).default('local0'),
    /** kv: key=value pairs in MSG; sd: RFC 5424 structured data (UDP only: logger writes its own header). */
    format: z.enum(['kv', 'sd']).default('kv'),
    sdId: z
      .string()
      .regex(/^[^\s=\]"@]{1,32}@\d+(?:\.\d+)*$/, 'expected name@enterprise-number, such as moat@32473')
      .default('moat@32473'),
    /** The HOSTNAME field; default this machine's name. */
    hostname: z.string().min(1).optional(),
    /** Longer records have their statement shortened; RFC 5424 receivers must take 480 bytes. */
    maxMessageBytes: z.number().int().min(480).max(65_000).default(8192),
  })
  .refine((s) => s.format === 'kv' || s.address.kind === 'tcp', {
    message:
      "format 'sd' needs a UDP address (a unix socket goes through logger, which writes its own header)",
    path: ['format'],
  });

const sink = z.union([fileSink, syslogSink]);

export const auditConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Written into every event (AuditEvent.instance); default the host name. */
    instance: z
      .string()
      .min(1)
      .default(() => hostname()),
    /** When a sink cannot write: false drops and counts; true refuses statements (per sink: `strict`). */
    strict: z.boolean().default(false),
    /** Records waiting per sink before dropping (or, strict, refusing) begins. */
    maxQueue: z.number().int().min(1).max(10_000_000).default(10_000),
    /** How often queued records are written. */
    flushIntervalMs: z.number().int().min(1).max(60_000).default(200),
    /**
     * Statement text a record keeps, in characters; a longer statement is cut (after redaction)
     * and its record says so (`statementTruncated`, `statementLength`). moat captures up to
     * `limits.maxStatementLength` bytes for detection, which sees the whole of that.
     */
    maxStatementLength: z
      .number()
      .int()
      .min(64)
      .max(1 << 20)
      .default(4096),
    /** Times in the text logs (sql-errors, auth): local, as MySQL writes them and fail2ban reads them. */
    time: z.enum(['local', 'utc']).default('local'),
    sinks: z.array(sink).prefault([{ type: 'json', path: 'audit.log' }]),
  })
  .transform((c) => ({
    ...c,
    sinks: c.sinks.map((s) => ({
      ...s,
      name:
        s.name ??
        (s.type === 'syslog'
          ? `syslog:${s.address.kind === 'unix' ? s.address.path : `${s.address.host}:${s.address.port}`}`
          : `${s.type}:${s.path}`),
    })),
  }))
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.sinks.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', message: `two sinks named '${s.name}'`, path: ['sinks', i] });
      seen.add(s.name);
      if (s.type === 'syslog') return;
      const path = `file:${s.path}`;
      if (seen.has(path))
        ctx.addIssue({ code: 'custom', message: `two sinks write ${s.path}`, path: ['sinks', i] });
      seen.add(path);
    });
  });

export type AuditConfig = z.infer<typeof auditConfigSchema>;
export type AuditConfigInput = z.input<typeof auditConfigSchema>;
export type AuditSinkConfig = AuditConfig['sinks'][number];
