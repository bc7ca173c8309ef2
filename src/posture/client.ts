// The smallest SQL client `moat check` needs: one login (the gateway's own connectBackend for the
// greeting and TLS, the health check's scrambles, and client_ed25519), then COM_QUERY with text
// result sets read into rows of strings. Every login it starts it finishes and ends with COM_QUIT,
// so the server never counts it as an aborted connect against this host's address.
import type { X509Certificate } from 'node:crypto';
import { constants, publicEncrypt } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { normalizeAddress } from '../gateway/address.ts';
import { type BackendTarget, connectBackend } from '../gateway/backend.ts';
import type { PacketChannel } from '../gateway/channel.ts';
import { scramble, xor } from '../protocol/client-auth.ts';
import { Cap, Com, DEFAULT_CHARSET, Header } from '../protocol/constants.ts';
import type { Packet } from '../protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../protocol/packets/auth.ts';
import type { Handshake } from '../protocol/packets/handshake.ts';
import { writeHandshakeResponse } from '../protocol/packets/handshake-response.ts';
import { readErr } from '../protocol/packets/result.ts';
import { PayloadReader } from '../protocol/reader.ts';

export type Row = Record<string, string | null>;

/** An ERR packet from the server, with its MySQL error code (1045, 1142 …). */
export class SqlError extends Error {
  readonly code: number;
  readonly state: string;
  constructor(code: number, state: string, message: string) {
    super(`${code} ${message}`);
    this.name = 'SqlError';
    this.code = code;
    this.state = state;
  }
}

export interface Credentials {
  user: string;
  password: string;
}

export interface SqlClient {
  greeting: Handshake;
  tls: boolean;
  /** This end's address as the server sees it (null over a unix socket). */
  localAddress: string | null;
  /** The server's certificate, when the connection is TLS. */
  peerCertificate: X509Certificate | null;
  query(sql: string): Promise<Row[]>;
  /** COM_QUIT, then close. */
  close(): void;
}

const CAPABILITIES = (Cap.LONG_PASSWORD |
  Cap.PROTOCOL_41 |
  Cap.SECURE_CONNECTION |
  Cap.PLUGIN_AUTH |
  Cap.TRANSACTIONS) as number;

export async function connectSql(
  target: BackendTarget,
  files: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  account: Credentials,
): Promise<SqlClient> {
  const link = await connectBackend(target, files);
  const ch = link.channel;
  const read = (): Promise<Packet> => readWithin(ch, target.connectTimeoutMs);
  try {
    await login(ch, read, link.greeting, link.nextSeq, link.tls, link.secure, account);
  } catch (e) {
    ch.socket.destroy();
    throw e;
  }
  const socket = ch.socket;
  const peer = link.tls ? ((socket as TLSSocket).getPeerX509Certificate() ?? null) : null;
  return {
    greeting: link.greeting,
    tls: link.tls,
    localAddress: socket.localAddress === undefined ? null : normalizeAddress(socket.localAddress),
    peerCertificate: peer,
    query: (sql) => query(ch, read, sql),
    close: () => {
      ch.write(writeRaw(Buffer.from([Com.QUIT]), 0));
      socket.end();
    },
  };
}

function readWithin(ch: PacketChannel, ms: number): Promise<Packet> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ch.socket.destroy();
      reject(new Error(`no answer from the server within ${ms} ms`));
    }, ms);
  });
  return Promise.race([ch.read(), timeout]).finally(() => clearTimeout(timer));
}

/** The first answer to a nonce for the plugins a check account may use. */
function answer(plugin: string, password: string, nonce: Buffer, secure: boolean): Buffer {
  if (plugin === 'mysql_clear_password') {
    if (!secure) throw new Error('the server asks for the cleartext password over a plain connection');
    return Buffer.concat([Buffer.from(password, 'utf8'), Buffer.alloc(1)]);
  }
  return scramble(plugin, password, nonce);
}

const FIRST_PLUGINS = new Set(['mysql_native_password', 'caching_sha2_password', 'client_ed25519']);

async function login(
  ch: PacketChannel,
  read: () => Promise<Packet>,
  g: Handshake,
  seq: number,
  tls: boolean,
  secure: boolean,
  account: Credentials,
): Promise<void> {
  // A greeting naming a plugin we cannot answer first gets a native answer: the server then
  // switches to the account's own plugin.
  let plugin = FIRST_PLUGINS.has(g.authPlugin) ? g.authPlugin : 'mysql_native_password';
  let nonce = g.nonce;
  ch.write(
    writeHandshakeResponse(
      {
        capabilities: (CAPABILITIES | (tls ? Cap.SSL : 0)) >>> 0,
        mariadbCapabilities: 0,
        maxPacketSize: 0xffffff,
        charset: g.charset || DEFAULT_CHARSET,
        user: account.user,
        authResponse: answer(plugin, account.password, nonce, secure),
        database: null,
        authPlugin: plugin,
        attributes: [],
      },
      seq,
    ),
  );
  for (;;) {
    const p = await read();
    const first = p.payload[0];
    if (first === Header.OK) return;
    if (first === Header.ERR) {
      const e = readErr(p.payload);
      throw new SqlError(e.code, e.state, e.message);
    }
    if (first === Header.AUTH_SWITCH) {
      const req = readAuthSwitchRequest(p.payload);
      plugin = req.plugin;
      // client_ed25519's nonce is exactly 32 bytes with no terminator; a trailing 0 is nonce.
      nonce = plugin === 'client_ed25519' ? req.data : nonceOf(req.data);
      ch.write(writeRaw(answer(plugin, account.password, nonce, secure), p.seq + 1));
      continue;
    }
    if (first === Header.AUTH_MORE_DATA && plugin === 'caching_sha2_password') {
      const code = p.payload[1];
      if (code === 0x03) continue; // fast authentication: OK follows
      const clear = Buffer.concat([Buffer.from(account.password, 'utf8'), Buffer.alloc(1)]);
      if (code === 0x04) {
        // Full authentication: the password in clear only inside TLS or a unix socket, else
        // ask for the server's RSA key (0x02) and encrypt it.
        ch.write(writeRaw(secure ? clear : Buffer.from([0x02]), p.seq + 1));
        continue;
      }
      const sealed = publicEncrypt(
        { key: p.payload.subarray(1), padding: constants.RSA_PKCS1_OAEP_PADDING },
        xor(clear, nonce),
      );
      ch.write(writeRaw(sealed, p.seq + 1));
      continue;
    }
    throw new Error(`unexpected packet 0x${(first ?? 0).toString(16)} during login`);
  }
}

// The text protocol answer to COM_QUERY (no DEPRECATE_EOF was asked for, so EOF packets close
// the column definitions and the rows):
//   OK | ERR | column count, ColumnDefinition41 × n, EOF, rows (lenenc strings, 0xfb = NULL), EOF|ERR
async function query(ch: PacketChannel, read: () => Promise<Packet>, sql: string): Promise<Row[]> {
  ch.write(writeRaw(Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(sql, 'utf8')]), 0));
  const head = await read();
  const first = head.payload[0];
  if (first === Header.ERR) throw errOf(head.payload);
  if (first === Header.OK) return [];
  const count = new PayloadReader(head.payload).lenenc('column count');
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = new PayloadReader((await read()).payload);
    for (let skip = 0; skip < 4; skip++) r.lenencBytes('column definition'); // catalog … org_table
    names.push(r.lenencBytes('column name').toString('utf8'));
  }
  const eof = await read();
  if (!isEof(eof.payload)) throw new Error('expected EOF after the column definitions');
  const rows: Row[] = [];
  for (;;) {
    const p = (await read()).payload;
    if (isEof(p)) return rows;
    if (p[0] === Header.ERR) throw errOf(p);
    const r = new PayloadReader(p);
    const row: Row = {};
    for (const name of names) {
      if (p[r.pos] === 0xfb) {
        r.skip(1);
        row[name] = null;
      } else row[name] = r.lenencBytes(name).toString('utf8');
    }
    rows.push(row);
  }
}

// A row may begin with 0xfe too (an 8-byte length prefix); EOF is the short packet.
const isEof = (p: Buffer): boolean => p[0] === Header.EOF && p.length < 9;

function errOf(payload: Buffer): SqlError {
  const e = readErr(payload);
  return new SqlError(e.code, e.state, e.message);
}
