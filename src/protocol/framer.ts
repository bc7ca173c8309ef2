// Incremental framing of whole packets, for the phases where moat must read packets completely
// (greeting, handshake, authentication). The command phase uses the lighter `scanner.ts`.
//
//   packet := int<3> payload_length, int<1> sequence_id, payload
//
// A payload of exactly 0xffffff bytes continues in the next packet (next sequence id); the
// logical packet ends with the first shorter one (possibly empty). A packet that lies whole
// inside one chunk is handed out as a view of that chunk; only a packet that straddles chunks is
// copied, into a buffer sized by its declared length, which is checked against `maxPacketSize`
// before anything is allocated.
import { MAX_PACKET_CHUNK } from './constants.ts';
import { ProtocolError } from './errors.ts';

export interface Packet {
  /** The logical payload (continuations joined). */
  payload: Buffer;
  /** Sequence id of the first physical packet. */
  firstSeq: number;
  /** Sequence id of the last physical packet: the next one in this exchange is seq + 1. */
  seq: number;
}

export class PacketFramer {
  readonly maxPacketSize: number;
  private header = Buffer.alloc(4);
  private headerLen = 0;
  /** Payload of the physical packet being filled across chunks. */
  private partial: Buffer | null = null;
  private partialLen = 0;
  private partialSeq = 0;
  /** Earlier physical packets of a logical packet that continues. */
  private continued: Buffer[] = [];
  private continuedSize = 0;
  private continuedFirstSeq = 0;

  constructor(maxPacketSize: number) {
    this.maxPacketSize = maxPacketSize;
  }

  /** Sequence id of the physical packet whose header was read last; -1 before any. */
  private lastSeq = -1;
  /** True while a packet's header has been read but not its whole payload (or it was refused). */
  private inPacket = false;

  /**
   * The sequence id of a packet that began but did not complete (cut short, too slow, or refused
   * for its size), or null between packets: an ERR sent now must follow it (seq + 1).
   */
  get pendingSeq(): number | null {
    return this.inPacket ? this.lastSeq : null;
  }

  /** True while only part of a packet header (before its sequence id) has arrived. */
  get inHeader(): boolean {
    return this.headerLen > 0;
  }

  /** True when no partial packet is buffered. */
  get idle(): boolean {
    return this.headerLen === 0 && this.partial === null && this.continued.length === 0;
  }

  /**
   * Feeds one chunk; calls `onPacket` for each completed logical packet. If `onPacket` returns
   * false, framing stops right after that packet and the offset of the first unread byte is
   * returned (the caller keeps the rest: a TLS ClientHello after an SSLRequest, or the first bytes
   * of the command phase). Otherwise returns chunk.length. Throws ProtocolError.
   */
  push(chunk: Buffer, onPacket: (p: Packet) => unknown): number {
    let pos = 0;
    const end = chunk.length;
    this.stopped = false;
    while (pos < end && !this.stopped) {
      if (this.partial !== null) {
        const n = Math.min(this.partial.length - this.partialLen, end - pos);
        chunk.copy(this.partial, this.partialLen, pos, pos + n);
        this.partialLen += n;
        pos += n;
        if (this.partialLen === this.partial.length) {
          const payload = this.partial;
          this.partial = null;
          this.physical(payload, this.partialSeq, onPacket);
        }
        continue;
      }
      if (this.headerLen > 0 || end - pos < 4) {
        const n = Math.min(4 - this.headerLen, end - pos);
        chunk.copy(this.header, this.headerLen, pos, pos + n);
        this.headerLen += n;
        pos += n;
        if (this.headerLen < 4) return end;
        this.headerLen = 0;
        this.begin(this.header.readUIntLE(0, 3), this.header[3]!, chunk, pos, onPacket);
        pos = this.consumed;
        continue;
      }
      this.begin(chunk.readUIntLE(pos, 3), chunk[pos + 3]!, chunk, pos + 4, onPacket);
      pos = this.consumed;
    }
    return pos;
  }

  private stopped = false;

  // Position after `begin` consumed what it could of the chunk (avoids a tuple per packet).
  private consumed = 0;

  private begin(
    length: number,
    seq: number,
    chunk: Buffer,
    pos: number,
    onPacket: (p: Packet) => unknown,
  ): void {
    this.lastSeq = seq;
    this.inPacket = true;
    if (this.continuedSize + length > this.maxPacketSize) {
      throw new ProtocolError(
        'MOAT_PACKET_TOO_LARGE',
        `packet of ${this.continuedSize + length} bytes exceeds the maximum of ${this.maxPacketSize}`,
      );
    }
    if (chunk.length - pos >= length) {
      this.consumed = pos + length;
      this.physical(chunk.subarray(pos, pos + length), seq, onPacket);
      return;
    }
    this.partial = Buffer.allocUnsafe(length);
    this.partialSeq = seq;
    const n = chunk.length - pos;
    chunk.copy(this.partial, 0, pos, pos + n);
    this.partialLen = n;
    this.consumed = chunk.length;
  }

  private physical(payload: Buffer, seq: number, onPacket: (p: Packet) => unknown): void {
    if (payload.length === MAX_PACKET_CHUNK) {
      if (this.continued.length === 0) this.continuedFirstSeq = seq;
      this.continued.push(payload);
      this.continuedSize += payload.length;
      return;
    }
    this.inPacket = false;
    if (this.continued.length === 0) {
      if (onPacket({ payload, firstSeq: seq, seq }) === false) this.stopped = true;
      return;
    }
    this.continued.push(payload);
    const whole = Buffer.concat(this.continued, this.continuedSize + payload.length);
    const firstSeq = this.continuedFirstSeq;
    this.continued = [];
    this.continuedSize = 0;
    if (onPacket({ payload: whole, firstSeq, seq }) === false) this.stopped = true;
  }
}
