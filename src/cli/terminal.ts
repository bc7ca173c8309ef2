// Text from clients on the operator's terminal. User names, host names (a PTR record is the
// attacker's to write), statements and messages are the client's bytes: printed raw, an ESC or
// C1 sequence would move the cursor, rewrite earlier lines, set the window title or, on some
// terminals, answer back as typed input. Every control character becomes a visible escape
// (`\n`, `\x1b`, `\x9b`), line and paragraph separators too (`\u2028`), and the bidirectional
// overrides that make a line read differently from what it holds (`\u202e`).
import { oneLine } from '../audit/sinks/text.ts';

const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A client-originated value, safe to print; numbers and null pass as they are. */
export function safe<T>(v: T): T | string {
  if (typeof v !== 'string') return v;
  return oneLine(v).replace(BIDI, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
