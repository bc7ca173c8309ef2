// The statement digest: MySQL 8's normalised statement text (performance_schema's DIGEST_TEXT)
// and its SHA-256, computed from the tokens of the detector's lexer (src/sql/lexer.ts) in one
// pass, then memoized by statement text, so a statement seen before costs a map lookup.
//
// MySQL's rules, as sql/sql_digest.cc applies them while the parser reads the tokens:
//   * comments and whitespace go; every token is followed by one space, except `@` (`@@x`);
//   * keywords are printed upper-case, any other name back-quoted as written (case kept); a name
//     after `.` is always a name (`information_schema`.`TABLES`);
//   * a literal (number, string, hex, bit, NULL as a value) and `?` become `?`, a unary sign
//     before a number after an operator, `(`, `,` or SELECT is folded into it (`a = -1` keeps the
//     sign: `=` does not start an expression to MySQL's digest);
//   * `?, ?` → `?, ...`; `(?)` and `(?, ...)` → `(?)` / `(...)`; a run of such rows →
//     `(?) /* , ... */` / `(...) /* , ... */` (multi-row VALUES); `IN (…)` of them → `IN (...)`;
//     a reduction never looks back past a name (`(a, 1)` stays as it is);
//   * a trailing `;` goes;
//   * at max_digest_length bytes of token storage (2 bytes a token, 4 + the name's UTF-8 bytes a
//     name, counted after the reductions) no further token is taken: the digest is the prefix's.
// Where moat differs: the hash is the SHA-256 of the digest text (MySQL hashes its token array, so
// DIGEST values differ from a server's while DIGEST_TEXT matches); `/*+ … */` hints are dropped
// (MySQL keeps them); several statements in one COM_QUERY make one digest; `NULL` as a value is
// `?` at once (MySQL's parser reduces it one token late: `(NULL)` prints `( ? )` there).

import { createHash } from 'node:crypto';
import type { StatementDigest } from '../model/events.ts';
import { FUNCTION_KEYWORDS, KEYWORDS, MAX_KEYWORD_LENGTH } from './digest-keywords.ts';
import { HASH_SEED, Lexer, T, tokenHash } from './lexer.ts';

export type { StatementDigest };

export interface DigestOptions {
  /** Bytes of token storage, as MySQL's max_digest_length (default 1024). */
  maxDigestLength?: number;
  /** Statements whose digest is remembered (default 4096; 0: none, every call digests). */
  memoEntries?: number;
}

export const DEFAULT_MAX_DIGEST_LENGTH = 1024;
const DEFAULT_MEMO_ENTRIES = 4096;
/** Statement characters the memo may hold as keys, whatever the entry count. */
const MEMO_CHARS = 16 * 1024 * 1024;

let maxDigestLength = DEFAULT_MAX_DIGEST_LENGTH;
let memoEntries = DEFAULT_MEMO_ENTRIES;

/** Set the digest length and memo size (config load and reload); clears the memo when they change. */
export function configureDigests(o: DigestOptions): void {
  const length = o.maxDigestLength ?? DEFAULT_MAX_DIGEST_LENGTH;
  const entries = o.memoEntries ?? DEFAULT_MEMO_ENTRIES;
  if (length === maxDigestLength && entries === memoEntries) return;
  maxDigestLength = length;
  memoEntries = entries;
  clearDigestMemo();
}

/**
 * A bounded cache of two generations: lookups try the young map, then the old one (a hit there
 * is copied to the young); when the young one is full it becomes the old one and the previous old
 * one is dropped whole. Nearly an LRU at no per-entry eviction cost: a statement seen again within
 * `entries` statements stays, one never seen again is gone after at most two turns.
 */
class Generations<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private youngChars = 0;
  private readonly half: number;
  private readonly halfChars: number;

  constructor(entries: number, chars: number) {
    this.half = Math.max(1, entries >> 1);
    this.halfChars = chars >> 1;
  }

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.half || this.youngChars + key.length > this.halfChars) {
      this.old = this.young;
      this.young = new Map();
      this.youngChars = 0;
    }
    this.young.set(key, value);
    this.youngChars += key.length;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
    this.youngChars = 0;
  }
}

// By statement text (a cut statement's in a map of its own, so its key needs no marker built per
// lookup), and by digest text: statements that differ only in their literals (most text-protocol
// traffic: `WHERE id=5001`, `WHERE id=5002`) share one digest object, hashed once.
let memo = new Generations<StatementDigest>(DEFAULT_MEMO_ENTRIES, MEMO_CHARS);
let memoCut = new Generations<StatementDigest>(DEFAULT_MEMO_ENTRIES >> 2, MEMO_CHARS >> 2);
let canonical = new Generations<StatementDigest>(DEFAULT_MEMO_ENTRIES, MEMO_CHARS >> 2);

export function clearDigestMemo(): void {
  memo = new Generations(memoEntries, MEMO_CHARS);
  memoCut = new Generations(memoEntries >> 2, MEMO_CHARS >> 2);
  canonical = new Generations(memoEntries, MEMO_CHARS >> 2);
}

/**
 * How the session's server reads `"…"`: a string (sql_mode without ANSI_QUOTES, the default), an
 * identifier (with it), or either (moat does not know the session's sql_mode right now).
 */
export type QuoteReading = 'string' | 'identifier' | 'either';

/** How one unmemoized digest reads its statement (the defaults are MySQL's, as digestOf reads). */
interface Reading {
  noBackslashEscapes: boolean;
  quotes: QuoteReading;
  /** No max_digest_length: the builder keeps every token (uncutDigest). */
  uncut: boolean;
}

const NO_BACKSLASH_ESCAPES: Reading = { noBackslashEscapes: true, quotes: 'string', uncut: false };

// compute()'s reading for the call under way: set and reset only by readAs().
let eitherQuotes = false;
let ambiguous = false;
let uncut = false;

/** One digest of `statement` as `r` reads it, not memoized; null when it is ambiguous (digestWithQuotes). */
function readAs(statement: string, truncated: boolean, r: Reading): StatementDigest | null {
  lexer.noBackslashEscapes = r.noBackslashEscapes;
  lexer.ansiQuotes = r.quotes === 'identifier';
  eitherQuotes = r.quotes === 'either';
  uncut = r.uncut;
  ambiguous = false;
  try {
    const d = compute(statement, truncated);
    return ambiguous ? null : d;
  } finally {
    lexer.noBackslashEscapes = false;
    lexer.ansiQuotes = false;
    eitherQuotes = false;
    uncut = false;
  }
}

/**
 * The digest of all of a statement, past max_digest_length, with `"…"` kept as written (either
 * reading of ANSI_QUOTES); null when that cannot stand for it (digestWithQuotes). For the SQL
 * firewall's key of a statement whose digest was cut: judged by its prefix (as MySQL EE does),
 * anything after a listed prefix would pass. Bounded by the captured statement's own length.
 */
export function uncutDigest(statement: string): StatementDigest | null {
  return readAs(statement, false, { noBackslashEscapes: false, quotes: 'either', uncut: true });
}

/**
 * The digest of a statement as the server reads its double quotes (not memoized: for the SQL
 * firewall, which must judge what the server will run). Under 'either', "…" is kept verbatim;
 * null when even that cannot stand for the statement: a backslash in a double-quoted token ends
 * the token in one reading and not in the other, so the two readings split the statement apart.
 */
export function digestWithQuotes(
  statement: string,
  truncated: boolean,
  noBackslashEscapes: boolean,
  quotes: QuoteReading,
): StatementDigest | null {
  if (quotes === 'string' || !statement.includes('"'))
    return digestOf(statement, truncated, noBackslashEscapes);
  return readAs(statement, truncated, { noBackslashEscapes, quotes, uncut: false });
}

/**
 * The digest of a statement (memoized). `truncated`: the text is a prefix cut at a capture limit.
 * `noBackslashEscapes`: the session's sql_mode has NO_BACKSLASH_ESCAPES, so the server reads
 * `'a\'` as a whole string: digested as the server reads it, not memoized (a rare mode).
 */
export function digestOf(statement: string, truncated = false, noBackslashEscapes = false): StatementDigest {
  // Only the 'either' reading is ever ambiguous.
  if (noBackslashEscapes) return readAs(statement, truncated, NO_BACKSLASH_ESCAPES)!;
  if (memoEntries === 0) return compute(statement, truncated);
  const map = truncated ? memoCut : memo;
  const hit = map.get(statement);
  if (hit !== undefined) return hit;
  const d = compute(statement, truncated);
  // Statements longer than this are digested every time rather than pin their text.
  if (statement.length <= MEMO_CHARS >> 6) map.set(statement, d);
  return d;
}

// Digest token classes: what the reductions compare.
const C = {
  other: 0,
  value: 1,
  valueList: 2,
  row1: 3,
  row1List: 4,
  rowN: 5,
  rowNList: 6,
  inExpr: 7,
  lparen: 8,
  rparen: 9,
  comma: 10,
  sign: 11,
  in: 12,
  name: 13,
  semicolon: 14,
  at: 15,
} as const;

const PRINTED: Record<number, string> = {
  [C.value]: '?',
  [C.valueList]: '?, ...',
  [C.row1]: '(?)',
  [C.row1List]: '(?) /* , ... */',
  [C.rowN]: '(...)',
  [C.rowNList]: '(...) /* , ... */',
  [C.inExpr]: 'IN (...)',
};

/** Tokens after which `-`/`+` before a number is a sign (MySQL's m_start_expr list). */
const START_EXPR = new Set([
  '(',
  ',',
  'EVERY',
  'AT',
  'STARTS',
  'ENDS',
  'DEFAULT',
  'RETURN',
  'IF',
  'ELSEIF',
  'CASE',
  'WHEN',
  'WHILE',
  'UNTIL',
  'SELECT',
  'OR',
  '||',
  'XOR',
  'AND',
  '&&',
  'NOT',
  'BETWEEN',
  'LIKE',
  'REGEXP',
  '|',
  '&',
  '<<',
  '>>',
  '+',
  '-',
  'INTERVAL',
  '*',
  '/',
  '%',
  'DIV',
  'MOD',
  '^',
]);

/** Beyond this many tokens the builder's arrays are dropped after use (one huge statement). */
const KEEP_TOKENS = 4096;

/**
 * The digest under construction: a stack of printed tokens the reductions rewrite. Reused from
 * statement to statement: `top` moves, the arrays are overwritten, never shrunk per statement.
 */
class Builder {
  cls = new Uint8Array(256);
  size = new Int32Array(256);
  str: string[] = [];
  top = 0;
  /** Stack index after the last name: reductions never look at it or before (MySQL's m_last_id_index). */
  floor = 0;
  bytes = 0;
  full = false;

  reset(): void {
    if (this.top > KEEP_TOKENS) {
      this.cls = new Uint8Array(256);
      this.size = new Int32Array(256);
      this.str = [];
    }
    this.top = 0;
    this.floor = 0;
    this.bytes = 0;
    this.full = false;
  }

  /** Class of the token `back` places from the top (1: the top), or -1 at or below the floor. */
  peek(back: number): number {
    const i = this.top - back;
    return i >= this.floor ? this.cls[i]! : -1;
  }

  pop(count: number): void {
    for (let k = 0; k < count; k++) this.bytes -= this.size[--this.top]!;
  }

  push(cls: number, str: string, size = 2): boolean {
    if (this.bytes + size > maxDigestLength && !uncut) {
      this.full = true;
      return false;
    }
    const i = this.top++;
    if (i === this.cls.length) this.grow();
    this.cls[i] = cls;
    this.size[i] = size;
    this.str[i] = str;
    this.bytes += size;
    if (cls === C.name) this.floor = this.top;
    return true;
  }

  private grow(): void {
    const cls = new Uint8Array(this.cls.length * 2);
    cls.set(this.cls);
    this.cls = cls;
    const size = new Int32Array(this.size.length * 2);
    size.set(this.size);
    this.size = size;
  }

  value(numeric: boolean): void {
    if (numeric) {
      while (this.peek(1) === C.sign && START_EXPR.has(this.peekStr(2))) this.pop(1);
    }
    const prev = this.peek(2);
    if (this.peek(1) === C.comma && (prev === C.value || prev === C.valueList)) {
      this.pop(2);
      this.push(C.valueList, '');
    } else {
      this.push(C.value, '');
    }
  }

  rparen(): void {
    let cls: number = C.rparen;
    const top = this.peek(1);
    if ((top === C.value || top === C.valueList) && this.peek(2) === C.lparen) {
      this.pop(2);
      const single = top === C.value;
      cls = single ? C.row1 : C.rowN;
      const prev = this.peek(2);
      if (
        this.peek(1) === C.comma &&
        (single ? prev === C.row1 || prev === C.row1List : prev === C.rowN || prev === C.rowNList)
      ) {
        this.pop(2);
        cls = single ? C.row1List : C.rowNList;
      } else if (this.peek(1) === C.in) {
        this.pop(1);
        cls = C.inExpr;
      }
    }
    this.push(cls, ')');
  }

  /** The printed form of the token `back` from the top, '' at or below the floor. */
  peekStr(back: number): string {
    const i = this.top - back;
    return i >= this.floor ? this.str[i]! : '';
  }

  text(cut: boolean): string {
    let out = '';
    let space = false;
    for (let i = 0; i < this.top; i++) {
      const cls = this.cls[i]!;
      if (space) out += ' ';
      out += PRINTED[cls] ?? this.str[i]!;
      space = cls !== C.at;
    }
    if (cut || this.full) out += space ? ' ...' : '...';
    return out;
  }
}

const lexer = new Lexer();
const builder = new Builder();

function compute(statement: string, truncated: boolean): StatementDigest {
  const lx = lexer.lex(statement);
  const b = builder;
  b.reset();
  const src = lx.src;
  let n = lx.n;
  // A cut statement's last token may be cut too (`SELECT col` read as `co`): leave it out, so
  // statements cut at different points of one token share the prefix digest.
  if (truncated && n > 0 && lx.end[n - 1] === src.length) n--;
  for (let i = 0; i < n && !b.full; i++) {
    const kind = lx.kind[i]!;
    switch (kind) {
      case T.word:
        word(lx, i, b);
        break;
      case T.ident: {
        // `…`, or "…" under ANSI_QUOTES: the same name either way.
        const q = src.charCodeAt(lx.start[i]!);
        const start = lx.start[i]! + 1;
        let end = lx.end[i]!;
        if (end > start && src.charCodeAt(end - 1) === q) end--;
        const inner = src.slice(start, end);
        name(b, q === 96 ? inner.replaceAll('``', '`') : inner.replaceAll('""', '"'));
        break;
      }
      case T.string:
        if (eitherQuotes && src.charCodeAt(lx.start[i]!) === 34) {
          // The mode is not known: "…" is kept as written, a value in one reading and a name in
          // the other, so that one digest stands for one statement under both.
          if (!lexer.noBackslashEscapes && lx.text(i).includes('\\')) ambiguous = true;
          b.push(C.other, lx.text(i));
          break;
        }
        // `_utf8mb4'x'`: the introducer was pushed as `(_charset)`; the string is a value.
        b.value(false);
        break;
      case T.number:
      case T.hex:
        b.value(true);
        break;
      case T.placeholder:
        b.value(false);
        break;
      case T.variable:
        variable(lx, i, b);
        break;
      case T.op: {
        const t = lx.text(i);
        const printed = t === '<>' ? '!=' : t;
        b.push(t === '-' || t === '+' ? C.sign : C.other, printed);
        break;
      }
      case T.lparen:
        b.push(C.lparen, '(');
        break;
      case T.rparen:
        b.rparen();
        break;
      case T.comma:
        b.push(C.comma, ',');
        break;
      case T.semicolon:
        b.push(C.semicolon, ';');
        break;
      case T.dot:
        b.push(C.other, '.');
        break;
    }
  }
  if (!b.full && b.peek(1) === C.semicolon) b.pop(1);
  const text = b.text(truncated);
  const cut = truncated || b.full;
  b.reset();
  lexer.release();
  // A cut digest's text ends in `...`, which no whole statement's does: the text alone is the key.
  const known = memoEntries === 0 ? undefined : canonical.get(text);
  if (known !== undefined && known.truncated === cut) return known;
  const d: StatementDigest = Object.freeze({
    text,
    hash: createHash('sha256').update(text).digest('hex'),
    truncated: cut,
  });
  if (memoEntries > 0) canonical.set(text, d);
  return d;
}

function name(b: Builder, id: string): void {
  b.push(C.name, `\`${id}\``, 4 + utf8Length(id));
}

function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}

/**
 * Keyword lookup without upper-casing each word: the lexer's ASCII-folded FNV-1a of the token
 * (tokenHash) → the keyword's upper-case text, confirmed letter by letter. 1 marks a function
 * keyword (a keyword only before `(`), 2 both lists.
 */
const KEYWORD_BY_HASH = new Map<number, { word: string; kind: number }>();
for (const [set, kind] of [
  [KEYWORDS, 0],
  [FUNCTION_KEYWORDS, 1],
] as const) {
  for (const w of set) {
    const h = foldedHash(w);
    const had = KEYWORD_BY_HASH.get(h);
    if (had !== undefined && had.word !== w)
      throw new Error(`digest keyword hash collision: ${w} ${had.word}`);
    KEYWORD_BY_HASH.set(h, { word: w, kind: had === undefined ? kind : 2 });
  }
}

function foldedHash(w: string): number {
  let h = HASH_SEED;
  for (let i = 0; i < w.length; i++) {
    let c = w.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h | 0;
}

/** The keyword token i spells (upper-case), or null; function keywords only before `(`. */
function keywordOf(lx: Lexer, i: number): string | null {
  const start = lx.start[i]!;
  const end = lx.end[i]!;
  if (end - start > MAX_KEYWORD_LENGTH) return null;
  const k = KEYWORD_BY_HASH.get(tokenHash(lx, i, HASH_SEED));
  if (k === undefined || k.word.length !== end - start) return null;
  const src = lx.src;
  for (let p = 0; p < k.word.length; p++) {
    let c = src.charCodeAt(start + p);
    if (c >= 97 && c <= 122) c -= 32;
    if (c !== k.word.charCodeAt(p)) return null;
  }
  if (k.kind === 1 && src.charCodeAt(end) !== 40) return null;
  return k.word;
}

function word(lx: Lexer, i: number, b: Builder): void {
  const src = lx.src;
  const start = lx.start[i]!;
  // After `.` a word is always a name (MySQL's lexer state after a separator).
  if (i > 0 && lx.kind[i - 1] === T.dot) {
    name(b, lx.text(i));
    return;
  }
  const c = src.charCodeAt(start);
  // 0b101: a bit literal (the lexer reads it as a word, as it reads `0bad`).
  if (c === 48 && /^0b[01]+$/.test(lx.text(i))) {
    b.value(true);
    return;
  }
  // `_utf8mb4 'x'`: a character set introducer before a string.
  if (c === 95 && lx.t(i + 1) === T.string) {
    b.push(C.other, '(_charset)');
    return;
  }
  const kw = keywordOf(lx, i);
  if (kw === null) name(b, lx.text(i));
  else if (kw === 'NULL') {
    const prev = b.peekStr(1);
    if (prev === 'IS' || prev === 'NOT') b.push(C.other, kw);
    else b.value(false);
  } else b.push(kw === 'IN' ? C.in : C.other, kw);
}

/** `@x`, `@@session.x`, `@'x'`: MySQL's lexer reads `@` tokens, then the name parts. */
function variable(lx: Lexer, i: number, b: Builder): void {
  const t = lx.text(i);
  let p = 1;
  b.push(C.at, '@');
  if (t.charCodeAt(1) === 64) {
    b.push(C.at, '@');
    p = 2;
  }
  const q = t.charCodeAt(p);
  if (q === 39 || q === 34 || q === 96) {
    // 'user'@'host': the host part is a value; @'var' / @`var` a name.
    if (q !== 96 && i > 0 && lx.kind[i - 1] === T.string && lx.end[i - 1] === lx.start[i]) {
      b.value(false);
      return;
    }
    const end = t.length > p + 1 && t.charCodeAt(t.length - 1) === q ? t.length - 1 : t.length;
    name(b, t.slice(p + 1, end));
    return;
  }
  const parts = t.slice(p).split('.');
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    if (k > 0) b.push(C.other, '.');
    const upper = part.toUpperCase();
    if (k === 0 && parts.length > 1 && KEYWORDS.has(upper)) b.push(C.other, upper);
    else if (part !== '') name(b, part);
  }
}
