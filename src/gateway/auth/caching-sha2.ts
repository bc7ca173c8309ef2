// caching_sha2_password (MySQL 8's default). Fast authentication is a scramble of the nonce,
// relayed as it is; the backend then answers "fast auth OK" (0x01 0x03) and OK, or "perform full
// authentication" (0x01 0x04), after which the client sends its password:
//  * a client on a secure leg sends it in clear. If the backend leg is not secure, moat asks the
//    backend for its RSA public key and sends the password encrypted with it (RSA-OAEP, XORed with
//    the nonce, as the client library would), so the password never crosses a network in clear.
//  * a plain client asks for an RSA key instead (0x02). On a plain backend leg that request is
//    relayed and the client encrypts for the backend; on a TLS leg the backend would read 0x02 as
//    the password itself, so moat answers with its own key (rsa-key.ts), decrypts, and forwards the
//    password inside the backend's TLS.
// Both RSA steps are rsa-steps.ts, shared with sha256_password.
//
//   relay ──(backend 0x01 0x04)──► full-auth ──(client 0x02, backend TLS)──► sealed ──► relay
//                                      └──(cleartext, backend plain)──► backend-key ──► relay
import { Header } from '../../protocol/constants.ts';
import type { Packet } from '../../protocol/framer.ts';
import { type AuthExchange, type AuthPlugin, cleartextRefused, type PluginFactory } from './plugin.ts';
import { RsaSteps } from './rsa-steps.ts';

const PERFORM_FULL_AUTH = 0x04;
const REQUEST_PUBLIC_KEY = Buffer.from([0x02]);

/**
 * relay: packets pass as they are. full-auth: the client's next packet is its password or a key
 * request. sealed: moat gave the client its own key; the next client packet is the password sealed
 * with it. backend-key: moat holds the client's cleartext password while the backend sends its key.
 */
type Step = 'relay' | 'full-auth' | 'sealed' | 'backend-key';

class CachingSha2 implements AuthPlugin {
  private step: Step = 'relay';
  private readonly rsa = new RsaSteps();

  async fromClient(p: Packet, ex: AuthExchange): Promise<void> {
    const step = this.step;
    if (step === 'sealed') {
      this.step = 'relay';
      await this.rsa.forwardOpened(p, ex);
      return;
    }
    if (step !== 'full-auth') {
      ex.toBackend(p.payload, p.seq);
      return;
    }
    this.step = 'relay';
    if (p.payload.length === 1 && p.payload[0] === REQUEST_PUBLIC_KEY[0]) {
      if (!ex.backend.secure) {
        ex.toBackend(p.payload, p.seq); // the backend sends its key; the client encrypts for it
        return;
      }
      await this.rsa.offerMoatKey(p, ex);
      this.step = 'sealed';
      return;
    }
    if (!ex.client.secure) throw cleartextRefused('that arrived over an unencrypted client connection');
    if (ex.backend.secure) {
      ex.toBackend(p.payload, p.seq);
      return;
    }
    this.step = 'backend-key';
    this.rsa.askBackendKey(p, ex, REQUEST_PUBLIC_KEY);
  }

  fromBackend(p: Packet, ex: AuthExchange): boolean {
    if (this.step === 'backend-key') {
      this.step = 'relay';
      return this.rsa.sealForBackend(p, ex);
    }
    const first = p.payload[0];
    if (first === Header.AUTH_MORE_DATA && p.payload.length === 2 && p.payload[1] === PERFORM_FULL_AUTH) {
      this.step = 'full-auth';
    }
    return false;
  }

  end(): void {
    this.rsa.end();
  }
}

export const cachingSha2: PluginFactory = () => new CachingSha2();
