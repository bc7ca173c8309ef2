// Builds packets: payload first into a growable buffer, then the 4-byte header
// (int<3> payload length, int<1> sequence id) in front. Payloads over 0xffffff bytes are split
// into continuation packets as the protocol requires.
import { MAX_PACKET_CHUNK } from './constants.ts';

export class PacketWriter {
  private buf: Buffer;
  private len = 4; // room for the first header

  constructor(capacity = 128) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 16));
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v & 0xffff, this.len);
    this.len += 2;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf.writeUIntLE(v & 0xffffff, this.len, 3);
    this.len += 3;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24(v);
    this.u8(0xfe);
    this.u32(v % 0x100000000);
    return this.u32(Math.floor(v / 0x100000000));
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  bytes(b: Uint8Array | string): this {
    const src = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    this.ensure(src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
    return this;
  }

  nul(b: Uint8Array | string): this {
    return this.bytes(b).u8(0);
  }

  lenencBytes(b: Uint8Array | string): this {
    const src = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    return this.lenenc(src.length).bytes(src);
  }

  get payloadLength(): number {
    return this.len - 4;
  }

  /** The finished packet(s), headers included, starting at `seq`. */
  packet(seq: number): Buffer {
    const payload = this.len - 4;
    if (payload < MAX_PACKET_CHUNK) {
      this.buf.writeUIntLE(payload, 0, 3);
      this.buf[3] = seq & 0xff;
      return this.buf.subarray(0, this.len);
    }
    return splitPayload(this.buf.subarray(4, this.len), seq);
  }
}

/** Frames an arbitrary payload, adding continuation packets (and the empty final one) as needed. */
export function splitPayload(payload: Buffer, seq: number): Buffer {
  const parts = Math.floor(payload.length / MAX_PACKET_CHUNK) + 1;
  const out = Buffer.allocUnsafe(payload.length + parts * 4);
  let o = 0;
  let p = 0;
  for (let i = 0; i < parts; i++) {
    const n = Math.min(MAX_PACKET_CHUNK, payload.length - p);
    out.writeUIntLE(n, o, 3);
    out[o + 3] = (seq + i) & 0xff;
    payload.copy(out, o + 4, p, p + n);
    o += 4 + n;
    p += n;
  }
  return out;
}
