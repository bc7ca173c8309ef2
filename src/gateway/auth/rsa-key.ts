// moat's own RSA key pair for caching_sha2_password, generated once per process on first use.
//
// A client on a plain connection that must do full authentication asks the server for its RSA
// public key (0x02) and sends its password encrypted with it. When the backend leg is TLS, the
// backend takes any answer as the cleartext password, so moat cannot forward the request: it
// answers with this key, decrypts the password, and sends it to the backend inside TLS. The key
// never leaves the process and is not persisted: a client that pinned a server key
// (--server-public-key-path) must instead connect to moat with TLS.
import { generateKeyPair, type KeyObject } from 'node:crypto';

export interface RsaKey {
  publicPem: Buffer;
  privateKey: KeyObject;
}

let pending: Promise<RsaKey> | null = null;

export function moatRsaKey(): Promise<RsaKey> {
  pending ??= new Promise<RsaKey>((resolve, reject) => {
    // Generated off the event loop (libuv thread pool): 2048-bit RSA takes tens of milliseconds.
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) => {
      if (err !== null) {
        pending = null;
        reject(err);
        return;
      }
      resolve({ publicPem: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })), privateKey });
    });
  });
  return pending;
}
