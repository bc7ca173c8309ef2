// A cursor over one packet's payload. Every read is bounded by the packet end (`end`), never by
// the underlying buffer's length: a length field that points past the packet is a malformed
// packet, not a read of the neighbour's bytes.
import { malformed } from './errors.ts';

export class PayloadReader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) throw malformed(`${what} runs past the end of the packet`);
  }

  u8(what = 'int<1>'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'int<2>'): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(what = 'int<3>'): number {
    this.need(3, what);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(what = 'int<4>'): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  skip(n: number, what = 'filler'): void {
    this.need(n, what);
    this.pos += n;
  }

  /** Length-encoded integer (lenencAt). */
  lenenc(what = 'int<lenenc>'): number {
    const v = lenencAt(this.buf, this.pos, this.end, what);
    this.pos += lenencSize(this.buf[this.pos]!);
    return v;
  }

  bytes(n: number, what = 'string<fix>'): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  lenencBytes(what = 'string<lenenc>'): Buffer {
    return this.bytes(this.lenenc(what), what);
  }

  /** NUL-terminated string; the terminator must lie inside the packet. */
  nulBytes(what = 'string<NUL>'): Buffer {
    const at = this.buf.indexOf(0, this.pos);
    if (at < 0 || at >= this.end) throw malformed(`${what} has no terminator inside the packet`);
    const v = this.buf.subarray(this.pos, at);
    this.pos = at + 1;
    return v;
  }

  /** NUL-terminated, or running to the end of the packet (MySQL omits some final terminators). */
  nulOrEofBytes(): Buffer {
    const at = this.buf.indexOf(0, this.pos);
    const stop = at < 0 || at >= this.end ? this.end : at;
    const v = this.buf.subarray(this.pos, stop);
    this.pos = stop < this.end ? stop + 1 : stop;
    return v;
  }

  nulString(what?: string): string {
    return this.nulBytes(what).toString('utf8');
  }

  restBytes(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }
}

/**
 * Length-encoded integer at buf[pos], bounded by `end`: < 0xfb is the value; 0xfc/0xfd/0xfe prefix
 * 2/3/8 bytes. A function over positions rather than a reader method so the follower can read one
 * inside a relayed chunk without an object per packet. Values above 2^53 cannot be exact in a JS
 * number; nothing moat reads can be that large, so they are refused.
 */
export function lenencAt(buf: Buffer, pos: number, end: number, what = 'int<lenenc>'): number {
  if (pos >= end) throw malformed(`${what} runs past the end of the packet`);
  const first = buf[pos]!;
  if (first < 0xfb) return first;
  if (first === 0xfb || first === 0xff) throw malformed(`${what} has invalid prefix 0x${first.toString(16)}`);
  if (pos + lenencSize(first) > end) throw malformed(`${what} runs past the end of the packet`);
  if (first === 0xfc) return buf.readUInt16LE(pos + 1);
  if (first === 0xfd) return buf.readUIntLE(pos + 1, 3);
  const hi = buf.readUInt32LE(pos + 5);
  if (hi > 0x1fffff) throw malformed(`${what} is larger than 2^53`);
  return hi * 0x100000000 + buf.readUInt32LE(pos + 1);
}

/** Bytes taken by the int<lenenc> whose first byte is `first` (1 for the invalid 0xfb and 0xff). */
export function lenencSize(first: number): number {
  if (first === 0xfc) return 3;
  if (first === 0xfd) return 4;
  if (first === 0xfe) return 9;
  return 1;
}
