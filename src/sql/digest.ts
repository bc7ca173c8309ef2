// The statement digest: MySQL 8's normalised statement text (performance_schema's DIGEST_TEXT)
// and its SHA-256, computed from the tokens of the detector's lexer (src/detect/lexer.ts) in one
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
import { Lexer, T } from '../detect/lexer.ts';
import { FUNCTION_KEYWORDS, KEYWORDS, MAX_KEYWORD_LENGTH } from './digest-keywords.ts';

export interface StatementDigest {
  /** MySQL's normalised digest text, e.g. "SELECT `c` FROM `t` WHERE `id` = ?". */
  text: string;
  /** 64 hex chars: SHA-256 of `text`. */
  hash: string;
  /** The statement was cut (capture limit or maxDigestLength): this is the digest of its prefix. */
  truncated: boolean;
}

export interface DigestOptions {
  /** Bytes of token storage, as MySQL's max_digest_length (default 1024). */
  maxDigestLength?: number;
  /** Statements whose digest is remembered (default 4096). */
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

// Two LRU maps (Map keeps insertion order: a hit is moved to the end, the first key is the oldest),
// so a truncated statement's key needs no prefix string built per lookup.
const memo = new Map<string, StatementDigest>();
const memoCut = new Map<string, StatementDigest>();
let memoChars = 0;

export function clearDigestMemo(): void {
  memo.clear();
  memoCut.clear();
  memoChars = 0;
}

/** The digest of a statement (memoized). `truncated`: the text is a prefix cut at a capture limit. */
export function digestOf(statement: string, truncated = false): StatementDigest {
  const map = truncated ? memoCut : memo;
  const hit = map.get(statement);
  if (hit !== undefined) {
    if (map.size > 1) {
      map.delete(statement);
      map.set(statement, hit);
    }
    return hit;
  }
  const d = compute(statement, truncated);
  if (memoEntries > 0 && statement.length <= MEMO_CHARS / 4) {
    map.set(statement, d);
    memoChars += statement.length;
    while (memo.size + memoCut.size > memoEntries || memoChars > MEMO_CHARS) evictOldest();
  }
  return d;
}

function evictOldest(): void {
  const from = memo.size >= memoCut.size ? memo : memoCut;
  const oldest = from.keys().next();
  if (oldest.done === true) return;
  from.delete(oldest.value);
  memoChars -= oldest.value.length;
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

/** The digest under construction: a stack of printed tokens the reductions rewrite. Reused. */
class Builder {
  cls: number[] = [];
  str: string[] = [];
  size: number[] = [];
  /** Stack index after the last name: reductions never look at it or before (MySQL's m_last_id_index). */
  floor = 0;
  bytes = 0;
  full = false;

  reset(): void {
    this.cls.length = 0;
    this.str.length = 0;
    this.size.length = 0;
    this.floor = 0;
    this.bytes = 0;
    this.full = false;
  }

  /** Class of the token `back` places from the top (1: the top), or -1 at or below the floor. */
  peek(back: number): number {
    const i = this.cls.length - back;
    return i >= this.floor ? this.cls[i]! : -1;
  }

  pop(count: number): void {
    for (let k = 0; k < count; k++) {
      this.bytes -= this.size.pop()!;
      this.cls.pop();
      this.str.pop();
    }
  }

  push(cls: number, str: string, size = 2): boolean {
    if (this.bytes + size > maxDigestLength) {
      this.full = true;
      return false;
    }
    this.cls.push(cls);
    this.str.push(str);
    this.size.push(size);
    this.bytes += size;
    if (cls === C.name) this.floor = this.cls.length;
    return true;
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
    const i = this.cls.length - back;
    return i >= this.floor ? this.str[i]! : '';
  }

  text(cut: boolean): string {
    let out = '';
    let space = false;
    for (let i = 0; i < this.cls.length; i++) {
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
        const start = lx.start[i]! + 1;
        let end = lx.end[i]!;
        if (end > start && src.charCodeAt(end - 1) === 96) end--;
        name(b, src.slice(start, end).replaceAll('``', '`'));
        break;
      }
      case T.string:
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
  const d: StatementDigest = {
    text,
    hash: createHash('sha256').update(text).digest('hex'),
    truncated: truncated || b.full,
  };
  b.reset();
  lexer.release();
  return Object.freeze(d);
}

function name(b: Builder, id: string): void {
  b.push(C.name, `\`${id}\``, 4 + Buffer.byteLength(id));
}

function word(lx: Lexer, i: number, b: Builder): void {
  const src = lx.src;
  const start = lx.start[i]!;
  const end = lx.end[i]!;
  const text = src.slice(start, end);
  // After `.` a word is always a name (MySQL's lexer state after a separator).
  if (i > 0 && lx.kind[i - 1] === T.dot) {
    name(b, text);
    return;
  }
  const c = src.charCodeAt(start);
  // 0b101: a bit literal (the lexer reads it as a word, as it reads `0bad`).
  if (c === 48 && /^0b[01]+$/.test(text)) {
    b.value(true);
    return;
  }
  // `_utf8mb4 'x'`: a character set introducer before a string.
  if (c === 95 && lx.t(i + 1) === T.string) {
    b.push(C.other, '(_charset)');
    return;
  }
  if (end - start <= MAX_KEYWORD_LENGTH) {
    const upper = text.toUpperCase();
    if (upper === 'NULL') {
      const prev = b.peekStr(1);
      if (prev === 'IS' || prev === 'NOT') b.push(C.other, upper);
      else b.value(false);
      return;
    }
    if (KEYWORDS.has(upper) || (FUNCTION_KEYWORDS.has(upper) && src.charCodeAt(end) === 40)) {
      b.push(upper === 'IN' ? C.in : C.other, upper);
      return;
    }
  }
  name(b, text);
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
