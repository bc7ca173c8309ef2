// Relays an authentication exchange between the client and the backend, packet by packet, until
// the backend says OK or ERR: after the login's first answer, and again for COM_CHANGE_USER.
// Sequence ids differ between the legs by `delta` (client = backend + delta), because moat's own
// AuthSwitchRequest added a round trip on the client leg.
//
// The two legs are read at once: the client's answers go to the plugin in force, the backend's
// packets to the plugin first and then here. Each AuthSwitchRequest picks the plugin it names
// (plugin.ts says what one may do); a plugin moat does not know is relayed as it is.
import { type BackendIdentity, identityOf } from '../../client/backend.ts';
import { ReadCancelledError } from '../../net/channel.ts';
import { Header } from '../../protocol/constants.ts';
import type { ServerError } from '../../protocol/error-codes.ts';
import type { Packet } from '../../protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../../protocol/packets/auth.ts';
import { readErr, writeErr } from '../../protocol/packets/result.ts';
import { cachingSha2 } from './caching-sha2.ts';
import { clearPassword } from './clear.ts';
import { loginDenial } from './identity.ts';
import { passthrough } from './passthrough.ts';
import { peerCredential } from './peer-credential.ts';
import {
  type AuthExchange,
  type AuthFailureReason,
  type AuthLeg,
  type AuthPlugin,
  AuthRefusal,
  Denial,
  type PluginFactory,
} from './plugin.ts';
import { sha256Password } from './sha256.ts';

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
  /**
   * The backend said OK: the last check before the client hears it, taking the login's place in
   * the same step (the guard's claimUserConnection). A refusal ends the backend session and is
   * what the client gets instead of the OK.
   */
  atOk?: () => { error: ServerError; outcome: string } | null;
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

/** The plugins with an exchange of their own; every other name is relayed as it is. */
const PLUGINS: ReadonlyMap<string, PluginFactory> = new Map([
  ['caching_sha2_password', cachingSha2],
  ['mysql_clear_password', clearPassword],
  ['sha256_password', sha256Password],
  ['unix_socket', peerCredential('unix_socket')],
  ['auth_socket', peerCredential('auth_socket')],
]);

const COM_QUIT = writeRaw(Buffer.from([0x01]), 0);

export async function relayAuth(input: AuthRelayInput): Promise<AuthOutcome> {
  return new Exchange(input).run();
}

class Exchange implements AuthExchange {
  readonly client: AuthLeg;
  readonly backend: AuthLeg;
  delta: number;
  nonce: Buffer;
  readonly identity: BackendIdentity | null;
  readonly user: string;
  private readonly atOk: AuthRelayInput['atOk'];
  private pluginName: string;
  private plugin: AuthPlugin;
  /** The seq of the last packet on the client leg, either way: moat's own ERR must follow it. */
  private clientLegSeq: number;
  private done = false;
  private clientFailure: Error | null = null;
  /** The client answered the backend at least once. */
  private clientAnswered = false;
  /** ... and once with a non-empty answer: a 1045 says "using password: YES". */
  private clientSentPassword: boolean;

  constructor(input: AuthRelayInput) {
    this.client = input.client;
    this.backend = input.backend;
    this.delta = input.delta;
    this.nonce = input.nonce;
    this.clientLegSeq = (input.delta + input.backendSeq) & 0xff;
    this.identity = input.identity === undefined ? identityOf(input.backend.channel) : input.identity;
    this.user = input.user ?? this.identity?.user ?? '';
    this.clientSentPassword = this.identity?.passwordGiven === true;
    this.atOk = input.atOk;
    // Before the first switch: moat's own moat_reauth, which is relayed as it is.
    this.pluginName = input.plugin;
    this.plugin = pluginFor(input.plugin)(this);
  }

  toClient(payload: Buffer, seq: number): void {
    this.clientLegSeq = seq & 0xff;
    this.client.channel.write(writeRaw(payload, this.clientLegSeq));
  }

  toBackend(payload: Buffer, clientSeq: number): void {
    this.backend.channel.write(writeRaw(payload, clientSeq - this.delta));
  }

  async run(): Promise<AuthOutcome> {
    const clientLoop = this.readClient();
    try {
      for (;;) {
        let p: Packet;
        try {
          p = await this.backend.channel.read();
        } catch (e) {
          if (this.clientFailure !== null) throw this.clientFailure;
          throw e;
        }
        const outcome = await this.fromBackend(p);
        if (outcome !== null) return outcome;
      }
    } catch (e) {
      if (e instanceof AuthRefusal) return this.failed(e.error, false, e.reason);
      if (e instanceof Denial) {
        // The backend session is logged in, or about to be, as someone the client is not: end
        // it, and tell the client what the server would have told it directly.
        this.backend.channel.write(COM_QUIT);
        return this.deny(e);
      }
      throw e;
    } finally {
      this.done = true;
      this.plugin.end?.();
      this.client.channel.cancelRead();
      await clientLoop;
    }
  }

  /** One backend packet: the outcome once the exchange is over, else null. */
  private async fromBackend(p: Packet): Promise<AuthOutcome | null> {
    if (this.plugin.fromBackend(p, this)) return null;
    const first = p.payload[0];
    if (first === Header.OK) {
      if (this.identity !== null) {
        const denial = await loginDenial(this.identity, this.backend.channel, this.clientAnswered);
        if (denial !== null) throw denial;
      }
      const refused = this.atOk?.() ?? null;
      if (refused !== null) {
        this.backend.channel.write(COM_QUIT);
        return this.failed(
          refused.error,
          false,
          refused.outcome === 'user-limit' ? 'user-limit' : 'connection-limit',
        );
      }
      this.toClient(p.payload, p.seq + this.delta);
      return { ok: true, plugin: this.pluginName };
    }
    if (first === Header.ERR) {
      this.toClient(p.payload, p.seq + this.delta);
      return this.failed(readErr(p.payload), true, 'backend-denied');
    }
    if (first === Header.AUTH_SWITCH) {
      const req = readAuthSwitchRequest(p.payload);
      this.plugin = pluginFor(req.plugin)(this);
      this.pluginName = req.plugin;
      this.nonce = nonceOf(req.data);
    }
    this.toClient(p.payload, p.seq + this.delta);
    return null;
  }

  private async readClient(): Promise<void> {
    try {
      while (!this.done) {
        const p = await this.client.channel.read();
        this.clientLegSeq = p.seq;
        this.clientAnswered = true;
        if (p.payload.length > 0) this.clientSentPassword = true;
        await this.plugin.fromClient(p, this);
      }
    } catch (e) {
      if (e instanceof ReadCancelledError) return;
      this.clientFailure = e as Error;
      this.backend.channel.cancelRead();
    }
  }

  private failed(error: ServerError, relayed: boolean, reason: AuthFailureReason): AuthOutcome {
    return { ok: false, error, relayed, reason, seq: (this.clientLegSeq + 1) & 0xff };
  }

  /** moat's own 1045, as the server would word it for the client's address; the outcome carries
   * the reason instead, for the log and the ledger. */
  private deny(d: Denial): AuthOutcome {
    const password = this.clientSentPassword ? 'YES' : 'NO';
    const error = {
      code: 1045,
      state: '28000',
      message: `Access denied for user '${d.user}'@'${d.clientAddress}' (using password: ${password})`,
    };
    this.clientLegSeq = (this.clientLegSeq + 1) & 0xff;
    this.client.channel.write(writeErr(error, this.clientLegSeq));
    return this.failed({ ...error, message: d.message }, true, d.reason);
  }
}

function pluginFor(name: string): PluginFactory {
  return PLUGINS.get(name) ?? passthrough;
}
