// Command events for the detector tests: a builder, a clock, and scripted traffic. The sysbench
// statements are those of sysbench 1.0's oltp_common.lua (prepared with `?`, or with the values
// inlined under --db-ps-mode=disable); the application traffic is what common drivers and ORMs
// send (Connector/J, mysql2/Sequelize, Hibernate, Django, Rails, Laravel).
import type { Finding } from '../../src/detect/detector.ts';
import type { CommandEvent } from '../../src/model/events.ts';

export function event(over: Partial<CommandEvent> & { statement: string | null }): CommandEvent {
  return {
    session: 1,
    user: 'app',
    clientAddress: '192.0.2.10',
    clientPort: 40000,
    database: 'shop',
    command: 'Query',
    statementTruncated: false,
    status: 'OK',
    errorCode: 0,
    sqlState: null,
    errorMessage: null,
    rows: 0,
    affectedRows: 0,
    startedAt: 0,
    durationMs: 1,
    ...over,
  };
}

/** A failed command: ERR with the given code. */
export function failed(
  code: number,
  over: Partial<CommandEvent> & { statement: string | null },
): CommandEvent {
  return event({ status: 'ERR', errorCode: code, sqlState: 'HY000', errorMessage: `error ${code}`, ...over });
}

export class Clock {
  t = Date.UTC(2026, 0, 5, 9, 0, 0);
  readonly now = (): number => this.t;
}

/** Feed events `stepMs` apart; all findings, in order. */
export function feed(
  d: { observe(e: CommandEvent): readonly Finding[] },
  clock: Clock,
  events: Iterable<CommandEvent>,
  stepMs = 10,
): Finding[] {
  const out: Finding[] = [];
  for (const e of events) {
    clock.t += stepMs;
    out.push(...d.observe({ ...e, startedAt: clock.t }));
  }
  return out;
}

/** `rule/scope` of each finding, deduplicated and sorted. */
export function summary(findings: readonly Finding[]): string[] {
  return [...new Set(findings.map((f) => `${f.rule}/${f.scope}`))].sort();
}

/** A seeded PRNG (mulberry32), so traffic is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Round-robin over several streams, as sessions interleave at the proxy. */
export function* interleave<T>(streams: Iterator<T>[]): Generator<T> {
  const live = [...streams];
  while (live.length > 0) {
    for (let i = 0; i < live.length; ) {
      const r = live[i]!.next();
      if (r.done === true) live.splice(i, 1);
      else {
        yield r.value;
        i++;
      }
    }
  }
}

// --- sysbench ---------------------------------------------------------------------------------

const STMT = {
  point: 'SELECT c FROM sbtest%u WHERE id=?',
  simple: 'SELECT c FROM sbtest%u WHERE id BETWEEN ? AND ?',
  sum: 'SELECT SUM(k) FROM sbtest%u WHERE id BETWEEN ? AND ?',
  order: 'SELECT c FROM sbtest%u WHERE id BETWEEN ? AND ? ORDER BY c',
  distinct: 'SELECT DISTINCT c FROM sbtest%u WHERE id BETWEEN ? AND ? ORDER BY c',
  indexUpdate: 'UPDATE sbtest%u SET k=k+1 WHERE id=?',
  nonIndexUpdate: 'UPDATE sbtest%u SET c=? WHERE id=?',
  delete: 'DELETE FROM sbtest%u WHERE id=?',
  insert: 'INSERT INTO sbtest%u (id, k, c, pad) VALUES (?, ?, ?, ?)',
} as const;
type StmtName = keyof typeof STMT;

function digits(rand: () => number, groups: number): string {
  const parts: string[] = [];
  for (let g = 0; g < groups; g++) {
    let s = '';
    for (let i = 0; i < 11; i++) s += Math.floor(rand() * 10);
    parts.push(s);
  }
  return parts.join('-');
}

export interface SysbenchOptions {
  session: number;
  script: 'oltp_read_write' | 'oltp_point_select';
  /** ps: COM_STMT_PREPARE once, then COM_STMT_EXECUTE; text: --db-ps-mode=disable. */
  mode: 'ps' | 'text';
  transactions: number;
  tables?: number;
  tableSize?: number;
  seed?: number;
  user?: string;
  address?: string;
}

/** One sysbench thread (one connection), the statements its Lua script sends. */
export function* sysbench(o: SysbenchOptions): Generator<CommandEvent> {
  const rand = prng(o.seed ?? o.session);
  const tables = o.tables ?? 4;
  const size = o.tableSize ?? 10_000;
  const base = {
    session: o.session,
    user: o.user ?? 'sbtest',
    clientAddress: o.address ?? '127.0.0.1',
    clientPort: 50_000 + o.session,
    database: 'sbtest',
  };
  const id = () => 1 + Math.floor(rand() * size);
  const rw = o.script === 'oltp_read_write';
  const used: StmtName[] = rw ? (Object.keys(STMT) as StmtName[]) : ['point'];
  if (o.mode === 'ps') {
    if (rw) {
      yield event({ ...base, command: 'Stmt_prepare', statement: 'BEGIN' });
      yield event({ ...base, command: 'Stmt_prepare', statement: 'COMMIT' });
    }
    for (let t = 1; t <= tables; t++) {
      for (const name of used) {
        yield event({ ...base, command: 'Stmt_prepare', statement: STMT[name].replace('%u', String(t)) });
      }
    }
  }
  const run = (name: StmtName | 'BEGIN' | 'COMMIT', t: number, values: (number | string)[], rows = 0) => {
    if (name === 'BEGIN' || name === 'COMMIT') {
      return event({ ...base, command: o.mode === 'ps' ? 'Stmt_execute' : 'Query', statement: name });
    }
    const text = STMT[name].replace('%u', String(t));
    if (o.mode === 'ps') return event({ ...base, command: 'Stmt_execute', statement: text, rows });
    let k = 0;
    const inlined = text.replace(/\?/g, () => {
      const v = values[k++]!;
      return typeof v === 'number' ? String(v) : `'${v}'`;
    });
    return event({ ...base, command: 'Query', statement: inlined, rows });
  };
  for (let x = 0; x < o.transactions; x++) {
    const t = 1 + Math.floor(rand() * tables);
    if (rw) yield run('BEGIN', t, []);
    for (let i = 0; i < 10; i++) yield run('point', t, [id()], 1);
    if (!rw) continue;
    for (const name of ['simple', 'sum', 'order', 'distinct'] as const) {
      const from = id();
      yield run(name, t, [from, from + 99], name === 'sum' ? 1 : 100);
    }
    const upd = run('indexUpdate', t, [id()]);
    // Under concurrency InnoDB picks deadlock victims; sysbench ignores 1213 and retries.
    yield rand() < 0.003 ? { ...upd, status: 'ERR', errorCode: 1213, sqlState: '40001' } : upd;
    yield run('nonIndexUpdate', t, [digits(rand, 10), id()]);
    const victim = id();
    yield run('delete', t, [victim]);
    const ins = run('insert', t, [victim, id(), digits(rand, 10), digits(rand, 5)]);
    yield rand() < 0.003 ? { ...ins, status: 'ERR', errorCode: 1062, sqlState: '23000' } : ins;
    yield run('COMMIT', t, []);
  }
}

/** `sysbench oltp_read_write prepare` and `cleanup` for the given tables. */
export function* sysbenchPrepareAndCleanup(session: number, tables = 4): Generator<CommandEvent> {
  const base = { session, user: 'sbtest', clientAddress: '127.0.0.1', database: 'sbtest' };
  const rand = prng(7);
  for (let t = 1; t <= tables; t++) {
    yield event({
      ...base,
      statement: `CREATE TABLE sbtest${t}(\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  k INTEGER DEFAULT '0' NOT NULL,\n  c CHAR(120) DEFAULT '' NOT NULL,\n  pad CHAR(60) DEFAULT '' NOT NULL,\n  PRIMARY KEY (id)\n) /*! ENGINE = innodb */ `,
    });
    const rows = Array.from(
      { length: 50 },
      () => `(${1 + Math.floor(rand() * 10_000)}, '${digits(rand, 10)}', '${digits(rand, 5)}')`,
    );
    yield event({ ...base, statement: `INSERT INTO sbtest${t}(k, c, pad) VALUES${rows.join(',')}` });
    yield event({ ...base, statement: `CREATE INDEX k_${t} ON sbtest${t}(k)` });
  }
  for (let t = 1; t <= tables; t++) yield event({ ...base, statement: `DROP TABLE IF EXISTS sbtest${t}` });
}

// --- application traffic ----------------------------------------------------------------------

/** What a pooled connection sends when it opens (Connector/J, mysql2, Django, Rails …). */
const CONNECT = [
  '/* mysql-connector-j-8.4.0 (Revision: 1c3f5c149e0bfe31c7fbeb24e2d260cd890972c4) */SELECT @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@collation_server AS collation_server, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout',
  'SET NAMES utf8mb4',
  'SET character_set_results = NULL',
  'SET autocommit=1',
  'SELECT @@version',
  'SELECT @@session.transaction_isolation',
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
  "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')",
  "SHOW VARIABLES LIKE 'lower_case_table_names'",
  'SELECT DATABASE()',
  '/* ping */ SELECT 1',
];

/** Schema introspection an ORM runs once when the application starts. */
const INTROSPECTION = [
  'SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()',
  "SELECT column_name, data_type, is_nullable, column_default, extra FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'users' ORDER BY ordinal_position",
  "SELECT kcu.column_name, kcu.referenced_table_name, kcu.referenced_column_name FROM information_schema.key_column_usage kcu WHERE kcu.table_schema = DATABASE() AND kcu.table_name IN (SELECT t.table_name FROM information_schema.tables t WHERE t.table_type = 'BASE TABLE') AND kcu.referenced_table_name IS NOT NULL",
  'SHOW FULL TABLES',
  'SHOW INDEX FROM `users`',
  'SELECT `version` FROM `schema_migrations` ORDER BY `version` ASC',
  "SELECT GET_LOCK('schema_migrations', 10)",
  "SELECT RELEASE_LOCK('schema_migrations')",
];

type Template = (r: () => number) => string;
const n = (r: () => number, max = 100_000) => 1 + Math.floor(r() * max);
const NAMES = [
  "O'Brien",
  'Zoë',
  'Smith',
  'union select',
  'x OR 1=1 --',
  'Robert"); DROP TABLE students;--',
  '50% off',
];
const word = (r: () => number) =>
  NAMES[Math.floor(r() * NAMES.length)]!.replace(/\\/g, '\\\\').replace(/'/g, "\\'");

/** Request traffic: every template is a statement shape the application sends. */
const REQUESTS: Template[] = [
  (r) =>
    `SELECT \`users\`.* FROM \`users\` WHERE \`users\`.\`id\` = ${n(r)} LIMIT 1 /*application:Shop,controller:users,action:show*/`,
  (r) =>
    `SELECT u1_0.id,u1_0.email,u1_0.name FROM users u1_0 WHERE u1_0.email=? OR u1_0.name=?`.replace(
      '?',
      `'u${n(r)}@example.com'`,
    ),
  (r) =>
    `SELECT \`id\`, \`name\`, \`price\` FROM \`products\` AS \`Product\` WHERE \`Product\`.\`id\` = ${n(r)};`,
  (r) =>
    `SELECT * FROM products WHERE name LIKE '%${word(r)}%' ORDER BY price DESC LIMIT 20 OFFSET ${n(r, 10) * 20}`,
  (r) =>
    `SELECT o.id, o.total, oi.product_id, oi.qty FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.user_id = ${n(r)} AND o.status IN ('paid', 'shipped') ORDER BY o.created_at DESC`,
  (r) =>
    `INSERT INTO \`orders\` (\`user_id\`, \`total\`, \`status\`, \`created_at\`) VALUES (${n(r)}, ${(r() * 500).toFixed(2)}, 'new', NOW())`,
  (r) =>
    `INSERT INTO order_items (order_id, product_id, qty) VALUES (${n(r)}, ${n(r)}, 1), (${n(r)}, ${n(r)}, 2)`,
  (r) => `UPDATE \`products\` SET \`stock\` = \`stock\` - 1 WHERE \`id\` = ${n(r)} AND \`stock\` > 0`,
  (r) =>
    `INSERT INTO sessions (id, user_id, data, expires) VALUES ('${n(r).toString(16)}', ${n(r)}, '{\\"cart\\":[]}', NOW() + INTERVAL 1 DAY) ON DUPLICATE KEY UPDATE data = VALUES(data), expires = VALUES(expires)`,
  (r) => `DELETE FROM sessions WHERE expires < NOW() - INTERVAL ${n(r, 7)} DAY`,
  (r) =>
    `SELECT COUNT(*) AS \`count\` FROM \`orders\` WHERE (\`orders\`.\`user_id\` = ${n(r)} OR \`orders\`.\`guest_email\` = 'a@b.c') AND NOT (\`orders\`.\`status\` = 'cancelled')`,
  (r) => `SELECT * FROM users WHERE id = ${n(r)} FOR UPDATE`,
  () =>
    `SELECT p.category_id, SUM(oi.qty) AS sold FROM order_items oi INNER JOIN products p ON p.id = oi.product_id WHERE oi.created_at BETWEEN '2026-01-01' AND '2026-01-31' GROUP BY 1 ORDER BY 2 DESC LIMIT 10`,
  (r) => `SELECT * FROM users WHERE uuid = 0x${n(r).toString(16).padStart(32, '0')}`,
  (r) =>
    `INSERT INTO audit_log (user_id, action, detail) VALUES (${n(r)}, 'login', '{"ip":"192.0.2.${n(r, 250)}"}')`,
  (r) =>
    `WITH recent AS (SELECT user_id, MAX(created_at) AS last FROM orders GROUP BY user_id) SELECT u.email FROM users u JOIN recent ON recent.user_id = u.id WHERE recent.last > NOW() - INTERVAL ${n(r, 30)} DAY`,
  () =>
    'SELECT `products`.* FROM `products` WHERE `products`.`id` IN (SELECT `product_id` FROM `order_items` WHERE `order_id` = ?)',
  () => 'SELECT 1',
  () => 'SHOW WARNINGS',
  () => 'START TRANSACTION',
  () => 'COMMIT',
  () => 'ROLLBACK',
];

export interface AppOptions {
  session: number;
  requests: number;
  seed?: number;
  user?: string;
  address?: string;
  /** The first connection of the application also runs the schema introspection. */
  introspect?: boolean;
}

/** One pooled application connection. */
export function* application(o: AppOptions): Generator<CommandEvent> {
  const rand = prng(o.seed ?? o.session * 31);
  const base = {
    session: o.session,
    user: o.user ?? 'shop_app',
    clientAddress: o.address ?? '10.0.0.21',
    clientPort: 40_000 + o.session,
    database: 'shop',
  };
  for (const statement of CONNECT) yield event({ ...base, statement });
  if (o.introspect === true) for (const statement of INTROSPECTION) yield event({ ...base, statement });
  // Warm-up: every request shape once, in order (the learning period sees the whole application).
  for (const t of REQUESTS) yield event({ ...base, statement: t(rand) });
  for (let i = 0; i < o.requests; i++) {
    const t = REQUESTS[Math.floor(rand() * REQUESTS.length)]!;
    const e = event({ ...base, statement: t(rand), rows: Math.floor(rand() * 20) });
    const p = rand();
    // The errors a healthy application sees now and then.
    if (p < 0.002) yield { ...e, status: 'ERR', errorCode: 1062, sqlState: '23000' };
    else if (p < 0.003) yield { ...e, status: 'ERR', errorCode: 1213, sqlState: '40001' };
    else if (p < 0.004) yield { ...e, status: 'ERR', errorCode: 1205, sqlState: 'HY000' };
    else yield e;
  }
}
