// The start of a `moat start --config` file for tests that run moat as a process: a loopback
// listener on a free port, the harness's backend, a state directory, client TLS off, and (with
// `admin`) an admin port on a free port with the user dba / dba-pw. Tests append their own sections.
import { nativePasswordHash } from '../../src/admin/password.ts';
import type { MariaDBInfo } from './mariadb.ts';

export const ADMIN_USER = { user: 'dba', password: 'dba-pw' } as const;

export function configHead(backend: MariaDBInfo, stateDir: string, o: { admin?: boolean } = {}): string {
  const admin = o.admin
    ? `admin:
  listen: 127.0.0.1:0
  users:
    - user: ${ADMIN_USER.user}
      passwordHash: "${nativePasswordHash(ADMIN_USER.password)}"
`
    : '';
  return `listeners:
  - address: 127.0.0.1:0
backend:
  address: ${backend.host}:${backend.port}
stateDir: ${stateDir}
tls:
  enabled: false
${admin}`;
}
