// The smallest SQL client `moat check` needs: one login (client/own-login.ts, as the health
// check's), then COM_QUERY with text
// result sets read into rows of strings. Every login it starts it finishes and ends with COM_QUIT,
// so the server never counts it as an aborted connect against this host's address.
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { BackendTarget } from '../client/backend.ts';
import { type Credentials, loginBackend, SqlError } from '../client/own-login.ts';
import { normalizeAddress } from '../model/address.ts';
import type { PacketChannel } from '../net/channel.ts';
import { Com, Header } from '../protocol/constants.ts';
import type { Packet } from '../protocol/framer.ts';
import { writeRaw } from '../protocol/packets/auth.ts';
import type { Handshake } from '../protocol/packets/handshake.ts';
import { readErr } from '../protocol/packets/result.ts';
import { PayloadReader } from '../protocol/reader.ts';

export { type Credentials, SqlError };

export type Row = Record<string, string | null>;

export interface SqlClient {
  greeting: Handshake;
  tls: boolean;
  /** This end's address as the server sees it (null over a unix socket). */
  localAddress: string | null;
  /** The server's certificate, when the connection is TLS. */
  peerCertificate: X509Certificate | null;
  query(sql: string): Promise<Row[]>;
  /** COM_QUIT, then close. */
  close(): void;
}

export async function connectSql(
  target: BackendTarget,
  files: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  account: Credentials,
): Promise<SqlClient> {
  const { link, read } = await loginBackend(target, files, account);
  const ch = link.channel;
  const socket = ch.socket;
  const peer = link.tls ? ((socket as TLSSocket).getPeerX509Certificate() ?? null) : null;
  return {
    greeting: link.greeting,
    tls: link.tls,
    localAddress: socket.localAddress === undefined ? null : normalizeAddress(socket.localAddress),
    peerCertificate: peer,
    query: (sql) => query(ch, read, sql),
    close: () => {
      ch.write(writeRaw(Buffer.from([Com.QUIT]), 0));
      socket.end();
    },
  };
}

// The text protocol answer to COM_QUERY (no DEPRECATE_EOF was asked for, so EOF packets close
// the column definitions and the rows):
//   OK | ERR | column count, ColumnDefinition41 × n, EOF, rows (lenenc strings, 0xfb = NULL), EOF|ERR
async function query(ch: PacketChannel, read: () => Promise<Packet>, sql: string): Promise<Row[]> {
  ch.write(writeRaw(Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(sql, 'utf8')]), 0));
  const head = await read();
  const first = head.payload[0];
  if (first === Header.ERR) throw errOf(head.payload);
  if (first === Header.OK) return [];
  const count = new PayloadReader(head.payload).lenenc('column count');
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = new PayloadReader((await read()).payload);
    for (let skip = 0; skip < 4; skip++) r.lenencBytes('column definition'); // catalog … org_table
    names.push(r.lenencBytes('column name').toString('utf8'));
  }
  const eof = await read();
  if (!isEof(eof.payload)) throw new Error('expected EOF after the column definitions');
  const rows: Row[] = [];
  for (;;) {
    const p = (await read()).payload;
    if (isEof(p)) return rows;
    if (p[0] === Header.ERR) throw errOf(p);
    const r = new PayloadReader(p);
    const row: Row = {};
    for (const name of names) {
      if (p[r.pos] === 0xfb) {
        r.skip(1);
        row[name] = null;
      } else row[name] = r.lenencBytes(name).toString('utf8');
    }
    rows.push(row);
  }
}

// A row may begin with 0xfe too (an 8-byte length prefix); EOF is the short packet.
const isEof = (p: Buffer): boolean => p[0] === Header.EOF && p.length < 9;

function errOf(payload: Buffer): SqlError {
  const e = readErr(payload);
  return new SqlError(e.code, e.state, e.message);
}
