// Failure classes: how a connection attempt failed, in the terms of MySQL 8's
// performance_schema.host_cache columns, mapped from what moat sees.
//
// Only handshake-level failures count towards max_connect_errors (SUM_CONNECT_ERRORS), as in
// MySQL: a wrong password, an unknown database or a refusal by policy never does, so an attacker
// cannot get a legitimate host blocked by guessing passwords from it, and a user who mistypes is
// not punished as a port scanner is.

/** How one login attempt ended, as moat saw it. */
export type LoginOutcome =
  | 'ok'
  | 'handshake-error'
  | 'timeout'
  | 'tls-error'
  | 'tls-required'
  | 'auth-denied'
  | 'cleartext-refused'
  | 'backend-unreachable'
  | 'backend-refused'
  | 'client-gone'
  | 'shutdown'
  /** Refused by an address rule (ERR 1130), before the greeting. */
  | 'acl-denied'
  /** The user may not come from this address (a per-user rule; ERR 1045). */
  | 'user-acl-denied'
  /** The user's rule requires TLS, a certificate, a subject, issuer or cipher (ERR 1045). */
  | 'user-tls-required'
  /** The host is blocked (ERR 1129), before the greeting. */
  | 'blocked'
  /** max_connections or the unauthenticated-connection caps (ERR 1040). */
  | 'too-many-connections'
  /** max_user_connections (ERR 1203). */
  | 'user-limit';

export const FAILURE_CLASSES = [
  'nameinfo-transient',
  'nameinfo-permanent',
  'format',
  'addrinfo-transient',
  'addrinfo-permanent',
  'fcrdns',
  'host-acl',
  'host-blocked',
  'no-auth-plugin',
  'auth-plugin',
  'handshake',
  'proxy-user',
  'proxy-user-acl',
  'authentication',
  'ssl',
  'max-user-connections',
  'max-user-connections-per-hour',
  'default-database',
  'init-connect',
  'local',
  'unknown',
] as const;

export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** host_cache column of each class. */
export const FAILURE_COLUMN: Record<FailureClass, string> = {
  'nameinfo-transient': 'COUNT_NAMEINFO_TRANSIENT_ERRORS',
  'nameinfo-permanent': 'COUNT_NAMEINFO_PERMANENT_ERRORS',
  format: 'COUNT_FORMAT_ERRORS',
  'addrinfo-transient': 'COUNT_ADDRINFO_TRANSIENT_ERRORS',
  'addrinfo-permanent': 'COUNT_ADDRINFO_PERMANENT_ERRORS',
  fcrdns: 'COUNT_FCRDNS_ERRORS',
  'host-acl': 'COUNT_HOST_ACL_ERRORS',
  'host-blocked': 'COUNT_HOST_BLOCKED_ERRORS',
  'no-auth-plugin': 'COUNT_NO_AUTH_PLUGIN_ERRORS',
  'auth-plugin': 'COUNT_AUTH_PLUGIN_ERRORS',
  handshake: 'COUNT_HANDSHAKE_ERRORS',
  'proxy-user': 'COUNT_PROXY_USER_ERRORS',
  'proxy-user-acl': 'COUNT_PROXY_USER_ACL_ERRORS',
  authentication: 'COUNT_AUTHENTICATION_ERRORS',
  ssl: 'COUNT_SSL_ERRORS',
  'max-user-connections': 'COUNT_MAX_USER_CONNECTIONS_ERRORS',
  'max-user-connections-per-hour': 'COUNT_MAX_USER_CONNECTIONS_PER_HOUR_ERRORS',
  'default-database': 'COUNT_DEFAULT_DATABASE_ERRORS',
  'init-connect': 'COUNT_INIT_CONNECT_ERRORS',
  local: 'COUNT_LOCAL_ERRORS',
  unknown: 'COUNT_UNKNOWN_ERRORS',
};

/** Classes that count towards SUM_CONNECT_ERRORS and so towards max_connect_errors. */
const CONNECT_ERRORS: ReadonlySet<FailureClass> = new Set<FailureClass>(['handshake', 'ssl']);

export function countsAsConnectError(c: FailureClass): boolean {
  return CONNECT_ERRORS.has(c);
}

/** The class of a failed login, from moat's outcome and the MySQL error code the client got. */
export function classify(outcome: LoginOutcome, errorCode: number): FailureClass | null {
  switch (outcome) {
    case 'ok':
    case 'shutdown':
      return null;
    case 'handshake-error':
    case 'timeout':
    case 'client-gone':
      return 'handshake';
    case 'tls-error':
      return 'ssl';
    case 'tls-required':
    case 'user-tls-required':
      return 'ssl';
    case 'cleartext-refused':
      return 'no-auth-plugin';
    case 'acl-denied':
      return 'host-acl';
    case 'user-acl-denied':
      return 'host-acl';
    case 'blocked':
      return 'host-blocked';
    case 'too-many-connections':
    case 'backend-unreachable':
    case 'backend-refused':
      return 'local';
    case 'user-limit':
      return 'max-user-connections';
    case 'auth-denied':
      return byServerCode(errorCode);
  }
}

/** What the backend's ERR at login says about the attempt. */
function byServerCode(code: number): FailureClass {
  switch (code) {
    case 1045: // ER_ACCESS_DENIED_ERROR
    case 1698: // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    case 1820: // ER_MUST_CHANGE_PASSWORD_LOGIN
    case 1862: // ER_MUST_CHANGE_PASSWORD_LOGIN (password expired)
    case 3118: // ER_ACCOUNT_HAS_BEEN_LOCKED
    case 4151: // MariaDB ER_ACCOUNT_HAS_BEEN_LOCKED
      return 'authentication';
    case 1044: // ER_DBACCESS_DENIED_ERROR
    case 1049: // ER_BAD_DB_ERROR
      return 'default-database';
    case 1203: // ER_TOO_MANY_USER_CONNECTIONS
      return 'max-user-connections';
    case 1226: // ER_USER_LIMIT_REACHED (max_connections_per_hour and friends)
      return 'max-user-connections-per-hour';
    case 1251: // ER_NOT_SUPPORTED_AUTH_MODE
    case 1524: // ER_PLUGIN_IS_NOT_LOADED
      return 'no-auth-plugin';
    case 1130: // ER_HOST_NOT_PRIVILEGED
      return 'host-acl';
    case 1129: // the backend blocked moat's own address
    case 1040: // ER_CON_COUNT_ERROR
      return 'local';
    case 1184: // ER_NEW_ABORTING_CONNECTION (init_connect failed)
      return 'init-connect';
    default:
      return 'unknown';
  }
}
