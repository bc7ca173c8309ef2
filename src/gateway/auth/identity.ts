// One rule (issue 16): a client must never log in as moat. The server authenticates the
// connection it sees, which is moat's:
//  * peer-credential plugins (MariaDB unix_socket, MySQL auth_socket) read SO_PEERCRED of a
//    unix-socket connection — moat's OS user. They never read a packet, so the server sends no
//    AuthSwitchRequest for them: an account IDENTIFIED VIA unix_socket answers moat's
//    HandshakeResponse (plugin moat_reauth, no auth data) with OK at once. Any OK before the
//    client has answered is refused: every password plugin, even for an empty password, first
//    switches from moat_reauth and reads the client's answer. (A client-side step of such a
//    plugin is refused at its switch: peer-credential.ts.)
//  * a chain like MariaDB's default root@localhost (mysql_native_password OR unix_socket) reads
//    the client's answer, fails it, then passes unix_socket silently: the OK follows a wrong
//    password. Such accounts are limited to localhost; with the PROXY protocol off, moat asks the
//    backend which account it matched (CURRENT_USER()) and refuses, for a non-local client, one
//    whose host part would not admit the client's address (client/matched-account.ts).
import type { BackendIdentity } from '../../client/backend.ts';
import {
  currentUser,
  hostAdmits,
  type MatchedAccount,
  MatchedAccountError,
} from '../../client/matched-account.ts';
import { InvalidAddressError, parseClientAddress } from '../../model/address.ts';
import type { PacketChannel } from '../../net/channel.ts';
import { Denial } from './plugin.ts';

/** Why a login the backend accepted (its OK just arrived) must not go through, or null. */
export async function loginDenial(
  identity: BackendIdentity,
  backend: PacketChannel,
  clientAnswered: boolean,
): Promise<Denial | null> {
  if (!clientAnswered) {
    return new Denial(
      'peer-credential',
      'refused: the backend accepted the login before the client answered (a peer-credential ' +
        "account such as unix_socket, which authenticates moat's OS user)",
      (await matched(backend, identity)).given,
      identity.clientAddress,
    );
  }
  if (identity.serverSeesClient || identity.clientLocal || identity.localAccounts === 'allow') return null;
  // The server sees moat's address for this login; when that is the client's own address (a client
  // on moat's host, from the address moat reaches the server from), it matched the account as it
  // would have directly, and no round trip is needed.
  if (sameAddress(backend.socket.localAddress, identity.clientAddress)) return null;
  let account: MatchedAccount;
  try {
    account = await currentUser(backend);
  } catch (e) {
    if (!(e instanceof MatchedAccountError)) throw e;
    // E.g. 1820 for an expired password (the session may only change it): an account moat cannot
    // name may be root@localhost, so it is refused like one.
    return new Denial(
      'local-account',
      `refused: moat could not learn which account the backend matched (${e.message})`,
      identity.user,
      identity.clientAddress,
    );
  }
  if (hostAdmits(account.host, identity.clientAddress)) return null;
  return new Denial(
    'local-account',
    `refused: the backend matched '${account.user}'@'${account.host}', an account limited to ` +
      "moat's own host (backend.proxyProtocol is off, backend.localAccounts is refuse)",
    account.given,
    identity.clientAddress,
  );
}

/** The matched account for moat's 1045 text; the login's user name when the server will not say. */
async function matched(backend: PacketChannel, identity: BackendIdentity): Promise<MatchedAccount> {
  try {
    return await currentUser(backend);
  } catch (e) {
    if (!(e instanceof MatchedAccountError)) throw e;
    return { user: identity.user, host: '', given: identity.user };
  }
}

function sameAddress(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = parseClientAddress(a);
  return !(x instanceof InvalidAddressError) && x === parseClientAddress(b);
}
