// Many client hosts on one machine: the whole 127.0.0.0/8 is loopback, so a socket bound to
// 127.0.0.x is a host of its own to moat. Logins and garbage from a chosen address, for the
// guard, admin, audit and dashboard tests.
import { connect as netConnect, type Socket } from 'node:net';
import mysql from 'mysql2/promise';

export interface Target {
  host: string;
  port: number;
}

/** A TCP connection to `t` from the local address `from`. */
export function connectFrom(t: Target, from: string): Socket {
  return netConnect({ host: t.host, port: t.port, localAddress: from });
}

/**
 * A mysql2 connection from `from`. mysql2 has no local-address option, so it is handed a socket
 * bound to that address; its TLS upgrade needs a socket of its own making, so `from: null`
 * (a TLS login) connects from the default address.
 */
export function mysqlFrom(
  t: Target,
  from: string | null,
  o: mysql.ConnectionOptions,
): Promise<mysql.Connection> {
  return mysql.createConnection({
    ...o,
    host: t.host,
    port: t.port,
    stream: from === null ? undefined : connectFrom(t, from),
  });
}

/** The MySQL error code a login from `from` gets (0 when it, and `query` if given, succeed). */
export async function loginCodeFrom(
  t: Target,
  from: string | null,
  o: mysql.ConnectionOptions,
  query?: string,
): Promise<number> {
  try {
    const c = await mysqlFrom(t, from, o);
    if (query !== undefined) await c.query(query);
    await c.end();
    return 0;
  } catch (e) {
    return (e as { errno?: number }).errno ?? -1;
  }
}

/**
 * A handshake error from `from`: reads moat's first packet (its greeting, or an ERR in its place),
 * answers with a packet no client sends, and waits for moat to close. Returns that first packet.
 */
export async function sendGarbage(t: Target, from: string): Promise<Buffer> {
  const s = connectFrom(t, from);
  const first = await new Promise<Buffer>((resolve, reject) => {
    s.once('data', resolve);
    s.once('error', reject);
  });
  s.end(Buffer.from('\x01\x00\x00\x01\xff'));
  await new Promise((r) => s.once('close', r));
  return first;
}
