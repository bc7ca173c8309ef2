// One client connection, from accept to close, as an explicit state machine:
//
//   greeting ─► [tls] ─► handshake ─► backend ─► auth ─► command ◄─► change-user
//       └──────────┴──────────┴──────────┴──────────┴──► closed
//
// This class owns the state and the lifecycle (timers, the guard's bookkeeping, drain, close);
// each phase is a module of its own under session/, handed the SessionCore it works on:
// login.ts (greeting to OK), command.ts (the relay and the SQL firewall's hold-back),
// change-user.ts (COM_CHANGE_USER). The auth exchange itself is in auth/.
import type { Socket } from 'node:net';
import type { SessionIdentity } from '../model/events.ts';
import type { LoginOutcome } from '../model/failure.ts';
import type { SessionInfo, SessionState } from '../model/session.ts';
import { ChannelClosedError } from '../net/channel.ts';
import { formatServerError } from '../protocol/error-codes.ts';
import { writeErr } from '../protocol/packets/result.ts';
import type { GatewayContext } from './context.ts';
import { changeUser } from './session/change-user.ts';
import { CommandPhase } from './session/command.ts';
import {
  loginRecord,
  type SessionCore,
  type SessionOrigin,
  type SessionSteps,
  sessionCore,
} from './session/core.ts';
import { login } from './session/login.ts';
import { LoginFailure, loginFailureOf } from './session/login-failure.ts';

export type { SessionOrigin } from './session/core.ts';

export class Session {
  readonly id: number;
  readonly ctx: GatewayContext;
  readonly origin: SessionOrigin;
  private current: SessionState = 'greeting';
  private readonly core: SessionCore;
  /** The handshake timeout, until the command phase. */
  private timer: NodeJS.Timeout | null = null;
  /** Connection control's delay, while one runs. */
  private delayTimer: NodeJS.Timeout | null = null;
  /** The login result was reported to the guard. */
  private guardDone = false;
  /** The session ended with COM_QUIT (not counted in Aborted_clients). */
  private quit = false;
  /** When the last command ended (or the login, before any): PROCESSLIST's TIME counts from it. */
  private lastActivity = Date.now();
  private command: CommandPhase | null = null;
  private readonly onClosed: (s: Session) => void;
  /** Reached the command phase at some point (it stays true after the session closed). */
  everLoggedIn = false;

  constructor(
    id: number,
    socket: Socket,
    origin: SessionOrigin,
    ctx: GatewayContext,
    onClosed: (s: Session) => void,
  ) {
    this.id = id;
    this.origin = origin;
    this.ctx = ctx;
    this.onClosed = onClosed;
    this.core = sessionCore(id, socket, origin, ctx);
  }

  get state(): SessionState {
    return this.current;
  }

  get identity(): SessionIdentity {
    return this.core.identity;
  }

  get tls(): { version: string; cipher: string } | null {
    return this.core.client.tls;
  }

  get user(): string | null {
    return this.core.identity.user === '' ? null : this.core.identity.user;
  }

  /** The backend's thread id for this session once logged in (what CONNECTION_ID() returns). */
  get backendThread(): number | null {
    return this.loggedIn && this.core.link !== null ? this.core.link.greeting.connectionId : null;
  }

  /** Logged in (the command phase, or re-authenticating). */
  get loggedIn(): boolean {
    return this.current === 'command' || this.current === 'change-user';
  }

  /** The client ended the session with COM_QUIT. */
  get quitReceived(): boolean {
    return this.quit;
  }

  /** Still before its HandshakeResponse: the kind of connection shed first under a flood. */
  get handshaking(): boolean {
    // A login parked in its connection-control delay is not in the unauthenticated count.
    if (this.core.admission.parked === true) return false;
    return this.current === 'greeting' || this.current === 'tls' || this.current === 'handshake';
  }

  isClosed(): boolean {
    return this.current === 'closed';
  }

  /** Runs the login; on success the relay takes over and this returns. */
  async run(): Promise<void> {
    const limit = this.ctx.config.limits.handshakeTimeoutMs;
    this.timer = setTimeout(() => this.abortLogin('timeout'), limit);
    const steps = this.steps((ms) => this.loginDelay(ms));
    try {
      const authenticated = await login(this.core, steps);
      if (authenticated) this.enterCommandPhase();
    } catch (e) {
      this.failLogin(e);
    } finally {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** The state machine and timers as a phase sees them (`delay`: the login's, or a change's). */
  private steps(delay: (ms: number) => Promise<void>): SessionSteps {
    return {
      enter: (state) => {
        this.current = state;
      },
      isClosed: () => this.isClosed(),
      close: (reason) => this.close(reason),
      delay,
    };
  }

  private enterCommandPhase(): void {
    const core = this.core;
    const clientRest = core.client.channel.detach();
    const backendRest = core.link!.channel.detach();
    if (clientRest.partial || backendRest.partial) {
      this.close('packets after authentication before the OK');
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.current = 'command';
    this.everLoggedIn = true;
    this.guardDone = true;
    this.ctx.guard.finished(core.admission, core.guardUser, 'ok', 0);
    this.ctx.onLogin(
      loginRecord(core, {
        kind: 'connect',
        outcome: 'ok',
        user: core.identity.user,
        errorCode: 0,
        message: 'login ok',
      }),
    );
    const command = new CommandPhase(core, {
      onEvent: (e) => {
        this.lastActivity = Date.now();
        if (e.command === 'Quit') this.quit = true;
        this.ctx.onCommand(e);
      },
      onChangeUser: (bytes) => {
        const steps = this.steps((ms) => this.waitUnlessClosed(ms));
        changeUser(core, command, bytes, steps).catch((e: unknown) =>
          this.close(`change user failed: ${(e as Error).message}`),
        );
      },
      onClose: (side, error) => this.closed(side === 'client' ? 'client closed' : 'backend closed', error),
      close: (reason) => this.close(reason),
      isClosed: () => this.isClosed(),
    });
    this.command = command;
    command.start(clientRest.leftover, backendRest.leftover);
  }

  /** Bytes relayed in the command phase so far, each way. */
  relayBytes(): { fromClient: number; fromBackend: number } {
    const relay = this.command?.relay;
    return { fromClient: relay?.bytesFromClient ?? 0, fromBackend: relay?.bytesFromBackend ?? 0 };
  }

  /** Matches this session to its SQL firewall profiles again (a profile changed). */
  refreshSqlFirewall(): void {
    this.command?.refreshSqlFirewall();
  }

  /** Ends an unfinished handshake to make room (the unauthenticated cap was reached). */
  shed(): void {
    this.failLogin(
      new LoginFailure(
        'timeout',
        formatServerError('ER_NET_READ_INTERRUPTED'),
        'shed: the oldest unfinished handshake when the unauthenticated cap was reached',
      ),
    );
  }

  /** One PROCESSLIST row: what the session is doing, as MySQL's SHOW PROCESSLIST shows it. */
  describe(now = Date.now()): SessionInfo {
    const state = this.current;
    const busy = state === 'command' && this.command !== null && this.command.follower.queue.length > 0;
    const command =
      state === 'command' ? (busy ? 'Query' : 'Sleep') : state === 'change-user' ? 'Change user' : 'Connect';
    const tls = this.tls;
    return {
      id: this.id,
      user: this.user,
      host: this.origin.local ? 'localhost' : `${this.origin.address}:${this.origin.port}`,
      db: this.core.identity.database,
      command,
      timeSeconds: Math.floor((now - this.lastActivity) / 1000),
      state,
      tls: tls === null ? null : `${tls.version} ${tls.cipher}`,
    };
  }

  /**
   * Connection control's delay: a timer, before the backend is contacted. The handshake timeout
   * stops meanwhile (MySQL's connect_timeout does not cover the plugin's wait either) and starts
   * again after; a client that leaves during the delay ends it at once.
   */
  private async loginDelay(ms: number): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.waitUnlessClosed(ms);
    this.timer = setTimeout(() => this.abortLogin('timeout'), this.ctx.config.limits.handshakeTimeoutMs);
  }

  /** Waits `ms`, or throws ChannelClosedError as soon as the client leaves. */
  private async waitUnlessClosed(ms: number): Promise<void> {
    const socket = this.core.client.socket;
    let onClose = (): void => {};
    await new Promise<void>((resolve) => {
      this.delayTimer = setTimeout(resolve, ms);
      onClose = () => resolve();
      socket.once('close', onClose);
    });
    socket.off('close', onClose);
    if (this.delayTimer !== null) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    if (socket.destroyed || this.isClosed())
      throw new ChannelClosedError('client closed during the login delay');
  }

  private abortLogin(outcome: LoginOutcome): void {
    if (this.current === 'command' || this.current === 'closed') return;
    this.failLogin(
      new LoginFailure(outcome, formatServerError('ER_NET_READ_INTERRUPTED'), 'handshake timed out'),
    );
  }

  private failLogin(e: unknown): void {
    if (this.current === 'closed') return;
    const core = this.core;
    let failure = loginFailureOf(e);
    if (failure === null) {
      this.ctx.log.error({ session: this.id, err: e }, 'unexpected error during login');
      failure = new LoginFailure(
        'handshake-error',
        formatServerError('ER_UNKNOWN_ERROR', 'moat: internal error during login'),
        String(e),
      );
    }
    const client = core.client;
    if (failure.error !== null && !failure.told && !client.socket.destroyed) {
      // After the client's last packet, even one cut short or refused for its size.
      const last = client.channel.pendingSeq(client.seq + 1) ?? client.seq;
      client.socket.write(writeErr(failure.error, (last + 1) & 0xff));
    }
    const errorCode = failure.error?.code ?? 0;
    if (!this.guardDone) {
      this.guardDone = true;
      this.ctx.guard.finished(core.admission, core.guardUser, failure.outcome, errorCode);
    }
    this.ctx.onLogin(
      loginRecord(core, {
        kind: 'connect',
        outcome: failure.outcome,
        user: this.user,
        errorCode,
        message: failure.message,
      }),
    );
    this.close(failure.message);
  }

  /**
   * Graceful shutdown: a session closes as soon as it is between commands and outside a
   * transaction (a pool's idle connection closes at once; a running query finishes first).
   * A login in progress is refused with ER_SERVER_SHUTDOWN.
   */
  drain(reason = 'moat shutting down', evenInTransaction = false): void {
    if (this.current === 'command' && this.command !== null) {
      const { relay, follower } = this.command;
      const tryClose = () => {
        if (relay.isIdle(follower) && (evenInTransaction || !follower.inTransaction)) this.close(reason);
      };
      follower.onIdle = () => setImmediate(tryClose);
      tryClose();
      return;
    }
    if (this.current !== 'closed' && this.current !== 'change-user') {
      this.failLogin(
        new LoginFailure('shutdown', formatServerError('ER_SERVER_SHUTDOWN'), 'moat shutting down'),
      );
    }
  }

  /** Ends the session from moat's side (login failure, shutdown, KILL). */
  close(reason: string): void {
    if (this.current === 'closed') return;
    const s = this.core.client.socket;
    s.end();
    // Destroyed if the peer does not close within 2 s; the timer goes with the socket, so closed
    // sessions are not kept reachable for those 2 s under fast churn.
    const t = setTimeout(() => s.destroy(), 2000).unref();
    s.once('close', () => clearTimeout(t));
    this.core.link?.channel.socket.destroy();
    this.closed(reason, null);
  }

  private closed(reason: string, error: Error | null): void {
    if (this.current === 'closed') return;
    const wasCommand = this.loggedIn;
    this.current = 'closed';
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.delayTimer !== null) clearTimeout(this.delayTimer);
    this.command?.relay.dispose();
    this.core.link?.channel.socket.destroy();
    const { admission, guardUser } = this.core;
    if (wasCommand) this.ctx.guard.sessionEnded(admission, guardUser, !this.quit);
    else if (!this.guardDone) {
      // Closed before the login ended (a close() from outside): still one finished attempt.
      this.guardDone = true;
      this.ctx.guard.finished(admission, guardUser, 'client-gone', 0);
    }
    if (wasCommand) this.ctx.log.debug({ session: this.id, reason, err: error?.message }, 'session closed');
    this.onClosed(this);
  }
}
