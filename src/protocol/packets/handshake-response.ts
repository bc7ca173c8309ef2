// Protocol::HandshakeResponse41 and Protocol::SSLRequest (client → server).
//
//   int<4>      client capability flags
//   int<4>      max packet size
//   int<1>      character set
//   string[19]  filler
//   int<4>      MariaDB: extended capabilities (when LONG_PASSWORD is clear), else filler
//   ---- an SSLRequest ends here (32 bytes, SSL flag set) ----
//   string<NUL> user name
//   auth-response: string<lenenc> if PLUGIN_AUTH_LENENC_CLIENT_DATA,
//                  int<1> length + bytes if SECURE_CONNECTION, else string<NUL>
//   string<NUL> database (if CONNECT_WITH_DB)
//   string<NUL> auth plugin name (if PLUGIN_AUTH)
//   int<lenenc> length of all key-values, then string<lenenc> key, string<lenenc> value pairs
//               (if CONNECT_ATTRS)
import { Cap } from '../constants.ts';
import { malformed } from '../errors.ts';
import { PayloadReader } from '../reader.ts';
import { PacketWriter } from '../writer.ts';

export const SSL_REQUEST_LENGTH = 32;

export interface HandshakeResponse {
  capabilities: number;
  mariadbCapabilities: number;
  maxPacketSize: number;
  charset: number;
  user: string;
  authResponse: Buffer;
  database: string | null;
  authPlugin: string | null;
  /** Connect attributes in the order the client sent them (`_client_name`, `program_name` …). */
  attributes: Array<[string, string]>;
}

export interface SslRequest {
  capabilities: number;
  maxPacketSize: number;
  charset: number;
  /** MariaDB's extended capabilities (written when LONG_PASSWORD is clear). MariaDB takes them
   * from the SSLRequest, not from the HandshakeResponse that follows inside TLS. */
  mariadbCapabilities?: number;
}

/** An SSLRequest is exactly the 32-byte prefix of a HandshakeResponse, with SSL set. */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === SSL_REQUEST_LENGTH && (payload.readUInt32LE(0) & Cap.SSL) !== 0;
}

export function readSslRequest(payload: Buffer): SslRequest {
  const r = new PayloadReader(payload);
  return { capabilities: r.u32(), maxPacketSize: r.u32(), charset: r.u8() };
}

export function readHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PayloadReader(payload);
  const capabilities = r.u32('client capability flags');
  if (!(capabilities & Cap.PROTOCOL_41)) throw malformed('client does not speak protocol 4.1');
  const maxPacketSize = r.u32('max packet size');
  const charset = r.u8('character set');
  r.skip(19, 'filler');
  const ext = r.u32('filler');
  const mariadbCapabilities = capabilities & Cap.LONG_PASSWORD ? 0 : ext;
  const user = r.nulString('user name');
  let authResponse: Buffer;
  if (capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes('auth-response');
  else if (capabilities & Cap.SECURE_CONNECTION)
    authResponse = r.bytes(r.u8('auth-response length'), 'auth-response');
  else authResponse = r.nulBytes('auth-response');
  let database: string | null = null;
  if (capabilities & Cap.CONNECT_WITH_DB && !r.atEnd()) database = r.nulOrEofBytes().toString('utf8');
  let authPlugin: string | null = null;
  if (capabilities & Cap.PLUGIN_AUTH && !r.atEnd()) authPlugin = r.nulOrEofBytes().toString('utf8');
  const attributes: Array<[string, string]> = [];
  if (capabilities & Cap.CONNECT_ATTRS && !r.atEnd()) {
    const total = r.lenenc('connect attributes length');
    const end = r.pos + total;
    if (end > r.end) throw malformed('connect attributes run past the end of the packet');
    const ar = new PayloadReader(payload, r.pos, end);
    while (!ar.atEnd()) {
      const key = ar.lenencBytes('attribute name').toString('utf8');
      const value = ar.lenencBytes('attribute value').toString('utf8');
      attributes.push([key, value]);
    }
    r.pos = end;
  }
  // MySQL 8 appends a zstd level when ZSTD_COMPRESSION is set; moat never offers it, so any byte
  // left here is ignored rather than trusted.
  return {
    capabilities,
    mariadbCapabilities,
    maxPacketSize,
    charset,
    user,
    authResponse,
    database,
    authPlugin,
    attributes,
  };
}

export function writeSslRequest(req: SslRequest, seq: number): Buffer {
  const w = new PacketWriter(40);
  w.u32(req.capabilities | Cap.SSL)
    .u32(req.maxPacketSize)
    .u8(req.charset)
    .zeros(19)
    .u32(req.capabilities & Cap.LONG_PASSWORD ? 0 : (req.mariadbCapabilities ?? 0));
  return w.packet(seq);
}

export function writeHandshakeResponse(h: HandshakeResponse, seq: number): Buffer {
  const w = new PacketWriter(128 + h.authResponse.length);
  const caps = h.capabilities;
  w.u32(caps).u32(h.maxPacketSize).u8(h.charset).zeros(19);
  w.u32(caps & Cap.LONG_PASSWORD ? 0 : h.mariadbCapabilities);
  w.nul(h.user);
  if (caps & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(h.authResponse);
  else if (caps & Cap.SECURE_CONNECTION) {
    if (h.authResponse.length > 255) throw new RangeError('auth response too long for SECURE_CONNECTION');
    w.u8(h.authResponse.length).bytes(h.authResponse);
  } else w.nul(h.authResponse);
  if (caps & Cap.CONNECT_WITH_DB) w.nul(h.database ?? '');
  if (caps & Cap.PLUGIN_AUTH) w.nul(h.authPlugin ?? '');
  if (caps & Cap.CONNECT_ATTRS) w.lenencBytes(encodeAttributes(h.attributes));
  return w.packet(seq);
}

export function encodeAttributes(attributes: ReadonlyArray<readonly [string, string]>): Buffer {
  const w = new PacketWriter(64);
  for (const [k, v] of attributes) w.lenencBytes(k).lenencBytes(v);
  return w.packet(0).subarray(4);
}
