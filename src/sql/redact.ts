// Password redaction in statement text, before a statement reaches any log or audit record.
//
// Redaction works on the detector's lexer tokens (sql/lexer.ts), not on the text: comments of
// every kind (`/*c*/`, `#c\n`, `-- c\n`) are not tokens, so `IDENTIFIED /*c*/ BY 'pw'` reads as
// IDENTIFIED BY 'pw', as the server reads it; executable comments (`/*!80000 … */`) are code to
// the lexer as to the server. Every place MySQL and MariaDB syntax carries a secret as a literal:
//   CREATE/ALTER USER, GRANT ... IDENTIFIED BY 'x' | BY PASSWORD 'hash' | WITH plugin BY 'x'
//                                | WITH plugin AS 'hash' ... [REPLACE 'current']
//   MariaDB: IDENTIFIED VIA plugin USING 'x' [OR plugin USING 'y'], USING PASSWORD('x')
//   SET PASSWORD [FOR u] = 'x' | = PASSWORD('x') | OLD_PASSWORD('x') [REPLACE 'current']
//   CHANGE MASTER/REPLICATION SOURCE TO MASTER_PASSWORD = 'x', SOURCE_PASSWORD = 'x'
//   CREATE SERVER ... OPTIONS (PASSWORD 'x'); START SLAVE/REPLICA ... PASSWORD = 'x'
//   the key of AES_ENCRYPT / AES_DECRYPT / DES_ENCRYPT / DES_DECRYPT / ENCODE / DECODE, and what
//   ENCRYPT() crypts: these are keys and passwords too, written into the statement.
// A secret literal is the whole run of adjacent literals the server concatenates ('a' 'b' is
// 'ab'), with any charset introducer (_utf8mb4'x', N'x') or hex form (X'…', 0x…); it becomes
// '***'. A literal cut off by statement truncation runs to the end of the text and is redacted
// whole, so no prefix of a password survives the cut.
//
// A string literal that holds a secret-bearing keyword is itself lexed and redacted (unescaped
// first, re-quoted after): `PREPARE s FROM 'CREATE USER a IDENTIFIED BY ''pw'''`, MariaDB's
// `EXECUTE IMMEDIATE '…'`, `SET @sql = '…'`. Still keyword-driven, not a parse: a statement
// assembled from pieces (CONCAT, a hex literal, a stored procedure's body) is not found, which
// the README says.
import { Lexer, OP, T } from './lexer.ts';

/** Cheap pre-check: almost every statement has none of these words. */
const MAYBE = /passw|identified|crypt|code/i;

/**
 * Whether the text may hold a secret-bearing word. Inside a string literal a backslash may spell
 * one (`'IDENT\IFIED'` is IDENTIFIED to the server), so the words are also looked for with the
 * backslashes taken out: cheaper than lexing every literal of a statement full of escaped JSON.
 */
function maybe(text: string): boolean {
  return MAYBE.test(text) || (text.includes('\\') && MAYBE.test(text.replaceAll('\\', '')));
}

/** Nested statements in string literals are followed this deep (a string in a string in …). */
const MAX_NESTING = 4;
const MASK = "'***'";

/** One lexer per nesting level: a Lexer's token arrays are reused by its next lex(). */
const lexers: Lexer[] = [];

export function redactStatement(statement: string): string;
export function redactStatement(statement: string | null): string | null;
export function redactStatement(statement: string | null): string | null {
  if (statement === null || !maybe(statement)) return statement;
  return redactAt(statement, 0);
}

function redactAt(sql: string, level: number): string {
  if (lexers[level] === undefined) lexers[level] = new Lexer();
  const lx = lexers[level].lex(sql);
  try {
    const cuts = secretRanges(lx);
    if (level + 1 < MAX_NESTING) nestedStatements(lx, level, cuts);
    if (cuts.length === 0) return sql;
    cuts.sort((a, b) => a.from - b.from);
    let out = '';
    let at = 0;
    for (const c of cuts) {
      if (c.from < at) continue; // a literal both secret and nested: the mask already covers it
      out += sql.slice(at, c.from) + c.text;
      at = c.to;
    }
    return out + sql.slice(at);
  } finally {
    lx.release();
  }
}

interface Cut {
  from: number;
  to: number;
  text: string;
}

/** Is token i the word `w` (upper case)? Word tokens only; compared without allocating. */
function isWord(lx: Lexer, i: number, w: string): boolean {
  if (i < 0 || i >= lx.n || lx.kind[i] !== T.word) return false;
  const from = lx.start[i]!;
  if (lx.end[i]! - from !== w.length) return false;
  for (let j = 0; j < w.length; j++) {
    let c = lx.src.charCodeAt(from + j);
    if (c >= 97 && c <= 122) c -= 32;
    if (c !== w.charCodeAt(j)) return false;
  }
  return true;
}

function isOp(lx: Lexer, i: number, op: number): boolean {
  return i < lx.n && lx.kind[i] === T.op && lx.kw[i] === op;
}

/** A charset introducer glued to the literal after it: `_utf8mb4'x'`, `_binary 'x'`. */
function isIntroducer(lx: Lexer, i: number): boolean {
  return (
    i + 1 < lx.n &&
    lx.kind[i] === T.word &&
    lx.src.charCodeAt(lx.start[i]!) === 95 /* _ */ &&
    (lx.kind[i + 1] === T.string || lx.kind[i + 1] === T.hex)
  );
}

function isLiteral(lx: Lexer, i: number): boolean {
  return i < lx.n && (lx.kind[i] === T.string || lx.kind[i] === T.hex || isIntroducer(lx, i));
}

/**
 * The run of literals starting at token i (introducers and adjacent strings included) as one cut;
 * returns the index after it, or i when there is no literal there.
 */
function takeLiteral(lx: Lexer, i: number, cuts: Cut[]): number {
  let j = i;
  while (isLiteral(lx, j)) j += isIntroducer(lx, j) ? 2 : 1;
  if (j > i) cuts.push({ from: lx.start[i]!, to: lx.end[j - 1]!, text: MASK });
  return j;
}

/** A secret value: optional `=`, optional PASSWORD( / OLD_PASSWORD( wrapper, then the literal. */
function takeValue(lx: Lexer, i: number, cuts: Cut[]): number {
  if (isOp(lx, i, OP.eq)) i++;
  if ((isWord(lx, i, 'PASSWORD') || isWord(lx, i, 'OLD_PASSWORD')) && lx.kind[i + 1] === T.lparen) i += 2;
  else if (isWord(lx, i, 'PASSWORD') && isLiteral(lx, i + 1))
    i++; // IDENTIFIED BY PASSWORD 'hash'
  else if (lx.kind[i] === T.lparen) i++;
  const after = takeLiteral(lx, i, cuts);
  if (after === i) return i;
  // MySQL 8: … IDENTIFIED BY 'new' REPLACE 'current' names the current password too.
  if (isWord(lx, after, 'REPLACE') && isLiteral(lx, after + 1)) return takeLiteral(lx, after + 1, cuts);
  return after;
}

/** Functions whose argument at the given index is a key or a password. */
const KEY_ARGUMENT: Record<string, number> = {
  AES_ENCRYPT: 1,
  AES_DECRYPT: 1,
  DES_ENCRYPT: 1,
  DES_DECRYPT: 1,
  ENCODE: 1,
  DECODE: 1,
  ENCRYPT: 0,
};

const KEY_FUNCTIONS = Object.entries(KEY_ARGUMENT);

function keyArgument(lx: Lexer, i: number, cuts: Cut[]): void {
  if (lx.kind[i + 1] !== T.lparen) return;
  let index = -1;
  for (const [name, at] of KEY_FUNCTIONS) if (isWord(lx, i, name)) index = at;
  if (index < 0) return;
  const inner = lx.depth[i + 1]! + 1;
  let j = i + 2;
  for (let arg = 0; arg < index && j < lx.n; j++) {
    if (lx.kind[j] === T.rparen && lx.depth[j]! < inner) return;
    if (lx.kind[j] === T.comma && lx.depth[j] === inner) arg++;
  }
  const after = takeLiteral(lx, j, cuts);
  // Only a whole argument that is a literal (`AES_ENCRYPT(x, CONCAT('a', y))` has no single key).
  if (after > j && after < lx.n && lx.kind[after] !== T.comma && lx.kind[after] !== T.rparen) cuts.pop();
}

function secretRanges(lx: Lexer): Cut[] {
  const cuts: Cut[] = [];
  for (let i = 0; i < lx.n; i++) {
    if (lx.kind[i] !== T.word) continue;
    if (isWord(lx, i, 'IDENTIFIED')) {
      let j = i + 1;
      if (isWord(lx, j, 'WITH') || isWord(lx, j, 'VIA')) j += 2; // the plugin's name
      // MariaDB: IDENTIFIED VIA a USING 'x' OR b USING 'y' OR c …
      for (;;) {
        if (isWord(lx, j, 'BY') || isWord(lx, j, 'AS') || isWord(lx, j, 'USING'))
          j = takeValue(lx, j + 1, cuts);
        if (!isWord(lx, j, 'OR')) break;
        j += 2;
      }
      i = Math.max(i, j - 1);
    } else if (isWord(lx, i, 'PASSWORD') && isWord(lx, i - 1, 'SET')) {
      // SET PASSWORD [FOR user] = …: the value follows the first `=` (the user may be 'a'@'%').
      let j = i + 1;
      while (j < lx.n && !isOp(lx, j, OP.eq) && lx.kind[j] !== T.semicolon) j++;
      if (j < lx.n && isOp(lx, j, OP.eq)) i = Math.max(i, takeValue(lx, j, cuts) - 1);
    } else if (
      isWord(lx, i, 'PASSWORD') ||
      isWord(lx, i, 'OLD_PASSWORD') ||
      isWord(lx, i, 'MASTER_PASSWORD') ||
      isWord(lx, i, 'SOURCE_PASSWORD')
    ) {
      let j = i + 1;
      if (isOp(lx, j, OP.eq)) j++;
      else if (lx.kind[j] === T.lparen) j++;
      i = Math.max(i, takeLiteral(lx, j, cuts) - 1);
    } else keyArgument(lx, i, cuts);
  }
  return cuts;
}

/** String literals holding statements (PREPARE … FROM '…', EXECUTE IMMEDIATE '…', SET @s = '…'). */
function nestedStatements(lx: Lexer, level: number, cuts: Cut[]): void {
  const sql = lx.src;
  const found: Array<[number, number]> = [];
  for (let i = 0; i < lx.n; i++) {
    if (lx.kind[i] !== T.string) continue;
    const from = lx.start[i]!;
    const to = lx.end[i]!;
    if (to - from < 3) continue;
    const raw = sql.slice(from, to);
    if (!maybe(raw)) continue;
    if (cuts.some((c) => c.from <= from && c.to >= to)) continue;
    found.push([from, to]);
  }
  // After the loop: redactAt below re-lexes with the next level's lexer, this one stays valid.
  for (const [from, to] of found) {
    let q = from;
    const first = sql.charCodeAt(q);
    if (first !== 39 && first !== 34) q++; // N'…'
    const quote = sql[q]!;
    const closed = to - q >= 2 && sql[to - 1] === quote && !endsEscaped(sql, q + 1, to - 1, quote);
    const body = stringValue(sql.slice(q + 1, closed ? to - 1 : to), quote);
    const redacted = redactAt(body, level + 1);
    if (redacted === body) continue;
    cuts.push({ from, to, text: `${sql.slice(from, q)}'${requote(redacted)}'` });
  }
}

/** Whether the quote at `end` is escaped by an odd run of backslashes (then the literal is open). */
function endsEscaped(sql: string, from: number, end: number, quote: string): boolean {
  let b = end - 1;
  while (b >= from && sql.charCodeAt(b) === 92) b--;
  if (((end - 1 - b) & 1) === 1) return true;
  // `'abc''` cut in the middle of a doubled quote: the last quote is the first of a pair.
  let q = end;
  while (q > from && sql[q - 1] === quote) q--;
  return ((end - q) & 1) === 1;
}

const ESCAPES: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };

/** The string's value as the server reads it (default sql_mode: backslash escapes are on). */
function stringValue(body: string, quote: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && i + 1 < body.length) {
      const d = body[++i]!;
      // \% and \_ keep their backslash (for LIKE); any other escaped character is itself.
      out += d === '%' || d === '_' ? `\\${d}` : (ESCAPES[d] ?? d);
    } else if (c === quote && body[i + 1] === quote) {
      out += quote;
      i++;
    } else out += c;
  }
  return out;
}

function requote(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "''");
}
