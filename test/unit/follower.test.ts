// PacketScanner + Follower over whole command/answer streams: every case is fed whole, byte by
// byte, and cut at every point of every leg, and must produce the same events each time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  binaryRow,
  bytes,
  Cap,
  CLIENT_CAPS,
  Com,
  CURSOR_TYPE_READ_ONLY,
  columnCount,
  columnDef,
  comFieldList,
  comInitDb,
  command,
  comQuery,
  comStmtClose,
  comStmtExecute,
  comStmtFetch,
  comStmtPrepare,
  comStmtReset,
  comStmtSendLongData,
  eof,
  err,
  int2,
  int4,
  int8,
  LAST_PREPARED,
  localInfileRequest,
  ok,
  packets,
  prepareResponse,
  resultSet,
  Status,
  strLenenc,
  Type,
  terminator,
  textRow,
} from './fixtures.ts';
import {
  client,
  ev,
  everyCut,
  type FollowOptions,
  follow,
  type Leg,
  type Run,
  type Seen,
  server,
} from './follow-run.ts';

interface Case {
  name: string;
  legs: (deprecateEof: boolean) => Leg[];
  events: (deprecateEof: boolean) => Seen[];
  /** How many times the follower may give up (onLost). */
  lost?: number;
  maxStatementLength?: number;
  check?: (run: Run) => void;
}

/** A client command: its own packet sequence starts at 0. */
const cmd = (...payloads: Buffer[]): Leg => client(Buffer.concat(payloads.map((p) => packets(0, p))));
/** A server answer: sequence ids continue from the command's, so from 1. */
const answer = (...payloads: Buffer[]): Leg => server(packets(1, ...payloads));

const ping = command(Com.PING);
const pingPong = (): Leg[] => [cmd(ping), answer(ok())];
const pingEvent = ev('Ping', null);

const AUTO = Status.AUTOCOMMIT;
const MORE = Status.AUTOCOMMIT | Status.MORE_RESULTS_EXISTS;

const NO_SUCH_TABLE = err(1146, "Table 'moat_test.nope' doesn't exist", '42S02');
const noSuchTable = {
  status: 'ERR',
  errorCode: 1146,
  sqlState: '42S02',
  errorMessage: "Table 'moat_test.nope' doesn't exist",
} as const;

const rows3 = [textRow(['1', 'alpha']), textRow(['2', null]), textRow(['3', 'gämma ☃'])];

const CASES: Case[] = [
  {
    name: 'text result set',
    legs: (d) => [
      cmd(comQuery('SELECT id, name FROM t')),
      answer(...resultSet({ columns: ['id', 'name'], rows: rows3, deprecateEof: d })),
      ...pingPong(),
    ],
    events: () => [ev('Query', 'SELECT id, name FROM t', { rows: 3 }), pingEvent],
  },
  {
    name: 'empty result set',
    legs: (d) => [
      cmd(comQuery('SELECT id FROM t WHERE 0')),
      answer(...resultSet({ columns: ['id'], rows: [], deprecateEof: d })),
      ...pingPong(),
    ],
    events: () => [ev('Query', 'SELECT id FROM t WHERE 0'), pingEvent],
  },
  {
    name: 'multi-results: two result sets then an OK, rows and affected rows summed',
    legs: (d) => [
      cmd(comQuery('SELECT 1; SELECT 2 UNION SELECT 3; UPDATE t SET v = 0')),
      answer(
        ...resultSet({ columns: ['1'], rows: [textRow(['1'])], deprecateEof: d, status: MORE }),
        ...resultSet({
          columns: ['2'],
          rows: [textRow(['2']), textRow(['3'])],
          deprecateEof: d,
          status: MORE,
        }),
        ok({ affectedRows: 3, status: AUTO }),
      ),
      ...pingPong(),
    ],
    events: () => [
      ev('Query', 'SELECT 1; SELECT 2 UNION SELECT 3; UPDATE t SET v = 0', { rows: 3, affectedRows: 3 }),
      pingEvent,
    ],
  },
  {
    name: 'multi-results: OK with MORE_RESULTS_EXISTS then OK',
    legs: () => [
      cmd(comQuery('DELETE FROM a; DELETE FROM b')),
      answer(ok({ affectedRows: 2, status: MORE }), ok({ affectedRows: 5 })),
      ...pingPong(),
    ],
    events: () => [ev('Query', 'DELETE FROM a; DELETE FROM b', { affectedRows: 7 }), pingEvent],
  },
  {
    name: 'ERR in the middle of multi-results ends the answer',
    legs: (d) => [
      cmd(comQuery('SELECT 1; SELECT * FROM nope; SELECT 3')),
      answer(
        ...resultSet({ columns: ['1'], rows: [textRow(['1'])], deprecateEof: d, status: MORE }),
        NO_SUCH_TABLE,
      ),
      ...pingPong(),
    ],
    events: () => [
      ev('Query', 'SELECT 1; SELECT * FROM nope; SELECT 3', { rows: 1, ...noSuchTable }),
      pingEvent,
    ],
  },
  {
    name: 'ERR while rows stream (query killed) counts the rows sent before it',
    legs: (d) => [
      cmd(comQuery('SELECT * FROM big')),
      answer(
        columnCount(1),
        columnDef({ name: 'x' }),
        ...(d ? [] : [eof()]),
        textRow(['a']),
        textRow(['b']),
        err(1317, 'Query execution was interrupted', '70100'),
      ),
      ...pingPong(),
    ],
    events: () => [
      ev('Query', 'SELECT * FROM big', {
        rows: 2,
        status: 'ERR',
        errorCode: 1317,
        sqlState: '70100',
        errorMessage: 'Query execution was interrupted',
      }),
      pingEvent,
    ],
  },
  {
    // As MySQL's and MariaDB's client libraries read it: no '#' marker is SQLSTATE HY000.
    name: 'ERR without SQLSTATE marker',
    legs: () => [cmd(comQuery('SELECT 1')), answer(err(1040, 'Too many connections', null)), ...pingPong()],
    events: () => [
      ev('Query', 'SELECT 1', {
        status: 'ERR',
        errorCode: 1040,
        sqlState: 'HY000',
        errorMessage: 'Too many connections',
      }),
      pingEvent,
    ],
  },
  {
    name: 'OK with affected rows in 1-, 3-, 4- and 9-byte lenenc',
    legs: () =>
      [3, 300, 70000, 2 ** 40].flatMap((n) => [
        cmd(comQuery(`UPDATE t SET v = ${n}`)),
        answer(ok({ affectedRows: n, lastInsertId: n + 1 })),
      ]),
    events: () =>
      [3, 300, 70000, 2 ** 40].map((n) => ev('Query', `UPDATE t SET v = ${n}`, { affectedRows: n })),
  },
  {
    name: 'COM_STMT_PREPARE with params and columns',
    legs: (d) => [
      cmd(comStmtPrepare('SELECT a, b, c FROM t WHERE a = ? AND b = ?')),
      answer(...prepareResponse({ stmtId: 1, params: 2, columns: 3, deprecateEof: d })),
      cmd(comStmtPrepare('INSERT INTO t VALUES (?, ?, ?)')),
      answer(...prepareResponse({ stmtId: 2, params: 3, columns: 0, deprecateEof: d })),
      cmd(comStmtPrepare('SELECT 1, 2')),
      answer(...prepareResponse({ stmtId: 3, params: 0, columns: 2, deprecateEof: d })),
      cmd(comStmtPrepare('DO 1')),
      answer(...prepareResponse({ stmtId: 4, params: 0, columns: 0, deprecateEof: d })),
      cmd(comStmtPrepare('SELECT nope FROM t')),
      answer(err(1054, "Unknown column 'nope' in 'field list'", '42S22')),
      ...pingPong(),
    ],
    events: () => [
      ev('Stmt_prepare', 'SELECT a, b, c FROM t WHERE a = ? AND b = ?'),
      ev('Stmt_prepare', 'INSERT INTO t VALUES (?, ?, ?)'),
      ev('Stmt_prepare', 'SELECT 1, 2'),
      ev('Stmt_prepare', 'DO 1'),
      ev('Stmt_prepare', 'SELECT nope FROM t', {
        status: 'ERR',
        errorCode: 1054,
        sqlState: '42S22',
        errorMessage: "Unknown column 'nope' in 'field list'",
      }),
      pingEvent,
    ],
  },
  {
    name: 'COM_STMT_EXECUTE with binary rows; SEND_LONG_DATA, RESET and CLOSE',
    legs: (d) => {
      const sql = 'SELECT id, name FROM t WHERE id > ?';
      return [
        cmd(comStmtPrepare(sql)),
        answer(...prepareResponse({ stmtId: 7, params: 1, columns: 2, deprecateEof: d })),
        cmd(comStmtSendLongData(7, 0, 'xx')),
        cmd(comStmtExecute(7, { params: [{ type: Type.LONGLONG, value: int8(0) }] })),
        answer(
          ...resultSet({
            columns: ['id', 'name'],
            rows: [
              binaryRow([int4(1), strLenenc('alpha')]),
              binaryRow([int4(2), null]),
              binaryRow([null, null]),
            ],
            deprecateEof: d,
          }),
        ),
        cmd(comStmtReset(7)),
        answer(ok()),
        cmd(comStmtClose(7)),
        ...pingPong(),
      ];
    },
    events: () => {
      const sql = 'SELECT id, name FROM t WHERE id > ?';
      return [
        ev('Stmt_prepare', sql),
        ev('Stmt_send_long_data', sql, { status: 'NONE' }),
        ev('Stmt_execute', sql, { rows: 3 }),
        ev('Stmt_reset', sql),
        ev('Stmt_close', sql, { status: 'NONE' }),
        pingEvent,
      ];
    },
  },
  {
    name: 'cursor (CURSOR_EXISTS) then COM_STMT_FETCH until LAST_ROW_SENT',
    legs: (d) => {
      const cursor = AUTO | Status.CURSOR_EXISTS;
      return [
        cmd(comStmtPrepare('SELECT id, name FROM t')),
        answer(...prepareResponse({ stmtId: 2, params: 0, columns: 2, deprecateEof: d })),
        cmd(comStmtExecute(2, { flags: CURSOR_TYPE_READ_ONLY })),
        // Column definitions, then EOF (or OK 0xfe) carrying CURSOR_EXISTS: no rows yet.
        answer(columnCount(2), columnDef({ name: 'id' }), columnDef({ name: 'name' }), terminator(d, cursor)),
        cmd(comStmtFetch(2, 2)),
        answer(
          binaryRow([int4(1), strLenenc('alpha')]),
          binaryRow([int4(2), strLenenc('beta')]),
          terminator(d, cursor),
        ),
        cmd(comStmtFetch(2, 5)),
        answer(binaryRow([int4(3), null]), terminator(d, AUTO | Status.LAST_ROW_SENT)),
        ...pingPong(),
      ];
    },
    events: () => [
      ev('Stmt_prepare', 'SELECT id, name FROM t'),
      ev('Stmt_execute', 'SELECT id, name FROM t'),
      ev('Stmt_fetch', 'SELECT id, name FROM t', { rows: 2 }),
      ev('Stmt_fetch', 'SELECT id, name FROM t', { rows: 1 }),
      pingEvent,
    ],
  },
  {
    name: 'COM_FIELD_LIST: column definitions (with defaults) then EOF, or ERR',
    legs: (d) => [
      cmd(comFieldList('t')),
      answer(
        columnDef({ name: 'id', defaultValue: '0' }),
        columnDef({ name: 'name', defaultValue: null }),
        terminator(d),
      ),
      cmd(comFieldList('nope')),
      answer(NO_SUCH_TABLE),
      ...pingPong(),
    ],
    events: () => [ev('Field_list', null), ev('Field_list', null, noSuchTable), pingEvent],
  },
  {
    name: 'COM_STATISTICS: one plain string packet',
    legs: () => [
      cmd(command(Com.STATISTICS)),
      answer(bytes('Uptime: 7  Threads: 1  Questions: 40  Slow queries: 0  Opens: 23')),
      ...pingPong(),
    ],
    events: () => [ev('Statistics', null), pingEvent],
  },
  {
    name: 'LOCAL INFILE: 0xfb request, file packets that look like commands, empty packet, OK',
    legs: () => [
      cmd(comQuery("LOAD DATA LOCAL INFILE 'nums.csv' INTO TABLE t")),
      answer(localInfileRequest('nums.csv')),
      // File data travels in the client's packets 2, 3 …: first bytes 0x03 (COM_QUERY) and 0x01 (COM_QUIT).
      client(packets(2, comQuery('4\n'), bytes([0x01, 0x0a]), bytes())),
      server(packets(5, ok({ affectedRows: 2, info: 'Records: 2  Deleted: 0  Skipped: 0  Warnings: 0' }))),
      ...pingPong(),
    ],
    events: () => [
      ev('Query', "LOAD DATA LOCAL INFILE 'nums.csv' INTO TABLE t", { affectedRows: 2 }),
      pingEvent,
    ],
  },
  {
    name: 'LOCAL INFILE refused by the client: empty packet at once, server ERR',
    legs: () => [
      cmd(comQuery("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t")),
      answer(localInfileRequest('/etc/passwd')),
      client(packets(2, bytes())),
      server(packets(3, err(2, 'File not found', 'HY000'))),
      ...pingPong(),
    ],
    events: () => [
      ev('Query', "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t", {
        status: 'ERR',
        errorCode: 2,
        sqlState: 'HY000',
        errorMessage: 'File not found',
      }),
      pingEvent,
    ],
  },
  {
    // The MariaDB connector writes PREPARE and EXECUTE(-1) in one go, before the server named the
    // id; an earlier statement is still open, so "last prepared" must not be resolved to it.
    name: 'pipelined PREPARE + EXECUTE with stmt id 0xffffffff (MariaDB "last prepared")',
    legs: (d) => [
      cmd(comStmtPrepare('SELECT 1 AS old')),
      answer(...prepareResponse({ stmtId: 1, params: 0, columns: 1, deprecateEof: d })),
      cmd(
        comStmtPrepare('SELECT ? AS p'),
        comStmtExecute(LAST_PREPARED, { params: [{ type: Type.LONGLONG, value: int8(42) }] }),
      ),
      server(
        Buffer.concat([
          packets(1, ...prepareResponse({ stmtId: 2, params: 1, columns: 1, deprecateEof: d })),
          packets(1, ...resultSet({ columns: ['p'], rows: [binaryRow([int8(42)])], deprecateEof: d })),
        ]),
      ),
      cmd(comStmtExecute(2, { params: [{ type: Type.LONGLONG, value: int8(43) }] })),
      answer(...resultSet({ columns: ['p'], rows: [binaryRow([int8(43)])], deprecateEof: d })),
    ],
    events: () => [
      ev('Stmt_prepare', 'SELECT 1 AS old'),
      ev('Stmt_prepare', 'SELECT ? AS p'),
      ev('Stmt_execute', 'SELECT ? AS p', { rows: 1 }),
      ev('Stmt_execute', 'SELECT ? AS p', { rows: 1 }),
    ],
  },
  {
    name: 'COM_QUERY and COM_STMT_PREPARE longer than maxStatementLength are truncated',
    maxStatementLength: 16,
    legs: (d) => [
      cmd(comQuery('SELECT * FROM a_rather_long_table_name')),
      answer(ok()),
      cmd(comQuery('SELECT 1234567890')),
      answer(ok()),
      cmd(comStmtPrepare('SELECT * FROM a_rather_long_table_name WHERE id = ?')),
      answer(...prepareResponse({ stmtId: 1, params: 1, columns: 0, deprecateEof: d })),
      cmd(comStmtExecute(1, { params: [{ type: Type.LONGLONG, value: int8(1) }] })),
      answer(ok()),
    ],
    events: () => [
      ev('Query', 'SELECT * FROM a_', { statementTruncated: true }),
      ev('Query', 'SELECT 123456789', { statementTruncated: true }),
      ev('Stmt_prepare', 'SELECT * FROM a_', { statementTruncated: true }),
      // The text reported for the execute is the truncated one, and must say so.
      ev('Stmt_execute', 'SELECT * FROM a_', { statementTruncated: true }),
    ],
  },
  {
    name: 'statement of exactly maxStatementLength bytes is not truncated',
    maxStatementLength: 16,
    legs: () => [cmd(comQuery('SELECT 123456789')), answer(ok())],
    events: () => [ev('Query', 'SELECT 123456789')],
  },
  {
    name: 'COM_INIT_DB and USE change the session database; a failed USE does not',
    legs: () => [
      cmd(comInitDb('shop')),
      answer(ok()),
      cmd(comQuery('USE `audit`')),
      answer(ok()),
      cmd(comQuery('use nope')),
      answer(err(1049, "Unknown database 'nope'", '42000')),
    ],
    events: () => [
      ev('Init_db', 'shop'),
      ev('Query', 'USE `audit`'),
      ev('Query', 'use nope', {
        status: 'ERR',
        errorCode: 1049,
        sqlState: '42000',
        errorMessage: "Unknown database 'nope'",
      }),
    ],
    check: (run) => assert.equal(run.identity.database, 'audit'),
  },
  {
    name: 'COM_SET_OPTION answers with a 5-byte EOF (OK 0xfe under DEPRECATE_EOF)',
    legs: (d) => [cmd(command(Com.SET_OPTION, int2(0))), answer(terminator(d)), ...pingPong()],
    events: () => [ev('Set_option', null), pingEvent],
  },
  {
    name: 'COM_RESET_CONNECTION forgets prepared statements',
    legs: (d) => [
      cmd(comStmtPrepare('SELECT 1')),
      answer(...prepareResponse({ stmtId: 1, params: 0, columns: 1, deprecateEof: d })),
      cmd(command(Com.RESET_CONNECTION)),
      answer(ok()),
      cmd(comStmtExecute(1)),
      answer(err(1243, 'Unknown prepared statement handler (1) given to mysqld_stmt_execute', 'HY000')),
    ],
    events: () => [
      ev('Stmt_prepare', 'SELECT 1'),
      ev('Reset_connection', null),
      ev('Stmt_execute', null, {
        status: 'ERR',
        errorCode: 1243,
        sqlState: 'HY000',
        errorMessage: 'Unknown prepared statement handler (1) given to mysqld_stmt_execute',
      }),
    ],
  },
  {
    name: 'COM_QUIT has no answer',
    legs: () => [cmd(command(Com.QUIT))],
    events: () => [ev('Quit', null, { status: 'NONE' })],
  },
  {
    name: 'ERR with seq 0 and nothing pending (server shutdown, KILL) stops following',
    lost: 1,
    legs: () => [
      ...pingPong(),
      server(packets(0, err(1927, 'Connection was killed', '70100'))),
      ...pingPong(),
    ],
    events: () => [pingEvent],
  },
  {
    name: 'an answer with no command pending stops following',
    lost: 1,
    legs: () => [server(packets(1, ok())), ...pingPong()],
    events: () => [],
  },
  {
    name: 'replication (COM_BINLOG_DUMP) is relayed, not interpreted',
    lost: 1,
    legs: () => [
      cmd(command(Com.BINLOG_DUMP, int4(4), int2(0), int4(1), 'bin.000001')),
      answer(bytes([0x00], Buffer.alloc(40, 0xfe)), eof()),
      ...pingPong(),
    ],
    events: () => [ev('Binlog_dump', null, { status: 'UNKNOWN' })],
  },
];

for (const deprecateEof of [false, true]) {
  const options: FollowOptions = { capabilities: CLIENT_CAPS | (deprecateEof ? Cap.DEPRECATE_EOF : 0) };
  describe(`follower, ${deprecateEof ? 'with' : 'without'} DEPRECATE_EOF, every split point`, () => {
    for (const c of CASES) {
      test(c.name, () => {
        const legs = c.legs(deprecateEof);
        const expected = c.events(deprecateEof);
        const opts = { ...options, maxStatementLength: c.maxStatementLength ?? 4096 };
        for (const { label, cut } of everyCut(legs)) {
          const run = follow(legs, cut, opts);
          assert.deepEqual(run.events, expected, label);
          assert.equal(run.lost.length, c.lost ?? 0, `${label}: lost ${JSON.stringify(run.lost)}`);
          c.check?.(run);
        }
      });
    }
  });
}
