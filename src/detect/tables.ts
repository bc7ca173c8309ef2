// The tables a statement touches, for the new-table rule: names after FROM and JOIN (in query
// context, not `EXTRACT(YEAR FROM d)`), the target of INSERT/REPLACE [INTO], UPDATE's table list,
// DELETE … USING, and CREATE [TEMPORARY] TABLE (whose name the user then owns). Names are kept as
// 53-bit hashes of `database.table`, lowercased with backquotes stripped, so that a statement
// allocates nothing; a finding rebuilds the text from the token positions.
//
// A simple extraction, not a parse: CTE names are skipped, derived tables and table functions
// are not names; statements other than SELECT/INSERT/REPLACE/UPDATE/DELETE/WITH/CREATE TABLE
// (SHOW, DESCRIBE, SET, CALL, DDL …) touch no table here.
import { KW, type Lexer, T } from '../sql/lexer.ts';

/** At most this many tables are taken from one statement. */
export const MAX_TABLES_PER_STATEMENT = 32;
const MAX_CTES = 16;
/** Query contexts tracked by paren depth; deeper FROMs are ignored. */
const MAX_LEVELS = 64;

const INSERT_MODIFIERS = new Set<number>([KW.LOW_PRIORITY, KW.DELAYED, KW.HIGH_PRIORITY, KW.IGNORE]);
const QUERY_START = new Set<number>([KW.SELECT, KW.WITH, KW.VALUES, KW.TABLE]);
const JOINS = new Set<number>([KW.JOIN, KW.STRAIGHT_JOIN]);

/** Words after a table reference that end the reference list (anything else is an alias or hint). */
const REF_LIST_END = new Set<number>([
  KW.WHERE,
  KW.JOIN,
  KW.INNER,
  KW.LEFT,
  KW.RIGHT,
  KW.CROSS,
  KW.NATURAL,
  KW.STRAIGHT_JOIN,
  KW.OUTER,
  KW.ON,
  KW.USING,
  KW.SET,
  KW.GROUP,
  KW.ORDER,
  KW.LIMIT,
  KW.HAVING,
  KW.WINDOW,
  KW.UNION,
  KW.FOR,
  KW.LOCK,
  KW.SELECT,
  KW.VALUES,
  KW.VALUE,
  KW.INTO,
  KW.RETURNING,
  KW.FROM,
]);

// Two 32-bit FNV-1a variants, combined into one 53-bit integer (exact in a double).
let h1 = 0;
let h2 = 0;

function begin(): void {
  h1 = 0x811c9dc5 | 0;
  h2 = 0x01234567;
}

function feed(c: number): void {
  const f = c >= 65 && c <= 90 ? c + 32 : c;
  h1 = Math.imul(h1 ^ f, 0x01000193);
  h2 = Math.imul(h2 ^ f, 0x5bd1e995) ^ (h2 >>> 15);
}

function feedString(s: string): void {
  for (let i = 0; i < s.length; i++) feed(s.charCodeAt(i));
}

function feedToken(lx: Lexer, i: number): void {
  const src = lx.src;
  let from = lx.start[i]!;
  let to = lx.end[i]!;
  if (lx.kind[i] === T.ident) {
    from++;
    if (to > from && src.charCodeAt(to - 1) === 96) to--;
  }
  for (let p = from; p < to; p++) feed(src.charCodeAt(p));
}

function finish(): number {
  return (h1 >>> 0) * 0x200000 + (h2 >>> 11);
}

/** The hash the tables scan gives `database.table` (for tests and for seeding known tables). */
export function tableHash(database: string, table: string): number {
  begin();
  feedString(database);
  feed(46);
  feedString(table);
  return finish();
}

/** Tables of one statement. Reused: valid until the next `scan`. */
export class TableScan {
  n = 0;
  /** The first `created` tables are being created by this statement (CREATE TABLE). */
  created = 0;
  readonly hash = new Float64Array(MAX_TABLES_PER_STATEMENT);
  /** First and last token of each name as written (`db`.`t` spans three tokens). */
  readonly first = new Int32Array(MAX_TABLES_PER_STATEMENT);
  readonly last = new Int32Array(MAX_TABLES_PER_STATEMENT);

  private readonly cte = new Float64Array(MAX_CTES);
  private ctes = 0;
  private readonly query = new Uint8Array(MAX_LEVELS);
  private database = '';
  private deleting = false;

  scan(lx: Lexer, database: string | null): number {
    this.n = 0;
    this.created = 0;
    this.ctes = 0;
    this.database = database ?? '';
    let i = 0;
    while (lx.t(i) === T.lparen) i++;
    let first = lx.k(i);
    if (first === KW.WITH) {
      i = this.withClause(lx, i + 1);
      first = lx.k(i);
    }
    this.deleting = first === KW.DELETE;
    switch (first) {
      case KW.SELECT:
      case KW.DELETE:
      case KW.TABLE:
      case KW.VALUES:
        break;
      case KW.INSERT:
      case KW.REPLACE: {
        let j = i + 1;
        while (INSERT_MODIFIERS.has(lx.k(j))) j++;
        if (lx.k(j) === KW.INTO) j++;
        this.ref(lx, j, true);
        break;
      }
      case KW.UPDATE: {
        let j = i + 1;
        while (lx.k(j) === KW.LOW_PRIORITY || lx.k(j) === KW.IGNORE) j++;
        this.refList(lx, j);
        break;
      }
      case KW.CREATE: {
        let j = i + 1;
        if (lx.k(j) === KW.TEMPORARY) j++;
        if (lx.k(j) !== KW.TABLE) return 0;
        j++;
        if (lx.k(j) === KW.IF && lx.k(j + 1) === KW.NOT && lx.k(j + 2) === KW.EXISTS) j += 3;
        this.ref(lx, j, true);
        this.created = this.n;
        break;
      }
      default:
        return 0;
    }
    this.contexts(lx);
    return this.n;
  }

  /** The table name as written in the statement. */
  name(lx: Lexer, k: number): string {
    const text = lx.src.slice(lx.start[this.first[k]!], lx.end[this.last[k]!]);
    return this.first[k] === this.last[k] && this.database !== '' ? `${this.database}.${text}` : text;
  }

  /** FROM lists and JOINs anywhere a query is (top level, subqueries, CTE bodies). */
  private contexts(lx: Lexer): void {
    this.query[0] = 1;
    for (let i = 0; i < lx.n && this.n < MAX_TABLES_PER_STATEMENT; i++) {
      const kind = lx.kind[i];
      const d = lx.depth[i]!;
      if (kind === T.lparen) {
        if (d + 1 < MAX_LEVELS) {
          const next = lx.k(i + 1);
          this.query[d + 1] = QUERY_START.has(next) || lx.t(i + 1) === T.lparen ? 1 : 0;
        }
        continue;
      }
      if (kind !== T.word || d >= MAX_LEVELS || this.query[d] === 0) continue;
      const kw = lx.kw[i]!;
      if (kw === KW.FROM) this.refList(lx, i + 1);
      else if (JOINS.has(kw)) this.ref(lx, i + 1);
      else if (kw === KW.USING && this.deleting && d === 0 && lx.t(i + 1) !== T.lparen)
        this.refList(lx, i + 1);
    }
  }

  /** `WITH [RECURSIVE] name [(cols)] AS (…), …`: remember the names; return the main statement's index. */
  private withClause(lx: Lexer, i: number): number {
    let j = i;
    if (lx.k(j) === KW.RECURSIVE) j++;
    for (;;) {
      const kind = lx.t(j);
      if (kind !== T.word && kind !== T.ident) return j;
      if (this.ctes < MAX_CTES) {
        begin();
        feedToken(lx, j);
        this.cte[this.ctes++] = finish();
      }
      j++;
      if (lx.t(j) === T.lparen) j = after(lx, j);
      if (lx.k(j) === KW.AS) j++;
      if (lx.t(j) !== T.lparen) return j;
      j = after(lx, j);
      if (lx.t(j) !== T.comma) return j;
      j++;
    }
  }

  /** A comma-separated list of references with aliases and index hints; returns nothing useful. */
  private refList(lx: Lexer, i: number): void {
    let j = i;
    const d = lx.t(j) === 0 ? 0 : lx.depth[j]!;
    while (this.n < MAX_TABLES_PER_STATEMENT) {
      j = this.ref(lx, j);
      if (j < 0) return;
      // Skip the alias, AS, USE INDEX (…), PARTITION (…) up to a comma at this depth.
      for (let steps = 0; ; steps++) {
        if (steps > 16 || j >= lx.n) return;
        const kind = lx.kind[j]!;
        if (lx.depth[j] !== d) return;
        if (kind === T.comma) {
          j++;
          break;
        }
        if (kind === T.lparen) {
          j = after(lx, j);
          continue;
        }
        if (kind === T.word && REF_LIST_END.has(lx.kw[j]!)) return;
        if (kind !== T.word && kind !== T.ident) return;
        j++;
      }
    }
  }

  /** One table reference at token i; returns the token after it, or -1 when it is not a name. */
  private ref(lx: Lexer, i: number, target = false): number {
    const kind = lx.t(i);
    if (kind === T.lparen) return after(lx, i);
    if (kind !== T.word && kind !== T.ident) return -1;
    if (kind === T.word) {
      const kw = lx.kw[i]!;
      if (kw === KW.DUAL || kw === KW.LATERAL || REF_LIST_END.has(kw)) return -1;
    }
    // JSON_TABLE(…) in a FROM list is a table function; after INSERT INTO t, `(` is the column list.
    if (!target && lx.t(i + 1) === T.lparen) return after(lx, i + 1);
    const qualified = lx.t(i + 1) === T.dot && (lx.t(i + 2) === T.word || lx.t(i + 2) === T.ident);
    if (!qualified && this.ctes > 0) {
      begin();
      feedToken(lx, i);
      const h = finish();
      for (let c = 0; c < this.ctes; c++) if (this.cte[c] === h) return i + 1;
    }
    if (this.n >= MAX_TABLES_PER_STATEMENT) return -1;
    begin();
    if (qualified) feedToken(lx, i);
    else feedString(this.database);
    feed(46);
    feedToken(lx, qualified ? i + 2 : i);
    const k = this.n++;
    this.hash[k] = finish();
    this.first[k] = i;
    this.last[k] = qualified ? i + 2 : i;
    return qualified ? i + 3 : i + 1;
  }
}

/** The token after the group that opens at i. */
function after(lx: Lexer, i: number): number {
  const c = lx.close[i]!;
  return c < 0 || c >= lx.n ? lx.n : c + 1;
}
