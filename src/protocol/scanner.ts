// Follows packet boundaries in a relayed byte stream without assembling packets: the command-phase
// hot path. The relay forwards every chunk untouched; the scanner walks the 4-byte headers in it
// and tells a sink where each logical packet starts. The sink looks at the first byte and, only
// when it must understand the packet (OK, ERR, EOF, a command), asks for its leading bytes. Those
// are handed out as a view of the chunk; only when they straddle a chunk boundary are they copied,
// into one small buffer the scanner keeps (grown to the largest request, never per packet).
//
// Continuation packets (after a physical packet of exactly 0xffffff bytes) belong to the same
// logical packet: the sink is never asked to interpret their first byte.
import { MAX_PACKET_CHUNK } from './constants.ts';

export interface ScanSink {
  /**
   * A logical packet starts; `first` is its first payload byte (-1 for an empty packet).
   * `length` is the physical packet's payload length. Return how many leading payload bytes the
   * sink needs to see through `head` (0: none, done with this packet).
   */
  start(first: number, length: number, seq: number): number;
  /**
   * The leading bytes asked for: buf[from, from + n). Called at most once per packet.
   * `inChunk`: buf is the chunk being fed and the packet began in it (or in header bytes a relay
   * holds back), so nothing of [from, from + n) has been passed on yet and a relay that forwards
   * the chunk after `feed` returns forwards what the sink left there; false: a copy across chunks.
   */
  head(buf: Buffer, from: number, n: number, length: number, seq: number, inChunk: boolean): void;
}

export class PacketScanner {
  private readonly sink: ScanSink;
  /** Payload bytes of the current physical packet still to come. */
  private remaining = 0;
  private header = 0; // header bytes collected so far, when a header straddles chunks
  private headerBuf = Buffer.alloc(4);
  /** The last physical packet was 0xffffff long: the next one continues it. */
  private continues = false;
  // A header was read but its first payload byte has not arrived yet.
  private awaitingFirst = false;
  private curLength = 0;
  private curSeq = 0;
  // Leading bytes being collected across chunks for the sink.
  private peek: Buffer | null = null;
  private peekWant = 0;
  private peekHave = 0;
  /** Set by `pause()` from inside a sink call: `feed` returns early. */
  private paused = false;
  /** Offset in the current chunk of the current packet's header (-1: began in an earlier chunk). */
  packetStart = -1;

  constructor(sink: ScanSink) {
    this.sink = sink;
  }

  /** True between packets (nothing partial held). */
  get atBoundary(): boolean {
    return (
      this.remaining === 0 &&
      this.header === 0 &&
      !this.awaitingFirst &&
      this.peekWant === 0 &&
      !this.continues
    );
  }

  /**
   * Bytes at the end of what was fed that belong to a header whose packet's first payload byte has
   * not been seen yet: a relay that may need to intercept a packet holds these back.
   */
  get pendingHeaderBytes(): number {
    return this.awaitingFirst ? 4 : this.header;
  }

  /** Called by the sink during `start`/`head` to stop scanning at the current packet. */
  pause(): void {
    this.paused = true;
  }

  /** Forget any partial state (after the stream was taken over by a framer and handed back). */
  reset(): void {
    this.remaining = 0;
    this.header = 0;
    this.continues = false;
    this.awaitingFirst = false;
    this.peekWant = 0;
    this.peekHave = 0;
    this.paused = false;
  }

  /**
   * Scans buf[from, end). Returns `end`, or, when the sink paused, the offset of the paused
   * packet's header in this chunk (or -1 when that header began in an earlier chunk).
   */
  feed(buf: Buffer, from = 0, end = buf.length): number {
    let pos = from;
    this.paused = false;
    // Until a header starts in this chunk, the current packet began in an earlier one.
    this.packetStart = -1;
    while (pos < end) {
      if (this.peekWant > 0) {
        pos = this.collect(buf, pos, end);
        if (this.paused) return this.packetStart;
        continue;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, end - pos);
        this.remaining -= n;
        pos += n;
        continue;
      }
      if (this.awaitingFirst) {
        this.awaitingFirst = false;
        this.begin(buf, pos, end);
        if (this.paused) return this.packetStart;
        pos = this.afterBegin;
        continue;
      }
      // A header: the common case has all 4 bytes in this chunk.
      let length: number;
      let seq: number;
      if (this.header === 0 && end - pos >= 4) {
        this.packetStart = pos;
        length = buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16);
        seq = buf[pos + 3]!;
        pos += 4;
      } else {
        if (this.header === 0) this.packetStart = pos;
        while (this.header < 4 && pos < end) this.headerBuf[this.header++] = buf[pos++]!;
        if (this.header < 4) return end;
        this.header = 0;
        length = this.headerBuf[0]! | (this.headerBuf[1]! << 8) | (this.headerBuf[2]! << 16);
        seq = this.headerBuf[3]!;
      }
      const continuation = this.continues;
      this.continues = length === MAX_PACKET_CHUNK;
      this.curLength = length;
      this.curSeq = seq;
      if (continuation) {
        this.remaining = length;
        continue;
      }
      if (length === 0) {
        this.sink.start(-1, 0, seq);
        if (this.paused) return this.packetStart;
        continue;
      }
      if (pos >= end) {
        this.awaitingFirst = true;
        return end;
      }
      this.begin(buf, pos, end);
      if (this.paused) return this.packetStart;
      pos = this.afterBegin;
    }
    return end;
  }

  // Where `begin` left the cursor (saves returning a tuple per packet).
  private afterBegin = 0;

  private begin(buf: Buffer, pos: number, end: number): void {
    const length = this.curLength;
    let want = this.sink.start(buf[pos]!, length, this.curSeq);
    if (want > length) want = length;
    const avail = end - pos;
    if (want > 0 && !this.paused) {
      if (avail >= want) {
        this.sink.head(buf, pos, want, length, this.curSeq, true);
      } else {
        if (this.peek === null || this.peek.length < want)
          this.peek = Buffer.allocUnsafe(Math.max(want, 256));
        this.peekWant = want;
        this.peekHave = 0;
        this.remaining = length;
        this.afterBegin = this.collect(buf, pos, end);
        return;
      }
    }
    const n = Math.min(length, avail);
    this.remaining = length - n;
    this.afterBegin = pos + n;
  }

  private collect(buf: Buffer, pos: number, end: number): number {
    const n = Math.min(this.peekWant - this.peekHave, end - pos);
    buf.copy(this.peek!, this.peekHave, pos, pos + n);
    this.peekHave += n;
    this.remaining -= n;
    pos += n;
    if (this.peekHave === this.peekWant) {
      const want = this.peekWant;
      this.peekWant = 0;
      this.sink.head(this.peek!, 0, want, this.curLength, this.curSeq, false);
    }
    return pos;
  }
}
