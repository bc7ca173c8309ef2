// `moat check` against real servers: a WEAK MariaDB (every weakness the issue names, planted on
// purpose) and a HARDENED one. Every planted weakness is found on the weak one and none on the
// hardened one; then the fixes the report offers are applied — SQL on the weak server, moat
// config lines to its config, option lines to a third server started with them — and the
// findings they address pass. The CLI is run as a child process for its exit status and --json.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { mergeConfig, validateConfig } from '../../src/config/load.ts';
import type { Config, ConfigInput } from '../../src/config/schema.ts';
import { CheckError, runPostureCheck } from '../../src/posture/check.ts';
import { hostAddresses } from '../../src/posture/context.ts';
import { type Finding, NEW_PASSWORD } from '../../src/posture/finding.ts';
import { fixScript } from '../../src/posture/report.ts';
import { type Certs, generateCerts } from '../harness/certs.ts';
import { type MariaDB, startMariaDB } from '../harness/mariadb.ts';
import { NODE } from '../harness/spawn-moat.ts';

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'moat-posture-'));
const CHECK = { user: 'moat_check', password: 'check-pw' };
/**
 * The whole grant the check account needs (docs/check.md), from where the check logs in: 'localhost'
 * is the unix socket (and, with name resolution on, 127.0.0.1), '127.0.0.1' loopback TCP.
 */
const checkAccount = (host: string) => [
  `CREATE USER 'moat_check'@'${host}' IDENTIFIED VIA ed25519 USING PASSWORD('check-pw')`,
  `GRANT SELECT ON mysql.global_priv TO 'moat_check'@'${host}'`,
];

const WEAK_ARGS = [
  '--bind-address=0.0.0.0',
  '--local-infile=1',
  '--log-warnings=1',
  '--skip-name-resolve=0',
  '--skip-ssl',
  '--tls-version=TLSv1.1,TLSv1.2',
];
// On top of the harness's own accounts ('%' hosts, mysql_native_password, 'nopw' with no password).
const WEAK_SQL = [
  ...checkAccount('localhost'),
  "CREATE USER ''@'localhost'",
  "CREATE USER 'root'@'%'",
  "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION",
  "CREATE USER 'old'@'10.%' IDENTIFIED VIA mysql_old_password USING '7c786c222596437b'",
  "CREATE USER 'report'@'192.0.2.50' IDENTIFIED VIA ed25519 USING PASSWORD('report-pw')",
  "CREATE USER 'gone'@'203.0.113.7' IDENTIFIED VIA ed25519 USING PASSWORD('gone-pw')",
];

/** The planted weaknesses: [id, subject, severity]. */
const PLANTED: Array<[string, string, Finding['severity']]> = [
  ['bypass.bind-address', 'server', 'fail'],
  ['account.anonymous', "''@'localhost'", 'fail'],
  ['account.empty-password', "'root'@'%'", 'fail'],
  ['account.empty-password', "'nopw'@'%'", 'fail'],
  ['account.admin-remote', "'root'@'%'", 'fail'],
  ['account.wide-host', "'root'@'%'", 'fail'],
  ['account.wide-host', "'app'@'%'", 'fail'],
  ['account.wide-host', "'old'@'10.%'", 'warn'],
  ['account.legacy-plugin', "'old'@'10.%'", 'fail'],
  ['account.legacy-plugin', "'app'@'%'", 'warn'],
  ['account.no-tls', "'report'@'192.0.2.50'", 'warn'],
  ['account.dead-grant', "'gone'@'203.0.113.7'", 'warn'],
  ['server.max-connect-errors', 'server', 'fail'],
  ['server.local-infile', 'server', 'fail'],
  ['server.name-resolve', 'server', 'warn'],
  ['server.secure-file-priv', 'server', 'warn'],
  ['server.tls', 'server', 'warn'],
  ['server.secure-transport', 'server', 'warn'],
  ['server.tls-version', 'server', 'warn'],
  ['server.log-failed-logins', 'server', 'warn'],
  ['moat.admin-listener', 'admin.listen', 'fail'],
  ['moat.http-listener', 'admin.http.listen', 'fail'],
  ['moat.client-tls', 'tls', 'warn'],
  ['moat.access', 'listener 0.0.0.0:3307', 'warn'],
];

let weak: MariaDB;
let hard: MariaDB;
let longCerts: Certs;
let shortCerts: Certs;
let weakInput: ConfigInput;
let hardInput: ConfigInput;
let weakFindings: Finding[];
let third: Promise<MariaDB> | undefined;

const bad = (list: readonly Finding[]) => list.filter((f) => f.severity !== 'pass');
const show = (list: readonly Finding[]) =>
  list.map((f) => `${f.severity} ${f.id} ${f.subject}: ${f.seen}`).join('\n');

/** Every server start, kept from the moment it begins so `after` stops even one whose sibling failed. */
const starting: Array<Promise<MariaDB>> = [];

async function started(p: Promise<MariaDB>, sql: readonly string[]): Promise<MariaDB> {
  starting.push(p);
  const db = await p;
  for (const s of sql) await db.query(s);
  return db;
}

/** Values the operator chooses, for the <placeholders> in the fixes. */
function chosen(text: string): string {
  return (
    text
      .replaceAll(NEW_PASSWORD, 'Fixed-pw-1')
      // The network of 'report'@'192.0.2.50': other rules would make its grant dead.
      .replaceAll('<your client networks>', '192.0.2.0/24')
      .replaceAll('<renewed certificate file>', longCerts.serverCert)
      .replaceAll('<certificate file>', longCerts.serverCert)
      .replaceAll('<its key file>', longCerts.serverKey)
      .replaceAll('/var/lib/mysql-files', join(tmp, 'files'))
  );
}

/** moat config lines `a.b.c: value` (the value in YAML) laid over a config. */
function withConfigFixes(input: ConfigInput, findings: readonly Finding[]): Config {
  let merged = input as Record<string, unknown>;
  for (const f of bad(findings).filter((x) => x.fixKind === 'config')) {
    for (const line of chosen(f.fix).split('\n')) {
      const at = line.indexOf(': ');
      const path = line.slice(0, at).split('.');
      let over: unknown = parseYaml(line.slice(at + 2));
      for (const key of path.reverse()) over = { [key]: over };
      merged = mergeConfig(merged, over as Record<string, unknown>);
    }
  }
  return validateConfig(merged);
}

before(async () => {
  mkdirSync(join(tmp, 'files'));
  [longCerts, shortCerts] = await Promise.all([
    generateCerts(join(tmp, 'long'), { days: 400 }),
    generateCerts(join(tmp, 'short'), { days: 10 }),
  ]);
  // One server at a time, each bootstrapped in a temp directory of this file's own:
  // mariadb-install-db's bootstrap server keeps temporary tables in $TMPDIR (the harness passes it
  // no --tmpdir), and another bootstrap starting in the same directory deletes them.
  process.env.TMPDIR = join(tmp, 'tmp');
  mkdirSync(process.env.TMPDIR);
  weak = await started(startMariaDB({ name: 'weak', extraArgs: WEAK_ARGS }), WEAK_SQL);
  hard = await started(
    startMariaDB({
      name: 'hardened',
      extraArgs: [
        '--local-infile=0',
        '--require-secure-transport=ON',
        `--secure-file-priv=${join(tmp, 'files')}`,
        `--ssl-ca=${longCerts.ca}`,
        `--ssl-cert=${longCerts.serverCert}`,
        `--ssl-key=${longCerts.serverKey}`,
      ],
    }),
    [
      ...checkAccount('127.0.0.1'),
      "DROP USER 'app'@'%', 'app2'@'%', 'nopw'@'%', 'ed'@'%', 'tlsonly'@'%', 'bench'@'%'",
      "CREATE USER 'app'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('app-pw')",
      // Last: the harness's open root connection stays logged in.
      "ALTER USER 'root'@'localhost' IDENTIFIED VIA ed25519 USING PASSWORD('root-pw')",
    ],
  );
  const admin = { users: [{ user: 'admin', passwordHash: `*${'A'.repeat(40)}` }] };
  const token = 'a'.repeat(64);
  weakInput = {
    backend: { address: `127.0.0.1:${weak.port}` },
    listeners: [{ address: '0.0.0.0:3307' }],
    guard: { max_connect_errors: 0, users: [{ user: 'gone', from: ['10.0.0.0/8'] }] },
    localInfile: true,
    tls: { cert: shortCerts.serverCert, key: shortCerts.serverKey },
    admin: {
      ...admin,
      listen: '0.0.0.0:6033',
      allowFrom: ['0.0.0.0/0'],
      http: { listen: '0.0.0.0:6034', tokenSha256: token },
    },
    stateDir: join(tmp, 'state'),
  };
  hardInput = {
    backend: { address: `127.0.0.1:${hard.port}`, tls: { mode: 'verify', ca: longCerts.ca } },
    listeners: [{ address: '0.0.0.0:3307' }],
    guard: { access: { default: 'deny', rules: [{ allow: ['10.0.0.0/8'] }] } },
    tls: { cert: longCerts.serverCert, key: longCerts.serverKey, require: true },
    admin: { ...admin, http: { tokenSha256: token } },
    stateDir: join(tmp, 'state'),
  };
  weakFindings = await runPostureCheck(validateConfig(weakInput), CHECK);
  // The server for the option-line fixes starts while the other tests run.
  const lines = bad(weakFindings)
    .filter((f) => f.fixKind === 'option')
    .flatMap((f) => chosen(f.fix).split('\n'));
  third = started(
    startMariaDB({
      name: 'optfixed',
      extraArgs: [...WEAK_ARGS, ...new Set(lines)].map((l) => l.replace(/^(?!--)/, '--')),
    }),
    checkAccount('localhost'),
  );
});

after(async () => {
  const all = await Promise.allSettled(starting);
  await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  rmSync(tmp, { recursive: true, force: true });
});

describe('moat check on a weak and a hardened server', () => {
  test('the weak server shows every planted weakness', () => {
    for (const [id, subject, severity] of PLANTED) {
      const f = weakFindings.find((x) => x.id === id && x.subject === subject);
      assert.ok(f !== undefined, `${id} ${subject}:\n${show(weakFindings)}`);
      assert.equal(f.severity, severity, `${id} ${subject}: ${f.seen}`);
      assert.ok(f.why.length > 0 && f.fix.length > 0 && f.fixKind !== 'none', `${id} has a why and a fix`);
    }
    const cert = weakFindings.find((f) => f.id === 'moat.certificate');
    assert.equal(cert?.subject, `tls.cert ${shortCerts.serverCert}`);
    assert.equal(cert.severity, 'warn', 'a certificate 10 days from expiry');
    // A real connection attempt to this host's own non-loopback address answered.
    // (bind-address=0.0.0.0 is IPv4 only: this host's IPv6 addresses are refused.)
    for (const address of hostAddresses().filter((a) => isIP(a) === 4)) {
      const f = weakFindings.find(
        (x) => x.id === 'bypass.reachable' && x.subject === `${address}:${weak.port}`,
      );
      assert.equal(f?.severity, 'fail', show(weakFindings));
    }
  });

  test('the hardened server passes every check', async () => {
    const findings = await runPostureCheck(validateConfig(hardInput), CHECK);
    assert.deepEqual(bad(findings), [], show(findings));
    for (const id of new Set(weakFindings.map((f) => f.id))) {
      assert.ok(
        findings.some((f) => f.id === id),
        `${id} is checked on the hardened server too`,
      );
    }
    // The backend leg was TLS, so the server's certificate was judged as well.
    assert.ok(findings.some((f) => f.id === 'moat.certificate' && f.subject === "the server's certificate"));
  });

  test('each SQL and moat-config fix, applied, makes its finding pass', async () => {
    const script = fixScript(weakFindings).map(chosen);
    assert.ok(script.length > 10, script.join('\n'));
    for (const statement of script) await weak.query(statement);
    const config = withConfigFixes(weakInput, weakFindings);
    const findings = await runPostureCheck(config, CHECK);
    for (const f of bad(weakFindings).filter((x) => x.fixKind === 'sql' || x.fixKind === 'config')) {
      const now = findings.find((x) => x.id === f.id && x.subject === f.subject);
      assert.ok(
        now === undefined || now.severity === 'pass',
        `${f.id} ${f.subject} after "${f.fix}":\n${show(findings)}`,
      );
    }
    assert.deepEqual(
      bad(findings.filter((f) => f.area === 'accounts' || f.area === 'moat')),
      [],
      show(findings),
    );
  });

  test('each server option line, on a server started with it, makes its finding pass', async () => {
    assert.ok(third !== undefined);
    const db = await third;
    const input = { ...weakInput, backend: { address: `127.0.0.1:${db.port}` } };
    // require-secure-transport=ON is among the fixes: plain TCP logins are refused, the socket is not.
    const findings = await runPostureCheck(validateConfig(input), {
      ...CHECK,
      endpoint: { kind: 'unix', path: db.socket },
    });
    const fixed = bad(weakFindings).filter((f) => f.fixKind === 'option');
    assert.ok(fixed.length >= 8, show(fixed));
    for (const f of fixed) {
      const now = findings.filter((x) => x.id === f.id);
      assert.ok(
        now.length > 0 && now.every((x) => x.severity === 'pass'),
        `${f.id} after "${f.fix}":\n${show(findings)}`,
      );
    }
  });

  test('SELECT on mysql.global_priv is the one privilege needed; without it the error names the GRANT', async () => {
    await hard.query("CREATE USER 'nogrant'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('x')");
    await assert.rejects(
      runPostureCheck(validateConfig(hardInput), { user: 'nogrant', password: 'x' }),
      (e: unknown) =>
        e instanceof CheckError &&
        e.code === 'MOAT_CHECK_PRIVILEGE' &&
        e.message.endsWith("GRANT SELECT ON mysql.global_priv TO 'nogrant'@'127.0.0.1'"),
    );
    await hard.query("DROP USER 'nogrant'@'127.0.0.1'");
  });

  test('probes and the check finish every login they start (no pre-auth aborted connects)', async () => {
    const preauth = async () =>
      Number((await weak.query("SHOW GLOBAL STATUS LIKE 'Aborted_connects_preauth'"))[0]?.Value);
    const before = await preauth();
    assert.ok(Number.isInteger(before));
    await runPostureCheck(validateConfig(weakInput), CHECK);
    assert.equal(await preauth(), before);
  });
});

describe('the moat check command', { concurrency: true }, () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const script = `import { check } from ${JSON.stringify(join(import.meta.dirname, '../../src/cli/check.ts'))};
process.exitCode = await check(process.argv.slice(1));`;
    // A clean environment: the test runner's own variables (NODE_TEST_CONTEXT) would make the
    // child report to it instead of running, and MOAT_CHECK_PASSWORD comes only from `env`.
    const clean = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_COMPILE_CACHE: join(tmpdir(), 'moat-test-compile-cache'),
    };
    return run(NODE, ['--input-type=module', '-e', script, '--', ...args], {
      env: { ...clean, ...env },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
  };
  const configFile = (name: string, input: ConfigInput) => {
    const path = join(tmp, name);
    writeFileSync(path, JSON.stringify(input)); // JSON is YAML
    return path;
  };
  const password = { MOAT_CHECK_PASSWORD: CHECK.password };

  test('a failing finding exits 1 with the table and the fixes', async () => {
    const r = await cli(['--config', configFile('weak.yaml', weakInput)], password);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^STATUS\s+CHECK\s+SUBJECT\s+SEEN$/m);
    assert.match(
      r.stdout,
      /^fail\s+bypass\.bind-address\s+server\s+skip_networking=OFF, bind_address=0\.0\.0\.0/m,
    );
    assert.match(r.stdout, /What to do/);
  });

  test('--json prints the findings and a summary; nothing failing exits 0', async () => {
    const file = join(tmp, 'pw');
    writeFileSync(file, `${CHECK.password}\n`);
    const r = await cli(['--config', configFile('hard.yaml', hardInput), '--json', '--password-file', file]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { summary: Record<Finding['severity'], number>; findings: Finding[] };
    assert.equal(out.summary.fail, 0);
    assert.equal(out.findings.length, out.summary.pass + out.summary.warn);
  });

  test('a wrong password exits 2 with one line that does not hold it', async () => {
    const r = await cli(['--backend', `127.0.0.1:${hard.port}`, '--socket', hard.socket], {
      MOAT_CHECK_PASSWORD: 'not-the-Secret-42',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^moat check: unix:\S+: login as 'moat_check' refused: 1045 /);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    assert.doesNotMatch(r.stderr + r.stdout, /not-the-Secret-42/);
  });

  test('no password, or no server, exits 2 with what to give', async () => {
    const r1 = await cli(['--backend', `127.0.0.1:${hard.port}`]);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /no password: set MOAT_CHECK_PASSWORD or pass --password-file/);
    const r2 = await cli([], password);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /--config FILE .* or --backend ADDR/);
  });
});
