// moat's command line: dispatches to one module per command.
import { ConfigError } from '../config/load.ts';
import { audit } from './audit.ts';
import { CHECK_HELP, check } from './check.ts';
import { demo } from './demo.ts';
import { FIREWALL_HELP, firewall } from './firewall.ts';
import { hashPassword } from './hash-password.ts';
import { OPS_COMMANDS, OPS_HELP, OpsError, ops } from './ops.ts';
import { SQLFW_HELP, sqlfw } from './sqlfw.ts';
import { START_HELP, StartError, start } from './start.ts';
import { hashToken, newToken } from './token.ts';

const HELP = `Usage: moat <command> [options]

Commands:
  start           run the gateway (moat start --help)
  demo            a throwaway MariaDB behind moat, scripted attacks, the report (--exit to end)
  check           the posture of the server behind moat: findings, each with its fix (moat check --help)
  firewall rules  the nftables rules that admit only moat to the backend (moat firewall --help)
  audit grep      search audit files (moat audit --help)
  sqlfw export|import  the SQL firewall's allowlists as a YAML file (moat sqlfw --help)
  hash-password   print the stored form of a password for admin.users (reads it from stdin)
  new-token       make an API token and the hash for admin.http.tokenSha256
  hash-token      print the SHA-256 of a token read from stdin

${OPS_HELP}

moat is a security gateway for MySQL and MariaDB. See README.md.
`;

/** `moat help <command>`. */
const HELPS: Record<string, string> = {
  start: START_HELP,
  check: CHECK_HELP,
  firewall: FIREWALL_HELP,
  sqlfw: SQLFW_HELP,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      await start(rest);
      return -1; // keeps running
    case 'hash-password':
      return hashPassword();
    case 'demo':
      return demo(rest);
    case 'audit':
      return audit(rest);
    case 'check':
      return check(rest);
    case 'firewall':
      return firewall(rest);
    case 'sqlfw':
      return sqlfw(rest);
    case 'new-token':
      return newToken();
    case 'hash-token':
      return hashToken();
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELPS[rest[0] ?? ''] ?? HELP);
      return 0;
    default:
      if (OPS_COMMANDS.includes(command)) return ops(command, rest);
      process.stderr.write(`moat: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof StartError) {
      // One line, then exit at once: a half-started gateway may hold timers or sockets open.
      process.stderr.write(`moat: ${e.message}\n`);
      if (e.debug) process.stderr.write(`${(e.cause as Error | undefined)?.stack ?? ''}\n`);
      process.exit(1);
    }
    if (e instanceof OpsError) {
      process.stderr.write(`moat: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    if (
      e instanceof ConfigError ||
      (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
    ) {
      process.stderr.write(`moat: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    // Not a known failure: the message, and the stack for a bug report only when asked for.
    const debug = argv.includes('--debug') || process.env.MOAT_DEBUG === '1';
    const text = e instanceof Error ? (debug ? (e.stack ?? e.message) : e.message) : String(e);
    process.stderr.write(`moat: ${text}\n`);
    process.exitCode = 1;
  },
);
