// KILL by the connection id a client was greeted with. moat's greeting carries moat's session id
// (from 2^30, see session.ts), which is what drivers and pools remember as the thread id and later
// name in `KILL QUERY <id>` (mysql2, the MariaDB connector's query timeout) or COM_PROCESS_KILL. The
// backend knows its own thread ids only, so such a KILL is rewritten, in the chunk, before it is
// relayed, to name the backend thread of that session. It is still the caller's own backend
// connection that sends it, so the server's privilege checks (own threads, or CONNECTION ADMIN /
// SUPER) decide as they would direct; a KILL of a backend id passes untouched.
//
// The rewrite is in place and never changes a length: a backend thread id (< 2^32) has at most the
// ten digits of a moat id (≥ 2^30), and the freed digits become trailing spaces, which the server
// ignores. No copy, no held-back packet, nothing for statements that are not a short KILL.

/** moat's session ids start here (the greeting's connection id, session/greeting.ts; the gateway numbers sessions from it). */
export const FIRST_SESSION_ID = 2 ** 30;

/** A statement longer than this is not a bare KILL (`KILL HARD CONNECTION 4294967295;` is 36). */
export const MAX_KILL_LENGTH = 64;

/** The backend thread of the moat session `id` of user `caller`, or null (none, or another user's). */
export type BackendThreadOf = (id: number, caller: string) => number | null;

const K = 0x4b;
const k = 0x6b;
const KILL = /^\s*KILL\s+(?:(?:HARD|SOFT)\s+)?(?:(?:CONNECTION|QUERY)\s+)?(\d{10})\s*;?\s*$/i;

/**
 * COM_QUERY text in buf[from, end): when it is `KILL [HARD|SOFT] [CONNECTION|QUERY] <moat id>` of a
 * live session, the id is replaced by that session's backend thread id. Returns whether it did.
 */
export function rewriteKillQuery(
  buf: Buffer,
  from: number,
  end: number,
  threadOf: BackendThreadOf,
  caller: string,
): boolean {
  let i = from;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  if (i >= end || (buf[i] !== K && buf[i] !== k)) return false;
  const m = KILL.exec(buf.toString('latin1', from, end));
  if (m === null) return false;
  const id = Number(m[1]);
  if (id < FIRST_SESSION_ID) return false;
  const thread = threadOf(id, caller);
  if (thread === null) return false;
  const at = from + m.index + m[0].lastIndexOf(m[1]!);
  buf.write(String(thread).padEnd(10, ' '), at, 10, 'latin1');
  return true;
}

/** COM_PROCESS_KILL's int<4> id at buf[at]: rewritten the same way (same four bytes). */
export function rewriteProcessKill(
  buf: Buffer,
  at: number,
  threadOf: BackendThreadOf,
  caller: string,
): boolean {
  const id = buf.readUInt32LE(at);
  if (id < FIRST_SESSION_ID) return false;
  const thread = threadOf(id, caller);
  if (thread === null) return false;
  buf.writeUInt32LE(thread >>> 0, at);
  return true;
}
