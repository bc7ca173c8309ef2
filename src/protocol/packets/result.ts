// Generic response packets: OK, ERR and EOF.
//
//   OK:  int<1> 0x00 (or 0xfe when it replaces EOF under DEPRECATE_EOF), int<lenenc> affected
//        rows, int<lenenc> last insert id, int<2> status flags, int<2> warnings, info …
//   ERR: int<1> 0xff, int<2> error code, ["#" string[5] SQLSTATE], string<EOF> message
//   EOF: int<1> 0xfe, int<2> warnings, int<2> status flags   (payload < 9 bytes)
import { Header } from '../constants.ts';
import type { ServerError } from '../error-codes.ts';
import { malformed } from '../errors.ts';
import { PayloadReader } from '../reader.ts';
import { PacketWriter } from '../writer.ts';

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  status: number;
  warnings: number;
}

export function readOk(payload: Buffer, start = 0, end = payload.length): OkPacket {
  const r = new PayloadReader(payload, start, end);
  const h = r.u8('header');
  if (h !== Header.OK && h !== Header.EOF) throw malformed('not an OK packet');
  const affectedRows = r.lenenc('affected rows');
  const lastInsertId = r.lenenc('last insert id');
  const status = r.remaining >= 2 ? r.u16() : 0;
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  return { affectedRows, lastInsertId, status, warnings };
}

/** EOF (5 bytes) status flags; 0 if the packet is too short to carry them. */
export function eofStatus(payload: Buffer, start = 0, end = payload.length): number {
  return end - start >= 5 ? payload.readUInt16LE(start + 3) : 0;
}

export function readErr(payload: Buffer, start = 0, end = payload.length): ServerError {
  const r = new PayloadReader(payload, start, end);
  if (r.u8('header') !== Header.ERR) throw malformed('not an ERR packet');
  const code = r.u16('error code');
  let state = 'HY000';
  if (r.remaining >= 6 && payload[r.pos] === 0x23 /* '#' */) {
    r.skip(1);
    state = r.bytes(5, 'sqlstate').toString('latin1');
  }
  return { code, state, message: r.restBytes().toString('utf8') };
}

export function writeErr(err: ServerError, seq: number): Buffer {
  return new PacketWriter(16 + err.message.length)
    .u8(Header.ERR)
    .u16(err.code)
    .bytes('#')
    .bytes(err.state.padEnd(5, '0').slice(0, 5))
    .bytes(err.message)
    .packet(seq);
}

/**
 * `info` is the human-readable status text (what mysql_info() returns and the mysql client prints):
 * a string<lenenc> after the warnings, as MariaDB's server writes it whatever the capabilities and
 * as libmariadb reads it (a raw string<EOF> is "Received malformed packet" to the mariadb client).
 */
export function writeOk(ok: Partial<OkPacket> & { info?: string }, seq: number): Buffer {
  const w = new PacketWriter(16)
    .u8(Header.OK)
    .lenenc(ok.affectedRows ?? 0)
    .lenenc(ok.lastInsertId ?? 0)
    .u16(ok.status ?? 0)
    .u16(ok.warnings ?? 0);
  if (ok.info !== undefined && ok.info !== '') w.lenencBytes(ok.info);
  return w.packet(seq);
}
