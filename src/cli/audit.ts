// `moat audit grep [paths…] [filters] [--format …]`: mysqlauditgrep for moat's audit files.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Found,
  type GrepFilter,
  matches,
  parsePattern,
  parseStatus,
  readAuditFile,
} from '../audit/grep.ts';
import { jsonLine } from '../audit/sinks/json.ts';
import { formatTable } from '../text/table.ts';
import { OpsError } from './ops.ts';
import { safe } from './terminal.ts';

export const AUDIT_HELP = `Usage: moat audit grep <file or directory>… [options]

Searches audit files (JSON lines and Enterprise Audit XML, rotated and .gz included).
  --event-type LIST   Connect, Quit, Query, Change user, Blocked, Unblocked, Delayed, Admin
  --status LIST       codes and ranges: 1-9999 (every failure), 1045,1130
  --users LIST        user names
  --hosts LIST        host names or addresses
  --start-date DATE   ISO date or date-time (UTC); --end-date DATE likewise
  --pattern P         SQL LIKE pattern on the statement (% and _), or a regex with --regex
  --query-type LIST   select, insert, update, delete, create, drop, grant, …
  --format F          grid (default), vertical, csv, tab, json, raw
`;

const COLUMNS = ['timestamp', 'name', 'connectionId', 'status', 'user', 'host', 'db', 'statement'] as const;

export async function audit(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'grep') {
    process.stdout.write(AUDIT_HELP);
    return sub === undefined || sub === '--help' || sub === '-h' ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      'event-type': { type: 'string' },
      status: { type: 'string' },
      users: { type: 'string' },
      hosts: { type: 'string' },
      'start-date': { type: 'string' },
      'end-date': { type: 'string' },
      pattern: { type: 'string' },
      regex: { type: 'boolean', default: false },
      'query-type': { type: 'string' },
      format: { type: 'string', default: 'grid' },
    },
  });
  const list = (v: string | undefined) =>
    v
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const date = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`);
    if (Number.isNaN(ms)) throw new OpsError(`${flag}: '${v}' is not a date`);
    return ms;
  };
  let filter: GrepFilter;
  try {
    filter = {
      eventTypes: list(values['event-type']),
      status: values.status === undefined ? undefined : parseStatus(values.status),
      users: list(values.users),
      hosts: list(values.hosts),
      start: date(values['start-date'], '--start-date'),
      end: date(values['end-date'], '--end-date'),
      pattern: values.pattern === undefined ? undefined : parsePattern(values.pattern, values.regex),
      queryTypes: list(values['query-type'])?.map((t) => t.toLowerCase()),
    };
  } catch (e) {
    throw new OpsError((e as Error).message);
  }
  if (positionals.length === 0) throw new OpsError('moat audit grep: which files? (paths or directories)');
  const files = positionals.flatMap(expand);
  const found: Found[] = [];
  // A bad line is named on stderr (its path and line number, escaped: both may be odd) and skipped.
  const bad = (path: string, line: number, why: string) =>
    process.stderr.write(`moat audit grep: ${safe(path)}:${line}: skipped, not a record: ${safe(why)}\n`);
  for (const f of files) for await (const e of readAuditFile(f, bad)) if (matches(e, filter)) found.push(e);
  found.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
  process.stdout.write(render(found, values.format ?? 'grid'));
  return 0;
}

/** A directory stands for every audit file in it, rotated ones included, oldest name first. */
function expand(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.(log|jsonl|json|xml)(\.|$)/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Every field of a record came from a file that clients' bytes went into: the human formats print
 * them escaped (terminal.ts), the JSON ones escape what JSON.stringify leaves raw (C1, U+2028).
 */
function render(rows: Found[], format: string): string {
  const cells = (e: Found) => COLUMNS.map((c) => safe(e[c] ?? null));
  switch (format) {
    case 'json':
      return `${jsonLine(rows, 2)}\n`;
    case 'raw':
      return rows.map((e) => `${jsonLine(e)}\n`).join('');
    case 'csv':
      return [COLUMNS.join(','), ...rows.map((e) => cells(e).map(csv).join(','))].join('\n') + '\n';
    case 'tab':
      return (
        [
          COLUMNS.join('\t'),
          ...rows.map((e) =>
            cells(e)
              .map((v) => (v === null ? '' : String(v)))
              .join('\t'),
          ),
        ].join('\n') + '\n'
      );
    case 'vertical': {
      const w = Math.max(...COLUMNS.map((c) => c.length));
      return rows
        .map(
          (e, i) =>
            `*************************** ${i + 1}. row ***************************\n${COLUMNS.map((c) => `${c.padStart(w)}: ${safe(e[c] ?? 'NULL')}`).join('\n')}\n`,
        )
        .join('');
    }
    case 'grid':
      return formatTable(
        COLUMNS.map((c) => c.toUpperCase()),
        rows.map(cells),
      );
    default:
      throw new OpsError(`--format ${format}: grid, vertical, csv, tab, json or raw`);
  }
}

function csv(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
