// `moat firewall rules`: the rule set for the database's host that admits only moat's address(es)
// to the backend's port and drops every other source — the checklist's dual protection: whoever
// bypasses moat meets the kernel, not the database. Printed in nft's own syntax, because an
// operator reads it before installing it; --apply installs exactly the text printed.
import { isIP } from 'node:net';
import { Nft, NftError, ownTableExists } from './nft.ts';

/** Marks the rules moat made (see ownTableExists). */
export const BACKEND_MARK = 'moat: only moat reaches the backend';

export const DEFAULT_BACKEND_TABLE = 'moat_backend';

export interface FirewallRulesOptions {
  backendPort: number;
  /** For the header (and the CLI's check that --apply runs on the backend's host). */
  backendAddress?: string;
  /** Addresses or networks moat connects from (IPv4 and/or IPv6). */
  moatAddresses: readonly string[];
  /** Default moat_backend. */
  table?: string;
}

export function firewallRules(o: FirewallRulesOptions): string {
  const table = checkTable(o.table ?? DEFAULT_BACKEND_TABLE);
  if (!Number.isInteger(o.backendPort) || o.backendPort < 1 || o.backendPort > 65535)
    throw new RangeError(`backend port ${o.backendPort}: expected 1 to 65535`);
  if (o.moatAddresses.length === 0)
    throw new RangeError('no moat address: without one the rules would shut moat out of the backend');
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of o.moatAddresses) (familyOf(a) === 4 ? v4 : v6).push(a.toLowerCase());
  const port = o.backendPort;
  const backend = o.backendAddress === undefined ? `port ${port}` : `${o.backendAddress} port ${port}`;
  const set = (name: string, type: string, elements: string[]) => [
    `\tset ${name} {`,
    `\t\ttype ${type}`,
    // interval: moat's fleet may be given as a network (10.0.1.0/24).
    '\t\tflags interval',
    `\t\telements = { ${elements.join(', ')} }`,
    '\t}',
    '',
  ];
  const lines = [
    '#!/usr/sbin/nft -f',
    `# moat: only moat reaches the backend (${backend}); every other source is dropped.`,
    `# moat connects from: ${o.moatAddresses.join(', ')}`,
    "# Install on the backend's host: `moat firewall rules --apply`, or `nft -f` this file.",
    '# Applying again replaces the table in one transaction; other tables are left alone.',
    `# Remove: nft delete table inet ${table}`,
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...(v4.length > 0 ? set('moat4', 'ipv4_addr', v4) : []),
    ...(v6.length > 0 ? set('moat6', 'ipv6_addr', v6) : []),
    '\tchain input {',
    // Before the host's filter chains at priority 0; our accept ends only this chain, so the
    // host's own rules still apply to moat's packets; our drop is final for everyone else's.
    '\t\ttype filter hook input priority filter - 10; policy accept;',
    ...(v4.length > 0 ? [`\t\ttcp dport ${port} ip saddr @moat4 accept comment "${BACKEND_MARK}"`] : []),
    ...(v6.length > 0 ? [`\t\ttcp dport ${port} ip6 saddr @moat6 accept comment "${BACKEND_MARK}"`] : []),
    `\t\ttcp dport ${port} counter drop comment "${BACKEND_MARK}"`,
    '\t}',
    '}',
    '',
  ];
  return lines.join('\n');
}

/**
 * Installs the rule set on this host (needs CAP_NET_ADMIN). A table of that name that moat did not
 * make is refused (MOAT_NFT_FOREIGN_TABLE), as the text replaces the table whole.
 */
export async function applyFirewallRules(o: FirewallRulesOptions, nft: Nft = new Nft()): Promise<void> {
  const text = firewallRules(o);
  await ownTableExists(nft, o.table ?? DEFAULT_BACKEND_TABLE, BACKEND_MARK);
  await nft.applyText(text);
}

/** Removes the table; false when there was none. Refuses a table moat did not make. */
export async function removeFirewallRules(
  table: string = DEFAULT_BACKEND_TABLE,
  nft: Nft = new Nft(),
): Promise<boolean> {
  if (!(await ownTableExists(nft, checkTable(table), BACKEND_MARK))) return false;
  try {
    await nft.apply([{ delete: { table: { family: 'inet', name: table } } }]);
  } catch (e) {
    if (e instanceof NftError && e.code === 'MOAT_NFT_NOT_FOUND') return false;
    throw e;
  }
  return true;
}

function checkTable(name: string): string {
  if (!/^[a-z0-9_]{1,32}$/.test(name))
    throw new RangeError(`table '${name}': expected 1 to 32 characters of a-z, 0-9 and _`);
  return name;
}

/** An address or a network (a.b.c.d/n, x::/n); the text goes into an nft file, so nothing else. */
function familyOf(a: string): 4 | 6 {
  const [addr, bits, extra] = a.split('/');
  const family = addr === undefined ? 0 : isIP(addr);
  const max = family === 4 ? 32 : 128;
  if (
    family === 0 ||
    a.includes('%') ||
    extra !== undefined ||
    (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))
  )
    throw new RangeError(
      `moat address '${a}': expected an IP address or network (10.0.0.2, 10.0.1.0/24, fd00::2)`,
    );
  return family as 4 | 6;
}
