// A raw MySQL client connection for the flood and memory benchmarks: connects from a chosen local
// address (the whole of 127/8 is loopback, so each attacker can be its own "host" to moat), reads
// packets one at a time, and logs in with mysql_native_password (following one AuthSwitchRequest),
// or does any of the broken things an attacker or a port scanner does instead. No TLS.
import { createHash } from 'node:crypto';
import net from 'node:net';

export type Dial = { host: string; port: number; localAddress?: string };
export type Packet = { seq: number; payload: Buffer };

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_LONG_FLAG = 0x4;
const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_TRANSACTIONS = 0x2000;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_MULTI_RESULTS = 0x20000;
const CLIENT_PLUGIN_AUTH = 0x80000;
const CAPS =
  CLIENT_LONG_PASSWORD |
  CLIENT_LONG_FLAG |
  CLIENT_PROTOCOL_41 |
  CLIENT_TRANSACTIONS |
  CLIENT_SECURE_CONNECTION |
  CLIENT_MULTI_RESULTS |
  CLIENT_PLUGIN_AUTH;
const NATIVE = 'mysql_native_password';

export function packet(seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = seq;
  payload.copy(out, 4);
  return out;
}

/** SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))). */
export function nativeScramble(password: string, nonce: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = createHash('sha1').update(password).digest();
  const stage2 = createHash('sha1').update(stage1).digest();
  const out = createHash('sha1').update(nonce).update(stage2).digest();
  for (let i = 0; i < out.length; i++) out[i]! ^= stage1[i]!;
  return out;
}

export function cstring(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Error('unterminated string in server packet');
  return [buf.toString('latin1', at, end), end + 1];
}

/** Protocol::HandshakeV10's nonce (in two parts) and default plugin. */
export function parseGreeting(p: Buffer): { nonce: Buffer; plugin: string } {
  let at = cstring(p, 1)[1] + 4; // protocol version, server version, connection id
  const part1 = p.subarray(at, at + 8);
  at += 8 + 1 + 2 + 1 + 2 + 2;
  const nonceLen = p[at]!;
  at += 1 + 10;
  const part2Len = Math.max(13, nonceLen - 8);
  const part2 = p.subarray(at, at + part2Len - 1);
  at += part2Len;
  const plugin = at < p.length ? cstring(p, at)[0] : NATIVE;
  return { nonce: Buffer.concat([part1, part2]), plugin };
}

/** The error code of an ERR packet (0xff), else undefined. */
export function errCode(p: Buffer): number | undefined {
  return p[0] === 0xff && p.length >= 3 ? p.readUInt16LE(1) : undefined;
}

export function handshakeResponse(
  user: string,
  password: string,
  database: string,
  nonce: Buffer,
  plugin: string,
): Buffer {
  const auth = plugin === NATIVE ? nativeScramble(password, nonce) : Buffer.alloc(0);
  const u = Buffer.from(user + '\0');
  const db = database === '' ? Buffer.alloc(0) : Buffer.from(database + '\0');
  const name = Buffer.from(NATIVE + '\0');
  const p = Buffer.alloc(32 + u.length + 1 + auth.length + db.length + name.length);
  p.writeUInt32LE((CAPS | (database === '' ? 0 : CLIENT_CONNECT_WITH_DB)) >>> 0, 0);
  p.writeUInt32LE(16 * 1024 * 1024, 4);
  p[8] = 45; // utf8mb4_general_ci; then 23 reserved zero bytes
  let at = 32;
  at += u.copy(p, at);
  p[at++] = auth.length;
  at += auth.copy(p, at);
  at += db.copy(p, at);
  name.copy(p, at);
  return packet(1, p);
}

/**
 * One client socket, read a packet at a time. `next()` resolves with the next packet, or with
 * 'closed' when the server closed the connection, or 'timeout'.
 */
export class Wire {
  readonly socket: net.Socket;
  /** The socket is connected (the TCP handshake finished). */
  readonly connected: Promise<void>;
  /** Resolves when the socket has closed, for whatever reason. */
  readonly closed: Promise<void>;
  isClosed = false;
  /** The first socket error's code (ECONNREFUSED, ECONNRESET, EADDRNOTAVAIL ...). */
  errno: string | undefined;
  private pending: Buffer | undefined;
  private readonly queue: Packet[] = [];
  private waiter: (() => void) | undefined;

  constructor(dial: Dial) {
    const opts: net.NetConnectOpts = { host: dial.host, port: dial.port, noDelay: true };
    if (dial.localAddress !== undefined) opts.localAddress = dial.localAddress;
    this.socket = net.connect(opts);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('close', () => reject(new Error(this.errno ?? 'closed before connect')));
    });
    this.connected.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.isClosed = true;
        this.waiter?.();
        resolve();
      }),
    );
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      this.errno ??= e.code ?? e.message;
    });
    this.socket.on('data', (chunk: Buffer) => {
      let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      this.pending = undefined;
      while (buf.length >= 4) {
        const len = buf.readUIntLE(0, 3);
        if (buf.length < 4 + len) break;
        this.queue.push({ seq: buf[3]!, payload: buf.subarray(4, 4 + len) });
        buf = buf.subarray(4 + len);
      }
      if (buf.length > 0) this.pending = buf;
      if (this.queue.length > 0) this.waiter?.();
    });
  }

  next(timeoutMs: number): Promise<Packet | 'closed' | 'timeout'> {
    const ready = this.queue.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.isClosed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve('timeout');
      }, timeoutMs);
      this.waiter = () => {
        const p = this.queue.shift();
        if (p === undefined && !this.isClosed) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(p ?? 'closed');
      };
    });
  }

  write(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  /** Closes from our side: FIN if the server has nothing unread on our side, else RST. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Waits up to `ms` for the server to close the connection; true if it did. */
  async waitClose(ms: number): Promise<boolean> {
    if (this.isClosed) return true;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const r = await Promise.race([this.closed.then(() => true as const), t]);
    clearTimeout(timer);
    return r;
  }
}

/** How a login went: 'ok' (the socket stays open), an ERR code, or what happened instead. */
export type LoginResult =
  | { kind: 'ok'; wire: Wire; ms: number }
  | { kind: 'err'; code: number; atGreeting: boolean; ms: number }
  | { kind: 'closed' | 'timeout' | 'socket-error'; ms: number; errno?: string };

/**
 * Greeting → HandshakeResponse41 → (AuthSwitchRequest → scramble) → OK or ERR. On anything but
 * OK the socket is destroyed. `timeoutMs` bounds the whole login (an attacker's patience).
 */
export async function login(
  dial: Dial,
  account: { user: string; password: string; database: string },
  timeoutMs: number,
  track?: (w: Wire) => void,
): Promise<LoginResult> {
  const start = performance.now();
  const deadline = start + timeoutMs;
  const ms = () => performance.now() - start;
  const w = new Wire(dial);
  track?.(w);
  const fail = (kind: 'closed' | 'timeout' | 'socket-error'): LoginResult => {
    w.destroy();
    const r: LoginResult = { kind, ms: ms() };
    if (w.errno !== undefined) r.errno = w.errno;
    return r;
  };
  const next = () => w.next(Math.max(1, deadline - performance.now()));
  let p = await next();
  if (typeof p === 'string') return fail(w.errno !== undefined && p === 'closed' ? 'socket-error' : p);
  const early = errCode(p.payload);
  if (early !== undefined) {
    w.destroy();
    return { kind: 'err', code: early, atGreeting: true, ms: ms() };
  }
  const g = parseGreeting(p.payload);
  w.write(handshakeResponse(account.user, account.password, account.database, g.nonce, g.plugin));
  for (;;) {
    p = await next();
    if (typeof p === 'string') return fail(p);
    const kind = p.payload[0];
    if (kind === 0x00) return { kind: 'ok', wire: w, ms: ms() };
    const code = errCode(p.payload);
    if (code !== undefined) {
      w.destroy();
      return { kind: 'err', code, atGreeting: false, ms: ms() };
    }
    if (kind === 0xfe) {
      const [plugin, at] = cstring(p.payload, 1);
      if (plugin !== NATIVE) {
        w.destroy();
        throw new Error(`auth switch to unsupported plugin ${plugin}`);
      }
      w.write(packet(p.seq + 1, nativeScramble(account.password, p.payload.subarray(at, at + 20))));
      continue;
    }
    w.destroy();
    throw new Error(`unexpected auth packet 0x${kind?.toString(16)}`);
  }
}

/** IPv4 address `127.<second>.<hi>.<lo>` for index `i` (0 ≤ i < 254·254), never .0 or .255. */
export function loopbackAddress(second: number, i: number): string {
  if (i < 0 || i >= 254 * 254) throw new Error(`address index ${i} out of range`);
  return `127.${second}.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`;
}

/** An address for index i of up to 254³ addresses, spread over 127.<first>…<first+n>.x.y. */
export function manyLoopbackAddress(first: number, i: number): string {
  const per = 254 * 254;
  return loopbackAddress(first + Math.floor(i / per), i % per);
}
