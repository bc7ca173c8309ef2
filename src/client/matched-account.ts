// Which account the backend matched for a login, and whether its host part admits the client.
//
// Without the PROXY protocol the server matches accounts against moat's address: root@localhost
// over moat's unix-socket backend, u@127.0.0.1 when moat and the server share a host. The OK
// packet does not name the account, so moat asks with one COM_QUERY before it relays the OK —
// CURRENT_USER() is the account the server matched, USER() the name the client gave (and moat's
// host): moat's own 1045 must name the latter, as the server's would.

import type { PacketChannel } from '../net/channel.ts';
import { likeRegExp } from '../sql/like.ts';
import { OneRowError, oneRowQuery, readOneRow } from './one-row.ts';

const CURRENT_USER = oneRowQuery('SELECT CURRENT_USER(), USER()');

export interface MatchedAccount {
  user: string;
  host: string;
  /** The user name the client logged in with (USER() without its host). */
  given: string;
}

export class MatchedAccountError extends Error {
  readonly code = 'MOAT_MATCHED_ACCOUNT';
  constructor(message: string) {
    super(message);
    this.name = 'MatchedAccountError';
  }
}

// The text-protocol answer, with or without CLIENT_DEPRECATE_EOF (the client's choice, passed on):
//   column count | ColumnDefinition41 × 2 | [EOF] | row (two lenenc strings) | EOF or OK (0xfe) | ERR
export async function currentUser(ch: PacketChannel): Promise<MatchedAccount> {
  let text: string;
  let user: string;
  try {
    const [matched, given] = await readOneRow(ch, CURRENT_USER, 2, 'CURRENT_USER()');
    text = matched ?? '';
    user = given ?? '';
  } catch (e) {
    if (e instanceof OneRowError) throw new MatchedAccountError(e.message);
    throw e;
  }
  // user@host; a user name may contain '@', a host part may not.
  const at = text.lastIndexOf('@');
  if (at < 0) throw new MatchedAccountError(`CURRENT_USER(): '${text}' is not user@host`);
  const given = user.lastIndexOf('@');
  return {
    user: text.slice(0, at),
    host: text.slice(at + 1),
    given: given < 0 ? user : user.slice(0, given),
  };
}

/**
 * Would the server match this host part for a client connecting directly from `ip`? As MariaDB
 * and MySQL read a host part: '%' and '_' wildcards, 'a.b.c.d/m.m.m.m' netmasks, literals
 * compared case-insensitively. Names ('localhost', 'db1.example') never match an address: the
 * server resolves names only for TCP clients without skip_name_resolve, and a name moat cannot
 * check is one moat must not open to a remote client.
 */
export function hostAdmits(host: string, ip: string): boolean {
  if (host === '%' || host === '') return true;
  const slash = host.indexOf('/');
  if (slash > 0) return netmaskAdmits(host.slice(0, slash), host.slice(slash + 1), ip);
  if (host.includes('%') || host.includes('_')) return likeRegExp(host, { ignoreCase: true }).test(ip);
  return host.toLowerCase() === ip.toLowerCase();
}

function ipv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return null;
    n = n * 256 + Number(part);
  }
  return n;
}

function netmaskAdmits(base: string, mask: string, ip: string): boolean {
  const b = ipv4(base);
  const m = ipv4(mask);
  const a = ipv4(ip);
  if (b === null || m === null || a === null) return false;
  return (a & m) >>> 0 === (b & m) >>> 0;
}
