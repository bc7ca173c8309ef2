// The admin side's own guard: the admin port and the HTTP API pass a second Guard instance (its
// own ledger, blocks and connection-control entries, shown as moat.admin_* tables), configured by
// `admin.guard` with MySQL's variable names. A second instance rather than a realm inside the
// gateway's guard: the gateway's guard is shared by a fleet and persisted, its counts feed
// host_cache as MySQL defines it, and an admin guesser must be told apart from a database one.
//
// Where it differs from the database port on purpose: a failed admin login counts towards
// max_connect_errors (MySQL counts only handshake errors; the admin accounts can BLOCK, KILL and
// reconfigure, so a password guesser here is blocked, not only slowed down).

import type { Logger } from 'pino';
import { type AuditEvent, emptyEvent } from '../audit/event.ts';
import { fromGuard } from '../audit/from-events.ts';
import type { Config, GuardConfig } from '../config/schema.ts';
import { type Admission, Guard, type Refusal } from '../guard/guard.ts';
import type { ClientTls } from '../guard/rules.ts';
import { classify, type LoginOutcome } from '../model/failure.ts';
import { formatServerError } from '../protocol/error-codes.ts';

export type AdminChannel = 'admin' | 'http';

/** One login attempt on the admin port, or one request with a token on the HTTP API. */
export interface AdminAttempt {
  channel: AdminChannel;
  admission: Admission;
  port: number;
  connectionId: number;
  user: string | null;
  tls: { version: string | null; cipher: string | null };
  /** HTTP: the method and path, for the audit record. */
  request: string | null;
  /** Set once the attempt's outcome was reported (exactly once per admitted attempt). */
  done: boolean;
}

const NO_TLS: ClientTls = { secure: false, cipher: null, verified: false, subject: null, issuer: null };
const MAX_TRACKED = 100_000;

export class AdminGuard {
  readonly guard: Guard;
  /** Connect records (and Blocked / Unblocked / Delayed) for the audit log, tagged `admin:` / `http:`. */
  onAudit: (e: AuditEvent) => void = () => {};
  private readonly config: Config['admin']['guard'];
  private readonly database: Guard | null;
  private readonly log: Logger;
  private readonly instance: string;
  /** Address → failed attempts in a row (a success clears it). Bounded, oldest dropped first. */
  private readonly inARow = new Map<string, number>();

  /**
   * `base`: the gateway's guard settings, for the caps on unauthenticated connections; `database`:
   * the gateway's guard, blocked too when admin.guard.blockDatabasePort is on.
   */
  constructor(
    config: Config['admin']['guard'],
    base: GuardConfig,
    opts: { log: Logger; instance: string; database: Guard | null },
  ) {
    this.config = config;
    this.database = opts.database;
    this.log = opts.log;
    this.instance = opts.instance;
    this.guard = new Guard(
      {
        ...base,
        // This class blocks (failed logins count); the Guard's own handshake-only rule stays off.
        max_connect_errors: 0,
        blocking: { autoBlockDurationMs: config.blockDurationMs, exempt: config.exempt },
        connection_control_failed_connections_threshold:
          config.connection_control_failed_connections_threshold,
        connection_control_min_connection_delay: config.connection_control_min_connection_delay,
        connection_control_max_connection_delay: config.connection_control_max_connection_delay,
        // Address rules are admin.allowFrom's; per-user rules and caps do not apply to operators.
        access: { default: 'allow', rules: [] },
        users: [],
        tcpWrappers: undefined,
        resolve: { ...base.resolve, enabled: false },
        max_connections: 0,
        max_user_connections: 0,
      },
      opts.log,
    );
    this.guard.onAction = (a) => {
      const e = fromGuard(a, this.instance);
      e.message = `admin port: ${e.message ?? ''}`;
      this.onAudit(e);
    };
  }

  /** At accept (or at the start of an HTTP request): a blocked address is refused with 1129. */
  admit(
    channel: AdminChannel,
    ip: string,
    port: number,
    connectionId: number,
  ): { attempt: AdminAttempt; refusal: Refusal | null } {
    const local = ip === 'localhost';
    const admission: Admission = { ip, local, listener: channel };
    const attempt: AdminAttempt = {
      channel,
      admission,
      port,
      connectionId,
      user: null,
      tls: { version: null, cipher: null },
      request: null,
      done: false,
    };
    const refusal = this.guard.admit(admission);
    if (refusal !== null) {
      attempt.done = true;
      this.record(attempt, refusal.outcome, refusal.error.code, refusal.error.message);
    }
    return { attempt, refusal };
  }

  /**
   * The user is known: how long to wait before the password (or token) is checked. The wait is a
   * timer in the caller, so a delayed guesser holds a socket, never a thread.
   */
  delayFor(attempt: AdminAttempt, user: string): number {
    attempt.user = user;
    return this.guard.identify(user, attempt.admission, NO_TLS).delayMs;
  }

  /** The wait is over. */
  resume(attempt: AdminAttempt): void {
    this.guard.unpark(attempt.admission);
  }

  /**
   * How the attempt ended. `message` is the error the client got (null for a success). Counts the
   * ledger and connection control, blocks after max_connect_errors failures in a row, audits.
   */
  finished(attempt: AdminAttempt, outcome: LoginOutcome, code: number, message: string | null): void {
    if (attempt.done) return;
    attempt.done = true;
    const ip = attempt.admission.ip;
    this.guard.finished(attempt.admission, attempt.user, outcome, code);
    this.record(attempt, outcome, outcome === 'ok' ? 0 : code, message);
    if (outcome === 'ok') {
      this.inARow.delete(ip);
      return;
    }
    // Refusals by address are not guesses: the address rule answers them all alike.
    if (outcome === 'shutdown' || outcome === 'too-many-connections' || outcome === 'acl-denied') return;
    const n = (this.inARow.get(ip) ?? 0) + 1;
    this.inARow.delete(ip);
    if (this.inARow.size >= MAX_TRACKED) {
      const oldest = this.inARow.keys().next().value;
      if (oldest !== undefined) this.inARow.delete(oldest);
    }
    this.inARow.set(ip, n);
    const max = this.config.max_connect_errors;
    if (max > 0 && n >= max) this.block(ip, n);
  }

  /**
   * Refused by admin.allowFrom before anything else: in the ledger as a host-ACL error and a
   * Connect record with MySQL's 1130, as the gateway's address rules are (no delay, no block).
   */
  outsideAllowFrom(channel: AdminAttempt['channel'], ip: string, port: number, connectionId: number): void {
    const { attempt, refusal } = this.admit(channel, ip, port, connectionId);
    if (refusal !== null) return;
    const error = formatServerError('ER_HOST_NOT_PRIVILEGED', ip);
    this.finished(attempt, 'acl-denied', error.code, error.message);
  }

  /** A logged-in admin session ended (an HTTP request ends as soon as it is answered). */
  ended(attempt: AdminAttempt): void {
    this.guard.sessionEnded(attempt.admission, attempt.user, false);
  }

  /** UNBLOCK ADMIN HOST: lifts the block and forgets the failures in a row. */
  unblock(ip: string): boolean {
    this.inARow.delete(ip);
    return this.guard.unblock(ip) !== null;
  }

  private block(ip: string, failures: number): void {
    const now = Date.now();
    const blocker = this.guard.blocker;
    if (blocker.isExempt(ip) || blocker.blocked(ip, now) !== null) return;
    blocker.block(ip, 'max_connect_errors', 'moat:admin', this.config.blockDurationMs, now);
    this.inARow.delete(ip);
    this.log.warn({ ip, failures }, 'admin side: address blocked after failed logins');
    if (this.config.blockDatabasePort && this.database !== null && !this.database.blocker.isExempt(ip)) {
      this.database.block(ip, 'moat:admin-guard', this.config.blockDurationMs);
    }
  }

  /**
   * The Connect record, as the gateway writes one (status = MySQL's code), with the outcome tagged
   * `admin:` or `http:` so admin traffic is told apart; the auth sink renders the 1045s for
   * fail2ban whatever the tag.
   */
  private record(attempt: AdminAttempt, outcome: LoginOutcome, status: number, message: string | null): void {
    const e = emptyEvent('Connect', this.instance);
    e.connectionId = attempt.connectionId;
    e.status = status;
    e.outcome = `${attempt.channel}:${outcome}`;
    e.failureClass = classify(outcome, status);
    e.user = attempt.user;
    e.ip = attempt.admission.local ? '' : attempt.admission.ip;
    e.host = attempt.admission.ip;
    e.port = attempt.port;
    e.tlsVersion = attempt.tls.version;
    e.tlsCipher = attempt.tls.cipher;
    e.message = message;
    if (attempt.request !== null) {
      e.command = 'HTTP';
      e.statement = attempt.request;
    }
    this.onAudit(e);
  }
}
