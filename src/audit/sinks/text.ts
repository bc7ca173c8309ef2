// Helpers of the one-line text formats (SQL-error log, auth log, syslog key=value): one record is
// one line, whatever a statement, a message or a user name holds.

const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/**
 * Control characters as visible escapes (`\n`, `\t`, `\x1b`), so that a statement or a user name
 * chosen by a client can never start a line of its own: a forged line in an auth log would get a
 * host of the attacker's choosing banned.
 */
export function oneLine(s: string): string {
  return s.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

export type TimeZone = 'local' | 'utc';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * `YYYY-MM-DD` and `HH:MM:SS` of an ISO timestamp. Local time by default, as MySQL's error log
 * writes it and as fail2ban and OSSEC read it (they take a date without a zone as local time).
 */
export function dateTime(iso: string, zone: TimeZone): { date: string; time: string } {
  const d = new Date(iso);
  if (zone === 'utc') {
    return {
      date: `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
      time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
    };
  }
  return {
    date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    time: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
  };
}
