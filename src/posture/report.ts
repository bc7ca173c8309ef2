// Findings for people and tools: an aligned table with the fixes under it, JSON, the SQL fixes as
// one script in an order that applies cleanly, and the rows of the admin port's
// moat.posture_findings table.
import { formatTable } from '../text/table.ts';
import { type Finding, SEVERITIES, type Severity, sortFindings } from './finding.ts';

export function summary(findings: readonly Finding[]): Record<Severity, number> {
  const out = { fail: 0, warn: 0, pass: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}

/** The table, a count line, then what to do about each failure and warning. */
export function formatReport(findings: readonly Finding[], o: { passes?: boolean } = {}): string {
  const list = sortFindings(findings);
  const shown = o.passes === false ? list.filter((f) => f.severity !== 'pass') : list;
  const counts = summary(list);
  let text = formatTable(
    ['STATUS', 'CHECK', 'SUBJECT', 'SEEN'],
    shown.map((f) => [f.severity, f.id, f.subject, f.seen]),
  );
  text += `\n${SEVERITIES.map((s) => `${counts[s]} ${s}`).join(', ')}\n`;
  const todo = list.filter((f) => f.severity !== 'pass');
  if (todo.length === 0) return text;
  text += '\nWhat to do (values in <angle brackets> are yours to choose):\n';
  // Findings that share an id and a reason are one block: the reason once, a fix per subject.
  const groups = new Map<string, Finding[]>();
  for (const f of todo) {
    const key = `${f.severity}\0${f.id}\0${f.why}\0${f.fixKind}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  for (const group of groups.values()) {
    const f = group[0]!;
    const label = `fix (${FIX_LABEL[f.fixKind]}):`;
    text += `\n${f.severity}  ${f.id}${group.length === 1 ? `  ${f.subject}` : ` (${group.length})`}\n`;
    text += `  why: ${f.why}\n`;
    if (group.length === 1) {
      text += indent(f.fix, `  ${label} `);
      continue;
    }
    text += `  ${label}\n`;
    const width = Math.max(...group.map((g) => g.subject.length));
    for (const g of group) text += indent(g.fix, `    ${g.subject.padEnd(width)}  `);
  }
  return text;
}

/** The first line after `lead`, the others under it. */
function indent(fix: string, lead: string): string {
  const pad = ' '.repeat(lead.length);
  return `${fix
    .split('\n')
    .map((line, i) => `${i === 0 ? lead : pad}${line}`)
    .join('\n')}\n`;
}

const FIX_LABEL: Record<Finding['fixKind'], string> = {
  sql: 'SQL',
  option: 'server option file, [mariadbd] or [mysqld]',
  firewall: 'firewall',
  config: "moat's config",
  none: 'none',
};

export function reportJson(findings: readonly Finding[]): string {
  const list = sortFindings(findings);
  return `${JSON.stringify({ summary: summary(list), findings: list }, null, 2)}\n`;
}

/** Statements separated by `;` outside quoted strings. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote !== null) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === ';') {
      out.push(sql.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(sql.slice(start).trim());
  return out.filter((s) => s !== '').map((s) => `${s};`);
}

// Password and plugin changes name accounts by their current host, so they run before the
// RENAME / DROP that move or remove those accounts; INSTALL SONAME before anything using it.
const ORDER: Array<[RegExp, number]> = [
  [/^INSTALL\b/i, 0],
  [/^ALTER\b/i, 1],
  [/^(RENAME|DROP)\b/i, 2],
];
const rank = (s: string): number => ORDER.find(([re]) => re.test(s))?.[1] ?? 1;

/** Every SQL fix of the failures and warnings, each statement once, in an order that applies. */
export function fixScript(findings: readonly Finding[]): string[] {
  const statements: string[] = [];
  for (const f of sortFindings(findings)) {
    if (f.severity === 'pass' || f.fixKind !== 'sql') continue;
    for (const s of splitStatements(f.fix)) if (!statements.includes(s)) statements.push(s);
  }
  return statements
    .map((s, i) => ({ s, i }))
    .sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i)
    .map((x) => x.s);
}

/** Columns of the admin port's moat.posture_findings (all TEXT). */
export const POSTURE_COLUMNS = [
  'ID',
  'AREA',
  'SEVERITY',
  'SUBJECT',
  'SEEN',
  'WHY',
  'FIX',
  'FIX_KIND',
] as const;

export function findingCells(f: Finding): string[] {
  return [f.id, f.area, f.severity, f.subject, f.seen, f.why, f.fix, f.fixKind];
}
