// Protocol::HandshakeV10, the server's greeting.
//
//   int<1>      protocol version (10)
//   string<NUL> server version
//   int<4>      connection id
//   string[8]   auth-plugin-data part 1
//   int<1>      filler 0x00
//   int<2>      capability flags, lower 2 bytes
//   int<1>      character set
//   int<2>      status flags
//   int<2>      capability flags, upper 2 bytes
//   int<1>      length of auth-plugin-data (if PLUGIN_AUTH), else 0
//   string[6]   reserved
//   int<4>      MariaDB: extended capabilities (when LONG_PASSWORD is clear), else reserved
//   string[n]   auth-plugin-data part 2, n = max(13, length - 8)  (if SECURE_CONNECTION)
//   string<NUL> auth plugin name (if PLUGIN_AUTH; some servers omit the terminator)
import { Cap } from '../constants.ts';
import { malformed } from '../errors.ts';
import { PayloadReader } from '../reader.ts';
import { PacketWriter } from '../writer.ts';

export interface Handshake {
  protocolVersion: number;
  serverVersion: string;
  connectionId: number;
  /** The nonce ("scramble"), without the trailing NUL that servers append. */
  nonce: Buffer;
  capabilities: number;
  /** MariaDB's extended capability bits (0 for MySQL). */
  mariadbCapabilities: number;
  charset: number;
  status: number;
  authPlugin: string;
}

export function readHandshake(payload: Buffer): Handshake {
  const r = new PayloadReader(payload);
  const protocolVersion = r.u8('protocol version');
  if (protocolVersion !== 10) throw malformed(`unsupported protocol version ${protocolVersion}`);
  const serverVersion = r.nulString('server version');
  const connectionId = r.u32('connection id');
  const part1 = r.bytes(8, 'auth-plugin-data part 1');
  r.skip(1);
  let capabilities = r.u16('capability flags');
  let charset = 0;
  let status = 0;
  let authDataLen = 0;
  let mariadbCapabilities = 0;
  let part2: Buffer = Buffer.alloc(0);
  let authPlugin = 'mysql_native_password';
  if (!r.atEnd()) {
    charset = r.u8('character set');
    status = r.u16('status flags');
    capabilities = (capabilities | (r.u16('capability flags') << 16)) >>> 0;
    authDataLen = r.u8('auth-plugin-data length');
    r.skip(6, 'reserved');
    const ext = r.u32('reserved');
    if (!(capabilities & Cap.LONG_PASSWORD)) mariadbCapabilities = ext;
    if (capabilities & Cap.SECURE_CONNECTION) {
      const n = Math.max(13, authDataLen - 8);
      part2 = r.bytes(Math.min(n, r.remaining), 'auth-plugin-data part 2');
    }
    if (capabilities & Cap.PLUGIN_AUTH) authPlugin = r.nulOrEofBytes().toString('utf8');
  }
  let nonce = Buffer.concat([part1, part2]);
  // Servers terminate the scramble with a NUL that is not part of it (20 bytes + NUL).
  if (nonce.length > 0 && nonce[nonce.length - 1] === 0) nonce = nonce.subarray(0, nonce.length - 1);
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    nonce,
    capabilities,
    mariadbCapabilities,
    charset,
    status,
    authPlugin,
  };
}

export function writeHandshake(h: Handshake): Buffer {
  if (h.nonce.length < 8) throw new RangeError('nonce must be at least 8 bytes');
  const w = new PacketWriter(128);
  w.u8(10).nul(h.serverVersion).u32(h.connectionId);
  w.bytes(h.nonce.subarray(0, 8)).u8(0);
  w.u16(h.capabilities & 0xffff)
    .u8(h.charset)
    .u16(h.status)
    .u16(h.capabilities >>> 16);
  w.u8(h.capabilities & Cap.PLUGIN_AUTH ? h.nonce.length + 1 : 0);
  w.zeros(6);
  w.u32(h.capabilities & Cap.LONG_PASSWORD ? 0 : h.mariadbCapabilities);
  if (h.capabilities & Cap.SECURE_CONNECTION) {
    const rest = h.nonce.subarray(8);
    w.bytes(rest);
    w.zeros(Math.max(13 - rest.length, 1)); // NUL terminator, padded to the 13 bytes clients expect
  }
  if (h.capabilities & Cap.PLUGIN_AUTH) w.nul(h.authPlugin);
  return w.packet(0);
}
