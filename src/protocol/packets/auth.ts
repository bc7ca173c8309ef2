// Packets of the authentication exchange (Protocol::AuthSwitchRequest, AuthMoreData).
//
//   AuthSwitchRequest: int<1> 0xfe, string<NUL> plugin name, string<EOF> plugin data
//   AuthMoreData:      int<1> 0x01, string<EOF> data
//   AuthSwitchResponse / AuthNextFactor answers: raw plugin data, no header byte
import { Header } from '../constants.ts';
import { malformed } from '../errors.ts';
import { PayloadReader } from '../reader.ts';
import { PacketWriter } from '../writer.ts';

export interface AuthSwitchRequest {
  plugin: string;
  /** Plugin data; for the scramble-based plugins the nonce followed by a NUL. */
  data: Buffer;
}

export function readAuthSwitchRequest(payload: Buffer): AuthSwitchRequest {
  const r = new PayloadReader(payload);
  if (r.u8('header') !== Header.AUTH_SWITCH) throw malformed('not an AuthSwitchRequest');
  // A bare 0xfe is the pre-4.1 "old password" switch, which nothing current may ask for.
  if (r.atEnd()) throw malformed('old-password auth switch is not supported');
  const plugin = r.nulOrEofBytes().toString('utf8');
  return { plugin, data: r.restBytes() };
}

export function writeAuthSwitchRequest(req: AuthSwitchRequest, seq: number): Buffer {
  return new PacketWriter(32 + req.data.length)
    .u8(Header.AUTH_SWITCH)
    .nul(req.plugin)
    .bytes(req.data)
    .packet(seq);
}

export function writeAuthMoreData(data: Buffer, seq: number): Buffer {
  return new PacketWriter(8 + data.length).u8(Header.AUTH_MORE_DATA).bytes(data).packet(seq);
}

export function writeRaw(payload: Buffer, seq: number): Buffer {
  return new PacketWriter(8 + payload.length).bytes(payload).packet(seq);
}

/** The nonce inside switch data: servers send the scramble followed by a NUL. */
export function nonceOf(data: Buffer): Buffer {
  return data.length > 0 && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data;
}
