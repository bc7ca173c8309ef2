// The MySQL errors moat itself sends to clients: code, SQLSTATE and message template exactly as
// the server's errmsg table has them (MySQL 8 / MariaDB 10.11 `ER_*` and client `CR_*` numbers),
// so a client, an application's retry logic and a DBA's log grep see familiar errors.
// `%s` placeholders are filled in order by `formatServerError`.

export type ServerErrorName = keyof typeof SERVER_ERRORS;

export const SERVER_ERRORS = {
  ER_CON_COUNT_ERROR: { code: 1040, state: '08004', message: 'Too many connections' },
  ER_HANDSHAKE_ERROR: { code: 1043, state: '08S01', message: 'Bad handshake' },
  ER_ACCESS_DENIED_ERROR: {
    code: 1045,
    state: '28000',
    message: "Access denied for user '%s'@'%s' (using password: %s)",
  },
  ER_UNKNOWN_COM_ERROR: { code: 1047, state: '08S01', message: 'Unknown command' },
  ER_SERVER_SHUTDOWN: { code: 1053, state: '08S01', message: 'Server shutdown in progress' },
  ER_UNKNOWN_ERROR: { code: 1105, state: 'HY000', message: '%s' },
  ER_HOST_IS_BLOCKED: {
    code: 1129,
    state: 'HY000',
    message: "Host '%s' is blocked because of many connection errors; unblock with 'mysqladmin flush-hosts'",
  },
  ER_HOST_NOT_PRIVILEGED: {
    code: 1130,
    state: 'HY000',
    message: "Host '%s' is not allowed to connect to this MySQL server",
  },
  ER_NOT_ALLOWED_COMMAND: {
    code: 1148,
    state: '42000',
    message: 'The used command is not allowed with this MySQL version',
  },
  ER_NET_PACKET_TOO_LARGE: {
    code: 1153,
    state: '08S01',
    message: "Got a packet bigger than 'max_allowed_packet' bytes",
  },
  ER_NET_READ_ERROR: { code: 1158, state: '08S01', message: 'Got an error reading communication packets' },
  ER_NET_READ_INTERRUPTED: {
    code: 1159,
    state: '08S01',
    message: 'Got timeout reading communication packets',
  },
  ER_NET_PACKETS_OUT_OF_ORDER: { code: 1156, state: '08S01', message: 'Got packets out of order' },
  ER_TOO_MANY_USER_CONNECTIONS: {
    code: 1203,
    state: '42000',
    message: "User %s already has more than 'max_user_connections' active connections",
  },
  ER_NOT_SUPPORTED_AUTH_MODE: {
    code: 1251,
    state: '08004',
    message:
      'Client does not support authentication protocol requested by server; consider upgrading MySQL client',
  },
  ER_BAD_DB_ERROR: { code: 1049, state: '42000', message: "Unknown database '%s'" },
  ER_BAD_FIELD_ERROR: { code: 1054, state: '42S22', message: "Unknown column '%s' in '%s'" },
  ER_PARSE_ERROR: { code: 1064, state: '42000', message: '%s' },
  ER_NO_SUCH_THREAD: { code: 1094, state: 'HY000', message: 'Unknown thread id: %s' },
  ER_TABLEACCESS_DENIED_ERROR: {
    code: 1142,
    state: '42000',
    message: "%s command denied to user '%s'@'%s' for table '%s'",
  },
  ER_NO_SUCH_TABLE: { code: 1146, state: '42S02', message: "Table '%s' doesn't exist" },
  ER_UNKNOWN_SYSTEM_VARIABLE: { code: 1193, state: 'HY000', message: "Unknown system variable '%s'" },
  ER_WRONG_ARGUMENTS: { code: 1210, state: 'HY000', message: 'Incorrect arguments to %s' },
  ER_SPECIFIC_ACCESS_DENIED_ERROR: {
    code: 1227,
    state: '42000',
    message: 'Access denied; you need (at least one of) the %s privilege(s) for this operation',
  },
  ER_WRONG_VALUE_FOR_VAR: { code: 1231, state: '42000', message: '%s' },
  ER_INCORRECT_GLOBAL_LOCAL_VAR: {
    code: 1238,
    state: 'HY000',
    message: "Variable '%s' is a read only variable",
  },
  ER_SP_DOES_NOT_EXIST: { code: 1305, state: '42000', message: 'FUNCTION %s does not exist' },
  // MySQL Enterprise Firewall's refusal in PROTECTING mode: EE answers with 1045 / 28000 and this
  // text (its manual's examples); moat's own name, EE's numbers, so clients handle it alike.
  ER_FIREWALL_BLOCKED: { code: 1045, state: '28000', message: 'Statement was blocked by Firewall' },
  ER_CONNECTION_KILLED: { code: 1927, state: '70100', message: 'Connection was killed' },
  ER_SECURE_TRANSPORT_REQUIRED: {
    code: 3159,
    state: 'HY000',
    message: 'Connections using insecure transport are prohibited while --require_secure_transport=ON.',
  },
  // A client-library code (CR_CONN_HOST_ERROR); MySQL Router sends it to clients the same way when
  // its destination is down, so applications that retry on 2003 keep doing so through moat.
  CR_CONN_HOST_ERROR: { code: 2003, state: 'HY000', message: "Can't connect to MySQL server on '%s' (%s)" },
  // CR_SSL_CONNECTION_ERROR: what a client reports when TLS cannot be set up.
  CR_SSL_CONNECTION_ERROR: { code: 2026, state: 'HY000', message: 'SSL connection error: %s' },
} as const satisfies Record<string, { code: number; state: string; message: string }>;

export interface ServerError {
  code: number;
  state: string;
  message: string;
}

export function formatServerError(name: ServerErrorName, ...args: Array<string | number>): ServerError {
  const entry = SERVER_ERRORS[name];
  let i = 0;
  const message = entry.message.replace(/%s/g, () => String(args[i++] ?? ''));
  return { code: entry.code, state: entry.state, message };
}
