// sha256_password (MySQL; MariaDB has no such server plugin). The server's AuthSwitchRequest
// carries a 20-byte nonce and a NUL; the client's answer, as MySQL's client library
// (sha256_password_auth_client), libmariadb (sha256_pw.c) and mysql2 write it:
//  * the empty password: 0x00 (libmysqlclient on any leg; the others on TLS), or an empty packet;
//  * on TLS: the password in clear with its NUL;
//  * otherwise: 0x01, a request for the server's public key, which comes as AuthMoreData (PEM);
//    then the password with its NUL, XORed with the nonce and RSA-OAEP-encrypted with that key.
//    A client that holds the key already sends that at once.
// The server reads a cleartext answer only over TLS: sha256_password asks whether the connection
// is encrypted, and a unix socket is not (caching_sha2_password trusts a local socket, this plugin
// does not). So, between the legs:
//  * a cleartext password from a secure client leg (TLS, or moat's unix socket) never goes to a
//    backend leg without TLS: moat asks the backend for its key and sends the password sealed, so
//    it never crosses a network in clear;
//  * a key request while the backend leg is TLS, where the server would read 0x01 as the password,
//    is answered with moat's own key; moat opens the answer and sends the password inside TLS;
//  * the rest is relayed as it is: the empty password; a key request to a backend leg without TLS
//    (the client seals for the backend); a cleartext password into the backend's TLS; and any
//    answer from a plain client leg, which is sealed for a key the client holds.
// moat cannot tell a sealed answer from a cleartext one: from a client on moat's unix socket that
// holds the server's key, it takes the sealed answer for the password and the login fails. Such a
// client must let the key be fetched (or connect with TLS).
//
//   answer ──(0x01, backend TLS)──► sealed ──► relay
//      └──(cleartext from a secure leg, backend not TLS)──► backend-key ──► relay
import { TLSSocket } from 'node:tls';
import type { Packet } from '../../protocol/framer.ts';
import type { AuthExchange, AuthPlugin, PluginFactory } from './plugin.ts';
import { RsaSteps } from './rsa-steps.ts';

const REQUEST_PUBLIC_KEY = Buffer.from([0x01]);

/**
 * answer: the client's next packet is its one answer. sealed: moat gave the client its own key;
 * the next client packet is the password sealed with it. backend-key: moat holds the client's
 * cleartext password while the backend sends its key. relay: packets pass as they are.
 */
type Step = 'answer' | 'sealed' | 'backend-key' | 'relay';

class Sha256Password implements AuthPlugin {
  private step: Step = 'answer';
  private readonly rsa = new RsaSteps();

  async fromClient(p: Packet, ex: AuthExchange): Promise<void> {
    const step = this.step;
    this.step = 'relay';
    if (step === 'sealed') {
      await this.rsa.forwardOpened(p, ex);
      return;
    }
    if (step !== 'answer' || isEmptyPassword(p.payload)) {
      ex.toBackend(p.payload, p.seq);
      return;
    }
    const backendTls = isTls(ex);
    if (p.payload.length === 1 && p.payload[0] === REQUEST_PUBLIC_KEY[0]) {
      if (!backendTls) {
        ex.toBackend(p.payload, p.seq); // the backend sends its key; the client seals for it
        return;
      }
      await this.rsa.offerMoatKey(p, ex);
      this.step = 'sealed';
      return;
    }
    if (!ex.client.secure || backendTls) {
      ex.toBackend(p.payload, p.seq);
      return;
    }
    this.step = 'backend-key';
    this.rsa.askBackendKey(p, ex, REQUEST_PUBLIC_KEY);
  }

  fromBackend(p: Packet, ex: AuthExchange): boolean {
    if (this.step !== 'backend-key') return false;
    this.step = 'relay';
    return this.rsa.sealForBackend(p, ex);
  }

  end(): void {
    this.rsa.end();
  }
}

export const sha256Password: PluginFactory = () => new Sha256Password();

/**
 * MySQL takes a single 0x00 as no password before it looks at the connection, and an empty
 * packet the same (libmariadb and the mariadb connector send one on a plain leg).
 */
function isEmptyPassword(answer: Buffer): boolean {
  return answer.length === 0 || (answer.length === 1 && answer[0] === 0);
}

/** The backend leg is TLS (a unix socket is secure to moat, but not to sha256_password). */
function isTls(ex: AuthExchange): boolean {
  return ex.backend.secure && ex.backend.channel.socket instanceof TLSSocket;
}
