// Syslog records (RFC 5424), one per datagram, without a line end:
//
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
//   <132>1 2026-11-23T12:00:00.123Z db1 moat 4242 Connect - name="Connect" connection_id=5 status=1045 …
//
// PRI is facility × 8 + severity: warning for failures, blocks and delays, notice for admin
// statements and unblocks, info for the rest. The event's fields go either into MSG as
// key=value pairs (`kv`, readable by any receiver and by Splunk/Graylog key=value extraction) or
// into one SD element `[moat@32473 name="Connect" …]` (`sd`, for receivers that parse RFC 5424
// structured data) with a short summary as MSG. 32473 is the enterprise number RFC 5612 reserves
// for examples; a site with its own number configures `sdId`.
import type { AuditEvent } from '../event.ts';
import type { Format } from './format.ts';
import { oneLine } from './text.ts';

export const FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

const WARNING = 4;
const NOTICE = 5;
const INFO = 6;

export function severity(e: AuditEvent): number {
  if (e.status !== 0 || e.name === 'Blocked' || e.name === 'Delayed' || e.name === 'Alert') return WARNING;
  return e.name === 'Admin' || e.name === 'Unblocked' ? NOTICE : INFO;
}

/** The event's fields in snake_case, null ones left out. */
const FIELDS: ReadonlyArray<[keyof AuditEvent, string]> = [
  ['timestamp', 'timestamp'],
  ['name', 'name'],
  ['connectionId', 'connection_id'],
  ['status', 'status'],
  ['failureClass', 'failure_class'],
  ['outcome', 'outcome'],
  ['user', 'user'],
  ['host', 'host'],
  ['ip', 'ip'],
  ['port', 'port'],
  ['db', 'db'],
  ['tlsVersion', 'tls_version'],
  ['tlsCipher', 'tls_cipher'],
  ['program', 'program'],
  ['instance', 'instance'],
  ['command', 'command'],
  ['sqlState', 'sql_state'],
  ['message', 'message'],
  ['rows', 'rows'],
  ['affectedRows', 'affected_rows'],
  ['durationMs', 'duration_ms'],
  /** Set only when the statement was cut: its whole length in bytes. */
  ['statementLength', 'statement_length'],
  /** A statement's digest (src/sql/digest.ts). */
  ['digest', 'digest'],
  ['statement', 'statement'],
];

/** `name="Connect" connection_id=5 …`: strings quoted with `\"` and `\\` escaped, one line. */
export function keyValues(e: AuditEvent): string {
  const parts: string[] = [];
  for (const [key, name] of FIELDS) {
    const v = e[key];
    if (v === null || v === '') continue;
    parts.push(typeof v === 'string' ? `${name}="${oneLine(v.replace(/["\\]/g, '\\$&'))}"` : `${name}=${v}`);
  }
  return parts.join(' ');
}

/** One SD element; PARAM-VALUE escapes `"`, `\` and `]` (RFC 5424 section 6.3.3). */
export function structuredData(e: AuditEvent, sdId: string): string {
  let out = `[${sdId}`;
  for (const [key, name] of FIELDS) {
    const v = e[key];
    if (v === null || v === '') continue;
    out += ` ${name}="${oneLine(String(v).replace(/["\\\]]/g, '\\$&'))}"`;
  }
  return `${out}]`;
}

/** MSG beside structured data: who and how it ended (the statement is in the SD element). */
function summary(e: AuditEvent): string {
  return oneLine(`${e.name} ${e.user ?? ''}@${e.ip} status ${e.status}`);
}

/** HOSTNAME and other header fields: PRINTUSASCII without spaces, or the nil value `-`. */
export function headerField(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '-').slice(0, max);
  return clean === '' ? '-' : clean;
}

export interface SyslogFormatOptions {
  facility: Facility;
  format: 'kv' | 'sd';
  sdId: string;
  hostname: string;
  maxMessageBytes: number;
  /** Leave the header to a relay that writes its own (the unix-socket transport): `<PRI>MSG` only. */
  bodyOnly: boolean;
}

export function syslogFormat(o: SyslogFormatOptions): Format {
  const facility = FACILITIES[o.facility] * 8;
  const hostname = headerField(o.hostname, 255);
  const render = (e: AuditEvent): string => {
    const pri = `<${facility + severity(e)}>`;
    if (o.bodyOnly) return `${pri}${keyValues(e)}`;
    const msgid = headerField(e.name.replace(/ /g, ''), 32);
    const head = `${pri}1 ${e.timestamp} ${hostname} moat ${process.pid} ${msgid}`;
    return o.format === 'sd'
      ? `${head} ${structuredData(e, o.sdId)} ${summary(e)}`
      : `${head} - ${keyValues(e)}`;
  };
  return {
    header: '',
    footer: '',
    accepts: () => true,
    render: (e) => fit(e, render, o.maxMessageBytes),
  };
}

/**
 * A record within the size a receiver accepts: the statement, then the message, is shortened
 * (marked with `…`) rather than the record cut, so a structured-data element stays well formed.
 */
function fit(e: AuditEvent, render: (e: AuditEvent) => string, max: number): string {
  let out = render(e);
  let event = e;
  for (const field of ['statement', 'message'] as const) {
    const excess = Buffer.byteLength(out) - max;
    const value = event[field];
    if (excess <= 0) return out;
    if (value === null) continue;
    // Cutting by UTF-16 units may leave more bytes than needed; the loop below finishes the job.
    event = { ...event, [field]: `${value.slice(0, Math.max(0, value.length - excess - 3))}…` };
    out = render(event);
  }
  while (Buffer.byteLength(out) > max)
    out = out.slice(0, out.length - Math.max(1, Buffer.byteLength(out) - max));
  return out;
}
