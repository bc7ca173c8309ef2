// moat's own error codes, in one table (issue 14): the stable `code` each typed error carries, the
// class that carries it, and one line for the operator. MySQL's codes (1045, 1129, 3159 …) are in
// protocol/error-codes.ts: what a client sees; these are what a log line, an exception or a test
// names. docs/errors.md is generated from this table (`node scripts/errors-doc.ts`), and
// test/unit/errors-table.test.ts fails when a code used in src/ is missing here, when an entry
// here is used nowhere, or when the page is out of date.

export interface MoatErrorInfo {
  /** The class that carries the code. */
  readonly class: string;
  /** What happened, for the operator reading a log line. */
  readonly what: string;
  /** The MySQL error a client on the line gets for it, if any. */
  readonly mysql?: string;
}

export const MOAT_ERRORS = {
  // The codec: a malformed or hostile peer closes that connection only.
  MOAT_PACKET_MALFORMED: {
    class: 'ProtocolError',
    what: 'a packet whose fields run past its end, or that is not what the protocol allows here',
    mysql: '1043 ER_HANDSHAKE_ERROR during login; the connection is closed',
  },
  MOAT_PACKET_TOO_LARGE: {
    class: 'ProtocolError',
    what: 'a packet longer than the limit for its phase (limits.maxPacketSize; 128 KiB while logging in)',
    mysql: '1153 ER_NET_PACKET_TOO_LARGE',
  },
  MOAT_PACKET_OUT_OF_ORDER: {
    class: 'ProtocolError',
    what: 'a sequence id out of order, or bytes after an SSLRequest before the TLS handshake',
    mysql: '1156 ER_NET_PACKETS_OUT_OF_ORDER',
  },
  MOAT_PROXY_HEADER_INVALID: {
    class: 'ProtocolError',
    what: 'a PROXY protocol v1/v2 header that does not parse, from a balancer in proxyProtocolFrom',
  },
  MOAT_PEER_CLOSED: {
    class: 'ChannelClosedError',
    what: 'the peer closed the connection while moat waited for a packet',
  },
  MOAT_READ_CANCELLED: {
    class: 'ReadCancelledError',
    what: 'a pending packet read was cancelled (the stream was handed over)',
  },
  MOAT_TLS_HANDSHAKE: {
    class: 'TlsHandshakeError',
    what: "a client's TLS handshake failed (protocol below tls.minVersion, no shared cipher, bad certificate)",
  },
  MOAT_TLS_FILES: {
    class: 'TlsFilesError',
    what: 'tls.cert / tls.key / tls.ca cannot be read or do not match',
  },
  // The backend.
  MOAT_BACKEND_UNREACHABLE: {
    class: 'BackendError',
    what: 'the backend refused or dropped the connection (its endpoint and reason are fields)',
    mysql: "2003 CR_CONN_HOST_ERROR naming the backend's endpoint",
  },
  MOAT_BACKEND_TIMEOUT: {
    class: 'BackendError',
    what: 'no connection or no greeting from the backend within backend.connectTimeoutMs',
    mysql: '2003 CR_CONN_HOST_ERROR',
  },
  MOAT_BACKEND_TLS: {
    class: 'BackendError',
    what: 'TLS to the backend failed (not offered, or the certificate did not verify)',
    mysql: "2003 CR_CONN_HOST_ERROR with 'TLS error'",
  },
  MOAT_BACKEND_REFUSED: {
    class: 'BackendError',
    what: 'the backend answered the connection with its own ERR (too many connections, host blocked)',
    mysql: "the server's own error, relayed",
  },
  MOAT_BACKEND_PROTOCOL: {
    class: 'BackendError',
    what: 'the backend sent a greeting moat cannot read, or data out of turn',
  },
  MOAT_MATCHED_ACCOUNT: {
    class: 'MatchedAccountError',
    what: 'moat could not learn which account the backend matched (CURRENT_USER() failed); the login is refused',
    mysql: '1045 ER_ACCESS_DENIED_ERROR',
  },
  MOAT_ONE_ROW: {
    class: 'OneRowError',
    what: "one of moat's own questions to the backend on a client's session (CURRENT_USER(), @@sql_mode) got an ERR or an answer of another shape",
  },
  MOAT_OS_USER_IS_ACCOUNT: {
    class: 'OwnIdentityError',
    what: "start refused: over the unix-socket backend, moat's OS user logs in without a password (unix_socket)",
  },
  // Configuration and start.
  MOAT_CONFIG_INVALID: {
    class: 'ConfigError',
    what: 'the configuration does not validate; each problem names its key',
  },
  MOAT_START_FAILED: {
    class: 'StartError',
    what: 'moat start could not bring a listener, certificate or store up',
  },
  MOAT_STATE_DIR: {
    class: 'StateDirError',
    what: 'stateDir is unusable: under /proc, /sys or /dev, not a directory, or not writable',
  },
  MOAT_TCPWRAP_SYNTAX: {
    class: 'TcpWrappersSyntaxError',
    what: 'a hosts.allow / hosts.deny line moat cannot read (file:line)',
  },
  MOAT_REDIS_CONFIG: {
    class: 'RedisConfigError',
    what: 'the Redis settings are contradictory (e.g. a password inside the URL)',
  },
  // The guard and the fleet.
  MOAT_HOST_EXEMPT: { class: 'ExemptHostError', what: 'BLOCK HOST of an address in guard.blocking.exempt' },
  MOAT_INVALID_ADDRESS: {
    class: 'InvalidAddressError',
    what: 'text that is no IPv4 or IPv6 address where one is needed (BLOCK HOST, the HTTP API)',
    mysql: '1210 ER_WRONG_ARGUMENTS',
  },
  MOAT_FLEET_UNAVAILABLE: {
    class: 'FleetUnavailableError',
    what: 'a fleet view was asked for while Redis is down',
  },
  // The audit log.
  MOAT_AUDIT_OPEN_FAILED: { class: 'AuditError', what: 'an audit sink cannot open its file or socket' },
  MOAT_AUDIT_WRITE_FAILED: {
    class: 'AuditError',
    what: 'an audit sink could not write (disk full, file gone)',
  },
  MOAT_AUDIT_ROTATE_FAILED: { class: 'AuditError', what: 'an audit file could not be rotated' },
  MOAT_AUDIT_SYSLOG_FAILED: { class: 'AuditError', what: 'the syslog receiver or relay failed' },
  MOAT_AUDIT_QUEUE_FULL: {
    class: 'AuditError',
    what: 'audit records waiting exceed audit.maxQueue (dropped and counted; strict mode refuses logins)',
  },
  MOAT_AUDIT_RENDER_FAILED: {
    class: 'AuditError',
    what: 'a record could not be rendered for a sink (counted, never silent)',
  },
  // moat check.
  MOAT_CHECK_CONNECT: { class: 'CheckError', what: 'moat check cannot reach the server' },
  MOAT_CHECK_LOGIN: { class: 'CheckError', what: "moat check's account cannot log in" },
  MOAT_CHECK_PRIVILEGE: {
    class: 'CheckError',
    what: "moat check's account lacks the one privilege it needs (SELECT on mysql.global_priv / mysql.user)",
  },
  MOAT_CHECK_QUERY: { class: 'CheckError', what: 'a query of moat check failed' },
  // The nftables mirror.
  MOAT_NFT_MISSING: { class: 'NftError', what: 'the nft command is not installed' },
  MOAT_NFT_DENIED: {
    class: 'NftError',
    what: 'nft was refused (no CAP_NET_ADMIN): the mirror stays off, with one warning',
  },
  MOAT_NFT_FAILED: { class: 'NftError', what: 'an nft command failed' },
  MOAT_NFT_TIMEOUT: { class: 'NftError', what: 'an nft command did not answer in time' },
  MOAT_NFT_NOT_FOUND: { class: 'NftError', what: "moat's nftables table or set is not there" },
  MOAT_NFT_FOREIGN_TABLE: {
    class: 'NftError',
    what: 'a table of that name exists that moat did not make: it is left alone',
  },
  // The SQL firewall.
  MOAT_SQLFW_MODE: {
    class: 'SqlfwError',
    what: 'an unknown SQL-firewall mode (OFF, RECORDING, DETECTING, PROTECTING)',
  },
  MOAT_SQLFW_ARGUMENT: { class: 'SqlfwError', what: 'a bad argument to a SQL-firewall statement' },
  MOAT_SQLFW_NO_GROUP: { class: 'SqlfwError', what: 'a SQL-firewall group profile that does not exist' },
  MOAT_SQLFW_FILE: {
    class: 'SqlfwError',
    what: 'an allowlist file that does not parse or validate (the entry is named)',
  },
  MOAT_SQLFW_ACCOUNT: { class: 'AccountNameError', what: "an account name that is not 'user'@'host'" },
} as const satisfies Record<string, MoatErrorInfo>;

export type MoatErrorCode = keyof typeof MOAT_ERRORS;

/** docs/errors.md, as generated from the table. */
export function errorsMarkdown(): string {
  const rows = Object.entries(MOAT_ERRORS).map(([code, e]: [string, MoatErrorInfo]) => {
    const cell = (s: string) => s.replaceAll('|', '\\|');
    return `| \`${code}\` | \`${e.class}\` | ${cell(e.what)} | ${e.mysql === undefined ? '' : cell(e.mysql)} |`;
  });
  return [
    "# moat's own error codes",
    '',
    '<!-- Generated from src/model/errors.ts by `node scripts/errors-doc.ts`; a test checks it. -->',
    '',
    'Every typed error moat raises carries one of these stable codes (in log lines as `code`).',
    "What a client on the line sees is MySQL's own error, in the last column where there is one;",
    "moat's MySQL error texts are in `src/protocol/error-codes.ts`. Errors that only carry a MySQL",
    "error to a client (`LoginFailure`, `AdminError`, the HTTP API's `HttpError`) have no code of",
    'their own.',
    '',
    '| code | class | what happened | the client gets |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
