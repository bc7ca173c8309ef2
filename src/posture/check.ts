// `moat check`: log in to the server behind moat with an account given for the purpose, read its
// settings and accounts, try the network around it, and judge moat's own configuration. Returns
// the findings; printing them is report.ts's job, exit statuses the CLI's.

import { BackendError, type BackendTarget, backendTlsFiles } from '../client/backend.ts';
import type { Config } from '../config/schema.ts';
import type { Endpoint } from '../net/endpoint.ts';
import { formatEndpoint } from '../net/endpoint.ts';
import { accountFindings } from './accounts.ts';
import { bypassFindings, networking, type ProbeResult, probeAll } from './bypass.ts';
import { connectSql, type SqlClient, SqlError } from './client.ts';
import { backendPath, type CheckContext, hostAddresses, moatHostOf } from './context.ts';
import { PrivilegeError, readFacts, type ServerFacts } from './facts.ts';
import { type Finding, sortFindings } from './finding.ts';
import { identityFindings } from './identity.ts';
import { moatFindings } from './moat.ts';
import { serverFindings } from './server.ts';

export interface CheckOptions {
  /** The check account (see docs/check.md for the one privilege it needs). */
  user: string;
  password: string;
  /** Log in here instead of config.backend.address, e.g. the server's unix socket. */
  endpoint?: Endpoint;
  /** Per probe of this host's non-loopback addresses (default 1500 ms). */
  probeTimeoutMs?: number;
  /** A certificate expiring within this many days is a warning (default 30). */
  certWarnDays?: number;
  /** This host's non-loopback addresses (default: os.networkInterfaces()). */
  localAddresses?: readonly string[];
  now?: number;
}

export type CheckErrorCode =
  | 'MOAT_CHECK_CONNECT'
  | 'MOAT_CHECK_LOGIN'
  | 'MOAT_CHECK_PRIVILEGE'
  | 'MOAT_CHECK_QUERY';

/** The check could not run at all (as opposed to findings that fail). Messages never hold a password. */
export class CheckError extends Error {
  readonly code: CheckErrorCode;
  constructor(code: CheckErrorCode, message: string) {
    super(message);
    this.name = 'CheckError';
    this.code = code;
  }
}

export async function runPostureCheck(config: Config, opts: CheckOptions): Promise<Finding[]> {
  const account = { user: opts.user, password: opts.password };
  const endpoint = opts.endpoint ?? config.backend.address;
  const target: BackendTarget = {
    endpoint,
    connectTimeoutMs: config.backend.connectTimeoutMs,
    // A unix socket given instead of the backend address needs no TLS.
    tls: opts.endpoint?.kind === 'unix' ? { mode: 'off' } : config.backend.tls,
    maxPacketSize: 64 << 20,
    // The server expects moat's header on the backend address (LOCAL: the check is moat itself);
    // another endpoint (posture.endpoint) is reached as a plain client.
    proxyProtocol: opts.endpoint === undefined ? config.backend.proxyProtocol : 'off',
  };
  const where = formatEndpoint(endpoint);
  let client: SqlClient;
  try {
    client = await connectSql(target, target.tls.mode === 'off' ? {} : backendTlsFiles(target.tls), account);
  } catch (e) {
    if (e instanceof SqlError)
      throw new CheckError('MOAT_CHECK_LOGIN', `${where}: login as '${opts.user}' refused: ${e.message}`);
    if (e instanceof BackendError)
      throw new CheckError('MOAT_CHECK_CONNECT', `cannot reach the server: ${e.message}`);
    throw new CheckError('MOAT_CHECK_CONNECT', `${where}: ${(e as Error).message}`);
  }
  let facts: ServerFacts;
  try {
    facts = await readFacts(client);
  } catch (e) {
    if (e instanceof PrivilegeError) throw new CheckError('MOAT_CHECK_PRIVILEGE', e.message);
    throw new CheckError(
      'MOAT_CHECK_QUERY',
      `${where}: reading the server's settings: ${(e as Error).message}`,
    );
  } finally {
    client.close();
  }
  const seenFrom = opts.endpoint === undefined ? client.localAddress : null;

  const localAddresses = opts.localAddresses ?? hostAddresses();
  const path = backendPath(config, localAddresses);
  const ctx: CheckContext = {
    config,
    path,
    moatHost: moatHostOf(path, seenFrom),
    localAddresses,
    now: opts.now ?? Date.now(),
    certWarnDays: opts.certWarnDays ?? 30,
  };
  const port = Number(facts.variables.get('port'));
  let probes: ProbeResult[] | null = null;
  if (networking(facts) && path.kind !== 'remote' && port > 0) {
    probes = await probeAll(localAddresses, port, account, opts.probeTimeoutMs ?? 1500);
  }
  return sortFindings([
    ...bypassFindings(facts, ctx, probes),
    ...accountFindings(facts, ctx),
    ...identityFindings(facts, ctx),
    ...serverFindings(facts, ctx),
    ...moatFindings(ctx, facts),
  ]);
}
