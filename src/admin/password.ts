// mysql_native_password, server side, without ever storing the password: the stored form is
// MySQL's authentication_string, '*' + hex SHA1(SHA1(password)). A client proves knowledge of
// SHA1(password) with scramble = SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))).
import { createHash, timingSafeEqual } from 'node:crypto';

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The stored form of a password, as MySQL's PASSWORD() / authentication_string shows it. */
export function nativePasswordHash(password: string): string {
  return `*${sha1(sha1(Buffer.from(password, 'utf8')))
    .toString('hex')
    .toUpperCase()}`;
}

/** True when `scramble` answers `nonce` for the password whose stored form is `hash`. */
export function verifyNativeScramble(hash: string, nonce: Buffer, scramble: Buffer): boolean {
  const stage2 = Buffer.from(hash.slice(1), 'hex');
  if (stage2.length !== 20) return false;
  if (scramble.length !== 20) return false;
  const mask = sha1(nonce, stage2);
  const stage1 = Buffer.alloc(20);
  for (let i = 0; i < 20; i++) stage1[i] = scramble[i]! ^ mask[i]!;
  return timingSafeEqual(sha1(stage1), stage2);
}
