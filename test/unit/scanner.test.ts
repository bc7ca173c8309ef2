// PacketScanner on its own: which packets a sink is told about and which leading bytes it is shown,
// whatever the chunking; continuation packets never interpreted; held-back header bytes; pausing
// at COM_CHANGE_USER with the header's offset.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Follower } from '../../src/protocol/follow/follower.ts';
import { PacketScanner, type ScanSink } from '../../src/protocol/scanner.ts';
import {
  bytes,
  CLIENT_CAPS,
  comChangeUser,
  comStmtClose,
  MAX_CHUNK,
  packet,
  packets,
  splitEverywhere,
} from './fixtures.ts';
import { identity } from './follow-run.ts';

interface Seen {
  first: number;
  length: number;
  seq: number;
  head?: string;
}

/** A sink that asks for `want(first, length)` leading bytes and records what it is shown. */
class RecordingSink implements ScanSink {
  readonly seen: Seen[] = [];
  private readonly want: (first: number, length: number) => number;

  constructor(want: (first: number, length: number) => number) {
    this.want = want;
  }

  start(first: number, length: number, seq: number): number {
    this.seen.push({ first, length, seq });
    return this.want(first, length);
  }

  head(buf: Buffer, from: number, n: number, length: number, seq: number): void {
    const last = this.seen.at(-1)!;
    assert.equal(last.head, undefined, 'head called twice for one packet');
    assert.equal(last.length, length);
    assert.equal(last.seq, seq);
    // Copied: a view of the scanner's own buffer is only valid during the call.
    last.head = buf.toString('hex', from, from + n);
  }
}

function scan(chunks: readonly Buffer[], want: (first: number, length: number) => number): Seen[] {
  const sink = new RecordingSink(want);
  const scanner = new PacketScanner(sink);
  for (const c of chunks) assert.equal(scanner.feed(c), c.length);
  assert.ok(scanner.atBoundary, 'stream of whole packets ends at a boundary');
  return sink.seen;
}

// Payload sizes around the scanner's edges: empty, 1 byte, and one larger than its 256-byte peek buffer.
const PAYLOADS = [
  bytes([0x03], 'SELECT 1'),
  bytes(),
  bytes([0xfe]),
  bytes([0xff, 1, 2]),
  Buffer.alloc(300, 0x41),
];
const STREAM = packets(0, ...PAYLOADS);

describe('PacketScanner', () => {
  for (const [name, want] of [
    ['asks for nothing', () => 0],
    ['asks for 1 byte', () => 1],
    ['asks for 4 bytes', () => 4],
    ['asks for more than the packet holds', () => 1000],
    ['asks for 280 bytes (larger than the first peek buffer)', () => 280],
  ] as const) {
    test(`sink that ${name}: same packets and head bytes at every split point`, () => {
      const whole = scan([STREAM], want);
      assert.deepEqual(
        whole.map((s) => [s.first, s.length, s.seq]),
        PAYLOADS.map((p, i) => [p.length === 0 ? -1 : p[0]!, p.length, i]),
      );
      for (const s of whole) {
        const asked = Math.min(want(), s.length);
        if (asked === 0) assert.equal(s.head, undefined);
        else assert.equal(s.head, PAYLOADS[s.seq]!.toString('hex', 0, asked));
      }
      for (const chunks of splitEverywhere(STREAM))
        assert.deepEqual(scan(chunks, want), whole, String(chunks.map((c) => c.length)));
      const byteByByte = Array.from({ length: STREAM.length }, (_, k) => STREAM.subarray(k, k + 1));
      assert.deepEqual(scan(byteByByte, want), whole);
    });
  }

  test('pendingHeaderBytes: header bytes whose packet has not shown its first payload byte', () => {
    // Header offsets and payload lengths of STREAM.
    const layout: Array<{ at: number; length: number }> = [];
    let at = 0;
    for (const p of PAYLOADS) {
      layout.push({ at, length: p.length });
      at += 4 + p.length;
    }
    const expected = (k: number): number => {
      for (const { at, length } of layout) {
        if (k > at && k < at + 4) return k - at;
        if (k === at + 4 && length > 0) return 4;
      }
      return 0;
    };
    for (let k = 0; k <= STREAM.length; k++) {
      // Fed whole, and fed in two pieces split anywhere before k.
      for (let j = 0; j <= k; j += Math.max(1, k >> 3)) {
        const scanner = new PacketScanner(new RecordingSink(() => 2));
        scanner.feed(STREAM.subarray(0, j));
        scanner.feed(STREAM.subarray(j, k));
        assert.equal(scanner.pendingHeaderBytes, expected(k), `prefix ${k}, split at ${j}`);
      }
    }
  });

  test('atBoundary only between packets', () => {
    const ends = new Set<number>([0]);
    let at = 0;
    for (const p of PAYLOADS) {
      at += 4 + p.length;
      ends.add(at);
    }
    for (let k = 0; k <= STREAM.length; k++) {
      const scanner = new PacketScanner(new RecordingSink(() => 3));
      scanner.feed(STREAM.subarray(0, k));
      assert.equal(scanner.atBoundary, ends.has(k), `after ${k} bytes`);
    }
  });

  test('feed honours from/end: only buf[from, end) is scanned', () => {
    const padded = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), STREAM, Buffer.from([0xff, 0xff])]);
    const sink = new RecordingSink(() => 4);
    const scanner = new PacketScanner(sink);
    assert.equal(scanner.feed(padded, 3, 3 + STREAM.length), 3 + STREAM.length);
    assert.deepEqual(
      sink.seen,
      scan([STREAM], () => 4),
    );
  });
});

describe('PacketScanner with continuation packets (0xffffff payloads)', () => {
  // A 3-byte packet; a logical packet of 0xffffff + 5 bytes whose continuation starts with 0xff
  // (an ERR if it were interpreted); an exactly-0xffffff packet closed by an empty continuation;
  // then an empty packet (a logical packet of its own) and a 1-byte one.
  const big = Buffer.alloc(MAX_CHUNK + 5, 0x61);
  big[0] = 0x03;
  big[MAX_CHUNK] = 0xff;
  const exact = Buffer.alloc(MAX_CHUNK, 0x62);
  const stream = packets(0, bytes([1, 2, 3]), big, exact, bytes(), bytes([0x0e]));
  // Physical headers: 0, 7, 7 + 4 + 0xffffff, …
  const headers: number[] = [];
  for (let at = 0; at < stream.length; at += 4 + stream.readUIntLE(at, 3)) headers.push(at);
  const expected: Seen[] = [
    { first: 1, length: 3, seq: 0, head: '01' },
    { first: 3, length: MAX_CHUNK, seq: 1, head: '03' },
    { first: 0x62, length: MAX_CHUNK, seq: 3, head: '62' },
    { first: -1, length: 0, seq: 5 },
    { first: 0x0e, length: 1, seq: 6, head: '0e' },
  ];

  test('the sink sees logical packets only, at split points around every physical header', () => {
    assert.equal(headers.length, 7);
    assert.deepEqual(
      scan([stream], () => 1),
      expected,
    );
    const cuts = new Set<number>();
    for (const h of headers)
      for (let d = -2; d <= 6; d++) if (h + d > 0 && h + d < stream.length) cuts.add(h + d);
    for (const k of cuts) {
      assert.deepEqual(
        scan([stream.subarray(0, k), stream.subarray(k)], () => 1),
        expected,
        `cut at ${k}`,
      );
    }
    // The continuation header itself in three pieces.
    const h = headers[2]!;
    const three = [stream.subarray(0, h + 1), stream.subarray(h + 1, h + 3), stream.subarray(h + 3)];
    assert.deepEqual(
      scan(three, () => 1),
      expected,
    );
  });

  test('a continuation header does not count as pending (nothing to intercept)', () => {
    const scanner = new PacketScanner(new RecordingSink(() => 0));
    scanner.feed(stream.subarray(0, headers[2]! + 4));
    assert.equal(scanner.pendingHeaderBytes, 0);
    assert.equal(scanner.atBoundary, false);
  });
});

describe('PacketScanner pauses at COM_CHANGE_USER', () => {
  // COM_STMT_CLOSE has no answer, so a client may write COM_CHANGE_USER right behind it.
  const close = packet(comStmtClose(1), 0);
  const change = packet(
    comChangeUser({
      capabilities: CLIENT_CAPS,
      user: 'app2',
      authResponse: Buffer.alloc(20, 7),
      database: 'moat_test',
      charset: 45,
      authPlugin: 'mysql_native_password',
    }),
    0,
  );
  const stream = Buffer.concat([close, change]);
  const h = close.length; // offset of the COM_CHANGE_USER header

  function setup(): { scanner: PacketScanner; changes: () => number; events: string[] } {
    let changes = 0;
    const events: string[] = [];
    let scanner: PacketScanner | null = null;
    const f = new Follower(identity(), CLIENT_CAPS, {
      maxStatementLength: 1024,
      onEvent: (e) => events.push(e.command),
      onChangeUser: () => {
        changes++;
        scanner!.pause();
      },
      onLost: (why) => assert.fail(why),
    });
    scanner = new PacketScanner(f.client);
    return { scanner, changes: () => changes, events };
  }

  test('in one chunk: feed returns the offset of its header', () => {
    const { scanner, changes, events } = setup();
    assert.equal(scanner.feed(stream), h);
    assert.equal(changes(), 1);
    assert.deepEqual(events, ['Stmt_close']);
  });

  test('at every split point: the offset in the chunk holding its first byte, or -1', () => {
    for (let k = 1; k < stream.length; k++) {
      const { scanner, changes, events } = setup();
      const a = stream.subarray(0, k);
      const b = stream.subarray(k);
      const first = scanner.feed(a);
      if (k > h + 4) {
        // The command byte arrived in the first chunk: paused there.
        assert.equal(first, h, `cut at ${k}`);
      } else {
        assert.equal(first, k, `cut at ${k}`);
        // What the relay holds back: header bytes (of either packet) whose command byte is unseen.
        const pending = k <= 4 ? k : k <= h ? 0 : k - h;
        assert.equal(scanner.pendingHeaderBytes, pending, `cut at ${k}`);
        // A header that began in the earlier chunk (even whole, waiting for its first byte): -1.
        assert.equal(scanner.feed(b), k <= h ? h - k : -1, `cut at ${k}`);
      }
      assert.equal(changes(), 1, `cut at ${k}`);
      assert.deepEqual(events, ['Stmt_close'], `cut at ${k}`);
    }
  });

  test('header split in three chunks: -1', () => {
    const { scanner, changes } = setup();
    assert.equal(scanner.feed(stream.subarray(0, h + 1)), h + 1);
    assert.equal(scanner.feed(stream.subarray(h + 1, h + 3)), 2);
    assert.equal(scanner.pendingHeaderBytes, 3);
    assert.equal(scanner.feed(stream.subarray(h + 3)), -1);
    assert.equal(changes(), 1);
  });

  test('after reset() the scanner follows a fresh stream from a packet boundary', () => {
    const { scanner, events } = setup();
    assert.equal(scanner.feed(stream.subarray(0, h + 6)), h);
    scanner.reset();
    assert.ok(scanner.atBoundary);
    assert.equal(scanner.pendingHeaderBytes, 0);
    assert.equal(scanner.feed(close), close.length);
    assert.deepEqual(events, ['Stmt_close', 'Stmt_close']);
  });
});
