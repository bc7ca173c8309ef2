// What `moat check` reads from the server, once, with the check account: global variables (no
// privilege needed), the accounts (SELECT on mysql.global_priv on MariaDB 10.4+, on mysql.user
// on MySQL and older MariaDB), the active authentication plugins (information_schema, no
// privilege). The area checks are pure functions of these facts, so they can be tested alone.
import type { X509Certificate } from 'node:crypto';
import { Cap } from '../protocol/constants.ts';
import { type Row, type SqlClient, SqlError } from './client.ts';

export type Flavor = 'mariadb' | 'mysql';

export interface AuthMethod {
  plugin: string;
  /** The stored hash or key (authentication_string); compared, never shown. */
  hash: string;
}

export type SslRequirement = 'none' | 'ssl' | 'x509' | 'specified';

export interface DbAccount {
  user: string;
  host: string;
  /** One method, or several for MariaDB's `IDENTIFIED VIA a OR b`. */
  methods: AuthMethod[];
  ssl: SslRequirement;
  locked: boolean;
  role: boolean;
  super: boolean;
  grantOption: boolean;
  /** Every privilege of the classic global set (what GRANT ALL gives). */
  all: boolean;
}

export interface ServerFacts {
  flavor: Flavor;
  version: string;
  /** SHOW GLOBAL VARIABLES, lower-case names; a variable this server lacks is absent. */
  variables: ReadonlyMap<string, string | null>;
  accounts: DbAccount[];
  /** Active authentication plugins (server-side names: ed25519, mysql_native_password …). */
  authPlugins: ReadonlySet<string>;
  /** The greeting offers TLS. */
  tlsOffered: boolean;
  /** The server's certificate, when the check's own connection was TLS. */
  peerCertificate: X509Certificate | null;
}

export const VARIABLES = [
  'skip_networking',
  'bind_address',
  'port',
  'max_connect_errors',
  'skip_name_resolve',
  'local_infile',
  'secure_file_priv',
  'have_ssl',
  'require_secure_transport',
  'tls_version',
  'log_warnings',
  'log_error_verbosity',
] as const;

/** The check account may not read the account table: the message names the GRANT it needs. */
export class PrivilegeError extends Error {
  readonly code = 'MOAT_CHECK_PRIVILEGE';
}

const ER_TABLEACCESS_DENIED = 1142;
const ER_NO_SUCH_TABLE = 1146;

export async function readFacts(client: SqlClient): Promise<ServerFacts> {
  const version = client.greeting.serverVersion;
  const flavor: Flavor = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
  const varRows = await client.query(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${VARIABLES.map((v) => `'${v}'`).join(', ')})`,
  );
  const variables = new Map(varRows.map((r) => [String(r.Variable_name).toLowerCase(), r.Value ?? null]));
  const plugins = await client.query(
    "SELECT PLUGIN_NAME AS name FROM information_schema.PLUGINS WHERE PLUGIN_TYPE = 'AUTHENTICATION' AND PLUGIN_STATUS = 'ACTIVE'",
  );
  return {
    flavor,
    version,
    variables,
    accounts: await readAccounts(client, flavor),
    authPlugins: new Set(plugins.map((r) => r.name ?? '')),
    tlsOffered: (client.greeting.capabilities & Cap.SSL) !== 0,
    peerCertificate: client.peerCertificate,
  };
}

async function readAccounts(client: SqlClient, flavor: Flavor): Promise<DbAccount[]> {
  const denied = async (table: string): Promise<PrivilegeError> => {
    const [me] = await client.query('SELECT CURRENT_USER() AS me');
    const at = (me?.me ?? 'moat_check@localhost').split('@');
    const host = at.pop() ?? 'localhost';
    return new PrivilegeError(
      `the check account may not read ${table}; as an administrator run: ` +
        `GRANT SELECT ON ${table} TO '${at.join('@')}'@'${host}'`,
    );
  };
  if (flavor === 'mariadb') {
    try {
      return (await client.query('SELECT User, Host, Priv FROM mysql.global_priv')).map(fromGlobalPriv);
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      if (e.code === ER_TABLEACCESS_DENIED) throw await denied('mysql.global_priv');
      // MariaDB before 10.4 keeps accounts in the mysql.user table, as MySQL does.
      if (e.code !== ER_NO_SUCH_TABLE) throw e;
    }
  }
  try {
    return (await client.query('SELECT * FROM mysql.user')).map(fromUserTable);
  } catch (e) {
    if (e instanceof SqlError && e.code === ER_TABLEACCESS_DENIED) throw await denied('mysql.user');
    throw e;
  }
}

// Privilege bits of mysql.global_priv's `access` (sql/privilege.h): stable since MySQL 4.
const GRANT_ACL = 1 << 10;
const SUPER_ACL = 1 << 15;
/** SELECT … CREATE TABLESPACE: bits 0–28, the set GRANT ALL gives on every version. */
const CLASSIC_ALL = 2 ** 29 - 1;
const SSL_TYPES: readonly SslRequirement[] = ['none', 'ssl', 'x509', 'specified'];

interface PrivJson {
  access?: number;
  plugin?: string;
  authentication_string?: string;
  auth_or?: Array<{ plugin?: string; authentication_string?: string }>;
  ssl_type?: number;
  account_locked?: boolean;
  is_role?: boolean;
}

/** A mysql.global_priv row. In `auth_or`, an empty object stands for the top-level method. */
export function fromGlobalPriv(row: Row): DbAccount {
  const priv = JSON.parse(row.Priv ?? '{}') as PrivJson;
  const top: AuthMethod = { plugin: priv.plugin ?? '', hash: priv.authentication_string ?? '' };
  const methods =
    priv.auth_or === undefined
      ? [top]
      : priv.auth_or.map((m) =>
          m.plugin === undefined ? top : { plugin: m.plugin, hash: m.authentication_string ?? '' },
        );
  const access = priv.access ?? 0;
  // Bitwise operators truncate to 32 bits; access goes up to 2^39 on 10.11.
  const has = (bit: number) => Math.floor(access / bit) % 2 === 1;
  return {
    user: row.User ?? '',
    host: row.Host ?? '',
    methods,
    ssl: SSL_TYPES[priv.ssl_type ?? 0] ?? 'specified',
    locked: priv.account_locked === true,
    role: priv.is_role === true,
    super: has(SUPER_ACL),
    grantOption: has(GRANT_ACL),
    all: ((access % 2 ** 29) | GRANT_ACL) === CLASSIC_ALL,
  };
}

/** A mysql.user row (MySQL, MariaDB before 10.4): one column per privilege, 'Y' or 'N'. */
export function fromUserTable(row: Row): DbAccount {
  const privs = Object.keys(row).filter((k) => k.endsWith('_priv') && k !== 'Grant_priv');
  const ssl = (row.ssl_type ?? '').toUpperCase();
  return {
    user: row.User ?? '',
    host: row.Host ?? '',
    // MariaDB before 10.4 keeps native hashes in Password with an empty plugin.
    methods: [
      {
        plugin: row.plugin || 'mysql_native_password',
        hash: row.authentication_string || row.Password || '',
      },
    ],
    ssl: ssl === 'ANY' ? 'ssl' : ssl === 'X509' ? 'x509' : ssl === 'SPECIFIED' ? 'specified' : 'none',
    locked: row.account_locked === 'Y',
    role: row.is_role === 'Y',
    super: row.Super_priv === 'Y',
    grantOption: row.Grant_priv === 'Y',
    all: privs.length > 0 && privs.every((k) => row[k] === 'Y'),
  };
}
