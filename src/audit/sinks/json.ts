// JSON lines: one AuditEvent per line, its fields as the event model names them. JSON.stringify
// escapes C0 controls (so LF and CR) inside strings but leaves U+2028 and U+2029 raw, and
// readers that split lines as Unicode does (Node's readline, Python's splitlines) would cut a
// record in two at them; DEL and the C1 controls (0x9b is a CSI that terminals obey like ESC [)
// are raw too and reach whoever `cat`s the file, as do the bidirectional overrides that make a
// line read differently from what it holds (U+202E). All are written as \u escapes, which every JSON
// parser reads back as the same character: a record is exactly one line for any reader.
//
// The audit record has one fixed shape, so its line is written by one straight-line function
// (auditJson) in the event model's key order, not by JSON.stringify walking a fresh object per
// record: every string goes through jsonString, which returns it quoted as is when nothing in it
// needs escaping (almost every user, host and statement) and otherwise escapes it exactly as
// jsonLine does.
import type { AuditEvent } from '../event.ts';
import type { Format } from './format.ts';

const UNSAFE = /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');
/** Anything JSON.stringify escapes (C0, quote, backslash, any surrogate: lone ones become \u), and UNSAFE. */
const NEEDS_ESCAPE =
  /["\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

const escapeUnsafe = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** JSON.stringify (indented by `space` when given), with the characters above escaped. */
export function jsonLine(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space);
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeUnsafe) : text;
}

/** One JSON string literal, escaped as jsonLine escapes it. */
export function jsonString(s: string): string {
  // Printable ASCII but the quote and the backslash passes as is: a loop over code units is
  // cheaper than a regular expression for the short strings a record holds.
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain || !NEEDS_ESCAPE.test(s)) return `"${s}"`;
  const text = JSON.stringify(s);
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeUnsafe) : text;
}

// JSON.stringify's renderings of the other value kinds a record holds. A field left undefined
// (the type forbids it) is written as null: the record keeps its shape.
const str = (s: string | null | undefined) => (s == null ? 'null' : jsonString(s));
const num = (n: number | null | undefined) => (n == null || !Number.isFinite(n) ? 'null' : `${n}`);

/** An AuditEvent as one JSON object (no line end), keys in the order of the event model. */
export function auditJson(e: AuditEvent): string {
  return (
    `{"timestamp":${str(e.timestamp)},"name":${str(e.name)},"connectionId":${num(e.connectionId)}` +
    `,"status":${num(e.status)},"failureClass":${str(e.failureClass)},"outcome":${str(e.outcome)}` +
    `,"user":${str(e.user)},"host":${str(e.host)},"ip":${str(e.ip)},"port":${num(e.port)}` +
    `,"db":${str(e.db)},"tlsVersion":${str(e.tlsVersion)},"tlsCipher":${str(e.tlsCipher)}` +
    `,"program":${str(e.program)},"instance":${str(e.instance)},"command":${str(e.command)}` +
    `,"statement":${str(e.statement)},"statementTruncated":${e.statementTruncated === true}` +
    `,"statementLength":${num(e.statementLength)},"digest":${str(e.digest)},"sqlState":${str(e.sqlState)}` +
    `,"message":${str(e.message)},"rows":${num(e.rows)},"affectedRows":${num(e.affectedRows)}` +
    `,"durationMs":${num(e.durationMs)}}`
  );
}

export function jsonLines(): Format {
  return {
    header: '',
    footer: '',
    accepts: () => true,
    render: (e) => `${auditJson(e)}\n`,
  };
}
