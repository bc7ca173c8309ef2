// Whole-packet reading over a socket for the login phases (greeting, TLS upgrade, handshake,
// authentication), one packet at a time. Bytes after the packet being read stay unconsumed in
// `leftover`, so that a phase change (TLS upgrade, hand-over to the command-phase relay) never
// loses or misreads them. Not used on the hot path.
import type { Socket } from 'node:net';
import { type Packet, PacketFramer } from '../protocol/framer.ts';

export class ChannelClosedError extends Error {
  readonly code = 'MOAT_PEER_CLOSED';
  constructor(message = 'peer closed the connection') {
    super(message);
    this.name = 'ChannelClosedError';
  }
}

/** A pending read was given up on purpose (the other leg decided the exchange is over). */
export class ReadCancelledError extends Error {
  readonly code = 'MOAT_READ_CANCELLED';
  constructor() {
    super('read cancelled');
    this.name = 'ReadCancelledError';
  }
}

/** One shared instance: cancelling is routine (every login ends with it), and an Error's stack
 * capture was a measurable part of the connect path. It carries no per-read information. */
const READ_CANCELLED = new ReadCancelledError();

export class PacketChannel {
  socket: Socket;
  private readonly framer: PacketFramer;
  private leftover: Buffer | null = null;
  private waiting: { resolve: (p: Packet) => void; reject: (e: Error) => void } | null = null;
  private ready: Packet | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer) => this.feed(chunk);
  private readonly onEnd = () => this.fail(new ChannelClosedError());
  private readonly onError = (e: Error) => this.fail(e);

  constructor(socket: Socket, maxPacketSize: number) {
    this.socket = socket;
    this.framer = new PacketFramer(maxPacketSize);
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private feed(chunk: Buffer): void {
    if (this.ready !== null || this.failure !== null || this.waiting === null) {
      // A packet is already waiting to be taken, or nobody reads: keep the bytes as they came and
      // stop reading. Unframed, so that detach() hands them on whole (a client's first command
      // that arrives while moat still talks to the backend after the OK is relayed as sent).
      this.keep(chunk);
      return;
    }
    try {
      const used = this.framer.push(chunk, (p) => {
        this.ready = p;
        return false; // one packet at a time
      });
      if (used < chunk.length) this.keep(chunk.subarray(used));
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.deliver();
  }

  private keep(rest: Buffer): void {
    this.leftover = this.leftover === null ? rest : Buffer.concat([this.leftover, rest]);
    this.socket.pause();
  }

  private deliver(): void {
    if (this.waiting === null) return;
    if (this.ready !== null) {
      const p = this.ready;
      this.ready = null;
      const w = this.waiting;
      this.waiting = null;
      w.resolve(p);
    } else if (this.failure !== null) {
      const w = this.waiting;
      this.waiting = null;
      w.reject(this.failure);
    }
  }

  private fail(e: Error): void {
    if (this.failure === null) this.failure = e;
    this.deliver();
  }

  /**
   * The sequence id of a packet the peer began but did not finish (PacketFramer.pendingSeq), or
   * `expected` if it sent only part of a header; null between packets.
   */
  pendingSeq(expected: number): number | null {
    return this.framer.pendingSeq ?? (this.framer.inHeader ? expected & 0xff : null);
  }

  /** The next whole packet. Rejects with ProtocolError, ChannelClosedError or a socket error. */
  read(): Promise<Packet> {
    if (this.waiting !== null) throw new Error('PacketChannel.read: a read is already pending');
    return new Promise<Packet>((resolve, reject) => {
      this.waiting = { resolve, reject };
      if (this.ready === null && this.leftover !== null && this.failure === null) {
        const rest = this.leftover;
        this.leftover = null;
        this.feed(rest);
        if (this.leftover === null && this.ready === null) this.socket.resume();
      } else if (this.ready === null && this.failure === null) {
        this.socket.resume();
      }
      this.deliver();
    });
  }

  /** Rejects a pending `read()` with ReadCancelledError. */
  cancelRead(): void {
    const w = this.waiting;
    if (w === null) return;
    this.waiting = null;
    w.reject(READ_CANCELLED);
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  /**
   * Stops reading and hands back the bytes received but not yet framed. The framer must be
   * between packets (the protocol allows no pipelining across a phase change).
   */
  detach(): { leftover: Buffer | null; partial: boolean } {
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onEnd);
    s.off('error', this.onError);
    s.pause();
    const leftover = this.leftover;
    this.leftover = null;
    return { leftover, partial: !this.framer.idle || this.ready !== null };
  }

  /** Puts bytes back in front of whatever is still unread (a packet the relay held back). */
  prepend(bytes: Buffer): void {
    this.leftover = this.leftover === null ? bytes : Buffer.concat([bytes, this.leftover]);
  }

  /** Continues on a new socket (the TLS socket that now wraps the old one). */
  reattach(socket: Socket): void {
    this.failure = null;
    this.attach(socket);
  }
}
