// The logins moat makes itself to the backend — the health check and `moat check` — as a client
// would: the gateway's connectBackend for the greeting and TLS, a HandshakeResponse, then the auth
// exchange (an AuthSwitchRequest to the account's plugin; caching_sha2_password's fast path, full
// authentication in clear only inside TLS or a unix socket, else RSA-sealed). Every read has a
// deadline. What follows the login (COM_QUERY, COM_QUIT) is the caller's.
import { randomBytes } from 'node:crypto';
import type { PacketChannel } from '../net/channel.ts';
import { scramble, sealPassword } from '../protocol/client-auth.ts';
import { Cap, DEFAULT_CHARSET, Header } from '../protocol/constants.ts';
import type { Packet } from '../protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../protocol/packets/auth.ts';
import type { Handshake } from '../protocol/packets/handshake.ts';
import { writeHandshakeResponse } from '../protocol/packets/handshake-response.ts';
import { readErr } from '../protocol/packets/result.ts';
import { type BackendLink, type BackendTarget, connectBackend } from './backend.ts';

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

const CAPABILITIES = (Cap.LONG_PASSWORD |
  Cap.PROTOCOL_41 |
  Cap.SECURE_CONNECTION |
  Cap.PLUGIN_AUTH |
  Cap.TRANSACTIONS) as number;

export interface LoggedIn {
  link: BackendLink;
  /** The next packet, within the connect timeout (the socket is destroyed when it runs out). */
  read(): Promise<Packet>;
}

/**
 * Connects and logs in; rejects with SqlError for the server's ERR (1045 …), BackendError when
 * the server cannot be reached, Error for anything else. `onGreeting` sees the server's greeting
 * before the login is tried (the health check learns the server's version from it).
 */
export async function loginBackend(
  target: BackendTarget,
  files: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  account: Credentials,
  onGreeting: (g: Handshake) => void = () => {},
): Promise<LoggedIn> {
  const link = await connectBackend(target, files);
  onGreeting(link.greeting);
  const ch = link.channel;
  const read = (): Promise<Packet> => readWithin(ch, target.connectTimeoutMs);
  try {
    await login(ch, read, link.greeting, link.nextSeq, link.tls, link.secure, account);
  } catch (e) {
    ch.socket.destroy();
    throw e;
  }
  return { link, read };
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
      ch.write(writeRaw(sealPassword(clear, nonce, p.payload.subarray(1)), p.seq + 1));
      continue;
    }
    throw new Error(`unexpected packet 0x${(first ?? 0).toString(16)} during login`);
  }
}

/**
 * Whether the server maps moat's own OS user to an account over this connection (issue 16): a
 * login as `osUser` that knows no password — the plugin moat_reauth, then a random answer to any
 * AuthSwitchRequest — and the server's verdict. 'mapped': it said OK, so it authenticated the
 * socket's peer (unix_socket / auth_socket, alone or after a failed password in a chain); every
 * client moat relays over such a socket could become that account. Never run over TCP: an
 * unfinished or failed login there counts against moat's address (max_connect_errors).
 */
export async function probeOwnIdentity(
  target: BackendTarget,
  osUser: string,
): Promise<'mapped' | 'not-mapped'> {
  const link = await connectBackend(target, {});
  const ch = link.channel;
  const read = (): Promise<Packet> => readWithin(ch, target.connectTimeoutMs);
  try {
    ch.write(
      writeHandshakeResponse(
        {
          capabilities: CAPABILITIES,
          mariadbCapabilities: 0,
          maxPacketSize: 0xffffff,
          charset: link.greeting.charset || DEFAULT_CHARSET,
          user: osUser,
          authResponse: Buffer.alloc(0),
          database: null,
          authPlugin: 'moat_reauth',
          attributes: [],
        },
        link.nextSeq,
      ),
    );
    for (;;) {
      const p = await read();
      const first = p.payload[0];
      if (first === Header.OK) {
        ch.write(writeRaw(Buffer.from([0x01]), 0)); // COM_QUIT
        return 'mapped';
      }
      if (first === Header.AUTH_SWITCH) {
        const req = readAuthSwitchRequest(p.payload);
        // An answer no password produces: a server that accepts it did not check one.
        const size = req.plugin === 'client_ed25519' ? 64 : req.plugin === 'mysql_clear_password' ? 33 : 20;
        ch.write(writeRaw(randomBytes(size), p.seq + 1));
        continue;
      }
      // ERR (no such account, wrong password) or a password exchange moat will not finish.
      return 'not-mapped';
    }
  } finally {
    ch.socket.destroy();
  }
}
