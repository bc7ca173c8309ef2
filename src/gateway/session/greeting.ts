// moat's greeting to the client (Protocol::HandshakeV10), with its own nonce: sent before the
// backend is contacted, so a port scan or a client that never finishes costs the backend nothing.
import { randomBytes } from 'node:crypto';
import { Cap, RELAYABLE_CAPS, relayableExtended } from '../../protocol/constants.ts';
import { writeHandshake } from '../../protocol/packets/handshake.ts';
import type { GatewayContext } from '../context.ts';

/** The greeting packet for connection `id`, from the backend greeting moat learned last. */
export function moatGreeting(ctx: GatewayContext, id: number): Buffer {
  const profile = ctx.profile.current;
  // MariaDB's extended capabilities are offered as the backend offers them (CLIENT_MYSQL clear,
  // the int<4> in the filler); otherwise CLIENT_MYSQL stays set: "plain MySQL protocol".
  const extended = relayableExtended(profile.capabilities, profile.mariadbCapabilities);
  let caps =
    ((profile.capabilities & RELAYABLE_CAPS) |
      (extended === 0 ? Cap.LONG_PASSWORD : 0) |
      Cap.PROTOCOL_41 |
      Cap.SECURE_CONNECTION |
      Cap.PLUGIN_AUTH) >>>
    0;
  if (ctx.serverTls !== null) caps |= Cap.SSL;
  if (ctx.config.localInfile) caps |= Cap.LOCAL_FILES;
  return writeHandshake({
    protocolVersion: 10,
    serverVersion: profile.serverVersion,
    connectionId: id,
    nonce: scrambleNonce(),
    capabilities: caps >>> 0,
    mariadbCapabilities: extended,
    charset: profile.charset,
    status: profile.status,
    authPlugin: 'mysql_native_password',
  });
}

/** CSPRNG bytes drawn in batches: one randomBytes call per 4 KiB instead of one per login (the
 * per-call cost showed in connect-rate profiles). Every nonce still gets bytes no other got. */
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomSlice(n: number): Buffer {
  if (poolAt + n > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

/** 20 random printable bytes: the shape of a MySQL scramble (no NUL inside). */
function scrambleNonce(): Buffer {
  const b = randomSlice(20);
  for (let i = 0; i < b.length; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}
