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
import { constants, privateDecrypt } from 'node:crypto';
import { sealPassword, xor } from '../protocol/client-auth.ts';
import { Header } from '../protocol/constants.ts';
import type { ServerError } from '../protocol/error-codes.ts';
import type { Packet } from '../protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../protocol/packets/auth.ts';
import { readErr } from '../protocol/packets/result.ts';
import { type PacketChannel, ReadCancelledError } from './channel.ts';
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
}

export type AuthOutcome =
  | { ok: true; plugin: string }
  /** `relayed`: the backend's ERR already went to the client; otherwise moat must send `error`. */
  | {
      ok: false;
      error: ServerError;
      relayed: boolean;
      reason: AuthFailureReason;
      /** The sequence id for moat's own ERR on the client leg, when `relayed` is false. */
      seq: number;
    };

export type AuthFailureReason = 'backend-denied' | 'cleartext-refused' | 'protocol';

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

  const toClient = (payload: Buffer, seq: number) => {
    clientLegSeq = seq & 0xff;
    client.channel.write(writeRaw(payload, clientLegSeq));
  };
  const toBackend = (payload: Buffer, clientSeq: number) =>
    backend.channel.write(writeRaw(payload, clientSeq - delta));

  const onClientPacket = async (p: Packet): Promise<void> => {
    clientLegSeq = p.seq;
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
        toClient(p.payload, p.seq + delta);
        return { ok: true, plugin };
      }
      if (first === Header.ERR) {
        toClient(p.payload, p.seq + delta);
        return failed(readErr(p.payload), true, 'backend-denied');
      }
      if (first === Header.AUTH_SWITCH) {
        const req = readAuthSwitchRequest(p.payload);
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
