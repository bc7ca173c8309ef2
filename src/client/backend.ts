// Opens a connection to the backend server for one login: TCP or unix socket, reads its greeting,
// and, when configured, upgrades to TLS with an SSLRequest. The greeting is read only because a
// real client login is under way: moat never opens a backend connection it does not finish
// (MySQL and MariaDB count an unfinished handshake against the proxy's address).
//
// With backend.proxyProtocol, a PROXY protocol header goes first, before the greeting is read:
// MariaDB reads it from the addresses in proxy_protocol_networks (and refuses a connection from
// them that lacks it), and then matches grants, host_cache, its audit plugin and its error texts
// against the client's address instead of moat's.
import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { PacketChannel } from '../net/channel.ts';
import type { Endpoint } from '../net/endpoint.ts';
import { formatEndpoint } from '../net/endpoint.ts';
import { Cap, Header } from '../protocol/constants.ts';
import type { ServerError } from '../protocol/error-codes.ts';
import { type Handshake, readHandshake } from '../protocol/packets/handshake.ts';
import { writeSslRequest } from '../protocol/packets/handshake-response.ts';
import { readErr } from '../protocol/packets/result.ts';
import { type ProxyPeer, writeProxyHeader } from '../protocol/proxy-header.ts';

export interface BackendTarget {
  endpoint: Endpoint;
  connectTimeoutMs: number;
  tls: { mode: 'off' | 'require' | 'verify'; ca?: string; cert?: string; key?: string; servername?: string };
  maxPacketSize: number;
  /** Send a PROXY protocol header first (MariaDB's proxy_protocol_networks). Absent: off. */
  proxyProtocol?: 'off' | 'v1' | 'v2';
}

/**
 * Whom the PROXY header names: the client (its address and the listener address it reached), or
 * null for moat's own logins and unix-socket clients, sent as LOCAL / UNKNOWN so that the server
 * uses the connection's real peer.
 */
export type BackendPeer = { source: ProxyPeer; destination: ProxyPeer } | null;

export type BackendErrorCode =
  | 'MOAT_BACKEND_UNREACHABLE'
  | 'MOAT_BACKEND_TIMEOUT'
  | 'MOAT_BACKEND_REFUSED'
  | 'MOAT_BACKEND_TLS'
  | 'MOAT_BACKEND_PROTOCOL';

export class BackendError extends Error {
  readonly code: BackendErrorCode;
  /** The backend as configured ("10.0.0.5:3306", "unix:/run/mysqld/mysqld.sock"). */
  readonly endpoint: string;
  /** What went wrong, without the endpoint: a socket error code (ECONNREFUSED), "connect timed out …". */
  readonly reason: string;
  /** The backend's own ERR (a refused greeting: 1040, 1129 …), relayed to the client as is. */
  readonly serverError: ServerError | null;
  constructor(
    code: BackendErrorCode,
    endpoint: string,
    reason: string,
    serverError: ServerError | null = null,
  ) {
    super(`backend ${endpoint}: ${reason}`);
    this.name = 'BackendError';
    this.code = code;
    this.endpoint = endpoint;
    this.reason = reason;
    this.serverError = serverError;
  }
}

export interface BackendLink {
  channel: PacketChannel;
  greeting: Handshake;
  /** Sequence id for the HandshakeResponse (1, or 2 after an SSLRequest). */
  nextSeq: number;
  /** TLS or a unix socket: a cleartext password may cross it. */
  secure: boolean;
  tls: boolean;
  /**
   * The capabilities this login asks the server for (and MariaDB's extended ones). With TLS they
   * were sent in the SSLRequest, and MariaDB takes a client's capabilities from that first packet
   * only, never from the HandshakeResponse inside TLS: the response must carry exactly these.
   */
  capabilities: number;
  extended: number;
}

/** What a login asks the server for, once its greeting is known (tls: the leg will be TLS). */
export type CapabilityRequest = (
  greeting: Handshake,
  tls: boolean,
) => { capabilities: number; extended: number };

/** moat's own logins: what every server since MySQL 4.1 speaks. */
const MINIMAL_REQUEST: CapabilityRequest = () => ({
  capabilities: Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH,
  extended: 0,
});

/** Reads the CA/cert/key files once per target, not once per login. */
export function backendTlsFiles(t: BackendTarget['tls']): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  return {
    ca: t.ca === undefined ? undefined : readFileSync(t.ca),
    cert: t.cert === undefined ? undefined : readFileSync(t.cert),
    key: t.key === undefined ? undefined : readFileSync(t.key),
  };
}

/**
 * `peer` is whom a PROXY header names when target.proxyProtocol is on (ignored when off);
 * `identity`, for a client's login, is what the auth relay checks before it relays the backend's
 * OK (see identityOf).
 */
export async function connectBackend(
  target: BackendTarget,
  tlsFiles: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  peer: BackendPeer = null,
  identity: BackendIdentity | null = null,
  request: CapabilityRequest = MINIMAL_REQUEST,
): Promise<BackendLink> {
  const where = formatEndpoint(target.endpoint);
  const socket = await openSocket(target.endpoint, target.connectTimeoutMs, where);
  const channel = new PacketChannel(socket, target.maxPacketSize);
  const timer = setTimeout(
    () => socket.destroy(new BackendError('MOAT_BACKEND_TIMEOUT', where, 'no greeting in time')),
    target.connectTimeoutMs,
  );
  try {
    const mode = target.proxyProtocol ?? 'off';
    if (mode !== 'off') {
      // The server reads the header before it sends its greeting; the header must be the first
      // bytes on the connection, and exactly one.
      socket.write(writeProxyHeader(mode, peer?.source ?? null, peer?.destination ?? LOCAL_DESTINATION));
    }
    const first = await channel.read().catch((e: Error) => {
      throw e instanceof BackendError ? e : new BackendError('MOAT_BACKEND_UNREACHABLE', where, e.message);
    });
    if (first.payload[0] === Header.ERR) {
      const err = readErr(first.payload);
      throw new BackendError('MOAT_BACKEND_REFUSED', where, `refused: ${err.code} ${err.message}`, err);
    }
    let greeting: Handshake;
    try {
      greeting = readHandshake(first.payload);
    } catch (e) {
      throw new BackendError('MOAT_BACKEND_PROTOCOL', where, (e as Error).message);
    }
    if (identity !== null) identities.set(channel, identity);
    const unix = target.endpoint.kind === 'unix';
    const { capabilities, extended } = request(greeting, target.tls.mode !== 'off');
    if (target.tls.mode === 'off') {
      return { channel, greeting, nextSeq: 1, secure: unix, tls: false, capabilities, extended };
    }
    if (!(greeting.capabilities & Cap.SSL)) {
      throw new BackendError(
        'MOAT_BACKEND_TLS',
        where,
        `does not offer TLS, but backend.tls.mode is '${target.tls.mode}'`,
      );
    }
    socket.write(
      writeSslRequest(
        {
          capabilities,
          maxPacketSize: 0xffffff,
          charset: greeting.charset || 45,
          mariadbCapabilities: extended,
        },
        1,
      ),
    );
    const { partial } = channel.detach();
    if (partial) throw new BackendError('MOAT_BACKEND_PROTOCOL', where, 'sent data after its greeting');
    const tlsSocket = await upgrade(socket, target, tlsFiles, where);
    channel.reattach(tlsSocket);
    return { channel, greeting, nextSeq: 2, secure: true, tls: true, capabilities, extended };
  } catch (e) {
    socket.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function openSocket(endpoint: Endpoint, timeoutMs: number, where: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      endpoint.kind === 'unix'
        ? netConnect({ path: endpoint.path })
        : netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new BackendError('MOAT_BACKEND_TIMEOUT', where, `connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new BackendError('MOAT_BACKEND_UNREACHABLE', where, e.code ?? e.message));
    };
    socket.once('error', onError);
  });
}

function upgrade(
  socket: Socket,
  target: BackendTarget,
  files: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  where: string,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const verify = target.tls.mode === 'verify';
    const host = target.endpoint.kind === 'tcp' ? target.endpoint.host : 'localhost';
    const tlsSocket = tlsConnect({
      socket,
      ca: files.ca,
      cert: files.cert,
      key: files.key,
      // The certificate is checked against `host` (an IP SAN for an IP backend); SNI is only sent
      // for names, as RFC 6066 forbids it for literal addresses.
      host: target.tls.servername ?? host,
      servername: target.tls.servername ?? (isIP(host) === 0 ? host : undefined),
      rejectUnauthorized: verify,
      minVersion: 'TLSv1.2',
    });
    tlsSocket.once('secureConnect', () => {
      tlsSocket.off('error', onError);
      resolve(tlsSocket);
    });
    const onError = (e: Error) => reject(new BackendError('MOAT_BACKEND_TLS', where, `TLS: ${e.message}`));
    tlsSocket.once('error', onError);
  });
}

/** LOCAL / UNKNOWN headers carry no addresses; the destination is a placeholder. */
const LOCAL_DESTINATION: ProxyPeer = { address: '0.0.0.0', port: 0 };

/**
 * What a client's login must not inherit from moat (issue 16): the server authenticates the
 * connection it sees, and without the PROXY protocol that is moat's — its address for host-limited
 * accounts, its OS user for unix_socket / auth_socket over a unix-socket backend.
 */
export interface BackendIdentity {
  /** The client's address as the guard knows it (after a trusted PROXY header). */
  clientAddress: string;
  /**
   * The backend sees the client's address: backend.proxyProtocol on over TCP. Not over a unix
   * socket: MariaDB then matches 'localhost' accounts as well as the header's address (seen:
   * root@localhost's unix_socket let a header naming 127.0.0.78 in with a wrong password).
   */
  serverSeesClient: boolean;
  /** The client reached moat over its unix-socket listener: it is local, as moat is. */
  clientLocal: boolean;
  /** backend.localAccounts: refuse (default) or allow accounts limited to moat's own host. */
  localAccounts: 'refuse' | 'allow';
  /** The backend is reached over a unix socket: peer-credential plugins authenticate moat. */
  unixBackend: boolean;
  /** The client's HandshakeResponse to moat carried auth data: a 1045 says "using password: YES". */
  passwordGiven: boolean;
  /** The user name of the login, for moat's own 1045 when the server cannot be asked. */
  user: string;
}

// Kept beside the channel rather than passed to relayAuth by each caller, so that every auth
// exchange on this connection — the login and each COM_CHANGE_USER — is checked alike.
const identities = new WeakMap<PacketChannel, BackendIdentity>();

/** The identity rules of the client's login on this backend channel; null for moat's own logins. */
export function identityOf(channel: PacketChannel): BackendIdentity | null {
  return identities.get(channel) ?? null;
}
