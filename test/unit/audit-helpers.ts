// Shared by the audit tests: events, configurations through the real schema, a logger whose
// lines the test can read, temporary directories, and the external readers (xmllint, python's
// XML parser, fail2ban-regex) that judge what the sinks wrote.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { type AuditConfigInput, auditConfigSchema } from '../../src/audit/audit-log.ts';
import { type AuditEvent, type AuditEventName, emptyEvent } from '../../src/audit/event.ts';

export function event(name: AuditEventName = 'Query', over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    ...emptyEvent(name, 'test-moat'),
    timestamp: '2026-11-23T12:00:00.250Z',
    connectionId: 5,
    user: 'app',
    host: '192.0.2.7',
    ip: '192.0.2.7',
    port: 51234,
    db: 'shop',
    ...(name === 'Query' ? { command: 'Query', statement: 'SELECT 1' } : {}),
    ...over,
  };
}

export function config(input: AuditConfigInput) {
  return auditConfigSchema.parse({ flushIntervalMs: 60_000, instance: 'test-moat', ...input });
}

export interface LogLine {
  level: number;
  msg: string;
  sink?: string;
  dropped?: number;
  err?: string;
}

/** A pino logger writing into an array (synchronously: pino calls write() per line). */
export function capturingLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'moat-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** xmllint (libxml2) says whether the file is well-formed XML; throws with its message if not. */
export function xmllint(file: string): void {
  execFileSync('xmllint', ['--noout', file], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Every AUDIT_RECORD's child elements, read by Python's XML parser (expat). */
export function parseXml(file: string): Array<Record<string, string>> {
  const script =
    'import sys, json, xml.etree.ElementTree as ET\n' +
    'root = ET.parse(sys.argv[1]).getroot()\n' +
    'assert root.tag == "AUDIT", root.tag\n' +
    'print(json.dumps([{c.tag: (c.text or "") for c in r} for r in root]))\n';
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' }));
}
