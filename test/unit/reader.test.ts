// PayloadReader bounds (every read stops at the packet end, not the buffer end) and PacketWriter's
// encodings read back by it and by the fixture builder.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { PayloadReader } from '../../src/protocol/reader.ts';
import { PacketWriter, splitPayload } from '../../src/protocol/writer.ts';
import { bytes, hex, lenenc, MAX_CHUNK, packet, strLenenc } from './fixtures.ts';

const isMalformed = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'MOAT_PACKET_MALFORMED';

/** A reader over buf[start, end) of a buffer whose bytes after `end` would satisfy any read. */
function bounded(payload: Buffer): PayloadReader {
  const buf = Buffer.concat([
    Buffer.from([0xaa, 0xbb]),
    payload,
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  ]);
  return new PayloadReader(buf, 2, 2 + payload.length);
}

describe('PayloadReader: every read past the packet end is MOAT_PACKET_MALFORMED', () => {
  const READS: Array<{ name: string; payload: Buffer; read: (r: PayloadReader) => unknown }> = [
    { name: 'u8 on empty', payload: bytes(), read: (r) => r.u8() },
    { name: 'u16 with 1 byte', payload: bytes([1]), read: (r) => r.u16() },
    { name: 'u24 with 2 bytes', payload: bytes([1, 2]), read: (r) => r.u24() },
    { name: 'u32 with 3 bytes', payload: bytes([1, 2, 3]), read: (r) => r.u32() },
    { name: 'skip past the end', payload: bytes([1, 2]), read: (r) => r.skip(3) },
    { name: 'skip a negative count', payload: bytes([1, 2]), read: (r) => r.skip(-1) },
    { name: 'bytes past the end', payload: bytes('abc'), read: (r) => r.bytes(4) },
    { name: 'bytes of a negative count', payload: bytes('abc'), read: (r) => r.bytes(-1) },
    { name: 'lenenc on empty', payload: bytes(), read: (r) => r.lenenc() },
    { name: 'lenenc 0xfc with 1 byte', payload: bytes([0xfc, 1]), read: (r) => r.lenenc() },
    { name: 'lenenc 0xfd with 2 bytes', payload: bytes([0xfd, 1, 2]), read: (r) => r.lenenc() },
    {
      name: 'lenenc 0xfe with 7 bytes',
      payload: bytes([0xfe, 1, 2, 3, 4, 5, 6, 7]),
      read: (r) => r.lenenc(),
    },
    {
      name: 'lenenc prefix 0xfb (NULL) is no integer',
      payload: bytes([0xfb, 0, 0]),
      read: (r) => r.lenenc(),
    },
    { name: 'lenenc prefix 0xff (ERR) is no integer', payload: bytes([0xff, 0, 0]), read: (r) => r.lenenc() },
    {
      name: 'lenenc above 2^53',
      payload: bytes([0xfe], [0, 0, 0, 0, 0, 0, 0x20, 0]),
      read: (r) => r.lenenc(),
    },
    { name: 'lenencBytes longer than the packet', payload: bytes([5], 'abcd'), read: (r) => r.lenencBytes() },
    {
      name: 'lenencBytes with a 0xfc length past the end',
      payload: bytes([0xfc, 0, 1], 'ab'),
      read: (r) => r.lenencBytes(),
    },
    // The classic over-read: the buffer has a NUL after the packet, the packet has none.
    {
      name: 'NUL string without a terminator inside the packet',
      payload: bytes('root'),
      read: (r) => r.nulBytes(),
    },
    { name: 'NUL string at the very end', payload: bytes(), read: (r) => r.nulString() },
  ];
  for (const c of READS) {
    test(c.name, () => {
      assert.throws(() => c.read(bounded(c.payload)), isMalformed);
      assert.throws(() => c.read(new PayloadReader(c.payload)), isMalformed);
    });
  }

  test('reads up to the end exactly are fine, and leave the reader at its end', () => {
    const r = bounded(bytes([1], [2, 0], [3, 0, 0], [4, 0, 0, 0], strLenenc('xy'), 'ab', [0], 'tail'));
    assert.deepEqual(
      [
        r.u8(),
        r.u16(),
        r.u24(),
        r.u32(),
        r.lenencBytes().toString(),
        r.nulString(),
        r.restBytes().toString(),
      ],
      [1, 2, 3, 4, 'xy', 'ab', 'tail'],
    );
    assert.ok(r.atEnd());
    assert.equal(r.remaining, 0);
    assert.equal(r.restBytes().length, 0);
  });

  test('a NUL string or EOF string stops at the packet end, not at a NUL beyond it', () => {
    const r = bounded(bytes('caching_sha2_password'));
    assert.equal(r.nulOrEofBytes().toString(), 'caching_sha2_password');
    assert.ok(r.atEnd());
    const t = bounded(bytes('abc', [0], 'def'));
    assert.equal(t.nulOrEofBytes().toString(), 'abc');
    assert.equal(t.nulOrEofBytes().toString(), 'def');
    assert.ok(t.atEnd());
  });

  test('lenenc values at each width boundary', () => {
    for (const v of [0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, 2 ** 32, 2 ** 53 - 1]) {
      const r = bounded(lenenc(v));
      assert.equal(r.lenenc(), v);
      assert.ok(r.atEnd());
    }
  });
});

describe('PacketWriter', () => {
  test('lenenc widths match the builder (and so the spec)', () => {
    for (const v of [0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, 2 ** 32, 2 ** 53 - 1]) {
      const w = new PacketWriter().lenenc(v);
      assert.deepEqual(w.packet(0).subarray(4), lenenc(v), String(v));
    }
  });

  test('header carries the payload length and seq; the buffer grows past its capacity', () => {
    const w = new PacketWriter(1)
      .u8(3)
      .bytes('x'.repeat(100))
      .nul('a')
      .lenencBytes('bc')
      .u16(0x102)
      .u24(0x30201)
      .u32(0xffffffff)
      .zeros(2);
    const p = w.packet(7);
    assert.equal(w.payloadLength, 1 + 100 + 2 + 3 + 2 + 3 + 4 + 2);
    assert.deepEqual(p.subarray(0, 4), bytes([w.payloadLength, 0, 0, 7]));
    assert.deepEqual(p.subarray(105), hex('61 00 02 62 63 02 01 01 02 03 ff ff ff ff 00 00'));
    assert.deepEqual(new PacketWriter().u8(1).packet(256), packet([1], 0), 'seq wraps at 256');
  });

  test('payloads of 0xffffff bytes and more are split into continuation packets', () => {
    for (const n of [MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1]) {
      const payload = Buffer.alloc(n, 0x33);
      const fromWriter = new PacketWriter(n + 8).bytes(payload).packet(250);
      assert.ok(fromWriter.equals(packet(payload, 250)), `payload of ${n} bytes`);
      assert.ok(splitPayload(payload, 250).equals(fromWriter));
    }
  });
});
