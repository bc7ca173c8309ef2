// `moat check`: the posture of the server behind moat. Exit 1 when any finding fails (so cron or CI
// can gate on it), 0 otherwise, 2 when the check could not run. The password comes from a file or
// MOAT_CHECK_PASSWORD, never the command line (it would show in `ps`), and is never printed.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, mergeConfig, readConfigFile, validateConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { parseEndpoint } from '../net/endpoint.ts';
import { CheckError, runPostureCheck } from '../posture/check.ts';
import { fixScript, formatReport, reportJson } from '../posture/report.ts';

export const CHECK_HELP = `Usage: moat check [options]

Logs in to the server behind moat with an account made for the purpose, reads its settings and
accounts, tries this host's own addresses on the server's port, and judges moat's configuration.
Prints each finding (fail / warn / pass) with what was seen, why it matters and the fix.
The account needs one privilege: GRANT SELECT ON mysql.global_priv (MariaDB 10.4+), or
SELECT ON mysql.user (MySQL). See docs/check.md.

  --config FILE          moat's YAML config: backend address and TLS, guard rules, listeners
  --backend ADDR         the server (instead of, or overriding, backend.address)
  --socket PATH          log in over this unix socket instead of backend.address
  --user NAME            the check account (default moat_check)
  --password-file FILE   a file holding its password (default: $MOAT_CHECK_PASSWORD)
  --json                 print JSON
  --sql                  print only the SQL fixes, as one script in an order that applies
  --failing              leave passed findings out of the table
  --probe-timeout MS     per connection attempt to this host's addresses (default 1500)
  -h, --help             this help

Exit status: 0 no finding fails, 1 some finding fails, 2 the check could not run.
`;

export async function check(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    const usage =
      e instanceof CheckError ||
      e instanceof ConfigError ||
      e instanceof UsageError ||
      (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true;
    if (!usage) throw e;
    // One line: what went wrong and, for a config error, each key on its own indented line.
    process.stderr.write(`moat check: ${(e as Error).message}\n`);
    return 2;
  }
}

class UsageError extends Error {}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      backend: { type: 'string' },
      socket: { type: 'string' },
      user: { type: 'string', default: 'moat_check' },
      'password-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      sql: { type: 'boolean', default: false },
      failing: { type: 'boolean', default: false },
      'probe-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(CHECK_HELP);
    return 0;
  }
  const config = loadConfig(values.config, values.backend);
  const password = readPassword(values['password-file']);
  const timeout = values['probe-timeout'];
  if (timeout !== undefined && !/^\d+$/.test(timeout))
    throw new UsageError(`--probe-timeout: expected milliseconds, got '${timeout}'`);
  const findings = await runPostureCheck(config, {
    user: values.user,
    password,
    endpoint: values.socket === undefined ? undefined : parseEndpoint(`unix:${values.socket}`),
    probeTimeoutMs: timeout === undefined ? undefined : Number(timeout),
  });
  if (values.sql)
    process.stdout.write(
      fixScript(findings)
        .map((s) => `${s}\n`)
        .join(''),
    );
  else if (values.json) process.stdout.write(reportJson(findings));
  else process.stdout.write(formatReport(findings, { passes: !values.failing }));
  return findings.some((f) => f.severity === 'fail') ? 1 : 0;
}

function loadConfig(file: string | undefined, backend: string | undefined): Config {
  if (file === undefined && backend === undefined)
    throw new UsageError("which server? give --config FILE (moat's config) or --backend ADDR");
  const base = file === undefined ? {} : readConfigFile(file);
  const merged = backend === undefined ? base : mergeConfig(base, { backend: { address: backend } });
  if (merged.backend === undefined) throw new UsageError(`${file}: no backend.address; give --backend ADDR`);
  return validateConfig(merged, file ?? 'command line');
}

function readPassword(file: string | undefined): string {
  if (file !== undefined) {
    try {
      // One trailing newline is the file's, not the password's.
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new UsageError(
        `--password-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
  const env = process.env.MOAT_CHECK_PASSWORD;
  if (env === undefined)
    throw new UsageError('no password: set MOAT_CHECK_PASSWORD or pass --password-file FILE');
  return env;
}
