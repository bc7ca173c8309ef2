// `moat hash-password`: the stored form of an admin password (MySQL's authentication_string for
// mysql_native_password), so that moat's configuration never holds a password. Reads the first
// line of standard input, so the password appears in no process list or shell history:
//   printf '%s\n' 'secret' | moat hash-password      or      moat hash-password < file
import { nativePasswordHash } from '../admin/password.ts';
import { firstLineOfStdin } from './stdin.ts';

export async function hashPassword(): Promise<number> {
  const password = await firstLineOfStdin();
  if (password === '') {
    process.stderr.write('moat hash-password: empty password on stdin (an admin user needs one)\n');
    return 2;
  }
  process.stdout.write(`${nativePasswordHash(password)}\n`);
  return 0;
}
