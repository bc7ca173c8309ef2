// The authentication log: failed logins as MySQL and MariaDB write them to their error log, so
// fail2ban's stock `mysqld-auth` filter reads it unmodified:
//   2026-11-23 12:00:00 5 [Warning] Access denied for user 'app'@'192.0.2.7' (using password: YES)
// (date, connection id, level, message: MariaDB's error-log layout, which the filter's optional
// date and `(?:\d+ )?\[\w+\]` parts expect). The filter's failregex requires a non-empty user and
// a space after the host's closing quote, so every line ends with `(using password: …)` or
// `to database '…'`; an anonymous attempt (user '') is written as MySQL writes it, and the stock
// filter ignores it there as it does in MySQL's own log.
//
// The host is always the client's address, never a resolved name: fail2ban bans what <HOST>
// captures. User names come from the client, so quotes and control characters in them are
// escaped: a name such as `x'@'203.0.113.9` must not make fail2ban ban someone else.
import type { AuditEvent } from '../event.ts';
import type { Format } from './format.ts';
import { dateTime, oneLine, type TimeZone } from './text.ts';

/** ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR. */
export const AUTH_FAILURE_CODES: ReadonlySet<number> = new Set([1044, 1045, 1698]);

function quoted(s: string): string {
  return oneLine(s.replace(/['\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`));
}

function reason(e: AuditEvent): string {
  if (e.status === 1044) return `to database '${quoted(e.db ?? '')}'`;
  // 1698 is a plugin refusal (auth_socket, unix_socket): no password was involved.
  if (e.status === 1698) return '(using password: NO)';
  // The backend's own 1045 message says whether the client sent a password; moat's refusals do not.
  // It echoes the user name, which the client chose: only the clause that ends the message is
  // MySQL's (ER_ACCESS_DENIED_ERROR's template puts it last), so a name holding
  // `(using password: NO)` cannot flip it.
  const used = /\(using password: (YES|NO)\)$/.exec(e.message ?? '')?.[1] ?? 'YES';
  return `(using password: ${used})`;
}

export function authLog(zone: TimeZone): Format {
  return {
    header: '',
    footer: '',
    accepts: (e) => (e.name === 'Connect' || e.name === 'Change user') && AUTH_FAILURE_CODES.has(e.status),
    render(e) {
      const { date, time } = dateTime(e.timestamp, zone);
      const host = e.ip === '' ? 'localhost' : e.ip;
      const user = quoted(e.user ?? '');
      return `${date} ${time} ${e.connectionId} [Warning] Access denied for user '${user}'@'${host}' ${reason(e)}\n`;
    },
  };
}
