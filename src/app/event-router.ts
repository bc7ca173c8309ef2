// Where the gateway's events go: every command and login event to metrics, digests, the SQL
// firewall's learning, the detector, the audit log, the SQL-error ring and the debug log; every
// finding to its actions. One place, so what watches the stream (and in which order) is read here.
//
// Called after the reply reached the client (the follower emits once the response is relayed), so
// nothing here adds latency to a response. The hot path is command(): no allocation beyond the
// records the sinks keep.
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../admin/metrics.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditEvent } from '../audit/event.ts';
import { fromCommand, fromFinding, fromLogin, quitWithout } from '../audit/from-events.ts';
import type { Config } from '../config/schema.ts';
import type { Detector, Finding } from '../detect/detector.ts';
import type { Session } from '../gateway/session.ts';
import type { Guard } from '../guard/guard.ts';
import type { CommandEvent, LoginRecord } from '../model/events.ts';
import type { DigestSummary } from '../sql/digest-table.ts';
import { redactStatement } from '../sql/redact.ts';
import type { SqlFirewall } from '../sqlfw/engine.ts';
import { SqlErrorRing } from './sql-errors.ts';

/** What a test or an embedding program may also receive (after moat's own consumers). */
export interface EventTaps {
  onCommand?: (e: CommandEvent) => void;
  onLogin?: (r: LoginRecord) => void;
}

export class EventRouter {
  /** Replaced by a reload that changes `detect`; null when detect.enabled is false. */
  detector: Detector | null;
  /** Set once the audit log is open; null when audit.enabled is false. */
  audit: AuditLog | null = null;
  /** Set once the SQL firewall is open. */
  sqlFirewall: SqlFirewall | null = null;
  /** log.level is debug: one line per command (a field so that a reload can change it). */
  debugCommands: boolean;
  /** Ends a session by id (a detection rule's kill action). */
  kill: (id: number, reason: string) => void = () => {};
  readonly sqlErrors = new SqlErrorRing();
  private readonly config: Config;
  private readonly log: Logger;
  private readonly guard: Guard;
  private readonly metrics: GatewayMetrics;
  private readonly digests: DigestSummary;
  private readonly taps: EventTaps;

  constructor(
    deps: { config: Config; log: Logger; guard: Guard; metrics: GatewayMetrics; digests: DigestSummary },
    detector: Detector | null,
    taps: EventTaps,
  ) {
    this.config = deps.config;
    this.log = deps.log;
    this.guard = deps.guard;
    this.metrics = deps.metrics;
    this.digests = deps.digests;
    this.detector = detector;
    this.taps = taps;
    this.debugCommands = deps.log.isLevelEnabled('debug');
  }

  readonly command = (e: CommandEvent): void => {
    this.metrics.command(e);
    // The event carries its digest (computed once by the follower, memoized by text).
    this.digests.record(e);
    this.sqlFirewall?.observe(e);
    if (this.detector !== null) {
      const findings = this.detector.observe(e);
      for (let i = 0; i < findings.length; i++) this.finding(findings[i]!);
    }
    // Commands without a statement and without an answer (Ping aside) are not audit records.
    const audit = this.audit;
    if (audit !== null && (e.statement !== null || e.errorCode !== 0 || e.command === 'Quit')) {
      // Built only when a sink's filter can take it (a sink filtered to logins takes no Query).
      if (audit.wants(e.command === 'Quit' ? 'Quit' : 'Query'))
        audit.record(fromCommand(e, this.config.audit.instance));
    }
    if (e.status === 'ERR') this.sqlErrors.note(e);
    if (this.debugCommands)
      this.log.debug({ event: { ...e, statement: redactStatement(e.statement) } }, 'command');
    this.taps.onCommand?.(e);
  };

  readonly login = (r: LoginRecord): void => {
    this.metrics.login(r);
    if (this.audit !== null) {
      const host = this.guard.ledger.get(r.clientAddress)?.host ?? null;
      this.audit.record(fromLogin(r, this.config.audit.instance, host));
    }
    if (r.outcome === 'ok') this.log.debug({ login: r }, 'login');
    else this.log.info({ login: r }, 'login failed');
    this.taps.onLogin?.(r);
  };

  /** A session is over: its Quit record if the client never said goodbye; per-session state goes. */
  sessionEnded(s: Session): void {
    if (s.everLoggedIn && !s.quitReceived && this.audit !== null) {
      this.audit.record(
        quitWithout(
          { id: s.id, user: s.user, ip: s.origin.address, port: s.origin.port, db: s.identity.database },
          'session ended without COM_QUIT',
          this.config.audit.instance,
        ),
      );
    }
    this.detector?.sessionEnded(s.id);
    this.sqlFirewall?.sessionEnded(s.id);
    const b = s.relayBytes();
    this.metrics.relayed.fromClient += b.fromClient;
    this.metrics.relayed.fromBackend += b.fromBackend;
  }

  /** Any audit record of moat's own (guard actions, admin statements, firewall alerts). */
  readonly record = (e: AuditEvent): void => {
    this.audit?.record(e);
  };

  /** Acts on a finding: an Alert record and log line always; kill and block when the rule says. */
  private finding(f: Finding): void {
    this.log.warn(
      {
        rule: f.rule,
        severity: f.severity,
        scope: f.scope,
        session: f.session,
        user: f.user,
        ip: f.address,
        score: f.score,
        reason: f.reason,
        actions: f.actions,
      },
      'detection',
    );
    this.metrics.finding(f.rule, f.severity);
    this.record(fromFinding(f, this.config.audit.instance));
    if (f.actions.includes('kill')) this.kill(f.session, `killed by detection rule ${f.rule}`);
    if (f.actions.includes('block')) {
      const ms = f.blockSeconds === undefined ? null : f.blockSeconds * 1000;
      if (this.guard.blockForDetection(f.address, f.rule, ms) === null) {
        this.log.warn(
          { ip: f.address, rule: f.rule },
          'detection would block an exempt address; not blocked',
        );
      }
    }
  }
}
