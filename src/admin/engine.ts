// The admin port's SQL: full SELECTs (joins, WHERE, GROUP BY, ORDER BY, LIMIT, functions) run in
// an embedded SQLite database (node:sqlite) holding moat's runtime state as tables named and
// shaped as MySQL's, so queries written for a MySQL server run unchanged; the statements a DBA
// expects (FLUSH HOSTS, SHOW STATUS / VARIABLES / PROCESSLIST, SET GLOBAL, KILL) and moat's own
// (BLOCK HOST / UNBLOCK HOST) are recognised before SQL is.
//
// Nothing else runs: the engine is shared by every admin and lives in moat's process, so a
// statement that is not one of moat's own must be a single SELECT (or WITH … SELECT) over moat's
// tables. The statement's first word is checked, and an SQLite authorizer (which sees what the
// compiled statement would really do) allows only reads of moat's schemas: no ATTACH (files
// anywhere), PRAGMA, VACUUM INTO, transactions (a BEGIN would hold the engine for everyone),
// writes or load_extension, however the text is dressed.
import { DatabaseSync, constants as SQLITE, type StatementSync } from 'node:sqlite';
import type { Guard } from '../guard/guard.ts';
import { InvalidAddressError, parseClientAddress } from '../model/address.ts';
import type { ReloadReport } from '../model/reload.ts';
import type { SessionInfo } from '../model/session.ts';
import { POSTURE_OFF, type PostureResult } from '../posture/runner.ts';
import { formatServerError, type ServerError } from '../protocol/error-codes.ts';
import { type Cell, type Column, FieldType } from '../protocol/packets/resultset.ts';
import type { DigestSummary } from '../sql/digest-table.ts';
import { likeRegExp } from '../sql/like.ts';
import type { SqlFirewall } from '../sqlfw/engine.ts';
import { FleetUnavailableError, type FleetView } from '../state/redis/fleet.ts';
import { adminTables } from './admin-tables.ts';
import { ACCOUNT_DIGEST_TABLE, DIGEST_TABLE, digestTables } from './digest-tables.ts';
import { FLEET_TABLES } from './fleet-tables.ts';
import type { AdminGuard } from './guard.ts';
import { callProcedure, ProcedureError, sqlfwTables } from './sqlfw-tables.ts';
import { TABLES as LOCAL_TABLES, type TableDef } from './tables.ts';

const NAMES_FLEET = /\bfleet_\w+/i;
const POSTURE_SELECT = 'SELECT SEVERITY, AREA, ID, SUBJECT, SEEN, FIX FROM moat.posture_findings';
const CHECK_POSTURE = /^\s*CHECK\s+POSTURE\s*;?\s*$/i;

export interface AdminRuntime {
  guard: Guard;
  sessions(): SessionInfo[];
  /** Ends a session of the gateway; false when there is none with that id. */
  kill(id: number): boolean;
  /** SHOW VARIABLES, all of them. */
  variables(): Array<[string, string | number]>;
  /** SHOW STATUS, all of them. */
  status(): Array<[string, number]>;
  /** SET GLOBAL; persisted by the runtime. Throws AdminError. */
  setVariable(name: string, value: number): void;
  /** The most recent statements that failed (newest last), bounded. */
  sqlErrors(): SqlErrorRow[];
  /** Re-reads the configuration; returns the settings that only a restart applies. Throws AdminError. */
  reload(): ReloadReport;
  /** The fleet's state on Redis (state.store: redis). Rejects with FleetUnavailableError; undefined without a fleet. */
  fleetView?(): Promise<FleetView>;
  /** The last posture check; null when no check account is configured. */
  posture(): PostureResult | null;
  /** Runs the posture check now. Throws AdminError when it is not configured. */
  checkPosture(): Promise<PostureResult>;
  /** Statement digests (events_statements_summary_by_digest); absent: no digest tables. */
  digests?: DigestSummary | null;
  /** The SQL firewall (sqlfw/): its tables and CALL mysql.sp_* statements; absent: none. */
  sqlFirewall?: SqlFirewall | null;
}

export interface SqlErrorRow {
  time: number;
  session: number;
  user: string;
  host: string;
  code: number;
  state: string | null;
  message: string | null;
  /** Redacted. */
  statement: string | null;
}

/** Who runs a statement (for KILL / BLOCK attribution, errors and the statement log). */
export interface AdminCaller {
  user: string;
  host: string;
  db: string | null;
  connectionId: number;
  /** readonly: SELECT / SHOW and session settings only (1227 for the rest). */
  role: 'admin' | 'readonly';
}

export type AdminResult =
  | { kind: 'rows'; columns: Column[]; rows: Cell[][] }
  | { kind: 'ok'; affectedRows: number; info?: string; db?: string | null };

/** BLOCK / UNBLOCK HOST of text that is no IP address: MySQL's 1210, naming the statement. */
function badHost(statement: string, e: InvalidAddressError): AdminError {
  return new AdminError(formatServerError('ER_WRONG_ARGUMENTS', `${statement}: ${e.message}`));
}

export class AdminError extends Error {
  readonly error: ServerError;
  constructor(error: ServerError) {
    super(error.message);
    this.error = error;
    this.name = 'AdminError';
  }
}

// `mysql` holds MySQL Enterprise Firewall's tables (mysql.firewall_users …) when the SQL firewall is on.
export const SCHEMAS = ['information_schema', 'moat', 'mysql', 'performance_schema'] as const;

const UNIT_MS: Record<string, number> = { SECOND: 1000, MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 };
const WRITE = /^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE|RENAME|GRANT|REVOKE|LOAD)\b/i;
/** What may go to SQLite at all; the authorizer then checks what it would do. */
const QUERY = /^(?:SELECT|WITH|VALUES)\b|^\(/i;
/** SQLite's statement-level verbs that reach the file system or hold the shared engine. */
const SQLITE_ONLY =
  /^(ATTACH|DETACH|PRAGMA|VACUUM|BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|REINDEX|ANALYZE|EXPLAIN)\b/i;
/** The authorizer's answers for reads of moat's tables; everything else is denied. */
const READS: ReadonlySet<number> = new Set([
  SQLITE.SQLITE_SELECT,
  SQLITE.SQLITE_READ,
  SQLITE.SQLITE_FUNCTION,
  SQLITE.SQLITE_RECURSIVE,
]);

export class AdminEngine {
  private readonly rt: AdminRuntime;
  private readonly db: DatabaseSync;
  private readonly fill = new Map<TableDef, { clear: StatementSync; insert: StatementSync }>();
  private caller: AdminCaller | null = null;
  private fleet: FleetView | null = null;
  private readonly admin: AdminGuard | null;
  private readonly tables: readonly TableDef[];
  /** True while a client's statement is prepared and run: the authorizer's rules apply. */
  private untrusted = false;

  constructor(runtime: AdminRuntime, admin: AdminGuard | null = null) {
    this.rt = runtime;
    this.admin = admin;
    this.tables = [
      ...LOCAL_TABLES,
      ...FLEET_TABLES,
      ...(admin === null ? [] : adminTables(admin.guard)),
      ...(runtime.digests == null ? [] : digestTables(runtime.digests)),
      ...(runtime.sqlFirewall == null ? [] : sqlfwTables(runtime.sqlFirewall)),
    ];
    this.db = new DatabaseSync(':memory:', { allowExtension: false });
    this.db.enableDefensive(true);
    for (const s of SCHEMAS) this.db.exec(`ATTACH DATABASE ':memory:' AS ${s}`);
    this.db.setAuthorizer((action, arg1, arg2, schema) => {
      if (!this.untrusted) return SQLITE.SQLITE_OK;
      if (!READS.has(action)) return SQLITE.SQLITE_DENY;
      if (action === SQLITE.SQLITE_FUNCTION) {
        return arg2?.toLowerCase() === 'load_extension' ? SQLITE.SQLITE_DENY : SQLITE.SQLITE_OK;
      }
      // Reads: moat's schemas only (not SQLite's own catalog); a CTE or subquery has no schema.
      if (action === SQLITE.SQLITE_READ) {
        if (arg1?.toLowerCase().startsWith('sqlite_')) return SQLITE.SQLITE_DENY;
        if (schema !== null && !(SCHEMAS as readonly string[]).includes(schema)) return SQLITE.SQLITE_DENY;
      }
      return SQLITE.SQLITE_OK;
    });
    for (const t of this.tables) {
      const cols = t.columns.map(([n, type]) => `"${n}" ${type}`).join(', ');
      this.db.exec(`CREATE TABLE ${t.schema}."${t.name}" (${cols})`);
      this.fill.set(t, {
        clear: this.db.prepare(`DELETE FROM ${t.schema}."${t.name}"`),
        insert: this.db.prepare(
          `INSERT INTO ${t.schema}."${t.name}" VALUES (${t.columns.map(() => '?').join(', ')})`,
        ),
      });
    }
    this.registerFunctions();
  }

  /**
   * What a statement needs that is not in this process: the fleet's state on Redis, for a statement
   * naming a fleet_ table. Its result goes to execute(); rejects with AdminError.
   */
  async prepare(statement: string, caller: AdminCaller): Promise<FleetView | null> {
    if (CHECK_POSTURE.test(statement)) {
      if (caller.role === 'readonly') throw denied('SUPER');
      // Runs here, where waiting is allowed; execute() then shows its findings.
      await this.rt.checkPosture();
      return null;
    }
    if (!NAMES_FLEET.test(statement)) return null;
    if (this.rt.fleetView === undefined) {
      throw new AdminError(
        formatServerError('ER_UNKNOWN_ERROR', 'fleet views need the shared state: set state.store to redis'),
      );
    }
    try {
      return await this.rt.fleetView();
    } catch (e) {
      const message = e instanceof FleetUnavailableError ? e.message : `fleet state: ${(e as Error).message}`;
      throw new AdminError(formatServerError('ER_UNKNOWN_ERROR', message));
    }
  }

  /** Runs one statement. Throws AdminError with the MySQL error a client should see. */
  execute(statement: string, caller: AdminCaller, fleet: FleetView | null = null): AdminResult {
    this.caller = caller;
    this.fleet = fleet;
    const sql = statement
      .replace(/^\s*(\/\*[\s\S]*?\*\/\s*)*/, '')
      .replace(/[;\s]+$/, '')
      .trim();
    if (sql === '') throw new AdminError(formatServerError('ER_PARSE_ERROR', 'Query was empty'));
    if (hasSecondStatement(sql)) {
      throw new AdminError(
        formatServerError('ER_PARSE_ERROR', "moat's admin port runs one statement at a time (no ';' inside)"),
      );
    }
    return this.command(sql, caller) ?? this.select(sql, caller);
  }

  /** The statements that are not SQL over tables; undefined for "run it as a query". */
  private command(sql: string, caller: AdminCaller): AdminResult | undefined {
    for (const [pattern, handle, privilege] of this.routes) {
      const m = pattern.exec(sql);
      if (m === null) continue;
      if (privilege !== undefined && caller.role === 'readonly') throw denied(privilege);
      return handle(m, caller);
    }
    return undefined;
  }

  /**
   * Statement patterns, tried in order, and what each does; the third element is the MySQL
   * privilege a statement that changes something needs (a readonly account gets 1227 for it).
   */
  private readonly routes: ReadonlyArray<
    readonly [RegExp, (m: RegExpExecArray, caller: AdminCaller) => AdminResult, string?]
  > = [
    [
      /^(?:FLUSH\s+HOSTS|TRUNCATE\s+(?:TABLE\s+)?(?:`?performance_schema`?\.)?`?host_cache`?)$/i,
      () => {
        this.rt.guard.flushHosts();
        return { kind: 'ok', affectedRows: 0 };
      },
      'RELOAD',
    ],
    [
      // MySQL resets a summary table with TRUNCATE (it needs DROP there); the per-account
      // breakdown is the same store, so either name resets both.
      new RegExp(
        `^TRUNCATE\\s+(?:TABLE\\s+)?(?:\`?(?:performance_schema|moat)\`?\\s*\\.\\s*)?\`?(?:${DIGEST_TABLE}|${ACCOUNT_DIGEST_TABLE})\`?$`,
        'i',
      ),
      () => {
        this.rt.digests?.truncate();
        return { kind: 'ok', affectedRows: 0 };
      },
      'DROP',
    ],
    [
      // MySQL Enterprise Firewall's procedures (admin/sqlfw-tables.ts); every call is an Admin audit record.
      /^CALL\s+(?:`?mysql`?\s*\.\s*)?`?(\w+)`?\s*\(([\s\S]*)\)$/i,
      (m) => {
        const fw = this.rt.sqlFirewall;
        if (fw == null)
          throw new AdminError(
            formatServerError('ER_UNKNOWN_ERROR', 'the SQL firewall is off (sqlFirewall.enabled)'),
          );
        try {
          const r = callProcedure(fw, m[1]!, m[2]!);
          return { kind: 'ok', affectedRows: r.affectedRows, info: r.info };
        } catch (e) {
          if (e instanceof ProcedureError) throw new AdminError(e.error);
          throw e;
        }
      },
      'FIREWALL_ADMIN',
    ],
    [
      /^CHECK\s+POSTURE$/i,
      () => {
        const p = this.rt.posture();
        if (p === null) throw new AdminError(formatServerError('ER_UNKNOWN_ERROR', POSTURE_OFF));
        if (p.error !== null)
          throw new AdminError(formatServerError('ER_UNKNOWN_ERROR', `moat check: ${p.error}`));
        return this.select(POSTURE_SELECT, this.caller!);
      },
    ],
    [
      /^SHOW\s+(?:GLOBAL\s+|SESSION\s+)?(STATUS|VARIABLES)(?:\s+LIKE\s+'((?:[^'\\]|\\.|'')*)')?$/i,
      (m) => {
        const all = m[1]!.toUpperCase() === 'STATUS' ? this.rt.status() : this.rt.variables();
        // The pattern is an SQL string literal: '' inside it is one quote.
        const like = m[2] === undefined ? null : likeRegExp(m[2].replace(/''/g, "'"), { ignoreCase: true });
        return {
          kind: 'rows',
          columns: [
            { name: 'Variable_name', type: FieldType.VAR_STRING },
            { name: 'Value', type: FieldType.VAR_STRING },
          ],
          rows: all.filter(([n]) => like === null || like.test(n)).map(([n, v]) => [n, String(v)]),
        };
      },
    ],
    [
      /^SET\s+(?:GLOBAL\s+|@@GLOBAL\.|PERSIST\s+|@@PERSIST\.)(\w+)\s*=\s*(\S+)$/i,
      (m) => {
        this.rt.setVariable(m[1]!.toLowerCase(), Number(m[2]!.replace(/^'(.*)'$/, '$1')));
        return { kind: 'ok', affectedRows: 0 };
      },
      'SYSTEM_VARIABLES_ADMIN',
    ],
    // Session settings clients send on connect (SET NAMES, autocommit, sql_mode …): accepted.
    [/^SET\s/i, () => ({ kind: 'ok', affectedRows: 0 })],
    [
      /^SHOW\s+(?:FULL\s+)?PROCESSLIST$/i,
      () => ({
        kind: 'rows',
        columns: ['Id', 'User', 'Host', 'db', 'Command', 'Time', 'State', 'Info'].map((name) => ({
          name,
          type: name === 'Id' || name === 'Time' ? FieldType.LONGLONG : FieldType.VAR_STRING,
        })),
        rows: this.rt
          .sessions()
          .map((s) => [s.id, s.user, s.host, s.db, s.command, s.timeSeconds, s.state, null]),
      }),
    ],
    [
      /^KILL\s+(?:CONNECTION\s+|QUERY\s+)?(\d+)$/i,
      (m) => {
        if (!this.rt.kill(Number(m[1]))) throw new AdminError(formatServerError('ER_NO_SUCH_THREAD', m[1]!));
        return { kind: 'ok', affectedRows: 0 };
      },
      'CONNECTION_ADMIN',
    ],
    [
      /^BLOCK\s+HOST\s+'([^']*)'(?:\s+FOR\s+(\d+)\s*(SECOND|MINUTE|HOUR|DAY)S?)?$/i,
      (m, caller) => {
        const ms = m[2] === undefined ? null : Number(m[2]) * UNIT_MS[m[3]!.toUpperCase()]!;
        try {
          this.rt.guard.block(m[1]!, `${caller.user}@${caller.host}`, ms);
        } catch (e) {
          if (e instanceof InvalidAddressError) throw badHost('BLOCK HOST', e);
          throw new AdminError(formatServerError('ER_WRONG_VALUE_FOR_VAR', (e as Error).message));
        }
        return { kind: 'ok', affectedRows: 1 };
      },
      'SUPER',
    ],
    [
      /^RELOAD\s+CONFIG(?:URATION)?$/i,
      () => {
        const r = this.rt.reload();
        const parts = ['reloaded'];
        if (r.applied.length > 0) parts.push(`applied: ${r.applied.join(', ')}`);
        if (r.needsRestart.length > 0) parts.push(`needs a restart: ${r.needsRestart.join(', ')}`);
        return { kind: 'ok', affectedRows: 0, info: parts.join('; ') };
      },
      'RELOAD',
    ],
    [
      /^UNBLOCK\s+HOST\s+'([^']*)'$/i,
      (m) => {
        const a = parseClientAddress(m[1]!);
        if (a instanceof InvalidAddressError) throw badHost('UNBLOCK HOST', a);
        return { kind: 'ok', affectedRows: this.rt.guard.unblock(a) === null ? 0 : 1 };
      },
      'SUPER',
    ],
    [
      // The admin side's own blocks (moat.admin_blocked_hosts), made by the admin guard.
      /^UNBLOCK\s+ADMIN\s+HOST\s+'([^']+)'$/i,
      (m) => ({ kind: 'ok', affectedRows: this.admin?.unblock(m[1]!) === true ? 1 : 0 }),
      'SUPER',
    ],
    [
      /^USE\s+`?(\w+)`?$/i,
      (m) => {
        const db = m[1]!.toLowerCase();
        if (!(SCHEMAS as readonly string[]).includes(db)) {
          throw new AdminError(formatServerError('ER_BAD_DB_ERROR', m[1]!));
        }
        return { kind: 'ok', affectedRows: 0, db };
      },
    ],
    [
      /^SHOW\s+DATABASES$/i,
      () => ({
        kind: 'rows',
        columns: [{ name: 'Database', type: FieldType.VAR_STRING }],
        rows: SCHEMAS.map((s) => [s]),
      }),
    ],
    [
      /^SHOW\s+(?:FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+`?(\w+)`?)?$/i,
      (m, caller) => {
        const db = (m[1] ?? caller.db ?? '').toLowerCase();
        if (!(SCHEMAS as readonly string[]).includes(db))
          throw new AdminError(formatServerError('ER_BAD_DB_ERROR', db));
        return {
          kind: 'rows',
          columns: [{ name: `Tables_in_${db}`, type: FieldType.VAR_STRING }],
          rows: this.tables.filter((t) => t.schema === db).map((t) => [t.name]),
        };
      },
    ],
    [
      SQLITE_ONLY,
      (m) => {
        throw new AdminError(
          formatServerError(
            'ER_PARSE_ERROR',
            `moat's admin port runs SELECT over moat's tables, SHOW and moat's own statements; ` +
              `${m[1]!.toUpperCase()} is not one of them (no files, no pragmas, no transactions)`,
          ),
        );
      },
    ],
    [
      WRITE,
      (m, caller) => {
        const table =
          /\b(?:INTO|UPDATE|FROM|TABLE)\s+`?(?:\w+`?\.`?)?(\w+)/i.exec(m.input)?.[1] ?? 'host_cache';
        throw new AdminError(
          formatServerError(
            'ER_TABLEACCESS_DENIED_ERROR',
            m[1]!.toUpperCase(),
            caller.user,
            caller.host,
            table,
          ),
        );
      },
    ],
  ];

  private select(sql: string, caller: AdminCaller): AdminResult {
    if (!QUERY.test(sql)) {
      const word = /^\S+/.exec(sql)?.[0] ?? '';
      throw new AdminError(
        formatServerError(
          'ER_PARSE_ERROR',
          `You have an error in your SQL syntax near '${word.slice(0, 40)}': moat's admin port runs SELECT, SHOW and moat's own statements`,
        ),
      );
    }
    const text = this.substituteVariables(sql);
    this.refresh(text);
    let stmt: StatementSync;
    let rows: unknown[][];
    this.untrusted = true;
    try {
      try {
        stmt = this.db.prepare(text);
      } catch (e) {
        throw new AdminError(sqliteError(e as Error, sql, caller));
      }
      stmt.setReturnArrays(true);
      // Picosecond timers pass 2^53 (SUM_TIMER_WAIT of a busy digest): read integers exactly.
      stmt.setReadBigInts(true);
      try {
        rows = stmt.all() as unknown as unknown[][];
      } catch (e) {
        throw new AdminError(sqliteError(e as Error, sql, caller));
      }
    } finally {
      this.untrusted = false;
    }
    const meta = stmt.columns();
    const written = selectListNames(text, meta.length);
    const columns: Column[] = meta.map((c, i) => ({
      name: written?.[i]?.toLowerCase() === c.name.toLowerCase() ? written[i]! : c.name,
      type: fieldType(c.type, rows[0]?.[i]),
      schema: c.database === 'main' ? (caller.db ?? '') : (c.database ?? ''),
      table: c.table ?? '',
    }));
    const out: Cell[][] = rows.map((r) => r.map(toCell));
    return { kind: 'rows', columns, rows: out };
  }

  /** Loads the tables a statement names (all of them when it names none it could). */
  private refresh(sql: string): void {
    const lower = sql.toLowerCase();
    const src = {
      guard: this.rt.guard,
      sessions: [] as SessionInfo[],
      now: Date.now(),
      variables: () => this.rt.variables(),
      sqlErrors: () => this.rt.sqlErrors(),
      fleet: this.fleet,
      posture: this.rt.posture(),
    };
    let sessionsLoaded = false;
    for (const t of this.tables) {
      if (!lower.includes(t.name.toLowerCase())) continue;
      if (t.name === 'sessions' && !sessionsLoaded) {
        src.sessions = this.rt.sessions();
        sessionsLoaded = true;
      }
      const f = this.fill.get(t)!;
      this.db.exec('BEGIN');
      f.clear.run();
      for (const row of t.rows(src)) f.insert.run(...(row as Array<string | number | null>));
      this.db.exec('COMMIT');
    }
  }

  /**
   * `@@name` / `@@global.name` / `@@session.name` become literals (SQLite has no variables); in a
   * select list they keep MySQL's column name (`@@version_comment`) through an alias.
   */
  private substituteVariables(sql: string): string {
    if (!sql.includes('@@')) return sql;
    const vars = new Map(this.rt.variables().map(([n, v]) => [n.toLowerCase(), v]));
    // The select list ends at the first FROM / WHERE / LIMIT (good enough for the statements
    // clients send; a variable elsewhere is a plain literal).
    const listEnd = /\s(FROM|WHERE|LIMIT|ORDER|GROUP)\s/i.exec(sql)?.index ?? sql.length;
    return sql.replace(/@@(?:global\.|session\.|local\.)?(\w+)/gi, (whole, name: string, at: number) => {
      const v = vars.get(name.toLowerCase());
      if (v === undefined) throw new AdminError(formatServerError('ER_UNKNOWN_SYSTEM_VARIABLE', name));
      const literal = typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`;
      const rest = sql.slice(at + whole.length, listEnd);
      const bare = at < listEnd && /^\s*(,|$)/.test(rest);
      return bare ? `${literal} AS "${whole}"` : literal;
    });
  }

  /** MySQL functions DBAs use that SQLite lacks or names differently. */
  private registerFunctions(): void {
    const db = this.db;
    const fn = (name: string, f: (...args: never[]) => unknown) =>
      db.function(name, { varargs: true, deterministic: false }, f as (...args: unknown[]) => null);
    fn('NOW', () => new Date().toISOString().slice(0, 19).replace('T', ' '));
    fn('CURRENT_TIMESTAMP', () => new Date().toISOString().slice(0, 19).replace('T', ' '));
    fn('UNIX_TIMESTAMP', (t?: string) =>
      Math.floor((t === undefined ? Date.now() : Date.parse(`${String(t).replace(' ', 'T')}Z`)) / 1000),
    );
    fn('CONCAT', (...a: unknown[]) => (a.some((x) => x === null) ? null : a.map(String).join('')));
    fn('CONCAT_WS', (sep: unknown, ...a: unknown[]) =>
      a
        .filter((x) => x !== null)
        .map(String)
        .join(String(sep)),
    );
    fn('IF', (c: unknown, a: unknown, b: unknown) =>
      c !== null && c !== 0 && c !== '0' && c !== '' ? a : b,
    );
    fn('GREATEST', (...a: number[]) => (a.some((x) => x === null) ? null : Math.max(...a)));
    fn('LEAST', (...a: number[]) => (a.some((x) => x === null) ? null : Math.min(...a)));
    fn('VERSION', () => String(this.rt.variables().find(([n]) => n === 'version')?.[1] ?? ''));
    fn('DATABASE', () => this.caller?.db ?? null);
    fn('SCHEMA', () => this.caller?.db ?? null);
    fn('USER', () => (this.caller === null ? null : `${this.caller.user}@${this.caller.host}`));
    fn('CURRENT_USER', () => (this.caller === null ? null : `${this.caller.user}@%`));
    fn('CONNECTION_ID', () => this.caller?.connectionId ?? 0);
  }

  close(): void {
    this.db.close();
  }
}

function fieldType(declared: string | null, sample: unknown): Column['type'] {
  const d = declared?.toUpperCase() ?? '';
  if (d === 'INTEGER') return FieldType.LONGLONG;
  if (d === 'TEXT') return FieldType.VAR_STRING;
  if (typeof sample === 'bigint' || (typeof sample === 'number' && Number.isInteger(sample)))
    return FieldType.LONGLONG;
  if (typeof sample === 'number') return FieldType.DOUBLE;
  return FieldType.VAR_STRING;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function toCell(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return String(v);
}

/**
 * The select list's bare column references as written (`ip` for a column declared `IP`): MySQL
 * names a result column after the query's text, SQLite after the declaration, and applications
 * read rows by those names. Null when the list cannot be matched item by item (a `*`, say).
 */
function selectListNames(sql: string, count: number): Array<string | null> | null {
  const m = /^\s*SELECT\s+(?:DISTINCT\s+)?([\s\S]*?)\s+FROM\s/i.exec(sql);
  if (m === null) return null;
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  const list = m[1]!;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      items.push(list.slice(start, i));
      start = i + 1;
    }
  }
  items.push(list.slice(start));
  if (items.length !== count || items.some((x) => x.includes('*'))) return null;
  return items.map((x) => /^\s*(?:`?\w+`?\.)*`?(\w+)`?\s*$/.exec(x)?.[1] ?? null);
}

/** ER_SPECIFIC_ACCESS_DENIED_ERROR: a readonly account asked for a statement that changes something. */
function denied(privilege: string): AdminError {
  return new AdminError(formatServerError('ER_SPECIFIC_ACCESS_DENIED_ERROR', privilege));
}

/**
 * True when a statement holds a ';' followed by more text, outside quotes and comments: SQLite would
 * compile the first statement only and drop the rest silently; MySQL without multi-statements
 * refuses with 1064, and so does moat.
 */
export function hasSecondStatement(sql: string): boolean {
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      const end = sql.indexOf(c, i + 1);
      if (end === -1) return false;
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      if (end === -1) return false;
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) return false;
      i = end + 1;
    } else if (c === ';' && sql.slice(i + 1).trim() !== '') return true;
  }
  return false;
}

/** SQLite's complaint as the MySQL error a client expects. */
function sqliteError(e: Error, sql: string, caller: AdminCaller): ServerError {
  const msg = e.message;
  // The authorizer said no: the statement would do something other than read moat's tables.
  if (/not authorized|authorization denied|is prohibited/i.test(msg)) {
    const verb = (/^\w+/.exec(sql)?.[0] ?? 'SELECT').toUpperCase();
    return formatServerError('ER_TABLEACCESS_DENIED_ERROR', verb, caller.user, caller.host, '*');
  }
  const table = /no such table: (?:\w+\.)?(\S+)/.exec(msg);
  if (table !== null) return formatServerError('ER_NO_SUCH_TABLE', table[1]!);
  const column = /no such column: (\S+)/.exec(msg);
  if (column !== null) return formatServerError('ER_BAD_FIELD_ERROR', column[1]!, 'field list');
  const fn = /no such function: (\S+)/.exec(msg);
  if (fn !== null) return formatServerError('ER_SP_DOES_NOT_EXIST', fn[1]!);
  if (/readonly|read-only|query_only/i.test(msg)) {
    return formatServerError('ER_TABLEACCESS_DENIED_ERROR', 'WRITE', '', '', '');
  }
  const near = /near "([^"]*)"/.exec(msg)?.[1];
  const at = near === undefined ? sql.slice(0, 80) : sql.slice(Math.max(0, sql.indexOf(near))).slice(0, 80);
  return formatServerError(
    'ER_PARSE_ERROR',
    `You have an error in your SQL syntax; check the manual that corresponds to your moat admin port (SQLite) for the right syntax to use near '${at}' at line 1 (${msg})`,
  );
}
