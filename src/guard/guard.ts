// The guard: every admission decision and every count, over the ledger, the blocker, connection
// control, the address and user rules, and the connection caps. Pure decisions over in-memory
// state (the store persists it in batches); no sockets. The gateway asks at three points:
//   admit()     at accept, on the address alone: block, address rule, caps   → 1129 / 1130 / 1040
//   identify()  after the HandshakeResponse: user rules, max_user_connections, the login delay
//   finished()  when the login ends (the ledger, connect errors, connection control, auto-block)
// and tells it when a session ends.
import type { Logger } from 'pino';
import { clientAddress, InvalidAddressError, parseClientAddress } from '../model/address.ts';
import { classify, countsAsConnectError, type FailureClass, type LoginOutcome } from '../model/failure.ts';
import type { GuardAction, SharedGuardState } from '../model/guard.ts';

export type { GuardAction };

import { blockListOf } from '../net/network.ts';
import { formatServerError, type ServerError } from '../protocol/error-codes.ts';
import { type Block, Blocker } from './blocker.ts';
import type { GuardConfig } from './config.ts';
import { ConnectionControl, INT_MAX, MAX_USERS_PER_HOST } from './connection-control.ts';
import { HostLedger } from './ledger.ts';
import { type HostResolution, HostResolver } from './resolver.ts';
import { AccessPolicy, type ClientTls, UserRules } from './rules.ts';
import type { TcpWrappersDecision, TcpWrappersPolicy } from './tcp-wrappers.ts';

export interface Refusal {
  outcome: LoginOutcome;
  error: ServerError;
  message: string;
}

export interface Admission {
  ip: string;
  /** Unix-socket clients: local, not subject to address rules. */
  local: boolean;
  listener: string;
  /** Waiting out a connection-control delay: counted in the delayed pool, not the unauthenticated. */
  parked?: boolean;
  /** The user whose max_user_connections place the backend's OK took (claimUserConnection). */
  claimed?: string | null;
}

/** MySQL's status variables that the guard owns (SHOW GLOBAL STATUS names). */
export interface GuardStatus {
  Connections: number;
  Aborted_connects: number;
  Aborted_clients: number;
  Threads_connected: number;
  Max_used_connections: number;
  Connection_errors_accept: number;
  Connection_errors_internal: number;
  Connection_errors_max_connections: number;
  Connection_errors_peer_address: number;
  Connection_errors_select: number;
  Connection_errors_tcpwrap: number;
  Connection_control_delay_generated: number;
}

/** One minute of login outcomes, for the dashboard's chart. */
export interface OutcomeMinute {
  t: number;
  ok: number;
  failed: number;
  refused: number;
}

/** Refused by moat's policy (as opposed to a failed attempt). */
const REFUSALS: ReadonlySet<LoginOutcome> = new Set<LoginOutcome>([
  'blocked',
  'acl-denied',
  'too-many-connections',
  'user-acl-denied',
  'user-tls-required',
  'user-limit',
  'tls-required',
  'cleartext-refused',
]);

export class Guard {
  /** Blocks, unblocks and login delays as they happen (the gateway feeds them to audit). */
  onAction: (a: GuardAction) => void = () => {};
  /** The last 60 minutes of outcomes, oldest first. */
  readonly outcomes: OutcomeMinute[] = [];
  readonly ledger: HostLedger;
  readonly blocker: Blocker;
  readonly connectionControl: ConnectionControl;
  readonly status: GuardStatus = {
    Connections: 0,
    Aborted_connects: 0,
    Aborted_clients: 0,
    Threads_connected: 0,
    Max_used_connections: 0,
    Connection_errors_accept: 0,
    Connection_errors_internal: 0,
    Connection_errors_max_connections: 0,
    Connection_errors_peer_address: 0,
    Connection_errors_select: 0,
    Connection_errors_tcpwrap: 0,
    Connection_control_delay_generated: 0,
  };
  private config: GuardConfig;
  private access: AccessPolicy;
  private readonly listenerAccess = new Map<string, AccessPolicy>();
  private userRules: UserRules;
  private unauthenticated = 0;
  /** Connections waiting out a login delay (their own pool, so guessers never crowd out others). */
  private delayed = 0;
  private readonly unauthenticatedByHost = new Map<string, number>();
  private sessions = 0;
  private readonly sessionsByUser = new Map<string, number>();

  constructor(config: GuardConfig, log: Logger, now: () => number = Date.now) {
    this.config = { ...config };
    this.log = log;
    this.now = now;
    this.ledger = new HostLedger(config.host_cache_size);
    this.blocker = new Blocker(blockListOf(config.blocking.exempt));
    this.connectionControl = new ConnectionControl(
      {
        threshold: config.connection_control_failed_connections_threshold,
        minDelayMs: config.connection_control_min_connection_delay,
        maxDelayMs: config.connection_control_max_connection_delay,
        perHostThreshold: config.connection_control_failed_connections_threshold_per_host,
      },
      config.maxFailedLoginEntries,
    );
    this.access = new AccessPolicy(config.access.default, config.access.rules);
    const r = config.resolve;
    this.resolver = r.enabled
      ? new HostResolver({
          servers: r.servers,
          timeoutMs: r.timeoutMs,
          positiveTtlMs: r.positiveTtlMs,
          negativeTtlMs: r.negativeTtlMs,
          transientTtlMs: r.transientTtlMs,
          maxEntries: r.maxEntries,
          maxConcurrent: r.maxConcurrent,
          onTimeout: r.onTimeout,
        })
      : null;
    this.userRules = new UserRules(config.users);
    this.blocker.onBlock = (b) => {
      log.warn(
        {
          ip: b.ip,
          reason: b.reason,
          by: b.by,
          until: b.until === null ? null : new Date(b.until).toISOString(),
        },
        'host blocked',
      );
      this.onAction({ kind: 'blocked', block: b });
    };
    this.blocker.onUnblock = (b, why) => {
      log.warn({ ip: b.ip, reason: b.reason, why }, 'host unblocked');
      this.onAction({ kind: 'unblocked', block: b, why });
    };
  }

  private readonly now: () => number;
  private readonly log: Logger;

  get settings(): Readonly<GuardConfig> {
    return this.config;
  }

  /** The fleet's shared state (state.store: redis); null for a single instance. */
  shared: SharedGuardState | null = null;

  /** Compiled hosts.allow / hosts.deny (see tcp-wrappers.ts), when configured. */
  private wrappers: TcpWrappersPolicy | null = null;
  /** Reverse DNS, when guard.resolve.enabled. */
  readonly resolver: HostResolver | null;

  setTcpWrappers(policy: TcpWrappersPolicy | null): void {
    this.wrappers = policy;
  }

  /**
   * A configuration reload: rules, exemptions, limits and connection-control settings change at
   * once for new connections; live sessions are untouched. The ledger's bound and the resolver
   * keep their start-time settings (returned as names, for a "needs a restart" warning).
   */
  reconfigure(next: GuardConfig): string[] {
    const prev = this.config;
    this.config = { ...next };
    this.access = new AccessPolicy(next.access.default, next.access.rules);
    this.userRules = new UserRules(next.users);
    this.blocker.setExempt(blockListOf(next.blocking.exempt));
    this.connectionControl.update({
      threshold: next.connection_control_failed_connections_threshold,
      minDelayMs: next.connection_control_min_connection_delay,
      maxDelayMs: next.connection_control_max_connection_delay,
      perHostThreshold: next.connection_control_failed_connections_threshold_per_host,
    });
    const restart: string[] = [];
    if (prev.host_cache_size !== next.host_cache_size) restart.push('guard.host_cache_size');
    if (JSON.stringify(prev.resolve) !== JSON.stringify(next.resolve)) restart.push('guard.resolve');
    return restart;
  }

  /** Address rules in force, per listener ('*' for the gateway-wide ones), for the admin views. */
  addressRules(): Array<{ listener: string; policy: AccessPolicy }> {
    return [
      { listener: '*', policy: this.access },
      ...[...this.listenerAccess].map(([listener, policy]) => ({ listener, policy })),
    ];
  }

  /** Address rules of one listener, when it has its own. */
  setListenerAccess(listener: string, policy: AccessPolicy): void {
    this.listenerAccess.set(listener, policy);
  }

  /** At accept. A refusal is answered with `error` in place of the greeting, and closed. */
  admit(a: Admission): Refusal | null {
    const now = this.now();
    this.status.Connections++;
    const ip = a.ip;
    const known = this.ledger.get(ip) !== undefined;
    this.ledger.connected(ip, now);
    const refusal = this.refuseAtAccept(a, now, known);
    if (refusal !== null) {
      this.status.Aborted_connects++;
      this.countOutcome(refusal.outcome, now);
      const c = classify(refusal.outcome, refusal.error.code);
      if (c !== null) this.ledger.failure(ip, c, now);
      this.ledger.disconnected(ip);
      return refusal;
    }
    this.unauthenticated++;
    this.unauthenticatedByHost.set(ip, (this.unauthenticatedByHost.get(ip) ?? 0) + 1);
    return null;
  }

  private refuseAtAccept(a: Admission, now: number, known: boolean): Refusal | null {
    const ip = a.ip;
    const block = this.blocker.blocked(ip, now);
    if (block !== null) {
      return {
        outcome: 'blocked',
        error: formatServerError('ER_HOST_IS_BLOCKED', ip),
        message: `blocked (${block.reason}${block.until === null ? '' : ` until ${new Date(block.until).toISOString()}`})`,
      };
    }
    if (!a.local) {
      const policy = this.listenerAccess.get(a.listener) ?? this.access;
      const d = policy.decide(ip);
      if (d.verdict === 'deny') {
        this.status.Connection_errors_tcpwrap++;
        return {
          outcome: 'acl-denied',
          error: formatServerError('ER_HOST_NOT_PRIVILEGED', ip),
          message: d.rule === null ? 'denied by the default policy' : `denied by address rule ${d.rule + 1}`,
        };
      }
    }
    const shared = this.shared;
    if (!known && !a.local && shared !== null && !shared.up && shared.unknownHostsWhenDown === 'deny') {
      // Fail closed: without the fleet's state this instance cannot know whether the address is
      // blocked or counted elsewhere.
      return {
        outcome: 'acl-denied',
        error: formatServerError('ER_HOST_NOT_PRIVILEGED', ip),
        message: 'shared state unavailable and state.redis.unknownHostsWhenDown is deny',
      };
    }
    const max = this.config.max_connections;
    if (
      (max > 0 && this.sessions + this.unauthenticated >= max) ||
      this.unauthenticated >= this.config.maxUnauthenticated ||
      (this.unauthenticatedByHost.get(ip) ?? 0) >= this.config.maxUnauthenticatedPerHost
    ) {
      this.status.Connection_errors_max_connections++;
      return tooManyConnections('connection cap reached');
    }
    return null;
  }

  /**
   * The second stage of admission, after admit() let the address through: TCP-wrappers rules.
   * Synchronous (null) when the decision does not depend on the client's name — the rules hold
   * no hostname pattern, or an address pattern decides, or the name is cached; otherwise a
   * promise that waits for DNS, at most guard.resolve.timeoutMs. Also starts a background lookup
   * for the ledger's HOST column; that one never delays anything.
   */
  admitByName(a: Admission): Refusal | null | Promise<Refusal | null> {
    if (a.local) return null;
    const cached = this.resolver?.peek(a.ip);
    if (cached !== undefined) this.noteResolution(a.ip, cached);
    else if (this.resolver !== null) {
      void this.resolver.resolve(a.ip).then((res) => this.noteResolution(a.ip, res));
    }
    const w = this.wrappers;
    if (w === null) return null;
    const byAddress = w.decideByAddress(a.ip);
    if (byAddress !== null) return this.refusal(a, byAddress);
    if (cached !== undefined) return this.byName(a, w, cached.hostname, cached.timeout);
    if (this.resolver === null) return this.byName(a, w, null, null);
    return this.resolver.resolve(a.ip).then((res) => this.byName(a, w, res.hostname, res.timeout));
  }

  private byName(
    a: Admission,
    w: TcpWrappersPolicy,
    hostname: string | null,
    timeout: string | null,
  ): Refusal | null {
    // A lookup that ran out of time with onTimeout 'deny' refuses; 'no-name' decides as unnamed.
    if (timeout === 'deny') return this.refusal(a, { verdict: 'deny', rule: null });
    return this.refusal(a, w.decide({ address: a.ip, hostname }));
  }

  private refusal(a: Admission, d: TcpWrappersDecision): Refusal | null {
    if (d.verdict === 'allow') return null;
    this.status.Connection_errors_tcpwrap++;
    return {
      outcome: 'acl-denied',
      error: formatServerError('ER_HOST_NOT_PRIVILEGED', a.ip),
      message:
        d.rule === null
          ? 'denied: DNS timed out and guard.resolve.onTimeout is deny'
          : `denied by ${d.rule.file}:${d.rule.line} (${d.rule.text})`,
    };
  }

  /** A lookup finished: the ledger's HOST / HOST_VALIDATED, and its DNS failure class once. */
  private noteResolution(ip: string, res: HostResolution): void {
    if (this.ledger.get(ip) === undefined) return;
    this.ledger.setHost(ip, res.hostname, res.validated);
    if (!res.fromCache && res.failure !== null) this.ledger.failure(ip, res.failure, this.now());
  }

  /**
   * After the HandshakeResponse: per-user rules and max_user_connections, then the
   * connection-control delay this attempt must wait (0 for none).
   */
  identify(user: string, a: Admission, tls: ClientTls): { refusal: Refusal | null; delayMs: number } {
    const gate = this.gate(user, a, tls, true);
    if (gate.delayMs > 0) {
      // Parked: out of the unauthenticated caps while it waits, so that a patient guesser fleet
      // fills only the delayed pool, never the room legitimate clients log in through.
      a.parked = true;
      this.leaveUnauthenticated(a.ip);
    }
    return gate;
  }

  /**
   * What a login as `user` meets before its password is tried, for identify() and
   * identifyChangeUser(): the user rules, max_user_connections (when the attempt would be one
   * more connection of that user), and the connection-control delay, counted in the delayed pool.
   */
  private gate(
    user: string,
    a: Admission,
    tls: ClientTls,
    newConnection: boolean,
  ): { refusal: Refusal | null; delayMs: number } {
    const refuse = (refusal: Refusal) => ({ refusal, delayMs: 0 });
    const r = this.userRules.check(user, a.ip, a.local, tls);
    if (r !== null)
      return refuse({
        outcome: r.outcome,
        error: formatServerError('ER_ACCESS_DENIED_ERROR', user, a.ip, 'YES'),
        message: r.why,
      });
    if (newConnection && this.userFull(user)) return refuse(tooManyUserConnections(user));
    const delayMs = this.connectionControl.delayFor(user, a.ip);
    if (delayMs > 0) {
      if (this.delayed >= this.config.maxDelayedLogins) {
        // The pool is full: refuse at once. No password was tried, so nothing is learned by it.
        this.status.Connection_errors_max_connections++;
        return refuse(tooManyConnections('the pool of delayed logins is full (guard.maxDelayedLogins)'));
      }
      this.status.Connection_control_delay_generated++;
      this.onAction({
        kind: 'delayed',
        user,
        ip: a.ip,
        delayMs,
        failures: Math.max(
          this.connectionControl.failuresOf(user, a.ip),
          this.connectionControl.hostFailuresOf(a.ip),
        ),
      });
      this.delayed++;
    }
    return { refusal: null, delayMs };
  }

  /** The login delay is over: the attempt goes on, counted as unauthenticated again. */
  unpark(a: Admission): void {
    if (!a.parked) return;
    a.parked = false;
    this.delayed--;
    this.unauthenticated++;
    this.unauthenticatedByHost.set(a.ip, (this.unauthenticatedByHost.get(a.ip) ?? 0) + 1);
  }

  /** At the unauthenticated cap: the gateway sheds the oldest unfinished handshake first. */
  get unauthenticatedFull(): boolean {
    return this.unauthenticated >= this.config.maxUnauthenticated;
  }

  private leaveUnauthenticated(ip: string): void {
    const left = (this.unauthenticatedByHost.get(ip) ?? 1) - 1;
    if (left <= 0) this.unauthenticatedByHost.delete(ip);
    else this.unauthenticatedByHost.set(ip, left);
    this.unauthenticated = Math.max(0, this.unauthenticated - 1);
  }

  private countOutcome(outcome: LoginOutcome, now: number): void {
    if (outcome === 'shutdown') return;
    const t = now - (now % 60_000);
    let last = this.outcomes.at(-1);
    if (last === undefined || last.t !== t) {
      last = { t, ok: 0, failed: 0, refused: 0 };
      this.outcomes.push(last);
      if (this.outcomes.length > 60) this.outcomes.shift();
    }
    if (outcome === 'ok') last.ok++;
    else if (REFUSALS.has(outcome)) last.refused++;
    else last.failed++;
  }

  /**
   * The backend said OK to a login (or a change of user, `replacing` the session's user): it takes
   * its place under `user` now, or is refused with 1203 when max_user_connections is full (1040
   * when max_connections is, for a new connection). Checked
   * here, as MySQL checks it after authentication, and not only at identify(): logins that passed
   * identify() together would otherwise all get in, since none was counted until its OK. The count
   * goes up in this same step; finished() / changeUser() keep it, or give it back on failure.
   */
  claimUserConnection(a: Admission, user: string, replacing: string | null): Refusal | null {
    // A new connection (not a change of user) within max_connections: admit() counted it, but a
    // login parked in its connection-control delay was out of that count while it waited.
    const max = this.config.max_connections;
    if (replacing === null && max > 0 && this.sessions >= max) {
      this.status.Connection_errors_max_connections++;
      return tooManyConnections('max_connections reached while the login waited out its delay');
    }
    if (replacing === user) return null;
    if (this.userFull(user)) return tooManyUserConnections(user);
    this.sessionsByUser.set(user, (this.sessionsByUser.get(user) ?? 0) + 1);
    a.claimed = user;
    return null;
  }

  /** max_user_connections (0: no limit) is reached for `user`. */
  private userFull(user: string): boolean {
    const perUser = this.config.max_user_connections;
    return perUser > 0 && (this.sessionsByUser.get(user) ?? 0) >= perUser;
  }

  /** A claimed place not taken after all (the login failed past the backend's OK). */
  private releaseClaim(a: Admission): void {
    const user = a.claimed;
    if (user === undefined || user === null) return;
    a.claimed = null;
    this.dropUserConnection(user);
  }

  private dropUserConnection(user: string): void {
    const n = (this.sessionsByUser.get(user) ?? 1) - 1;
    if (n <= 0) this.sessionsByUser.delete(user);
    else this.sessionsByUser.set(user, n);
  }

  /** The login ended (any outcome after admit()). */
  finished(a: Admission, user: string | null, outcome: LoginOutcome, errorCode: number): void {
    const now = this.now();
    this.countOutcome(outcome, now);
    const ip = a.ip;
    if (a.parked) {
      a.parked = false;
      this.delayed--;
    } else this.leaveUnauthenticated(ip);
    if (outcome === 'ok') {
      if ((this.ledger.get(ip)?.sumConnectErrors ?? 0) > 0) this.shared?.connectOk(ip);
      this.ledger.success(ip, now);
      this.ledger.authenticated(user, ip);
      if (user !== null) {
        this.loginSucceeded(user, ip);
        if (a.claimed === user) a.claimed = null;
        else this.sessionsByUser.set(user, (this.sessionsByUser.get(user) ?? 0) + 1);
      }
      this.sessions++;
      this.status.Threads_connected = this.sessions;
      if (this.sessions > this.status.Max_used_connections) this.status.Max_used_connections = this.sessions;
      return;
    }
    this.releaseClaim(a);
    this.ledger.disconnected(ip);
    if (outcome === 'shutdown') return;
    this.status.Aborted_connects++;
    const c = classify(outcome, errorCode);
    if (c === null) return;
    if (c === 'local' && outcome !== 'too-many-connections') this.status.Connection_errors_internal++;
    this.recordFailure(ip, c, now);
    // Connection control counts failed authentications (MySQL: any failed connect after the user
    // is known), never moat's own trouble reaching the backend.
    if (user !== null && isLoginFailure(c)) this.loginFailed(user, ip);
  }

  private loginFailed(user: string, ip: string): void {
    const cc = this.connectionControl;
    if (cc.failed(user, ip)) this.shared?.loginFailed(ConnectionControl.key(user, ip));
    const n = cc.hostFailed(user, ip);
    if (n === 0) return;
    this.shared?.loginFailed(ConnectionControl.hostKey(ip));
    // Alert when the address reaches the threshold and each time its count doubles after: one
    // line per order of magnitude of a spray, not one per guess.
    const t = cc.current.perHostThreshold;
    if (n >= t && Number.isInteger(Math.log2(n / t))) {
      const users = cc.hostUsersOf(ip);
      this.log.warn(
        { ip, users, failures: n },
        `password spraying from ${ip}: ${users >= MAX_USERS_PER_HOST ? `${users}+` : users} users failed`,
      );
      this.onAction({ kind: 'spraying', ip, users, failures: n });
    }
  }

  private loginSucceeded(user: string, ip: string): void {
    const cc = this.connectionControl;
    if (cc.succeeded(user, ip)) this.shared?.loginOk(ConnectionControl.key(user, ip));
    const forgiven = cc.hostSucceeded(user, ip);
    if (forgiven > 0) this.shared?.loginForgiven(ConnectionControl.hostKey(ip), forgiven);
  }

  /**
   * A COM_CHANGE_USER arrived in a session logged in as `from`: the checks identify() makes for a
   * login (user rules, max_user_connections, the connection-control delay), so that a change of
   * user is no way around any of them. The session is already counted, so a change to the same
   * user is no extra connection of it, and a delayed change waits in the delayed pool without
   * leaving the unauthenticated count it is not in.
   */
  identifyChangeUser(
    from: string | null,
    to: string,
    a: Admission,
    tls: ClientTls,
  ): { refusal: Refusal | null; delayMs: number } {
    return this.gate(to, a, tls, from !== to);
  }

  /** A change-user's delay (from identifyChangeUser) is over, or its session closed during it. */
  changeUserDelayOver(): void {
    this.delayed = Math.max(0, this.delayed - 1);
  }

  /**
   * A COM_CHANGE_USER ended. A failure lands in the ledger with the class a failed login of that
   * kind gets, and counts for connection control like one; on success the session now counts
   * under the new user. (A failed change ends the session: sessionEnded() follows.)
   */
  changeUser(from: string | null, to: string, a: Admission, outcome: LoginOutcome, errorCode: number): void {
    const now = this.now();
    this.countOutcome(outcome, now);
    if (outcome !== 'ok') {
      this.releaseClaim(a);
      const c = classify(outcome, errorCode);
      if (c === null) return;
      this.recordFailure(a.ip, c, now);
      if (isLoginFailure(c)) this.loginFailed(to, a.ip);
      return;
    }
    // A change to the user the session already is proves nothing new: it must not clear the
    // address's failures (a sprayer holding one session would re-authenticate between guesses).
    if (from !== to) this.loginSucceeded(to, a.ip);
    this.ledger.changedUser(from, to, a.ip);
    if (from !== null) this.dropUserConnection(from);
    if (a.claimed === to) a.claimed = null;
    else this.sessionsByUser.set(to, (this.sessionsByUser.get(to) ?? 0) + 1);
  }

  /** A logged-in session ended; `aborted`: without COM_QUIT (Aborted_clients). */
  sessionEnded(a: Admission, user: string | null, aborted: boolean): void {
    this.sessions = Math.max(0, this.sessions - 1);
    this.status.Threads_connected = this.sessions;
    if (aborted) this.status.Aborted_clients++;
    this.ledger.loggedOut(user, a.ip);
    if (user !== null) this.dropUserConnection(user);
  }

  private recordFailure(ip: string, c: FailureClass, now: number): void {
    this.ledger.failure(ip, c, now);
    if (!countsAsConnectError(c)) return;
    const shared = this.shared;
    if (shared !== null) {
      const max = this.blocker.isExempt(ip) ? 0 : this.config.max_connect_errors;
      shared.connectError(ip, max, this.config.blocking.autoBlockDurationMs);
      // Up: the shared counter decides, atomically, for the whole fleet (its block arrives here
      // like any other instance's). Down: this instance decides on what it knows.
      if (shared.up) return;
    }
    this.enforceConnectErrors(ip, now);
  }

  /**
   * Blocks `ip` when its connect errors reached max_connect_errors, on local state alone (a single
   * instance, or a fleet member whose shared state is unavailable).
   */
  enforceConnectErrors(ip: string, now = this.now()): void {
    const row = this.ledger.get(ip);
    const max = this.config.max_connect_errors;
    if (
      row !== undefined &&
      max > 0 &&
      row.sumConnectErrors >= max &&
      this.blocker.blocked(ip, now) === null &&
      !this.blocker.isExempt(ip)
    ) {
      this.blocker.block(ip, 'max_connect_errors', 'moat', this.config.blocking.autoBlockDurationMs, now);
    }
  }

  /**
   * SET GLOBAL for the guard's MySQL-named settings. Returns false for a name the guard does not
   * own; throws RangeError for a value outside MySQL's range.
   */
  setVariable(name: string, value: number): boolean {
    const range = (min: number, max: number) => {
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new RangeError(`Variable '${name}' can't be set to the value of '${value}'`);
      }
    };
    switch (name) {
      case 'max_connect_errors':
      case 'max_connections':
      case 'max_user_connections':
        range(0, INT_MAX);
        this.config[name] = value;
        return true;
      case 'connection_control_failed_connections_threshold':
        range(0, INT_MAX);
        this.config[name] = value;
        this.connectionControl.update({ threshold: value });
        return true;
      case 'connection_control_min_connection_delay':
        range(1000, this.config.connection_control_max_connection_delay);
        this.config[name] = value;
        this.connectionControl.update({ minDelayMs: value });
        return true;
      case 'connection_control_max_connection_delay':
        range(this.config.connection_control_min_connection_delay, INT_MAX);
        this.config[name] = value;
        this.connectionControl.update({ maxDelayMs: value });
        return true;
      case 'connection_control_failed_connections_threshold_per_host':
        range(0, INT_MAX);
        this.config[name] = value;
        this.connectionControl.update({ perHostThreshold: value });
        return true;
      default:
        return false;
    }
  }

  /**
   * Manual block (admin), of `ip` in any spelling ('2001:DB8::1' blocks the client Node reports as
   * 2001:db8::1). Throws InvalidAddressError for text that is no IP address, ExemptHostError for
   * an exempt address.
   */
  block(ip: string, by: string, durationMs: number | null): Block {
    return this.blocker.block(clientAddress(ip), 'manual', by, durationMs, this.now());
  }

  /** A block by the detector (reason 'detection'); null for an exempt address. */
  blockForDetection(ip: string, rule: string, durationMs: number | null): Block | null {
    if (this.blocker.isExempt(ip)) return null;
    return this.blocker.block(ip, 'detection', `detect:${rule}`, durationMs, this.now());
  }

  /**
   * Unblocks one host, in any spelling, and clears its connect errors (so it is not re-blocked at
   * once). null when it was not blocked — text that is no IP address never is (the admin
   * statements and the API reject it first, with their own errors).
   */
  unblock(ip: string): Block | null {
    const a = parseClientAddress(ip);
    if (a instanceof InvalidAddressError) return null;
    this.ledger.resetConnectErrors(a);
    return this.blocker.unblock(a);
  }

  /** FLUSH HOSTS: the host cache is emptied and automatic blocks lifted, as in MySQL. */
  flushHosts(): void {
    this.ledger.flush();
    this.blocker.flushAutomatic();
    this.shared?.hostsFlushed();
  }
}

function isLoginFailure(c: FailureClass): boolean {
  return (
    c === 'authentication' ||
    c === 'default-database' ||
    c === 'no-auth-plugin' ||
    c === 'host-acl' ||
    c === 'ssl' ||
    c === 'handshake'
  );
}

/** ERR 1040 (the caller counts Connection_errors_max_connections); `message` says which cap, for the log. */
function tooManyConnections(message: string): Refusal {
  return { outcome: 'too-many-connections', error: formatServerError('ER_CON_COUNT_ERROR'), message };
}

function tooManyUserConnections(user: string): Refusal {
  return {
    outcome: 'user-limit',
    error: formatServerError('ER_TOO_MANY_USER_CONNECTIONS', user),
    message: 'max_user_connections reached',
  };
}
