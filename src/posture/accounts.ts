// Accounts: who can log in, from where, with what. Behind moat the server sees one address for
// every client — moat's own — so an account needs no host part wider than that; anything wider
// only serves connections that bypass moat. Each account gets the findings that apply to it; a
// check no account fails is reported once as passed. Locked accounts and roles cannot log in and
// are left out.

import { ed25519StoredKey } from '../protocol/ed25519.ts';
import { likeRegExp } from '../sql/like.ts';
import type { CheckContext } from './context.ts';
import type { DbAccount, ServerFacts } from './facts.ts';
import { accountName, type Finding, NEW_PASSWORD, passed, sqlString } from './finding.ts';
import { hostRange, hostWidth, isLoopbackPattern, networkRange, overlaps, verdictOver } from './hosts.ts';

const PASSWORD_PLUGINS = new Set([
  '',
  'mysql_native_password',
  'mysql_old_password',
  'ed25519',
  'caching_sha2_password',
  'sha256_password',
]);
const EMPTY_ED25519 = ed25519StoredKey('');
const NATIVE_HASH = /^\*[0-9A-F]{40}$/i;

export const ACCOUNT_CHECKS = [
  'account.anonymous',
  'account.empty-password',
  'account.admin-remote',
  'account.wide-host',
  'account.legacy-plugin',
  'account.no-tls',
  'account.dead-grant',
] as const;

function emptyPassword(a: DbAccount): boolean {
  return a.methods.some(
    (m) =>
      (m.plugin === 'ed25519' && m.hash === EMPTY_ED25519) ||
      (m.plugin !== 'ed25519' && PASSWORD_PLUGINS.has(m.plugin) && m.hash === ''),
  );
}

/** The weakest password method in use: old_password (fail) or native with a usable hash (warn). */
function legacyPlugin(a: DbAccount): 'mysql_old_password' | 'mysql_native_password' | null {
  if (a.methods.some((m) => m.plugin === 'mysql_old_password' && m.hash !== '')) return 'mysql_old_password';
  // The 'invalid' hash mariadb-install-db gives root cannot be logged in with: not a credential.
  if (a.methods.some((m) => m.plugin === 'mysql_native_password' && NATIVE_HASH.test(m.hash)))
    return 'mysql_native_password';
  return null;
}

function admin(a: DbAccount): string[] {
  const what: string[] = [];
  if (a.all) what.push('ALL PRIVILEGES');
  else if (a.super) what.push('SUPER');
  if (a.grantOption) what.push('GRANT OPTION');
  if (what.length === 0 && a.user === 'root') what.push('the root name');
  return what;
}

/**
 * Whether moat refuses every address the host pattern names: every TCP listener's address rules
 * (its own, else guard.access) deny the whole range, or a guard.users rule for this user allows
 * none of it. Only literal addresses and networks are judged; names and wildcards are not.
 */
function deadGrant(a: DbAccount, ctx: CheckContext): string | null {
  const range = hostRange(a.host);
  if (range === null || isLoopbackPattern(a.host)) return null;
  const c = ctx.config;
  const tcp = c.listeners.filter((l) => l.address.kind === 'tcp');
  if (tcp.length > 0 && tcp.every((l) => verdictOver(l.access ?? c.guard.access, range) === 'deny')) {
    return `moat's address rules deny every address of '${a.host}'`;
  }
  const rule = c.guard.users.find((r) => likeRegExp(r.user).test(a.user));
  if (rule?.from !== undefined) {
    const nets = rule.from.map(networkRange).filter((n) => n !== null);
    if (!nets.some((n) => overlaps(n, range)))
      return `moat's rule for user '${rule.user}' allows only ${rule.from.join(', ')}`;
  }
  return null;
}

export function accountFindings(facts: ServerFacts, ctx: CheckContext): Finding[] {
  const accounts = facts.accounts.filter((a) => !a.role && !a.locked);
  const out: Finding[] = [];
  const taken = new Set(facts.accounts.map((a) => `${a.user}@${a.host}`));
  const hostFixes = new Map<DbAccount, string>();
  const area = 'accounts' as const;

  /**
   * One host fix per account, shared by every finding about its host, so applying the fixes in
   * order never renames an account twice: RENAME to moat's host ('localhost' for admin accounts),
   * or DROP when an account of that name already exists there (or the grant is dead).
   */
  const hostFix = (a: DbAccount, dead: boolean): string => {
    const known = hostFixes.get(a);
    if (known !== undefined) return known;
    const name = accountName(a.user, a.host);
    const target = admin(a).length > 0 ? 'localhost' : ctx.moatHost;
    let fix: string;
    if (dead || taken.has(`${a.user}@${target}`)) fix = `DROP USER ${name};`;
    else {
      taken.add(`${a.user}@${target}`);
      fix = `RENAME USER ${name} TO ${accountName(a.user, target)};`;
    }
    hostFixes.set(a, fix);
    return fix;
  };
  const passwordFix = (a: DbAccount): string => {
    const name = accountName(a.user, a.host);
    if (facts.flavor === 'mysql')
      return `ALTER USER ${name} IDENTIFIED WITH caching_sha2_password BY ${sqlString(NEW_PASSWORD)};`;
    // Methods that are not passwords (unix_socket, gssapi, pam) are kept as alternatives.
    const others = a.methods
      .filter((m) => !PASSWORD_PLUGINS.has(m.plugin))
      .map((m) => ` OR ${m.plugin}${m.hash === '' ? '' : ` USING ${sqlString(m.hash)}`}`)
      .join('');
    const install = facts.authPlugins.has('ed25519') ? '' : "INSTALL SONAME 'auth_ed25519'; ";
    return `${install}ALTER USER ${name} IDENTIFIED VIA ed25519 USING PASSWORD(${sqlString(NEW_PASSWORD)})${others};`;
  };

  for (const a of accounts) {
    const subject = accountName(a.user, a.host);
    const loopback = isLoopbackPattern(a.host);
    if (a.user === '') {
      out.push({
        id: 'account.anonymous',
        area,
        severity: 'fail',
        subject,
        seen: `an account with no user name, from '${a.host}'`,
        why: 'Any name that matches no other account logs in as it, and an anonymous account on a more specific host shadows named accounts (the most specific host wins). It has no legitimate use.',
        fix: `DROP USER ${subject};`,
        fixKind: 'sql',
      });
      // Dropping it is the only fix; other findings about it would only repeat that.
      continue;
    }
    const dead = deadGrant(a, ctx);
    if (emptyPassword(a)) {
      out.push({
        id: 'account.empty-password',
        area,
        severity: 'fail',
        subject,
        seen: `${a.methods.map((m) => m.plugin || 'mysql_native_password').join(' OR ')} with an empty password`,
        why: 'Whoever can reach the server (or moat) logs in with the account name alone.',
        fix: passwordFix(a),
        fixKind: 'sql',
      });
    } else {
      const legacy = legacyPlugin(a);
      if (legacy !== null) {
        out.push({
          id: 'account.legacy-plugin',
          area,
          severity: legacy === 'mysql_old_password' ? 'fail' : 'warn',
          subject,
          seen: `authenticates with ${legacy}`,
          why:
            legacy === 'mysql_old_password'
              ? 'The pre-4.1 hash is broken: a sniffed login or the stored hash gives the password away in seconds.'
              : 'Unsalted SHA-1: the stored hash plus one sniffed login is enough to log in, and the hash cracks fast offline. ed25519 (MariaDB) and caching_sha2_password (MySQL) do not have these weaknesses.',
          fix: passwordFix(a),
          fixKind: 'sql',
        });
      }
    }
    const powers = admin(a);
    if (powers.length > 0 && !loopback) {
      out.push({
        id: 'account.admin-remote',
        area,
        severity: 'fail',
        subject,
        seen: `${powers.join(', ')} from host pattern '${a.host}'`,
        why: 'An account that can change every grant and setting should log in only on the server host (the unix socket), never over a network: from there its password is the only barrier, moat or not.',
        fix: hostFix(a, dead !== null),
        fixKind: 'sql',
      });
    }
    const width = hostWidth(a.host);
    if (width !== 'narrow') {
      out.push({
        id: 'account.wide-host',
        area,
        severity: width === 'any' ? 'fail' : 'warn',
        subject,
        seen:
          width === 'any'
            ? `host pattern '${a.host}': any address`
            : `host pattern '${a.host}' admits many hosts`,
        why: `Behind moat the server sees one address for every client, moat's own ('${ctx.moatHost}'); a wider pattern only serves connections that bypass moat.`,
        fix: hostFix(a, dead !== null),
        fixKind: 'sql',
      });
    }
    // An account the host fix moves to moat's loopback address (or drops) stops crossing a network;
    // REQUIRE SSL on it would only lock moat out when its backend leg is plain.
    const moved = (powers.length > 0 && !loopback) || width !== 'narrow' || dead !== null;
    const target = powers.length > 0 ? 'localhost' : ctx.moatHost;
    if (!loopback && a.ssl === 'none' && !(moved && isLoopbackPattern(target))) {
      out.push({
        id: 'account.no-tls',
        area,
        severity: 'warn',
        subject,
        seen: `no REQUIRE SSL, host pattern '${a.host}' is not loopback`,
        why: "Its logins may cross a network in clear. With REQUIRE SSL moat's backend leg must be TLS too (backend.tls.mode: require or verify).",
        fix: `ALTER USER ${subject} REQUIRE SSL;`,
        fixKind: 'sql',
      });
    }
    if (dead !== null) {
      out.push({
        id: 'account.dead-grant',
        area,
        severity: 'warn',
        subject,
        seen: dead,
        why: 'No client moat admits can use this account, so it only serves connections that bypass moat.',
        fix: hostFix(a, true),
        fixKind: 'sql',
      });
    }
  }
  const n = accounts.length;
  for (const id of ACCOUNT_CHECKS) {
    if (!out.some((f) => f.id === id)) {
      out.push(passed({ id, area, subject: 'all accounts', seen: `none of ${n} accounts that can log in` }));
    }
  }
  return out;
}
