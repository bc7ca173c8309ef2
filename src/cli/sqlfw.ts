// `moat sqlfw export | import`: the SQL firewall's profiles and allowlists as a portable YAML file
// (src/sqlfw/file.ts), read from and written to stateDir/sqlfw.sqlite of moat's config. Run it
// while moat is stopped (or restart moat after an import): a running moat holds its lists in
// memory and would not see the import until its next start.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, readConfigFile, validateConfig } from '../config/load.ts';
import { sqlFirewallConfigSchema } from '../sqlfw/config.ts';
import { SqlFirewall } from '../sqlfw/engine.ts';
import { formatAllowlistFile, parseAllowlistFile } from '../sqlfw/file.ts';
import { SqlfwError } from '../sqlfw/model.ts';
import { SharedFirewall } from '../sqlfw/shared.ts';
import { SqlfwStore } from '../sqlfw/store.ts';

export const SQLFW_HELP = `Usage: moat sqlfw export [--config FILE] [--out FILE]
       moat sqlfw import FILE [--config FILE] [--replace]

The SQL firewall's profiles (account and group), modes, networks, members and digests as one
YAML file to review in a pull request and load on another moat (docs/sqlfw.md).

  export                 print the file (or write it to --out)
  import FILE            load FILE into stateDir/sqlfw.sqlite: merged into what is there, or
                         with --replace instead of it. A malformed file changes nothing and the
                         error names the entry (firewall.yaml: profiles[2].digests[5].hash: …).
                         Restart a running moat afterwards; in a fleet (state.store: redis in
                         --config) the import goes to the fleet's Redis and running members
                         adopt it at once.
  --config FILE          moat's config file (its stateDir and sqlFirewall section)
  --state-dir DIR        the state directory (over --config; default .moat)
  -h, --help             this help
`;

export interface SqlfwIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export async function sqlfw(argv: string[], io: SqlfwIo = process): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    const usage =
      e instanceof ConfigError ||
      (e instanceof Error && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_') === true);
    const code = e instanceof SqlfwError ? ` [${e.code}]` : '';
    io.stderr.write(`moat sqlfw: ${e instanceof Error ? e.message : String(e)}${code}\n`);
    return usage ? 2 : 1;
  }
}

async function run(argv: string[], io: SqlfwIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout.write(SQLFW_HELP);
    return sub === undefined ? 2 : 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      out: { type: 'string', short: 'o' },
      replace: { type: 'boolean', default: false },
      'state-dir': { type: 'string' },
    },
  });
  // The config file for stateDir and the sqlFirewall section; without one, the defaults.
  const config =
    values.config === undefined ? null : validateConfig(readConfigFile(values.config), values.config);
  const stateDir = values['state-dir'] ?? config?.stateDir ?? '.moat';
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'sqlfw.sqlite');
  const fw = new SqlFirewall(
    config?.sqlFirewall ?? sqlFirewallConfigSchema.parse({}),
    new SqlfwStore(path),
    pino({ level: 'silent' }),
  );
  // A fleet member's config: the fleet's lists in Redis are read first and an import is written
  // there, so running members adopt it at once.
  const shared =
    config !== null && config.state.store === 'redis' && values['state-dir'] === undefined
      ? new SharedFirewall(config.state, fw, pino({ level: 'warn' }, process.stderr))
      : null;
  await shared?.start();
  try {
    if (sub === 'export') {
      const text = formatAllowlistFile(fw.snapshot());
      if (values.out === undefined) io.stdout.write(text);
      else writeFileSync(values.out, text, { mode: 0o600 });
      return 0;
    }
    if (sub === 'import') {
      const file = positionals[0];
      if (file === undefined) throw new ConfigError('moat sqlfw import needs a FILE');
      const state = parseAllowlistFile(readFileSync(file, 'utf8'), basename(file));
      fw.importState(state, values.replace);
      const digests = state.profiles.reduce((n, p) => n + p.rules.length, 0);
      io.stdout.write(
        `imported ${state.profiles.length} profile(s), ${digests} digest(s), ${state.members.length} member(s) into ${path}${values.replace ? ' (replacing what was there)' : ''}\n`,
      );
      return 0;
    }
    throw new ConfigError(`unknown subcommand '${sub}' (export or import)`);
  } finally {
    await shared?.close();
    fw.close();
  }
}
