// Injection signatures over the lexed statement. Each signature belongs to one statement rule and
// has a weight; a rule's score for a statement is its strongest signature, plus the evasion
// signals (comment truncation, encodings, inline comments) and a bonus when the statement failed
// with a probing error. Weights are chosen so that one weak hint never reaches the default
// minScore of 50 alone: `ORDER BY 2` is an ordinary query, `ORDER BY 12-- -` that fails with 1054
// is column counting.
//
// Every matcher looks a bounded number of tokens ahead, so the scan is linear in the statement.
import { F, KW, type Lexer, OP, T } from '../sql/lexer.ts';

export const STATEMENT_RULES = [
  'union-probe',
  'tautology',
  'stacked-query',
  'time-based',
  'schema-enumeration',
  'file-access',
  'blind-probe',
  'evasion',
] as const;
export type StatementRule = (typeof STATEMENT_RULES)[number];

const R = {
  union: 0,
  tautology: 1,
  stacked: 2,
  time: 3,
  schema: 4,
  file: 5,
  blind: 6,
  evasion: 7,
} as const;
const RULE_COUNT = STATEMENT_RULES.length;
export const EVASION = R.evasion;

interface SignatureDef {
  readonly id: number;
  readonly rule: number;
  readonly weight: number;
  readonly label: string;
}

let nextId = 0;
/** Ids follow declaration order: they index the scan's arrays. */
function sig(rule: number, weight: number, label: string): SignatureDef {
  return { id: nextId++, rule, weight, label };
}

/** The signatures, each with its rule, weight and the words a finding's reason uses. */
export const SIGNATURES = {
  unionConstants: sig(R.union, 50, 'UNION SELECT of constants only (column-count probing)'),
  unionNullPadding: sig(R.union, 30, 'UNION SELECT padded with NULL columns'),
  orderByNumber: sig(R.union, 15, 'ORDER/GROUP BY a column number (column counting)'),
  tautology: sig(R.tautology, 50, 'tautology after OR'),
  stackedDangerous: sig(R.stacked, 50, 'stacked statement that changes schema or privileges'),
  stacked: sig(R.stacked, 20, 'stacked statement after a complete one'),
  sleep: sig(R.time, 50, 'time delay (SLEEP/BENCHMARK/WAITFOR) inside a statement'),
  schemaInUnion: sig(R.schema, 50, 'information_schema read through UNION'),
  grantTables: sig(R.schema, 40, 'mysql system tables read'),
  schemaNested: sig(R.schema, 30, 'information_schema read in a subquery'),
  schema: sig(R.schema, 15, 'information_schema read'),
  fileRead: sig(R.file, 60, 'LOAD_FILE() reads a server file'),
  fileWrite: sig(R.file, 60, 'INTO OUTFILE/DUMPFILE writes a server file'),
  substringOfSubquery: sig(R.blind, 50, 'ORD/ASCII of MID/SUBSTRING of a subquery (blind extraction)'),
  errorExtraction: sig(R.blind, 50, 'error-based extraction (XPath of CONCAT, FLOOR(RAND(0)*2), EXP(~…))'),
  andCompare: sig(R.blind, 30, 'constant comparison after AND (boolean probing)'),
  errorFunction: sig(R.blind, 25, 'function used for error-based extraction (EXTRACTVALUE, UPDATEXML …)'),
  substring: sig(R.blind, 20, 'ORD/ASCII of MID/SUBSTRING'),
  commentHidesQuote: sig(R.evasion, 50, 'comment truncation hiding a quote'),
  trailingComment: sig(R.evasion, 20, 'comment truncation (-- or # to the end)'),
  unterminatedComment: sig(R.evasion, 20, 'unterminated /* comment'),
  unbalancedQuote: sig(R.evasion, 20, 'unbalanced quote'),
  inlineComment: sig(R.evasion, 15, 'inline comment glued to keywords'),
  versionedComment: sig(R.evasion, 20, 'executable /*! comment hiding keywords'),
  charEncoded: sig(R.evasion, 15, 'CHAR() with character codes'),
  hexLiteral: sig(R.evasion, 10, 'hex literal'),
  decoding: sig(R.evasion, 10, 'UNHEX/FROM_BASE64 decoding'),
} as const;

const DEFS: readonly SignatureDef[] = Object.values(SIGNATURES);
const SIGNATURE_COUNT = DEFS.length;

/** The most the evasion signals add together. */
const EVASION_CAP = 60;
/** How far a UNION branch is read for its select list. */
const MAX_BRANCH_TOKENS = 512;

/** A statement stacked after `;` that is never application traffic. */
const DANGEROUS_AFTER_SEMICOLON = new Set<number>([
  KW.DROP,
  KW.ALTER,
  KW.TRUNCATE,
  KW.CREATE,
  KW.RENAME,
  KW.GRANT,
  KW.REVOKE,
  KW.SHUTDOWN,
  KW.LOAD,
  KW.EXEC,
  KW.EXECUTE,
  KW.DECLARE,
  KW.WAITFOR,
  KW.INSTALL,
  KW.UNINSTALL,
]);

/** Words that end a UNION branch's select list. */
const SELECT_LIST_END = new Set<number>([
  KW.FROM,
  KW.INTO,
  KW.WHERE,
  KW.UNION,
  KW.ORDER,
  KW.GROUP,
  KW.LIMIT,
  KW.HAVING,
  KW.WINDOW,
  KW.FOR,
  KW.LOCK,
]);

/** Words that may follow a constant in a condition: `OR 1 ORDER BY …`. */
const CONDITION_END = new Set<number>([
  KW.AND,
  KW.OR,
  KW.XOR,
  KW.ORDER,
  KW.GROUP,
  KW.LIMIT,
  KW.UNION,
  KW.HAVING,
  KW.INTO,
  KW.FOR,
  KW.LOCK,
]);

const ROUTINES = new Set<number>([KW.PROCEDURE, KW.FUNCTION, KW.TRIGGER, KW.EVENT]);
const SUBSTRINGS = new Set<number>([KW.MID, KW.SUBSTR, KW.SUBSTRING, KW.LEFT, KW.RIGHT]);

/** What one statement matched. Reused: valid until the next `scan`. */
export class SignatureScan {
  /** 1 where a signature matched. */
  readonly hits = new Uint8Array(SIGNATURE_COUNT);
  /** Offset in the statement of the signature's first match, for the evidence excerpt. */
  readonly at = new Int32Array(SIGNATURE_COUNT);
  /** Per statement rule: its strongest signature's weight (evasion: the capped sum). */
  readonly group = new Int16Array(RULE_COUNT);
  any = false;

  private lx: Lexer | null = null;
  private unionSeen = false;
  private schemaAt = -1;
  private schemaNestedAt = -1;

  /** Match the lexed statement; false when nothing matched (the common case, decided cheaply). */
  scan(lx: Lexer, truncated: boolean): boolean {
    if (this.any) {
      this.hits.fill(0);
      this.group.fill(0);
      this.any = false;
    }
    if ((lx.flags & F.trigger) === 0) return false;
    this.lx = lx;
    this.unionSeen = false;
    this.schemaAt = -1;
    this.schemaNestedAt = -1;
    this.flagSignals(lx, truncated);
    const routine = isRoutineBody(lx);
    for (let i = 0; i < lx.n; i++) {
      const kind = lx.kind[i];
      if (kind === T.word || kind === T.ident) this.word(lx, i);
      else if (kind === T.op) {
        const op = lx.kw[i];
        if (op === OP.oror && this.alwaysTrue(lx, i + 1)) this.hit(SIGNATURES.tautology, i);
        else if (op === OP.andand && this.constantCompare(lx, i + 1)) this.hit(SIGNATURES.andCompare, i);
      } else if (kind === T.semicolon && lx.depth[i] === 0 && i + 1 < lx.n && !routine) {
        this.stacked(lx, i);
      }
    }
    if (this.schemaAt >= 0) {
      if (this.unionSeen) this.hitAt(SIGNATURES.schemaInUnion, this.schemaAt);
      else if (this.schemaNestedAt >= 0) this.hitAt(SIGNATURES.schemaNested, this.schemaNestedAt);
      else this.hitAt(SIGNATURES.schema, this.schemaAt);
    }
    this.lx = null;
    return this.any;
  }

  /**
   * A rule's score for this statement: its own strongest signature, plus evasion signals, plus
   * `errorBonus`. Zero when the rule matched nothing. The evasion rule is the evasion sum alone.
   */
  score(rule: number, errorBonus: number): number {
    const own = this.group[rule]!;
    if (own === 0) return 0;
    return rule === R.evasion ? own + errorBonus : own + this.group[R.evasion]! + errorBonus;
  }

  /** The labels of what matched for `rule` (and the evasion signals with it). */
  labels(rule: number): string[] {
    const out: string[] = [];
    for (const d of DEFS) if (this.hits[d.id] === 1 && d.rule === rule) out.push(d.label);
    if (rule !== R.evasion) {
      for (const d of DEFS) if (this.hits[d.id] === 1 && d.rule === R.evasion) out.push(d.label);
    }
    return out;
  }

  /** Where the rule's first signature matched (an offset into the statement), or 0. */
  offset(rule: number): number {
    let best = -1;
    for (const d of DEFS) {
      if (this.hits[d.id] === 1 && d.rule === rule && (best < 0 || this.at[d.id]! < best))
        best = this.at[d.id]!;
    }
    return Math.max(best, 0);
  }

  private word(lx: Lexer, i: number): void {
    const kw = lx.name(i);
    if (kw === 0) return;
    if (lx.kind[i] === T.ident) {
      // A backquoted name is only ever a schema or table here, never a keyword.
      if (kw === KW.INFORMATION_SCHEMA || kw === KW.MYSQL) this.schemaName(lx, i, kw);
      return;
    }
    switch (kw) {
      case KW.UNION:
        this.unionSeen = true;
        this.union(lx, i);
        break;
      case KW.ORDER:
      case KW.GROUP:
        if (lx.k(i + 1) === KW.BY && lx.t(i + 2) === T.number) this.hit(SIGNATURES.orderByNumber, i);
        break;
      case KW.OR:
      case KW.XOR:
        if (this.alwaysTrue(lx, i + 1)) this.hit(SIGNATURES.tautology, i);
        break;
      case KW.AND:
        if (lx.k(i - 2) !== KW.BETWEEN && this.constantCompare(lx, i + 1)) this.hit(SIGNATURES.andCompare, i);
        break;
      case KW.SLEEP:
      case KW.BENCHMARK:
      case KW.PG_SLEEP:
        if (lx.t(i + 1) === T.lparen && !isBareSleep(lx, i)) this.hit(SIGNATURES.sleep, i);
        break;
      case KW.WAITFOR:
        if (lx.k(i + 1) === KW.DELAY || lx.k(i + 1) === KW.TIME) this.hit(SIGNATURES.sleep, i);
        break;
      case KW.INFORMATION_SCHEMA:
      case KW.MYSQL:
        this.schemaName(lx, i, kw);
        break;
      case KW.LOAD_FILE:
        if (lx.t(i + 1) === T.lparen) this.hit(SIGNATURES.fileRead, i);
        break;
      case KW.INTO:
        if (lx.k(i + 1) === KW.OUTFILE || lx.k(i + 1) === KW.DUMPFILE) this.hit(SIGNATURES.fileWrite, i);
        break;
      case KW.ORD:
      case KW.ASCII:
        if (lx.t(i + 1) === T.lparen && SUBSTRINGS.has(lx.k(i + 2)) && lx.t(i + 3) === T.lparen) {
          const ofSubquery = lx.t(i + 4) === T.lparen && lx.k(i + 5) === KW.SELECT;
          this.hit(ofSubquery ? SIGNATURES.substringOfSubquery : SIGNATURES.substring, i);
        }
        break;
      case KW.EXTRACTVALUE:
      case KW.UPDATEXML:
        // The payload is an XPath made invalid on purpose: CONCAT(0x5c, (SELECT …)).
        if (lx.t(i + 1) === T.lparen) {
          this.hit(concatWithin(lx, i + 2, 8) ? SIGNATURES.errorExtraction : SIGNATURES.errorFunction, i);
        }
        break;
      case KW.GTID_SUBSET:
      case KW.NAME_CONST:
        if (lx.t(i + 1) === T.lparen) this.hit(SIGNATURES.errorFunction, i);
        break;
      case KW.FLOOR:
        // FLOOR(RAND(0)*2) under GROUP BY: the "duplicate entry" leak (seeded, so it always collides).
        if (lx.t(i + 1) === T.lparen && lx.k(i + 2) === KW.RAND && lx.t(i + 3) === T.lparen) {
          if (lx.t(i + 4) === T.number) this.hit(SIGNATURES.errorExtraction, i);
        }
        break;
      case KW.EXP:
        // EXP(~(SELECT …)): a DOUBLE overflow whose message quotes the subquery.
        if (lx.t(i + 1) === T.lparen && lx.t(i + 2) === T.op && lx.kw[i + 2] === OP.tilde) {
          this.hit(SIGNATURES.errorExtraction, i);
        }
        break;
      case KW.CHAR:
        if (
          lx.t(i + 1) === T.lparen &&
          lx.t(i + 2) === T.number &&
          lx.t(i + 3) === T.comma &&
          lx.t(i + 4) === T.number
        ) {
          this.hit(SIGNATURES.charEncoded, i);
        }
        break;
      case KW.UNHEX:
      case KW.FROM_BASE64:
        if (lx.t(i + 1) === T.lparen) this.hit(SIGNATURES.decoding, i);
        break;
    }
  }

  /** `information_schema.x` or `mysql.x`: a schema-qualified name. */
  private schemaName(lx: Lexer, i: number, kw: number): void {
    if (lx.t(i + 1) !== T.dot) return;
    if (kw === KW.MYSQL) {
      this.hit(SIGNATURES.grantTables, i);
      return;
    }
    if (this.schemaAt < 0) this.schemaAt = lx.start[i]!;
    if (lx.depth[i]! > 0 && this.schemaNestedAt < 0) this.schemaNestedAt = lx.start[i]!;
  }

  /**
   * UNION [ALL|DISTINCT] SELECT: read the branch's select list. Constants only (NULL, numbers,
   * strings, @@variables, functions of those) is column-count probing; NULL columns among real
   * ones is the padding a UNION-based extraction needs.
   */
  private union(lx: Lexer, i: number): void {
    let j = i + 1;
    const mod = lx.k(j);
    if (mod === KW.ALL || mod === KW.DISTINCT) j++;
    while (lx.t(j) === T.lparen) j++;
    if (lx.k(j) !== KW.SELECT) return;
    const d = lx.depth[j]!;
    j++;
    if (lx.k(j) === KW.DISTINCT || lx.k(j) === KW.ALL) j++;
    const limit = Math.min(lx.n, j + MAX_BRANCH_TOKENS);
    let items = 0;
    let allConstant = true;
    let anyNull = false;
    let itemTokens = 0;
    let itemNull = false;
    let itemConstant = true;
    let complete = false;
    for (; j < limit; j++) {
      const kind = lx.kind[j]!;
      const dj = lx.depth[j]!;
      if (dj < d || (dj === d && (kind === T.semicolon || SELECT_LIST_END.has(lx.k(j))))) {
        complete = true;
        break;
      }
      if (dj === d && kind === T.comma) {
        items++;
        allConstant &&= itemConstant && itemTokens > 0;
        anyNull ||= itemNull && itemTokens === 1;
        itemTokens = 0;
        itemNull = false;
        itemConstant = true;
        continue;
      }
      itemTokens++;
      if (kind === T.word) {
        const kw = lx.kw[j]!;
        if (kw === KW.NULL) itemNull = itemTokens === 1;
        else if (!constantWord(lx, j, kw)) itemConstant = false;
      } else if (kind === T.ident || kind === T.placeholder) {
        itemConstant = false;
      }
    }
    if (j === lx.n) complete = true;
    if (itemTokens > 0) {
      items++;
      allConstant &&= itemConstant;
      anyNull ||= itemNull && itemTokens === 1;
    }
    if (items === 0) return;
    if (allConstant && complete) this.hit(SIGNATURES.unionConstants, i);
    else if (anyNull) this.hit(SIGNATURES.unionNullPadding, i);
  }

  /** `1=1`, `'a'='a'`, `TRUE`, `NOT FALSE`, a lone non-zero number: a condition always true. */
  private alwaysTrue(lx: Lexer, j: number): boolean {
    let p = j;
    while (lx.t(p) === T.lparen && p < j + 3) p++;
    const k = lx.k(p);
    if (k === KW.TRUE) return true;
    if ((k === KW.NOT || (lx.t(p) === T.op && lx.kw[p] === OP.not)) && lx.k(p + 1) === KW.FALSE) return true;
    if (!isLiteral(lx, p)) return false;
    const op = comparison(lx, p + 1);
    if (op !== -1) return isLiteral(lx, p + 2) && compare(lx, p, op, p + 2);
    if (lx.kind[p] !== T.number || Number(lx.text(p)) === 0) return false;
    const after = lx.t(p + 1);
    if (after === 0 || after === T.rparen || after === T.semicolon) return true;
    if (after === T.op) return lx.kw[p + 1] === OP.oror || lx.kw[p + 1] === OP.andand;
    return CONDITION_END.has(lx.k(p + 1));
  }

  /** `AND 1=1`, `AND 'x'='y'`: constants compared, true or false, the boolean-blind pair. */
  private constantCompare(lx: Lexer, j: number): boolean {
    let p = j;
    while (lx.t(p) === T.lparen && p < j + 3) p++;
    return isLiteral(lx, p) && comparison(lx, p + 1) !== -1 && isLiteral(lx, p + 2);
  }

  private stacked(lx: Lexer, i: number): void {
    const next = lx.k(i + 1);
    let dangerous = DANGEROUS_AFTER_SEMICOLON.has(next);
    if (next === KW.SET) {
      const what = lx.k(i + 2);
      dangerous = what === KW.GLOBAL || what === KW.PERSIST || what === KW.PASSWORD;
    }
    this.hit(dangerous ? SIGNATURES.stackedDangerous : SIGNATURES.stacked, i + 1);
  }

  private flagSignals(lx: Lexer, truncated: boolean): void {
    const f = lx.flags;
    // A statement cut at the capture limit ends anywhere: its end says nothing.
    if (!truncated) {
      if ((f & F.trailingCommentQuote) !== 0) this.hitAt(SIGNATURES.commentHidesQuote, lx.commentAt);
      else if ((f & F.trailingLineComment) !== 0) this.hitAt(SIGNATURES.trailingComment, lx.commentAt);
      if ((f & F.unterminatedComment) !== 0) this.hitAt(SIGNATURES.unterminatedComment, 0);
      if ((f & F.unterminatedString) !== 0) this.hitAt(SIGNATURES.unbalancedQuote, 0);
    }
    if ((f & F.inlineComment) !== 0) this.hitAt(SIGNATURES.inlineComment, 0);
    if ((f & F.versionedSuspect) !== 0) this.hitAt(SIGNATURES.versionedComment, 0);
    if ((f & F.hexLiteral) !== 0) this.hitAt(SIGNATURES.hexLiteral, 0);
  }

  private hit(d: SignatureDef, token: number): void {
    this.hitAt(d, this.lx!.start[token]!);
  }

  private hitAt(d: SignatureDef, offset: number): void {
    if (this.hits[d.id] === 1) return;
    this.hits[d.id] = 1;
    this.at[d.id] = offset;
    this.any = true;
    const g = this.group[d.rule]!;
    if (d.rule === R.evasion) this.group[d.rule] = Math.min(EVASION_CAP, g + d.weight);
    else if (d.weight > g) this.group[d.rule] = d.weight;
  }
}

/** CREATE PROCEDURE/FUNCTION/TRIGGER/EVENT and MariaDB's BEGIN NOT ATOMIC hold `;` by design. */
function isRoutineBody(lx: Lexer): boolean {
  const first = lx.k(0);
  if (first === KW.BEGIN) return lx.k(1) === KW.NOT;
  if (first !== KW.CREATE) return false;
  for (let i = 1; i < lx.n && lx.kind[i] !== T.semicolon; i++) if (ROUTINES.has(lx.k(i))) return true;
  return false;
}

/** `SELECT SLEEP(1)` or `DO SLEEP(1)` as the whole statement: someone waiting, not injecting. */
function isBareSleep(lx: Lexer, i: number): boolean {
  if (i !== 1 || (lx.k(0) !== KW.SELECT && lx.k(0) !== KW.DO)) return false;
  const arg = lx.t(3);
  if (arg !== T.number && arg !== T.placeholder && arg !== T.variable) return false;
  if (lx.t(4) !== T.rparen) return false;
  return lx.n === 5 || (lx.n === 6 && lx.kind[5] === T.semicolon);
}

/** A word in a select list that is not a column: NULL, TRUE, a function name, a type after AS. */
function constantWord(lx: Lexer, j: number, kw: number): boolean {
  if (kw === KW.TRUE || kw === KW.FALSE || kw === KW.AS || kw === KW.USING) return true;
  if (lx.t(j + 1) === T.lparen) return true;
  const before = lx.k(j - 1);
  return before === KW.AS || before === KW.USING;
}

/** A CONCAT( among the `span` tokens from `from`. */
function concatWithin(lx: Lexer, from: number, span: number): boolean {
  const to = Math.min(lx.n, from + span);
  for (let j = from; j < to; j++) if (lx.kind[j] === T.word && lx.kw[j] === KW.CONCAT) return true;
  return false;
}

function isLiteral(lx: Lexer, i: number): boolean {
  const kind = lx.t(i);
  return kind === T.number || kind === T.string || kind === T.hex;
}

/** The comparison at token i (an OP id, or KW.LIKE + 100), or -1. */
function comparison(lx: Lexer, i: number): number {
  const kind = lx.t(i);
  if (kind === T.word) return lx.kw[i] === KW.LIKE ? 100 + KW.LIKE : -1;
  if (kind !== T.op) return -1;
  const op = lx.kw[i]!;
  return op >= OP.eq && op <= OP.ne ? op : -1;
}

/** The value of a literal: a number, or a string's raw content lowercased. */
function literalValue(lx: Lexer, i: number): number | string {
  const text = lx.text(i);
  if (lx.kind[i] === T.number) return Number(text);
  if (lx.kind[i] === T.hex) return text.toLowerCase();
  const body = text.length >= 2 && text.endsWith(text[0]!) ? text.slice(1, -1) : text.slice(1);
  return body.toLowerCase();
}

function compare(lx: Lexer, a: number, op: number, b: number): boolean {
  let x = literalValue(lx, a);
  let y = literalValue(lx, b);
  if (typeof x !== typeof y) {
    // MySQL compares a string with a number as numbers.
    x = Number(x);
    y = Number(y);
  }
  if (op === 100 + KW.LIKE) return x === y || y === '%';
  switch (op) {
    case OP.eq:
    case OP.nullSafeEq:
    case OP.le:
    case OP.ge:
      return x === y || (op === OP.le ? x < y : op === OP.ge ? x > y : false);
    case OP.ne:
      return x !== y;
    case OP.lt:
      return x < y;
    case OP.gt:
      return x > y;
  }
  return false;
}
