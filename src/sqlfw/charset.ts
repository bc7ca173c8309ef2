// Character sets in which a multibyte character can end in 0x5C (backslash) or 0x60 (backtick):
// big5, sjis, cp932, gbk, gb18030. moat reads statement text as UTF-8; the server reads it in the
// session's character_set_client. In these sets `'a<0xBF><0x5C>'` is one string to moat (an
// escaped quote) and a closed string plus code to the server, so a statement on the allowlist
// as moat digests it can carry any other. A PROTECTING session in such a set cannot be judged:
// its statements are refused, and so is a statement that would switch to one (SET NAMES …).
// ujis, euckr and gb2312 use trailing bytes 0xA1–0xFE only, and single-byte sets are safe.

/** Collation ids (the handshake's one byte, MySQL's and MariaDB's numbering) of those sets. */
const AMBIGUOUS_COLLATIONS: ReadonlySet<number> = new Set([
  1, // big5_chinese_ci
  84, // big5_bin
  13, // sjis_japanese_ci
  88, // sjis_bin
  28, // gbk_chinese_ci
  87, // gbk_bin
  95, // cp932_japanese_ci
  96, // cp932_bin
  248, // gb18030_chinese_ci (MySQL 8)
  249, // gb18030_bin
  250, // gb18030_unicode_520_ci
]);

const AMBIGUOUS_NAMES = /\b(?:big5|sjis|cp932|gbk|gb18030)/i;

// A statement (or one of several) that sets the client's character set: SET NAMES, SET CHARACTER
// SET / CHARSET, SET [SESSION] character_set_client = … (alone or among other assignments).
// Matched after executable comments are opened (their content is code to the server) and other
// comments removed, so that neither hides one.
const SETS_CHARSET =
  /(?:^|;)\s*SET\b[^;]*?(?:\bNAMES\b|\bCHARACTER\s+SET\b|\bCHARSET\b|character_set_(?:client|connection)\b)/i;

const EXECUTABLE_OPEN = /\/\*M?!\d{0,6}/g;
const BLOCK_COMMENT = /\/\*[\s\S]*?\*\//g;
const COMMENT_CLOSE = /\*\//g;
const LINE_COMMENT = /(?:#|--\s)[^\n]*/g;

/** Values a charset change may name and still be judged: the UTF-8 and single-byte sets, DEFAULT. */
const KNOWN_SAFE = /\b(?:utf8mb4|utf8mb3|utf8|latin[1-7]|ascii|binary|cp125[0-7]|DEFAULT)\b/i;

function code(statement: string): string {
  return statement
    .replace(EXECUTABLE_OPEN, ' ')
    .replace(BLOCK_COMMENT, ' ')
    .replace(COMMENT_CLOSE, ' ')
    .replace(LINE_COMMENT, ' ');
}

export function ambiguousCollation(id: number): boolean {
  return AMBIGUOUS_COLLATIONS.has(id);
}

/** Why a PROTECTING session must refuse `statement` on character-set grounds, or null. */
export function charsetRefusal(collation: number, statement: string): string | null {
  if (ambiguousCollation(collation))
    return `the session's character set (collation ${collation}) lets a multibyte character hide a quote's escape; moat cannot judge its statements`;
  const text = code(statement);
  if (!SETS_CHARSET.test(text)) return null;
  if (AMBIGUOUS_NAMES.test(text) || !KNOWN_SAFE.test(text))
    return 'the statement switches to a character set moat cannot judge statements in';
  return null;
}
