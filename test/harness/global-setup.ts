// Global setup for `node --test --test-global-setup=test/harness/global-setup.ts`: one MariaDB for
// the whole run. globalSetup runs in the test runner's own process before any test file starts, and
// the test files' child processes inherit its process.env, so the server's description travels as
// JSON in an environment variable (read back by env.ts's testBackend()).
import { BACKEND_ENV } from './env.ts';
import { type MariaDB, startMariaDB } from './mariadb.ts';

let server: MariaDB | undefined;

export async function globalSetup(): Promise<void> {
  server = await startMariaDB({ name: 'backend' });
  process.env[BACKEND_ENV] = JSON.stringify(server.info());
}

export async function globalTeardown(): Promise<void> {
  await server?.stop();
  server = undefined;
  delete process.env[BACKEND_ENV];
}
