// The session's sql_mode as far as the SQL firewall needs it (does `"…"` quote a string or a
// name?), asked of the backend on the client's own session before its first command is relayed.
import type { PacketChannel } from '../net/channel.ts';
import type { QuoteReading } from '../sql/digest.ts';
import { readingOf } from '../sql/sql-mode.ts';
import { OneRowError, oneRowQuery, readOneRow } from './one-row.ts';

export interface SqlModeReading {
  /** This session's reading now. */
  session: QuoteReading;
  /** After COM_RESET_CONNECTION or COM_CHANGE_USER: the server's global sql_mode. */
  global: QuoteReading;
}

const SQL_MODE = oneRowQuery('SELECT @@SESSION.sql_mode, @@GLOBAL.sql_mode');

/** null when the server would not say (an ERR): the firewall then reads `"…"` both ways. */
export async function sqlModeOf(ch: PacketChannel): Promise<SqlModeReading | null> {
  try {
    const [session, global] = await readOneRow(ch, SQL_MODE, 2, '@@sql_mode');
    return { session: readingOf(session ?? ''), global: readingOf(global ?? '') };
  } catch (e) {
    if (e instanceof OneRowError) return null;
    throw e;
  }
}
