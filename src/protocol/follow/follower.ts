// Follows the command phase of one session from both directions: which command the client sent,
// how the server answered, and when the answer ended. Produces one CommandEvent per command.
// Fed by two PacketScanners (client → server via `client`, server → client via `server`).
//
// Commands are queued because clients pipeline (the MariaDB connector sends PREPARE and EXECUTE
// in one write); responses arrive in the same order. If the server ever sends something the
// follower cannot place, it stops following (status UNKNOWN) rather than guessing: the bytes are
// relayed untouched either way, so a follower mistake can cost an event, never a session.

import type { CommandEvent, CommandStatus, SessionIdentity } from '../../model/events.ts';
import { digestOf, digestWithQuotes, type QuoteReading, type StatementDigest } from '../../sql/digest.ts';
import { type ModeEffect, modeEffect, readingFor } from '../../sql/sql-mode.ts';
import { Cap, Com, commandName, Status } from '../constants.ts';
import { ClientSink } from './client-sink.ts';
import type { BackendThreadOf } from './kill.ts';
import { ServerSink } from './server-sink.ts';

/** A prepared statement's text as the follower saw it, for its Stmt_execute events. */
export interface PreparedText {
  text: string | null;
  truncated: boolean;
  /** The statement's length in bytes as sent (text holds at most maxStatementLength of it). */
  bytes: number;
  /** Its digest, computed once at PREPARE; every Stmt_execute of it reuses it. */
  digest?: StatementDigest | null;
}

export interface PendingCommand {
  com: number;
  statement: string | null;
  truncated: boolean;
  /** The statement's length in bytes as sent, 0 without one. */
  statementBytes: number;
  /** Its digest once computed (statementDigest), or the prepared statement's for a Stmt_execute. */
  digest: StatementDigest | null;
  /** The answer may be a replication stream: anything but an ERR ends the following. */
  streams: boolean;
  /** For COM_STMT_*: the statement id the command names. */
  stmtId: number;
  startedAt: number;
  startedPerf: number;
  status: CommandStatus;
  errorCode: number;
  sqlState: string | null;
  errorMessage: string | null;
  rows: number;
  affectedRows: number;
}

export interface FollowerOptions {
  /**
   * Statement text captured per event, in bytes (limits.maxStatementLength, 64 KiB by default):
   * detection sees all of it, the audit keeps less (audit.maxStatementLength). Decoded once per
   * command from a view of the chunk; only a statement split across chunks is copied, into the
   * scanner's one buffer grown to this size.
   */
  maxStatementLength: number;
  /** Called for every finished command. */
  onEvent: (e: CommandEvent) => void;
  /** The client sent COM_CHANGE_USER: the session takes the stream over (scanner is paused). */
  onChangeUser: () => void;
  /**
   * A COM_QUERY / COM_STMT_PREPARE to be judged before it is relayed (the session's SQL firewall
   * profile is in PROTECTING; ClientSink.hold): the session takes that packet (scanner is paused).
   */
  onHoldStatement?: () => void;
  /** The follower lost track (malformed response, unsupported command): for a log line. */
  onLost: (why: string) => void;
  /** moat session id → its backend thread, for KILL by the greeted id (kill.ts); none: no mapping. */
  backendThreadOf?: BackendThreadOf;
}

/** Cap on remembered prepared statements per session (texts only, for Stmt_execute events). */
const MAX_PREPARED = 4096;
/**
 * Cap on the text they hold together, in characters: with 64 KiB captured per statement, 4096 of
 * them would be 256 MiB for one session. The oldest go first; their executions have no text.
 */
const MAX_PREPARED_TEXT = 4 * 1024 * 1024;

export class Follower {
  readonly identity: SessionIdentity;
  readonly options: FollowerOptions;
  deprecateEof: boolean;
  readonly queue: PendingCommand[] = [];
  readonly prepared = new Map<number, PreparedText>();
  /** Characters of text held in `prepared`. */
  private preparedText = 0;
  /** Text of the last COM_STMT_PREPARE the client sent (what MariaDB's id 0xffffffff names). */
  lastPrepared: PreparedText | null = null;
  /** false once the follower lost track: bytes are still relayed, nothing is interpreted. */
  following = true;
  /** Server status flags of the last OK / EOF (IN_TRANS tells whether a transaction is open). */
  lastStatus = 0;
  /**
   * How the server reads `"…"` in this session (sql-mode.ts), for sessions the SQL firewall
   * watches: read at login, followed through the statements that may change it. null: not
   * followed, digests read `"…"` as a string (MySQL's default, and the digest table's).
   */
  quotes: QuoteReading | null = null;
  /** The reading after COM_RESET_CONNECTION (the server's global sql_mode), once known. */
  quotesAfterReset: QuoteReading = 'either';
  /** Called when the last pending command finished (graceful shutdown waits for this). */
  onIdle: (() => void) | null = null;
  /** One-shot: the queue is empty (a refused statement's ERR must follow every earlier answer). */
  onQueueEmpty: (() => void) | null = null;
  readonly client: ClientSink;
  readonly server: ServerSink;

  constructor(identity: SessionIdentity, capabilities: number, options: FollowerOptions) {
    this.identity = identity;
    this.options = options;
    this.deprecateEof = (capabilities & Cap.DEPRECATE_EOF) !== 0;
    this.client = new ClientSink(this);
    this.server = new ServerSink(this);
  }

  newCommand(
    com: number,
    statement: string | null,
    truncated: boolean,
    stmtId: number,
    statementBytes = 0,
    digest: StatementDigest | null = null,
  ): PendingCommand {
    return {
      com,
      statement,
      truncated,
      statementBytes,
      digest,
      streams: false,
      stmtId,
      startedAt: Date.now(),
      startedPerf: performance.now(),
      status: 'OK',
      errorCode: 0,
      sqlState: null,
      errorMessage: null,
      rows: 0,
      affectedRows: 0,
    };
  }

  /** A command with no response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT). */
  finishNow(cmd: PendingCommand): void {
    cmd.status = 'NONE';
    this.emit(cmd);
  }

  /** The head of the queue got its whole answer. */
  finishHead(): void {
    const cmd = this.queue.shift();
    if (cmd !== undefined) this.emit(cmd);
    if (this.queue.length === 0 && this.onIdle !== null) this.onIdle();
    if (this.queue.length === 0) this.queueEmptied();
  }

  private queueEmptied(): void {
    const f = this.onQueueEmpty;
    this.onQueueEmpty = null;
    f?.();
  }

  get inTransaction(): boolean {
    return (this.lastStatus & Status.IN_TRANS) !== 0;
  }

  /**
   * The digest of a command's statement, computed on first use and kept on the command (Query,
   * Stmt_prepare, and a Stmt_execute whose PREPARE was not yet answered, MariaDB's pipelined
   * "last prepared" id). Per finished command, never per packet; digestOf memoizes by text.
   */
  statementDigest(cmd: PendingCommand, effect?: ModeEffect): StatementDigest | null {
    if (cmd.digest !== null || cmd.statement === null) return cmd.digest;
    if (cmd.com !== Com.QUERY && cmd.com !== Com.STMT_PREPARE && cmd.com !== Com.STMT_EXECUTE) return null;
    const q = this.quotes;
    if (q === null) cmd.digest = digestOf(cmd.statement, cmd.truncated);
    else {
      const reading = readingFor(q, effect ?? modeEffect(cmd.statement, cmd.truncated));
      // null when no digest stands for the statement in both readings (the firewall refuses it).
      cmd.digest = digestWithQuotes(cmd.statement, cmd.truncated, false, reading);
    }
    return cmd.digest;
  }

  /**
   * The reading a statement the client sends now will run under: from the session's, through
   * the effects of the commands still unanswered ahead of it (any change counts as unknown until
   * answered), then its own. For the firewall's judgement of a held statement.
   */
  readingNext(statement: string, truncated = false): QuoteReading {
    let r = this.quotes ?? 'string';
    for (const cmd of this.queue) r = readingFor(r, this.effectOf(cmd));
    return readingFor(r, modeEffect(statement, truncated));
  }

  /**
   * Whether the session's sql_mode may differ, by the time a statement sent now runs, from what
   * the last answer said (a change still unanswered ahead of it, or in it): then neither
   * NO_BACKSLASH_ESCAPES nor ANSI_QUOTES is known from the status flags alone.
   */
  modeMayChange(statement: string, truncated = false): boolean {
    for (const cmd of this.queue) if (this.effectOf(cmd).kind !== 'none') return true;
    return modeEffect(statement, truncated).kind !== 'none';
  }

  private effectOf(cmd: PendingCommand): ModeEffect {
    if (cmd.com === Com.RESET_CONNECTION) return { kind: 'set', reading: this.quotesAfterReset };
    if ((cmd.com === Com.QUERY || cmd.com === Com.STMT_EXECUTE) && cmd.statement !== null)
      return modeEffect(cmd.statement, cmd.truncated);
    return NO_EFFECT;
  }

  /** After a command's answer: the session's reading as the server now has it. */
  private followQuotes(cmd: PendingCommand, effect: ModeEffect): void {
    if (effect.kind === 'none') return;
    if (effect.kind === 'unknown') this.quotes = 'either';
    else if (cmd.status === 'OK') this.quotes = effect.reading;
    // An ERR: the statement did not run, the mode is as it was.
  }

  rememberPrepared(
    stmtId: number,
    text: string | null,
    truncated: boolean,
    bytes = 0,
    digest: StatementDigest | null = null,
  ): void {
    this.closePrepared(stmtId);
    const length = text?.length ?? 0;
    while (
      this.prepared.size > 0 &&
      (this.prepared.size >= MAX_PREPARED || this.preparedText + length > MAX_PREPARED_TEXT)
    ) {
      const oldest = this.prepared.keys().next().value;
      if (oldest === undefined) break;
      this.closePrepared(oldest);
    }
    this.prepared.set(stmtId, { text, truncated, bytes, digest });
    this.preparedText += length;
  }

  /** COM_STMT_CLOSE, or evicted: its text is forgotten. */
  closePrepared(stmtId: number): void {
    const old = this.prepared.get(stmtId);
    if (old === undefined) return;
    this.preparedText -= old.text?.length ?? 0;
    this.prepared.delete(stmtId);
  }

  /** Stops interpreting the stream; pending commands are reported as UNKNOWN. */
  lose(why: string): void {
    if (!this.following) return;
    this.following = false;
    this.options.onLost(why);
    for (const cmd of this.queue) {
      cmd.status = 'UNKNOWN';
      this.emit(cmd);
    }
    this.queue.length = 0;
    this.queueEmptied();
  }

  /** After COM_CHANGE_USER or COM_RESET_CONNECTION the server forgets prepared statements. */
  forgetPrepared(): void {
    this.prepared.clear();
    this.preparedText = 0;
    this.lastPrepared = null;
  }

  private emit(cmd: PendingCommand): void {
    const id = this.identity;
    if (cmd.status === 'OK' && cmd.statement !== null) {
      if (cmd.com === Com.QUERY) trackUse(id, cmd.statement);
      else if (cmd.com === Com.INIT_DB) id.database = cmd.statement;
    }
    // A watched session's statement is read for its effect on sql_mode once, for its digest and
    // for the mode after it.
    let digest: StatementDigest | null;
    if (this.quotes === null) digest = this.statementDigest(cmd);
    else {
      const effect = this.effectOf(cmd);
      digest = this.statementDigest(cmd, cmd.com === Com.STMT_PREPARE ? undefined : effect);
      this.followQuotes(cmd, effect);
    }
    this.options.onEvent({
      session: id.session,
      user: id.user,
      clientAddress: id.clientAddress,
      clientPort: id.clientPort,
      database: id.database,
      command: commandName(cmd.com),
      statement: cmd.statement,
      statementTruncated: cmd.truncated,
      statementBytes: cmd.statementBytes,
      digest,
      status: cmd.status,
      errorCode: cmd.errorCode,
      sqlState: cmd.sqlState,
      errorMessage: cmd.errorMessage,
      rows: cmd.rows,
      affectedRows: cmd.affectedRows,
      startedAt: cmd.startedAt,
      durationMs: performance.now() - cmd.startedPerf,
    });
  }
}

const NO_EFFECT: ModeEffect = { kind: 'none' };

const USE_RE = /^\s*use\s+`?([^`;\s]+)`?\s*;?\s*$/i;

/** `USE db` through COM_QUERY changes the session's database just like COM_INIT_DB. */
function trackUse(id: SessionIdentity, statement: string): void {
  if (statement.length > 200 || !/^\s*use\s/i.test(statement)) return;
  const m = USE_RE.exec(statement);
  if (m?.[1] !== undefined) id.database = m[1];
}
