// Turns what the gateway, the guard and the admin port report into audit events: one function per
// source, so that every sink sees the same record however it was produced.

import type { Finding } from '../detect/detector.ts';
import type { CommandEvent, LoginRecord } from '../model/events.ts';
import { classify } from '../model/failure.ts';
import type { GuardAction } from '../model/guard.ts';
import { redactStatement } from '../sql/redact.ts';
import { type AuditEvent, emptyEvent } from './event.ts';

/** Connect (or Change user), success and every failure, with MySQL's code as STATUS. */
export function fromLogin(r: LoginRecord, instance: string, hostName: string | null): AuditEvent {
  const e = emptyEvent(r.kind === 'change-user' ? 'Change user' : 'Connect', instance);
  e.connectionId = r.session;
  e.status = r.outcome === 'ok' ? 0 : r.errorCode;
  e.outcome = r.outcome;
  e.failureClass = classify(r.outcome, r.errorCode);
  e.user = r.user;
  e.ip = r.clientAddress;
  e.host = hostName ?? r.clientAddress;
  e.port = r.clientPort;
  e.db = r.database ?? null;
  e.tlsVersion = r.tlsVersion ?? null;
  e.tlsCipher = r.tlsCipher ?? null;
  e.program = r.program ?? null;
  e.message = r.outcome === 'ok' ? null : r.message;
  return e;
}

/** Query (any command with a statement or an error), or Quit for COM_QUIT. */
export function fromCommand(c: CommandEvent, instance: string): AuditEvent {
  const e = emptyEvent(c.command === 'Quit' ? 'Quit' : 'Query', instance);
  e.timestamp = new Date(c.startedAt).toISOString();
  e.connectionId = c.session;
  e.status = c.errorCode;
  e.user = c.user;
  e.ip = c.clientAddress;
  e.host = c.clientAddress;
  e.port = c.clientPort;
  e.db = c.database;
  e.command = c.command;
  e.statement = redactStatement(c.statement);
  e.statementTruncated = c.statementTruncated;
  if (c.statementTruncated && c.statementBytes !== undefined) e.statementLength = c.statementBytes;
  e.digest = c.digest?.hash ?? null;
  e.sqlState = c.sqlState;
  e.message = c.errorMessage;
  e.rows = c.rows;
  e.affectedRows = c.affectedRows;
  e.durationMs = Math.round(c.durationMs * 1000) / 1000;
  return e;
}

/** A session that ended without COM_QUIT (killed, dropped, shut down): still a Quit record. */
export function quitWithout(
  s: { id: number; user: string | null; ip: string; port: number; db: string | null },
  reason: string,
  instance: string,
): AuditEvent {
  const e = emptyEvent('Quit', instance);
  e.connectionId = s.id;
  e.user = s.user;
  e.ip = s.ip;
  e.host = s.ip;
  e.port = s.port;
  e.db = s.db;
  e.status = 1053;
  e.message = reason;
  return e;
}

/** Blocked / Unblocked / Delayed, as the guard did them. */
export function fromGuard(a: GuardAction, instance: string): AuditEvent {
  if (a.kind === 'delayed') {
    const e = emptyEvent('Delayed', instance);
    e.user = a.user;
    e.ip = a.ip;
    e.host = a.ip;
    e.durationMs = a.delayMs;
    e.message = `${a.failures} consecutive failed logins: delayed ${a.delayMs} ms`;
    return e;
  }
  if (a.kind === 'spraying') {
    const e = emptyEvent('Alert', instance);
    e.ip = a.ip;
    e.host = a.ip;
    e.outcome = 'password-spraying';
    e.message = `password spraying from ${a.ip}: ${a.users} users failed (${a.failures} failed logins in a row)`;
    return e;
  }
  const b = a.block;
  const e = emptyEvent(a.kind === 'blocked' ? 'Blocked' : 'Unblocked', instance);
  e.ip = b.ip;
  e.host = b.ip;
  e.user = b.by;
  e.outcome = b.reason;
  e.message =
    a.kind === 'blocked'
      ? `${b.reason}${b.until === null ? ' until unblocked' : ` until ${new Date(b.until).toISOString()}`}`
      : `${b.reason} block lifted (${a.why})`;
  return e;
}

/** A statement run on the admin port (who, from where, what, and how it ended). */
export function fromAdmin(
  who: { user: string; ip: string; connectionId: number },
  statement: string,
  status: number,
  instance: string,
): AuditEvent {
  const e = emptyEvent('Admin', instance);
  e.connectionId = who.connectionId;
  e.user = who.user;
  e.ip = who.ip;
  e.host = who.ip;
  e.command = 'Query';
  e.statement = redactStatement(statement);
  e.status = status;
  return e;
}

/** A detection finding (detect/): rule, severity and score in outcome and message. */
export function fromFinding(f: Finding, instance: string): AuditEvent {
  const e = emptyEvent('Alert', instance);
  e.connectionId = f.session;
  e.user = f.user;
  e.ip = f.address;
  e.host = f.address;
  e.outcome = `${f.rule}/${f.severity}`;
  e.statement = redactStatement(f.evidence);
  e.message = `${f.reason} (score ${f.score}, ${f.scope}; actions: ${f.actions.join(', ')})`;
  return e;
}
