// Password redaction in statement text, before a statement reaches any log or audit record.
//
// Every place MySQL and MariaDB syntax carries a secret as a string literal after a keyword:
//   CREATE/ALTER USER, GRANT ... IDENTIFIED BY 'x' | BY PASSWORD 'hash' | WITH plugin BY 'x'
//                                | WITH plugin AS 'hash'
//   MariaDB: IDENTIFIED VIA plugin USING 'x' [OR plugin USING 'y'], USING PASSWORD('x')
//   SET PASSWORD [FOR u] = 'x' | = PASSWORD('x') | OLD_PASSWORD('x')
//   CHANGE MASTER/REPLICATION SOURCE TO MASTER_PASSWORD = 'x', SOURCE_PASSWORD = 'x'
//   CREATE SERVER ... OPTIONS (PASSWORD 'x'); START SLAVE/REPLICA ... PASSWORD = 'x'
// The literal becomes '***'. A literal cut off by statement truncation is redacted to the end.
// Redaction is keyword-driven, not a parse: a secret in an unusual place (a stored procedure
// body building a statement, say) is not found, which the README says.

/** Keywords after which the next string literal is a secret. */
const SECRET_BEFORE = [
  String.raw`IDENTIFIED\s+(?:WITH\s+[\w'"\x60]+\s+)?(?:BY|AS)(?:\s+PASSWORD)?`,
  String.raw`(?:IDENTIFIED\s+(?:VIA|WITH)|\bOR)\s+[\w'"\x60]+\s+(?:USING|AS)`,
  String.raw`\b(?:OLD_)?PASSWORD\s*\(`,
  String.raw`\b(?:MASTER_|SOURCE_)?PASSWORD\s*=?`,
].join('|');

/** A quoted literal: doubled quotes and backslash escapes inside; possibly cut off at the end. */
const LITERAL = String.raw`'(?:[^'\\]|\\[^]|'')*(?:'|$)|"(?:[^"\\]|\\[^]|"")*(?:"|$)`;

const PATTERN = new RegExp(`(${SECRET_BEFORE})(\\s*)(?:${LITERAL})`, 'gi');
/** Cheap pre-check: almost every statement has none of these words. */
const MAYBE = /passw|identified/i;

export function redactStatement(statement: string): string;
export function redactStatement(statement: string | null): string | null;
export function redactStatement(statement: string | null): string | null {
  if (statement === null || !MAYBE.test(statement)) return statement;
  return statement.replace(PATTERN, "$1$2'***'");
}
