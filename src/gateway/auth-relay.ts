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
import { constants, publicEncrypt } from 'node:crypto';
import { Header } from '../protocol/constants.ts';
import type { ServerError } from '../protocol/error-codes.ts';
import type { Packet } from '../protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../protocol/packets/auth.ts';
import { readErr } from '../protocol/packets/result.ts';
import { type PacketChannel, ReadCancelledError } from './channel.ts';

export interface AuthLeg {
  channel: PacketChannel;
  /** TLS or unix socket. */
  secure: boolean;
}

export interface AuthRelayInput {
  client: AuthLeg;
  backend: AuthLeg;
  delta: number;
  /** Plugin and nonce in force on the backend leg. */
  plugin: string;
  nonce: Buffer;
}

export type AuthOutcome =
  | { ok: true; plugin: string }
  /** `relayed`: the backend's ERR already went to the client; otherwise moat must send `error`. */
  | { ok: false; error: ServerError; relayed: boolean; reason: AuthFailureReason };

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
  let fullAuthPending = false;
  // The client's cleartext password while moat fetches the backend's RSA key, and its seq.
  const held: { password: Buffer | null; seq: number } = { password: null, seq: 0 };
  let done = false;
  let clientFailure: Error | null = null;

  const toClient = (p: Packet) => client.channel.write(writeRaw(p.payload, p.seq + delta));
  const toBackend = (payload: Buffer, clientSeq: number) =>
    backend.channel.write(writeRaw(payload, clientSeq - delta));

  const onClientPacket = (p: Packet): void => {
    if (!fullAuthPending) {
      toBackend(p.payload, p.seq);
      return;
    }
    fullAuthPending = false;
    if (p.payload.length === 1 && p.payload[0] === 0x02) {
      toBackend(p.payload, p.seq); // the client asks for the key and encrypts itself
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
      onClientPacket(p);
    }
  })().catch((e: unknown) => {
    if (e instanceof ReadCancelledError) return;
    clientFailure = e as Error;
    backend.channel.cancelRead();
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
        // The backend's public key (AuthMoreData) in answer to moat's request.
        const pem = first === Header.AUTH_MORE_DATA ? p.payload.subarray(1) : p.payload;
        const sealed = seal(held.password, nonce, pem);
        held.password.fill(0);
        held.password = null;
        backend.channel.write(writeRaw(sealed, p.seq + 1));
        // Two packets more on the backend leg than on the client's.
        delta = held.seq + 1 - (p.seq + 2);
        continue;
      }
      if (first === Header.OK) {
        toClient(p);
        return { ok: true, plugin };
      }
      if (first === Header.ERR) {
        toClient(p);
        return { ok: false, error: readErr(p.payload), relayed: true, reason: 'backend-denied' };
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
        toClient(p);
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
      toClient(p);
    }
  } catch (e) {
    if (e instanceof AuthRefusal) return { ok: false, error: e.error, relayed: false, reason: e.reason };
    throw e;
  } finally {
    done = true;
    held.password?.fill(0);
    client.channel.cancelRead();
    await clientLoop;
  }
}

/** caching_sha2_password's RSA step: (password ⊕ nonce) encrypted with RSA-OAEP (SHA-1). */
function seal(password: Buffer, nonce: Buffer, pem: Buffer): Buffer {
  const mixed = Buffer.allocUnsafe(password.length);
  for (let i = 0; i < password.length; i++) mixed[i] = password[i]! ^ nonce[i % nonce.length]!;
  try {
    return publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING }, mixed);
  } finally {
    mixed.fill(0);
  }
}
