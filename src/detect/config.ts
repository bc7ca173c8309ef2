// The `detect` section of the configuration. Every rule is on and alert-only by default: a kill
// or a block is something an operator turns on per rule, knowing that behind an application
// server one address is the whole application and one session is a pooled connection.
// Times in this section are in seconds, as a finding's blockSeconds.
import { z } from 'zod';
import { STATEMENT_RULES } from './signatures.ts';

export const RULES = [
  'sql-errors',
  'access-denied',
  ...STATEMENT_RULES,
  'new-table',
  'statement-truncated',
] as const;
export type RuleName = (typeof RULES)[number];

export const SEVERITIES = ['low', 'medium', 'high'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type Action = 'alert' | 'kill' | 'block';

const severity = z.enum(SEVERITIES);

function common(defaultSeverity: Severity) {
  return {
    enabled: z.boolean().default(true),
    severity: severity.default(defaultSeverity),
    /** alert: a finding event and log line; kill: end the session; block: block the address. */
    actions: z
      .array(z.enum(['alert', 'kill', 'block']))
      .min(1, 'a rule needs an action (turn it off with enabled: false)')
      .default(['alert']),
    /** How long `block` blocks the address. */
    blockSeconds: z.number().int().min(1).max(31_536_000).default(600),
    /** Users this rule ignores (MySQL wildcards % and _), e.g. a DBA or a migration account. */
    exemptUsers: z.array(z.string().min(1)).default([]),
  };
}

/** Counts errors per session and per address over the window; a threshold of 0 turns that scope off. */
function burstRule(sessionThreshold: number, addressThreshold: number) {
  return z
    .strictObject({
      ...common('medium'),
      sessionThreshold: z.number().int().min(0).max(1_000_000).default(sessionThreshold),
      addressThreshold: z.number().int().min(0).max(1_000_000).default(addressThreshold),
    })
    .prefault({});
}

/** Fires on one statement whose score for this rule reaches minScore. */
function statementRule(defaultSeverity: Severity) {
  return z
    .strictObject({
      ...common(defaultSeverity),
      minScore: z.number().int().min(1).max(1000).default(50),
    })
    .prefault({});
}

export const detectConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** The sliding window of the burst rules, and the least time between two findings of one rule and scope. */
  windowSeconds: z.number().int().min(1).max(86_400).default(60),
  /** State kept per session, per address and per user (least recently active evicted). */
  maxSessions: z.number().int().min(1).max(10_000_000).default(100_000),
  maxAddresses: z.number().int().min(1).max(10_000_000).default(100_000),
  maxUsers: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Statement text kept in a finding's evidence. */
  evidenceLength: z.number().int().min(20).max(65_536).default(200),
  /** A statement finding scoring this much is raised to high severity. */
  highScore: z.number().int().min(1).max(1000).default(100),
  rules: z
    .strictObject({
      /** Syntax, unknown column/table, column-count and operand errors (1064, 1054, 1146, 1222, 1241 …). */
      'sql-errors': burstRule(10, 20),
      /** Privilege errors (1142, 1143, 1044, 1227, 1370 …). */
      'access-denied': burstRule(5, 10),
      'union-probe': statementRule('high'),
      tautology: statementRule('high'),
      'stacked-query': statementRule('high'),
      'time-based': statementRule('high'),
      'schema-enumeration': statementRule('medium'),
      'file-access': statementRule('high'),
      'blind-probe': statementRule('medium'),
      evasion: statementRule('medium'),
      /** A table a user never touched during its learning period. */
      'new-table': z
        .strictObject({
          ...common('low'),
          /** Learning ends once a user has both this many successful statements … */
          learnStatements: z.number().int().min(0).max(100_000_000).default(1000),
          /** … and was first seen this long ago. Learned tables are kept in memory only. */
          learnSeconds: z.number().int().min(0).max(31_536_000).default(3600),
          /** Tables remembered per user; a user past it is no longer checked. */
          maxTablesPerUser: z.number().int().min(1).max(1_000_000).default(10_000),
        })
        .prefault({}),
      /**
       * A statement longer than moat captures (limits.maxStatementLength, 64 KiB by default):
       * what lies past the cut is not inspected, so the cut itself is the finding — padding a
       * statement with a long comment must not carry an attack past detection unseen. Bulk
       * loaders that send longer statements are exempted by user (exemptUsers).
       */
      'statement-truncated': z
        .strictObject({
          ...common('medium'),
          /** The finding's score (a statement rule's scale: 50 is the default minScore). */
          score: z.number().int().min(1).max(1000).default(60),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type DetectConfig = z.infer<typeof detectConfigSchema>;
export type DetectConfigInput = z.input<typeof detectConfigSchema>;
