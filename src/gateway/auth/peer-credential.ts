// MariaDB's unix_socket and MySQL's auth_socket authenticate the OS user of the socket's peer
// process (SO_PEERCRED), never the client: over a unix-socket backend that is moat's. A
// client-side step of such a plugin (MySQL's auth_socket with a client plugin) is refused at its
// AuthSwitchRequest, whatever the client would answer. (The server-side only form, which sends no
// switch at all, is the OK before the client answered: identity.ts.)
import { passthrough } from './passthrough.ts';
import { Denial, type PluginFactory } from './plugin.ts';

export const peerCredential =
  (plugin: string): PluginFactory =>
  (ex) => {
    if (ex.identity?.unixBackend !== true) return passthrough(ex);
    // Not logged in yet: the user name is the one moat sent in its HandshakeResponse.
    throw new Denial(
      'peer-credential',
      `refused: the backend asked for ${plugin}, which would authenticate moat's OS user`,
      ex.user,
      ex.identity.clientAddress,
    );
  };
