// The two RSA steps that caching_sha2_password's full authentication and sha256_password share,
// as moat takes them between the legs. The sealed form is the client library's: the password
// with its NUL, XORed with the nonce, encrypted with the server's public key (RSA-OAEP).
//  * moat's key: a client asks for the server's key while the backend leg is one where the server
//    would read any answer as the cleartext password. moat answers with its own key (rsa-key.ts),
//    opens the sealed answer and forwards the password inside the backend leg.
//  * the backend's key: a client on a secure leg sent its password in clear while the backend leg
//    is one the password must not cross in clear. moat holds it, asks the backend for its key and
//    sends the password sealed with that key.
// Each puts two packets more on one leg than on the other, which moves the sequence-id delta.
import { constants, privateDecrypt } from 'node:crypto';
import { sealPassword, xor } from '../../protocol/client-auth.ts';
import { Header } from '../../protocol/constants.ts';
import type { Packet } from '../../protocol/framer.ts';
import { writeRaw } from '../../protocol/packets/auth.ts';
import { type AuthExchange, AuthRefusal } from './plugin.ts';
import { moatRsaKey, type RsaKey } from './rsa-key.ts';

const MORE_DATA = Buffer.from([Header.AUTH_MORE_DATA]);

/** One exchange's RSA steps; it holds the client's password only while the backend sends its key. */
export class RsaSteps {
  private held: Buffer | null = null;
  /** The client's seq for the held password: the backend's verdict goes to the client after it. */
  private heldSeq = 0;

  /** Answers the client's key request `p` with moat's own public key (AuthMoreData, PEM). */
  async offerMoatKey(p: Packet, ex: AuthExchange): Promise<void> {
    const key = await moatRsaKey();
    ex.toClient(Buffer.concat([MORE_DATA, key.publicPem]), p.seq + 1);
    // Two packets more on the client leg than on the backend's.
    ex.delta += 2;
  }

  /** The client's answer sealed with moat's key: opened, and forwarded as the password. */
  async forwardOpened(p: Packet, ex: AuthExchange): Promise<void> {
    const key = await moatRsaKey();
    const password = unseal(p.payload, ex.nonce, key);
    try {
      ex.toBackend(password, p.seq);
    } finally {
      password.fill(0);
    }
  }

  /** Holds the client's cleartext password `p` and sends the backend the key request `request`. */
  askBackendKey(p: Packet, ex: AuthExchange, request: Buffer): void {
    this.held = Buffer.from(p.payload);
    this.heldSeq = p.seq;
    ex.toBackend(request, p.seq);
  }

  /**
   * The backend's answer to askBackendKey. True: it was the key, and the sealed password went to
   * the backend. False: the driver relays it to the client as the verdict on the password.
   */
  sealForBackend(p: Packet, ex: AuthExchange): boolean {
    const password = this.held;
    if (password === null) return false;
    this.held = null;
    const first = p.payload[0];
    if (first === Header.ERR) {
      password.fill(0);
      // No RSA key on the backend (MySQL answers the request with 1045): its verdict is relayed
      // as the answer to the client's password.
      ex.delta = this.heldSeq + 1 - p.seq;
      return false;
    }
    // MySQL sends the PEM as AuthMoreData; a bare PEM is read the same.
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

  /** Wipes a password still held (the exchange ended before the backend sent its key). */
  end(): void {
    this.held?.fill(0);
    this.held = null;
  }
}

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
