// The gateway: listeners, the live sessions, and an orderly shutdown.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AdminError, type AdminRuntime, type SqlErrorRow } from '../admin/engine.ts';
import { AdminGuard } from '../admin/guard.ts';
import { AdminHttp, httpEnabled } from '../admin/http.ts';
import { GatewayMetrics } from '../admin/metrics.ts';
import { AdminServer } from '../admin/server.ts';
import { AuditLog } from '../audit/audit-log.ts';
import type { AuditEvent } from '../audit/event.ts';
import {
  fromAdmin,
  fromCommand,
  fromFinding,
  fromGuard,
  fromLogin,
  quitWithout,
} from '../audit/from-gateway.ts';
import { type BackendTarget, backendTlsFiles } from '../client/backend.ts';
import { type HealthResult, healthCheck, refuseOwnIdentity } from '../client/health.ts';
import { ProfileStore } from '../client/profile.ts';
import type { Config } from '../config/schema.ts';
import { Detector, type Finding } from '../detect/detector.ts';
import { FirewallMirror } from '../firewall/mirror.ts';
import { Guard, type Refusal } from '../guard/guard.ts';
import { GuardPersistence } from '../guard/persist.ts';
import { AccessPolicy } from '../guard/rules.ts';
import { compileTcpWrappers } from '../guard/tcp-wrappers.ts';
import type { CommandEvent, LoginRecord } from '../model/events.ts';
import type { ReloadReport } from '../model/reload.ts';
import { type Endpoint, formatEndpoint } from '../net/endpoint.ts';
import { loadServerTls, type ServerTls } from '../net/tls.ts';
import { POSTURE_OFF, PostureRunner } from '../posture/runner.ts';
import { formatServerError } from '../protocol/error-codes.ts';
import { FIRST_SESSION_ID } from '../protocol/follow/kill.ts';
import { writeErr } from '../protocol/packets/result.ts';
import { configureDigests } from '../sql/digest.ts';
import { DigestSummary } from '../sql/digest-table.ts';
import { redactStatement } from '../sql/redact.ts';
import { SqlFirewall } from '../sqlfw/engine.ts';
import { SharedFirewall } from '../sqlfw/shared.ts';
import { SqlfwStore } from '../sqlfw/store.ts';
import { RedisFleet } from '../state/redis/fleet.ts';
import { SqliteStore } from '../state/sqlite-store.ts';
import type { GatewayContext } from './context.ts';
import { type Accepted, Listener } from './listener.ts';
import { planReload } from './reload.ts';
import { Session } from './session.ts';
import { statusRows } from './status.ts';
import { SavedVariables, variableRows } from './variables.ts';

export interface GatewayHooks {
  onCommand?: (e: CommandEvent) => void;
  onLogin?: (r: LoginRecord) => void;
  /** Reads the configuration again (the CLI re-reads its file and flags), for RELOAD / SIGHUP. */
  loadConfig?: () => Config;
}

/** Failed statements kept for moat.sql_errors. */
const SQL_ERRORS_KEPT = 1000;

/**
 * Session ids start at 2^30: the id is the "connection id" of moat's greeting, and a client that
 * sends `KILL <id>` through moat must hit "Unknown thread id" on the backend, never another
 * client's thread that happens to have a small number.
 */

export class Gateway {
  readonly config: Config;
  readonly log: Logger;
  readonly sessions = new Map<number, Session>();
  private listeners: Listener[] = [];
  private nextId = FIRST_SESSION_ID;
  private stopping = false;
  private ctx: GatewayContext | null = null;
  private readonly hooks: GatewayHooks;
  private drained: (() => void) | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  /** Last health-check login (null without a health-check account). */
  health: HealthResult | null = null;

  /** Admission decisions and the host ledger; lives as long as the gateway. */
  readonly guard: Guard;

  constructor(config: Config, log: Logger, hooks: GatewayHooks = {}) {
    this.config = config;
    this.log = log;
    this.hooks = hooks;
    this.guard = new Guard(config.guard, log);
    this.detector = config.detect.enabled ? new Detector(config.detect) : null;
    configureDigests({ maxDigestLength: config.digests.maxDigestLength });
    this.digests = new DigestSummary(config.digests);
  }

  /** performance_schema.events_statements_summary_by_digest and its per-account breakdown. */
  readonly digests: DigestSummary;

  private persistence: GuardPersistence | null = null;
  /** Membership in a fleet sharing its state on Redis (state.store: redis); null for SQLite. */
  fleet: RedisFleet | null = null;
  /** Blocks mirrored into nftables (firewall.enabled and the privilege to); null otherwise. */
  firewall: FirewallMirror | null = null;
  /** `moat check` run by the gateway (posture.user configured). */
  posture: PostureRunner | null = null;
  private admin: AdminServer | null = null;
  private http: AdminHttp | null = null;
  /** The HTTP API's bound address, when it is on. */
  httpAddress: Endpoint | null = null;
  readonly metrics = new GatewayMetrics();
  private runtime: AdminRuntime | null = null;
  /** The admin port's bound address, when it is on. */
  adminAddress: Endpoint | null = null;
  private readonly startedAt = Date.now();
  /** The audit log (null when audit.enabled is false). */
  audit: AuditLog | null = null;
  /** The SQL firewall (src/sqlfw/; null when sqlFirewall.enabled is false). */
  sqlFirewall: SqlFirewall | null = null;
  /** Its lists shared by the fleet (state.store: redis). */
  private sqlfwShared: SharedFirewall | null = null;
  private auditTimer: NodeJS.Timeout | null = null;

  /** Attack detection over the command stream (null when detect.enabled is false). */
  /** log.level is debug: one line per command (kept as a field so that a reload can change it). */
  private debugCommands = false;
  /** Replaced by a reload that changes `detect`. */
  detector: Detector | null;

  /** Acts on a finding: an Alert record and log line always; kill and block when the rule says. */
  private onFinding(f: Finding): void {
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
    if (f.actions.includes('kill')) this.sessions.get(f.session)?.close(`killed by detection rule ${f.rule}`);
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

  private record(e: AuditEvent): void {
    this.audit?.record(e);
  }
  private readonly sqlErrors: SqlErrorRow[] = [];

  private noteSqlError(e: CommandEvent): void {
    this.sqlErrors.push({
      time: e.startedAt,
      session: e.session,
      user: e.user,
      host: e.clientAddress,
      code: e.errorCode,
      state: e.sqlState,
      message: e.errorMessage,
      statement: redactStatement(e.statement),
    });
    if (this.sqlErrors.length > SQL_ERRORS_KEPT) this.sqlErrors.shift();
  }

  /**
   * Applies the configuration again without dropping a session, key by key as RELOAD_EFFECT says
   * (reload.ts): the guard's rules, limits and settings, TCP-wrappers files, per-listener rules,
   * the persisted SET GLOBAL values, limits, detection, LOCAL INFILE, the log level. Every other
   * changed key is reported as needing a restart, to the admin client and in the log.
   */
  reload(announce = true): ReloadReport {
    const load = this.hooks.loadConfig;
    if (load === undefined) throw new Error('this moat has no configuration source to reload from');
    const next = load();
    const report = planReload(this.config, next);
    report.needsRestart.push(...this.guard.reconfigure(next.guard));
    this.config.guard = next.guard;
    this.loadTcpWrappers();
    for (const l of this.listeners) {
      const lc = next.listeners.find((x) => formatEndpoint(x.address) === l.name);
      if (lc?.access !== undefined)
        this.guard.setListenerAccess(l.name, new AccessPolicy(lc.access.default, lc.access.rules));
    }
    this.loadVariables();
    // Sessions read these through the shared context (ctx.config is this.config) at each login.
    this.config.limits = next.limits;
    this.config.localInfile = next.localInfile;
    this.config.shutdownTimeoutMs = next.shutdownTimeoutMs;
    if (report.applied.includes('detect')) {
      this.config.detect = next.detect;
      this.detector = next.detect.enabled ? new Detector(next.detect) : null;
    }
    if (report.applied.includes('log')) {
      this.config.log = next.log;
      this.log.level = next.log.level;
      this.debugCommands = this.log.isLevelEnabled('debug');
    }
    this.log.warn({ applied: report.applied, needsRestart: report.needsRestart }, 'configuration reloaded');
    // Rules reach the whole fleet: every instance re-reads its own configuration.
    if (announce) this.fleet?.announceReload();
    return report;
  }

  async start(): Promise<void> {
    const c = this.config;
    // Before any listener opens: never serve clients as moat's own OS identity (issue 16).
    await refuseOwnIdentity(c, this.log);
    let serverTls: ServerTls | null = null;
    if (c.tls.enabled) {
      serverTls = await loadServerTls({ ...c.tls, stateDir: c.stateDir });
      if (serverTls.generated)
        this.log.info(
          { cert: serverTls.certPath },
          'generated a self-signed ECDSA certificate for client TLS',
        );
    }
    const backend: BackendTarget = {
      endpoint: c.backend.address,
      connectTimeoutMs: c.backend.connectTimeoutMs,
      tls: c.backend.tls,
      maxPacketSize: c.limits.maxPacketSize,
      proxyProtocol: c.backend.proxyProtocol,
    };
    const log = this.log;
    const metrics = this.metrics;
    this.debugCommands = log.isLevelEnabled('debug');
    this.sqlFirewall = this.openSqlFirewall();
    const sqlFirewall = this.sqlFirewall;
    if (sqlFirewall !== null && c.state.store === 'redis') {
      this.sqlfwShared = new SharedFirewall(c.state, sqlFirewall, log);
      await this.sqlfwShared.start();
    }
    this.ctx = {
      config: c,
      log,
      guard: this.guard,
      profile: new ProfileStore(join(c.stateDir, 'backend-profile.json'), c.greeting.serverVersion),
      serverTls,
      backend,
      backendTlsFiles: backendTlsFiles(c.backend.tls),
      onCommand: (e) => {
        metrics.command(e);
        // The event carries its digest (computed once by the follower, memoized by text).
        this.digests.record(e);
        sqlFirewall?.observe(e);
        if (this.detector !== null) {
          const findings = this.detector.observe(e);
          for (let i = 0; i < findings.length; i++) this.onFinding(findings[i]!);
        }
        // Commands without a statement and without an answer (Ping aside) are not audit records.
        if (this.audit !== null && (e.statement !== null || e.errorCode !== 0 || e.command === 'Quit')) {
          this.audit.record(fromCommand(e, c.audit.instance));
        }
        if (e.status === 'ERR') this.noteSqlError(e);
        if (this.debugCommands)
          log.debug({ event: { ...e, statement: redactStatement(e.statement) } }, 'command');
        this.hooks.onCommand?.(e);
      },
      onLogin: (r) => {
        metrics.login(r);
        if (this.audit !== null) {
          this.audit.record(
            fromLogin(r, c.audit.instance, this.guard.ledger.get(r.clientAddress)?.host ?? null),
          );
        }
        if (r.outcome === 'ok') log.debug({ login: r }, 'login');
        else log.info({ login: r }, 'login failed');
        this.hooks.onLogin?.(r);
      },
      shuttingDown: () => this.stopping,
      backendThreadOf: (id, caller) => {
        if (!c.backend.killMapping) return null;
        // Only a session of the caller's own user: the server would refuse another's (1095) and
        // its answer would name that session's backend thread, which is none of the caller's business.
        const s = this.sessions.get(id);
        return s !== undefined && s.user === caller ? s.backendThread : null;
      },
      sqlFirewall,
    };
    this.loadTcpWrappers();
    mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
    const fleet = c.state.store === 'redis' ? new RedisFleet(c.state, log) : null;
    const persistence = new GuardPersistence(
      this.guard,
      fleet ?? new SqliteStore(join(c.stateDir, 'guard.sqlite')),
      log,
    );
    this.persistence = persistence;
    this.loadVariables();
    const loaded = await persistence.start(c.guard.persistIntervalMs);
    log.info({ ...loaded, store: c.state.store }, 'guard state loaded');
    if (fleet !== null) {
      this.fleet = fleet;
      fleet.attach(this.guard, {
        settle: () => persistence.settle(),
        blocked: (b, from, own) => {
          if (own) {
            // Made by the shared counter for an error seen here: this instance reports it (its
            // guard actions reach audit and the firewall mirror).
            const until = b.until === null ? null : new Date(b.until).toISOString();
            log.warn({ ip: b.ip, reason: b.reason, by: b.by, until }, 'host blocked');
            this.guard.onAction({ kind: 'blocked', block: b });
          } else {
            log.info({ ip: b.ip, reason: b.reason, from }, 'host blocked by another instance');
            // Another instance's block holds here too, so the kernel drops it here too.
            void this.firewall?.block(b);
          }
        },
        unblocked: (b, from) => {
          log.info({ ip: b.ip, reason: b.reason, from }, 'host unblocked by another instance');
          void this.firewall?.unblock(b.ip);
        },
        savedVariables: () => new SavedVariables(c.stateDir).load(),
        setVariable: (name, value, from) => {
          const current = (this.guard.settings as unknown as Record<string, unknown>)[name];
          if (current === value) return;
          try {
            if (!this.guard.setVariable(name, value)) throw new Error(`unknown variable ${name}`);
            new SavedVariables(c.stateDir).save(name, value);
            log.warn({ name, value, from }, 'SET GLOBAL by another instance');
          } catch (e) {
            log.error(
              { name, value, from, err: (e as Error).message },
              'SET GLOBAL from another instance refused',
            );
          }
        },
        reload: (from) => {
          try {
            this.reload(false);
            log.info({ from }, 'configuration reloaded at the request of another instance');
          } catch (e) {
            log.error({ from, err: (e as Error).message }, 'reload requested by another instance failed');
          }
        },
      });
    }
    if (c.audit.enabled) {
      const audit = new AuditLog(c.audit, log, { baseDir: c.stateDir });
      try {
        await audit.start();
      } catch (e) {
        await persistence.stop();
        throw e;
      }
      this.audit = audit;
      this.guard.onAction = (a) => this.record(fromGuard(a, c.audit.instance));
      this.auditTimer = setInterval(() => this.enforceStrictAudit(), c.audit.flushIntervalMs);
      this.auditTimer.unref();
    }
    try {
      await this.listenAll();
    } catch (e) {
      await persistence.stop();
      this.persistence = null;
      // All or nothing: a half-open gateway (one listener up, another refused) would keep the
      // process alive without doing what it was configured to do.
      await Promise.all(this.listeners.map((l) => l.close()));
      this.listeners = [];
      throw e;
    }
    await this.startFirewall();
    this.runtime = this.adminRuntime();
    this.metrics.attach(this.runtime);
    this.metrics.liveBytes = () => {
      const sum = { fromClient: 0, fromBackend: 0 };
      for (const s of this.sessions.values()) {
        const b = s.relayBytes();
        sum.fromClient += b.fromClient;
        sum.fromBackend += b.fromBackend;
      }
      return sum;
    };
    try {
      // One guard for the admin port and the HTTP API (src/admin/guard.ts), apart from this one.
      const adminGuard = new AdminGuard(c.admin.guard, c.guard, {
        log,
        instance: c.audit.instance,
        database: this.guard,
      });
      adminGuard.onAudit = (e) => this.record(e);
      if (c.admin.users.length > 0) {
        this.admin = new AdminServer(
          c.admin,
          this.runtime,
          log,
          this.ctx.profile.current.serverVersion,
          this.ctx.serverTls,
          { guard: adminGuard, requireTls: c.admin.requireTls ?? c.tls.require },
        );
        this.admin.onStatement = (who, sql, status) =>
          this.record(fromAdmin(who, sql, status, c.audit.instance));
        this.adminAddress = await this.admin.listen();
      } else log.info('admin port off: no admin.users configured');
      if (httpEnabled(c.admin.http)) {
        this.http = new AdminHttp(c.admin.http, this.runtime, this.metrics, log, adminGuard);
        this.httpAddress = await this.http.listen();
      } else log.info('admin HTTP off: no admin.http.tokenSha256 configured');
    } catch (e) {
      await Promise.all(this.listeners.map((l) => l.close()));
      await this.admin?.close();
      await this.persistence?.stop();
      throw e;
    }
    this.startHealthChecks();
    const posture = new PostureRunner(c, log);
    if (posture.enabled) {
      this.posture = posture;
      posture.start();
    }
  }

  /**
   * The nftables mirror of blocks, on the ports the listeners are bound to (known only now). Its
   * writes follow the guard's actions after the audit's; off with one warning when it cannot work.
   */
  private async startFirewall(): Promise<void> {
    const c = this.config.firewall;
    if (!c.enabled) return;
    const ports = this.addresses().flatMap((a) => (a.kind === 'tcp' ? [a.port] : []));
    const mirror = await FirewallMirror.open({ ...c, ports: c.ports ?? ports }, this.log);
    if (mirror === null) return;
    this.firewall = mirror;
    await mirror.sync(this.guard.blocker.list(Date.now()));
    const audit = this.guard.onAction;
    this.guard.onAction = (a) => {
      audit(a);
      mirror.onGuardAction(a);
    };
  }

  /** SET GLOBAL values survive restarts (variables.ts), applied at start and on reload. */
  private loadVariables(): void {
    const saved = new SavedVariables(this.config.stateDir).load();
    if (Object.keys(saved).length === 0) return;
    for (const [name, value] of Object.entries(saved)) {
      try {
        this.guard.setVariable(name, value);
      } catch (e) {
        this.log.warn({ name, value, err: (e as Error).message }, 'ignoring a saved variable');
      }
    }
    this.log.info({ variables: saved }, 'SET GLOBAL values restored');
  }

  private adminRuntime(): AdminRuntime {
    const c = this.config;
    const guard = this.guard;
    const variables = (): Array<[string, string | number]> => {
      const first = this.listeners[0]?.address();
      const version = this.ctx?.profile.current.serverVersion ?? c.greeting.serverVersion;
      return variableRows(c, guard, first?.kind === 'tcp' ? first.port : 0, version);
    };
    return {
      guard,
      sessions: () => [...this.sessions.values()].map((s) => s.describe()),
      kill: (id) => {
        const s = this.sessions.get(id);
        if (s === undefined) return false;
        s.close('killed from the admin port');
        return true;
      },
      variables,
      sqlErrors: () => this.sqlErrors,
      reload: () => {
        try {
          return this.reload();
        } catch (e) {
          throw new AdminError(
            formatServerError('ER_UNKNOWN_ERROR', `reload failed: ${(e as Error).message}`),
          );
        }
      },
      status: () => [
        ...statusRows(guard, this.startedAt, this.fleet, this.firewall),
        ['Performance_schema_digest_lost', this.digests.lost],
        ...(this.sqlFirewall?.statusRows() ?? []),
      ],
      digests: this.digests,
      fleetView: this.fleet === null ? undefined : () => this.fleet!.view(),
      posture: () => this.posture?.last ?? null,
      sqlFirewall: this.sqlFirewall,
      checkPosture: () => {
        if (this.posture === null) throw new AdminError(formatServerError('ER_UNKNOWN_ERROR', POSTURE_OFF));
        return this.posture.run();
      },
      setVariable: (name, value) => {
        let known: boolean;
        try {
          known = guard.setVariable(name, value);
        } catch (e) {
          throw new AdminError(formatServerError('ER_WRONG_VALUE_FOR_VAR', (e as Error).message));
        }
        if (!known) {
          if (variables().some(([n]) => n === name)) {
            throw new AdminError(formatServerError('ER_INCORRECT_GLOBAL_LOCAL_VAR', name));
          }
          throw new AdminError(formatServerError('ER_UNKNOWN_SYSTEM_VARIABLE', name));
        }
        new SavedVariables(c.stateDir).save(name, value);
        this.log.warn({ name, value }, 'SET GLOBAL');
        this.fleet?.announceVariable(name, value);
      },
    };
  }

  /** Throws TcpWrappersSyntaxError (file:line in its message) for a rule moat cannot read. */
  private loadTcpWrappers(): void {
    const tw = this.config.guard.tcpWrappers;
    if (tw === undefined) return;
    const read = (path: string | undefined): string => {
      if (path === undefined) return '';
      // tcpd reads a missing file as empty; a configured one that is missing is worth a warning.
      if (!existsSync(path)) {
        this.log.warn({ path }, 'guard.tcpWrappers file does not exist; read as empty');
        return '';
      }
      return readFileSync(path, 'utf8');
    };
    const policy = compileTcpWrappers(read(tw.allow), read(tw.deny), tw.daemon);
    for (const w of policy.warnings)
      this.log.warn({ file: w.file, line: w.line }, `tcp wrappers: ${w.message}`);
    this.guard.setTcpWrappers(policy);
    this.log.info(
      { daemon: policy.daemon, needsHostname: policy.needsHostname },
      'tcp wrappers rules loaded',
    );
  }

  private async listenAll(): Promise<void> {
    const c = this.config;
    const log = this.log;
    for (const lc of c.listeners) {
      const l = new Listener(
        lc,
        {
          onAccept: (a) => this.accept(a),
          onRejected: (address, reason) => {
            // A trusted balancer's connection without a valid PROXY header: MySQL's
            // Connection_errors_peer_address is the nearest (the peer's address is unusable).
            this.guard.status.Connection_errors_peer_address++;
            log.warn({ address, reason }, 'connection rejected before greeting');
          },
          onAcceptError: (err) => {
            this.guard.status.Connection_errors_accept++;
            log.error({ err: err.message }, 'accept failed');
          },
        },
        c.limits.handshakeTimeoutMs,
      );
      await l.listen();
      this.listeners.push(l);
      if (lc.access !== undefined)
        this.guard.setListenerAccess(l.name, new AccessPolicy(lc.access.default, lc.access.rules));
      log.info({ listen: formatEndpoint(l.address()) }, 'listening');
    }
  }

  private startHealthChecks(): void {
    const account = this.config.backend.healthCheck;
    const ctx = this.ctx;
    if (account === undefined || ctx === null) return;
    const run = async () => {
      const r = await healthCheck(ctx.backend, ctx.backendTlsFiles, account, ctx.profile);
      if (this.health === null || this.health.ok !== r.ok) {
        if (r.ok)
          this.log.info(
            { serverVersion: r.serverVersion, latencyMs: Math.round(r.latencyMs) },
            'backend healthy',
          );
        else this.log.warn({ error: r.error }, 'backend health check failed');
      }
      this.health = r;
    };
    void run();
    this.healthTimer = setInterval(() => void run(), account.intervalMs);
    this.healthTimer.unref();
  }

  /** Bound addresses, in configuration order. */
  addresses(): Endpoint[] {
    return this.listeners.map((l) => l.address());
  }

  private accept(a: Accepted): void {
    if (this.stopping || this.ctx === null) {
      a.socket.destroy();
      return;
    }
    const id = this.nextId++;
    if (this.nextId > 0xfffffff0) this.nextId = FIRST_SESSION_ID;
    const o = a.origin;
    const admission = { ip: o.address, local: o.local, listener: o.listener };
    if (this.audit?.refusing === true) {
      this.refuse(a, id, {
        outcome: 'too-many-connections',
        error: formatServerError(
          'ER_UNKNOWN_ERROR',
          'moat: the audit log cannot be written (audit.strict); try again later',
        ),
        message: 'strict audit: the audit log cannot be written',
      });
      return;
    }
    if (this.guard.unauthenticatedFull) this.shedOldestHandshake();
    const refusal = this.guard.admit(admission);
    if (refusal !== null) {
      this.refuse(a, id, refusal);
      return;
    }
    const byName = this.guard.admitByName(admission);
    if (byName instanceof Promise) {
      // A hostname rule waits for DNS (bounded by guard.resolve.timeoutMs); no greeting meanwhile.
      void byName.then((r) => {
        if (a.socket.destroyed || this.stopping) {
          this.guard.finished(admission, null, 'client-gone', 0);
          a.socket.destroy();
        } else if (r !== null) {
          this.guard.finished(admission, null, r.outcome, r.error.code);
          this.refuse(a, id, r);
        } else this.startSession(a, id);
      });
      return;
    }
    if (byName !== null) {
      this.guard.finished(admission, null, byName.outcome, byName.error.code);
      this.refuse(a, id, byName);
      return;
    }
    this.startSession(a, id);
  }

  /**
   * Strict audit (audit.strict) while the log cannot be written: no statement may run unaudited,
   * so new connections are refused (see accept) and every session is closed at its next idle
   * point, in a transaction or not. Default mode never gets here: records are dropped and counted.
   */
  private enforceStrictAudit(): void {
    if (this.audit === null || !this.audit.refusing) return;
    for (const s of this.sessions.values()) {
      if (s.loggedIn) s.drain('the audit log cannot be written (audit.strict)', true);
    }
  }

  /**
   * At the unauthenticated cap, the oldest connection that has not sent its HandshakeResponse
   * is cut to admit the new one (as a SYN queue drops the oldest half-open): a real client logs
   * in within milliseconds, so a slow-loris flood sheds itself instead of locking others out.
   */
  private shedOldestHandshake(): void {
    for (const s of this.sessions.values()) {
      if (s.handshaking) {
        s.shed();
        return;
      }
    }
  }

  /**
   * In place of the greeting, as MySQL answers a blocked or unknown host; no session object, no
   * backend work: a flood of refused connections costs one write and a close each.
   */
  private refuse(a: Accepted, id: number, refusal: Refusal): void {
    const o = a.origin;
    a.socket.end(writeErr(refusal.error, 0));
    a.socket.setTimeout(2000, () => a.socket.destroy());
    this.ctx?.onLogin({
      session: id,
      outcome: refusal.outcome,
      user: null,
      clientAddress: o.address,
      clientPort: o.port,
      errorCode: refusal.error.code,
      message: refusal.message,
    });
  }

  private startSession(a: Accepted, id: number): void {
    if (this.ctx === null) return;
    const session = new Session(id, a.socket, a.origin, this.ctx, (s) => {
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
      this.sessions.delete(s.id);
      if (this.sessions.size === 0) this.drained?.();
    });
    this.sessions.set(id, session);
    void session.run();
  }

  /**
   * Graceful stop: close listeners, let sessions finish for up to `timeoutMs`, then close the rest.
   */
  async stop(timeoutMs = this.config.shutdownTimeoutMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.healthTimer !== null) clearInterval(this.healthTimer);
    this.posture?.stop();
    await Promise.all(this.listeners.map((l) => l.close()));
    for (const s of [...this.sessions.values()]) s.drain();
    if (this.sessions.size > 0) {
      this.log.info({ sessions: this.sessions.size, timeoutMs }, 'waiting for sessions to finish');
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        setTimeout(resolve, timeoutMs); // not unref'd: a stop in progress keeps the process up
      });
    }
    for (const s of [...this.sessions.values()]) s.close('moat shutting down');
    await this.admin?.close();
    this.admin = null;
    await this.http?.close();
    this.http = null;
    if (this.auditTimer !== null) clearInterval(this.auditTimer);
    await this.audit?.close();
    await this.persistence?.stop();
    this.persistence = null;
    await this.firewall?.close();
    this.firewall = null;
    await this.sqlfwShared?.close();
    this.sqlfwShared = null;
    this.sqlFirewall?.close();
    this.sqlFirewall = null;
  }

  /** The SQL firewall over stateDir/sqlfw.sqlite; its Alerts go to the audit log. */
  private openSqlFirewall(): SqlFirewall | null {
    const c = this.config;
    if (!c.sqlFirewall.enabled) return null;
    mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
    const fw = new SqlFirewall(c.sqlFirewall, new SqlfwStore(join(c.stateDir, 'sqlfw.sqlite')), this.log);
    fw.instance = c.audit.instance;
    fw.onAlert = (e) => this.record(e);
    // A mode, membership or network change applies to live sessions at their next statement.
    fw.onChange = () => {
      for (const s of this.sessions.values()) s.refreshSqlFirewall();
    };
    return fw;
  }
}
