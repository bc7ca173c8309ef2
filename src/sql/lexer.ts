// A MySQL lexer for the detector: one pass over the statement text with charCodeAt, tokens kept
// as parallel typed arrays (kind, start, end, keyword id, paren depth) in buffers reused from one
// statement to the next, so an ordinary statement allocates nothing. String literals and comments
// are tokens of their own or flags, never scanned for keywords: `SELECT 'union select'` has no
// UNION token. Everything is linear in the text; no regular expressions.
//
// MySQL facts handled here:
//   `#` and `-- ` start a comment to the end of the line; `--` must be followed by whitespace or a
//   control character (or the end), else it is two minus signs (`1--1` is 2).
//   `/*! … */`, `/*!50001 … */` and MariaDB's `/*M!100100 … */` are executable: their content is
//   code, the server runs it; `/*+ … */` hints and other block comments are not.
//   '…' and "…" are strings (ANSI_QUOTES is not assumed), with backslash escapes and doubled
//   quotes; `…` is an identifier with doubled backticks; X'…', 0x…, B'…', 0b… are hex/bit literals.
//   `1abc` is an identifier, not a number followed by a word.

/** Token kinds. */
export const T = {
  word: 1,
  ident: 2,
  string: 3,
  number: 4,
  hex: 5,
  variable: 6,
  placeholder: 7,
  op: 8,
  lparen: 9,
  rparen: 10,
  comma: 11,
  semicolon: 12,
  dot: 13,
} as const;

/** Operator ids, stored in the keyword slot of an `op` token. */
export const OP = {
  other: 0,
  eq: 1,
  nullSafeEq: 2,
  lt: 3,
  gt: 4,
  le: 5,
  ge: 6,
  ne: 7,
  oror: 8,
  andand: 9,
  not: 10,
  tilde: 11,
  minus: 12,
  star: 13,
} as const;

/**
 * Keywords and function names the detector looks at. Ids are what the matchers compare; a word
 * not in this table has id 0. (Not MySQL's reserved-word list: only what some rule needs.)
 */
export const KW = {
  ALL: 1,
  ALTER: 2,
  AND: 3,
  AS: 4,
  ASCII: 5,
  BENCHMARK: 6,
  BETWEEN: 7,
  BY: 8,
  CALL: 9,
  CHAR: 10,
  CONCAT: 11,
  CREATE: 12,
  CROSS: 13,
  DECLARE: 14,
  DELAY: 15,
  DELAYED: 16,
  DELETE: 17,
  DISTINCT: 18,
  DO: 19,
  DROP: 20,
  DUAL: 21,
  DUMPFILE: 22,
  EVENT: 23,
  EXEC: 24,
  EXECUTE: 25,
  EXISTS: 26,
  EXP: 27,
  EXTRACTVALUE: 28,
  FALSE: 29,
  FLOOR: 30,
  FOR: 31,
  FORCE: 32,
  FROM: 33,
  FROM_BASE64: 34,
  FUNCTION: 35,
  GLOBAL: 36,
  GRANT: 37,
  GROUP: 38,
  HAVING: 39,
  HIGH_PRIORITY: 40,
  IGNORE: 41,
  INFORMATION_SCHEMA: 42,
  INNER: 43,
  INSERT: 44,
  INSTALL: 45,
  INTO: 46,
  JOIN: 47,
  LATERAL: 48,
  LEFT: 49,
  LIKE: 50,
  LIMIT: 51,
  LOAD: 52,
  LOAD_FILE: 53,
  LOCK: 54,
  LOW_PRIORITY: 55,
  MID: 56,
  MYSQL: 57,
  NATURAL: 58,
  NOT: 59,
  NULL: 60,
  OFFSET: 61,
  ON: 62,
  OR: 63,
  ORD: 64,
  ORDER: 65,
  OUTER: 66,
  OUTFILE: 67,
  PARTITION: 68,
  PASSWORD: 69,
  PERSIST: 70,
  PG_SLEEP: 71,
  PROCEDURE: 72,
  QUICK: 73,
  RAND: 74,
  RECURSIVE: 75,
  RENAME: 76,
  REPLACE: 77,
  RETURNING: 78,
  REVOKE: 79,
  RIGHT: 80,
  SELECT: 81,
  SET: 82,
  SHUTDOWN: 83,
  SLEEP: 84,
  STRAIGHT_JOIN: 85,
  SUBSTR: 86,
  SUBSTRING: 87,
  TABLE: 88,
  TEMPORARY: 89,
  TIME: 90,
  TRIGGER: 91,
  TRUE: 92,
  TRUNCATE: 93,
  UNHEX: 94,
  UNINSTALL: 95,
  UNION: 96,
  UPDATE: 97,
  UPDATEXML: 98,
  USE: 99,
  USING: 100,
  VALUES: 101,
  WAITFOR: 102,
  WHERE: 103,
  WINDOW: 104,
  WITH: 105,
  XOR: 106,
  BEGIN: 107,
  IF: 108,
  KEY: 109,
  INDEX: 110,
  DUPLICATE: 111,
  ASC: 112,
  DESC: 113,
  GTID_SUBSET: 114,
  NAME_CONST: 115,
  LINES: 116,
  FIELDS: 117,
  VALUE: 118,
} as const;

export type Keyword = keyof typeof KW;
/** Longer words are never looked up. */
const MAX_KEYWORD_LENGTH = Math.max(...Object.keys(KW).map((k) => k.length));
const KW_COUNT = Math.max(...Object.values(KW)) + 1;

/** Keywords whose presence makes the signature matcher run at all (the cheap prefilter). */
const TRIGGERS: readonly Keyword[] = [
  'UNION',
  'OR',
  'XOR',
  'AND',
  'ORDER',
  'GROUP',
  'SLEEP',
  'BENCHMARK',
  'PG_SLEEP',
  'WAITFOR',
  'INFORMATION_SCHEMA',
  'MYSQL',
  'LOAD_FILE',
  'OUTFILE',
  'DUMPFILE',
  'CHAR',
  'UNHEX',
  'FROM_BASE64',
  'ORD',
  'ASCII',
  'EXTRACTVALUE',
  'UPDATEXML',
  'RAND',
  'EXP',
  'GTID_SUBSET',
  'NAME_CONST',
];

/** Words inside an executable comment that make it look like filter evasion, not a dump. */
const VERSIONED_SUSPECT: readonly Keyword[] = ['UNION', 'OR', 'AND', 'SLEEP', 'BENCHMARK', 'FROM'];

/** Lexer flags. */
export const F = {
  /** A signature may be present: a trigger keyword, a comment, `;` before more code, `||`, a hex literal. */
  trigger: 1,
  /** A `#` or `-- ` comment runs to the end of the text, after code. */
  trailingLineComment: 2,
  /** That trailing comment holds a quote: the rest of a statement an injected comment cut off. */
  trailingCommentQuote: 4,
  unterminatedComment: 8,
  unterminatedString: 16,
  /** A block comment glued to code on both sides (`UNION/**\/SELECT`). */
  inlineComment: 32,
  /** An executable comment holding UNION, OR, SLEEP … */
  versionedSuspect: 64,
  /** A semicolon followed by more code. */
  stacked: 128,
  hexLiteral: 256,
} as const;

export const HASH_SEED = 0x811c9dc5 | 0;

// FNV-1a over ASCII-lowercased char codes; keywords are ASCII, so non-ASCII words never match.
function foldedHash(s: string, from: number, to: number): number {
  let h = HASH_SEED;
  for (let i = from; i < to; i++) {
    let c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h | 0;
}

// An open-addressing table of keyword hashes: a Map keyed by int32 would box half of them
// (Smis are 31 bits with pointer compression) and costs more than the whole word scan.
const TABLE_BITS = 10;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
const TABLE_HASH = new Int32Array(1 << TABLE_BITS);
const TABLE_ID = new Uint16Array(1 << TABLE_BITS);
const QUOTES: Record<number, string> = { 39: "'", 34: '"', 96: '`' };
const KW_TEXT: string[] = new Array<string>(KW_COUNT).fill('');
for (const [name, id] of Object.entries(KW)) {
  const h = foldedHash(name, 0, name.length);
  let slot = h & TABLE_MASK;
  while (TABLE_ID[slot] !== 0) {
    if (TABLE_HASH[slot] === h) throw new Error(`keyword hash collision: ${name}`);
    slot = (slot + 1) & TABLE_MASK;
  }
  TABLE_HASH[slot] = h;
  TABLE_ID[slot] = id;
  KW_TEXT[id] = name.toLowerCase();
}
const IS_TRIGGER = new Uint8Array(KW_COUNT);
for (const k of TRIGGERS) IS_TRIGGER[KW[k]] = 1;
const IS_VERSIONED_SUSPECT = new Uint8Array(KW_COUNT);
for (const k of VERSIONED_SUSPECT) IS_VERSIONED_SUSPECT[KW[k]] = 1;

function isIdentChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c >= 128
  );
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** Whitespace or a control character: what MySQL wants after `--`. */
function isSpaceOrControl(c: number): boolean {
  return c <= 32 || c === 127;
}

/** Buffers beyond this many tokens are dropped after use, so one huge statement does not pin memory. */
const KEEP_CAPACITY = 16_384;
const MAX_DEPTH = 65_535;

/** The lexed form of one statement. Reused: valid until the next `lex` call. */
export class Lexer {
  src = '';
  /** Code tokens (comments are not tokens). */
  n = 0;
  flags = 0;
  /** Where the trailing line comment starts, or -1. */
  commentAt = -1;
  kind: Uint8Array = new Uint8Array(256);
  start: Int32Array = new Int32Array(256);
  end: Int32Array = new Int32Array(256);
  /** Keyword id for words, operator id for `op` tokens, else 0. */
  kw: Uint16Array = new Uint16Array(256);
  /** Paren depth the token sits at; a paren has the depth outside it. */
  depth: Uint16Array = new Uint16Array(256);
  /** For a `(` token, the index of its `)` (n when it has none). */
  close: Int32Array = new Int32Array(256);
  private opens: Int32Array = new Int32Array(64);
  /** The session's sql_mode has NO_BACKSLASH_ESCAPES (the server says so in every OK's status):
   * `'a\'` is then a whole string, and what follows it is code. */
  noBackslashEscapes = false;
  /** The session's sql_mode has ANSI_QUOTES: `"…"` is an identifier (as `…` is), not a string. */
  ansiQuotes = false;

  lex(src: string): this {
    this.src = src;
    this.n = 0;
    this.flags = 0;
    this.commentAt = -1;
    const len = src.length;
    let depth = 0;
    let versioned = 0;
    let p = 0;
    // The last line comment, and how many tokens came before it: if none came after, it is trailing.
    let lastComment = -1;
    let lastCommentEnd = -1;
    let tokensBeforeComment = -1;
    while (p < len) {
      const c = src.charCodeAt(p);
      if (c <= 32) {
        p++;
        continue;
      }
      const next = p + 1 < len ? src.charCodeAt(p + 1) : -1;
      if (
        c === 35 /* # */ ||
        (c === 45 && next === 45 && (p + 2 >= len || isSpaceOrControl(src.charCodeAt(p + 2))))
      ) {
        const nl = src.indexOf('\n', p);
        const stop = nl < 0 ? len : nl;
        lastComment = p;
        lastCommentEnd = stop;
        tokensBeforeComment = this.n;
        p = stop;
        continue;
      }
      if (c === 47 /* / */ && next === 42 /* * */) {
        const third = p + 2 < len ? src.charCodeAt(p + 2) : -1;
        const mariadb = third === 77 /* M */ && p + 3 < len && src.charCodeAt(p + 3) === 33;
        if (third === 33 /* ! */ || mariadb) {
          p += mariadb ? 4 : 3;
          while (p < len && src.charCodeAt(p) >= 48 && src.charCodeAt(p) <= 57) p++;
          versioned++;
          continue;
        }
        const close = src.indexOf('*/', p + 2);
        if (close < 0) {
          if (this.n > 0) this.flags |= F.unterminatedComment | F.trigger;
          p = len;
          continue;
        }
        if (p > 0 && close + 2 < len && src.charCodeAt(p - 1) > 32 && src.charCodeAt(close + 2) > 32) {
          this.flags |= F.inlineComment | F.trigger;
        }
        p = close + 2;
        continue;
      }
      if (c === 42 && next === 47 && versioned > 0) {
        versioned--;
        p += 2;
        continue;
      }
      const at = p;
      if (c === 39 || (c === 34 && !this.ansiQuotes)) {
        p = this.quoted(src, p, c);
        this.push(T.string, at, p, 0, depth);
        continue;
      }
      if (c === 96 /* ` */ || c === 34) {
        p = this.quoted(src, p, c);
        // The keyword slot of an identifier holds the id of its content: `information_schema`.
        const inner = p > at + 1 && src.charCodeAt(p - 1) === c ? p - 1 : p;
        this.push(T.ident, at, p, this.keyword(src, at + 1, inner), depth);
        continue;
      }
      if (c >= 48 && c <= 57) {
        p = this.numberOrWord(src, p, depth);
        continue;
      }
      if (isIdentChar(c)) {
        // X'4142', B'01', N'text': a prefix glued to a quote.
        if (next === 39 && (c === 88 || c === 120 || c === 66 || c === 98 || c === 78 || c === 110)) {
          p = this.quoted(src, p + 1, 39);
          const hex = c === 88 || c === 120;
          this.push(hex ? T.hex : T.string, at, p, 0, depth);
          if (hex) this.flags |= F.hexLiteral | F.trigger;
          continue;
        }
        // Hash while scanning; only a word of a keyword's length is looked up.
        let h = Math.imul(HASH_SEED ^ (c >= 65 && c <= 90 ? c + 32 : c), 0x01000193);
        p++;
        while (p < len) {
          const d = src.charCodeAt(p);
          if (!isIdentChar(d)) break;
          h = Math.imul(h ^ (d >= 65 && d <= 90 ? d + 32 : d), 0x01000193);
          p++;
        }
        const id = p - at <= MAX_KEYWORD_LENGTH ? this.lookup(h | 0, src, at, p) : 0;
        if (IS_TRIGGER[id] === 1) this.flags |= F.trigger;
        if (versioned > 0 && IS_VERSIONED_SUSPECT[id] === 1) this.flags |= F.versionedSuspect | F.trigger;
        this.push(T.word, at, p, id, depth);
        continue;
      }
      p++;
      switch (c) {
        case 40 /* ( */:
          this.push(T.lparen, at, p, 0, depth);
          this.close[this.n - 1] = -1;
          if (depth < MAX_DEPTH) {
            if (depth === this.opens.length) this.growOpens();
            this.opens[depth] = this.n - 1;
            depth++;
          }
          break;
        case 41 /* ) */:
          if (depth > 0) {
            depth--;
            this.close[this.opens[depth]!] = this.n;
          }
          this.push(T.rparen, at, p, 0, depth);
          break;
        case 44:
          this.push(T.comma, at, p, 0, depth);
          break;
        case 59:
          this.push(T.semicolon, at, p, 0, depth);
          break;
        case 46 /* . */:
          if (next >= 48 && next <= 57 && !this.afterName()) {
            p = this.numberOrWord(src, at, depth);
          } else {
            this.push(T.dot, at, p, 0, depth);
          }
          break;
        case 63 /* ? */:
          this.push(T.placeholder, at, p, 0, depth);
          break;
        case 64 /* @ */:
          {
            if (p < len && src.charCodeAt(p) === 64) p++;
            const q = p < len ? src.charCodeAt(p) : -1;
            if (q === 39 || q === 34 || q === 96) p = this.quoted(src, p, q);
            else while (p < len && (isIdentChar(src.charCodeAt(p)) || src.charCodeAt(p) === 46)) p++;
            this.push(T.variable, at, p, 0, depth);
            break;
          }
        default:
          p = this.operator(src, at, c, next, depth);
      }
    }
    while (depth > 0) this.close[this.opens[--depth]!] = this.n;
    if (lastComment >= 0 && tokensBeforeComment === this.n && this.n > 0) {
      this.trailingComment(lastComment, lastCommentEnd);
    }
    this.markStacked();
    return this;
  }

  /** Drop buffers a huge statement grew, once its findings are made. */
  release(): void {
    this.src = '';
    if (this.kind.length > KEEP_CAPACITY) this.allocate(256);
    if (this.opens.length > KEEP_CAPACITY) this.opens = new Int32Array(64);
  }

  /** The keyword id of token i (0 for anything but a known word). */
  k(i: number): number {
    return i >= 0 && i < this.n && this.kind[i] === T.word ? this.kw[i]! : 0;
  }

  /** The keyword id of a name: a word, or a backquoted identifier's content. */
  name(i: number): number {
    if (i < 0 || i >= this.n) return 0;
    const kind = this.kind[i];
    return kind === T.word || kind === T.ident ? this.kw[i]! : 0;
  }

  /** Token i's kind, or 0 past the end. */
  t(i: number): number {
    return i >= 0 && i < this.n ? this.kind[i]! : 0;
  }

  text(i: number): string {
    return this.src.slice(this.start[i], this.end[i]);
  }

  private keyword(src: string, from: number, to: number): number {
    return to - from <= MAX_KEYWORD_LENGTH ? this.lookup(foldedHash(src, from, to), src, from, to) : 0;
  }

  private lookup(hash: number, src: string, from: number, to: number): number {
    let slot = hash & TABLE_MASK;
    let id = TABLE_ID[slot]!;
    while (id !== 0 && TABLE_HASH[slot] !== hash) {
      slot = (slot + 1) & TABLE_MASK;
      id = TABLE_ID[slot]!;
    }
    if (id === 0) return 0;
    const name = KW_TEXT[id]!;
    if (name.length !== to - from) return 0;
    for (let i = 0; i < name.length; i++) {
      let c = src.charCodeAt(from + i);
      if (c >= 65 && c <= 90) c += 32;
      if (c !== name.charCodeAt(i)) return 0;
    }
    return id;
  }

  /** Past the closing quote (doubled quotes and, except in identifiers, backslashes escape). */
  private quoted(src: string, p: number, quote: number): number {
    const len = src.length;
    // Identifiers (`…`, and "…" under ANSI_QUOTES) know no backslash escapes.
    const backslash = quote !== 96 && !(quote === 34 && this.ansiQuotes) && !this.noBackslashEscapes;
    p++;
    while (p < len) {
      const q = src.indexOf(QUOTES[quote]!, p);
      if (q < 0) break;
      // An odd run of backslashes before the quote escapes it.
      let b = q - 1;
      while (backslash && b >= p && src.charCodeAt(b) === 92) b--;
      if (((q - 1 - b) & 1) === 1) {
        p = q + 1;
        continue;
      }
      if (q + 1 < len && src.charCodeAt(q + 1) === quote) {
        p = q + 2;
        continue;
      }
      return q + 1;
    }
    this.flags |= F.unterminatedString | F.trigger;
    return len;
  }

  private numberOrWord(src: string, p: number, depth: number): number {
    const len = src.length;
    const at = p;
    if (src.charCodeAt(p) === 48 && p + 1 < len && (src.charCodeAt(p + 1) | 32) === 120) {
      let q = p + 2;
      while (q < len && isHexDigit(src.charCodeAt(q))) q++;
      if (q > p + 2 && (q >= len || !isIdentChar(src.charCodeAt(q)))) {
        this.push(T.hex, at, q, 0, depth);
        this.flags |= F.hexLiteral | F.trigger;
        return q;
      }
    }
    while (p < len && src.charCodeAt(p) >= 48 && src.charCodeAt(p) <= 57) p++;
    if (p < len && src.charCodeAt(p) === 46) {
      p++;
      while (p < len && src.charCodeAt(p) >= 48 && src.charCodeAt(p) <= 57) p++;
    }
    if (p < len && (src.charCodeAt(p) | 32) === 101) {
      let q = p + 1;
      if (q < len && (src.charCodeAt(q) === 43 || src.charCodeAt(q) === 45)) q++;
      if (q < len && src.charCodeAt(q) >= 48 && src.charCodeAt(q) <= 57) {
        p = q;
        while (p < len && src.charCodeAt(p) >= 48 && src.charCodeAt(p) <= 57) p++;
      }
    }
    if (p < len && isIdentChar(src.charCodeAt(p)) && src.charCodeAt(at) !== 46) {
      // `1abc`, `0xZZ`: MySQL reads an identifier.
      while (p < len && isIdentChar(src.charCodeAt(p))) p++;
      this.push(T.word, at, p, 0, depth);
      return p;
    }
    this.push(T.number, at, p, 0, depth);
    return p;
  }

  private operator(src: string, at: number, c: number, next: number, depth: number): number {
    let p = at + 1;
    let id: number = OP.other;
    switch (c) {
      case 61:
        id = OP.eq;
        break;
      case 60 /* < */:
        if (next === 61) {
          p++;
          id = OP.le;
          if (p < src.length && src.charCodeAt(p) === 62) {
            p++;
            id = OP.nullSafeEq;
          }
        } else if (next === 62) {
          p++;
          id = OP.ne;
        } else if (next === 60) {
          p++;
        } else {
          id = OP.lt;
        }
        break;
      case 62 /* > */:
        if (next === 61) {
          p++;
          id = OP.ge;
        } else if (next === 62) {
          p++;
        } else {
          id = OP.gt;
        }
        break;
      case 33 /* ! */:
        if (next === 61) {
          p++;
          id = OP.ne;
        } else {
          id = OP.not;
        }
        break;
      case 124 /* | */:
        if (next === 124) {
          p++;
          id = OP.oror;
          this.flags |= F.trigger;
        }
        break;
      case 38 /* & */:
        if (next === 38) {
          p++;
          id = OP.andand;
          this.flags |= F.trigger;
        }
        break;
      case 126:
        id = OP.tilde;
        break;
      case 45:
        if (next === 62) {
          p++;
          if (p < src.length && src.charCodeAt(p) === 62) p++;
        } else {
          id = OP.minus;
        }
        break;
      case 42:
        id = OP.star;
        break;
      case 58 /* : */:
        if (next === 61) p++;
        break;
    }
    this.push(T.op, at, p, id, depth);
    return p;
  }

  private afterName(): boolean {
    const last = this.n - 1;
    if (last < 0) return false;
    const k = this.kind[last];
    return k === T.word || k === T.ident || k === T.rparen;
  }

  private trailingComment(p: number, end: number): void {
    this.flags |= F.trailingLineComment | F.trigger;
    this.commentAt = p;
    const src = this.src;
    for (let i = p + 1; i < end; i++) {
      const c = src.charCodeAt(i);
      if (c === 39 || c === 34) {
        this.flags |= F.trailingCommentQuote;
        break;
      }
    }
  }

  private markStacked(): void {
    for (let i = 0; i < this.n - 1; i++) {
      if (this.kind[i] === T.semicolon && this.depth[i] === 0) {
        this.flags |= F.stacked | F.trigger;
        return;
      }
    }
  }

  private push(kind: number, start: number, end: number, kw: number, depth: number): void {
    if (this.n === this.kind.length) this.grow();
    const i = this.n++;
    this.kind[i] = kind;
    this.start[i] = start;
    this.end[i] = end;
    this.kw[i] = kw;
    this.depth[i] = depth;
  }

  private grow(): void {
    const old = {
      kind: this.kind,
      start: this.start,
      end: this.end,
      kw: this.kw,
      depth: this.depth,
      close: this.close,
    };
    this.allocate(this.kind.length * 2);
    this.kind.set(old.kind);
    this.start.set(old.start);
    this.end.set(old.end);
    this.kw.set(old.kw);
    this.depth.set(old.depth);
    this.close.set(old.close);
  }

  private growOpens(): void {
    const old = this.opens;
    this.opens = new Int32Array(old.length * 2);
    this.opens.set(old);
  }

  private allocate(size: number): void {
    this.kind = new Uint8Array(size);
    this.start = new Int32Array(size);
    this.end = new Int32Array(size);
    this.kw = new Uint16Array(size);
    this.depth = new Uint16Array(size);
    this.close = new Int32Array(size);
  }
}

/** FNV-1a of a token's text, ASCII-folded (exported for table names and fingerprints). */
export function tokenHash(lx: Lexer, i: number, seed: number): number {
  const src = lx.src;
  let from = lx.start[i]!;
  let to = lx.end[i]!;
  if (lx.kind[i] === T.ident) {
    from++;
    if (to > from && src.charCodeAt(to - 1) === 96) to--;
  }
  let h = seed;
  for (let p = from; p < to; p++) {
    let c = src.charCodeAt(p);
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h | 0;
}
