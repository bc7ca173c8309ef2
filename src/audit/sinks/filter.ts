// Which events reach a sink: by event name, user (globs), status (codes and ranges) and statement
// class. Every condition given must hold; an absent condition admits everything. Filters run in
// AuditLog.record(), on the caller's path, so each test is a set lookup, a range scan or one
// anchored regex, and the statement is classified only when some sink asks for its class.
import type { AuditEvent, AuditEventName } from '../event.ts';
import type { StatementClass } from '../statement.ts';

export interface StatusRange {
  from: number;
  to: number;
}

export interface FilterConfig {
  events?: readonly AuditEventName[] | undefined;
  /** User names or globs (`*` any run, `?` one character); case-sensitive, as MySQL's user names. */
  users?: readonly string[] | undefined;
  status?: readonly StatusRange[] | undefined;
  /** Applies to events that carry a statement; Connect, Quit … pass it (narrow them with `events`). */
  statementClasses?: readonly StatementClass[] | undefined;
}

/** The event, and its statement's class computed at most once however many sinks ask. */
export interface Candidate {
  readonly event: AuditEvent;
  statementClass(): StatementClass;
}

export type EventFilter = (c: Candidate) => boolean;

/** "0", "1045,1130", "1-9999", "1045, 2000-2999": MySQL error codes and inclusive ranges. */
export function parseStatusSpec(spec: string | number): StatusRange[] {
  if (typeof spec === 'number') return [{ from: code(spec, String(spec)), to: spec }];
  return spec.split(',').map((raw) => {
    const part = raw.trim();
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (m === null) throw new Error(`'${part}': expected a status code (1045) or a range (1-9999)`);
    const from = code(Number(m[1]), part);
    const to = code(Number(m[2] ?? m[1]), part);
    if (to < from) throw new Error(`'${part}': the range ends before it starts`);
    return { from, to };
  });
}

function code(n: number, text: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`'${text}': status codes are 0 to 65535`);
  return n;
}

/** A glob as an anchored regular expression: `*` any run, `?` one character, all else literal. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const c of glob) {
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else source += c.replace(/[\\^$.|+()[\]{}/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'u');
}

export function compileFilter(config: FilterConfig | undefined): EventFilter {
  if (config === undefined) return () => true;
  const tests: EventFilter[] = [];
  if (config.events !== undefined) {
    const names = new Set<string>(config.events);
    tests.push((c) => names.has(c.event.name));
  }
  if (config.users !== undefined) {
    const exact = new Set(config.users.filter((u) => !/[*?]/.test(u)));
    const globs = config.users.filter((u) => /[*?]/.test(u)).map(globToRegExp);
    tests.push((c) => {
      const user = c.event.user ?? '';
      return exact.has(user) || globs.some((g) => g.test(user));
    });
  }
  if (config.status !== undefined) {
    const ranges = config.status;
    tests.push((c) => ranges.some((r) => c.event.status >= r.from && c.event.status <= r.to));
  }
  if (config.statementClasses !== undefined) {
    const classes = new Set<string>(config.statementClasses);
    tests.push((c) => c.event.statement === null || classes.has(c.statementClass()));
  }
  return (c) => tests.every((t) => t(c));
}
