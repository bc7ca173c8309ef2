// `moat new-token`: a random API token and the SHA-256 that goes into admin.http.tokenSha256
// (the configuration never holds the token itself). `moat hash-token` hashes one from stdin.
import { createHash, randomBytes } from 'node:crypto';
import { firstLineOfStdin } from './stdin.ts';

export function newToken(): number {
  const token = randomBytes(24).toString('base64url');
  const hash = createHash('sha256').update(token).digest('hex');
  process.stdout.write(`token: ${token}\nadmin.http.tokenSha256: ${hash}\n`);
  return 0;
}

export async function hashToken(): Promise<number> {
  const token = await firstLineOfStdin();
  if (token === '') {
    process.stderr.write('moat hash-token: empty token on stdin\n');
    return 2;
  }
  process.stdout.write(`${createHash('sha256').update(token).digest('hex')}\n`);
  return 0;
}
