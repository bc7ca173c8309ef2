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
//
//   relay ──(backend 0x01 0x04)──► full-auth ──(client 0x02, backend TLS)──► sealed ──► relay
//                                      └──(cleartext, backend plain)──► backend-key ──► relay
import { constants, privateDecrypt } from 'node:crypto';
import { sealPassword, xor } from '../../protocol/client-auth.ts';
import { Header } from '../../protocol/constants.ts';
import type { Packet } from '../../protocol/framer.ts';
import { writeRaw } from '../../protocol/packets/auth.ts';
import {
  type AuthExchange,
  type AuthPlugin,
  AuthRefusal,
  cleartextRefused,
  type PluginFactory,
} from './plugin.ts';
import { moatRsaKey, type RsaKey } from './rsa-key.ts';

const PERFORM_FULL_AUTH = 0x04;
const REQUEST_PUBLIC_KEY = Buffer.from([0x02]);
const MORE_DATA = Buffer.from([Header.AUTH_MORE_DATA]);

/**
 * relay: packets pass as they are. full-auth: the client's next packet is its password or a key
 * request. sealed: moat gave the client its own key; the next client packet is the password sealed
 * with it. backend-key: moat holds the client's cleartext password while the backend sends its key.
 */
type Step = 'relay' | 'full-auth' | 'sealed' | 'backend-key';

class CachingSha2 implements AuthPlugin {
  private step: Step = 'relay';
  /** The client's cleartext password in the backend-key step, and the seq it came with. */
  private held: Buffer | null = null;
  private heldSeq = 0;

  async fromClient(p: Packet, ex: AuthExchange): Promise<void> {
    const step = this.step;
    if (step === 'sealed') {
      this.step = 'relay';
      const key = await moatRsaKey();
      const password = unseal(p.payload, ex.nonce, key);
      ex.toBackend(password, p.seq);
      password.fill(0);
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
      const key = await moatRsaKey();
      ex.toClient(Buffer.concat([MORE_DATA, key.publicPem]), p.seq + 1);
      // Two packets more on the client leg than on the backend's.
      ex.delta += 2;
      this.step = 'sealed';
      return;
    }
    if (!ex.client.secure) throw cleartextRefused('that arrived over an unencrypted client connection');
    if (ex.backend.secure) {
      ex.toBackend(p.payload, p.seq);
      return;
    }
    this.held = Buffer.from(p.payload);
    this.heldSeq = p.seq;
    this.step = 'backend-key';
    ex.toBackend(REQUEST_PUBLIC_KEY, p.seq);
  }

  fromBackend(p: Packet, ex: AuthExchange): boolean {
    const first = p.payload[0];
    if (this.step === 'backend-key' && this.held !== null) {
      const password = this.held;
      this.held = null;
      this.step = 'relay';
      if (first === Header.ERR) {
        password.fill(0);
        // No RSA key on the backend (MySQL answers the request with 1045): its verdict is relayed
        // as the answer to the client's password.
        ex.delta = this.heldSeq + 1 - p.seq;
        return false;
      }
      // The backend's public key (AuthMoreData) in answer to moat's request.
      const pem = first === Header.AUTH_MORE_DATA ? p.payload.subarray(1) : p.payload;
      try {
        ex.backend.channel.write(writeRaw(sealPassword(password, ex.nonce, pem), p.seq + 1));
      } finally {
        password.fill(0);
      }
      // Two packets more on the backend leg than on the client's.
      ex.delta = this.heldSeq + 1 - (p.seq + 2);
      return true;
    }
    if (first === Header.AUTH_MORE_DATA && p.payload.length === 2 && p.payload[1] === PERFORM_FULL_AUTH) {
      this.step = 'full-auth';
    }
    return false;
  }

  end(): void {
    this.held?.fill(0);
    this.held = null;
  }
}

export const cachingSha2: PluginFactory = () => new CachingSha2();

/** The inverse, for a password a client sealed with moat's own key: cleartext with its NUL. */
function unseal(sealed: Buffer, nonce: Buffer, key: RsaKey): Buffer {
  let mixed: Buffer;
  try {
    mixed = privateDecrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, sealed);
  } catch {
    throw new AuthRefusal(
      { code: 1045, state: '28000', message: 'moat could not decrypt the password sent with its RSA key' },
      'protocol',
    );
  }
  try {
    return xor(mixed, nonce);
  } finally {
    mixed.fill(0);
  }
}
