// COM_CHANGE_USER (client → server, command phase).
//
//   int<1>      0x11
//   string<NUL> user
//   auth-response: int<1> length + bytes if SECURE_CONNECTION, else string<NUL>
//   string<NUL> schema
//   int<2>      character set               (optional: may end here)
//   string<NUL> auth plugin name            (if PLUGIN_AUTH)
//   int<lenenc> attributes length + pairs   (if CONNECT_ATTRS)
import { Cap, Com } from '../constants.ts';
import { malformed } from '../errors.ts';
import { PayloadReader } from '../reader.ts';
import { PacketWriter } from '../writer.ts';
import { encodeAttributes } from './handshake-response.ts';

export interface ChangeUser {
  user: string;
  authResponse: Buffer;
  database: string;
  charset: number | null;
  authPlugin: string | null;
  /** Raw attribute block (already length-prefixed pairs), relayed as is. */
  attributes: Array<[string, string]>;
}

export function readChangeUser(payload: Buffer, capabilities: number): ChangeUser {
  const r = new PayloadReader(payload);
  if (r.u8('command') !== Com.CHANGE_USER) throw malformed('not COM_CHANGE_USER');
  const user = r.nulString('user');
  const authResponse =
    capabilities & Cap.SECURE_CONNECTION
      ? r.bytes(r.u8('auth-response length'), 'auth-response')
      : r.nulBytes('auth-response');
  const database = r.atEnd() ? '' : r.nulOrEofBytes().toString('utf8');
  let charset: number | null = null;
  let authPlugin: string | null = null;
  const attributes: Array<[string, string]> = [];
  if (r.remaining >= 2) {
    charset = r.u16('character set');
    if (capabilities & Cap.PLUGIN_AUTH && !r.atEnd()) authPlugin = r.nulOrEofBytes().toString('utf8');
    if (capabilities & Cap.CONNECT_ATTRS && !r.atEnd()) {
      const total = r.lenenc('attributes length');
      const ar = new PayloadReader(payload, r.pos, r.pos + total);
      if (ar.end > r.end) throw malformed('attributes run past the end of the packet');
      while (!ar.atEnd())
        attributes.push([ar.lenencBytes().toString('utf8'), ar.lenencBytes().toString('utf8')]);
    }
  }
  return { user, authResponse, database, charset, authPlugin, attributes };
}

export function writeChangeUser(c: ChangeUser, capabilities: number, seq: number): Buffer {
  const w = new PacketWriter(64 + c.authResponse.length);
  w.u8(Com.CHANGE_USER).nul(c.user);
  if (capabilities & Cap.SECURE_CONNECTION) w.u8(c.authResponse.length).bytes(c.authResponse);
  else w.nul(c.authResponse);
  w.nul(c.database);
  if (c.charset !== null) {
    w.u16(c.charset);
    if (capabilities & Cap.PLUGIN_AUTH) w.nul(c.authPlugin ?? '');
    if (capabilities & Cap.CONNECT_ATTRS) w.lenencBytes(encodeAttributes(c.attributes));
  }
  return w.packet(seq);
}
