// `moat demo`: a newcomer's first five minutes. A throwaway MariaDB (own data directory and
// port) behind moat, scripted traffic from several 127.0.0.x "hosts" — an application, a password
// guesser, a port scanner, a host outside the allow list — then the security report and the
// dashboard's address. Loopback only; everything is deleted on exit.
//
// It reuses the test harness's MariaDB starter and the mysql2 client, both from the development
// install (`npm ci`), loaded only here: moat itself needs neither.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { nativePasswordHash } from '../admin/password.ts';
import { Moat } from '../app/moat.ts';
import { validateConfig } from '../config/load.ts';
import { ops } from './ops.ts';

const MARIADBD = '/usr/sbin/mariadbd';

export async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { exit: { type: 'boolean', default: false } } });
  if (!existsSync(MARIADBD)) {
    process.stderr.write(
      `moat demo needs a MariaDB server binary (${MARIADBD}), which is not installed.\n` +
        'Install it with `sudo apt install mariadb-server` (Debian/Ubuntu), or run\n' +
        '`bash scripts/setup-system.sh` from the moat checkout. The demo never touches a server\n' +
        'that is already running: it starts its own on a free port and deletes it afterwards.\n',
    );
    return 1;
  }
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const { startMariaDB } = await import('../../test/harness/mariadb.ts');
  const { default: mysql } = await import('mysql2/promise');

  say('1/5  starting a throwaway MariaDB (its own data directory and port) …');
  const db = await startMariaDB({ name: 'demo' });
  const stateDir = mkdtempSync(join(tmpdir(), 'moat-demo-'));
  const token = randomBytes(18).toString('base64url');
  const adminPassword = randomBytes(9).toString('base64url');
  const config = validateConfig(
    {
      listeners: [{ address: '127.0.0.1:0' }],
      backend: { address: `127.0.0.1:${db.port}` },
      stateDir,
      tls: { enabled: false },
      guard: {
        max_connect_errors: 5,
        connection_control_failed_connections_threshold: 3,
        connection_control_max_connection_delay: 2000,
        access: { default: 'deny', rules: [{ allow: ['127.0.0.0/26'] }] },
      },
      admin: {
        listen: '127.0.0.1:0',
        users: [{ user: 'demo', passwordHash: nativePasswordHash(adminPassword) }],
        http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(token).digest('hex') },
      },
      log: { level: 'silent' },
    },
    'demo',
  );
  const gateway = new Moat(config, pino({ level: 'silent' }));
  try {
    await gateway.start();
    const listen = gateway.addresses()[0];
    const http = gateway.httpAddress;
    if (listen?.kind !== 'tcp' || http?.kind !== 'tcp') throw new Error('demo: no TCP listener');
    const port = listen.port;
    say(`2/5  moat listens on 127.0.0.1:${port} in front of MariaDB on 127.0.0.1:${db.port}`);
    const app = { user: db.users.app.user, password: db.users.app.password, database: db.database };
    const login = async (from: string, password: string) => {
      const c = await mysql.createConnection({
        ...app,
        password,
        host: '127.0.0.1',
        port,
        stream: netConnect({ host: '127.0.0.1', port, localAddress: from }),
      });
      await c.query('SELECT COUNT(*) FROM t');
      await c.end();
    };
    const attempt = async (from: string, password: string): Promise<string> => {
      const t = performance.now();
      try {
        await login(from, password);
        return `ok (${Math.round(performance.now() - t)} ms)`;
      } catch (e) {
        const err = e as { errno?: number; message: string };
        return `ERROR ${err.errno ?? '?'} after ${Math.round(performance.now() - t)} ms`;
      }
    };

    say('3/5  traffic:');
    for (let i = 0; i < 5; i++) await login('127.0.0.10', app.password);
    say('     127.0.0.10  an application: 5 logins and queries, all fine');
    for (let i = 1; i <= 5; i++) {
      say(`     127.0.0.20  a password guesser, attempt ${i}: ${await attempt('127.0.0.20', `guess-${i}`)}`);
    }
    for (let i = 1; i <= 6; i++) {
      const s = netConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.30' });
      const first = await new Promise<Buffer>((resolve) => s.once('data', resolve));
      s.end(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await new Promise((r) => s.once('close', r));
      const answer = first[4] === 0xff ? `ERROR ${first.readUInt16LE(5)}` : 'greeting, sent garbage';
      say(`     127.0.0.30  a port scanner, probe ${i}: ${answer}`);
    }
    say(`     127.0.0.99  a host outside the allow list: ${await attempt('127.0.0.99', app.password)}`);

    say('4/5  the security report (`moat report`):\n');
    process.env.MOAT_TOKEN = token;
    await ops('report', ['--url', `http://127.0.0.1:${http.port}`]);
    say('');
    say(`5/5  dashboard: http://127.0.0.1:${http.port}/#token=${token}`);
    say(`     or: MOAT_TOKEN=${token} npx moat hosts --url http://127.0.0.1:${http.port}`);
    const admin = gateway.adminAddress;
    if (admin?.kind === 'tcp') {
      say(`     SQL: mariadb -h127.0.0.1 -P${admin.port} -udemo -p${adminPassword}`);
      say('          SELECT * FROM performance_schema.host_cache WHERE SUM_CONNECT_ERRORS > 0\\G');
    }
    if (!values.exit) {
      say('     (Ctrl-C ends the demo and deletes everything)');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return 0;
  } finally {
    await gateway.stop(500);
    await db.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
