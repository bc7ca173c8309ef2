// What one authentication plugin's exchange may do, as the driver (relay.ts) runs it: each plugin
// sees the packets of its own exchange from either leg and decides what to relay, rewrite or hold.
// The driver keeps what is common to all of them (OK, ERR, AuthSwitchRequest, sequence ids, the
// identity check after an OK); a plugin is picked by name at each AuthSwitchRequest.
import type { BackendIdentity } from '../../client/backend.ts';
import type { PacketChannel } from '../../net/channel.ts';
import type { ServerError } from '../../protocol/error-codes.ts';
import type { Packet } from '../../protocol/framer.ts';

export interface AuthLeg {
  channel: PacketChannel;
  /** TLS or unix socket. */
  secure: boolean;
}

/** What a plugin sees of the exchange it runs in. */
export interface AuthExchange {
  readonly client: AuthLeg;
  readonly backend: AuthLeg;
  /**
   * Sequence ids differ between the legs by `delta` (client = backend + delta); a plugin that adds
   * packets to one leg only (moat's own RSA key, or its key request to the backend) moves it.
   */
  delta: number;
  /** The nonce of the backend's last AuthSwitchRequest (or its greeting). */
  readonly nonce: Buffer;
  /** The identity rules of the client's login; null for moat's own logins. */
  readonly identity: BackendIdentity | null;
  /** The user name moat sent the backend, for moat's own 1045 text. */
  readonly user: string;
  /** Writes a packet to the client leg with sequence id `seq`. */
  toClient(payload: Buffer, seq: number): void;
  /** Writes to the backend leg the packet that arrived from the client with sequence id `clientSeq`. */
  toBackend(payload: Buffer, clientSeq: number): void;
}

/**
 * One plugin's handling of its exchange. Which packets arrive here: from the client, each of its
 * answers (scramble, password, key request); from the backend, every packet before the driver
 * looks at it, so that a plugin waiting for the answer to its own request can take it whatever
 * its header (OK, ERR and AuthSwitchRequest included).
 */
export interface AuthPlugin {
  fromClient(p: Packet, ex: AuthExchange): void | Promise<void>;
  /** True: the plugin took the packet. False: the driver handles it (relayed to the client). */
  fromBackend(p: Packet, ex: AuthExchange): boolean;
  /** The exchange is over: wipe whatever secret the plugin still holds. */
  end?(): void;
}

/**
 * Called at the AuthSwitchRequest that names the plugin: returns its handler for this exchange,
 * or throws an AuthRefusal / Denial when the exchange must not take place at all.
 */
export type PluginFactory = (ex: AuthExchange) => AuthPlugin;

export type AuthFailureReason =
  | 'backend-denied'
  | 'cleartext-refused'
  | 'protocol'
  /** The server authenticated moat's OS user (unix_socket, auth_socket), not the client. */
  | 'peer-credential'
  /** The account matched is limited to moat's own host, which the client is not on. */
  | 'local-account'
  /** The backend said OK, but the user's max_user_connections was full by then (1203). */
  | 'user-limit'
  /** ... or max_connections, for a login that waited out a delay outside the count (1040). */
  | 'connection-limit';

/** The exchange stops, and moat answers the client `error` itself. */
export class AuthRefusal extends Error {
  readonly error: ServerError;
  readonly reason: AuthFailureReason;
  constructor(error: ServerError, reason: AuthFailureReason) {
    super(error.message);
    this.error = error;
    this.reason = reason;
  }
}

/**
 * The login would inherit moat's identity: the backend session is ended and the client told the
 * 1045 the server would have told it directly (as `user`); the message is the reason, for the log.
 */
export class Denial extends Error {
  readonly reason: AuthFailureReason;
  readonly user: string;
  readonly clientAddress: string;
  constructor(reason: AuthFailureReason, why: string, user: string, clientAddress: string) {
    super(why);
    this.reason = reason;
    this.user = user;
    this.clientAddress = clientAddress;
  }
}

export function cleartextRefused(why: string): AuthRefusal {
  return new AuthRefusal(
    {
      code: 1251,
      state: '08004',
      message: `moat refuses to relay a cleartext password ${why}; connect with TLS (or over the unix socket)`,
    },
    'cleartext-refused',
  );
}
