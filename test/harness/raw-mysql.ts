// A deliberately small MySQL client over a raw socket, for tests that must misbehave on the wire:
// send garbage, truncated or oversized packets, answer slowly, read slowly. It shares no code with
// src/protocol on purpose: a test that parsed with the codec under test could agree with its bugs.
//
//   packet := int<3> payload length, int<1> sequence id, payload
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface RawPacket {
  seq: number;
  payload: Buffer;
}

export interface ErrPacket {
  code: number;
  sqlState: string;
  message: string;
}

// Capability flags the raw client uses (MySQL "Capabilities Flags").
export const CAP = {
  LONG_PASSWORD: 1,
  CONNECT_WITH_DB: 1 << 3,
  PROTOCOL_41: 1 << 9,
  SSL: 1 << 11,
  TRANSACTIONS: 1 << 13,
  SECURE_CONNECTION: 1 << 15,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
} as const;

/** What a plain 4.1 client with plugin auth sends (no DEPRECATE_EOF: result sets end in EOF). */
export const BASE_CAPS =
  CAP.LONG_PASSWORD | CAP.PROTOCOL_41 | CAP.TRANSACTIONS | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH;

export class RawClient {
  readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended = false;
  /** Resolves when the socket is fully closed (by either side). */
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('error', () => {}); // ECONNRESET after moat closes: the `closed` promise says enough
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    const wake = () => {
      this.ended = true;
      this.waiter?.();
    };
    socket.once('end', wake);
    socket.once('close', wake);
  }

  /** Takes over an already connected socket (one bound to a chosen local address, say). */
  static wrap(socket: Socket): RawClient {
    return new RawClient(socket);
  }

  static connect(host: string, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, noDelay: true });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.waiter?.();
  };

  /** The next packet; rejects if the peer closes first or nothing arrives within `timeoutMs`. */
  async readPacket(timeoutMs = 5000): Promise<RawPacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const p = { seq: this.buf[3]!, payload: Buffer.from(this.buf.subarray(4, 4 + len)) };
          this.buf = this.buf.subarray(4 + len);
          return p;
        }
      }
      if (this.ended) throw new Error(`connection closed (${this.buf.length} bytes of a packet left)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a packet');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  /** Bytes received but not yet read as packets. */
  get pending(): number {
    return this.buf.length;
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  sendPacket(payload: Buffer, seq: number): void {
    this.socket.write(packet(payload, seq));
  }

  /** Stops packet reading and hands the socket (and unread bytes) to the caller. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  /** Resolves true if the peer closes within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const r = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return r;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function packet(payload: Buffer, seq: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

/** A header alone, declaring `length` payload bytes (for packets that never arrive whole). */
export function header(length: number, seq: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(length, 0, 3);
  h[3] = seq;
  return h;
}

export interface Greeting {
  serverVersion: string;
  connectionId: number;
  nonce: Buffer;
  capabilities: number;
  authPlugin: string;
}

/** Protocol::HandshakeV10 (enough of it for the tests). */
export function parseGreeting(p: Buffer): Greeting {
  if (p[0] !== 10) throw new Error(`not a v10 greeting: first byte ${p[0]}`);
  let pos = p.indexOf(0, 1);
  const serverVersion = p.toString('latin1', 1, pos);
  pos++;
  const connectionId = p.readUInt32LE(pos);
  pos += 4;
  const part1 = p.subarray(pos, pos + 8);
  pos += 9;
  let capabilities = p.readUInt16LE(pos);
  pos += 2 + 1 + 2; // + charset + status
  capabilities = (capabilities | (p.readUInt16LE(pos) << 16)) >>> 0;
  pos += 2;
  const authLen = p[pos]!;
  pos += 1 + 10;
  const n = Math.max(13, authLen - 8);
  const part2 = p.subarray(pos, pos + n - 1); // the 13th byte is the scramble's NUL
  pos += n;
  const end = p.indexOf(0, pos);
  const authPlugin = p.toString('latin1', pos, end < 0 ? p.length : end);
  return { serverVersion, connectionId, nonce: Buffer.concat([part1, part2]), capabilities, authPlugin };
}

/**
 * ERR: int<1> 0xff, int<2> code, "#", string[5] SQLSTATE, string<EOF> message. Throws unless the
 * payload is exactly that (the "well-formed" the tests assert).
 */
export function parseErr(p: Buffer): ErrPacket {
  if (p[0] !== 0xff) throw new Error(`not an ERR packet: first byte 0x${p[0]?.toString(16)}`);
  if (p.length < 9 || p[3] !== 0x23) throw new Error(`ERR packet without SQLSTATE: ${p.toString('hex')}`);
  const message = p.toString('utf8', 9);
  if (message.length === 0) throw new Error('ERR packet without a message');
  return { code: p.readUInt16LE(1), sqlState: p.toString('latin1', 4, 9), message };
}

export interface HandshakeResponseSpec {
  capabilities?: number;
  user: string;
  authResponse?: Buffer;
  database?: string;
  authPlugin?: string;
  attributes?: Array<[string, string]>;
}

/** HandshakeResponse41 payload. */
export function handshakeResponse(spec: HandshakeResponseSpec): Buffer {
  let caps = spec.capabilities ?? BASE_CAPS;
  if (spec.database !== undefined) caps |= CAP.CONNECT_WITH_DB;
  if (spec.attributes !== undefined) caps |= CAP.CONNECT_ATTRS;
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE(caps >>> 0, 0);
  fixed.writeUInt32LE(1 << 24, 4);
  fixed[8] = 45; // utf8mb4_general_ci
  const auth = spec.authResponse ?? Buffer.alloc(0);
  const parts = [fixed, nul(spec.user), Buffer.from([auth.length]), auth];
  if (spec.database !== undefined) parts.push(nul(spec.database));
  parts.push(nul(spec.authPlugin ?? 'mysql_native_password'));
  if (spec.attributes !== undefined) {
    const attrs = Buffer.concat(spec.attributes.flatMap(([k, v]) => [lenencStr(k), lenencStr(v)]));
    parts.push(lenencInt(attrs.length), attrs);
  }
  return Buffer.concat(parts);
}

const nul = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);

function lenencInt(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = 0xfc;
    b.writeUInt16LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(4);
  b[0] = 0xfd;
  b.writeUIntLE(n, 1, 3);
  return b;
}

function lenencStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([lenencInt(b.length), b]);
}

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** mysql_native_password: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))); empty for an empty password. */
export function nativeScramble(password: string, nonce: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const mix = sha1(nonce.subarray(0, 20), sha1(stage1));
  for (let i = 0; i < stage1.length; i++) stage1[i]! ^= mix[i]!;
  return stage1;
}

export interface RawLoginOptions {
  user: string;
  password: string;
  database?: string;
}

/**
 * Logs in with mysql_native_password, answering moat's AuthSwitchRequest with the scramble of the
 * backend's nonce it carries. Returns the client in the command phase.
 */
export async function rawLogin(host: string, port: number, o: RawLoginOptions): Promise<RawClient> {
  const c = await RawClient.connect(host, port);
  try {
    const greeting = parseGreeting((await c.readPacket()).payload);
    const hr: HandshakeResponseSpec = {
      user: o.user,
      authResponse: nativeScramble(o.password, greeting.nonce),
    };
    if (o.database !== undefined) hr.database = o.database;
    c.sendPacket(handshakeResponse(hr), 1);
    for (;;) {
      const p = await c.readPacket();
      const first = p.payload[0];
      if (first === 0x00) return c;
      if (first === 0xff) {
        const e = parseErr(p.payload);
        throw new Error(`login refused: ${e.code} ${e.message}`);
      }
      if (first !== 0xfe) throw new Error(`unexpected packet during login: 0x${first?.toString(16)}`);
      // AuthSwitchRequest: 0xfe, plugin<NUL>, nonce + NUL.
      const end = p.payload.indexOf(0, 1);
      const plugin = p.payload.toString('latin1', 1, end);
      if (plugin !== 'mysql_native_password') throw new Error(`raw client cannot do ${plugin}`);
      const data = p.payload.subarray(end + 1);
      const nonce = data.at(-1) === 0 ? data.subarray(0, -1) : data;
      c.sendPacket(nativeScramble(o.password, nonce), p.seq + 1);
    }
  } catch (e) {
    c.destroy();
    throw e;
  }
}

/** COM_QUERY packet (a new command: sequence id 0). */
export function comQuery(sql: string): Buffer {
  return packet(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]), 0);
}
