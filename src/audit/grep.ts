// `moat audit grep`: search audit files like mysqlauditgrep — JSON lines and Enterprise Audit XML
// (both the old attribute form and the new element form), rotated and gzipped files included —
// by event type, status codes and ranges, users, hosts, dates, a LIKE or regex pattern on the
// statement, and the statement's query type.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { likeRegExp } from '../sql/like.ts';
import type { AuditEvent } from './event.ts';

export interface GrepFilter {
  eventTypes?: string[];
  /** Codes and ranges: `1-9999`, `1045,1130`. */
  status?: Array<[number, number]>;
  users?: string[];
  hosts?: string[];
  start?: number;
  end?: number;
  pattern?: RegExp;
  queryTypes?: string[];
}

export type Found = Partial<AuditEvent> & { name: string; timestamp: string };

/** `1-9999,1045` → ranges; a bad part is an error naming it. */
export function parseStatus(text: string): Array<[number, number]> {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) throw new Error(`--status: '${part}' is not a code or a range like 1-9999`);
    return [Number(m[1]), Number(m[2] ?? m[1])];
  });
}

/** SQL LIKE (% and _; a backslash is itself) or, with `regex`, a regular expression. */
export function parsePattern(text: string, regex: boolean): RegExp {
  return regex ? new RegExp(text, 'is') : likeRegExp(text, { ignoreCase: true, escapes: false });
}

/** The statement's class by its first keyword, as --query-type names it. */
export function queryType(statement: string | null | undefined): string | null {
  if (statement === null || statement === undefined) return null;
  const m = /^\s*(?:\/\*[\s\S]*?\*\/\s*|--[^\n]*\n\s*|#[^\n]*\n\s*)*(\w+)/.exec(statement);
  return m === null ? null : m[1]!.toLowerCase();
}

export function matches(e: Found, f: GrepFilter): boolean {
  if (f.eventTypes !== undefined && !f.eventTypes.some((t) => t.toLowerCase() === e.name.toLowerCase()))
    return false;
  if (f.status !== undefined) {
    const s = e.status ?? 0;
    if (!f.status.some(([lo, hi]) => s >= lo && s <= hi)) return false;
  }
  if (f.users !== undefined && !f.users.includes(e.user ?? '')) return false;
  if (f.hosts !== undefined && !f.hosts.includes(e.host ?? '') && !f.hosts.includes(e.ip ?? '')) return false;
  const t = Date.parse(e.timestamp);
  if (f.start !== undefined && !(t >= f.start)) return false;
  if (f.end !== undefined && !(t <= f.end)) return false;
  if (f.pattern !== undefined && !f.pattern.test(e.statement ?? '')) return false;
  if (f.queryTypes !== undefined && !f.queryTypes.includes(queryType(e.statement) ?? '')) return false;
  return true;
}

/** A line that is not a record, for the caller to report (file, 1-based line number, why). */
export type BadLine = (path: string, line: number, why: string) => void;

/**
 * The lines of a file, split at LF only. Not readline: it also ends lines at U+2028 and U+2029,
 * which a JSON string may hold raw (JSON.stringify leaves them), cutting one record in two.
 */
async function* linesOf(input: NodeJS.ReadableStream): AsyncGenerator<string> {
  input.setEncoding('utf8');
  let rest = '';
  for await (const chunk of input as AsyncIterable<string>) {
    let from = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', from)) {
      const line = rest + chunk.slice(from, nl);
      rest = '';
      from = nl + 1;
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
    }
    rest += chunk.slice(from);
  }
  if (rest !== '') yield rest;
}

/**
 * Every record of one file (gzipped when it ends in .gz), in file order. A line that does not
 * parse (a record cut by a crash, a line some other program wrote) goes to `bad` and is skipped:
 * one bad line never ends the search.
 */
export async function* readAuditFile(path: string, bad: BadLine = () => {}): AsyncGenerator<Found> {
  const raw = createReadStream(path);
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let xml = '';
  let inXml = false;
  let n = 0;
  let xmlStart = 0;
  for await (const line of linesOf(input)) {
    n++;
    const trimmed = line.trim();
    if (!inXml && trimmed.startsWith('{')) {
      let record: unknown;
      try {
        record = JSON.parse(trimmed);
      } catch (e) {
        bad(path, n, (e as Error).message);
        continue;
      }
      if (isRecord(record)) yield record;
      else bad(path, n, 'not an audit record (no name or timestamp)');
      continue;
    }
    if (trimmed.startsWith('<AUDIT_RECORD')) {
      inXml = true;
      xmlStart = n;
    }
    if (!inXml) continue;
    xml += `${line}\n`;
    if (trimmed.endsWith('/>') || trimmed.endsWith('</AUDIT_RECORD>')) {
      yield fromXml(xml);
      xml = '';
      inXml = false;
    }
  }
  if (inXml) bad(path, xmlStart, 'an AUDIT_RECORD that never ends');
}

function isRecord(v: unknown): v is Found {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.name === 'string' && typeof r.timestamp === 'string';
}

const XML_FIELDS: Record<string, keyof Found> = {
  NAME: 'name',
  CONNECTION_ID: 'connectionId',
  STATUS: 'status',
  USER: 'user',
  HOST: 'host',
  IP: 'ip',
  DB: 'db',
  SQLTEXT: 'statement',
  SQLTEXT_LENGTH: 'statementLength',
  DIGEST: 'digest',
  COMMAND_CLASS: 'command',
};

/** One AUDIT_RECORD, attributes (old style) or child elements (new style). */
function fromXml(xml: string): Found {
  const fields = new Map<string, string>();
  for (const m of xml.matchAll(/\s([A-Z_]+)="([^"]*)"/g)) fields.set(m[1]!, unescapeXml(m[2]!));
  const inner = xml.replace(/^\s*<AUDIT_RECORD\b[^>]*>/, '').replace(/<\/AUDIT_RECORD>\s*$/, '');
  for (const m of inner.matchAll(/<([A-Z_]+)>([\s\S]*?)<\/\1>/g)) fields.set(m[1]!, unescapeXml(m[2]!));
  const out: Record<string, unknown> = {
    name: fields.get('NAME') ?? '',
    timestamp: xmlTime(fields.get('TIMESTAMP')),
  };
  for (const [k, v] of fields) {
    const key = XML_FIELDS[k];
    if (key === undefined || key === 'name') continue;
    out[key] = key === 'connectionId' || key === 'status' || key === 'statementLength' ? Number(v) : v;
  }
  return out as Found;
}

/** `2026-11-23T12:00:00 UTC` (Enterprise Audit) → ISO. */
function xmlTime(t: string | undefined): string {
  if (t === undefined) return '';
  const iso = t.replace(/ UTC$/, 'Z');
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? t : new Date(ms).toISOString();
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(Number.parseInt(n, 16)))
    .replace(/&amp;/g, '&');
}
