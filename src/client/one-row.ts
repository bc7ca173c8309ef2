// moat's own questions to the backend on a client's session, between login and the command phase
// (which account the server matched, the session's sql_mode): one text-protocol query whose
// answer is a single row of strings, read off the session's PacketChannel before any client
// command is relayed, so the client never sees it.
import type { PacketChannel } from '../net/channel.ts';
import { Com, Header } from '../protocol/constants.ts';
import { writeRaw } from '../protocol/packets/auth.ts';
import { readErr } from '../protocol/packets/result.ts';
import { PayloadReader } from '../protocol/reader.ts';

export class OneRowError extends Error {
  readonly code = 'MOAT_ONE_ROW';
  constructor(message: string) {
    super(message);
    this.name = 'OneRowError';
  }
}

/** The query's packet (sequence id 0: a new command), built once per distinct query. */
export function oneRowQuery(sql: string): Buffer {
  return writeRaw(Buffer.from([Com.QUERY, ...Buffer.from(sql)]), 0);
}

/**
 * Sends `query` (from oneRowQuery) and reads its one row of `columns` values (NULL as null).
 * An ERR answer, another shape, or no row: OneRowError, named after `what`.
 */
export async function readOneRow(
  ch: PacketChannel,
  query: Buffer,
  columns: number,
  what: string,
): Promise<Array<string | null>> {
  ch.write(query);
  const read = async (): Promise<Buffer> => (await ch.read()).payload;
  let p = await read();
  if (p[0] === Header.ERR) throw new OneRowError(`${what}: ${readErr(p).message}`);
  if (new PayloadReader(p).lenenc('column count') !== columns)
    throw new OneRowError(`${what}: expected ${columns} column(s)`);
  for (let i = 0; i < columns; i++) await read(); // their definitions
  p = await read();
  // The EOF after the column definitions (no DEPRECATE_EOF); a row never starts with a short 0xfe.
  if (p[0] === Header.EOF && p.length < 9) p = await read();
  if (p[0] === Header.ERR) throw new OneRowError(`${what}: ${readErr(p).message}`);
  if (p[0] === Header.EOF && p.length < 9) throw new OneRowError(`${what}: no row`);
  const row = new PayloadReader(p);
  const values: Array<string | null> = [];
  for (let i = 0; i < columns; i++) {
    // 0xfb: NULL in a text-protocol row.
    if (p[row.pos] === 0xfb) {
      row.pos++;
      values.push(null);
    } else values.push(row.lenencBytes(what).toString('utf8'));
  }
  const end = await read();
  if (end[0] !== Header.EOF && end[0] !== Header.ERR)
    throw new OneRowError(`${what}: expected the end of the result`);
  return values;
}
