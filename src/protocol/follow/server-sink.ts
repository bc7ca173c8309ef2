// Server → client side of the follower: places each response packet in the answer to the command
// at the head of the queue, and finishes the command when its answer ends.
//
// What may arrive, per state (MySQL "Command Phase" / "Text Resultset" / "COM_STMT_PREPARE"):
//   first        OK | ERR | LOCAL INFILE request (0xfb, COM_QUERY) | EOF (COM_SET_OPTION, COM_DEBUG)
//                | column count (result set) | column definition (COM_FIELD_LIST)
//                | any one packet (COM_STATISTICS)
//   columns      column definitions, then EOF unless DEPRECATE_EOF
//   rows         rows; EOF (payload < 9) or, with DEPRECATE_EOF, OK with 0xfe header
//                (payload < 0xffffff); ERR. A terminator with MORE_RESULTS_EXISTS → first again;
//                with CURSOR_EXISTS the rows come later through COM_STMT_FETCH.
//   prepare      OK_prepare (stmt id, columns, params), param definitions (+EOF), column
//                definitions (+EOF)
//
// OK, ERR and EOF are decoded by packets/result.ts, in place over the leading bytes the scanner
// shows (a view of the chunk), so the follower reads them exactly as the rest of moat does.
import { Com, Header, MAX_PACKET_CHUNK, Status } from '../constants.ts';
import type { ServerError } from '../error-codes.ts';
import { ProtocolError } from '../errors.ts';
import { eofStatus, type OkPacket, readErr, readOk } from '../packets/result.ts';
import { lenencAt } from '../reader.ts';
import type { ScanSink } from '../scanner.ts';
import type { Follower, PendingCommand } from './follower.ts';

type State =
  | 'first'
  | 'columns'
  | 'columnsEof'
  | 'rows'
  | 'prepParams'
  | 'prepParamsEof'
  | 'prepCols'
  | 'prepColsEof'
  | 'fieldList';
type Kind =
  | 'ok'
  | 'prepareOk'
  | 'err'
  | 'eof'
  | 'columnCount'
  | 'columnsEof'
  | 'terminator'
  | 'unsolicitedErr';

/**
 * Bytes of an ERR packet kept: header, code, SQLSTATE and the message up to MYSQL_ERRMSG_SIZE (512),
 * the most a server writes.
 */
const ERR_HEAD = 9 + 512;
/** OK: header + two lenenc (≤ 9 each) + status + warnings. */
const OK_HEAD = 1 + 9 + 9 + 2 + 2;

export class ServerSink implements ScanSink {
  private readonly f: Follower;
  private state: State = 'first';
  private kind: Kind = 'ok';
  private count = 0; // columns / params still to come
  private prepCols = 0;
  /** Every OK is decoded into this one: an OK per command, no object per packet. */
  private readonly ok: OkPacket = { affectedRows: 0, lastInsertId: 0, status: 0, warnings: 0 };

  constructor(follower: Follower) {
    this.f = follower;
  }

  private get cur(): PendingCommand | undefined {
    return this.f.queue[0];
  }

  start(first: number, length: number, _seq: number): number {
    const f = this.f;
    if (!f.following) return 0;
    const cur = this.cur;
    if (cur === undefined) {
      // The server speaks unasked only to say goodbye (shutdown, KILL): an ERR with seq 0.
      if (first === Header.ERR) {
        this.kind = 'unsolicitedErr';
        return ERR_HEAD;
      }
      f.lose('response with no command pending');
      return 0;
    }
    switch (this.state) {
      case 'first':
        return this.startFirst(cur, first, length);
      case 'columns':
        if (--this.count === 0) this.state = f.deprecateEof ? 'rows' : 'columnsEof';
        return 0;
      case 'columnsEof':
        if (first === Header.EOF && length < 9) {
          this.kind = 'columnsEof';
          return length;
        }
        return this.maybeErr(first, 'EOF after column definitions');
      case 'rows':
        if (first === Header.EOF && length < (f.deprecateEof ? MAX_PACKET_CHUNK : 9)) {
          this.kind = 'terminator';
          return Math.min(length, OK_HEAD);
        }
        if (first === Header.ERR) {
          this.kind = 'err';
          return ERR_HEAD;
        }
        cur.rows++;
        return 0;
      case 'prepParams':
        if (--this.count === 0) {
          if (f.deprecateEof) this.afterPrepParams();
          else this.state = 'prepParamsEof';
        }
        return 0;
      case 'prepParamsEof':
        this.afterPrepParams();
        return 0;
      case 'prepCols':
        if (--this.count === 0) {
          if (f.deprecateEof) this.done();
          else this.state = 'prepColsEof';
        }
        return 0;
      case 'prepColsEof':
        this.done();
        return 0;
      case 'fieldList':
        if (first === Header.EOF && length < (f.deprecateEof ? MAX_PACKET_CHUNK : 9)) this.done();
        else if (first === Header.ERR) {
          this.kind = 'err';
          return ERR_HEAD;
        }
        return 0;
    }
  }

  private startFirst(cur: PendingCommand, first: number, length: number): number {
    if (cur.streams && first !== Header.ERR)
      return this.lose(`replication stream (command 0x${cur.com.toString(16)})`);
    if (cur.com === Com.STATISTICS) {
      this.done(); // one plain string packet
      return 0;
    }
    if (cur.com === Com.STMT_FETCH) {
      // A cursor fetch answers with rows straight away (or ERR), no column definitions.
      this.state = 'rows';
      return this.start(first, length, 0);
    }
    if (first === Header.OK) {
      if (cur.com === Com.STMT_PREPARE) {
        this.kind = 'prepareOk';
        return Math.min(length, 12);
      }
      this.kind = 'ok';
      return Math.min(length, OK_HEAD);
    }
    if (first === Header.ERR) {
      this.kind = 'err';
      return ERR_HEAD;
    }
    if (first === Header.EOF && length < 9) {
      this.kind = 'eof';
      return length;
    }
    if (first === Header.LOCAL_INFILE && cur.com === Com.QUERY) {
      // The client now streams the file, then the server answers OK / ERR: still 'first'.
      this.f.client.inFile = true;
      return 0;
    }
    if (cur.com === Com.FIELD_LIST) {
      this.state = 'fieldList';
      return 0;
    }
    if (first < 0) return this.lose('empty response packet');
    this.kind = 'columnCount';
    return Math.min(length, 9);
  }

  head(buf: Buffer, from: number, n: number, _length: number, _seq: number): void {
    const f = this.f;
    const end = from + n;
    if (this.kind === 'unsolicitedErr') {
      this.err(buf, from, end, null);
      return;
    }
    const cur = this.cur;
    if (cur === undefined) return;
    switch (this.kind) {
      case 'ok': {
        const ok = this.readOk(buf, from, end);
        if (ok === null) return void this.lose('malformed OK packet');
        cur.affectedRows += ok.affectedRows;
        this.afterStatus(ok.status);
        return;
      }
      case 'eof':
        this.afterStatus(eofStatus(buf, from, end));
        return;
      case 'err':
        this.err(buf, from, end, cur);
        return;
      case 'prepareOk': {
        // COM_STMT_PREPARE_OK: int<1> 0x00, int<4> statement id, int<2> columns, int<2> params, …
        if (n < 9) return void this.lose('short COM_STMT_PREPARE OK');
        const stmtId = buf.readUInt32LE(from + 1);
        const cols = buf.readUInt16LE(from + 5);
        const params = buf.readUInt16LE(from + 7);
        f.rememberPrepared(stmtId, cur.statement, cur.truncated, cur.statementBytes, f.statementDigest(cur));
        this.prepCols = cols;
        if (params > 0) {
          this.state = 'prepParams';
          this.count = params;
        } else this.afterPrepParams();
        return;
      }
      case 'columnCount': {
        const cols = this.columnCount(buf, from, end);
        if (cols <= 0) return void this.lose('bad column count');
        this.state = 'columns';
        this.count = cols;
        return;
      }
      case 'columnsEof': {
        if (eofStatus(buf, from, end) & Status.CURSOR_EXISTS) this.done();
        else this.state = 'rows';
        return;
      }
      case 'terminator': {
        // A malformed terminator still ends the rows: only its status flags are lost.
        const status = f.deprecateEof
          ? (this.readOk(buf, from, end)?.status ?? 0)
          : eofStatus(buf, from, end);
        this.afterStatus(status);
        return;
      }
    }
  }

  /** The OK at buf[from, end), or null when result.ts refuses it. */
  private readOk(buf: Buffer, from: number, end: number): OkPacket | null {
    try {
      return readOk(buf, from, end, this.ok);
    } catch (e) {
      if (e instanceof ProtocolError) return null;
      throw e;
    }
  }

  /** A result set's int<lenenc> column count, or -1 when it is not one. */
  private columnCount(buf: Buffer, from: number, end: number): number {
    try {
      return lenencAt(buf, from, end, 'column count');
    } catch (e) {
      if (e instanceof ProtocolError) return -1;
      throw e;
    }
  }

  private afterPrepParams(): void {
    if (this.prepCols > 0) {
      this.state = 'prepCols';
      this.count = this.prepCols;
    } else this.done();
  }

  /** OK / EOF / terminator: another result follows, or the answer is complete. */
  private afterStatus(status: number): void {
    this.f.lastStatus = status;
    if (status & Status.MORE_RESULTS_EXISTS) this.state = 'first';
    else this.done();
  }

  private err(buf: Buffer, from: number, end: number, cur: PendingCommand | null): void {
    let e: ServerError;
    try {
      e = readErr(buf, from, end);
    } catch (x) {
      if (!(x instanceof ProtocolError)) throw x;
      // Too short to carry an error code: not an answer the follower can place.
      this.lose('malformed ERR packet');
      return;
    }
    if (cur === null) {
      this.f.lose(`server closed the session: ${e.code} ${e.message}`);
      return;
    }
    cur.status = 'ERR';
    cur.errorCode = e.code;
    cur.sqlState = e.state;
    cur.errorMessage = e.message;
    this.done(); // an ERR ends the answer, multi-results included
  }

  private maybeErr(first: number, expected: string): number {
    if (first === Header.ERR) {
      this.kind = 'err';
      return ERR_HEAD;
    }
    return this.lose(`expected ${expected}`);
  }

  private done(): void {
    this.state = 'first';
    this.f.finishHead();
  }

  private lose(why: string): number {
    this.state = 'first';
    this.f.lose(why);
    return 0;
  }
}
