// A minimal MySQL client for the connect-rate test: greeting → HandshakeResponse41 → (AuthSwitch)
// → OK → COM_QUERY "SELECT 1" → result set → COM_QUIT. mysql_native_password only, no TLS, no
// compression. It exists because a full driver spends more CPU per connection than the proxies we
// measure; on 2 cores that CPU would be taken from the proxy and the server.
import { createHash } from 'node:crypto';
import net from 'node:net';

export type Endpoint = { host: string; port: number; user: string; password: string; database: string };

// Capability flags (protocol::CapabilityFlags).
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
  CLIENT_CONNECT_WITH_DB |
  CLIENT_PROTOCOL_41 |
  CLIENT_TRANSACTIONS |
  CLIENT_SECURE_CONNECTION |
  CLIENT_MULTI_RESULTS |
  CLIENT_PLUGIN_AUTH;
const NATIVE = 'mysql_native_password';
const UTF8MB4_GENERAL_CI = 45;

// Constant command packets, built once: 3-byte length, sequence id 0, command byte, argument.
const SELECT_1 = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT 1')]));
const QUIT = packet(0, Buffer.from([0x01]));

function packet(seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = seq;
  payload.copy(out, 4);
  return out;
}

/** SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))). */
function nativeScramble(password: string, nonce: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = createHash('sha1').update(password).digest();
  const stage2 = createHash('sha1').update(stage1).digest();
  const out = createHash('sha1').update(nonce).update(stage2).digest();
  for (let i = 0; i < out.length; i++) out[i]! ^= stage1[i]!;
  return out;
}

function cstring(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Error('unterminated string in server packet');
  return [buf.toString('latin1', at, end), end + 1];
}

/** Protocol::HandshakeV10: the 20-byte nonce is split in two parts around the capability bytes. */
function parseGreeting(p: Buffer): { nonce: Buffer; plugin: string } {
  if (p[0] === 0xff) throw serverError(p);
  if (p[0] !== 10) throw new Error(`unexpected greeting protocol version ${p[0]}`);
  let at = cstring(p, 1)[1] + 4; // server version, connection id
  const part1 = p.subarray(at, at + 8);
  at += 8 + 1 + 2 + 1 + 2 + 2; // nonce part 1, filler, caps low, charset, status, caps high
  const nonceLen = p[at]!;
  at += 1 + 10; // nonce length, reserved (MariaDB keeps its extended caps in the last 4)
  const part2Len = Math.max(13, nonceLen - 8);
  const part2 = p.subarray(at, at + part2Len - 1); // its last byte is a NUL
  at += part2Len;
  const plugin = at < p.length ? cstring(p, at)[0] : NATIVE;
  return { nonce: Buffer.concat([part1, part2]), plugin };
}

function serverError(p: Buffer): Error {
  const code = p.readUInt16LE(1);
  const msg = p.toString('utf8', p[3] === 0x23 ? 9 : 3); // '#' + 5-byte SQLSTATE
  return new Error(`server error ${code}: ${msg}`);
}

function handshakeResponse(ep: Endpoint, nonce: Buffer, plugin: string): Buffer {
  const auth = plugin === NATIVE ? nativeScramble(ep.password, nonce) : Buffer.alloc(0);
  const user = Buffer.from(ep.user + '\0');
  const db = Buffer.from(ep.database + '\0');
  const name = Buffer.from(NATIVE + '\0');
  const p = Buffer.alloc(32 + user.length + 1 + auth.length + db.length + name.length);
  p.writeUInt32LE(CAPS, 0);
  p.writeUInt32LE(16 * 1024 * 1024, 4);
  p[8] = UTF8MB4_GENERAL_CI; // then 23 reserved zero bytes
  let at = 32;
  at += user.copy(p, at);
  p[at++] = auth.length;
  at += auth.copy(p, at);
  at += db.copy(p, at);
  name.copy(p, at);
  return packet(1, p);
}

type Step = 'greeting' | 'auth' | 'result' | 'done';

/**
 * One full cycle: connect, authenticate, SELECT 1, quit. Resolves when the socket has closed, with
 * the nanoseconds from connect() to the last packet of the SELECT 1 result.
 */
export function connectQueryQuit(ep: Endpoint): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let latency = -1;
    let step: Step = 'greeting';
    let eofs = 0;
    let pending: Buffer | undefined;
    let failure: Error | undefined;
    const sock = net.connect({ host: ep.host, port: ep.port, noDelay: true });

    const fail = (err: Error): void => {
      failure ??= err;
      sock.destroy();
    };

    const onPacket = (seq: number, p: Buffer): void => {
      switch (step) {
        case 'greeting': {
          const { nonce, plugin } = parseGreeting(p);
          sock.write(handshakeResponse(ep, nonce, plugin));
          step = 'auth';
          return;
        }
        case 'auth':
          if (p[0] === 0x00) {
            sock.write(SELECT_1);
            step = 'result';
          } else if (p[0] === 0xfe) {
            // AuthSwitchRequest: plugin name, then the nonce to answer (NUL-terminated).
            const [plugin, at] = cstring(p, 1);
            if (plugin !== NATIVE) throw new Error(`auth switch to unsupported plugin ${plugin}`);
            sock.write(packet(seq + 1, nativeScramble(ep.password, p.subarray(at, at + 20))));
          } else if (p[0] === 0xff) {
            throw serverError(p);
          } else {
            throw new Error(`unexpected auth packet 0x${p[0]?.toString(16)}`);
          }
          return;
        case 'result':
          // Without CLIENT_DEPRECATE_EOF: column count, column definitions, EOF, rows, EOF.
          if (p[0] === 0xff) throw serverError(p);
          if (p[0] === 0xfe && p.length < 9 && ++eofs === 2) {
            latency = Number(process.hrtime.bigint() - start);
            step = 'done';
            sock.end(QUIT);
          }
          return;
        case 'done':
          return;
      }
    };

    sock.on('data', (chunk: Buffer) => {
      // Handshake packets are small; joining a leftover with the next chunk is cheap here.
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      try {
        while (buf.length >= 4) {
          const len = buf.readUIntLE(0, 3);
          if (buf.length < 4 + len) break;
          onPacket(buf[3]!, buf.subarray(4, 4 + len));
          buf = buf.subarray(4 + len);
        }
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (buf.length > 0) pending = buf;
    });
    sock.on('error', fail);
    sock.on('close', () => {
      if (failure) reject(failure);
      else if (step !== 'done') reject(new Error(`connection closed during ${step}`));
      else resolve(latency);
    });
  });
}
