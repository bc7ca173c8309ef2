// Accounts that a login through moat could reach as moat rather than as the client (issue 16):
//  * account.peer-credential — unix_socket (MariaDB) / auth_socket (MySQL) over a unix-socket
//    backend authenticate the socket's peer, which is moat: the account of moat's OS user opens to
//    whoever logs in with its name. The gateway refuses a login the backend accepts before the
//    client answers, and one that matches a localhost account for a remote client; the account
//    stays a standing risk (backend.localAccounts: allow, a chain like root's default
//    `mysql_native_password OR unix_socket`), so it fails.
//  * account.moat-local — without the PROXY protocol the server matches accounts against moat's
//    address: an account limited to moat's host (localhost over the socket, 127.0.0.1 …) is
//    reachable from every client unless moat refuses it (backend.localAccounts: refuse, default).
import { userInfo } from 'node:os';
import { hostAdmits } from '../client/matched-account.ts';
import type { CheckContext } from './context.ts';
import type { DbAccount, ServerFacts } from './facts.ts';
import { accountName, type Finding, NEW_PASSWORD, passed, sqlString } from './finding.ts';

export const IDENTITY_CHECKS = ['account.peer-credential', 'account.moat-local'] as const;

const PEER_CREDENTIAL = new Set(['unix_socket', 'auth_socket']);

/** The OS user moat runs as; `moat check` runs as it too, in the layouts the README shows. */
function osUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return null;
  }
}

/** The server's view of moat's connections admits this host part (besides '%', which admits all). */
function limitedToMoat(a: DbAccount, ctx: CheckContext): boolean {
  if (a.host === '%' || a.host === '') return false;
  if (ctx.path.kind === 'unix') return a.host.toLowerCase() === 'localhost';
  return hostAdmits(a.host, ctx.moatHost);
}

export function identityFindings(
  facts: ServerFacts,
  ctx: CheckContext,
  me: string | null = osUser(),
): Finding[] {
  const accounts = facts.accounts.filter((a) => !a.role && !a.locked);
  const area = 'accounts' as const;
  const out: Finding[] = [];
  const backend = ctx.config.backend;

  if (ctx.path.kind === 'unix') {
    for (const a of accounts) {
      const peer = a.methods.filter((m) => PEER_CREDENTIAL.has(m.plugin));
      if (peer.length === 0 || !limitedToMoat(a, ctx)) continue;
      // unix_socket maps the OS user of the same name, or the one its USING/AS names.
      const mapped = peer.some((m) => (m.hash === '' ? a.user : m.hash) === me);
      if (!mapped) continue;
      const subject = accountName(a.user, a.host);
      const fix =
        facts.flavor === 'mysql'
          ? `ALTER USER ${subject} IDENTIFIED WITH caching_sha2_password BY ${sqlString(NEW_PASSWORD)};`
          : `ALTER USER ${subject} IDENTIFIED VIA ed25519 USING PASSWORD(${sqlString(NEW_PASSWORD)});`;
      out.push({
        id: 'account.peer-credential',
        area,
        severity: 'fail',
        subject,
        seen: `${a.methods.map((m) => m.plugin).join(' OR ')}, and moat runs as OS user '${me}' over the unix socket`,
        why:
          `${peer[0]!.plugin} authenticates the socket's peer process, which is moat: every login through moat ` +
          `with this name would be '${me}' to the server, whatever its password. moat refuses such logins (1045), ` +
          'but the account stays one step from open (backend.localAccounts: allow, another method in its chain). ' +
          'Give it a password method only, or run moat as an OS user that has no account.',
        fix,
        fixKind: 'sql',
      });
    }
  }

  // Over a unix socket MariaDB matches 'localhost' accounts even for a PROXY header's address.
  if (backend.proxyProtocol === 'off' || ctx.path.kind === 'unix') {
    const local = accounts.filter((a) => limitedToMoat(a, ctx));
    if (backend.localAccounts === 'allow') {
      for (const a of local) {
        out.push({
          id: 'account.moat-local',
          area,
          severity: 'fail',
          subject: accountName(a.user, a.host),
          seen: `host part '${a.host}' matches moat's own connections ('${ctx.moatHost}'); backend.localAccounts is allow`,
          why:
            "The server sees moat's address for every client, so an account limited to moat's host is reachable " +
            'from any client moat admits. With localAccounts: refuse moat turns such logins away (1045); with ' +
            "backend.proxyProtocol (and the server's proxy_protocol_networks) the server sees the client itself.",
          fix: 'backend.localAccounts: refuse',
          fixKind: 'config',
        });
      }
    } else if (local.length > 0) {
      out.push(
        passed({
          id: 'account.moat-local',
          area,
          subject: 'all accounts',
          seen: `refused through moat for clients not on moat's host (backend.localAccounts): ${local
            .map((a) => accountName(a.user, a.host))
            .join(', ')}`,
        }),
      );
    }
  }
  for (const id of IDENTITY_CHECKS) {
    if (!out.some((f) => f.id === id))
      out.push(
        passed({
          id,
          area,
          subject: 'all accounts',
          seen: `none of ${accounts.length} accounts that can log in`,
        }),
      );
  }
  return out;
}
