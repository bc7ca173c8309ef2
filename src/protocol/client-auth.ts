// The client side of the scramble-based authentication plugins, for the logins moat makes itself
// (the health check, `moat check`): pure computation over a nonce, no sockets.
import { constants, createHash, publicEncrypt } from 'node:crypto';
import { ed25519Sign } from './ed25519.ts';

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Byte-wise XOR, `b` repeated over `a` (the scrambles; the RSA-sealed password of caching_sha2). */
export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

/**
 * caching_sha2_password's RSA step: (password with its NUL ⊕ nonce) encrypted with the server's
 * public key, RSA-OAEP (SHA-1). The mixed bytes are wiped once encrypted.
 */
export function sealPassword(password: Buffer, nonce: Buffer, pem: Buffer | string): Buffer {
  const mixed = xor(password, nonce);
  try {
    return publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING }, mixed);
  } finally {
    mixed.fill(0);
  }
}

/**
 * The client's first answer to a nonce for the plugins moat's own logins use (the health check,
 * `moat check`): empty password → empty answer, as the clients do.
 */
export function scramble(plugin: string, password: string, nonce: Buffer): Buffer {
  if (plugin === 'client_ed25519') return ed25519Sign(password, nonce);
  if (password === '') return Buffer.alloc(0);
  const pw = Buffer.from(password, 'utf8');
  if (plugin === 'mysql_native_password') {
    // SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))
    const h1 = sha1(pw);
    return xor(h1, sha1(nonce, sha1(h1)));
  }
  if (plugin === 'caching_sha2_password') {
    // SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)
    const h1 = sha256(pw);
    return xor(h1, sha256(sha256(h1), nonce));
  }
  throw new Error(`authentication plugin '${plugin}' is not supported for moat's own logins`);
}
