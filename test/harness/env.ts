// What a test file knows about the run's shared MariaDB (started by global-setup.ts).
import mysql from 'mysql2/promise';
import type { MariaDBInfo } from './mariadb.ts';

export type { MariaDBInfo } from './mariadb.ts';

export const BACKEND_ENV = 'MOAT_TEST_BACKEND';

let cached: MariaDBInfo | undefined;

/** The shared backend: host, port, socket, certificates, users. Plain data. */
export function testBackend(): MariaDBInfo {
  if (cached) return cached;
  const json = process.env[BACKEND_ENV];
  if (!json) {
    throw new Error(
      `${BACKEND_ENV} is not set: run the tests with ` +
        '`node --test --test-global-setup=test/harness/global-setup.ts ...` (npm test does)',
    );
  }
  cached = JSON.parse(json) as MariaDBInfo;
  return cached;
}

/** Runs one statement as root over the backend's unix socket on a short-lived connection. */
export async function adminQuery(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]> {
  const b = testBackend();
  const conn = await mysql.createConnection({
    socketPath: b.socket,
    ...b.users.root,
    supportBigNumbers: true,
  });
  try {
    const [rows] = await conn.query(sql, params);
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  } finally {
    await conn.end();
  }
}
