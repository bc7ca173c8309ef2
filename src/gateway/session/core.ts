// What the phases of one session share. The Session (../session.ts) owns one SessionCore and hands
// it to each phase explicitly; the phases fill it in as the login learns who the client is, and the
// Session alone moves its state.
import type { Socket } from 'node:net';
import type { BackendLink } from '../../client/backend.ts';
import type { SqlModeReading } from '../../client/sql-mode.ts';
import type { Admission } from '../../guard/guard.ts';
import type { LoginRecord, SessionIdentity } from '../../model/events.ts';
import type { LoginOutcome } from '../../model/failure.ts';
import type { SessionState } from '../../model/session.ts';
import type { GatewayContext } from '../context.ts';
import { ClientLeg } from './client-leg.ts';

export interface SessionOrigin {
  address: string;
  port: number;
  /** Arrived over the unix-socket listener: local, treated as secure like MySQL does. */
  local: boolean;
  listener: string;
}

export interface SessionCore {
  readonly id: number;
  readonly ctx: GatewayContext;
  readonly origin: SessionOrigin;
  /** What the guard knows this connection by. */
  readonly admission: Admission;
  readonly client: ClientLeg;
  readonly identity: SessionIdentity;
  /** The client's connect attributes (audit's program name). */
  attributes: Array<[string, string]>;
  /** The user the guard counted this connection under (after identify()), else null. */
  guardUser: string | null;
  /** character_set_client's collation as the client last set it at login or change user. */
  clientCollation: number;
  /** The backend connection, once connectBackend returned it. */
  link: BackendLink | null;
  /** The capabilities in force on both legs once logged in. */
  capabilities: number;
  /**
   * How the session's server reads `"…"`, asked at login for a session the SQL firewall watches
   * (client/sql-mode.ts); null when not asked or not answered.
   */
  sqlMode: SqlModeReading | null;
}

/** The firewall's view of who this session is (SqlFirewall.attach). */
export function firewallLogin(core: SessionCore): {
  session: number;
  user: string;
  ip: string;
  local: boolean;
} {
  return { session: core.id, user: core.identity.user, ip: core.origin.address, local: core.origin.local };
}

/** A new session's core, before the client has said anything. */
export function sessionCore(
  id: number,
  socket: Socket,
  origin: SessionOrigin,
  ctx: GatewayContext,
): SessionCore {
  return {
    id,
    ctx,
    origin,
    admission: { ip: origin.address, local: origin.local, listener: origin.listener },
    client: new ClientLeg(socket, origin.local, ctx.config.limits.maxPacketSize),
    identity: {
      session: id,
      user: '',
      clientAddress: origin.address,
      clientPort: origin.port,
      database: null,
    },
    attributes: [],
    guardUser: null,
    clientCollation: 0,
    link: null,
    capabilities: 0,
    sqlMode: null,
  };
}

/** What a login or a change of user needs of the Session beyond the core. */
export interface SessionSteps {
  /** The state machine moves on. */
  enter(state: SessionState): void;
  isClosed(): boolean;
  close(reason: string): void;
  /** Connection control's delay; throws ChannelClosedError as soon as the client leaves. */
  delay(ms: number): Promise<void>;
}

/** One login record (a connect or a change of user), with what audit wants to know about it. */
export function loginRecord(
  core: SessionCore,
  r: {
    kind: 'connect' | 'change-user';
    outcome: LoginOutcome;
    user: string | null;
    errorCode: number;
    message: string;
  },
): LoginRecord {
  const attr = (name: string) => core.attributes.find(([k]) => k === name)?.[1] ?? null;
  const tls = core.client.tls;
  return {
    session: core.id,
    outcome: r.outcome,
    user: r.user,
    clientAddress: core.origin.address,
    clientPort: core.origin.port,
    errorCode: r.errorCode,
    message: r.message,
    kind: r.kind,
    database: core.identity.database,
    tlsVersion: tls?.version ?? null,
    tlsCipher: tls?.cipher ?? null,
    program: attr('program_name') ?? attr('_program_name'),
  };
}
