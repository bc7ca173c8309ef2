// A statement's leading keywords and its class, for sink filters and Enterprise Audit's
// COMMAND_CLASS. A keyword scan, not a parse: it skips what MySQL itself skips before the first
// keyword (whitespace, comments, opening parentheses) and *enters* executable comments
// (`/*!50001 DROP … */`, MariaDB's `/*M!100100 … */`), since MySQL runs their contents: a filter
// for `drop` that skipped them could be walked around with a version comment.

export const STATEMENT_CLASSES = [
  'select',
  'insert',
  'update',
  'delete',
  'create',
  'drop',
  'grant',
  'other',
] as const;
export type StatementClass = (typeof STATEMENT_CLASSES)[number];

type Token = { kind: 'word'; text: string; depth: number } | { kind: 'open' } | { kind: 'other' };

const WORD_START = /[A-Za-z_]/;
const WORD = /[A-Za-z0-9_$]/;

/** Tokens at the level a reader of the statement sees them; strings and comments are skipped. */
function* tokens(sql: string): Generator<Token> {
  let i = 0;
  let depth = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') i++;
    else if (c === '/' && next === '*') {
      const bang = sql[i + 2] === '!' ? 3 : sql[i + 2] === 'M' && sql[i + 3] === '!' ? 4 : 0;
      if (bang > 0) {
        // An executable comment: its optional version number, then ordinary statement text.
        i += bang;
        while (i < n && /\d/.test(sql[i]!)) i++;
      } else {
        const end = sql.indexOf('*/', i + 2);
        i = end < 0 ? n : end + 2;
      }
    } else if (c === '*' && next === '/')
      i += 2; // the end of an executable comment
    else if (c === '#' || (c === '-' && next === '-' && (i + 2 >= n || /[\s\x00-\x1f]/.test(sql[i + 2]!)))) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === "'" || c === '"' || c === '`') {
      i = skipQuoted(sql, i, c);
      yield { kind: 'other' };
    } else if (c === '(') {
      depth++;
      i++;
      yield { kind: 'open' };
    } else if (c === ')') {
      depth = Math.max(0, depth - 1);
      i++;
      yield { kind: 'other' };
    } else if (WORD_START.test(c)) {
      const start = i;
      while (i < n && WORD.test(sql[i]!)) i++;
      yield { kind: 'word', text: sql.slice(start, i).toUpperCase(), depth };
    } else {
      i++;
      yield { kind: 'other' };
    }
  }
}

function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === '\\' && quote !== '`') i += 2;
    else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return i;
}

/**
 * The first `max` keywords of a statement, upper-cased. Opening parentheses before the first
 * keyword are skipped (`(SELECT …) UNION …`); anything else that is not a keyword ends the list.
 */
export function leadingKeywords(sql: string, max: number): string[] {
  const words: string[] = [];
  for (const t of tokens(sql)) {
    if (t.kind === 'word') {
      words.push(t.text);
      if (words.length >= max) break;
    } else if (t.kind !== 'open' || words.length > 0) break;
  }
  return words;
}

/** Statements a CTE (`WITH … AS (…)`) may introduce. */
const AFTER_WITH = new Set(['SELECT', 'INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'TABLE', 'VALUES']);

/** The keyword that decides what `WITH x AS (…), y AS (…) <this> …` does. */
function afterWith(sql: string): string | null {
  let base = -1;
  for (const t of tokens(sql)) {
    if (t.kind !== 'word') continue;
    if (base < 0)
      base = t.depth; // WITH itself, at the statement's own level
    else if (t.depth === base && AFTER_WITH.has(t.text)) return t.text;
  }
  return null;
}

const CLASS_OF: Record<string, StatementClass> = {
  SELECT: 'select',
  TABLE: 'select',
  VALUES: 'select',
  INSERT: 'insert',
  REPLACE: 'insert',
  UPDATE: 'update',
  DELETE: 'delete',
  CREATE: 'create',
  DROP: 'drop',
  // TRUNCATE empties a table as DROP + CREATE does (MySQL counts it as DDL, not as a DELETE).
  TRUNCATE: 'drop',
  GRANT: 'grant',
  // REVOKE changes privileges as GRANT does; a filter for privilege changes wants both.
  REVOKE: 'grant',
};

/**
 * The class a filter selects statements by, from the statement's first keyword: select, insert
 * (INSERT, REPLACE, LOAD DATA), update, delete, create, drop (DROP, TRUNCATE), grant (GRANT,
 * REVOKE) or other (ALTER, SET, SHOW, CALL, transactions …). `WITH` takes the class of the
 * statement its CTEs introduce.
 */
export function statementClass(sql: string): StatementClass {
  const [first, second] = leadingKeywords(sql, 2);
  if (first === undefined) return 'other';
  if (first === 'WITH') return CLASS_OF[afterWith(sql) ?? ''] ?? 'other';
  if (first === 'LOAD') return second === 'DATA' || second === 'XML' ? 'insert' : 'other';
  return CLASS_OF[first] ?? 'other';
}
