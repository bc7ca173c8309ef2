// moat with its admin port on 127.0.0.1 and one DBA account, and the `mariadb` command-line
// client run against that port, as a DBA would: for the tests that ask moat in SQL.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { nativePasswordHash } from '../../src/admin/password.ts';
import type { MariaDBInfo } from './mariadb.ts';
import { type RunningMoat, startMoat } from './moat.ts';

const run = promisify(execFile);
export const DBA = { user: 'dba', password: 'Adm1n-pw' };

export interface MoatWithAdmin {
  moat: RunningMoat;
  adminPort: number;
  /** Runs SQL through the mariadb CLI (`--batch`: tab-separated rows with a header). */
  cli(sql: string, extra?: string[]): Promise<string>;
}

/** `overrides` as for startMoat; its `admin` section gets the DBA's port and account. */
export async function startMoatWithAdmin(
  backend: MariaDBInfo,
  overrides: Record<string, unknown> = {},
): Promise<MoatWithAdmin> {
  const moat = await startMoat(backend, {
    ...overrides,
    admin: {
      ...(overrides.admin as Record<string, unknown> | undefined),
      listen: '127.0.0.1:0',
      allowFrom: ['127.0.0.1/32'],
      users: [{ user: DBA.user, passwordHash: nativePasswordHash(DBA.password) }],
    },
  });
  const a = moat.gateway.adminAddress;
  assert.ok(a !== null && a.kind === 'tcp');
  const adminPort = a.port;
  const cli = async (sql: string, extra: string[] = []) => {
    const args = ['-h127.0.0.1', `-P${adminPort}`, `-u${DBA.user}`, `-p${DBA.password}`, '--batch'];
    const { stdout } = await run('mariadb', [...args, ...extra, '-e', sql]);
    return stdout;
  };
  return { moat, adminPort, cli };
}
