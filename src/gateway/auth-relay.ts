// Relays an authentication exchange between the client and the backend, packet by packet, until
// the backend says OK or ERR: after the login's first answer, and again for COM_CHANGE_USER.
// Sequence ids differ between the legs by `delta` (client = backend + delta), because moat's own
// AuthSwitchRequest added a round trip on the client leg.
//
// moat does not know passwords and does not need to: every plugin's exchange passes through.
// Two places need a decision:
//  * mysql_clear_password: relayed only when both legs are encrypted (TLS) or local (unix socket).
//  * caching_sha2_password full authentication: a client on a secure leg answers "perform full
//    authentication" with its cleartext password. If the backend leg is not secure, moat asks the
//    backend for its RSA public key and sends the password encrypted with it (RSA-OAEP, XORed with
//    the nonce, as the client library would), so the password never crosses a network in clear.
//    A plain client asks for an RSA key instead; if the backend leg is TLS, moat answers with its
//    own key (rsa-key.ts), decrypts, and forwards the password inside the backend's TLS.
//
// And one rule (issue 16): a client must never log in as moat. The server authenticates the
// connection it sees, which is moat's:
//  * peer-credential plugins (MariaDB unix_socket, MySQL auth_socket) read SO_PEERCRED of a
//    unix-socket connection — moat's OS user. They never read a packet, so the server sends no
//    AuthSwitchRequest for them: an account IDENTIFIED VIA unix_socket answers moat's
//    HandshakeResponse (plugin moat_reauth, no auth data) with OK at once. Any OK before the
//    client has answered is refused: every password plugin, even for an empty password, first
//    switches from moat_reauth and reads the client's answer.
//  * a chain like MariaDB's default root@localhost (mysql_native_password OR unix_socket) reads
//    the client's answer, fails it, then passes unix_socket silently: the OK follows a wrong
//    password. Such accounts are limited to localhost; with the PROXY protocol off, moat asks the
//    backend which account it matched (CURRENT_USER()) and refuses, for a non-local client, one
//    whose host part would not admit the client's address (matched-account.ts).
import { constants, privateDecrypt } from 'node:crypto';
import { type BackendIdentity, identityOf } from '../client/backend.ts';
import {
  currentUser,
  hostAdmits,
  type MatchedAccount,
  MatchedAccountError,
} from '../client/matched-account.ts';
import { InvalidAddressError, parseClientAddress } from '../model/address.ts';
import { type PacketChannel, ReadCancelledError } from '../net/channel.ts';
import { sealPassword, xor } from '../protocol/client-auth.ts';
import { Header } from '../protocol/constants.ts';
import type { ServerError } from '../protocol/error-codes.ts';
import type { Packet } from '../protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../protocol/packets/auth.ts';
import { readErr, writeErr } from '../protocol/packets/result.ts';
import { moatRsaKey, type RsaKey } from './rsa-key.ts';

export interface AuthLeg {
  channel: PacketChannel;
  /** TLS or unix socket. */
  secure: boolean;
}

export interface AuthRelayInput {
  client: AuthLeg;
  backend: AuthLeg;
  delta: number;
  /** The seq of the packet moat last wrote to the backend (its HandshakeResponse or CHANGE_USER). */
  backendSeq: number;
  /** Plugin and nonce in force on the backend leg. */
  plugin: string;
  nonce: Buffer;
  /** The identity rules of a client's login; by default those connectBackend recorded. */
  identity?: BackendIdentity | null;
  /** The user name the client gave, for moat's own 1045 text. */
  user?: string;
}

export type AuthOutcome =
  | { ok: true; plugin: string }
  /**
   * `relayed`: the client already has its ERR — the backend's, or moat's own refusal of a login
   * that would inherit moat's identity, whose `error.message` is then the reason, for the log;
   * otherwise moat must send `error`.
   */
  | {
      ok: false;
      error: ServerError;
      relayed: boolean;
      reason: AuthFailureReason;
      /** The sequence id for moat's own ERR on the client leg, when `relayed` is false. */
      seq: number;
    };

export type AuthFailureReason =
  | 'backend-denied'
  | 'cleartext-refused'
  | 'protocol'
  /** The server authenticated moat's OS user (unix_socket, auth_socket), not the client. */
  | 'peer-credential'
  /** The account matched is limited to moat's own host, which the client is not on. */
  | 'local-account';

export class AuthRefusal extends Error {
  readonly error: ServerError;
  readonly reason: AuthFailureReason;
  constructor(error: ServerError, reason: AuthFailureReason) {
    super(error.message);
    this.error = error;
    this.reason = reason;
  }
}

const CACHING_SHA2 = 'caching_sha2_password';
const PERFORM_FULL_AUTH = 0x04;
const REQUEST_PUBLIC_KEY = Buffer.from([0x02]);
const MORE_DATA = Buffer.from([Header.AUTH_MORE_DATA]);
const COM_QUIT = writeRaw(Buffer.from([0x01]), 0);

/** Server plugins that authenticate the socket's peer process (SO_PEERCRED), never the client. */
const PEER_CREDENTIAL_PLUGINS = new Set(['unix_socket', 'auth_socket']);

/** ER_ACCESS_DENIED_ERROR with the server's own text, naming the client's address. */
function accessDenied(user: string, address: string, usedPassword: boolean) {
  return {
    code: 1045,
    state: '28000',
    message: `Access denied for user '${user}'@'${address}' (using password: ${usedPassword ? 'YES' : 'NO'})`,
  };
}

function cleartextRefused(why: string): AuthRefusal {
  return new AuthRefusal(
    {
      code: 1251,
      state: '08004',
      message: `moat refuses to relay a cleartext password ${why}; connect with TLS (or over the unix socket)`,
    },
    'cleartext-refused',
  );
}

export async function relayAuth(input: AuthRelayInput): Promise<AuthOutcome> {
  const { client, backend } = input;
  let delta = input.delta;
  let plugin = input.plugin;
  let nonce = input.nonce;
  // The seq of the last packet on the client leg, either way: moat's own ERR must follow it.
  let clientLegSeq = (input.delta + input.backendSeq) & 0xff;
  let fullAuthPending = false;
  // moat answered a plain client's key request with its own key: the next client packet is the
  // password sealed with it.
  let sealedPending = false;
  // The client's cleartext password while moat fetches the backend's RSA key, and its seq.
  const held: { password: Buffer | null; seq: number } = { password: null, seq: 0 };
  let done = false;
  let clientFailure: Error | null = null;
  const identity = input.identity === undefined ? identityOf(backend.channel) : input.identity;
  // The client answered the backend at least once, and with a non-empty answer.
  let clientAnswered = false;
  let clientSentPassword = identity?.passwordGiven === true;

  const toClient = (payload: Buffer, seq: number) => {
    clientLegSeq = seq & 0xff;
    client.channel.write(writeRaw(payload, clientLegSeq));
  };
  const toBackend = (payload: Buffer, clientSeq: number) =>
    backend.channel.write(writeRaw(payload, clientSeq - delta));

  const onClientPacket = async (p: Packet): Promise<void> => {
    clientLegSeq = p.seq;
    clientAnswered = true;
    if (p.payload.length > 0) clientSentPassword = true;
    if (sealedPending) {
      sealedPending = false;
      const key = await moatRsaKey();
      const password = unseal(p.payload, nonce, key);
      toBackend(password, p.seq);
      password.fill(0);
      return;
    }
    if (!fullAuthPending) {
      toBackend(p.payload, p.seq);
      return;
    }
    fullAuthPending = false;
    if (p.payload.length === 1 && p.payload[0] === 0x02) {
      if (!backend.secure) {
        toBackend(p.payload, p.seq); // the backend sends its key; the client encrypts for it
        return;
      }
      // On a TLS leg the backend would read 0x02 as the password itself: answer with moat's key.
      const key = await moatRsaKey();
      toClient(Buffer.concat([MORE_DATA, key.publicPem]), p.seq + 1);
      // Two packets more on the client leg than on the backend's.
      delta += 2;
      sealedPending = true;
      return;
    }
    if (!client.secure) throw cleartextRefused('that arrived over an unencrypted client connection');
    if (backend.secure) {
      toBackend(p.payload, p.seq);
      return;
    }
    held.password = Buffer.from(p.payload);
    held.seq = p.seq;
    toBackend(REQUEST_PUBLIC_KEY, p.seq);
  };

  const clientLoop = (async () => {
    while (!done) {
      const p = await client.channel.read();
      await onClientPacket(p);
    }
  })().catch((e: unknown) => {
    if (e instanceof ReadCancelledError) return;
    clientFailure = e as Error;
    backend.channel.cancelRead();
  });

  const failed = (error: ServerError, relayed: boolean, reason: AuthFailureReason): AuthOutcome => ({
    ok: false,
    error,
    relayed,
    reason,
    seq: (clientLegSeq + 1) & 0xff,
  });
  // moat's own 1045, as the server would word it for the client's address; the outcome carries
  // the reason instead, for the log and the ledger.
  const deny = (id: BackendIdentity, user: string, reason: AuthFailureReason, why: string): AuthOutcome => {
    const error = accessDenied(user, id.clientAddress, clientSentPassword);
    clientLegSeq = (clientLegSeq + 1) & 0xff;
    client.channel.write(writeErr(error, clientLegSeq));
    return failed({ ...error, message: why }, true, reason);
  };

  try {
    for (;;) {
      let p: Packet;
      try {
        p = await backend.channel.read();
      } catch (e) {
        if (clientFailure !== null) throw clientFailure;
        throw e;
      }
      const first = p.payload[0];
      if (held.password !== null) {
        const password = held.password;
        held.password = null;
        if (first === Header.ERR) {
          password.fill(0);
          // No RSA key on the backend (MySQL answers the request with 1045): relay its verdict.
          toClient(p.payload, held.seq + 1);
          return failed(readErr(p.payload), true, 'backend-denied');
        }
        // The backend's public key (AuthMoreData) in answer to moat's request.
        const pem = first === Header.AUTH_MORE_DATA ? p.payload.subarray(1) : p.payload;
        try {
          backend.channel.write(writeRaw(sealPassword(password, nonce, pem), p.seq + 1));
        } finally {
          password.fill(0);
        }
        // Two packets more on the backend leg than on the client's.
        delta = held.seq + 1 - (p.seq + 2);
        continue;
      }
      if (first === Header.OK) {
        if (identity !== null) {
          const refusal = await identityRefusal(identity, backend.channel, clientAnswered);
          if (refusal !== null) {
            // The backend session is logged in as someone the client is not: end it, and tell
            // the client what the server would have told it directly.
            const account = refusal.account ?? (await matched(backend.channel, identity));
            backend.channel.write(COM_QUIT);
            return deny(identity, account.given, refusal.reason, refusal.why);
          }
        }
        toClient(p.payload, p.seq + delta);
        return { ok: true, plugin };
      }
      if (first === Header.ERR) {
        toClient(p.payload, p.seq + delta);
        return failed(readErr(p.payload), true, 'backend-denied');
      }
      if (first === Header.AUTH_SWITCH) {
        const req = readAuthSwitchRequest(p.payload);
        if (identity?.unixBackend === true && PEER_CREDENTIAL_PLUGINS.has(req.plugin)) {
          // A client-side peer-credential step (MySQL's auth_socket with a client plugin): the
          // server would authenticate moat's OS user whatever the client answers.
          // Not logged in yet: the user name is the one moat sent in its HandshakeResponse.
          backend.channel.write(COM_QUIT);
          return deny(
            identity,
            input.user ?? identity.user,
            'peer-credential',
            `refused: the backend asked for ${req.plugin}, which would authenticate moat's OS user`,
          );
        }
        if (req.plugin === 'mysql_clear_password' && !(client.secure && backend.secure)) {
          throw cleartextRefused(
            `(mysql_clear_password) over ${client.secure ? 'an unencrypted backend connection' : 'an unencrypted client connection'}`,
          );
        }
        plugin = req.plugin;
        nonce = nonceOf(req.data);
        toClient(p.payload, p.seq + delta);
        continue;
      }
      if (
        first === Header.AUTH_MORE_DATA &&
        plugin === CACHING_SHA2 &&
        p.payload.length === 2 &&
        p.payload[1] === PERFORM_FULL_AUTH
      ) {
        fullAuthPending = true;
      }
      toClient(p.payload, p.seq + delta);
    }
  } catch (e) {
    if (e instanceof AuthRefusal) return failed(e.error, false, e.reason);
    throw e;
  } finally {
    done = true;
    held.password?.fill(0);
    client.channel.cancelRead();
    await clientLoop;
  }
}

/** The inverse, for a password a client sealed with moat's own key: cleartext with its NUL. */
function unseal(sealed: Buffer, nonce: Buffer, key: RsaKey): Buffer {
  let mixed: Buffer;
  try {
    mixed = privateDecrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, sealed);
  } catch {
    throw new AuthRefusal(
      { code: 1045, state: '28000', message: 'moat could not decrypt the password sent with its RSA key' },
      'protocol',
    );
  }
  try {
    return xor(mixed, nonce);
  } finally {
    mixed.fill(0);
  }
}

/** Why a login the backend accepted must not go through, or null. */
async function identityRefusal(
  identity: BackendIdentity,
  backend: PacketChannel,
  clientAnswered: boolean,
): Promise<{ reason: AuthFailureReason; why: string; account: MatchedAccount | null } | null> {
  if (!clientAnswered) {
    return {
      account: null,
      reason: 'peer-credential',
      why:
        'refused: the backend accepted the login before the client answered (a peer-credential ' +
        "account such as unix_socket, which authenticates moat's OS user)",
    };
  }
  if (identity.serverSeesClient || identity.clientLocal || identity.localAccounts === 'allow') return null;
  // The server sees moat's address for this login; when that is the client's own address (a client
  // on moat's host, from the address moat reaches the server from), it matched the account as it
  // would have directly, and no round trip is needed.
  if (sameAddress(backend.socket.localAddress, identity.clientAddress)) return null;
  let account: MatchedAccount;
  try {
    account = await currentUser(backend);
  } catch (e) {
    if (!(e instanceof MatchedAccountError)) throw e;
    // E.g. 1820 for an expired password (the session may only change it): an account moat cannot
    // name may be root@localhost, so it is refused like one.
    return {
      account: { user: identity.user, host: '', given: identity.user },
      reason: 'local-account',
      why: `refused: moat could not learn which account the backend matched (${e.message})`,
    };
  }
  if (hostAdmits(account.host, identity.clientAddress)) return null;
  return {
    account,
    reason: 'local-account',
    why:
      `refused: the backend matched '${account.user}'@'${account.host}', an account limited to ` +
      "moat's own host (backend.proxyProtocol is off, backend.localAccounts is refuse)",
  };
}

/** The matched account for moat's 1045 text; the login's user name when the server will not say. */
async function matched(backend: PacketChannel, identity: BackendIdentity): Promise<MatchedAccount> {
  try {
    return await currentUser(backend);
  } catch (e) {
    if (!(e instanceof MatchedAccountError)) throw e;
    return { user: identity.user, host: '', given: identity.user };
  }
}

function sameAddress(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = parseClientAddress(a);
  return !(x instanceof InvalidAddressError) && x === parseClientAddress(b);
}
