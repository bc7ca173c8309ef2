// The login: greeting → [TLS] → HandshakeResponse → guard → backend → auth relay → OK.
//
// moat greets first with its own nonce and opens the backend connection only after a complete
// HandshakeResponse, then relays to the client the AuthSwitchRequest in which the backend names
// the account's plugin and its own nonce.
import { BackendError, type BackendLink, connectBackend } from '../../client/backend.ts';
import { sqlModeOf } from '../../client/sql-mode.ts';
import { TlsHandshakeError } from '../../net/tls.ts';
import { Cap, FRAMING_CAPS, RELAYABLE_CAPS, relayableExtended } from '../../protocol/constants.ts';
import { formatServerError } from '../../protocol/error-codes.ts';
import {
  type HandshakeResponse,
  isSslRequest,
  readHandshakeResponse,
  writeHandshakeResponse,
} from '../../protocol/packets/handshake-response.ts';
import { relayAuth } from '../auth/relay.ts';
import { firewallLogin, type SessionCore, type SessionSteps } from './core.ts';
import { moatGreeting } from './greeting.ts';
import { authFailure, LoginFailure } from './login-failure.ts';

/** The plugin name moat puts in its HandshakeResponse and in a rewritten COM_CHANGE_USER: no
 * server has it, so the server answers with an AuthSwitchRequest for the account's plugin with its
 * own nonce, which the client then answers. */
export const REAUTH_PLUGIN = 'moat_reauth';

/**
 * Runs the login up to the backend's OK, which the client has then received; throws a
 * LoginFailure (or the error that ended it). False: the session was closed meanwhile.
 */
export async function login(core: SessionCore, steps: SessionSteps): Promise<boolean> {
  const { ctx, client, origin } = core;
  const tlsOffered = ctx.serverTls !== null;
  client.socket.write(moatGreeting(ctx, core.id));

  let packet = await client.channel.read();
  if (isSslRequest(packet.payload)) {
    if (!tlsOffered)
      throw new LoginFailure(
        'handshake-error',
        formatServerError('ER_HANDSHAKE_ERROR'),
        'SSLRequest but TLS is off',
      );
    steps.enter('tls');
    try {
      await client.upgrade(ctx.serverTls!);
    } catch (e) {
      if (e instanceof TlsHandshakeError) throw new LoginFailure('tls-error', null, e.message);
      throw e;
    }
    steps.enter('handshake');
    packet = await client.channel.read();
  }
  steps.enter('handshake');
  client.seq = packet.seq;
  const hr = readHandshakeResponse(packet.payload);
  core.identity.user = hr.user;
  core.identity.database = hr.database === '' ? null : hr.database;
  core.attributes = hr.attributes;
  core.clientCollation = hr.charset;
  if (!(hr.capabilities & Cap.PLUGIN_AUTH)) {
    throw new LoginFailure(
      'handshake-error',
      formatServerError('ER_NOT_SUPPORTED_AUTH_MODE'),
      'client lacks CLIENT_PLUGIN_AUTH',
    );
  }
  if (ctx.config.tls.require && !client.secure) {
    throw new LoginFailure(
      'tls-required',
      formatServerError('ER_SECURE_TRANSPORT_REQUIRED'),
      'plain login refused: TLS required',
    );
  }
  const gate = ctx.guard.identify(hr.user, core.admission, client.guardTls());
  core.guardUser = hr.user;
  if (gate.refusal !== null) {
    throw new LoginFailure(gate.refusal.outcome, gate.refusal.error, gate.refusal.message);
  }
  if (gate.delayMs > 0) {
    await steps.delay(gate.delayMs);
    ctx.guard.unpark(core.admission);
  }

  steps.enter('backend');
  const link = await openBackend(core, hr);
  core.link = link;
  if (steps.isClosed()) {
    link.channel.socket.destroy();
    return false;
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
  steps.enter('auth');
  core.capabilities = link.capabilities;
  const attrs: Array<[string, string]> = [
    ...hr.attributes,
    ['moat_client_address', `${origin.address}:${origin.port}`],
  ];
  link.channel.write(
    writeHandshakeResponse(
      {
        ...hr,
        capabilities: core.capabilities,
        mariadbCapabilities: backendExtended,
        authResponse: Buffer.alloc(0),
        authPlugin: REAUTH_PLUGIN,
        attributes: attrs,
      },
      link.nextSeq,
    ),
  );
  const outcome = await relayAuth({
    client: { channel: client.channel, secure: client.secure },
    backend: { channel: link.channel, secure: link.secure },
    delta: client.seq - link.nextSeq,
    backendSeq: link.nextSeq,
    plugin: REAUTH_PLUGIN,
    nonce: greeting.nonce,
    atOk: () => ctx.guard.claimUserConnection(core.admission, hr.user, null),
  });
  if (!outcome.ok) {
    client.seq = (outcome.seq - 1) & 0xff;
    throw authFailure(outcome);
  }
  // A session the SQL firewall watches: how its server reads "…" (ANSI_QUOTES), asked before the
  // first command is relayed (the client's commands wait in its channel meanwhile).
  const fw = ctx.sqlFirewall;
  if (fw != null && fw.attach(firewallLogin(core)).profiles.length > 0)
    core.sqlMode = await sqlModeOf(link.channel);
  return true;
}

/** Connects to the backend for this client; a failure is the LoginFailure the client is told. */
function openBackend(core: SessionCore, hr: HandshakeResponse): Promise<BackendLink> {
  const { ctx, origin } = core;
  const proxied = (ctx.backend.proxyProtocol ?? 'off') !== 'off';
  // The PROXY header (backend.proxyProtocol) names the client, or LOCAL for a unix-socket client.
  // (Only when a header is sent: localAddress costs a getsockname per login.)
  const socket = core.client.socket;
  const peer =
    origin.local || !proxied
      ? null
      : {
          source: { address: origin.address, port: origin.port },
          destination: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
        };
  return connectBackend(
    ctx.backend,
    ctx.backendTlsFiles,
    peer,
    {
      clientAddress: origin.address,
      clientLocal: origin.local,
      // Over a unix socket MariaDB matches 'localhost' accounts too, PROXY header or not.
      serverSeesClient: proxied && !origin.local && ctx.backend.endpoint.kind === 'tcp',
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
