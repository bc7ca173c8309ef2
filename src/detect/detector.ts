// The detector: CommandEvents in, findings out. Synchronous and cheap on ordinary traffic: one
// lexer pass per statement into reused buffers, a signature scan only when the lexer saw a
// trigger, table extraction against a per-user set of hashes; state per session and per address
// exists only once they have had an error or a finding, and every map is bounded.
//
// A rule fires at most once per window for one scope (a session, or an address): a sqlmap run
// gives one finding per rule, not a thousand. The gateway carries out the actions: `kill` ends
// the finding's session, `block` blocks its address for blockSeconds (the guard's exempt list
// still applies).

import type { CommandEvent } from '../model/events.ts';
import { HASH_SEED, Lexer, T, tokenHash } from '../sql/lexer.ts';
import { likeRegExp } from '../sql/like.ts';
import { isBulkValues } from './bulk-insert.ts';
import { type Action, type DetectConfig, RULES, type RuleName, type Severity } from './config.ts';
import { ERROR_CLASS_LABEL, ERROR_CLASSES, isAccessDenied, probeClass } from './error-classes.ts';
import { EVASION, SignatureScan, STATEMENT_RULES } from './signatures.ts';
import { TableScan } from './tables.ts';
import { Lru, WindowCounter } from './window.ts';

export interface Finding {
  rule: RuleName;
  severity: Severity;
  /** What was counted: the session's own statements, or everything from its address. */
  scope: 'session' | 'address';
  /** The session whose command raised the finding (for address scope, the latest one). */
  session: number;
  user: string;
  address: string;
  score: number;
  reason: string;
  /** An excerpt of the statement (redacted upstream), around what matched. */
  evidence: string;
  actions: Action[];
  /** Set when actions include 'block'. */
  blockSeconds?: number;
  /** Epoch ms (the detector's clock). */
  at: number;
}

export interface DetectorStats {
  sessions: number;
  addresses: number;
  users: number;
  findings: Record<RuleName, number>;
}

/** Added to a statement rule's score when the statement failed with a probing or privilege error. */
export const ERROR_BONUS = 25;
/** Distinct failing statements remembered per scope: the same failure repeated counts once. */
const RECENT_FAILURES = 16;
/** Tokens that go into a failing statement's fingerprint. */
const FINGERPRINT_TOKENS = 2048;

const NONE: readonly Finding[] = Object.freeze([]);
/** Clean statements remembered (FIFO), and the longest one remembered: at most 4 MB of text. */
const CLEAN_STATEMENTS = 4096;
const MAX_CLEAN_LENGTH = 1024;
/** Clean statement shapes remembered by digest (a 64-character hash each). */
const CLEAN_SHAPES = 4096;

/**
 * Where a digest's `?` may stand for any literal without changing a signature's verdict: a value
 * compared with a column (`id` = ?, `c` LIKE ?, `k` BETWEEN ? AND ?, `id` IN (...)), a LIMIT, a
 * VALUES row. A `?` anywhere else (`? = ?`, OR ?, SLEEP(?), ORDER BY ?) is a literal the
 * signatures read the value or kind of: such shapes are never shared.
 */
const VALUE_SLOT =
  /`(?:[^`]|``)*` (?:= |<=> |<> |!= |< |> |<= |>= |(?:NOT )?LIKE |(?:NOT )?BETWEEN \? AND )(?:\?|\(\?\))|`(?:[^`]|``)*` (?:NOT )?IN \((?:\?|\.\.\.)\)|LIMIT \?(?:, \.\.\.| OFFSET \?)?|VALUES (?:\((?:\?|\.\.\.)\)(?: \/\* , \.\.\. \*\/)?)/g;

/** Whether every literal of the digest is in a VALUE_SLOT (checked once per shape remembered). */
export function shapeOnly(digestText: string): boolean {
  return !digestText.replace(VALUE_SLOT, '').includes('?');
}

/**
 * Whether the text spells its literals plainly, as the shape's clean verdict assumed: no comment
 * (the digest drops them; the evasion signatures read them), no backslash, no hex or bit literal
 * and no charset introducer (a quote glued to a name or a number), every quote closed.
 */
export function plainText(s: string): boolean {
  let prev = 0x20;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      // x'41', b'01', N'…', _utf8'…': an introducer or a prefix before the quote.
      const glued =
        (prev >= 0x30 && prev <= 0x39) || ((prev | 0x20) >= 0x61 && (prev | 0x20) <= 0x7a) || prev === 0x5f;
      if (c !== 0x60 && glued) return false;
      // To the closing quote; a doubled quote is one inside.
      let j = i + 1;
      for (;;) {
        if (j >= s.length) return false;
        const d = s.charCodeAt(j);
        if (d === 0x5c) return false;
        if (d === c) {
          if (s.charCodeAt(j + 1) === c) j += 2;
          else break;
        } else j++;
      }
      i = j;
      prev = c;
      continue;
    }
    if (c === 0x5c || c === 0x23) return false; // \ and #
    if (c === 0x2d && prev === 0x2d) return false; // --
    if (c === 0x2a && prev === 0x2f) return false; // /*
    if (((c | 0x20) === 0x78 || (c | 0x20) === 0x62) && prev === 0x30) return false; // 0x41, 0b01
    prev = c;
  }
  return true;
}

const R_SQL_ERRORS = RULES.indexOf('sql-errors');
const R_ACCESS_DENIED = RULES.indexOf('access-denied');
const R_NEW_TABLE = RULES.indexOf('new-table');
const R_TRUNCATED = RULES.indexOf('statement-truncated');
/** Rule index of statement rule s. */
const R_STATEMENT = RULES.indexOf(STATEMENT_RULES[0]);

interface Rule {
  name: RuleName;
  enabled: boolean;
  severity: Severity;
  actions: Action[];
  blockSeconds: number;
  exempt: RegExp[];
  /** Burst rules. */
  sessionThreshold: number;
  addressThreshold: number;
  /** Statement rules. */
  minScore: number;
}

class ScopeState {
  errors: WindowCounter | null = null;
  denied: WindowCounter | null = null;
  recent: Int32Array | null = null;
  recentNext = 0;
  /** Per rule: no new finding before this time. */
  readonly quietUntil = new Float64Array(RULES.length);
}

class UserState {
  readonly since: number;
  statements = 0;
  learning = true;
  /** Past maxTablesPerUser: no longer checked. */
  full = false;
  readonly tables = new Set<number>();
  constructor(since: number) {
    this.since = since;
  }
}

export class Detector {
  private cfg: DetectConfig;
  private readonly now: () => number;
  private rules: Rule[] = [];
  private windowMs = 0;
  private anyStatementRule = false;
  private anyExempt = false;
  private readonly sessions: Lru<number, ScopeState>;
  private readonly addresses: Lru<string, ScopeState>;
  private readonly users: Lru<string, UserState>;
  private readonly exemptCache = new Map<string, number>();
  private readonly lexer = new Lexer();
  private readonly signatures = new SignatureScan();
  private readonly tables = new TableScan();
  private readonly counts = new Float64Array(RULES.length);
  /**
   * Statements recently seen to match nothing, with the user and database whose known tables
   * cover them (user null: no table to check). A prepared statement's text repeats on every
   * execution; this skips the lexer for it.
   */
  private readonly clean: Lru<string, { user: UserState | null; database: string | null }>;
  /**
   * The same by digest, for shapes whose verdict no literal can change (shapeOnly) and texts
   * that spell their literals plainly (plainText): `WHERE id = 1` and `= 2` share one verdict.
   */
  private readonly cleanShapes: Lru<string, { user: UserState | null; database: string | null }>;
  /** Statements let through by a remembered shape (tests, profiling). */
  shapeHits = 0;
  /** Set by newTables: the user whose tables cover the statement, null for none, undefined: not covered. */
  private verified: UserState | null | undefined = undefined;

  constructor(config: DetectConfig, now: () => number = Date.now) {
    this.cfg = config;
    this.now = now;
    this.sessions = new Lru(config.maxSessions);
    this.addresses = new Lru(config.maxAddresses);
    this.users = new Lru(config.maxUsers);
    this.clean = new Lru(CLEAN_STATEMENTS);
    this.cleanShapes = new Lru(CLEAN_SHAPES);
    this.configure(config);
  }

  /** A configuration reload: windows restart if their length changed; learned tables stay. */
  update(config: DetectConfig): void {
    if (config.windowSeconds !== this.cfg.windowSeconds) {
      this.sessions.clear();
      this.addresses.clear();
    }
    this.cfg = config;
    this.sessions.capacity = config.maxSessions;
    this.addresses.capacity = config.maxAddresses;
    this.users.capacity = config.maxUsers;
    this.exemptCache.clear();
    this.clean.clear();
    this.cleanShapes.clear();
    this.configure(config);
  }

  /** Look at one finished command; the findings it raises (usually none: a shared empty array). */
  observe(e: CommandEvent): readonly Finding[] {
    if (!this.cfg.enabled) return NONE;
    const failed = e.status === 'ERR';
    const cls = failed ? probeClass(e.errorCode) : -1;
    const denied = failed && isAccessDenied(e.errorCode);
    const ok = e.status === 'OK';
    const stmt = e.statement;
    // A cut statement is never remembered as clean: its cut is a finding of its own every window.
    const cacheable = ok && stmt !== null && stmt.length <= MAX_CLEAN_LENGTH && !e.statementTruncated;
    const digest = cacheable ? e.digest : undefined;
    if (cacheable) {
      const v = this.clean.get(stmt);
      if (v !== undefined && this.covers(v, e)) return NONE;
      if (digest != null && !digest.truncated) {
        const w = this.cleanShapes.get(digest.hash);
        if (w !== undefined && this.covers(w, e) && plainText(stmt)) {
          this.shapeHits++;
          return NONE;
        }
      }
    }
    const tableCheck = ok && this.rules[R_NEW_TABLE]!.enabled;
    const lexed =
      stmt !== null && stmt.length > 0 && (this.anyStatementRule || tableCheck || cls >= 0 || denied);
    if (lexed) this.lexer.lex(stmt);
    let out: Finding[] | null = null;
    try {
      if (lexed && this.anyStatementRule) out = this.statementRules(e, cls >= 0 || denied, out);
      if (cls >= 0 && this.rules[R_SQL_ERRORS]!.enabled) out = this.burst(e, R_SQL_ERRORS, cls, lexed, out);
      if (denied && this.rules[R_ACCESS_DENIED]!.enabled) out = this.burst(e, R_ACCESS_DENIED, 0, lexed, out);
      this.verified = tableCheck ? undefined : null;
      if (lexed && tableCheck) out = this.newTables(e, out);
      if (e.statementTruncated && stmt !== null && this.rules[R_TRUNCATED]!.enabled)
        out = this.truncated(e, lexed, out);
      if (cacheable && lexed && out === null && !this.signatures.any && this.verified !== undefined) {
        const verdict = { user: this.verified, database: e.database };
        this.clean.set(stmt, verdict);
        if (digest != null && !digest.truncated && plainText(stmt) && shapeOnly(digest.text))
          this.cleanShapes.set(digest.hash, verdict);
      }
    } finally {
      if (lexed) this.lexer.release();
    }
    return out ?? NONE;
  }

  /** A remembered clean verdict holds for this event: no table to check, or the same user's and database's. */
  private covers(v: { user: UserState | null; database: string | null }, e: CommandEvent): boolean {
    if (v.user === null) return true;
    if (v.user !== this.users.get(e.user) || v.database !== e.database) return false;
    if (v.user.learning) this.learnt(v.user, true);
    return true;
  }

  /** One more statement of a learning user (counted here when newTables did not see it). */
  private learnt(user: UserState, count: boolean): void {
    if (count) user.statements++;
    const r = this.cfg.rules['new-table'];
    if (user.statements >= r.learnStatements && this.now() - user.since >= r.learnSeconds * 1000) {
      user.learning = false;
    }
  }

  sessionEnded(session: number): void {
    this.sessions.delete(session);
  }

  stats(): DetectorStats {
    const findings = {} as Record<RuleName, number>;
    for (const [i, name] of RULES.entries()) findings[name] = this.counts[i]!;
    return {
      sessions: this.sessions.size,
      addresses: this.addresses.size,
      users: this.users.size,
      findings,
    };
  }

  private configure(config: DetectConfig): void {
    this.windowMs = config.windowSeconds * 1000;
    this.rules = RULES.map((name) => {
      const r = config.rules[name];
      return {
        name,
        enabled: r.enabled,
        severity: r.severity,
        actions: [...new Set(r.actions)],
        blockSeconds: r.blockSeconds,
        exempt: r.exemptUsers.map((u) => likeRegExp(u)),
        sessionThreshold: 'sessionThreshold' in r ? r.sessionThreshold : 0,
        addressThreshold: 'addressThreshold' in r ? r.addressThreshold : 0,
        minScore: 'minScore' in r ? r.minScore : 0,
      };
    });
    this.anyStatementRule = STATEMENT_RULES.some((_, s) => this.rules[R_STATEMENT + s]!.enabled);
    this.anyExempt = this.rules.some((r) => r.exempt.length > 0);
  }

  private statementRules(e: CommandEvent, probing: boolean, out: Finding[] | null): Finding[] | null {
    const scan = this.signatures;
    if (!scan.scan(this.lexer, e.statementTruncated)) return out;
    const bonus = probing ? ERROR_BONUS : 0;
    let matched = false;
    // Evasion signals alone are a finding only when no stronger rule took the statement.
    for (let g = 0; g < STATEMENT_RULES.length; g++) {
      if (g === EVASION && matched) break;
      const index = R_STATEMENT + g;
      const rule = this.rules[index]!;
      const score = scan.score(g, bonus);
      if (!rule.enabled || score === 0 || score < rule.minScore || this.exempt(e.user, index)) continue;
      matched = true;
      const now = this.now();
      const state = this.session(e.session);
      if (now < state.quietUntil[index]!) continue;
      state.quietUntil[index] = now + this.windowMs;
      const labels = scan.labels(g);
      if (bonus > 0) labels.push(`statement failed with ERR ${e.errorCode}`);
      const severity = score >= this.cfg.highScore ? 'high' : rule.severity;
      out = this.push(out, rule, index, e, {
        scope: 'session',
        severity,
        score,
        reason: labels.join('; '),
        evidence: this.excerpt(e, scan.offset(g)),
        at: now,
      });
    }
    return out;
  }

  /** The statement was longer than moat captures: the rest was never looked at. Once per window per session. */
  private truncated(e: CommandEvent, lexed: boolean, out: Finding[] | null): Finding[] | null {
    if (e.command === 'Init_DB' || this.exempt(e.user, R_TRUNCATED)) return out;
    if (lexed && isBulkValues(this.lexer)) return out;
    const now = this.now();
    const state = this.session(e.session);
    if (now < state.quietUntil[R_TRUNCATED]!) return out;
    state.quietUntil[R_TRUNCATED] = now + this.windowMs;
    const rule = this.rules[R_TRUNCATED]!;
    const sent = e.statementBytes === undefined ? 'more' : `${e.statementBytes}`;
    return this.push(out, rule, R_TRUNCATED, e, {
      scope: 'session',
      severity: rule.severity,
      score: this.cfg.rules['statement-truncated'].score,
      reason: `statement of ${sent} bytes cut at ${Buffer.byteLength(e.statement ?? '')} captured: the rest was not inspected`,
      evidence: this.excerpt(e, 0),
      at: now,
    });
  }

  private burst(e: CommandEvent, index: number, cls: number, lexed: boolean, out: Finding[] | null) {
    const rule = this.rules[index]!;
    if (this.exempt(e.user, index)) return out;
    const now = this.now();
    const print = this.fingerprint(e, lexed);
    for (const scope of ['session', 'address'] as const) {
      const threshold = scope === 'session' ? rule.sessionThreshold : rule.addressThreshold;
      if (threshold === 0) continue;
      const state = scope === 'session' ? this.session(e.session) : this.address(e.clientAddress);
      if (repeated(state, print)) continue;
      let counter: WindowCounter;
      if (index === R_SQL_ERRORS)
        counter = state.errors ??= new WindowCounter(this.windowMs, ERROR_CLASSES.length);
      else counter = state.denied ??= new WindowCounter(this.windowMs);
      counter.add(now, cls);
      const total = counter.total(now);
      if (total < threshold || now < state.quietUntil[index]!) continue;
      state.quietUntil[index] = now + this.windowMs;
      const from = scope === 'session' ? 'this session' : `address ${e.clientAddress}`;
      let what: string;
      if (index === R_SQL_ERRORS) {
        const parts = counter
          .byClass(now)
          .map((n, c) => (n > 0 ? `${ERROR_CLASS_LABEL[ERROR_CLASSES[c]!]} ${n}` : ''))
          .filter((p) => p !== '');
        what = `${total} distinct failing statements (${parts.join(', ')})`;
      } else {
        what = `${total} access-denied errors`;
      }
      out = this.push(out, rule, index, e, {
        scope,
        severity: rule.severity,
        score: total,
        reason: `${what} in ${this.cfg.windowSeconds} s from ${from}; last ERR ${e.errorCode}`,
        evidence: this.excerpt(e, 0),
        at: now,
      });
    }
    return out;
  }

  private newTables(e: CommandEvent, out: Finding[] | null): Finding[] | null {
    const n = this.tables.scan(this.lexer, e.database);
    if (n === 0) {
      this.verified = null;
      return out;
    }
    const rule = this.rules[R_NEW_TABLE]!;
    if (this.exempt(e.user, R_NEW_TABLE)) return out;
    const r = this.cfg.rules['new-table'];
    let user = this.users.get(e.user);
    if (user === undefined) {
      user = new UserState(this.now());
      this.users.set(e.user, user);
    }
    if (user.full) {
      this.verified = user;
      return out;
    }
    user.statements++;
    const tables = this.tables;
    if (user.learning) {
      const known = user.tables.size;
      for (let k = 0; k < n; k++) user.tables.add(tables.hash[k]!);
      if (user.tables.size >= r.maxTablesPerUser) user.full = true;
      else this.learnt(user, false);
      // Nothing new learnt: the statement is covered by the user's tables and may be remembered
      // (its repeats then count towards learnStatements without being lexed: see observe).
      if (user.tables.size === known) this.verified = user;
      return out;
    }
    let names: string[] | null = null;
    let first = 0;
    for (let k = 0; k < n; k++) {
      const h = tables.hash[k]!;
      if (user.tables.has(h)) continue;
      user.tables.add(h);
      // A table the user just created is its own, not a new one to report.
      if (k < tables.created) continue;
      if (names === null) {
        names = [];
        first = this.lexer.start[tables.first[k]!]!;
      }
      const name = tables.name(this.lexer, k);
      if (!names.includes(name)) names.push(name);
    }
    if (user.tables.size >= r.maxTablesPerUser) user.full = true;
    if (names === null) {
      this.verified = user;
      return out;
    }
    return this.push(out, rule, R_NEW_TABLE, e, {
      scope: 'session',
      severity: rule.severity,
      score: names.length,
      reason: `first access by ${e.user} to ${names.join(', ')} (${user.tables.size - names.length} tables known before)`,
      evidence: this.excerpt(e, first),
      at: this.now(),
    });
  }

  private push(
    out: Finding[] | null,
    rule: Rule,
    index: number,
    e: CommandEvent,
    f: Pick<Finding, 'scope' | 'severity' | 'score' | 'reason' | 'evidence' | 'at'>,
  ): Finding[] {
    this.counts[index]!++;
    const finding: Finding = {
      rule: rule.name,
      severity: f.severity,
      scope: f.scope,
      session: e.session,
      user: e.user,
      address: e.clientAddress,
      score: f.score,
      reason: f.reason,
      evidence: f.evidence,
      actions: [...rule.actions],
      at: f.at,
    };
    if (rule.actions.includes('block')) finding.blockSeconds = rule.blockSeconds;
    if (out === null) return [finding];
    out.push(finding);
    return out;
  }

  private session(id: number): ScopeState {
    let s = this.sessions.touch(id);
    if (s === undefined) {
      s = new ScopeState();
      this.sessions.set(id, s);
    }
    return s;
  }

  private address(ip: string): ScopeState {
    let s = this.addresses.touch(ip);
    if (s === undefined) {
      s = new ScopeState();
      this.addresses.set(ip, s);
    }
    return s;
  }

  private exempt(user: string, index: number): boolean {
    if (!this.anyExempt) return false;
    let mask = this.exemptCache.get(user);
    if (mask === undefined) {
      mask = 0;
      for (const [i, r] of this.rules.entries()) if (r.exempt.some((re) => re.test(user))) mask |= 1 << i;
      if (this.exemptCache.size >= this.cfg.maxUsers) this.exemptCache.clear();
      this.exemptCache.set(user, mask);
    }
    return (mask & (1 << index)) !== 0;
  }

  /** The shape of a failing statement: its words and operators, literals as their kind, and the error. */
  private fingerprint(e: CommandEvent, lexed: boolean): number {
    let h = Math.imul(HASH_SEED ^ e.errorCode, 0x01000193);
    if (!lexed) {
      // No text (COM_INIT_DB, COM_FIELD_LIST …): the command and its database tell failures apart.
      const what = `${e.command} ${e.database ?? ''}`;
      for (let i = 0; i < what.length; i++) h = Math.imul(h ^ what.charCodeAt(i), 0x01000193);
      return h;
    }
    const lx = this.lexer;
    const n = Math.min(lx.n, FINGERPRINT_TOKENS);
    for (let i = 0; i < n; i++) {
      const kind = lx.kind[i]!;
      h = Math.imul(h ^ kind, 0x01000193);
      if (kind === T.word || kind === T.ident || kind === T.op || kind === T.variable)
        h = tokenHash(lx, i, h);
    }
    return h;
  }

  private excerpt(e: CommandEvent, offset: number): string {
    const s = e.statement;
    if (s === null) return '';
    const max = this.cfg.evidenceLength;
    const tail = e.statementTruncated ? '…' : '';
    if (s.length <= max) return s + tail;
    const start = Math.max(0, Math.min(offset - (max >> 2), s.length - max));
    const end = start + max;
    return (start > 0 ? '…' : '') + s.slice(start, end) + (end < s.length ? '…' : tail);
  }
}

/** Whether this failure's fingerprint is among the scope's recent ones; remembers it if not. */
function repeated(state: ScopeState, print: number): boolean {
  state.recent ??= new Int32Array(RECENT_FAILURES);
  const recent = state.recent;
  const filled = Math.min(state.recentNext, RECENT_FAILURES);
  for (let i = 0; i < filled; i++) if (recent[i] === print) return true;
  recent[state.recentNext % RECENT_FAILURES] = print;
  state.recentNext++;
  return false;
}
