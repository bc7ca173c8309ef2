// Wire constants of the MySQL client/server protocol (MySQL 8 "Capabilities Flags", "Status Flags"
// and "Command Phase" pages; MariaDB's "Connection" page for its extensions).

/** Capability flags (4 bytes in HandshakeV10 and HandshakeResponse41). */
export const Cap = {
  LONG_PASSWORD: 1,
  FOUND_ROWS: 1 << 1,
  LONG_FLAG: 1 << 2,
  CONNECT_WITH_DB: 1 << 3,
  NO_SCHEMA: 1 << 4,
  COMPRESS: 1 << 5,
  ODBC: 1 << 6,
  LOCAL_FILES: 1 << 7,
  IGNORE_SPACE: 1 << 8,
  PROTOCOL_41: 1 << 9,
  INTERACTIVE: 1 << 10,
  SSL: 1 << 11,
  IGNORE_SIGPIPE: 1 << 12,
  TRANSACTIONS: 1 << 13,
  RESERVED: 1 << 14,
  SECURE_CONNECTION: 1 << 15,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  CAN_HANDLE_EXPIRED_PASSWORDS: 1 << 22,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
  OPTIONAL_RESULTSET_METADATA: 1 << 25,
  ZSTD_COMPRESSION: 1 << 26,
  QUERY_ATTRIBUTES: 1 << 27,
} as const;

/**
 * What moat can relay while following every command's response. Left out on purpose:
 * COMPRESS / ZSTD (moat would have to inflate to see packet boundaries), QUERY_ATTRIBUTES and
 * OPTIONAL_RESULTSET_METADATA (MySQL 8 only, change COM_QUERY and result-set framing). MariaDB's
 * extended capabilities are in RELAYABLE_MARIADB_CAPS. SSL and LOCAL_FILES are decided per
 * listener / by config.
 */
/**
 * MariaDB's extended capabilities: the int<4> in the greeting's and the HandshakeResponse's filler,
 * meaningful when CLIENT_MYSQL (LONG_PASSWORD, bit 0) is clear on both sides (MariaDB's
 * "Connection" page; the bits are 1 << 32 … of MariaDB's 64-bit flags).
 */
export const MariaCap = {
  PROGRESS: 1 << 0,
  COM_MULTI: 1 << 1,
  STMT_BULK_OPERATIONS: 1 << 2,
  EXTENDED_METADATA: 1 << 3,
  CACHE_METADATA: 1 << 4,
  BULK_UNIT_RESULTS: 1 << 5,
} as const;

/**
 * Extended capabilities moat relays. EXTENDED_METADATA only adds a length-encoded type-info field
 * to each column definition (JSON, UUID, INET4/6, geometry subtypes), which moat counts and never
 * parses. Not relayed: PROGRESS (reports arrive as 0xFF packets in the middle of a result, which
 * the follower would take for the statement's ERR), CACHE_METADATA (result sets without column
 * definitions, by a cache the follower does not keep), STMT_BULK_OPERATIONS and BULK_UNIT_RESULTS
 * (COM_STMT_BULK_EXECUTE, whose answer the follower does not know), COM_MULTI (obsolete).
 */
export const RELAYABLE_MARIADB_CAPS = MariaCap.EXTENDED_METADATA;

/** The extended capabilities moat relays, of a greeting's or a HandshakeResponse's flags. */
export function relayableExtended(capabilities: number, mariadbCapabilities: number): number {
  return capabilities & Cap.LONG_PASSWORD ? 0 : mariadbCapabilities & RELAYABLE_MARIADB_CAPS;
}

export const RELAYABLE_CAPS =
  (Cap.LONG_PASSWORD |
    Cap.FOUND_ROWS |
    Cap.LONG_FLAG |
    Cap.CONNECT_WITH_DB |
    Cap.NO_SCHEMA |
    Cap.ODBC |
    Cap.IGNORE_SPACE |
    Cap.PROTOCOL_41 |
    Cap.INTERACTIVE |
    Cap.IGNORE_SIGPIPE |
    Cap.TRANSACTIONS |
    Cap.RESERVED |
    Cap.SECURE_CONNECTION |
    Cap.MULTI_STATEMENTS |
    Cap.MULTI_RESULTS |
    Cap.PS_MULTI_RESULTS |
    Cap.PLUGIN_AUTH |
    Cap.CONNECT_ATTRS |
    Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Cap.CAN_HANDLE_EXPIRED_PASSWORDS |
    Cap.SESSION_TRACK |
    Cap.DEPRECATE_EOF) >>>
  0;

/**
 * Capabilities that change how packets are framed or parsed. If a client negotiated one of these
 * with moat's greeting but the backend it reaches does not offer it, the two legs would disagree
 * about the packet stream, so such a login is refused rather than relayed wrongly.
 */
export const FRAMING_CAPS = (Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF | Cap.SESSION_TRACK | Cap.PLUGIN_AUTH) >>> 0;

/** Server status flags (OK and EOF packets). */
export const Status = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS_EXISTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
  LAST_ROW_SENT: 0x0080,
  /** sql_mode has NO_BACKSLASH_ESCAPES: a backslash in a string is a plain character. */
  NO_BACKSLASH_ESCAPES: 0x0200,
} as const;

/** Command bytes (first byte of every client packet in the command phase). */
export const Com = {
  SLEEP: 0x00,
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  SHUTDOWN: 0x08,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  CONNECT: 0x0b,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  TIME: 0x0f,
  DELAYED_INSERT: 0x10,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  CONNECT_OUT: 0x14,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  /** MariaDB's COM_STMT_BULK_EXECUTE: a prepared statement run once per row of parameters. */
  STMT_BULK_EXECUTE: 0xfa,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  DAEMON: 0x1d,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
} as const;

const COM_NAMES: string[] = [];
for (const [name, code] of Object.entries(Com)) COM_NAMES[code] = name;

/** "Query", "Stmt_execute" …: the spelling MySQL uses in SHOW PROCESSLIST and status counters. */
export function commandName(code: number): string {
  const name = COM_NAMES[code];
  if (name === undefined) return `Unknown(0x${code.toString(16).padStart(2, '0')})`;
  return name.charAt(0) + name.slice(1).toLowerCase();
}

/** Payload length that means "this packet continues in the next one". */
export const MAX_PACKET_CHUNK = 0xffffff;

/** First payload bytes with a fixed meaning in responses. */
export const Header = {
  OK: 0x00,
  AUTH_MORE_DATA: 0x01,
  LOCAL_INFILE: 0xfb,
  EOF: 0xfe,
  AUTH_SWITCH: 0xfe,
  ERR: 0xff,
} as const;

/** Character set id 45 = utf8mb4_general_ci: a safe default before a backend greeting is known. */
export const DEFAULT_CHARSET = 45;
