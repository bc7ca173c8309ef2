// moat's command line: dispatches to one module per command.
import { ConfigError } from '../config/load.ts';
import { hashPassword } from './hash-password.ts';
import { START_HELP, start } from './start.ts';

const HELP = `Usage: moat <command> [options]

Commands:
  start           run the gateway (moat start --help)
  hash-password   print the stored form of a password for admin.users (reads it from stdin)

moat is a security gateway for MySQL and MariaDB. See README.md.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      await start(rest);
      return -1; // keeps running
    case 'hash-password':
      return hashPassword();
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(rest[0] === 'start' ? START_HELP : HELP);
      return 0;
    default:
      process.stderr.write(`moat: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    if (
      e instanceof ConfigError ||
      (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
    ) {
      process.stderr.write(`moat: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`moat: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
