// The gateway: listeners, the live sessions, accept or refuse, and an orderly stop. It decides
// nothing beyond the guard's answers and holds no subsystem: what happens to its events (audit,
// detection, digests, metrics) is wired by src/app/, which hands it a context and an observer.

import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Guard, Refusal } from '../guard/guard.ts';
import { AccessPolicy } from '../guard/rules.ts';
import { type Endpoint, formatEndpoint } from '../net/endpoint.ts';
import { FIRST_SESSION_ID } from '../protocol/follow/kill.ts';
import { writeErr } from '../protocol/packets/result.ts';
import type { GatewayContext } from './context.ts';
import { type Accepted, Listener } from './listener.ts';
import { Session } from './session.ts';

/** What the gateway asks of, and tells, whoever runs it. Called on the session's own tick. */
export interface GatewayObserver {
  /**
   * A refusal for every new connection while it returns one (strict audit with an unwritable
   * log); null admits as usual. Asked once per accepted connection, before the guard.
   */
  refuseAll(): Refusal | null;
  /** A session is over (after its last event), before it leaves `sessions`. */
  sessionEnded(s: Session): void;
}

/** The session context without what only the gateway knows (its sessions, whether it stops). */
export type SessionServices = Omit<GatewayContext, 'shuttingDown' | 'backendThreadOf'>;

export class Gateway {
  readonly sessions = new Map<number, Session>();
  private readonly config: Config;
  private readonly log: Logger;
  private readonly guard: Guard;
  private readonly observer: GatewayObserver;
  private readonly ctx: GatewayContext;
  private listeners: Listener[] = [];
  private nextId = FIRST_SESSION_ID;
  private stopping = false;
  private drained: (() => void) | null = null;

  constructor(config: Config, log: Logger, services: SessionServices, observer: GatewayObserver) {
    this.config = config;
    this.log = log;
    this.guard = services.guard;
    this.observer = observer;
    this.ctx = {
      ...services,
      shuttingDown: () => this.stopping,
      backendThreadOf: (id, caller) => {
        if (!config.backend.killMapping) return null;
        // Only a session of the caller's own user: the server would refuse another's (1095) and
        // its answer would name that session's backend thread, which is none of the caller's business.
        const s = this.sessions.get(id);
        return s !== undefined && s.user === caller ? s.backendThread : null;
      },
    };
  }

  /** The shared session context (the TLS material and the learned backend profile among it). */
  get context(): GatewayContext {
    return this.ctx;
  }

  /**
   * Opens every configured listener. All or nothing: a half-open gateway (one listener up,
   * another refused) would keep the process alive without doing what it was configured to do.
   */
  async listen(): Promise<void> {
    try {
      for (const lc of this.config.listeners) await this.open(lc);
      this.applyListenerAccess(this.config.listeners);
    } catch (e) {
      await Promise.all(this.listeners.map((l) => l.close()));
      this.listeners = [];
      throw e;
    }
  }

  private async open(lc: Config['listeners'][number]): Promise<void> {
    const l = new Listener(
      lc,
      {
        onAccept: (a) => this.accept(a),
        onRejected: (address, reason) => {
          // A trusted balancer's connection without a valid PROXY header: MySQL's
          // Connection_errors_peer_address is the nearest (the peer's address is unusable).
          this.guard.status.Connection_errors_peer_address++;
          this.log.warn({ address, reason }, 'connection rejected before greeting');
        },
        onAcceptError: (err) => {
          this.guard.status.Connection_errors_accept++;
          this.log.error({ err: err.message }, 'accept failed');
        },
      },
      this.config.limits.handshakeTimeoutMs,
    );
    await l.listen();
    this.listeners.push(l);
    this.log.info({ listen: formatEndpoint(l.address()) }, 'listening');
  }

  /** Per-listener address rules (listeners.N.access), at start and on reload. */
  applyListenerAccess(listeners: Config['listeners']): void {
    for (const l of this.listeners) {
      const lc = listeners.find((x) => formatEndpoint(x.address) === l.name);
      if (lc?.access !== undefined)
        this.guard.setListenerAccess(l.name, new AccessPolicy(lc.access.default, lc.access.rules));
    }
  }

  /** Bound addresses, in configuration order. */
  addresses(): Endpoint[] {
    return this.listeners.map((l) => l.address());
  }

  /** Bytes relayed by the live sessions so far. */
  liveBytes(): { fromClient: number; fromBackend: number } {
    const sum = { fromClient: 0, fromBackend: 0 };
    for (const s of this.sessions.values()) {
      const b = s.relayBytes();
      sum.fromClient += b.fromClient;
      sum.fromBackend += b.fromBackend;
    }
    return sum;
  }

  /** Ends one session (admin KILL, a detection rule); false when there is none with that id. */
  kill(id: number, reason: string): boolean {
    const s = this.sessions.get(id);
    if (s === undefined) return false;
    s.close(reason);
    return true;
  }

  /** Every logged-in session closes at its next idle point (strict audit). */
  drainLoggedIn(reason: string, evenInTransaction: boolean): void {
    for (const s of this.sessions.values()) if (s.loggedIn) s.drain(reason, evenInTransaction);
  }

  /** A SQL-firewall change applies to live sessions at their next statement. */
  refreshSqlFirewall(): void {
    for (const s of this.sessions.values()) s.refreshSqlFirewall();
  }

  private accept(a: Accepted): void {
    if (this.stopping) {
      a.socket.destroy();
      return;
    }
    const id = this.nextId++;
    if (this.nextId > 0xfffffff0) this.nextId = FIRST_SESSION_ID;
    const o = a.origin;
    const admission = { ip: o.address, local: o.local, listener: o.listener };
    const closed = this.observer.refuseAll();
    if (closed !== null) {
      this.refuse(a, id, closed);
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
    this.ctx.onLogin({
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
    const session = new Session(id, a.socket, a.origin, this.ctx, (s) => {
      this.observer.sessionEnded(s);
      this.sessions.delete(s.id);
      if (this.sessions.size === 0) this.drained?.();
    });
    this.sessions.set(id, session);
    void session.run();
  }

  /**
   * Graceful stop: close listeners, let sessions finish for up to `timeoutMs`, then close the rest.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
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
  }
}
