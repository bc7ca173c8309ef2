// A bulk load cut at the capture limit is not padding. `INSERT … VALUES (…), (…), …` of 64 KiB
// and more is what mysqldump, sysbench's prepare and every ORM's batch insert send; raising
// statement-truncated on each would bury the finding in noise. What is exempt is narrow: the
// captured text must be one INSERT/REPLACE whose every token after VALUES is a literal tuple (no
// function, no subquery, no keyword but NULL/TRUE/FALSE/DEFAULT), densely packed (comments and
// whitespace, the padding an evasion needs, at most a quarter of it). An attack hidden past the cut
// of such a statement can only sit in more tuples or after them, where it needs either a comment
// to hide the tuples' end (not dense) or tokens the capture never saw: the limit stays documented.
import { KW, type Lexer, OP, T } from '../sql/lexer.ts';

const LITERAL_WORDS = ['NULL', 'TRUE', 'FALSE', 'DEFAULT'];
const MODIFIERS = new Set<number>([KW.LOW_PRIORITY, KW.DELAYED, KW.HIGH_PRIORITY, KW.IGNORE]);

/** Is the lexed (cut) statement a dense INSERT/REPLACE … VALUES of literal tuples? */
export function isBulkValues(lx: Lexer): boolean {
  const n = lx.n;
  let i = 0;
  if (lx.k(i) !== KW.INSERT && lx.k(i) !== KW.REPLACE) return false;
  i++;
  while (MODIFIERS.has(lx.k(i))) i++;
  if (lx.k(i) === KW.INTO) i++;
  // table or schema.table
  if (lx.t(i) !== T.word && lx.t(i) !== T.ident) return false;
  i++;
  if (lx.t(i) === T.dot) i += 2;
  if (lx.t(i) === T.lparen) {
    // column list: names and commas only
    for (i++; i < n && lx.t(i) !== T.rparen; i++) {
      const t = lx.t(i);
      if (t !== T.word && t !== T.ident && t !== T.comma) return false;
    }
    i++;
  }
  if (lx.k(i) !== KW.VALUES && lx.k(i) !== KW.VALUE) return false;
  let covered = 0;
  for (let j = 0; j < n; j++) covered += lx.end[j]! - lx.start[j]!;
  if (lx.src.length - covered > lx.src.length / 4) return false;
  for (i++; i < n; i++) {
    switch (lx.t(i)) {
      case T.string:
      case T.number:
      case T.hex:
      case T.placeholder:
      case T.comma:
      case T.rparen:
        continue;
      case T.lparen:
        // A tuple opens at depth 0; a parenthesis inside one is an expression.
        if (lx.depth[i] === 0) continue;
        return false;
      case T.op:
        if (lx.kw[i] === OP.minus) continue;
        return false;
      case T.word: {
        const k = lx.k(i);
        if (k === KW.NULL || k === KW.TRUE || k === KW.FALSE || lx.text(i).toUpperCase() === 'DEFAULT')
          continue;
        // The cut may fall inside one of those words.
        if (i === n - 1 && LITERAL_WORDS.some((w) => w.startsWith(lx.text(i).toUpperCase()))) continue;
        return false;
      }
      default:
        return false;
    }
  }
  return true;
}
