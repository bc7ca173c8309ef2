// One moat process: builds every subsystem from the configuration, wires them together, starts
// them in order and stops them in reverse. The only module that knows all the others; the gateway
// (listeners and sessions) knows none of them and reports through events (event-router.ts).
//
// Start order, and why:
//   own identity check   before any listener: never serve clients as moat's own OS user (issue 16)
//   client TLS           the certificate (generated on first start) is in every session's context
//   SQL firewall         sessions consult it from their first statement
//   guard state          rules, TCP wrappers, saved SET GLOBAL values, the ledger from its store
//                        (SQLite file or the fleet's Redis) before the first connection is judged
//   audit log            open before the first connection, so no login goes unrecorded
//   listeners            all or nothing
//   nftables mirror      needs the bound ports
//   admin port, API      need the runtime, which needs the listeners' ports
//   health, posture      background checks once everything answers
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AdminGuard } from '../admin/guard.ts';
import { AdminHttp, httpEnabled } from '../admin/http.ts';
import { GatewayMetrics } from '../admin/metrics.ts';
import { AdminServer } from '../admin/server.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { fromAdmin, fromGuard } from '../audit/from-events.ts';
import { backendTlsFiles } from '../client/backend.ts';
import { type HealthResult, healthCheck, refuseOwnIdentity } from '../client/health.ts';
import { ProfileStore } from '../client/profile.ts';
import type { Config } from '../config/schema.ts';
import { Detector } from '../detect/detector.ts';
import { FirewallMirror } from '../firewall/mirror.ts';
import { Gateway } from '../gateway/gateway.ts';
import type { Session } from '../gateway/session.ts';
import { Guard } from '../guard/guard.ts';
import { GuardPersistence } from '../guard/persist.ts';
import type { ReloadReport } from '../model/reload.ts';
import type { Endpoint } from '../net/endpoint.ts';
import { loadServerTls, type ServerTls } from '../net/tls.ts';
import { PostureRunner } from '../posture/runner.ts';
import { formatServerError } from '../protocol/error-codes.ts';
import { configureDigests } from '../sql/digest.ts';
import { DigestSummary } from '../sql/digest-table.ts';
import { SqlFirewall } from '../sqlfw/engine.ts';
import { SharedFirewall } from '../sqlfw/shared.ts';
import { SqlfwStore } from '../sqlfw/store.ts';
import { RedisFleet } from '../state/redis/fleet.ts';
import { SqliteStore } from '../state/sqlite-store.ts';
import { adminRuntime } from './admin-runtime.ts';
import { EventRouter, type EventTaps } from './event-router.ts';
import { fleetHooks } from './fleet-hooks.ts';
import { loadTcpWrappers, restoreVariables } from './guard-files.ts';
import { planReload } from './reload.ts';

export interface MoatHooks extends EventTaps {
  /** Reads the configuration again (the CLI re-reads its file and flags), for RELOAD / SIGHUP. */
  loadConfig?: () => Config;
}

export class Moat {
  readonly config: Config;
  readonly log: Logger;
  /** Admission decisions and the host ledger; lives as long as the process. */
  readonly guard: Guard;
  /** performance_schema.events_statements_summary_by_digest and its per-account breakdown. */
  readonly digests: DigestSummary;
  readonly metrics = new GatewayMetrics();
  /** Membership in a fleet sharing its state on Redis (state.store: redis); null for SQLite. */
  fleet: RedisFleet | null = null;
  /** Blocks mirrored into nftables (firewall.enabled and the privilege to); null otherwise. */
  firewall: FirewallMirror | null = null;
  /** `moat check` run by moat itself (posture.user configured). */
  posture: PostureRunner | null = null;
  /** The audit log (null when audit.enabled is false). */
  audit: AuditLog | null = null;
  /** The SQL firewall (src/sqlfw/; null when sqlFirewall.enabled is false). */
  sqlFirewall: SqlFirewall | null = null;
  /** The admin port's and the HTTP API's bound addresses, when they are on. */
  adminAddress: Endpoint | null = null;
  httpAddress: Endpoint | null = null;
  /** Last health-check login (null without a health-check account). */
  health: HealthResult | null = null;

  private readonly hooks: MoatHooks;
  private readonly events: EventRouter;
  private readonly startedAt = Date.now();
  private gateway: Gateway | null = null;
  private persistence: GuardPersistence | null = null;
  private sqlfwShared: SharedFirewall | null = null;
  private admin: AdminServer | null = null;
  private http: AdminHttp | null = null;
  private auditTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(config: Config, log: Logger, hooks: MoatHooks = {}) {
    this.config = config;
    this.log = log;
    this.hooks = hooks;
    this.guard = new Guard(config.guard, log);
    configureDigests({ maxDigestLength: config.digests.maxDigestLength });
    this.digests = new DigestSummary(config.digests);
    const detector = config.detect.enabled ? new Detector(config.detect) : null;
    this.events = new EventRouter(
      { config, log, guard: this.guard, metrics: this.metrics, digests: this.digests },
      detector,
      hooks,
    );
  }

  /** Attack detection over the command stream (null when detect.enabled is false). */
  get detector(): Detector | null {
    return this.events.detector;
  }

  /** The live sessions by id (empty before start). */
  get sessions(): ReadonlyMap<number, Session> {
    return this.gateway?.sessions ?? new Map();
  }

  /** Bound addresses of the client listeners, in configuration order. */
  addresses(): Endpoint[] {
    return this.gateway?.addresses() ?? [];
  }

  async start(): Promise<void> {
    const c = this.config;
    const log = this.log;
    await refuseOwnIdentity(c, log);
    const serverTls = await this.openClientTls();
    this.sqlFirewall = this.openSqlFirewall();
    if (this.sqlFirewall !== null && c.state.store === 'redis') {
      this.sqlfwShared = new SharedFirewall(c.state, this.sqlFirewall, log);
      await this.sqlfwShared.start();
    }
    this.events.sqlFirewall = this.sqlFirewall;
    const gateway = new Gateway(
      c,
      log,
      {
        config: c,
        log,
        guard: this.guard,
        profile: new ProfileStore(join(c.stateDir, 'backend-profile.json'), c.greeting.serverVersion),
        serverTls,
        backend: {
          endpoint: c.backend.address,
          connectTimeoutMs: c.backend.connectTimeoutMs,
          tls: c.backend.tls,
          maxPacketSize: c.limits.maxPacketSize,
          proxyProtocol: c.backend.proxyProtocol,
        },
        backendTlsFiles: backendTlsFiles(c.backend.tls),
        onCommand: this.events.command,
        onLogin: this.events.login,
        sqlFirewall: this.sqlFirewall,
      },
      {
        refuseAll: () => (this.audit?.refusing === true ? STRICT_AUDIT_REFUSAL : null),
        sessionEnded: (s) => this.events.sessionEnded(s),
      },
    );
    this.gateway = gateway;
    this.events.kill = (id, reason) => gateway.kill(id, reason);
    const persistence = await this.openGuardState();
    if (c.audit.enabled) {
      const audit = new AuditLog(c.audit, log, { baseDir: c.stateDir });
      try {
        await audit.start();
      } catch (e) {
        await persistence.stop();
        throw e;
      }
      this.audit = audit;
      this.events.audit = audit;
      this.guard.onAction = (a) => this.events.record(fromGuard(a, c.audit.instance));
      this.auditTimer = setInterval(() => this.enforceStrictAudit(), c.audit.flushIntervalMs);
      this.auditTimer.unref();
    }
    try {
      await gateway.listen();
    } catch (e) {
      await persistence.stop();
      this.persistence = null;
      throw e;
    }
    await this.startFirewall();
    try {
      await this.startAdmin(serverTls);
    } catch (e) {
      await gateway.stop(0);
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

  private async openClientTls(): Promise<ServerTls | null> {
    const c = this.config;
    if (!c.tls.enabled) return null;
    const tls = await loadServerTls({ ...c.tls, stateDir: c.stateDir });
    if (tls.generated)
      this.log.info({ cert: tls.certPath }, 'generated a self-signed ECDSA certificate for client TLS');
    return tls;
  }

  /** Rules from files, the ledger and blocks from the store, and the fleet when there is one. */
  private async openGuardState(): Promise<GuardPersistence> {
    const c = this.config;
    const log = this.log;
    loadTcpWrappers(this.guard, c.guard.tcpWrappers, log);
    mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
    const fleet = c.state.store === 'redis' ? new RedisFleet(c.state, log) : null;
    const persistence = new GuardPersistence(
      this.guard,
      fleet ?? new SqliteStore(join(c.stateDir, 'guard.sqlite')),
      log,
    );
    this.persistence = persistence;
    restoreVariables(this.guard, c.stateDir, log);
    const loaded = await persistence.start(c.guard.persistIntervalMs);
    log.info({ ...loaded, store: c.state.store }, 'guard state loaded');
    if (fleet === null) return persistence;
    this.fleet = fleet;
    fleet.attach(
      this.guard,
      fleetHooks({
        guard: this.guard,
        log,
        stateDir: c.stateDir,
        firewall: () => this.firewall,
        settle: () => persistence.settle(),
        reload: () => this.reload(false),
      }),
    );
    return persistence;
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

  private async startAdmin(serverTls: ServerTls | null): Promise<void> {
    const c = this.config;
    const log = this.log;
    const gateway = this.gateway!;
    const runtime = adminRuntime({
      config: c,
      log,
      guard: this.guard,
      gateway,
      startedAt: this.startedAt,
      digests: this.digests,
      sqlErrors: this.events.sqlErrors,
      sqlFirewall: this.sqlFirewall,
      fleet: this.fleet,
      firewall: () => this.firewall,
      posture: () => this.posture,
      serverVersion: () => gateway.context.profile.current.serverVersion,
      reload: () => this.reload(),
    });
    this.metrics.attach(runtime);
    this.metrics.liveBytes = () => gateway.liveBytes();
    // One guard for the admin port and the HTTP API (src/admin/guard.ts), apart from the database's.
    const adminGuard = new AdminGuard(c.admin.guard, c.guard, {
      log,
      instance: c.audit.instance,
      database: this.guard,
    });
    adminGuard.onAudit = this.events.record;
    if (c.admin.users.length > 0) {
      this.admin = new AdminServer(
        c.admin,
        runtime,
        log,
        gateway.context.profile.current.serverVersion,
        serverTls,
        { guard: adminGuard, requireTls: c.admin.requireTls ?? c.tls.require },
      );
      this.admin.onStatement = (who, sql, status) =>
        this.events.record(fromAdmin(who, sql, status, c.audit.instance));
      this.adminAddress = await this.admin.listen();
    } else log.info('admin port off: no admin.users configured');
    if (httpEnabled(c.admin.http)) {
      this.http = new AdminHttp(c.admin.http, runtime, this.metrics, log, adminGuard);
      this.httpAddress = await this.http.listen();
    } else log.info('admin HTTP off: no admin.http.tokenSha256 configured');
  }

  private startHealthChecks(): void {
    const account = this.config.backend.healthCheck;
    const ctx = this.gateway?.context;
    if (account === undefined || ctx === undefined) return;
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

  /**
   * Strict audit (audit.strict) while the log cannot be written: no statement may run unaudited,
   * so new connections are refused (refuseAll) and every session is closed at its next idle
   * point, in a transaction or not. Default mode never gets here: records are dropped and counted.
   */
  private enforceStrictAudit(): void {
    if (this.audit === null || !this.audit.refusing) return;
    this.gateway?.drainLoggedIn('the audit log cannot be written (audit.strict)', true);
  }

  /** The SQL firewall over stateDir/sqlfw.sqlite; its Alerts go to the audit log. */
  private openSqlFirewall(): SqlFirewall | null {
    const c = this.config;
    if (!c.sqlFirewall.enabled) return null;
    mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
    const fw = new SqlFirewall(c.sqlFirewall, new SqlfwStore(join(c.stateDir, 'sqlfw.sqlite')), this.log);
    fw.instance = c.audit.instance;
    fw.onAlert = this.events.record;
    // A mode, membership or network change applies to live sessions at their next statement.
    fw.onChange = () => this.gateway?.refreshSqlFirewall();
    return fw;
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
    loadTcpWrappers(this.guard, next.guard.tcpWrappers, this.log);
    this.gateway?.applyListenerAccess(next.listeners);
    restoreVariables(this.guard, this.config.stateDir, this.log);
    // Sessions read these through the shared context (ctx.config is this.config) at each login.
    this.config.limits = next.limits;
    this.config.localInfile = next.localInfile;
    this.config.shutdownTimeoutMs = next.shutdownTimeoutMs;
    if (report.applied.includes('detect')) {
      this.config.detect = next.detect;
      this.events.detector = next.detect.enabled ? new Detector(next.detect) : null;
    }
    if (report.applied.includes('log')) {
      this.config.log = next.log;
      this.log.level = next.log.level;
      this.events.debugCommands = this.log.isLevelEnabled('debug');
    }
    this.log.warn({ applied: report.applied, needsRestart: report.needsRestart }, 'configuration reloaded');
    // Rules reach the whole fleet: every instance re-reads its own configuration.
    if (announce) this.fleet?.announceReload();
    return report;
  }

  /** Graceful stop, in reverse order of start: clients first, moat's own state last. */
  async stop(timeoutMs = this.config.shutdownTimeoutMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.healthTimer !== null) clearInterval(this.healthTimer);
    this.posture?.stop();
    await this.gateway?.stop(timeoutMs);
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
}

/** What a new connection gets while strict audit cannot write its log. */
const STRICT_AUDIT_REFUSAL = {
  outcome: 'too-many-connections',
  error: formatServerError(
    'ER_UNKNOWN_ERROR',
    'moat: the audit log cannot be written (audit.strict); try again later',
  ),
  message: 'strict audit: the audit log cannot be written',
} as const;
