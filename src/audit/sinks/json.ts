// JSON lines: one AuditEvent per line, its fields as the event model names them. JSON.stringify
// escapes C0 controls (so LF and CR) inside strings but leaves U+2028 and U+2029 raw, and
// readers that split lines as Unicode does (Node's readline, Python's splitlines) would cut a
// record in two at them; DEL and the C1 controls (0x9b is a CSI that terminals obey like ESC [)
// are raw too and reach whoever `cat`s the file, as do the bidirectional overrides that make a
// line read differently from what it holds (U+202E). All are written as \u escapes, which every JSON
// parser reads back as the same character: a record is exactly one line for any reader.
import type { Format } from './format.ts';

const UNSAFE = /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/** JSON.stringify (indented by `space` when given), with the characters above escaped. */
export function jsonLine(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space);
  return UNSAFE.test(text)
    ? text.replace(UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : text;
}

export function jsonLines(): Format {
  return {
    header: '',
    footer: '',
    accepts: () => true,
    render: (e) => `${jsonLine(e)}\n`,
  };
}
