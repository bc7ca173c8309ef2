// MySQL's LIKE patterns (`%` any run, `_` one character, `\` escaping the next) as anchored
// regular expressions: account names in guard and detection rules, SHOW … LIKE on the admin
// port, and `moat audit grep --pattern`.

const SPECIAL = /[.*+?^${}()|[\]\\]/g;

export interface LikeOptions {
  /** As MySQL compares with a case-insensitive collation (SHOW … LIKE, statement search). */
  ignoreCase?: boolean;
  /** `\` escapes the next character (default true); false reads it as a plain backslash. */
  escapes?: boolean;
}

export function likeRegExp(pattern: string, o: LikeOptions = {}): RegExp {
  const escapes = o.escapes ?? true;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (escapes && c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(SPECIAL, '\\$&');
    else if (c === '%') re += '.*';
    else if (c === '_') re += '.';
    else re += c.replace(SPECIAL, '\\$&');
  }
  return new RegExp(`^${re}$`, o.ignoreCase ? 'is' : 's');
}
