// Generic response packets: OK, ERR and EOF.
//
//   OK:  int<1> 0x00 (or 0xfe when it replaces EOF under DEPRECATE_EOF), int<lenenc> affected
//        rows, int<lenenc> last insert id, int<2> status flags, int<2> warnings, info …
//   ERR: int<1> 0xff, int<2> error code, ["#" string[5] SQLSTATE], string<EOF> message
//   EOF: int<1> 0xfe, int<2> warnings, int<2> status flags   (payload < 9 bytes)
import { Header } from '../constants.ts';
import type { ServerError } from '../error-codes.ts';
import { malformed } from '../errors.ts';
import { lenencAt, lenencSize } from '../reader.ts';
import { PacketWriter } from '../writer.ts';

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  status: number;
  warnings: number;
}

/**
 * The OK packet at payload[start, end): a whole packet, or the leading bytes of one inside a relayed
 * chunk (the follower), read in place. `into`, when given, is filled and returned instead of a new
 * object, so a caller that decodes an OK per command can keep one and allocate nothing per packet.
 * The info text and session-state changes after the warnings are not read.
 */
export function readOk(payload: Buffer, start = 0, end = payload.length, into?: OkPacket): OkPacket {
  if (start >= end) throw malformed('header runs past the end of the packet');
  const h = payload[start];
  if (h !== Header.OK && h !== Header.EOF) throw malformed('not an OK packet');
  let pos = start + 1;
  const affectedRows = lenencAt(payload, pos, end, 'affected rows');
  pos += lenencSize(payload[pos]!);
  const lastInsertId = lenencAt(payload, pos, end, 'last insert id');
  pos += lenencSize(payload[pos]!);
  // Status flags and warnings exist only under CLIENT_PROTOCOL_41, which moat requires; a packet
  // that stops before them still ends its answer.
  const status = end - pos >= 2 ? payload.readUInt16LE(pos) : 0;
  const warnings = end - pos >= 4 ? payload.readUInt16LE(pos + 2) : 0;
  if (into === undefined) return { affectedRows, lastInsertId, status, warnings };
  into.affectedRows = affectedRows;
  into.lastInsertId = lastInsertId;
  into.status = status;
  into.warnings = warnings;
  return into;
}

/** EOF (5 bytes) status flags; 0 if the packet is too short to carry them. */
export function eofStatus(payload: Buffer, start = 0, end = payload.length): number {
  return end - start >= 5 ? payload.readUInt16LE(start + 3) : 0;
}

/**
 * What an ERR without the '#' marker stands for. Servers leave the marker out before they know the
 * client speaks 4.1 (1040 Too many connections, 1129 host blocked, sent ahead of the handshake);
 * MySQL's client library then reports 'HY000', "unknown error" (cli_safe_read_with_ok,
 * sql-common/client.cc: "The SQL state hasn't been received -- it should be reset to HY000"), and
 * MariaDB Connector/C does the same.
 */
export const UNKNOWN_SQLSTATE = 'HY000';

/**
 * The ERR packet at payload[start, end): a whole packet, or the leading bytes of one inside a relayed
 * chunk (the follower keeps at most MYSQL_ERRMSG_SIZE bytes of the message, the most a server sends).
 */
export function readErr(payload: Buffer, start = 0, end = payload.length): ServerError {
  if (start >= end) throw malformed('header runs past the end of the packet');
  if (payload[start] !== Header.ERR) throw malformed('not an ERR packet');
  if (end - start < 3) throw malformed('error code runs past the end of the packet');
  const code = payload.readUInt16LE(start + 1);
  let state = UNKNOWN_SQLSTATE;
  let at = start + 3;
  if (end - at >= 6 && payload[at] === 0x23 /* '#' */) {
    state = payload.toString('latin1', at + 1, at + 6);
    at += 6;
  }
  return { code, state, message: payload.toString('utf8', at, end) };
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
