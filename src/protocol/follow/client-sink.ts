// Client → server side of the follower: each logical packet is a command (or, after the server
// asked for LOCAL INFILE, file data up to an empty packet).
import { Com, MAX_PACKET_CHUNK } from '../constants.ts';
import type { ScanSink } from '../scanner.ts';
import type { Follower } from './follower.ts';
import { MAX_KILL_LENGTH, rewriteKillQuery, rewriteProcessKill } from './kill.ts';

/** "Last prepared statement": MariaDB's id for an EXECUTE pipelined right after its PREPARE. */
const LAST_PREPARED_ID = 0xffffffff;

export class ClientSink implements ScanSink {
  private readonly f: Follower;
  /** Between the server's LOCAL INFILE request and the client's empty end-of-file packet. */
  inFile = false;
  /** The SQL firewall protects this session: statements are held back and judged first. */
  hold = false;
  /** One-shot: the statement starting now was judged and let through; follow it as usual. */
  judged = false;
  /**
   * Also hold COM_STMT_EXECUTE: statements were prepared before the session came under
   * PROTECTING, unjudged, and are judged at their first execution instead.
   */
  holdExecutes = false;
  private com = 0;

  constructor(follower: Follower) {
    this.f = follower;
  }

  start(first: number, length: number, _seq: number): number {
    const f = this.f;
    if (this.inFile) {
      if (length === 0) this.inFile = false;
      return 0;
    }
    // Before `following`: a follower that lost track of the answers must not let statements by.
    const execute = first === Com.STMT_EXECUTE || first === Com.STMT_BULK_EXECUTE;
    if (this.hold && (first === Com.QUERY || first === Com.STMT_PREPARE || execute)) {
      // The flag is spent by the one packet fed back after judging, whatever else changed.
      if (this.judged) this.judged = false;
      else if (!execute || this.holdExecutes) {
        f.options.onHoldStatement?.();
        return 0;
      }
    }
    // A change of user is a login, followed or not: once lost, it still goes to the session
    // (which refuses it, since it cannot tell where the answers before it end).
    if (!f.following) {
      if (first === Com.CHANGE_USER) f.options.onChangeUser();
      return 0;
    }
    if (first < 0) {
      // The server reads an empty packet as COM_SLEEP and answers "Unknown command".
      f.queue.push(f.newCommand(Com.SLEEP, null, false, -1));
      return 0;
    }
    this.com = first;
    switch (first) {
      case Com.QUERY:
      case Com.STMT_PREPARE:
        return Math.min(length, 1 + f.options.maxStatementLength);
      case Com.STMT_EXECUTE:
      case Com.STMT_FETCH:
      case Com.STMT_RESET:
      case Com.STMT_CLOSE:
      case Com.STMT_SEND_LONG_DATA:
        return 5;
      case Com.PROCESS_KILL:
        if (f.options.backendThreadOf !== undefined && length >= 5) return 5;
        f.queue.push(f.newCommand(first, null, false, -1));
        return 0;
      case Com.INIT_DB:
        return Math.min(length, 1 + 256);
      case Com.CHANGE_USER:
        f.options.onChangeUser();
        return 0;
      case Com.QUIT:
        f.finishNow(f.newCommand(first, null, false, -1));
        return 0;
      case Com.BINLOG_DUMP:
      case Com.BINLOG_DUMP_GTID:
      case Com.TABLE_DUMP:
      case Com.CONNECT_OUT: {
        // Answered by a stream that is not request/response, or (usually, from an account
        // without replication privileges) by an ERR. Follow until the answer shows which: after an
        // ERR the session goes on and so does the audit; a stream is relayed, not interpreted.
        const cmd = f.newCommand(first, null, false, -1);
        cmd.streams = true;
        f.queue.push(cmd);
        return 0;
      }
      default:
        if (first === Com.RESET_CONNECTION) f.forgetPrepared();
        f.queue.push(f.newCommand(first, null, false, -1));
        return 0;
    }
  }

  head(buf: Buffer, from: number, n: number, length: number, _seq: number, inChunk = false): void {
    const f = this.f;
    // Lost between start() and the arrival of the leading bytes: nothing is interpreted any more
    // (a command queued now would never be answered, and the session would never look idle).
    if (!f.following) return;
    const com = this.com;
    if (com === Com.QUERY || com === Com.STMT_PREPARE || com === Com.INIT_DB) {
      const text = buf.toString('utf8', from + 1, from + n);
      // A packet of exactly MAX_PACKET_CHUNK bytes is continued by the next one, which is never read.
      const truncated = length > n || length === MAX_PACKET_CHUNK;
      // The command byte is not statement text; a continued packet's length is a lower bound.
      const bytes = length - 1;
      f.queue.push(f.newCommand(com, text, truncated, -1, bytes));
      if (com === Com.STMT_PREPARE) f.lastPrepared = { text, truncated, bytes };
      // KILL <the id moat greeted with>: rewritten in the chunk before it is relayed (kill.ts).
      // Only a whole short packet in this chunk; one split across chunks goes on unchanged.
      const threadOf = f.options.backendThreadOf;
      if (com === Com.QUERY && inChunk && n === length && length <= MAX_KILL_LENGTH && threadOf !== undefined)
        rewriteKillQuery(buf, from + 1, from + n, threadOf, f.identity.user);
      return;
    }
    if (com === Com.PROCESS_KILL) {
      if (inChunk) rewriteProcessKill(buf, from + 1, f.options.backendThreadOf!, f.identity.user);
      f.queue.push(f.newCommand(com, null, false, -1));
      return;
    }
    // COM_STMT_*: int<4> statement id after the command byte. The "last prepared" id is sent in
    // the same write as its PREPARE, before the server has answered with the real id: it names
    // the statement of the last PREPARE the client sent.
    const stmtId = n >= 5 ? buf.readUInt32LE(from + 1) : -1;
    const known = stmtId === LAST_PREPARED_ID ? f.lastPrepared : f.prepared.get(stmtId);
    const digest = com === Com.STMT_EXECUTE ? (known?.digest ?? null) : null;
    const cmd = f.newCommand(
      com,
      known?.text ?? null,
      known?.truncated ?? false,
      stmtId,
      known?.bytes ?? 0,
      digest,
    );
    if (com === Com.STMT_CLOSE) {
      f.closePrepared(stmtId);
      f.finishNow(cmd);
    } else if (com === Com.STMT_SEND_LONG_DATA) {
      f.finishNow(cmd);
    } else {
      f.queue.push(cmd);
    }
  }
}
