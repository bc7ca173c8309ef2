// The optional health-check login: a complete login with an account configured for the purpose,
// at start and on an interval. It teaches moat the backend's greeting before the first client
// arrives and tells the operator whether the backend is up. It always finishes the handshake and
// quits (COM_QUIT), so the backend never counts it as an aborted connect against moat's address.
import { userInfo } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { Com } from '../protocol/constants.ts';
import { writeRaw } from '../protocol/packets/auth.ts';
import type { BackendTarget } from './backend.ts';
import { loginBackend, probeOwnIdentity } from './own-login.ts';
import type { ProfileStore } from './profile.ts';

export interface HealthResult {
  ok: boolean;
  latencyMs: number;
  serverVersion: string | null;
  error: string | null;
}

export async function healthCheck(
  target: BackendTarget,
  files: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  account: { user: string; password: string },
  profile: ProfileStore | null,
): Promise<HealthResult> {
  const started = performance.now();
  let serverVersion: string | null = null;
  const result = (error: string | null): HealthResult => ({
    ok: error === null,
    latencyMs: performance.now() - started,
    serverVersion,
    error,
  });
  try {
    const { link } = await loginBackend(target, files, account, (g) => {
      serverVersion = g.serverVersion;
      profile?.learn(g);
    });
    link.channel.write(writeRaw(Buffer.from([Com.QUIT]), 0));
    link.channel.socket.end();
    return result(null);
  } catch (e) {
    // The server's ERR as "1045 Access denied …"; anything else (unreachable, a timeout) as is.
    return result((e as Error).message);
  }
}

/** moat must not start where the backend authenticates moat's OS user as an account. */
export class OwnIdentityError extends Error {
  readonly code = 'MOAT_OS_USER_IS_ACCOUNT';
  constructor(message: string) {
    super(message);
    this.name = 'OwnIdentityError';
  }
}

/**
 * At start, for a unix-socket backend: refuses to run as an OS user the server maps to an account
 * (MariaDB unix_socket, MySQL auth_socket — e.g. moat as root in front of root@localhost's default
 * `mysql_native_password OR unix_socket`). The probe is one failed login as moat's OS user name;
 * a server that cannot be reached yet is logged and not waited for.
 */
export async function refuseOwnIdentity(config: Config, log: Logger): Promise<void> {
  const endpoint = config.backend.address;
  if (endpoint.kind !== 'unix') return;
  let osUser: string;
  try {
    osUser = userInfo().username;
  } catch {
    return;
  }
  const target: BackendTarget = {
    endpoint,
    connectTimeoutMs: config.backend.connectTimeoutMs,
    tls: { mode: 'off' },
    maxPacketSize: 1 << 20,
    // Even with the PROXY protocol: MariaDB matches a socket connection against 'localhost'
    // accounts as well as the header's address, and unix_socket still reads the socket's peer.
    proxyProtocol: config.backend.proxyProtocol,
  };
  let verdict: 'mapped' | 'not-mapped';
  try {
    verdict = await probeOwnIdentity(target, osUser);
  } catch (e) {
    log.warn(
      { err: (e as Error).message },
      "could not check whether the backend maps moat's OS user to an account",
    );
    return;
  }
  if (verdict === 'mapped') {
    throw new OwnIdentityError(
      `the backend at unix:${endpoint.path} logs in OS user '${osUser}' (moat) as its account '${osUser}' ` +
        'without a password (unix_socket / auth_socket): every client moat relays could become it. Run moat as ' +
        `an OS user that has no account, or give '${osUser}'@'localhost' a password method only ` +
        `(ALTER USER '${osUser}'@'localhost' IDENTIFIED VIA ed25519 USING PASSWORD('<new password>')).`,
    );
  }
}
