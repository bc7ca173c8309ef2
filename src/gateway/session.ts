// One client connection, from accept to close, as an explicit state machine:
//
//   greeting ─► [tls] ─► handshake ─► backend ─► auth ─► command ◄─► change-user
//       └──────────┴──────────┴──────────┴──────────┴──► closed
//
// moat greets first with its own nonce and opens the backend connection only after a complete
// HandshakeResponse, then relays to the client the AuthSwitchRequest in which the backend names
// the account's plugin and its own nonce. A port scan, or a client that never finishes its handshake, costs the backend nothing.

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { BackendError, type BackendLink, connectBackend } from '../client/backend.ts';
import type { Admission } from '../guard/guard.ts';
import { type ClientTls, mysqlDn } from '../guard/rules.ts';
import type { SessionIdentity } from '../model/events.ts';
import type { LoginOutcome } from '../model/failure.ts';
import type { SessionInfo, SessionState } from '../model/session.ts';
import { ChannelClosedError, PacketChannel } from '../net/channel.ts';
import { acceptTls, clientCertVerified, TlsHandshakeError } from '../net/tls.ts';
import { Cap, Com, FRAMING_CAPS, RELAYABLE_CAPS, relayableExtended, Status } from '../protocol/constants.ts';
import { formatServerError, type ServerError } from '../protocol/error-codes.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { Follower } from '../protocol/follow/follower.ts';
import { readChangeUser, writeChangeUser } from '../protocol/packets/change-user.ts';
import { writeHandshake } from '../protocol/packets/handshake.ts';
import {
  type HandshakeResponse,
  isSslRequest,
  readHandshakeResponse,
  writeHandshakeResponse,
} from '../protocol/packets/handshake-response.ts';
import { writeErr } from '../protocol/packets/result.ts';
import { splitPayload } from '../protocol/writer.ts';
import { digestOf } from '../sql/digest.ts';
import { charsetRefusal } from '../sqlfw/charset.ts';
import type { SessionView } from '../sqlfw/engine.ts';
import { type AuthOutcome, relayAuth } from './auth/relay.ts';
import type { GatewayContext } from './context.ts';
import { Relay } from './relay.ts';

/** The plugin name moat puts in its HandshakeResponse and in a rewritten COM_CHANGE_USER: no
 * server has it, so the server answers with an AuthSwitchRequest for the account's plugin with its
 * own nonce, which the client then answers. */
const REAUTH_PLUGIN = 'moat_reauth';

/** Cap on a login-phase packet (HandshakeResponse, auth data, COM_CHANGE_USER). Client libraries
 * cap connection attributes at 64 KiB and the other fields are short; a larger length is garbage
 * (a PROXY header or TLS record sent to a plain MySQL port reads as several MiB) and is refused at
 * once rather than waited for until the handshake timeout. */
const MAX_LOGIN_PACKET = 128 * 1024;

export class LoginFailure extends Error {
  readonly outcome: LoginOutcome;
  readonly error: ServerError | null;
  /** The client was already told (the backend's own ERR was relayed). */
  readonly told: boolean;
  constructor(outcome: LoginOutcome, error: ServerError | null, message: string, told = false) {
    super(message);
    this.outcome = outcome;
    this.error = error;
    this.told = told;
  }
}

export interface SessionOrigin {
  address: string;
  port: number;
  /** Arrived over the unix-socket listener: local, treated as secure like MySQL does. */
  local: boolean;
  listener: string;
}

export class Session {
  readonly id: number;
  readonly ctx: GatewayContext;
  readonly origin: SessionOrigin;
  state: SessionState = 'greeting';
  readonly connectedAt = Date.now();
  private socket: Socket;
  private readonly channel: PacketChannel;
  /** Sequence id of the client's last packet: moat's answer uses the next one. */
  private clientSeq = 0;
  private timer: NodeJS.Timeout | null = null;
  tls: { version: string; cipher: string } | null = null;
  /** The client certificate, as the guard's REQUIRE checks see it. */
  private peer: { verified: boolean; subject: string | null; issuer: string | null } = {
    verified: false,
    subject: null,
    issuer: null,
  };
  /** What the guard knows this connection by. */
  readonly admission: Admission;
  /** The user the guard counted this connection under (after identify()), else null. */
  private guardUser: string | null = null;
  /** The login result was reported to the guard. */
  private guardDone = false;
  /** The session ended with COM_QUIT (not counted in Aborted_clients). */
  private quit = false;
  readonly startedAt = Date.now();
  /** When the last command ended (or the login, before any): PROCESSLIST's TIME counts from it. */
  private lastActivity = Date.now();
  identity: SessionIdentity;
  attributes: Array<[string, string]> = [];
  private backendLink: BackendLink | null = null;
  private relay: Relay | null = null;
  private follower: Follower | null = null;
  private capabilities = 0;
  private readonly onClosed: (s: Session) => void;

  constructor(
    id: number,
    socket: Socket,
    origin: SessionOrigin,
    ctx: GatewayContext,
    onClosed: (s: Session) => void,
  ) {
    this.id = id;
    this.socket = socket;
    this.origin = origin;
    this.admission = { ip: origin.address, local: origin.local, listener: origin.listener };
    this.ctx = ctx;
    this.onClosed = onClosed;
    this.identity = {
      session: id,
      user: '',
      clientAddress: origin.address,
      clientPort: origin.port,
      database: null,
    };
    socket.setNoDelay?.(true);
    this.channel = new PacketChannel(socket, Math.min(ctx.config.limits.maxPacketSize, MAX_LOGIN_PACKET));
  }

  isClosed(): boolean {
    return this.state === 'closed';
  }

  get user(): string | null {
    return this.identity.user === '' ? null : this.identity.user;
  }

  /** Runs the login; on success the relay takes over and this returns. */
  async run(): Promise<void> {
    const limit = this.ctx.config.limits.handshakeTimeoutMs;
    this.timer = setTimeout(() => this.abortLogin('timeout'), limit);
    try {
      await this.login();
    } catch (e) {
      this.failLogin(e);
    } finally {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private async login(): Promise<void> {
    const ctx = this.ctx;
    const greetingNonce = scrambleNonce();
    const profile = ctx.profile.current;
    const tlsOffered = ctx.serverTls !== null;
    // MariaDB's extended capabilities are offered as the backend offers them (CLIENT_MYSQL clear,
    // the int<4> in the filler); otherwise CLIENT_MYSQL stays set: "plain MySQL protocol".
    const extended = relayableExtended(profile.capabilities, profile.mariadbCapabilities);
    let caps =
      ((profile.capabilities & RELAYABLE_CAPS) |
        (extended === 0 ? Cap.LONG_PASSWORD : 0) |
        Cap.PROTOCOL_41 |
        Cap.SECURE_CONNECTION |
        Cap.PLUGIN_AUTH) >>>
      0;
    if (tlsOffered) caps |= Cap.SSL;
    if (ctx.config.localInfile) caps |= Cap.LOCAL_FILES;
    this.socket.write(
      writeHandshake({
        protocolVersion: 10,
        serverVersion: profile.serverVersion,
        connectionId: this.id,
        nonce: greetingNonce,
        capabilities: caps >>> 0,
        mariadbCapabilities: extended,
        charset: profile.charset,
        status: profile.status,
        authPlugin: 'mysql_native_password',
      }),
    );

    let packet = await this.channel.read();
    if (isSslRequest(packet.payload)) {
      if (!tlsOffered)
        throw new LoginFailure(
          'handshake-error',
          formatServerError('ER_HANDSHAKE_ERROR'),
          'SSLRequest but TLS is off',
        );
      this.state = 'tls';
      await this.upgradeToTls();
      this.state = 'handshake';
      packet = await this.channel.read();
    }
    this.state = 'handshake';
    this.clientSeq = packet.seq;
    const hr = readHandshakeResponse(packet.payload);
    this.identity.user = hr.user;
    this.identity.database = hr.database === '' ? null : hr.database;
    this.attributes = hr.attributes;
    this.clientCollation = hr.charset;
    const secureClient = this.tls !== null || this.origin.local;
    if (!(hr.capabilities & Cap.PLUGIN_AUTH)) {
      throw new LoginFailure(
        'handshake-error',
        formatServerError('ER_NOT_SUPPORTED_AUTH_MODE'),
        'client lacks CLIENT_PLUGIN_AUTH',
      );
    }
    if (ctx.config.tls.require && !secureClient) {
      throw new LoginFailure(
        'tls-required',
        formatServerError('ER_SECURE_TRANSPORT_REQUIRED'),
        'plain login refused: TLS required',
      );
    }
    const gate = ctx.guard.identify(hr.user, this.admission, this.clientTls());
    this.guardUser = hr.user;
    if (gate.refusal !== null) {
      throw new LoginFailure(gate.refusal.outcome, gate.refusal.error, gate.refusal.message);
    }
    if (gate.delayMs > 0) {
      await this.loginDelay(gate.delayMs);
      ctx.guard.unpark(this.admission);
    }

    this.state = 'backend';
    // The PROXY header (backend.proxyProtocol) names the client, or LOCAL for a unix-socket client.
    // (Only when a header is sent: localAddress costs a getsockname per login.)
    const peer =
      this.origin.local || (ctx.backend.proxyProtocol ?? 'off') === 'off'
        ? null
        : {
            source: { address: this.origin.address, port: this.origin.port },
            destination: { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 },
          };
    const link = await connectBackend(
      ctx.backend,
      ctx.backendTlsFiles,
      peer,
      {
        clientAddress: this.origin.address,
        clientLocal: this.origin.local,
        // Over a unix socket MariaDB matches 'localhost' accounts too, PROXY header or not.
        serverSeesClient:
          (ctx.backend.proxyProtocol ?? 'off') !== 'off' &&
          !this.origin.local &&
          ctx.backend.endpoint.kind === 'tcp',
        localAccounts: ctx.config.backend.localAccounts,
        unixBackend: ctx.backend.endpoint.kind === 'unix',
        passwordGiven: hr.authResponse.length > 0,
        user: hr.user,
      },
      (greeting, tls) => {
        const extended =
          relayableExtended(hr.capabilities, hr.mariadbCapabilities) &
          relayableExtended(greeting.capabilities, greeting.mariadbCapabilities);
        let capabilities = backendCapabilities(hr, greeting.capabilities, tls, ctx.config.localInfile);
        // CLIENT_MYSQL clear is what tells a MariaDB server to read the extended capabilities.
        if (extended !== 0) capabilities = (capabilities & ~Cap.LONG_PASSWORD) >>> 0;
        return { capabilities, extended };
      },
    ).catch((e: unknown) => {
      if (e instanceof BackendError) {
        if (e.serverError !== null) throw new LoginFailure('backend-refused', e.serverError, e.message);
        throw new LoginFailure(
          'backend-unreachable',
          formatServerError(
            'CR_CONN_HOST_ERROR',
            e.endpoint,
            e.code === 'MOAT_BACKEND_TLS' ? 'TLS error' : e.reason,
          ),
          e.message,
        );
      }
      throw e;
    });
    this.backendLink = link;
    if (this.isClosed()) {
      link.channel.socket.destroy();
      return;
    }
    const greeting = link.greeting;
    if (ctx.profile.learn(greeting))
      ctx.log.info({ serverVersion: greeting.serverVersion }, 'learned backend greeting');
    const backendExtended = link.extended;
    const missing = (hr.capabilities & FRAMING_CAPS & ~greeting.capabilities) >>> 0;
    const missingExtended = relayableExtended(hr.capabilities, hr.mariadbCapabilities) & ~backendExtended;
    if (missing !== 0 || missingExtended !== 0) {
      link.channel.socket.destroy();
      throw new LoginFailure(
        'handshake-error',
        formatServerError(
          'ER_UNKNOWN_ERROR',
          'moat: the backend server changed its capabilities since moat greeted you; please reconnect',
        ),
        `client negotiated capabilities 0x${missing.toString(16)} the backend lacks`,
      );
    }

    // Let the backend choose the account's plugin and issue the challenge: a HandshakeResponse
    // naming a plugin no server has makes it answer with an AuthSwitchRequest for the account's
    // own plugin and nonce, which moat relays. The client sees exactly one switch, as from a server
    // whose default plugin differs from the account's (a second switch hangs some connectors).
    this.state = 'auth';
    this.capabilities = link.capabilities;
    const attrs: Array<[string, string]> = [
      ...hr.attributes,
      ['moat_client_address', `${this.origin.address}:${this.origin.port}`],
    ];
    link.channel.write(
      writeHandshakeResponse(
        {
          ...hr,
          capabilities: this.capabilities,
          mariadbCapabilities: backendExtended,
          authResponse: Buffer.alloc(0),
          authPlugin: REAUTH_PLUGIN,
          attributes: attrs,
        },
        link.nextSeq,
      ),
    );
    const outcome = await relayAuth({
      client: { channel: this.channel, secure: secureClient },
      backend: { channel: link.channel, secure: link.secure },
      delta: this.clientSeq - link.nextSeq,
      backendSeq: link.nextSeq,
      plugin: REAUTH_PLUGIN,
      nonce: greeting.nonce,
    });
    if (!outcome.ok) this.clientSeq = (outcome.seq - 1) & 0xff;
    if (!outcome.ok) throw authFailure(outcome);
    this.enterCommandPhase();
  }

  /** What audit wants to know about this connection with every login record. */
  private loginContext(kind: 'connect' | 'change-user') {
    const attr = (name: string) => this.attributes.find(([k]) => k === name)?.[1] ?? null;
    return {
      kind,
      database: this.identity.database,
      tlsVersion: this.tls?.version ?? null,
      tlsCipher: this.tls?.cipher ?? null,
      program: attr('program_name') ?? attr('_program_name'),
    };
  }

  /** Bytes relayed in the command phase so far, each way. */
  relayBytes(): { fromClient: number; fromBackend: number } {
    return { fromClient: this.relay?.bytesFromClient ?? 0, fromBackend: this.relay?.bytesFromBackend ?? 0 };
  }

  /** The backend's thread id for this session once logged in (what CONNECTION_ID() returns). */
  get backendThread(): number | null {
    return this.loggedIn && this.backendLink !== null ? this.backendLink.greeting.connectionId : null;
  }

  /** Logged in (the command phase, or re-authenticating). */
  get loggedIn(): boolean {
    return this.state === 'command' || this.state === 'change-user';
  }

  /** Reached the command phase at some point (it stays true after the session closed). */
  everLoggedIn = false;

  /** The client ended the session with COM_QUIT. */
  get quitReceived(): boolean {
    return this.quit;
  }

  /** Still before its HandshakeResponse: the kind of connection shed first under a flood. */
  get handshaking(): boolean {
    // A login parked in its connection-control delay is not in the unauthenticated count.
    if (this.admission.parked === true) return false;
    return this.state === 'greeting' || this.state === 'tls' || this.state === 'handshake';
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
    const busy = this.state === 'command' && this.follower !== null && this.follower.queue.length > 0;
    const command =
      this.state === 'command'
        ? busy
          ? 'Query'
          : 'Sleep'
        : this.state === 'change-user'
          ? 'Change user'
          : 'Connect';
    return {
      id: this.id,
      user: this.user,
      host: this.origin.local ? 'localhost' : `${this.origin.address}:${this.origin.port}`,
      db: this.identity.database,
      command,
      timeSeconds: Math.floor((now - this.lastActivity) / 1000),
      state: this.state,
      tls: this.tls === null ? null : `${this.tls.version} ${this.tls.cipher}`,
    };
  }

  private clientTls(): ClientTls {
    return {
      secure: this.tls !== null,
      cipher: this.tls?.cipher ?? null,
      verified: this.peer.verified,
      subject: this.peer.subject,
      issuer: this.peer.issuer,
    };
  }

  private delayTimer: NodeJS.Timeout | null = null;

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
    const socket = this.socket;
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

  private async upgradeToTls(): Promise<void> {
    let secure: TLSSocket;
    try {
      secure = await acceptTls(this.channel, this.socket, this.ctx.serverTls!);
    } catch (e) {
      if (e instanceof TlsHandshakeError) throw new LoginFailure('tls-error', null, e.message);
      throw e;
    }
    this.socket = secure;
    this.tls = { version: secure.getProtocol() ?? 'unknown', cipher: secure.getCipher()?.name ?? 'unknown' };
    const cert = secure.getPeerCertificate();
    if (cert !== null && Object.keys(cert).length > 0) {
      this.peer = {
        verified: clientCertVerified(secure, this.ctx.serverTls!),
        subject: mysqlDn(cert.subject as unknown as Record<string, string>),
        issuer: mysqlDn(cert.issuer as unknown as Record<string, string>),
      };
    }
  }

  private enterCommandPhase(): void {
    const link = this.backendLink!;
    const clientRest = this.channel.detach();
    const backendRest = link.channel.detach();
    if (clientRest.partial || backendRest.partial) {
      this.close('packets after authentication before the OK');
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.state = 'command';
    this.everLoggedIn = true;
    this.guardDone = true;
    this.ctx.guard.finished(this.admission, this.guardUser, 'ok', 0);
    this.ctx.onLogin({
      session: this.id,
      outcome: 'ok',
      user: this.identity.user,
      clientAddress: this.origin.address,
      clientPort: this.origin.port,
      errorCode: 0,
      message: 'login ok',
      ...this.loginContext('connect'),
    });
    const follower = new Follower(this.identity, this.capabilities, {
      maxStatementLength: this.ctx.config.limits.maxStatementLength,
      onEvent: (e) => {
        this.lastActivity = Date.now();
        if (e.command === 'Quit') this.quit = true;
        this.ctx.onCommand(e);
      },
      onChangeUser: () => {},
      onLost: (why) => this.ctx.log.warn({ session: this.id, why }, 'stopped following the command stream'),
      backendThreadOf: this.ctx.backendThreadOf,
    });
    this.follower = follower;
    this.relay = new Relay(this.socket, link.channel.socket, follower, {
      onStatement: (bytes) => {
        this.judgeHeld(bytes).catch((e: unknown) => this.close(`sql firewall: ${(e as Error).message}`));
      },
      onChangeUser: (bytes) => {
        this.changeUser(bytes).catch((e: unknown) =>
          this.close(`change user failed: ${(e as Error).message}`),
        );
      },
      onClose: (side, error) => this.closed(side === 'client' ? 'client closed' : 'backend closed', error),
    });
    this.refreshSqlFirewall();
    this.relay.start(clientRest.leftover, backendRest.leftover);
  }

  /** character_set_client's collation as the client last set it at login or change user. */
  private clientCollation = 0;
  /** The SQL firewall profiles this session is under (null: none, or the firewall is off). */
  private sqlfwView: SessionView | null = null;
  /** Reads the one held statement packet (created at the first, reattached after). */
  private statementChannel: PacketChannel | null = null;
  /** Statement ids prepared before this session came under PROTECTING: judged at first EXECUTE. */
  private unjudgedPrepared: Set<number> | null = null;

  /**
   * Matches this session to its SQL firewall profiles: at login, after COM_CHANGE_USER, and when a
   * profile changes (the gateway calls every live session). Only a PROTECTING profile makes the
   * client sink hold statements back; every other session's stream is untouched.
   */
  refreshSqlFirewall(): void {
    const fw = this.ctx.sqlFirewall;
    if (fw == null || this.follower === null || this.isClosed()) return;
    this.sqlfwView = fw.attach({
      session: this.id,
      user: this.identity.user,
      ip: this.origin.address,
      local: this.origin.local,
    });
    const sink = this.follower.client;
    if (this.sqlfwView.protecting && !sink.hold && this.follower.prepared.size > 0) {
      this.unjudgedPrepared = new Set(this.follower.prepared.keys());
      sink.holdExecutes = true;
    }
    sink.hold = this.sqlfwView.protecting;
    sink.judged = false;
  }

  /**
   * PROTECTING: the client's COM_QUERY / COM_STMT_PREPARE was held back before any byte of it was
   * relayed. Read that one packet whole, judge its digest, then either relay it (fed back through
   * the relay, so the follower sees the command as usual) or answer EE's 1045 in its place: the
   * server never sees a refused statement. Later commands the client pipelined stay queued behind.
   */
  private async judgeHeld(bytes: Buffer): Promise<void> {
    const relay = this.relay!;
    const follower = this.follower!;
    // These bytes were counted when they arrived and are counted again when relayed.
    relay.bytesFromClient -= bytes.length;
    let ch = this.statementChannel;
    if (ch === null) {
      ch = new PacketChannel(this.socket, this.ctx.config.limits.maxPacketSize);
      this.statementChannel = ch;
    } else ch.reattach(this.socket);
    ch.prepend(bytes);
    let packet: Awaited<ReturnType<PacketChannel['read']>>;
    let rest: ReturnType<PacketChannel['detach']>;
    try {
      packet = await ch.read();
    } finally {
      rest = ch.detach();
    }
    if (this.isClosed()) return;
    const view = this.sqlfwView;
    const payload = packet.payload;
    if (payload[0] === Com.STMT_EXECUTE) {
      this.judgeExecute(payload, packet.seq, rest.leftover);
      return;
    }
    // The same prefix the follower captures (limits.maxStatementLength), so that a digest learned
    // in RECORDING from the follower's events is the digest judged here.
    const max = this.ctx.config.limits.maxStatementLength;
    const text = payload.toString('utf8', 1, 1 + Math.min(payload.length - 1, max));
    const truncated = payload.length - 1 > max;
    const command = payload[0] === Com.QUERY ? 'Query' : 'Stmt_prepare';
    const charsetRisk = view?.protecting === true ? charsetRefusal(this.clientCollation, text) : null;
    if (charsetRisk !== null)
      this.ctx.log.warn({ session: this.id, why: charsetRisk }, 'sql firewall refused a statement');
    const verdict =
      charsetRisk !== null
        ? ({ action: 'block' } as const)
        : view === null || !view.protecting || this.ctx.sqlFirewall == null
          ? null
          : this.ctx.sqlFirewall.judge(
              view,
              text,
              truncated,
              command,
              // Under NO_BACKSLASH_ESCAPES the server ends `'a\'` at the quote: judged as it reads it.
              (follower.lastStatus & Status.NO_BACKSLASH_ESCAPES) !== 0
                ? digestOf(text, truncated, true)
                : undefined,
            );
    if (verdict === null || verdict.action !== 'block') {
      follower.client.judged = true;
      const raw = splitPayload(payload, packet.seq);
      relay.resumeClient(rest.leftover === null ? raw : Buffer.concat([raw, rest.leftover]));
      return;
    }
    // The refusal answers this statement, so it must come after the answers to the commands the
    // client sent before it (the backend side relays on meanwhile).
    if (follower.queue.length > 0) {
      await new Promise<void>((resolve) => {
        follower.onQueueEmpty = resolve;
      });
    }
    if (this.isClosed()) return;
    this.socket.write(writeErr(formatServerError('ER_FIREWALL_BLOCKED'), (packet.seq + 1) & 0xff));
    relay.resumeClient(rest.leftover);
  }

  /**
   * A COM_STMT_EXECUTE held because statements were prepared before PROTECTING: one of those is
   * judged by its prepared text now (once); an id moat no longer knows the text of is refused,
   * since it cannot be judged. Other executions pass.
   */
  private judgeExecute(payload: Buffer, seq: number, leftover: Buffer | null): void {
    const relay = this.relay!;
    const follower = this.follower!;
    const unjudged = this.unjudgedPrepared;
    const id = payload.length >= 5 ? payload.readUInt32LE(1) : -1;
    let blocked = false;
    // MariaDB's "last prepared statement" id names whatever the server prepared last, which may be
    // one prepared before PROTECTING: while any of those is unjudged, it cannot be told apart.
    if (id === 0xffffffff && unjudged !== null && unjudged !== undefined && unjudged.size > 0) blocked = true;
    else if (unjudged?.has(id) === true) {
      unjudged.delete(id);
      if (unjudged.size === 0) follower.client.holdExecutes = false;
      const known = follower.prepared.get(id);
      const fw = this.ctx.sqlFirewall;
      if (known?.text == null || fw == null || this.sqlfwView === null) blocked = true;
      else blocked = fw.judge(this.sqlfwView, known.text, known.truncated, 'Stmt_execute').action === 'block';
      // Refused once, refused again: the id stays unjudged only if it was let through.
      if (blocked) unjudged.add(id);
      if (blocked) follower.client.holdExecutes = true;
    }
    if (!blocked) {
      follower.client.judged = true;
      const raw = splitPayload(payload, seq);
      relay.resumeClient(leftover === null ? raw : Buffer.concat([raw, leftover]));
      return;
    }
    const answer = () => {
      if (this.isClosed()) return;
      this.socket.write(writeErr(formatServerError('ER_FIREWALL_BLOCKED'), (seq + 1) & 0xff));
      relay.resumeClient(leftover);
    };
    if (follower.queue.length > 0) follower.onQueueEmpty = answer;
    else answer();
  }

  /**
   * COM_CHANGE_USER: a login inside the session. It passes the guard's identify step as a login
   * does (user rules, REQUIRE, max_user_connections, the connection-control delay before the
   * attempt), then the re-authentication is relayed like a login, then back to the relay. A failed
   * change ends the session, as the server does.
   */
  private async changeUser(bytes: Buffer): Promise<void> {
    this.state = 'change-user';
    const follower = this.follower!;
    if (!follower.following) {
      // Where the answers to earlier commands end is unknown: the re-authentication cannot be told
      // apart from them, so it is not attempted.
      this.socket.write(
        writeErr(
          formatServerError('ER_UNKNOWN_ERROR', 'moat: this session cannot change user; please reconnect'),
          1,
        ),
      );
      this.close('change user on a session moat no longer follows');
      return;
    }
    // Commands pipelined before the COM_CHANGE_USER are answered first (the backend side relays
    // on); only then does the re-authentication own the backend channel, so no answer of theirs is
    // read as part of it (an OK taken for "changed").
    if (follower.queue.length > 0) {
      await new Promise<void>((resolve) => {
        follower.onQueueEmpty = resolve;
      });
      if (this.isClosed()) return;
    }
    this.relay!.suspend();
    const link = this.backendLink!;
    const client = this.channel;
    client.reattach(this.socket);
    link.channel.reattach(link.channel.socket);
    client.prepend(bytes);
    const packet = await client.read();
    const cu = readChangeUser(packet.payload, this.capabilities);
    if (cu.charset !== null) this.clientCollation = cu.charset;
    const gate = this.ctx.guard.identifyChangeUser(this.guardUser, cu.user, this.admission, this.clientTls());
    if (gate.refusal !== null) {
      this.socket.write(writeErr(gate.refusal.error, (packet.seq + 1) & 0xff));
      this.changeUserEnded(cu.user, gate.refusal.outcome, gate.refusal.error.code, gate.refusal.message);
      this.close(`change user refused: ${gate.refusal.message}`);
      return;
    }
    if (gate.delayMs > 0) {
      try {
        await this.waitUnlessClosed(gate.delayMs);
      } finally {
        this.ctx.guard.changeUserDelayOver();
      }
    }
    // The client answered a nonce the backend never issued; ask the backend for a fresh
    // challenge instead, by naming a plugin it does not have.
    link.channel.write(
      writeChangeUser(
        { ...cu, authResponse: Buffer.alloc(0), authPlugin: REAUTH_PLUGIN },
        this.capabilities,
        packet.seq,
      ),
    );
    const outcome: AuthOutcome = await relayAuth({
      client: { channel: client, secure: this.tls !== null || this.origin.local },
      backend: { channel: link.channel, secure: link.secure },
      delta: 0,
      backendSeq: packet.seq,
      plugin: REAUTH_PLUGIN,
      nonce: Buffer.alloc(0),
    });
    if (!outcome.ok) {
      const failure = authFailure(outcome);
      this.changeUserEnded(cu.user, failure.outcome, outcome.error.code, outcome.error.message);
      if (!outcome.relayed) this.socket.write(writeErr(outcome.error, outcome.seq));
      this.close('change user failed');
      return;
    }
    this.changeUserEnded(cu.user, 'ok', 0, 'change user ok');
    this.guardUser = cu.user;
    this.identity.user = cu.user;
    this.identity.database = cu.database === '' ? null : cu.database;
    this.follower?.forgetPrepared();
    const clientRest = client.detach();
    const backendRest = link.channel.detach();
    this.state = 'command';
    this.refreshSqlFirewall();
    this.relay!.start(clientRest.leftover, backendRest.leftover);
  }

  /** The guard's bookkeeping and the login record of one COM_CHANGE_USER. */
  private changeUserEnded(user: string, outcome: LoginOutcome, errorCode: number, message: string): void {
    this.ctx.guard.changeUser(this.guardUser, user, this.admission, outcome, errorCode);
    this.ctx.onLogin({
      session: this.id,
      outcome,
      user,
      clientAddress: this.origin.address,
      clientPort: this.origin.port,
      errorCode,
      message,
      ...this.loginContext('change-user'),
    });
  }

  private abortLogin(outcome: LoginOutcome): void {
    if (this.state === 'command' || this.state === 'closed') return;
    this.failLogin(
      new LoginFailure(outcome, formatServerError('ER_NET_READ_INTERRUPTED'), 'handshake timed out'),
    );
  }

  private failLogin(e: unknown): void {
    if (this.state === 'closed') return;
    let failure: LoginFailure;
    if (e instanceof LoginFailure) failure = e;
    else if (e instanceof ProtocolError)
      failure = new LoginFailure('handshake-error', formatServerError(e.serverError), e.message);
    else if (e instanceof ChannelClosedError)
      failure = new LoginFailure('client-gone', null, 'client closed during login');
    else if (isSocketError(e))
      failure = new LoginFailure('client-gone', null, `client connection error: ${(e as Error).message}`);
    else {
      this.ctx.log.error({ session: this.id, err: e }, 'unexpected error during login');
      failure = new LoginFailure(
        'handshake-error',
        formatServerError('ER_UNKNOWN_ERROR', 'moat: internal error during login'),
        String(e),
      );
    }
    if (failure.error !== null && !failure.told && !this.socket.destroyed) {
      // After the client's last packet, even one cut short or refused for its size.
      const last = this.channel.pendingSeq(this.clientSeq + 1) ?? this.clientSeq;
      this.socket.write(writeErr(failure.error, (last + 1) & 0xff));
    }
    if (!this.guardDone) {
      this.guardDone = true;
      this.ctx.guard.finished(this.admission, this.guardUser, failure.outcome, failure.error?.code ?? 0);
    }
    this.ctx.onLogin({
      session: this.id,
      outcome: failure.outcome,
      user: this.user,
      clientAddress: this.origin.address,
      clientPort: this.origin.port,
      errorCode: failure.error?.code ?? 0,
      message: failure.message,
      ...this.loginContext('connect'),
    });
    this.close(failure.message);
  }

  /**
   * Graceful shutdown: a session closes as soon as it is between commands and outside a
   * transaction (a pool's idle connection closes at once; a running query finishes first).
   * A login in progress is refused with ER_SERVER_SHUTDOWN.
   */
  drain(reason = 'moat shutting down', evenInTransaction = false): void {
    if (this.state === 'command' && this.relay !== null && this.follower !== null) {
      const relay = this.relay;
      const follower = this.follower;
      const tryClose = () => {
        if (relay.isIdle(follower) && (evenInTransaction || !follower.inTransaction)) this.close(reason);
      };
      follower.onIdle = () => setImmediate(tryClose);
      tryClose();
      return;
    }
    if (this.state !== 'closed' && this.state !== 'change-user') {
      this.failLogin(
        new LoginFailure('shutdown', formatServerError('ER_SERVER_SHUTDOWN'), 'moat shutting down'),
      );
    }
  }

  /** Ends the session from moat's side (login failure, shutdown, KILL). */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.socket.end();
    const s = this.socket;
    // Destroyed if the peer does not close within 2 s; the timer goes with the socket, so closed
    // sessions are not kept reachable for those 2 s under fast churn.
    const t = setTimeout(() => s.destroy(), 2000).unref();
    s.once('close', () => clearTimeout(t));
    this.backendLink?.channel.socket.destroy();
    this.closed(reason, null);
  }

  private closed(reason: string, error: Error | null): void {
    if (this.state === 'closed') return;
    const wasCommand = this.state === 'command' || this.state === 'change-user';
    this.state = 'closed';
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.delayTimer !== null) clearTimeout(this.delayTimer);
    this.relay?.dispose();
    this.backendLink?.channel.socket.destroy();
    if (wasCommand) this.ctx.guard.sessionEnded(this.admission, this.guardUser, !this.quit);
    else if (!this.guardDone) {
      // Closed before the login ended (a close() from outside): still one finished attempt.
      this.guardDone = true;
      this.ctx.guard.finished(this.admission, this.guardUser, 'client-gone', 0);
    }
    if (wasCommand) this.ctx.log.debug({ session: this.id, reason, err: error?.message }, 'session closed');
    this.onClosed(this);
  }
}

/** Capabilities moat sends the backend for this client. */
function backendCapabilities(
  hr: HandshakeResponse,
  serverCaps: number,
  tls: boolean,
  localInfile: boolean,
): number {
  let caps = hr.capabilities & serverCaps & RELAYABLE_CAPS;
  caps |= Cap.LONG_PASSWORD | Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH;
  caps |= serverCaps & Cap.CONNECT_ATTRS;
  if (localInfile) caps |= hr.capabilities & serverCaps & Cap.LOCAL_FILES;
  if (tls) caps |= Cap.SSL;
  if (hr.database !== null && hr.database !== '') caps |= Cap.CONNECT_WITH_DB;
  else caps &= ~Cap.CONNECT_WITH_DB;
  return caps >>> 0;
}

function authFailure(outcome: Extract<AuthOutcome, { ok: false }>): LoginFailure {
  const kind: LoginOutcome = outcome.reason === 'cleartext-refused' ? 'cleartext-refused' : 'auth-denied';
  return new LoginFailure(kind, outcome.error, outcome.error.message, outcome.relayed);
}

/** CSPRNG bytes drawn in batches: one randomBytes call per 4 KiB instead of one per login (the
 * per-call cost showed in connect-rate profiles). Every nonce still gets bytes no other got. */
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomSlice(n: number): Buffer {
  if (poolAt + n > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

/** 20 random printable bytes: the shape of a MySQL scramble (no NUL inside). */
function scrambleNonce(): Buffer {
  const b = randomSlice(20);
  for (let i = 0; i < b.length; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}

function isSocketError(e: unknown): boolean {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    (e as NodeJS.ErrnoException).code!.startsWith('E')
  );
}
