// PacketFramer: whole logical packets out of any chunking, continuation packets joined, the size
// cap enforced from the header alone, and stopping early for a caller that takes the stream over.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { type Packet, PacketFramer } from '../../src/protocol/framer.ts';
import { bytes, hex, int3, MAX_CHUNK, packet, packets, splitEverywhere } from './fixtures.ts';

interface Out {
  payload: string;
  firstSeq: number;
  seq: number;
}

const plain = (p: Packet): Out => ({ payload: p.payload.toString('hex'), firstSeq: p.firstSeq, seq: p.seq });

function frame(chunks: readonly Buffer[], max = 1 << 20): Out[] {
  const framer = new PacketFramer(max);
  const out: Out[] = [];
  for (const c of chunks)
    assert.equal(
      framer.push(c, (p) => void out.push(plain(p))),
      c.length,
    );
  assert.ok(framer.idle, 'idle after whole packets');
  return out;
}

const isTooLarge = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'MOAT_PACKET_TOO_LARGE';

describe('PacketFramer', () => {
  const PAYLOADS = [bytes('greeting'), bytes(), bytes([0xff]), Buffer.alloc(300, 7), bytes([1, 2, 3])];
  const STREAM = packets(3, ...PAYLOADS);
  const EXPECTED = PAYLOADS.map((p, i) => ({ payload: p.toString('hex'), firstSeq: 3 + i, seq: 3 + i }));

  test('a stream of several packets, at every split point, gives the same packets', () => {
    assert.deepEqual(frame([STREAM]), EXPECTED);
    for (const chunks of splitEverywhere(STREAM, 200)) {
      assert.deepEqual(frame(chunks), EXPECTED, String(chunks.map((c) => c.length)));
    }
    assert.deepEqual(
      frame(Array.from({ length: STREAM.length }, (_, k) => STREAM.subarray(k, k + 1))),
      EXPECTED,
    );
  });

  test('a packet inside one chunk is a view of it; one across chunks is copied', () => {
    const framer = new PacketFramer(1024);
    const got: Packet[] = [];
    const chunk = Buffer.from(packet('abc', 0));
    framer.push(chunk, (p) => void got.push(p));
    assert.ok(got[0]!.payload.buffer === chunk.buffer && got[0]!.payload.byteOffset === chunk.byteOffset + 4);
    framer.push(chunk.subarray(0, 5), (p) => void got.push(p));
    framer.push(chunk.subarray(5), (p) => void got.push(p));
    chunk.fill(0);
    assert.equal(got[1]!.payload.toString(), 'abc');
  });

  describe('continuation (payload of exactly 0xffffff bytes)', () => {
    // A logical packet of 0xffffff + 10 bytes: physical packets with seq 3 (0xffffff bytes) and 4 (10).
    const logical = Buffer.alloc(MAX_CHUNK + 10);
    for (let i = 0; i < logical.length; i += 4096) logical[i] = i & 0xff;
    logical.write('tail', MAX_CHUNK + 6);
    const stream = Buffer.concat([packet(logical, 3), packet('next', 5)]);
    const second = 4 + MAX_CHUNK; // offset of the continuation's header

    const check = (got: Packet[]): void => {
      assert.equal(got.length, 2);
      assert.equal(got[0]!.payload.length, MAX_CHUNK + 10);
      assert.ok(got[0]!.payload.equals(logical));
      assert.equal(got[0]!.firstSeq, 3);
      assert.equal(got[0]!.seq, 4);
      assert.deepEqual(plain(got[1]!), { payload: Buffer.from('next').toString('hex'), firstSeq: 5, seq: 5 });
    };

    test('0xffffff + 10 bytes come out joined, with firstSeq and seq of the first and last packets', () => {
      const cuts = [
        0,
        2,
        4,
        5,
        1000,
        second - 1,
        second,
        second + 1,
        second + 3,
        second + 4,
        second + 5,
        second + 14,
      ];
      for (const k of cuts) {
        const framer = new PacketFramer(MAX_CHUNK + 10);
        const got: Packet[] = [];
        for (const c of k === 0 ? [stream] : [stream.subarray(0, k), stream.subarray(k)]) {
          framer.push(c, (p) => void got.push(p));
        }
        check(got);
      }
    });

    test('an exactly-0xffffff payload ends with an empty packet', () => {
      const exact = Buffer.alloc(MAX_CHUNK, 0x5a);
      const s = Buffer.concat([packet(exact, 1)]);
      assert.equal(s.length, 4 + MAX_CHUNK + 4);
      assert.deepEqual(hex(s.subarray(4 + MAX_CHUNK).toString('hex')), bytes(int3(0), [2]));
      const framer = new PacketFramer(MAX_CHUNK);
      const got: Packet[] = [];
      framer.push(s.subarray(0, 4 + MAX_CHUNK), (p) => void got.push(p));
      assert.equal(got.length, 0, 'nothing before the empty continuation');
      assert.equal(framer.idle, false);
      framer.push(s.subarray(4 + MAX_CHUNK), (p) => void got.push(p));
      assert.equal(got.length, 1);
      assert.ok(got[0]!.payload.equals(exact));
      assert.equal(got[0]!.firstSeq, 1);
      assert.equal(got[0]!.seq, 2);
      assert.ok(framer.idle);
    });

    test('the cap counts the joined length: refused at the continuation header', () => {
      const framer = new PacketFramer(MAX_CHUNK + 9);
      assert.throws(() => framer.push(stream, () => {}), isTooLarge);
    });
  });

  describe('maxPacketSize is enforced from the header, before any allocation', () => {
    const CASES: Array<{ name: string; max: number; chunks: Buffer[] }> = [
      { name: 'header alone declaring max + 1', max: 100, chunks: [bytes(int3(101), [0])] },
      {
        name: 'header alone declaring 16 MiB with max 1 MiB',
        max: 1 << 20,
        chunks: [bytes(int3(MAX_CHUNK), [0])],
      },
      { name: 'header split 1 + 3', max: 100, chunks: [bytes([101]), bytes([0, 0, 0])] },
      { name: 'header split 3 + 1', max: 100, chunks: [bytes([101, 0, 0]), bytes([0])] },
      {
        name: 'after a good packet in the same chunk',
        max: 100,
        chunks: [bytes(packet('ok', 0), int3(101), [1])],
      },
    ];
    for (const c of CASES) {
      test(c.name, () => {
        const framer = new PacketFramer(c.max);
        const realAlloc = Buffer.allocUnsafe;
        let largest = 0;
        Buffer.allocUnsafe = (size: number) => {
          largest = Math.max(largest, size);
          return realAlloc(size);
        };
        try {
          const last = c.chunks.at(-1)!;
          for (const chunk of c.chunks.slice(0, -1)) framer.push(chunk, () => {});
          assert.throws(() => framer.push(last, () => {}), isTooLarge);
        } finally {
          Buffer.allocUnsafe = realAlloc;
        }
        assert.ok(largest <= c.max, `allocated ${largest} bytes`);
      });
    }

    test('a payload of exactly maxPacketSize is accepted', () => {
      assert.deepEqual(frame([packet(Buffer.alloc(100, 1), 0)], 100).length, 1);
      assert.equal(
        frame(
          [packet(Buffer.alloc(100, 1), 0).subarray(0, 50), packet(Buffer.alloc(100, 1), 0).subarray(50)],
          100,
        ).length,
        1,
      );
    });
  });

  describe('push returns early when onPacket returns false', () => {
    // An SSLRequest (32 bytes), then TLS bytes that are no MySQL packet at all.
    const ssl = packet(Buffer.alloc(32, 1), 1);
    const tls = hex('16 03 01 02 00 01 00 01 fc 03 03');
    const stream = Buffer.concat([ssl, tls]);

    test('at every split point: the offset right after the packet, nothing framed after it', () => {
      for (let k = 1; k < stream.length; k++) {
        const framer = new PacketFramer(1024);
        let seen = 0;
        const stop = (): boolean => {
          seen++;
          return false;
        };
        const r1 = framer.push(stream.subarray(0, k), stop);
        if (k >= ssl.length) {
          assert.equal(r1, ssl.length, `cut at ${k}`);
        } else {
          assert.equal(r1, k, `cut at ${k}`);
          assert.equal(framer.push(stream.subarray(k), stop), ssl.length - k, `cut at ${k}`);
        }
        assert.equal(seen, 1);
        assert.ok(framer.idle);
      }
    });

    test('other return values keep framing', () => {
      const framer = new PacketFramer(1024);
      const got: number[] = [];
      const two = packets(0, 'a', 'b', 'c');
      assert.equal(
        framer.push(two, (p) => {
          got.push(p.seq);
          return p.seq === 1 ? false : undefined;
        }),
        10,
      );
      assert.deepEqual(got, [0, 1]);
      assert.equal(
        framer.push(two.subarray(10), (p) => void got.push(p.seq)),
        5,
      );
      assert.deepEqual(got, [0, 1, 2]);
    });
  });

  test('an empty chunk changes nothing', () => {
    const framer = new PacketFramer(64);
    assert.equal(
      framer.push(Buffer.alloc(0), () => assert.fail()),
      0,
    );
    framer.push(bytes([3, 0]), () => assert.fail());
    assert.equal(
      framer.push(Buffer.alloc(0), () => assert.fail()),
      0,
    );
    const got: Out[] = [];
    framer.push(bytes([0, 9], 'abc'), (p) => void got.push(plain(p)));
    assert.deepEqual(got, [{ payload: Buffer.from('abc').toString('hex'), firstSeq: 9, seq: 9 }]);
  });
});
