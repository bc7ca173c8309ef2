// The plugins whose exchange moat relays as it is, packet for packet, with only the sequence ids
// shifted. moat does not know passwords and does not need to: what crosses is bound to the
// backend's own nonce, so nothing moat could learn or replay. (A plugin whose answer may be the
// password itself has a file of its own: caching-sha2.ts, sha256.ts, clear.ts.)
//  * mysql_native_password: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))).
//  * client_ed25519 (MariaDB): an Ed25519 signature of the nonce.
//  * any plugin moat does not know (dialog, parsec, a server's own): relayed the same way, so that a
//    new plugin works through moat without moat learning it.
import type { AuthPlugin, PluginFactory } from './plugin.ts';

const PASSTHROUGH: AuthPlugin = {
  fromClient(p, ex) {
    ex.toBackend(p.payload, p.seq);
  },
  fromBackend() {
    return false;
  },
};

export const passthrough: PluginFactory = () => PASSTHROUGH;
