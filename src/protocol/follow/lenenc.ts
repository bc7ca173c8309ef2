// Length-encoded integers read in place, for the few response packets the follower parses. No
// reader object per packet: the value is returned and the position after it left in `lenencEnd`.
// Returns -1 when the integer does not fit in [pos, end) (a malformed or truncated packet).

export let lenencEnd = 0;

export function lenencAt(buf: Buffer, pos: number, end: number): number {
  if (pos >= end) return -1;
  const first = buf[pos]!;
  if (first < 0xfb) {
    lenencEnd = pos + 1;
    return first;
  }
  if (first === 0xfc && pos + 3 <= end) {
    lenencEnd = pos + 3;
    return buf.readUInt16LE(pos + 1);
  }
  if (first === 0xfd && pos + 4 <= end) {
    lenencEnd = pos + 4;
    return buf.readUIntLE(pos + 1, 3);
  }
  if (first === 0xfe && pos + 9 <= end) {
    lenencEnd = pos + 9;
    return buf.readUInt32LE(pos + 1) + buf.readUInt32LE(pos + 5) * 0x100000000;
  }
  return -1;
}
