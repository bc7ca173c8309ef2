// JSON lines: one AuditEvent per line, its fields as the event model names them. JSON.stringify
// escapes C0 controls (so LF and CR) inside strings but leaves U+2028 and U+2029 raw, and
// readers that split lines as Unicode does (Node's readline, Python's splitlines) would cut a
// record in two at them; DEL and the C1 controls (0x9b is a CSI that terminals obey like ESC [)
// are raw too and reach whoever `cat`s the file, as do the bidirectional overrides that make a
// line read differently from what it holds (U+202E). All are written as \u escapes, which every JSON
// parser reads back as the same character: a record is exactly one line for any reader.
//
// The audit record has one fixed shape, so a batch is not JSON.stringify of a fresh object per
// record joined into a string: a serializer compiled once from the event model's keys (in their
// order) writes every record of a batch straight into one Buffer. Printable ASCII, nearly every
// user, host, number and statement, is copied byte by byte; anything else goes through
// jsonString, which escapes exactly as jsonLine does.
import { type AuditEvent, emptyEvent } from '../event.ts';
import type { Format } from './format.ts';

const UNSAFE = /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

const escapeUnsafe = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** JSON.stringify (indented by `space` when given), with the characters above escaped. */
export function jsonLine(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space);
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeUnsafe) : text;
}

/** Printable ASCII but the quote and the backslash: written as is inside a JSON string. */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) return false;
  }
  return true;
}

/** One JSON string literal, escaped as jsonLine escapes it. */
export function jsonString(s: string): string {
  if (plain(s)) return `"${s}"`;
  const text = JSON.stringify(s);
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeUnsafe) : text;
}

/** Bytes of one batch, in one Buffer grown by doubling (a batch is bounded: MAX_BATCH records). */
export class BatchBytes {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A constant fragment (a key with its punctuation), ASCII. */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < bytes.length; i++) b[p++] = bytes[i]!;
    this.pos = p;
  }

  ascii(s: string): void {
    this.room(s.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  string(s: string): void {
    // Copied while checked: one pass for the plain string a record nearly always holds.
    this.room(s.length + 2);
    const b = this.buf;
    const start = this.pos;
    let p = start;
    b[p++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) {
        const text = jsonString(s);
        this.room(text.length * 3);
        this.pos = start + this.buf.write(text, start, 'utf8');
        return;
      }
      b[p++] = c;
    }
    b[p++] = 0x22;
    this.pos = p;
  }

  /** A string field (null when not one, as `value` would write anything else). */
  stringOrNull(v: unknown): void {
    if (typeof v === 'string') this.string(v);
    else this.value(v);
  }

  /** A number field that is almost always a small non-negative integer. */
  integer(v: unknown): void {
    if (typeof v !== 'number' || !(v >= 0 && v < 0x7fffffff && (v | 0) === v)) {
      this.value(v);
      return;
    }
    this.room(10);
    const b = this.buf;
    let p = this.pos;
    if (v === 0) {
      b[p++] = 0x30;
      this.pos = p;
      return;
    }
    let digits = 0;
    for (let x = v; x > 0; x = (x / 10) | 0) digits++;
    p += digits;
    this.pos = p;
    for (let x = v; x > 0; x = (x / 10) | 0) b[--p] = 0x30 + (x % 10);
  }

  /** Any field value as JSON.stringify writes it inside an object (undefined: null, the key stays). */
  value(v: unknown): void {
    if (typeof v === 'string') this.string(v);
    else if (typeof v === 'number') this.ascii(Number.isFinite(v) ? `${v}` : 'null');
    else if (v === true) this.ascii('true');
    else if (v === false) this.ascii('false');
    else if (v === null || v === undefined) this.ascii('null');
    else this.string(JSON.stringify(v)); // not in the model: never silently lost
  }
}

type Encode = (e: AuditEvent, out: BatchBytes) => void;

/**
 * Kinds of the model's fields, so the compiled code calls the one writer a field needs. A field
 * added to the model but not here is still written, by the generic `value`.
 */
const KINDS: Partial<Record<keyof AuditEvent, 'string' | 'integer' | 'boolean'>> = {
  timestamp: 'string',
  name: 'string',
  connectionId: 'integer',
  status: 'integer',
  host: 'string',
  ip: 'string',
  port: 'integer',
  instance: 'string',
  statementTruncated: 'boolean',
};

/**
 * The serializer of one record, compiled once: straight-line property reads in the model's key
 * order (monomorphic, as every AuditEvent is built by emptyEvent), each key's bytes encoded once.
 */
function compile(): Encode {
  const keys = Object.keys(emptyEvent('Query', '')) as (keyof AuditEvent)[];
  const writer = { string: 'stringOrNull', integer: 'integer', boolean: 'value' } as const;
  // Each key's bytes become constant stores into the buffer (room for them all made up front):
  // a call per value, none per key.
  const stores = (text: string) => [...Buffer.from(text)].map((byte) => `b[p++] = ${byte};`).join(' ');
  const fixed = keys.reduce((n, k) => n + Buffer.byteLength(JSON.stringify(k)) + 2, 2);
  const body = keys.map((k, i) => {
    const kind = KINDS[k];
    const call = `out.${kind === undefined ? 'value' : writer[kind]}(e[${JSON.stringify(k)}]);`;
    return `out.room(${fixed}); b = out.buf; p = out.pos; ${stores(`${i === 0 ? '{' : ','}${JSON.stringify(k)}:`)} out.pos = p; ${call}`;
  });
  body.push(`out.room(2); b = out.buf; p = out.pos; ${stores('}\n')} out.pos = p;`);
  try {
    return new Function(`return function encode(e, out) {\nlet b, p;\n${body.join('\n')}\n};`)() as Encode;
  } catch {
    // Code generation refused (node --disallow-code-generation-from-strings): the same bytes, by a loop.
    const fragments = keys.map((k, i) => Buffer.from(`${i === 0 ? '{' : ','}${JSON.stringify(k)}:`));
    const end = Buffer.from('}\n');
    return (e, out) => {
      for (let i = 0; i < keys.length; i++) {
        out.raw(fragments[i]!);
        out.value(e[keys[i]!]);
      }
      out.raw(end);
    };
  }
}

const encodeRecord = compile();

/**
 * A batch as JSON lines in one Buffer; a record that cannot be written is left out and reported.
 * `out` is reused from batch to batch (one per sink, whose batches are written one at a time):
 * the bytes returned are valid until its next batch.
 */
export function encodeJsonLines(
  batch: readonly AuditEvent[],
  onError: (e: AuditEvent, err: unknown) => void,
  out = new BatchBytes(Math.max(1024, batch.length * 512)),
): { data: Buffer; count: number } {
  out.pos = 0;
  let count = 0;
  for (const e of batch) {
    const start = out.pos;
    try {
      encodeRecord(e, out);
      count++;
    } catch (err) {
      out.pos = start;
      onError(e, err);
    }
  }
  return { data: out.buf.subarray(0, out.pos), count };
}

/** One record as one JSON line (with its line end), as a batch writes it. */
export function auditJsonLine(e: AuditEvent): string {
  const out = new BatchBytes(512);
  encodeRecord(e, out);
  return out.buf.toString('utf8', 0, out.pos);
}

/** Bytes kept between batches of one sink; a buffer grown past this by a batch of long statements is let go. */
const KEEP_BYTES = 4 << 20;

export function jsonLines(): Format {
  let out = new BatchBytes(64 * 1024);
  return {
    header: '',
    footer: '',
    accepts: () => true,
    render: auditJsonLine,
    encode: (batch, onError) => {
      if (out.buf.length > KEEP_BYTES) out = new BatchBytes(64 * 1024);
      return encodeJsonLines(batch, onError, out);
    },
  };
}
