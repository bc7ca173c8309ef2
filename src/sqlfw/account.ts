// Account names as MySQL Enterprise Firewall writes them: `user@host` (its USERHOST column), also
// accepted quoted as in SQL ('user'@'host', `user`@`host`). The host part is a MySQL host pattern
// (% and _ wildcards, 'localhost' for a unix-socket client) matched against the client's address
// as moat sees it. moat matches the login's user name and address itself: it does not know which
// of the server's accounts the server matched, so a profile names the accounts as a DBA would.
import { likeRegExp } from '../sql/like.ts';

export interface AccountPattern {
  user: string;
  host: string;
  /** Canonical `user@host`, the key of a profile and of a group member. */
  text: string;
  /** Characters that are not wildcards: the more, the more specific (MySQL sorts accounts so). */
  specificity: number;
  hostRe: RegExp;
}

export class AccountNameError extends Error {
  readonly code = 'MOAT_SQLFW_ACCOUNT';
  constructor(text: string, why: string) {
    super(`'${text}' is not an account name (user@host): ${why}`);
    this.name = 'AccountNameError';
  }
}

const QUOTED = /^(['"`])((?:(?!\1).|\1\1)*)\1$/s;

function unquote(part: string): string {
  const m = QUOTED.exec(part);
  if (m === null) return part;
  const q = m[1]!;
  return m[2]!.split(q + q).join(q);
}

/** Parses `user@host` (host defaults to `%`, as in CREATE USER). Throws AccountNameError. */
export function parseAccount(text: string): AccountPattern {
  const t = text.trim();
  if (t === '') throw new AccountNameError(text, 'empty');
  // The host part follows the last @ outside quotes: quoted user names may contain @.
  let at = -1;
  let quote: string | null = null;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '@') at = i;
  }
  if (quote !== null) throw new AccountNameError(text, 'unbalanced quote');
  const user = unquote(at < 0 ? t : t.slice(0, at));
  const host = at < 0 ? '%' : unquote(t.slice(at + 1));
  if (host === '') throw new AccountNameError(text, 'empty host part');
  if (user.length > 80 || host.length > 255) throw new AccountNameError(text, 'too long');
  if (/[\u0000-\u001f]/.test(user + host)) throw new AccountNameError(text, 'control characters');
  return {
    user,
    host,
    text: `${user}@${host}`,
    specificity: host.replace(/[%_]/g, '').length + (host.includes('%') ? 0 : 1000),
    hostRe: likeRegExp(host, { ignoreCase: true }),
  };
}

/** Does a login (user name, client address, unix-socket or not) fall under this account? */
export function accountMatches(a: AccountPattern, user: string, ip: string, local: boolean): boolean {
  // '' is MySQL's anonymous user: any user name.
  if (a.user !== '' && a.user !== user) return false;
  if (local) return a.hostRe.test('localhost') || a.hostRe.test(ip);
  return a.hostRe.test(ip);
}
