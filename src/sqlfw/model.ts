// MySQL Enterprise Firewall's vocabulary: profiles (one per account, or a named group of
// accounts, EE 8.0.23+), each in one mode, each with an allowlist of statement digests.
import { BlockList, isIP } from 'node:net';
import type { AccountPattern } from './account.ts';

/** EE's operational modes (firewall_users.MODE, firewall_groups.MODE). */
export const MODES = ['OFF', 'RECORDING', 'DETECTING', 'PROTECTING'] as const;
export type Mode = (typeof MODES)[number];
/** sp_set_firewall_mode also takes RESET: the allowlist emptied, the mode OFF. */
export type ModeArgument = Mode | 'RESET';
export type ProfileKind = 'user' | 'group';

/** A wrong argument to a firewall statement or in an allowlist file, with a stable code. */
export class SqlfwError extends Error {
  readonly code: 'MOAT_SQLFW_MODE' | 'MOAT_SQLFW_ARGUMENT' | 'MOAT_SQLFW_NO_GROUP' | 'MOAT_SQLFW_FILE';
  constructor(code: SqlfwError['code'], message: string) {
    super(message);
    this.code = code;
    this.name = 'SqlfwError';
  }
}

export function parseMode(text: string, allowReset: boolean): ModeArgument {
  const m = text.trim().toUpperCase();
  if ((MODES as readonly string[]).includes(m) || (allowReset && m === 'RESET')) return m as ModeArgument;
  throw new SqlfwError(
    'MOAT_SQLFW_MODE',
    `unknown firewall mode '${text}' (expected ${MODES.join(', ')}${allowReset ? ' or RESET' : ''})`,
  );
}

export interface ReportEntry {
  hash: string;
  text: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
  truncated: boolean;
}

export interface Profile {
  kind: ProfileKind;
  /** `user@host` for an account profile, the group's name for a group profile. */
  name: string;
  mode: Mode;
  /** The account profile's own account; null for a group. */
  account: AccountPattern | null;
  /** Group profile: the one account whose statements are learned in RECORDING; null: any member. */
  trainer: AccountPattern | null;
  /** Client networks the profile applies to (moat's addition); empty: any address. */
  networks: string[];
  networkList: BlockList | null;
  /** digest hash → digest text (EE's RULE). */
  rules: Map<string, string>;
  /** Digests seen in DETECTING / PROTECTING that are not on the list (the learning report). */
  report: Map<string, ReportEntry>;
}

/** Validates `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`; throws SqlfwError naming the entry. */
export function networkList(networks: readonly string[]): BlockList | null {
  if (networks.length === 0) return null;
  const list = new BlockList();
  for (const n of networks) {
    const [addr, bits, extra] = n.split('/');
    const family = isIP(addr ?? '');
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (family === 0 || extra !== undefined || !/^\d*$/.test(bits ?? '') || !(prefix >= 0 && prefix <= max))
      throw new SqlfwError('MOAT_SQLFW_ARGUMENT', `'${n}' is not an IP address or CIDR network`);
    list.addSubnet(addr!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

export function inNetworks(p: Profile, ip: string): boolean {
  if (p.networkList === null) return true;
  const family = isIP(ip);
  if (family === 0) return false; // a unix-socket client has no address to be in a network
  return p.networkList.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}
