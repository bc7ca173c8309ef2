// Builds MySQL wire bytes from parts, independently of src/protocol/writer.ts, so the codec is never
// checked against itself. Section names are those of the MySQL source documentation, "Client/Server
// Protocol" (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html); MariaDB's
// differences are from its "Client/Server Protocol" pages (https://mariadb.com/kb/en/clientserver-protocol/).
// Builders return payloads; `packet` / `packets` add the headers.
export type Part = Uint8Array | readonly number[] | string;

export function bytes(...parts: Part[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

// ---- Basic data types ("Integer Types", "String Types") -------------------------------------------

export function int1(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function int2(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
}

export function int3(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntLE(n & 0xffffff, 0, 3);
  return b;
}

export function int4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function int8(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/**
 * int<lenenc>: < 0xfb is the value itself; 0xfc + int<2>, 0xfd + int<3>, 0xfe + int<8>.
 * (0xfb is NULL in a text row, 0xff starts an ERR: neither is an integer.)
 */
export function lenenc(n: number | bigint): Buffer {
  const v = BigInt(n);
  if (v < 0xfbn) return int1(Number(v));
  if (v <= 0xffffn) return bytes([0xfc], int2(Number(v)));
  if (v <= 0xffffffn) return bytes([0xfd], int3(Number(v)));
  return bytes([0xfe], int8(v));
}

/** string<NUL>. */
export function strNul(s: Part): Buffer {
  return bytes(s, [0]);
}

/** string<lenenc>. */
export function strLenenc(s: Part): Buffer {
  const b = bytes(s);
  return bytes(lenenc(b.length), b);
}

// ---- Packets ("MySQL Packets", "Sending More Than 16Mb") -----------------------------------------

export const MAX_CHUNK = 0xffffff;

/**
 *   int<3> payload_length | int<1> sequence_id | payload
 *
 * A payload of 0xffffff bytes or more goes out as 0xffffff-byte packets followed by one shorter
 * packet (empty when the length is an exact multiple), each with the next sequence id.
 */
export function packet(payload: Part, seq: number): Buffer {
  const p = bytes(payload);
  if (p.length < MAX_CHUNK) return bytes(int3(p.length), [seq & 0xff], p);
  const out: Buffer[] = [];
  let at = 0;
  let s = seq;
  for (;;) {
    const n = Math.min(MAX_CHUNK, p.length - at);
    out.push(int3(n), int1(s++), p.subarray(at, at + n));
    at += n;
    if (n < MAX_CHUNK) break;
  }
  return Buffer.concat(out);
}

/** Consecutive packets, sequence ids counting up from `firstSeq` (continuations take ids too). */
export function packets(firstSeq: number, ...payloads: Part[]): Buffer {
  const out: Buffer[] = [];
  let seq = firstSeq;
  for (const p of payloads) {
    const b = bytes(p);
    out.push(packet(b, seq));
    seq += Math.floor(b.length / MAX_CHUNK) + 1;
  }
  return Buffer.concat(out);
}

// ---- Generic responses ("OK_Packet", "ERR_Packet", "EOF_Packet") ---------------------------------

export const Status = {
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS_EXISTS: 0x0008,
  NO_INDEX_USED: 0x0020,
  CURSOR_EXISTS: 0x0040,
  LAST_ROW_SENT: 0x0080,
} as const;

export interface OkFields {
  /** 0xfe when the OK stands in for an EOF (CLIENT_DEPRECATE_EOF). */
  header?: 0x00 | 0xfe;
  affectedRows?: number | bigint;
  lastInsertId?: number | bigint;
  status?: number;
  warnings?: number;
  info?: string;
}

/** 0x00/0xfe, int<lenenc> affected rows, int<lenenc> last insert id, int<2> status, int<2> warnings, info. */
export function ok(o: OkFields = {}): Buffer {
  return bytes(
    [o.header ?? 0x00],
    lenenc(o.affectedRows ?? 0),
    lenenc(o.lastInsertId ?? 0),
    int2(o.status ?? Status.AUTOCOMMIT),
    int2(o.warnings ?? 0),
    o.info ?? '',
  );
}

/** 0xff, int<2> code, ['#', string[5] SQLSTATE] (absent before 4.1 / during early handshake), message. */
export function err(code: number, message: string, sqlState: string | null = 'HY000'): Buffer {
  return bytes([0xff], int2(code), sqlState === null ? '' : `#${sqlState}`, message);
}

/** 0xfe, int<2> warnings, int<2> status flags: 5 bytes (payload < 9 tells it from a lenenc 0xfe). */
export function eof(status: number = Status.AUTOCOMMIT, warnings = 0): Buffer {
  return bytes([0xfe], int2(warnings), int2(status));
}

/** End of rows: EOF, or with CLIENT_DEPRECATE_EOF an OK packet whose header is 0xfe. */
export function terminator(deprecateEof: boolean, status: number = Status.AUTOCOMMIT): Buffer {
  return deprecateEof ? ok({ header: 0xfe, status }) : eof(status);
}

// ---- Result sets ("Text Resultset", "Column Definition", "Binary Protocol Resultset") ------------

export const Type = {
  LONG: 0x03,
  DOUBLE: 0x05,
  LONGLONG: 0x08,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
} as const;

export interface Column {
  name: string;
  schema?: string;
  table?: string;
  type?: number;
  charset?: number;
  length?: number;
  flags?: number;
  decimals?: number;
  /** COM_FIELD_LIST appends the default value (string<lenenc>, 0xfb for NULL). */
  defaultValue?: string | null;
}

/**
 * ColumnDefinition41: string<lenenc> catalog ("def"), schema, table, org_table, name, org_name,
 * int<lenenc> 0x0c, int<2> character set, int<4> column length, int<1> type, int<2> flags,
 * int<1> decimals, 2 bytes filler.
 */
export function columnDef(c: Column): Buffer {
  const table = c.table ?? 't';
  return bytes(
    strLenenc('def'),
    strLenenc(c.schema ?? 'moat_test'),
    strLenenc(table),
    strLenenc(table),
    strLenenc(c.name),
    strLenenc(c.name),
    [0x0c],
    int2(c.charset ?? 45),
    int4(c.length ?? 11),
    [c.type ?? Type.LONG],
    int2(c.flags ?? 0),
    [c.decimals ?? 0],
    [0, 0],
    c.defaultValue === undefined ? '' : c.defaultValue === null ? [0xfb] : strLenenc(c.defaultValue),
  );
}

/** The result set's first packet: int<lenenc> column count. */
export function columnCount(n: number): Buffer {
  return lenenc(n);
}

/** Text row: each value string<lenenc>, NULL as 0xfb. */
export function textRow(values: ReadonlyArray<Part | null>): Buffer {
  return bytes(...values.map((v) => (v === null ? [0xfb] : strLenenc(v))));
}

/**
 * Binary row: 0x00, NULL bitmap of (columns + 7 + 2) / 8 bytes (bit offset 2), then the non-NULL
 * values in their binary encodings (given here already encoded: int4(…), strLenenc(…) …).
 */
export function binaryRow(values: ReadonlyArray<Part | null>): Buffer {
  const bitmap = Buffer.alloc(Math.floor((values.length + 7 + 2) / 8));
  values.forEach((v, i) => {
    if (v === null) bitmap[(i + 2) >> 3]! |= 1 << ((i + 2) & 7);
  });
  return bytes([0x00], bitmap, ...values.filter((v): v is Part => v !== null));
}

/** A whole text or binary result set as payloads: count, definitions, [EOF], rows, terminator. */
export function resultSet(o: {
  columns: readonly string[];
  rows: ReadonlyArray<Buffer>;
  deprecateEof: boolean;
  status?: number;
}): Buffer[] {
  return [
    columnCount(o.columns.length),
    ...o.columns.map((name) => columnDef({ name })),
    ...(o.deprecateEof ? [] : [eof()]),
    ...o.rows,
    terminator(o.deprecateEof, o.status ?? Status.AUTOCOMMIT),
  ];
}

/** LOCAL INFILE request ("LOCAL INFILE Request"): 0xfb, string<EOF> file name. */
export function localInfileRequest(filename: string): Buffer {
  return bytes([0xfb], filename);
}

/** COM_STMT_PREPARE_OK: 0x00, int<4> id, int<2> columns, int<2> params, filler, int<2> warnings. */
export function prepareOk(o: { stmtId: number; columns: number; params: number; warnings?: number }): Buffer {
  return bytes([0x00], int4(o.stmtId), int2(o.columns), int2(o.params), [0], int2(o.warnings ?? 0));
}

/** The whole answer to COM_STMT_PREPARE: OK, param definitions [EOF], column definitions [EOF]. */
export function prepareResponse(o: {
  stmtId: number;
  params: number;
  columns: number;
  deprecateEof: boolean;
}): Buffer[] {
  const defs = (n: number, name: string): Buffer[] =>
    n === 0
      ? []
      : [
          ...Array.from({ length: n }, (_, i) => columnDef({ name: `${name}${i}`, table: '', schema: '' })),
          ...(o.deprecateEof ? [] : [eof()]),
        ];
  return [
    prepareOk({ stmtId: o.stmtId, columns: o.columns, params: o.params }),
    ...defs(o.params, '?'),
    ...defs(o.columns, 'c'),
  ];
}

// ---- Commands ("Command Phase") -------------------------------------------------------------------

export const Com = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  RESET_CONNECTION: 0x1f,
} as const;

export function command(com: number, ...parts: Part[]): Buffer {
  return bytes([com], ...parts);
}

export const comQuery = (sql: Part): Buffer => command(Com.QUERY, sql);
export const comStmtPrepare = (sql: Part): Buffer => command(Com.STMT_PREPARE, sql);
export const comInitDb = (db: string): Buffer => command(Com.INIT_DB, db);
/** COM_FIELD_LIST: string<NUL> table, string<EOF> wildcard. */
export const comFieldList = (table: string, wildcard = ''): Buffer =>
  command(Com.FIELD_LIST, strNul(table), wildcard);
export const comStmtFetch = (stmtId: number, rows: number): Buffer =>
  command(Com.STMT_FETCH, int4(stmtId), int4(rows));
export const comStmtClose = (stmtId: number): Buffer => command(Com.STMT_CLOSE, int4(stmtId));
export const comStmtReset = (stmtId: number): Buffer => command(Com.STMT_RESET, int4(stmtId));
export const comStmtSendLongData = (stmtId: number, param: number, data: Part): Buffer =>
  command(Com.STMT_SEND_LONG_DATA, int4(stmtId), int2(param), data);

/** MariaDB: statement id -1 in COM_STMT_EXECUTE means "the statement prepared last". */
export const LAST_PREPARED = 0xffffffff;

/** Cursor flag of COM_STMT_EXECUTE. */
export const CURSOR_TYPE_READ_ONLY = 0x01;

/**
 * COM_STMT_EXECUTE: 0x17, int<4> stmt id, int<1> flags, int<4> iteration count (1), and for
 * statements with parameters: NULL bitmap ((n + 7) / 8), int<1> new-params-bound 1, n × int<2>
 * type, the non-NULL values.
 */
export function comStmtExecute(
  stmtId: number,
  o: { flags?: number; params?: ReadonlyArray<{ type: number; value: Part | null }> } = {},
): Buffer {
  const params = o.params ?? [];
  const parts: Part[] = [int4(stmtId), [o.flags ?? 0], int4(1)];
  if (params.length > 0) {
    const bitmap = Buffer.alloc((params.length + 7) >> 3);
    params.forEach((p, i) => {
      if (p.value === null) bitmap[i >> 3]! |= 1 << (i & 7);
    });
    parts.push(bitmap, [1], ...params.map((p) => int2(p.type)));
    for (const p of params) if (p.value !== null) parts.push(p.value);
  }
  return command(Com.STMT_EXECUTE, ...parts);
}

// ---- Connection phase ----------------------------------------------------------------------------

export const Cap = {
  LONG_PASSWORD: 1,
  CONNECT_WITH_DB: 1 << 3,
  LOCAL_FILES: 1 << 7,
  PROTOCOL_41: 1 << 9,
  SSL: 1 << 11,
  TRANSACTIONS: 1 << 13,
  SECURE_CONNECTION: 1 << 15,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
} as const;

/** What a modern client asks for in the command phase (DEPRECATE_EOF added per case). */
export const CLIENT_CAPS =
  Cap.LONG_PASSWORD |
  Cap.PROTOCOL_41 |
  Cap.TRANSACTIONS |
  Cap.SECURE_CONNECTION |
  Cap.MULTI_STATEMENTS |
  Cap.MULTI_RESULTS |
  Cap.PS_MULTI_RESULTS |
  Cap.PLUGIN_AUTH |
  Cap.LOCAL_FILES;

export interface GreetingFields {
  serverVersion: string;
  connectionId: number;
  /** The scramble, 20 bytes on every current server. */
  nonce: Buffer;
  capabilities: number;
  mariadbCapabilities: number;
  charset: number;
  status: number;
  authPlugin: string;
}

/**
 * Protocol::HandshakeV10: int<1> 10, string<NUL> server version, int<4> connection id,
 * string[8] scramble part 1, 0x00, int<2> capabilities (low), int<1> charset, int<2> status,
 * int<2> capabilities (high), int<1> scramble length + 1, string[10] reserved — of which MariaDB
 * uses the last 4 for its extended capabilities when it clears CLIENT_MYSQL (= LONG_PASSWORD) —
 * scramble part 2 with its NUL (at least 13 bytes), string<NUL> auth plugin name.
 */
export function handshakeV10(g: GreetingFields): Buffer {
  const rest = g.nonce.subarray(8);
  return bytes(
    [10],
    strNul(g.serverVersion),
    int4(g.connectionId),
    g.nonce.subarray(0, 8),
    [0],
    int2(g.capabilities & 0xffff),
    [g.charset],
    int2(g.status),
    int2(g.capabilities >>> 16),
    [g.nonce.length + 1],
    Buffer.alloc(6),
    int4(g.capabilities & Cap.LONG_PASSWORD ? 0 : g.mariadbCapabilities),
    rest,
    Buffer.alloc(Math.max(13 - rest.length, 1)),
    strNul(g.authPlugin),
  );
}

const NONCE = Buffer.from('0123456789abcdefghij');

/** As MySQL 8.0 sends it: all capability bits, utf8mb4_0900_ai_ci, caching_sha2_password. */
export function mysql8Greeting(over: Partial<GreetingFields> = {}): GreetingFields {
  return {
    serverVersion: '8.0.36',
    connectionId: 8,
    nonce: NONCE,
    capabilities: 0xdfffffff,
    mariadbCapabilities: 0,
    charset: 255,
    status: Status.AUTOCOMMIT,
    authPlugin: 'caching_sha2_password',
    ...over,
  };
}

/**
 * As MariaDB 10.2+ sends it: the "5.5.5-" version prefix old clients expect, CLIENT_MYSQL
 * (LONG_PASSWORD) clear to announce the extended capabilities in the reserved bytes
 * (progress 1, COM_MULTI 2, bulk 4, metadata cache 16 …), mysql_native_password.
 */
export function mariadbGreeting(over: Partial<GreetingFields> = {}): GreetingFields {
  return {
    serverVersion: '5.5.5-10.11.6-MariaDB',
    connectionId: 5,
    nonce: NONCE,
    capabilities: 0x81fffffe,
    mariadbCapabilities: 0x1d,
    charset: 45,
    status: Status.AUTOCOMMIT,
    authPlugin: 'mysql_native_password',
    ...over,
  };
}

export interface ResponseFields {
  capabilities: number;
  mariadbCapabilities?: number;
  maxPacketSize?: number;
  charset?: number;
  user: string;
  authResponse: Buffer;
  database?: string;
  authPlugin?: string;
  attributes?: ReadonlyArray<readonly [string, string]>;
}

/**
 * Protocol::HandshakeResponse41: int<4> capabilities, int<4> max packet, int<1> charset,
 * string[19] filler, int<4> MariaDB extended capabilities (filler for MySQL), string<NUL> user,
 * auth response (string<lenenc> with PLUGIN_AUTH_LENENC_CLIENT_DATA, else int<1> length + bytes),
 * string<NUL> database (CONNECT_WITH_DB), string<NUL> plugin (PLUGIN_AUTH), int<lenenc> length of
 * the string<lenenc> key/value attribute pairs (CONNECT_ATTRS).
 */
export function handshakeResponse41(r: ResponseFields): Buffer {
  const caps = r.capabilities;
  return bytes(
    int4(caps),
    int4(r.maxPacketSize ?? 0x1000000),
    [r.charset ?? 45],
    Buffer.alloc(19),
    int4(r.mariadbCapabilities ?? 0),
    strNul(r.user),
    caps & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA
      ? strLenenc(r.authResponse)
      : bytes([r.authResponse.length], r.authResponse),
    caps & Cap.CONNECT_WITH_DB ? strNul(r.database ?? '') : '',
    caps & Cap.PLUGIN_AUTH ? strNul(r.authPlugin ?? '') : '',
    caps & Cap.CONNECT_ATTRS ? strLenenc(attributes(r.attributes ?? [])) : '',
  );
}

export function attributes(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  return bytes(...pairs.flatMap(([k, v]) => [strLenenc(k), strLenenc(v)]));
}

/** Protocol::SSLRequest: the first 32 bytes of a HandshakeResponse41, CLIENT_SSL set. */
export function sslRequest(capabilities: number, maxPacketSize = 0x1000000, charset = 45): Buffer {
  return bytes(int4(capabilities | Cap.SSL), int4(maxPacketSize), [charset], Buffer.alloc(23));
}

/**
 * COM_CHANGE_USER: 0x11, string<NUL> user, auth response (int<1> length + bytes with
 * SECURE_CONNECTION), string<NUL> schema, int<2> charset, string<NUL> plugin (PLUGIN_AUTH),
 * int<lenenc> attributes length + pairs (CONNECT_ATTRS).
 */
export function comChangeUser(c: {
  capabilities: number;
  user: string;
  authResponse: Buffer;
  database: string;
  charset: number;
  authPlugin: string;
  attributes?: ReadonlyArray<readonly [string, string]>;
}): Buffer {
  return command(
    Com.CHANGE_USER,
    strNul(c.user),
    c.capabilities & Cap.SECURE_CONNECTION
      ? bytes([c.authResponse.length], c.authResponse)
      : strNul(c.authResponse),
    strNul(c.database),
    int2(c.charset),
    c.capabilities & Cap.PLUGIN_AUTH ? strNul(c.authPlugin) : '',
    c.capabilities & Cap.CONNECT_ATTRS ? strLenenc(attributes(c.attributes ?? [])) : '',
  );
}

/** Protocol::AuthSwitchRequest: 0xfe, string<NUL> plugin, string<EOF> plugin data. */
export function authSwitchRequest(plugin: string, data: Buffer): Buffer {
  return bytes([0xfe], strNul(plugin), data);
}

// ---- Chunking ------------------------------------------------------------------------------------

/**
 * Every way of cutting `stream` into two non-empty chunks, then three-chunk cuts: all of them
 * for short streams, otherwise `sample3` cuts picked by a fixed-seed generator (reproducible).
 */
export function* splitEverywhere(stream: Buffer, sample3 = 64): Generator<Buffer[]> {
  const n = stream.length;
  for (let k = 1; k < n; k++) yield [stream.subarray(0, k), stream.subarray(k)];
  if (n < 3) return;
  if (n <= 24) {
    for (let i = 1; i < n - 1; i++) {
      for (let j = i + 1; j < n; j++)
        yield [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
    }
    return;
  }
  let seed = 0x2545f491 ^ n;
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 8;
  };
  for (let s = 0; s < sample3; s++) {
    const a = 1 + (next() % (n - 2));
    const b = a + 1 + (next() % (n - a - 1));
    yield [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)];
  }
}

/** `stream` in chunks of `size` bytes (1: byte by byte). */
export function chunksOf(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(stream.subarray(i, i + size));
  return out;
}
