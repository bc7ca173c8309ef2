// The command phase: the relay (../relay.ts, the hot path) with the follower beside it, and the one
// place moat holds a client packet back: a statement the SQL firewall judges first (PROTECTING).
// Nothing here runs per relayed packet unless a statement is held.
import type { CommandEvent } from '../../model/events.ts';
import { PacketChannel } from '../../net/channel.ts';
import { Com, Status } from '../../protocol/constants.ts';
import { formatServerError } from '../../protocol/error-codes.ts';
import { Follower } from '../../protocol/follow/follower.ts';
import { writeErr } from '../../protocol/packets/result.ts';
import { splitPayload } from '../../protocol/writer.ts';
import { digestOf, digestWithQuotes, type StatementDigest } from '../../sql/digest.ts';
import { charsetRefusal } from '../../sqlfw/charset.ts';
import type { SessionView } from '../../sqlfw/engine.ts';
import { Relay } from '../relay.ts';
import { firewallLogin, type SessionCore } from './core.ts';

/** What the command phase needs of the Session beyond the core. */
export interface CommandHooks {
  /** A command finished (the follower's event). */
  onEvent(e: CommandEvent): void;
  /** The client sent COM_CHANGE_USER: the relay's client side is held; `bytes` start with it. */
  onChangeUser(bytes: Buffer): void;
  /** One leg closed or failed; the relay has already torn the other one down. */
  onClose(side: 'client' | 'backend', error: Error | null): void;
  close(reason: string): void;
  isClosed(): boolean;
}

export class CommandPhase {
  readonly follower: Follower;
  readonly relay: Relay;
  private readonly core: SessionCore;
  private readonly hooks: CommandHooks;
  /** The SQL firewall profiles this session is under (null: none, or the firewall is off). */
  private sqlfwView: SessionView | null = null;
  /** Reads the one held statement packet (created at the first, reattached after). */
  private statementChannel: PacketChannel | null = null;
  /** Statement ids prepared before this session came under PROTECTING: judged at first EXECUTE. */
  private unjudgedPrepared: Set<number> | null = null;

  constructor(core: SessionCore, hooks: CommandHooks) {
    this.core = core;
    this.hooks = hooks;
    const { ctx, id } = core;
    this.follower = new Follower(core.identity, core.capabilities, {
      maxStatementLength: ctx.config.limits.maxStatementLength,
      onEvent: hooks.onEvent,
      onChangeUser: () => {},
      onLost: (why) => ctx.log.warn({ session: id, why }, 'stopped following the command stream'),
      backendThreadOf: ctx.backendThreadOf,
    });
    this.relay = new Relay(core.client.socket, core.link!.channel.socket, this.follower, {
      onStatement: (bytes) => {
        this.judgeHeld(bytes).catch((e: unknown) => hooks.close(`sql firewall: ${(e as Error).message}`));
      },
      onChangeUser: hooks.onChangeUser,
      onClose: hooks.onClose,
    });
  }

  /** Relays from here on (after the login, after a change of user): first the bytes read but not relayed. */
  start(clientBytes: Buffer | null, backendBytes: Buffer | null): void {
    this.refreshSqlFirewall();
    this.relay.start(clientBytes, backendBytes);
  }

  /**
   * While commands the client sent are unanswered (follower.queue): resolves once they all are.
   * The backend side relays on meanwhile.
   */
  answered(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.follower.onQueueEmpty = resolve;
    });
  }

  /**
   * Matches this session to its SQL firewall profiles: at login, after COM_CHANGE_USER, and when a
   * profile changes (the gateway calls every live session). Only a PROTECTING profile makes the
   * client sink hold statements back; every other session's stream is untouched.
   */
  refreshSqlFirewall(): void {
    const fw = this.core.ctx.sqlFirewall;
    if (fw == null || this.hooks.isClosed()) return;
    const { core, follower } = this;
    this.sqlfwView = fw.attach(firewallLogin(core));
    // A watched session follows its reading of "…" (ANSI_QUOTES); an unwatched one digests as
    // MySQL's default reads. Not asked at login (a profile that came later): either reading.
    if (this.sqlfwView.profiles.length === 0) follower.quotes = null;
    else if (follower.quotes === null) {
      follower.quotes = core.sqlMode?.session ?? 'either';
      follower.quotesAfterReset = core.sqlMode?.global ?? 'either';
    }
    const sink = follower.client;
    if (this.sqlfwView.protecting && !sink.hold && follower.prepared.size > 0) {
      this.unjudgedPrepared = new Set(follower.prepared.keys());
      sink.holdExecutes = true;
    }
    sink.hold = this.sqlfwView.protecting;
    sink.judged = false;
  }

  /**
   * PROTECTING: the client's COM_QUERY / COM_STMT_PREPARE was held back before any byte of it was
   * relayed. Read that one packet whole, judge its digest, then either relay it (fed back through
   * the relay, so the follower sees the command as usual) or answer EE's 1045 in its place: the
   * server never sees a refused statement. Later commands the client pipelined stay queued behind.
   */
  private async judgeHeld(bytes: Buffer): Promise<void> {
    const { relay, follower, core } = this;
    const ctx = core.ctx;
    const socket = core.client.socket;
    // These bytes were counted when they arrived and are counted again when relayed.
    relay.bytesFromClient -= bytes.length;
    let ch = this.statementChannel;
    if (ch === null) {
      ch = new PacketChannel(socket, ctx.config.limits.maxPacketSize);
      this.statementChannel = ch;
    } else ch.reattach(socket);
    ch.prepend(bytes);
    let packet: Awaited<ReturnType<PacketChannel['read']>>;
    let rest: ReturnType<PacketChannel['detach']>;
    try {
      packet = await ch.read();
    } finally {
      rest = ch.detach();
    }
    if (this.hooks.isClosed()) return;
    const view = this.sqlfwView;
    const payload = packet.payload;
    // MariaDB's bulk form names its statement the same way (the id after the command byte).
    if (payload[0] === Com.STMT_EXECUTE || payload[0] === Com.STMT_BULK_EXECUTE) {
      this.judgeExecute(payload, packet.seq, rest.leftover);
      return;
    }
    // The same prefix the follower captures (limits.maxStatementLength), so that a digest learned
    // in RECORDING from the follower's events is the digest judged here.
    const max = ctx.config.limits.maxStatementLength;
    const text = payload.toString('utf8', 1, 1 + Math.min(payload.length - 1, max));
    const truncated = payload.length - 1 > max;
    const command = payload[0] === Com.QUERY ? 'Query' : 'Stmt_prepare';
    const charsetRisk = view?.protecting === true ? charsetRefusal(core.clientCollation, text) : null;
    if (charsetRisk !== null)
      ctx.log.warn({ session: core.id, why: charsetRisk }, 'sql firewall refused a statement');
    const verdict =
      charsetRisk !== null
        ? ({ action: 'block' } as const)
        : view === null || !view.protecting || ctx.sqlFirewall == null
          ? null
          : ctx.sqlFirewall.judge(view, text, truncated, command, heldDigest(follower, text, truncated));
    if (verdict === null || verdict.action !== 'block') {
      this.pass(payload, packet.seq, rest.leftover);
      return;
    }
    // The refusal answers this statement, so it must come after the answers to the commands the
    // client sent before it (the backend side relays on meanwhile).
    if (follower.queue.length > 0) await this.answered();
    this.refuse(packet.seq, rest.leftover);
  }

  /**
   * A COM_STMT_EXECUTE held because statements were prepared before PROTECTING: one of those is
   * judged by its prepared text now (once); an id moat no longer knows the text of is refused,
   * since it cannot be judged. Other executions pass.
   */
  private judgeExecute(payload: Buffer, seq: number, leftover: Buffer | null): void {
    const follower = this.follower;
    const unjudged = this.unjudgedPrepared;
    const id = payload.length >= 5 ? payload.readUInt32LE(1) : -1;
    let blocked = false;
    // MariaDB's "last prepared statement" id names whatever the server prepared last, which may be
    // one prepared before PROTECTING: while any of those is unjudged, it cannot be told apart.
    if (id === 0xffffffff && unjudged !== null && unjudged.size > 0) blocked = true;
    else if (unjudged?.has(id) === true) {
      unjudged.delete(id);
      if (unjudged.size === 0) follower.client.holdExecutes = false;
      const known = follower.prepared.get(id);
      const fw = this.core.ctx.sqlFirewall;
      if (known?.text == null || fw == null || this.sqlfwView === null) blocked = true;
      else
        blocked =
          fw.judge(
            this.sqlfwView,
            known.text,
            known.truncated,
            'Stmt_execute',
            heldDigest(follower, known.text, known.truncated),
          ).action === 'block';
      // Refused once, refused again: the id stays unjudged only if it was let through.
      if (blocked) unjudged.add(id);
      if (blocked) follower.client.holdExecutes = true;
    }
    if (!blocked) {
      this.pass(payload, seq, leftover);
      return;
    }
    if (follower.queue.length > 0) follower.onQueueEmpty = () => this.refuse(seq, leftover);
    else this.refuse(seq, leftover);
  }

  /** The judged statement goes to the backend, fed back through the relay, then what followed it. */
  private pass(payload: Buffer, seq: number, leftover: Buffer | null): void {
    this.follower.client.judged = true;
    const raw = splitPayload(payload, seq);
    this.relay.resumeClient(leftover === null ? raw : Buffer.concat([raw, leftover]));
  }

  /** The statement's answer is the firewall's ERR; the client's later commands relay on. */
  private refuse(seq: number, leftover: Buffer | null): void {
    if (this.hooks.isClosed()) return;
    this.core.client.socket.write(writeErr(formatServerError('ER_FIREWALL_BLOCKED'), (seq + 1) & 0xff));
    this.relay.resumeClient(leftover);
  }
}

/**
 * A held statement's digest as its server will read it: under NO_BACKSLASH_ESCAPES `'a\'` ends at
 * the quote, under ANSI_QUOTES `"…"` is a name (sql-mode.ts). While a change of sql_mode is still
 * unanswered (pipelined ahead of it, or in it), the status flags do not tell NO_BACKSLASH_ESCAPES:
 * the digest must then be the same both ways. undefined: the default reading, which the firewall
 * computes itself; null: no digest stands for it (SqlFirewall.judge).
 */
function heldDigest(
  follower: Follower,
  text: string,
  truncated: boolean,
): StatementDigest | null | undefined {
  const nbe = (follower.lastStatus & Status.NO_BACKSLASH_ESCAPES) !== 0;
  const reading = follower.quotes === null ? 'string' : follower.readingNext(text, truncated);
  const digest = (backslashes: boolean) =>
    reading === 'string'
      ? digestOf(text, truncated, backslashes)
      : digestWithQuotes(text, truncated, backslashes, reading);
  if (follower.quotes !== null && follower.modeMayChange(text, truncated)) {
    const plain = digest(false);
    const literal = digest(true);
    return plain === null || literal === null || plain.hash !== literal.hash ? null : plain;
  }
  if (reading === 'string') return nbe ? digestOf(text, truncated, true) : undefined;
  return digest(nbe);
}
