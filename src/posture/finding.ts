// One finding of `moat check`: a stable id that tools and tests key on, what was seen, why it
// matters, and the one fix that makes it pass. The same shape goes to the terminal table, --json,
// the admin port's moat.posture_findings and the dashboard.

export const SEVERITIES = ['fail', 'warn', 'pass'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const AREAS = ['bypass', 'accounts', 'server', 'moat'] as const;
export type Area = (typeof AREAS)[number];

/**
 * What kind of text `fix` is, so that a tool knows where it goes: a SQL statement (or statements
 * separated by `;`) for the server, a line for the server's option file ([mariadbd] / [mysqld]),
 * a firewall rule (nftables), or a line of moat's configuration (YAML key path: value).
 */
export const FIX_KINDS = ['sql', 'option', 'firewall', 'config', 'none'] as const;
export type FixKind = (typeof FIX_KINDS)[number];

export interface Finding {
  /** Stable code, e.g. `bypass.bind-address`, `account.anonymous`. */
  id: string;
  area: Area;
  severity: Severity;
  /** What the finding is about: an account `'app'@'%'`, an address `192.0.2.2:3306`, a file. */
  subject: string;
  /** What was observed, with the values read. */
  seen: string;
  /** Why it matters. */
  why: string;
  /** The exact fix; empty when the finding passes. `<new password>` marks a value to choose. */
  fix: string;
  fixKind: FixKind;
}

/** A placeholder the operator replaces; never a real secret in a report that is stored or shown. */
export const NEW_PASSWORD = '<new password>';

export function passed(f: Pick<Finding, 'id' | 'area' | 'subject' | 'seen'> & { why?: string }): Finding {
  return { why: '', ...f, severity: 'pass', fix: '', fixKind: 'none' };
}

const RANK: Record<Severity, number> = { fail: 0, warn: 1, pass: 2 };
const AREA_RANK: Record<Area, number> = { bypass: 0, accounts: 1, server: 2, moat: 3 };

/** Worst first, then by area in the order of the report, then by id and subject. Stable. */
export function sortFindings(list: readonly Finding[]): Finding[] {
  return [...list].sort(
    (a, b) =>
      RANK[a.severity] - RANK[b.severity] ||
      AREA_RANK[a.area] - AREA_RANK[b.area] ||
      a.id.localeCompare(b.id) ||
      a.subject.localeCompare(b.subject),
  );
}

export function worst(list: readonly Finding[]): Severity {
  if (list.some((f) => f.severity === 'fail')) return 'fail';
  if (list.some((f) => f.severity === 'warn')) return 'warn';
  return 'pass';
}

/** A SQL string literal: quotes and backslashes escaped (MySQL's default sql_mode). */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** An account as SQL names it: 'user'@'host'. */
export function accountName(user: string, host: string): string {
  return `${sqlString(user)}@${sqlString(host)}`;
}
