// The admin port: a MySQL-protocol server for moat's operators. Any MySQL client connects
// (`mariadb -h127.0.0.1 -P6033 -udba -p`), logs in with mysql_native_password against a stored
// hash, and runs SQL over moat's runtime state (engine.ts). Loopback and configured networks
// only; no user, no port. Every statement is logged with who ran it and from where. Logins pass
// the admin guard (guard.ts): blocked addresses get 1129, repeated failures a login delay that is
// a timer before the password is checked, and every attempt is a Connect audit record.

import { randomBytes } from 'node:crypto';
import { createServer, isIP, isIPv4, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { blockListOf, type Config } from '../config/schema.ts';
import { normalizeAddress } from '../model/address.ts';
import { bindServer } from '../net/bind.ts';
import { PacketChannel } from '../net/channel.ts';
import { type Endpoint, formatEndpoint } from '../net/endpoint.ts';
import { acceptTls, type ServerTls } from '../net/tls.ts';
import { Cap, Com, Status } from '../protocol/constants.ts';
import { formatServerError, type ServerError } from '../protocol/error-codes.ts';
import { writeAuthSwitchRequest } from '../protocol/packets/auth.ts';
import { writeHandshake } from '../protocol/packets/handshake.ts';
import { isSslRequest, readHandshakeResponse } from '../protocol/packets/handshake-response.ts';
import { writeErr, writeOk } from '../protocol/packets/result.ts';
import { eof, writeResultSet } from '../protocol/packets/resultset.ts';
import { redactStatement } from '../sql/redact.ts';
import { AdminEngine, AdminError, type AdminRuntime, SCHEMAS } from './engine.ts';
import type { AdminAttempt, AdminGuard } from './guard.ts';
import { verifyNativeScramble } from './password.ts';

const CAPS =
  (Cap.LONG_PASSWORD |
    Cap.LONG_FLAG |
    Cap.CONNECT_WITH_DB |
    Cap.PROTOCOL_41 |
    Cap.TRANSACTIONS |
    Cap.SECURE_CONNECTION |
    Cap.MULTI_RESULTS |
    Cap.PLUGIN_AUTH |
    Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Cap.CONNECT_ATTRS |
    Cap.DEPRECATE_EOF) >>>
  0;
const NATIVE = 'mysql_native_password';
const MAX_ADMIN_PACKET = 1 << 20;
/** The whole login, from accept to OK, not counting a connection-control delay. */
const LOGIN_TIMEOUT_MS = 10_000;

export interface AdminServerOptions {
  /** The admin side's guard, shared with the HTTP API. */
  guard: AdminGuard;
  /** Refuse plain TCP logins from off this host with 3159 (admin.requireTls, else tls.require). */
  requireTls: boolean;
}

type Role = 'admin' | 'readonly';

/** Loopback and unix-socket clients never cross a network: exempt from requireTls. */
function onThisHost(ip: string): boolean {
  if (ip === 'localhost' || ip === '::1') return true;
  return isIPv4(ip) && ip.startsWith('127.');
}

export class AdminServer {
  private readonly config: Config['admin'];
  private readonly log: Logger;
  private readonly engine: AdminEngine;
  private readonly allow;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private nextId = 1;
  /** Every statement run here, with who ran it and how it ended (audit's Admin events). */
  onStatement: (
    who: { user: string; ip: string; connectionId: number },
    sql: string,
    status: number,
  ) => void = () => {};
  readonly serverVersion: string;

  /** The gateway's client-side TLS, offered on the admin port too (SSLRequest → TLS 1.2+). */
  private readonly tls: ServerTls | null;
  private readonly guard: AdminGuard;
  private readonly requireTls: boolean;

  constructor(
    config: Config['admin'],
    runtime: AdminRuntime,
    log: Logger,
    serverVersion: string,
    tls: ServerTls | null,
    options: AdminServerOptions,
  ) {
    this.config = config;
    this.tls = tls;
    this.log = log;
    this.guard = options.guard;
    this.requireTls = options.requireTls;
    this.engine = new AdminEngine(runtime, options.guard);
    this.allow = blockListOf(config.allowFrom);
    this.serverVersion = serverVersion;
  }

  async listen(): Promise<Endpoint> {
    const server = createServer({ noDelay: true }, (s) => void this.serve(s));
    this.server = server;
    const bound = await bindServer(server, this.config.listen, (e) =>
      this.log.error({ err: e.message }, 'admin port server error'),
    );
    this.log.info({ admin: formatEndpoint(bound) }, 'admin port listening');
    return bound;
  }

  async close(): Promise<void> {
    this.server?.close();
    for (const s of this.sockets) s.destroy();
    this.engine.close();
  }

  private async serve(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const ip = socket.remoteAddress === undefined ? 'localhost' : normalizeAddress(socket.remoteAddress);
    const id = this.nextId++;
    if (isIP(ip) !== 0 && !this.allow.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')) {
      this.log.warn({ ip }, 'admin connection from a network not in admin.allowFrom');
      this.guard.outsideAllowFrom('admin', ip, socket.remotePort ?? 0, id);
      socket.end(writeErr(formatServerError('ER_HOST_NOT_PRIVILEGED', ip), 0));
      return;
    }
    const { attempt, refusal } = this.guard.admit('admin', ip, socket.remotePort ?? 0, id);
    if (refusal !== null) {
      this.log.warn({ ip, why: refusal.message }, 'admin connection refused');
      socket.end(writeErr(refusal.error, 0));
      return;
    }
    const channel = new PacketChannel(socket, MAX_ADMIN_PACKET);
    let timer = setTimeout(() => socket.destroy(), LOGIN_TIMEOUT_MS);
    // A login delay is not the client's slowness: the deadline is pushed back by the delay.
    const extend = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), LOGIN_TIMEOUT_MS + ms);
    };
    let loggedIn = false;
    try {
      const login = await this.login(socket, channel, attempt, extend);
      clearTimeout(timer);
      if (login === null) return;
      loggedIn = true;
      await this.commands(login.socket, channel, { ...login, host: ip, connectionId: id });
    } catch {
      socket.destroy();
    } finally {
      clearTimeout(timer);
      // A login that broke off (garbage, timeout, hang-up) counts as a handshake error.
      this.guard.finished(attempt, 'handshake-error', 0, 'handshake error on the admin port');
      if (loggedIn) this.guard.ended(attempt);
    }
  }

  private async login(
    raw: Socket,
    channel: PacketChannel,
    attempt: AdminAttempt,
    extend: (ms: number) => void,
  ): Promise<{ user: string; role: Role; db: string | null; caps: number; socket: Socket } | null> {
    const id = attempt.connectionId;
    const ip = attempt.admission.ip;
    let socket = raw;
    const nonce = printable(randomBytes(20));
    const caps = this.tls === null ? CAPS : (CAPS | Cap.SSL) >>> 0;
    socket.write(
      writeHandshake({
        protocolVersion: 10,
        serverVersion: this.serverVersion,
        connectionId: id,
        nonce,
        capabilities: caps,
        mariadbCapabilities: 0,
        charset: 45,
        status: Status.AUTOCOMMIT,
        authPlugin: NATIVE,
      }),
    );
    let first = await channel.read();
    if (isSslRequest(first.payload) && this.tls !== null) {
      socket = await acceptTls(channel, socket, this.tls);
      first = await channel.read();
    }
    const hr = readHandshakeResponse(first.payload);
    let seq = first.seq;
    let scramble = hr.authResponse;
    const secure = socket instanceof TLSSocket;
    if (socket instanceof TLSSocket) {
      attempt.tls = { version: socket.getProtocol(), cipher: socket.getCipher()?.name ?? null };
    }
    attempt.user = hr.user;
    const refuse = (outcome: 'auth-denied' | 'tls-required', error: ServerError) => {
      this.log.warn({ user: hr.user, ip, code: error.code }, 'admin login failed');
      this.guard.finished(attempt, outcome, error.code, error.message);
      socket.end(writeErr(error, seq + 1));
      return null;
    };
    if (this.requireTls && !secure && !onThisHost(ip)) {
      return refuse('tls-required', formatServerError('ER_SECURE_TRANSPORT_REQUIRED'));
    }
    // Connection control: the wait comes before the password is looked at, right or wrong.
    const delayMs = this.guard.delayFor(attempt, hr.user);
    if (delayMs > 0) {
      extend(delayMs);
      await sleep(delayMs);
      this.guard.resume(attempt);
      if (socket.destroyed) throw new Error('client gone during the login delay');
    }
    if (hr.authPlugin !== null && hr.authPlugin !== NATIVE) {
      // A MySQL 8 client starts with caching_sha2_password: ask for the native scramble.
      socket.write(
        writeAuthSwitchRequest({ plugin: NATIVE, data: Buffer.concat([nonce, Buffer.alloc(1)]) }, seq + 1),
      );
      const again = await channel.read();
      seq = again.seq;
      scramble = again.payload;
    }
    const account = this.config.users.find((u) => u.user === hr.user);
    const ok = account !== undefined && verifyNativeScramble(account.passwordHash, nonce, scramble);
    if (!ok) {
      const used = scramble.length > 0 ? 'YES' : 'NO';
      return refuse('auth-denied', formatServerError('ER_ACCESS_DENIED_ERROR', hr.user, ip, used));
    }
    this.guard.finished(attempt, 'ok', 0, null);
    const db = hr.database !== null && hr.database !== '' ? hr.database.toLowerCase() : null;
    if (db !== null && !(SCHEMAS as readonly string[]).includes(db)) {
      socket.end(writeErr(formatServerError('ER_BAD_DB_ERROR', hr.database ?? ''), seq + 1));
      this.guard.ended(attempt);
      return null;
    }
    socket.write(writeOk({ status: Status.AUTOCOMMIT }, seq + 1));
    this.log.info({ user: hr.user, ip, tls: attempt.tls.version, role: account.role }, 'admin login');
    return { user: hr.user, role: account.role, db, caps: hr.capabilities & caps, socket };
  }

  private async commands(
    socket: Socket,
    channel: PacketChannel,
    who: { user: string; role: Role; db: string | null; caps: number; host: string; connectionId: number },
  ): Promise<void> {
    let db = who.db;
    for (;;) {
      const p = await channel.read();
      const com = p.payload[0];
      const reply = (b: Buffer) => socket.write(b);
      if (com === Com.QUIT) {
        socket.end();
        return;
      }
      if (com === Com.PING) {
        reply(writeOk({ status: Status.AUTOCOMMIT }, 1));
        continue;
      }
      let sql: string;
      if (com === Com.QUERY) sql = p.payload.toString('utf8', 1);
      else if (com === Com.INIT_DB) sql = `USE \`${p.payload.toString('utf8', 1)}\``;
      else if (com === Com.FIELD_LIST) {
        // The mysql client's table-name completion: no columns, just the end of the list.
        reply(eof(1, Status.AUTOCOMMIT));
        continue;
      } else {
        reply(writeErr(formatServerError('ER_UNKNOWN_COM_ERROR'), 1));
        continue;
      }
      // Every admin statement is recorded: who, from where, what (passwords redacted).
      this.log.info({ admin: who.user, ip: who.host, statement: redactStatement(sql) }, 'admin statement');
      const auditWho = { user: who.user, ip: who.host, connectionId: who.connectionId };
      try {
        const caller = { user: who.user, host: who.host, db, connectionId: who.connectionId, role: who.role };
        const fleet = await this.engine.prepare(sql, caller);
        const r = this.engine.execute(sql, caller, fleet);
        this.onStatement(auditWho, sql, 0);
        if (r.kind === 'ok') {
          if (r.db !== undefined) db = r.db;
          reply(writeOk({ affectedRows: r.affectedRows, status: Status.AUTOCOMMIT, info: r.info }, 1));
        } else reply(writeResultSet(r.columns, r.rows, who.caps, 1, Status.AUTOCOMMIT));
      } catch (e) {
        this.onStatement(auditWho, sql, e instanceof AdminError ? e.error.code : 1105);
        if (e instanceof AdminError) reply(writeErr(e.error, 1));
        else {
          this.log.error({ err: e, statement: redactStatement(sql) }, 'admin statement failed');
          reply(writeErr(formatServerError('ER_UNKNOWN_ERROR', `moat: ${(e as Error).message}`), 1));
        }
      }
    }
  }
}

/** A scramble of printable bytes (no NUL inside, as MySQL's). */
function printable(b: Buffer): Buffer {
  for (let i = 0; i < b.length; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}
