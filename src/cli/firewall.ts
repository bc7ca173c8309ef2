// `moat firewall rules [--apply | --remove]`: prints (installs, removes) the nftables rule set that
// admits only moat's address to the backend's port. The backend comes from moat's config file or
// flags; moat's address from --moat-address, else the source address this host's kernel picks
// toward the backend — right when run on moat's host, which is why --apply says what it inferred.
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, readConfigFile, validateConfig } from '../config/load.ts';
import { NftError } from '../firewall/nft.ts';
import {
  applyFirewallRules,
  DEFAULT_BACKEND_TABLE,
  type FirewallRulesOptions,
  firewallRules,
  removeFirewallRules,
} from '../firewall/rules.ts';

export const FIREWALL_HELP = `Usage: moat firewall rules [options]

Prints the nftables rule set for the database's host that admits only moat's address(es) to the
backend's port and drops every other source, so nothing reaches the database around moat.

  --config FILE          moat's config file: the backend port (and address) from backend.address
  --backend-port PORT    the backend's TCP port (instead of, or over, --config)
  --backend-address IP   the backend's address (over --config)
  --moat-address IP      an address or network moat connects from, repeatable; default: the
                         source address this host uses toward the backend (run it on moat's host)
  --table NAME           the nftables table (default ${DEFAULT_BACKEND_TABLE}, family inet)
  --apply                install the rules on this host (the backend's host; needs CAP_NET_ADMIN)
  --remove               delete the table from this host
  -h, --help             this help
`;

export interface FirewallIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

class UsageError extends Error {}

export async function firewall(argv: string[], io: FirewallIo = process): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    const usage =
      e instanceof UsageError ||
      e instanceof ConfigError ||
      e instanceof RangeError ||
      (e instanceof Error && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_') === true);
    const code = e instanceof NftError ? ` [${e.code}]` : '';
    io.stderr.write(`moat firewall: ${e instanceof Error ? e.message : String(e)}${code}\n`);
    return usage ? 2 : 1;
  }
}

async function run(argv: string[], io: FirewallIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? io.stderr : io.stdout).write(FIREWALL_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'rules') throw new UsageError(`unknown subcommand '${sub}' (moat firewall --help)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string' },
      'backend-port': { type: 'string' },
      'backend-address': { type: 'string' },
      'moat-address': { type: 'string', multiple: true },
      table: { type: 'string' },
      apply: { type: 'boolean', default: false },
      remove: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(FIREWALL_HELP);
    return 0;
  }
  const table = values.table ?? DEFAULT_BACKEND_TABLE;
  if (values.remove) {
    if (values.apply) throw new UsageError('--apply and --remove exclude each other');
    const removed = await removeFirewallRules(table);
    io.stderr.write(`moat firewall: ${removed ? 'removed' : 'there was no'} table inet ${table}\n`);
    return 0;
  }
  const backend = backendOf(values.config, values['backend-port'], values['backend-address']);
  let moatAddresses = values['moat-address'] ?? [];
  if (moatAddresses.length === 0) {
    if (backend.host === undefined)
      throw new UsageError(
        "which address does moat connect from? pass --moat-address (or the backend's address)",
      );
    const from = await sourceToward(backend.host, backend.port);
    io.stderr.write(
      `moat firewall: moat's address taken as ${from} (this host's source toward ${backend.host}); ` +
        'pass --moat-address if moat runs on another host\n',
    );
    moatAddresses = [from];
  }
  const opts: FirewallRulesOptions = {
    backendPort: backend.port,
    backendAddress: backend.host,
    moatAddresses,
    table,
  };
  const text = firewallRules(opts);
  io.stdout.write(text);
  if (!values.apply) return 0;
  if (backend.host !== undefined && !(await isLocal(backend.host)))
    throw new UsageError(
      `the backend ${backend.host} is not an address of this host: --apply installs here; ` +
        "run the printed rules with `nft -f` on the backend's host",
    );
  await applyFirewallRules(opts);
  io.stderr.write(`moat firewall: installed table inet ${table}\n`);
  return 0;
}

function backendOf(
  config: string | undefined,
  portFlag: string | undefined,
  addressFlag: string | undefined,
): { port: number; host: string | undefined } {
  let port: number | undefined;
  let host = addressFlag;
  if (config !== undefined) {
    const address = validateConfig(readConfigFile(config), config).backend.address;
    if (address.kind === 'unix' && portFlag === undefined)
      throw new UsageError(
        `${config}: the backend is the unix socket ${address.path}: there is no TCP port to protect`,
      );
    if (address.kind === 'tcp') {
      port = address.port;
      host ??= address.host;
    }
  }
  if (portFlag !== undefined) {
    if (!/^\d{1,5}$/.test(portFlag))
      throw new UsageError(`--backend-port: expected a port, got '${portFlag}'`);
    port = Number(portFlag);
  }
  if (port === undefined) throw new UsageError('which backend? pass --config FILE or --backend-port PORT');
  return { port, host };
}

async function addressOf(host: string): Promise<string> {
  return isIP(host) !== 0 ? host : (await lookup(host)).address;
}

/** The kernel's choice of source address toward `host`: a connected UDP socket sends nothing. */
async function sourceToward(host: string, port: number): Promise<string> {
  const ip = await addressOf(host);
  const socket = createSocket(isIP(ip) === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, ip, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}

async function isLocal(host: string): Promise<boolean> {
  const ip = await addressOf(host);
  if (ip.startsWith('127.') || ip === '::1') return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === ip) === true);
}
