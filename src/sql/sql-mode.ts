// What moat must know of a session's sql_mode to read its statements as the server does: whether
// `"…"` is a string or an identifier (ANSI_QUOTES). Under ANSI_QUOTES `WHERE id = "id"` compares a
// column with itself, while the digest of the default reading is `WHERE id = ?`: an allowlist
// judged in the wrong reading lets a tautology through. So the SQL firewall follows the mode: read
// at login, then through the statements that may change it.
import type { QuoteReading } from './digest.ts';

/** sql_mode names that turn ANSI_QUOTES on: itself, and the combination modes that include it. */
const WITH_ANSI_QUOTES = new Set(['ANSI_QUOTES', 'ANSI', 'DB2', 'MAXDB', 'MSSQL', 'ORACLE', 'POSTGRESQL']);

/** Does this sql_mode value (as `SELECT @@sql_mode` returns it) include ANSI_QUOTES? */
export function hasAnsiQuotes(sqlMode: string): boolean {
  for (const name of sqlMode.split(',')) if (WITH_ANSI_QUOTES.has(name.trim().toUpperCase())) return true;
  return false;
}

export function readingOf(sqlMode: string): QuoteReading {
  return hasAnsiQuotes(sqlMode) ? 'identifier' : 'string';
}

/**
 * What a statement may do to the session's reading of `"…"`: nothing; set it to a known mode
 * (a plain `SET [SESSION] sql_mode = '…'`), which holds once the server answers OK; or leave it
 * unknown (any other mention of sql_mode, which may be computed, and CALL / EXECUTE, which run
 * statements moat does not see).
 */
export type ModeEffect = { kind: 'none' } | { kind: 'set'; reading: QuoteReading } | { kind: 'unknown' };

const NONE: ModeEffect = { kind: 'none' };
const UNKNOWN: ModeEffect = { kind: 'unknown' };
const MENTIONS = /sql_mode|\b(?:call|execute)\b/i;
const PLAIN_SET =
  /^\s*SET\s+(?:(?:SESSION|LOCAL)\s+|@@(?:SESSION\.|LOCAL\.)?)?sql_mode\s*(?:=|:=)\s*'([A-Za-z0-9_, ]*)'\s*;?\s*$/i;

/** `truncated`: the text is a prefix (the capture limit); what follows it may change the mode. */
export function modeEffect(statement: string, truncated = false): ModeEffect {
  if (truncated) return UNKNOWN;
  if (!MENTIONS.test(statement)) return NONE;
  const m = PLAIN_SET.exec(statement);
  if (m === null) return UNKNOWN;
  return { kind: 'set', reading: readingOf(m[1]!) };
}

/**
 * The reading to judge `statement` under, from the session's `current` one: a statement that may
 * change the mode is itself read as either (a multi-statement may change it half-way).
 */
export function readingFor(current: QuoteReading, effect: ModeEffect): QuoteReading {
  if (effect.kind === 'none') return current;
  if (effect.kind === 'set' && effect.reading === current) return current;
  return 'either';
}
