// A scripted MySQL 8 server for the authentication tests: no MySQL 8 can be installed on this
// machine (Debian ships MariaDB only), so this plays MySQL 8.0's side of the login exactly as its
// source documentation describes it ("Caching_sha2_password information", "Protocol::HandshakeV10",
// "Authentication Methods"), and answers one query. It is written from the wire documents, not
// with moat's codec, so that a mistake in moat's codec cannot hide here.
//
// caching_sha2_password, as MySQL 8 runs it:
//
//   S: HandshakeV10, plugin caching_sha2_password, 20-byte nonce
//   C: [SSLRequest, TLS] HandshakeResponse41 with scramble =
//        XOR(SHA256(password), SHA256(SHA256(SHA256(password)) ‖ nonce))
//   cached account and the scramble checks out:   S: AuthMoreData 0x03 (fast auth), S: OK
//   otherwise:                                    S: AuthMoreData 0x04 (perform full auth)
//     TLS leg:    C: password ‖ NUL                                  S: OK | ERR 1045
//     plain leg:  C: 0x02 (request public key)    S: AuthMoreData PEM
//                 C: RSA-OAEP-SHA1((password ‖ NUL) ⊕ nonce)         S: OK | ERR 1045
//
// mysql_clear_password accounts get an AuthSwitchRequest('mysql_clear_password') and must answer
// password ‖ NUL.
//
// sha256_password, as MySQL 8 runs it (sql_authentication.cc, sha256_password_authenticate):
//
//   S: AuthSwitchRequest('sha256_password', a fresh 20-byte nonce ‖ NUL)
//   C: 0x00, or an empty packet (no password)                        S: OK | ERR 1045 (password: NO)
//   TLS leg:            C: password ‖ NUL                            S: OK | ERR 1045
//   any other leg:      C: 0x01 (request public key)    S: AuthMoreData PEM
//                       C: RSA-OAEP-SHA1((password ‖ NUL) ⊕ nonce)   S: OK | ERR 1045
//   without RSA keys, on a leg without TLS:                          S: ERR 1045
// Unlike caching_sha2_password, it takes a cleartext answer over TLS only, not over a unix socket.
//
// A cleartext password on a plain TCP leg, a packet out of sequence, any packet that carries an
// account's password bytes on a plain TCP leg, or an answer that should be RSA-sealed and is not,
// is recorded in `violations`.
import {
  constants,
  createHash,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';

export type ScriptedPlugin = 'caching_sha2_password' | 'mysql_clear_password' | 'sha256_password';

export interface ScriptedAccount {
  user: string;
  password: string;
  /** Default caching_sha2_password. */
  plugin?: ScriptedPlugin;
  /** Start with the account in the fast-auth cache (as after an earlier full login). */
  cached?: boolean;
}

export interface ScriptedMysql8Options {
  accounts: ScriptedAccount[];
  /** PEM file paths; when given the greeting offers SSL. */
  tls?: { cert: string; key: string };
  /**
   * Default true. false plays a server without caching_sha2_password_{private,public}_key_path
   * keys: full authentication on a plain leg then ends in ERR 1045, as MySQL logs "Authentication
   * requires either RSA keys or SSL encryption".
   */
  rsaKeys?: boolean;
  /** Also listen on this unix socket path (MySQL's socket: caching_sha2 trusts it, sha256 not). */
  socketPath?: string;
}

/** What one connection's client sent during authentication, in order. */
export type AuthStep =
  | 'ssl-request'
  | 'handshake-response'
  | 'auth-switch-response'
  | 'public-key-request'
  | 'rsa-password'
  | 'cleartext-password';

export type AuthPath =
  | 'empty-password'
  | 'fast'
  | 'full-cleartext'
  | 'full-rsa'
  | 'clear-password'
  | 'sha256-cleartext'
  | 'sha256-rsa';

export interface ScriptedConnection {
  id: number;
  /** The leg to this server was TLS when authentication finished. */
  tls: boolean;
  /** The connection came over the unix socket. */
  unix: boolean;
  user: string | null;
  /** Plugin named in the HandshakeResponse. */
  clientPlugin: string | null;
  attributes: Array<[string, string]>;
  received: AuthStep[];
  /** Sequence id of every packet received, in order (commands restart at 0). */
  seqs: number[];
  path: AuthPath | null;
  result: 'ok' | 'denied' | null;
  /** COM_QUERY texts of the command phase. */
  queries: string[];
  closed: boolean;
  /** What the server made of unusual answers (for assertion messages). */
  notes: string[];
}

export interface ScriptedMysql8 {
  host: '127.0.0.1';
  port: number;
  /** The unix socket path, when one was asked for. */
  socketPath: string | null;
  serverVersion: string;
  publicKeyPem: string;
  connections: ScriptedConnection[];
  /** Protocol or confidentiality violations seen; a test asserts this stays empty. */
  violations: string[];
  /** Users in the fast-auth cache. */
  cached(): string[];
  /** Drops a user from the fast-auth cache (as FLUSH PRIVILEGES would). */
  forget(user: string): void;
  /** The last connection that named `user`. */
  lastFor(user: string): ScriptedConnection | undefined;
  close(): Promise<void>;
}

export const SCRIPTED_VERSION = '8.0.36-scripted';

// Capability flags (MySQL "Capabilities Flags" page). Offered: what MySQL 8.0 offers, less the
// ones that change framing and that no test needs (compression, query attributes, optional
// result-set metadata).
const CAP = {
  LONG_PASSWORD: 1,
  FOUND_ROWS: 1 << 1,
  LONG_FLAG: 1 << 2,
  CONNECT_WITH_DB: 1 << 3,
  NO_SCHEMA: 1 << 4,
  ODBC: 1 << 6,
  LOCAL_FILES: 1 << 7,
  IGNORE_SPACE: 1 << 8,
  PROTOCOL_41: 1 << 9,
  INTERACTIVE: 1 << 10,
  SSL: 1 << 11,
  IGNORE_SIGPIPE: 1 << 12,
  TRANSACTIONS: 1 << 13,
  RESERVED: 1 << 14,
  SECURE_CONNECTION: 1 << 15,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  CAN_HANDLE_EXPIRED_PASSWORDS: 1 << 22,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
} as const;

const BASE_CAPS = Object.values(CAP).reduce((a, b) => a | b, 0) & ~CAP.SSL;

const SERVER_STATUS_AUTOCOMMIT = 0x0002;
/** utf8mb4_0900_ai_ci, MySQL 8's default collation. */
const CHARSET = 255;
const FAST_AUTH_SUCCESS = 0x03;
const PERFORM_FULL_AUTH = 0x04;
const REQUEST_PUBLIC_KEY = 0x02;
const SHA256_REQUEST_PUBLIC_KEY = 0x01;
const MAX_PACKET = 1 << 20;

type Phase = 'handshake' | 'switched' | 'full-auth' | 'rsa' | 'clear' | 'sha256' | 'command' | 'closed';

export async function startScriptedMysql8(opts: ScriptedMysql8Options): Promise<ScriptedMysql8> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const accounts = new Map(opts.accounts.map((a) => [a.user, a]));
  // The fast-auth cache holds SHA256(SHA256(password)) per account, as MySQL's does.
  const cache = new Map<string, Buffer>();
  for (const a of opts.accounts) if (a.cached) cache.set(a.user, sha256(sha256(a.password)));
  const secureContext =
    opts.tls === undefined
      ? null
      : createSecureContext({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) });
  const shared: Shared = {
    accounts,
    cache,
    privateKey,
    publicKeyPem,
    rsaKeys: opts.rsaKeys ?? true,
    secureContext,
    passwords: opts.accounts.filter((a) => a.password !== '').map((a) => Buffer.from(a.password)),
    connections: [],
    violations: [],
  };
  const sockets = new Set<Socket>();
  const serve = (unix: boolean): Server =>
    createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      new ScriptedSession(socket, shared, unix);
    });
  const listen = (server: Server, at: { port: number; host: string } | { path: string }) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, () => resolve());
    });
  const server = serve(false);
  const servers = [server];
  await listen(server, { port: 0, host: '127.0.0.1' });
  if (opts.socketPath !== undefined) {
    const local = serve(true);
    servers.push(local);
    await listen(local, { path: opts.socketPath });
  }
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('scripted mysql8: no TCP address');
  return {
    host: '127.0.0.1',
    port: addr.port,
    socketPath: opts.socketPath ?? null,
    serverVersion: SCRIPTED_VERSION,
    publicKeyPem,
    connections: shared.connections,
    violations: shared.violations,
    cached: () => [...cache.keys()],
    forget: (user) => {
      cache.delete(user);
    },
    lastFor: (user) => shared.connections.findLast((c) => c.user === user),
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((sv) => new Promise<void>((resolve) => sv.close(() => resolve()))));
    },
  };
}

interface Shared {
  accounts: Map<string, ScriptedAccount>;
  cache: Map<string, Buffer>;
  privateKey: KeyObject;
  publicKeyPem: string;
  rsaKeys: boolean;
  secureContext: SecureContext | null;
  passwords: Buffer[];
  connections: ScriptedConnection[];
  violations: string[];
}

let nextConnectionId = 1;

class ScriptedSession {
  private socket: Socket;
  private readonly shared: Shared;
  private readonly record: ScriptedConnection;
  /** The greeting's nonce; sha256_password's switch brings a fresh one (MySQL's plugin makes its own). */
  private nonce = scrambleNonce();
  private readonly serverCaps: number;
  private clientCaps = 0;
  private account: ScriptedAccount | null = null;
  private phase: Phase = 'handshake';
  private buf: Buffer = Buffer.alloc(0);
  /** Sequence id of the next packet, in either direction. */
  private seq = 0;
  private upgrading = false;
  private readonly peer: string;
  private readonly onData = (chunk: Buffer) => this.feed(chunk);

  constructor(socket: Socket, shared: Shared, unix: boolean) {
    this.socket = socket;
    this.shared = shared;
    this.peer = unix ? 'localhost' : (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    this.serverCaps = shared.secureContext === null ? BASE_CAPS : BASE_CAPS | CAP.SSL;
    this.record = {
      id: nextConnectionId++,
      tls: false,
      unix,
      user: null,
      clientPlugin: null,
      attributes: [],
      received: [],
      seqs: [],
      path: null,
      result: null,
      queries: [],
      closed: false,
      notes: [],
    };
    shared.connections.push(this.record);
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.record.closed = true;
      this.phase = 'closed';
    });
    this.send(this.greeting());
  }

  private violation(what: string): void {
    this.shared.violations.push(`connection ${this.record.id} (${this.record.user ?? '?'}): ${what}`);
  }

  /** Frames packets out of the byte stream (test code: concatenation is fine here). */
  private feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4 && !this.upgrading && this.phase !== 'closed') {
      const len = this.buf.readUIntLE(0, 3);
      if (len > MAX_PACKET) {
        this.violation(`packet of ${len} bytes`);
        this.socket.destroy();
        return;
      }
      if (this.buf.length < 4 + len) return;
      const seq = this.buf[3]!;
      const payload = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      this.packet(seq, payload);
    }
  }

  private packet(seq: number, payload: Buffer): void {
    this.record.seqs.push(seq);
    if (this.phase === 'command') {
      if (seq !== 0) this.violation(`command packet with sequence id ${seq}, expected 0`);
      this.seq = 1;
      this.command(payload);
      return;
    }
    if (seq !== this.seq) this.violation(`${this.phase}: sequence id ${seq}, expected ${this.seq}`);
    this.seq = (seq + 1) & 0xff;
    if (!this.record.tls && !this.record.unix) this.checkNoPasswordBytes(payload);
    try {
      this.auth(payload);
    } catch (e) {
      this.violation(`malformed packet in ${this.phase}: ${(e as Error).message}`);
      this.socket.destroy();
    }
  }

  /** On a plain TCP leg no packet may carry any account's password bytes. */
  private checkNoPasswordBytes(payload: Buffer): void {
    for (const p of this.shared.passwords) {
      if (payload.includes(p)) this.violation(`password bytes in clear on a plain leg (${this.phase})`);
    }
  }

  private auth(payload: Buffer): void {
    switch (this.phase) {
      case 'handshake':
        this.handshakeResponse(payload);
        break;
      case 'switched':
        this.record.received.push('auth-switch-response');
        this.scramble(payload);
        break;
      case 'full-auth':
        this.fullAuth(payload);
        break;
      case 'rsa':
        this.rsaPassword(payload);
        break;
      case 'sha256':
        this.sha256Answer(payload);
        break;
      case 'clear':
        this.record.received.push('cleartext-password');
        if (!this.record.tls) this.violation('mysql_clear_password answer on a plain leg');
        this.record.path = 'clear-password';
        this.finish(this.passwordMatches(stripNul(payload)));
        break;
      default:
        this.violation(`unexpected packet in phase ${this.phase}`);
    }
  }

  private handshakeResponse(payload: Buffer): void {
    const caps = payload.readUInt32LE(0);
    if (payload.length === 32 && caps & CAP.SSL) {
      this.record.received.push('ssl-request');
      if (this.shared.secureContext === null) {
        this.violation('SSLRequest but TLS is not offered');
        this.socket.destroy();
        return;
      }
      this.upgrade();
      return;
    }
    this.record.received.push('handshake-response');
    const hr = parseHandshakeResponse(payload);
    this.clientCaps = hr.capabilities;
    this.record.user = hr.user;
    this.record.clientPlugin = hr.plugin;
    this.record.attributes = hr.attributes;
    this.account = this.shared.accounts.get(hr.user) ?? null;
    if (this.account?.plugin === 'mysql_clear_password') {
      if (hr.plugin === 'mysql_clear_password') {
        this.record.received.push('cleartext-password');
        if (!this.record.tls) this.violation('mysql_clear_password answer on a plain leg');
        this.record.path = 'clear-password';
        this.finish(this.passwordMatches(stripNul(hr.authResponse)));
        return;
      }
      this.phase = 'clear';
      this.send(authSwitchRequest('mysql_clear_password', Buffer.concat([this.nonce, Buffer.alloc(1)])));
      return;
    }
    if (this.account?.plugin === 'sha256_password') {
      // Whatever the HandshakeResponse held was made for another plugin's nonce: MySQL switches,
      // and sha256_password's first packet is a nonce of its own.
      this.phase = 'sha256';
      this.nonce = scrambleNonce();
      this.send(authSwitchRequest('sha256_password', Buffer.concat([this.nonce, Buffer.alloc(1)])));
      return;
    }
    if (hr.plugin !== 'caching_sha2_password') {
      // The scramble was made for another plugin: ask again, with the same nonce (MySQL does).
      this.phase = 'switched';
      this.send(authSwitchRequest('caching_sha2_password', Buffer.concat([this.nonce, Buffer.alloc(1)])));
      return;
    }
    this.scramble(hr.authResponse);
  }

  private scramble(response: Buffer): void {
    const account = this.account;
    if (response.length === 0 || (response.length === 1 && response[0] === 0)) {
      // An empty answer is the empty password: no full authentication follows.
      this.record.path = 'empty-password';
      this.finish(account !== null && account.password === '', false);
      return;
    }
    if (response.length !== 32) {
      // MySQL: CR_ERROR, without full authentication.
      this.record.notes.push(`scramble of ${response.length} bytes, not 32`);
      this.finish(false);
      return;
    }
    const stage2 = account === null ? undefined : this.shared.cache.get(account.user);
    if (stage2 !== undefined) {
      // scramble ⊕ SHA256(stage2 ‖ nonce) must be SHA256(password), whose SHA256 is stage2.
      const stage1 = xor(response, sha256(Buffer.concat([stage2, this.nonce])));
      if (timingSafeEqual(sha256(stage1), stage2)) {
        this.record.path = 'fast';
        this.send(authMoreData(Buffer.from([FAST_AUTH_SUCCESS])));
        this.finish(true);
        return;
      }
    }
    // Not cached, a wrong scramble or an unknown user: all go to full authentication (MySQL does
    // not reveal which).
    this.phase = 'full-auth';
    this.send(authMoreData(Buffer.from([PERFORM_FULL_AUTH])));
  }

  private fullAuth(payload: Buffer): void {
    // caching_sha2_password trusts TLS, a unix socket and shared memory (my_vio_is_secure).
    if (this.record.tls || this.record.unix) {
      // MySQL reads the answer on a secure leg as the password, its last byte the NUL
      // (plaintext_password = pkt, pkt_len - 1): a key request here is an empty password.
      this.record.received.push('cleartext-password');
      this.record.path = 'full-cleartext';
      if (payload.length === 1 && payload[0] === REQUEST_PUBLIC_KEY)
        this.record.notes.push('0x02 (public key request) on a TLS leg: MySQL takes it as the password');
      this.finish(this.passwordMatches(payload.subarray(0, Math.max(0, payload.length - 1))));
      return;
    }
    if (!this.shared.rsaKeys) {
      if (payload.length === 1 && payload[0] === REQUEST_PUBLIC_KEY)
        this.record.received.push('public-key-request');
      this.record.notes.push('full authentication on a plain leg without RSA keys');
      this.finish(false);
      return;
    }
    if (payload.length === 1 && payload[0] === REQUEST_PUBLIC_KEY) {
      this.record.received.push('public-key-request');
      this.phase = 'rsa';
      this.send(authMoreData(Buffer.from(this.shared.publicKeyPem)));
      return;
    }
    // A client that already has the key may send the RSA answer straight away.
    this.rsaPassword(payload);
  }

  private rsaPassword(payload: Buffer): void {
    let mixed: Buffer;
    try {
      mixed = privateDecrypt(
        { key: this.shared.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
        payload,
      );
    } catch {
      this.record.received.push('cleartext-password');
      this.violation(`answer on a leg without TLS is not RSA-encrypted (${payload.length} bytes)`);
      this.finish(false);
      return;
    }
    this.record.received.push('rsa-password');
    this.record.path = this.account?.plugin === 'sha256_password' ? 'sha256-rsa' : 'full-rsa';
    // The password runs to the first NUL (MySQL: strlen of the decrypted, un-XORed text); an empty
    // one sent this way is refused (both plugins: "if (pkt_len == 1)" → error).
    const plain = xor(mixed, this.nonce);
    const end = plain.indexOf(0);
    const password = end < 0 ? plain : plain.subarray(0, end);
    if (password.length === 0) this.record.notes.push('an RSA-sealed empty password');
    this.finish(password.length > 0 && this.passwordMatches(password));
  }

  /** sha256_password's one answer to its switch. */
  private sha256Answer(payload: Buffer): void {
    if (payload.length === 0 || (payload.length === 1 && payload[0] === 0)) {
      // No password: MySQL decides before it looks at the connection.
      this.record.path = 'empty-password';
      this.finish(this.account !== null && this.account.password === '', false);
      return;
    }
    const keyRequest = payload.length === 1 && payload[0] === SHA256_REQUEST_PUBLIC_KEY;
    if (this.record.tls) {
      // Over TLS the answer is the password, its last byte the NUL (pkt_len - 1), so a key
      // request here is an empty password, which no account with a password has.
      this.record.received.push('cleartext-password');
      this.record.path = 'sha256-cleartext';
      if (keyRequest)
        this.record.notes.push('0x01 (public key request) on a TLS leg: MySQL takes it as the password');
      this.finish(this.passwordMatches(payload.subarray(0, payload.length - 1)));
      return;
    }
    if (keyRequest) this.record.received.push('public-key-request');
    if (!this.shared.rsaKeys) {
      this.record.notes.push('sha256_password without TLS and without RSA keys');
      this.finish(false);
      return;
    }
    if (keyRequest) {
      this.phase = 'rsa';
      this.send(authMoreData(Buffer.from(this.shared.publicKeyPem)));
      return;
    }
    this.rsaPassword(payload);
  }

  private passwordMatches(given: Buffer): boolean {
    return this.account !== null && given.equals(Buffer.from(this.account.password));
  }

  private finish(ok: boolean, usingPassword = true): void {
    const account = this.account;
    if (ok && account !== null) {
      this.record.result = 'ok';
      if ((account.plugin ?? 'caching_sha2_password') === 'caching_sha2_password')
        this.shared.cache.set(account.user, sha256(sha256(account.password)));
      this.phase = 'command';
      this.send(okPayload(0x00));
      return;
    }
    this.record.result = 'denied';
    this.phase = 'closed';
    this.send(
      errPacket(
        1045,
        '28000',
        `Access denied for user '${this.record.user ?? ''}'@'${this.peer}' (using password: ${usingPassword ? 'YES' : 'NO'})`,
      ),
    );
    this.socket.end();
  }

  private upgrade(): void {
    this.upgrading = true;
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.pause();
    // Bytes after the SSLRequest are the ClientHello: the TLS socket must read them first.
    if (this.buf.length > 0) raw.unshift(this.buf);
    this.buf = Buffer.alloc(0);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.shared.secureContext! });
    secure.on('error', () => {});
    secure.once('secure', () => {
      this.socket = secure;
      this.record.tls = true;
      this.upgrading = false;
      secure.on('data', this.onData);
      secure.on('close', () => {
        this.record.closed = true;
        this.phase = 'closed';
      });
    });
  }

  private command(payload: Buffer): void {
    const com = payload[0];
    if (com === 0x01) {
      // COM_QUIT: the server just closes.
      this.phase = 'closed';
      this.socket.end();
      return;
    }
    if (com === 0x03) {
      const sql = payload.subarray(1).toString('utf8');
      this.record.queries.push(sql);
      const m = /^\s*select\s+current_user\(\)(?:\s+as\s+`?(\w+)`?)?\s*;?\s*$/i.exec(sql);
      if (m !== null) {
        this.resultSet([[m[1] ?? 'CURRENT_USER()', `${this.record.user}@%`]]);
        return;
      }
      // moat asks which account matched when the server sees moat's address for a client that is
      // not on moat's own (matched-account.ts), as over this server's unix socket.
      if (/^\s*select\s+current_user\(\)\s*,\s*user\(\)\s*;?\s*$/i.test(sql)) {
        this.resultSet([
          ['CURRENT_USER()', `${this.record.user}@%`],
          ['USER()', `${this.record.user}@${this.peer}`],
        ]);
        return;
      }
    }
    this.send(errPacket(1047, '08S01', 'Unknown command'));
  }

  /** A one-row text result set of [column, value] pairs (Protocol::ColumnDefinition41, then the row). */
  private resultSet(cells: Array<[string, string]>): void {
    const deprecateEof = (this.clientCaps & this.serverCaps & CAP.DEPRECATE_EOF) !== 0;
    const out: Buffer[] = [];
    const push = (payload: Buffer) => {
      out.push(frame(payload, this.seq));
      this.seq = (this.seq + 1) & 0xff;
    };
    push(lenencInt(cells.length));
    for (const [column] of cells) {
      push(
        Buffer.concat([
          lenencStr('def'),
          lenencStr(''),
          lenencStr(''),
          lenencStr(''),
          lenencStr(column),
          lenencStr(''),
          lenencInt(0x0c),
          u16(CHARSET),
          u32(288), // column length: 72 characters × 4 bytes
          Buffer.from([0xfd]), // MYSQL_TYPE_VAR_STRING
          u16(0x0001), // NOT_NULL_FLAG
          Buffer.from([0x1f]), // decimals
          Buffer.alloc(2),
        ]),
      );
    }
    if (!deprecateEof) push(eofPacket());
    push(Buffer.concat(cells.map(([, value]) => lenencStr(value))));
    // Under DEPRECATE_EOF the result set ends with an OK packet whose header is 0xfe.
    push(deprecateEof ? okPayload(0xfe) : eofPacket());
    this.socket.write(Buffer.concat(out));
  }

  private send(payload: Buffer): void {
    if (this.socket.destroyed) return;
    this.socket.write(frame(payload, this.seq));
    this.seq = (this.seq + 1) & 0xff;
  }

  private greeting(): Buffer {
    const caps = this.serverCaps;
    return Buffer.concat([
      Buffer.from([10]),
      nul(SCRIPTED_VERSION),
      u32(this.record.id),
      this.nonce.subarray(0, 8),
      Buffer.from([0]),
      u16(caps & 0xffff),
      Buffer.from([CHARSET]),
      u16(SERVER_STATUS_AUTOCOMMIT),
      u16(caps >>> 16),
      Buffer.from([this.nonce.length + 1]),
      Buffer.alloc(10),
      this.nonce.subarray(8),
      Buffer.from([0]),
      nul('caching_sha2_password'),
    ]);
  }
}

interface ParsedHandshakeResponse {
  capabilities: number;
  user: string;
  authResponse: Buffer;
  plugin: string | null;
  attributes: Array<[string, string]>;
}

/** Protocol::HandshakeResponse41, every read bounded by the payload. */
function parseHandshakeResponse(p: Buffer): ParsedHandshakeResponse {
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > p.length) throw new Error('HandshakeResponse41 runs past its end');
  };
  const nulStr = (): Buffer => {
    const at = p.indexOf(0, pos);
    if (at < 0) throw new Error('unterminated string in HandshakeResponse41');
    const v = p.subarray(pos, at);
    pos = at + 1;
    return v;
  };
  const lenenc = (): number => {
    need(1);
    const first = p[pos++]!;
    if (first < 0xfb) return first;
    const n = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : -1;
    if (n < 0) throw new Error(`bad lenenc prefix 0x${first.toString(16)}`);
    need(n);
    const v = n === 8 ? Number(p.readBigUInt64LE(pos)) : p.readUIntLE(pos, n);
    pos += n;
    return v;
  };
  const bytes = (n: number): Buffer => {
    need(n);
    const v = p.subarray(pos, pos + n);
    pos += n;
    return v;
  };
  need(32);
  const capabilities = p.readUInt32LE(0);
  if (!(capabilities & CAP.PROTOCOL_41)) throw new Error('client without CLIENT_PROTOCOL_41');
  pos = 32;
  const user = nulStr().toString('utf8');
  let authResponse: Buffer;
  if (capabilities & CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = bytes(lenenc());
  else if (capabilities & CAP.SECURE_CONNECTION) authResponse = bytes(bytes(1)[0]!);
  else authResponse = nulStr();
  if (capabilities & CAP.CONNECT_WITH_DB && pos < p.length) nulStr();
  let plugin: string | null = null;
  if (capabilities & CAP.PLUGIN_AUTH && pos < p.length) {
    const at = p.indexOf(0, pos);
    plugin = p.subarray(pos, at < 0 ? p.length : at).toString('utf8');
    pos = at < 0 ? p.length : at + 1;
  }
  const attributes: Array<[string, string]> = [];
  if (capabilities & CAP.CONNECT_ATTRS && pos < p.length) {
    const end = lenenc() + pos;
    if (end > p.length) throw new Error('connect attributes run past the end');
    while (pos < end) {
      const k = bytes(lenenc()).toString('utf8');
      const v = bytes(lenenc()).toString('utf8');
      attributes.push([k, v]);
    }
  }
  return { capabilities, user, authResponse: Buffer.from(authResponse), plugin, attributes };
}

function frame(payload: Buffer, seq: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

/** AuthSwitchRequest: 0xfe, plugin name NUL, plugin data. */
function authSwitchRequest(plugin: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xfe]), nul(plugin), data]);
}

/** AuthMoreData: 0x01, data. */
function authMoreData(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x01]), data]);
}

function okPayload(header: 0x00 | 0xfe): Buffer {
  return Buffer.concat([Buffer.from([header, 0, 0]), u16(SERVER_STATUS_AUTOCOMMIT), u16(0)]);
}

function eofPacket(): Buffer {
  return Buffer.concat([Buffer.from([0xfe]), u16(0), u16(SERVER_STATUS_AUTOCOMMIT)]);
}

/** ERR: 0xff, code, '#', SQLSTATE, message. */
function errPacket(code: number, state: string, message: string): Buffer {
  return Buffer.concat([Buffer.from([0xff]), u16(code), Buffer.from(`#${state}${message}`, 'utf8')]);
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

function nul(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
}

function lenencInt(v: number): Buffer {
  if (v < 0xfb) return Buffer.from([v]);
  if (v <= 0xffff) return Buffer.concat([Buffer.from([0xfc]), u16(v)]);
  throw new RangeError('lenenc value too large for this server');
}

function lenencStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([lenencInt(b.length), b]);
}

function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** a ⊕ b, b repeated over the length of a (the RSA step XORs a longer password with the nonce). */
function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

function stripNul(b: Buffer): Buffer {
  return b.length > 0 && b[b.length - 1] === 0 ? b.subarray(0, b.length - 1) : b;
}

/** 20 bytes in 0x01..0x7f, no '$' and no NUL, like MySQL's generate_user_salt. */
function scrambleNonce(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) {
    let c = b[i]! & 0x7f || 0x01;
    if (c === 0x24) c = 0x25;
    b[i] = c;
  }
  return b;
}
