// Property-based fuzzing (fast-check) of everything that reads bytes a peer sent: the framer, the
// scanner and the follower on random and mutated streams cut into random chunks, and every packet
// decoder on random bytes and on mutations (bit flips, overwrites, insertions, deletions,
// truncations) of valid encodings. The other unit tests pin what well-formed input means; these
// prove what hostile input cannot do: crash with anything but a ProtocolError, read outside the
// packet, buffer more than the configured maximum, or make the audit invent events.
//
// A failing property prints its counterexample and the seed to replay it with.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { Follower } from '../../src/protocol/follow/follower.ts';
import { type Packet, PacketFramer } from '../../src/protocol/framer.ts';
import { nonceOf, readAuthSwitchRequest, writeAuthSwitchRequest } from '../../src/protocol/packets/auth.ts';
import { readChangeUser, writeChangeUser } from '../../src/protocol/packets/change-user.ts';
import { readHandshake, writeHandshake } from '../../src/protocol/packets/handshake.ts';
import {
  isSslRequest,
  readHandshakeResponse,
  readSslRequest,
  writeHandshakeResponse,
} from '../../src/protocol/packets/handshake-response.ts';
import { eofStatus, readErr, readOk, writeErr, writeOk } from '../../src/protocol/packets/result.ts';
import { parseProxyHeader } from '../../src/protocol/proxy-header.ts';
import { PayloadReader } from '../../src/protocol/reader.ts';
import { PacketScanner, type ScanSink } from '../../src/protocol/scanner.ts';
import { proxyV1, proxyV2, proxyV2Local } from '../harness/wire.ts';
import {
  authSwitchRequest,
  bytes,
  Cap,
  CLIENT_CAPS,
  Com,
  columnDef,
  comChangeUser,
  comFieldList,
  comInitDb,
  command,
  comQuery,
  comStmtClose,
  comStmtExecute,
  comStmtFetch,
  comStmtPrepare,
  comStmtReset,
  comStmtSendLongData,
  eof,
  err,
  handshakeResponse41,
  handshakeV10,
  LAST_PREPARED,
  localInfileRequest,
  MAX_CHUNK,
  mariadbGreeting,
  mysql8Greeting,
  ok,
  packet,
  packets,
  prepareResponse,
  resultSet,
  Status,
  sslRequest,
  textRow,
} from './fixtures.ts';
import { client, follow, identity, type Leg, server } from './follow-run.ts';

// ---- Shared generators and helpers ----------------------------------------------------------------

/** Byte values with a meaning somewhere in the protocol, drawn more often than chance would. */
const SPECIAL = [0x00, 0x01, 0x0a, 0x0d, 0x11, 0x20, 0x23, 0x7f, 0x80, 0xfb, 0xfc, 0xfd, 0xfe, 0xff];
const byteArb = fc.oneof(fc.constantFrom(...SPECIAL), fc.integer({ min: 0, max: 255 }));
const bufArb = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.uint8Array({ maxLength }).map((a) => Buffer.from(a)),
    fc.array(byteArb, { maxLength }).map((a) => Buffer.from(a)),
  );

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: byteArb }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** `base` with the mutations applied in order (positions taken modulo the current length). */
function mutate(base: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(base);
  for (const m of mutations) {
    const n = b.length;
    switch (m.kind) {
      case 'flip':
        if (n > 0) b[m.at % n]! ^= 1 << m.bit;
        break;
      case 'set':
        if (n > 0) b[m.at % n] = m.value;
        break;
      case 'insert': {
        const at = m.at % (n + 1);
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      }
      case 'delete': {
        const at = m.at % (n + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, m.at % (n + 1));
        break;
    }
  }
  return b;
}

/** Cut points (any naturals, taken modulo length + 1): `stream` in chunks, empty chunks included. */
const cutsArb = fc.oneof(
  fc.array(fc.nat(), { maxLength: 8 }).map((points) => ({ points, every: 0 })),
  fc.integer({ min: 1, max: 7 }).map((every) => ({ points: [] as number[], every })),
);
type Cuts = { points: number[]; every: number };

function cut(stream: Buffer, c: Cuts): Buffer[] {
  if (c.every > 0) {
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += c.every) out.push(stream.subarray(i, i + c.every));
    return out;
  }
  const at = c.points.map((p) => p % (stream.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    out.push(stream.subarray(from, p));
    from = p;
  }
  out.push(stream.subarray(from));
  return out;
}

/** Runs `fn`, failing unless it returns or throws a ProtocolError; returns the value or the error. */
function returnsOrRefuses<T>(fn: () => T): T | ProtocolError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    assert.fail(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a ProtocolError`);
  }
}

/**
 * A copy of `payload` as a view into an ArrayBuffer of its own, between canary bytes that would
 * satisfy any read (NULs, 0xff): a decoder that reads outside the view is caught by `inside`.
 */
function isolate(payload: Uint8Array): Buffer {
  const ab = new ArrayBuffer(payload.length + 32);
  const all = Buffer.from(ab);
  all.fill(0x00, 0, 8);
  all.fill(0xff, 8, 16);
  all.fill(0x00, 16 + payload.length, 24 + payload.length);
  all.fill(0xff, 24 + payload.length);
  const view = Buffer.from(ab, 16, payload.length);
  view.set(payload);
  return view;
}

/** Every Buffer reachable from a decoded value (objects, arrays). */
function buffersIn(v: unknown, out: Buffer[] = []): Buffer[] {
  if (Buffer.isBuffer(v)) out.push(v);
  else if (Array.isArray(v)) for (const x of v) buffersIn(x, out);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) buffersIn(x, out);
  return out;
}

/** A decoded value only points into its packet: any Buffer sharing the packet's memory lies inside it. */
function assertInside(decoded: unknown, view: Buffer): void {
  for (const b of buffersIn(decoded)) {
    if (b.buffer !== view.buffer) continue; // a copy (e.g. the joined nonce)
    assert.ok(
      b.byteOffset >= view.byteOffset && b.byteOffset + b.length <= view.byteOffset + view.length,
      `a decoded buffer [${b.byteOffset}, ${b.byteOffset + b.length}) lies outside the packet ` +
        `[${view.byteOffset}, ${view.byteOffset + view.length})`,
    );
  }
}

/**
 * Runs `fn` while recording the largest Buffer.allocUnsafe request: the framer and the scanner size
 * their buffers through it (only their fixed 4-byte header buffers come from Buffer.alloc).
 */
function largestAllocation<T>(fn: () => T): { value: T; largest: number } {
  const real = Buffer.allocUnsafe;
  let largest = 0;
  Buffer.allocUnsafe = (size: number) => {
    largest = Math.max(largest, size);
    return real(size);
  };
  try {
    return { value: fn(), largest };
  } finally {
    Buffer.allocUnsafe = real;
  }
}

// ---- PacketFramer ---------------------------------------------------------------------------------

/** A small cap, so that payloads at and around it are cheap. */
const SMALL_MAX = 1024;

interface Framed {
  payload: string;
  firstSeq: number;
  seq: number;
}

const plain = (p: Packet): Framed => ({
  payload: p.payload.toString('hex'),
  firstSeq: p.firstSeq,
  seq: p.seq,
});

/** Payloads of every interesting size under SMALL_MAX: empty, short, and at or just under the cap. */
const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 6, arbitrary: bufArb(40) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: SMALL_MAX - 3, max: SMALL_MAX }), byteArb)
      .map(([n, fill]) => Buffer.alloc(n, fill)),
  },
);

/**
 * What a framer must make of `stream` (a reference model, valid for max < 0xffffff, where a
 * continuation header is always too large): the packets before the first refused header, the
 * offset of that header's last byte (where the refusal must happen), and the state at the end.
 */
function frameModel(stream: Buffer, max: number) {
  assert.ok(max < MAX_CHUNK);
  const out: Framed[] = [];
  let p = 0;
  while (p + 4 <= stream.length) {
    const len = stream.readUIntLE(p, 3);
    const seq = stream[p + 3]!;
    if (len > max) return { packets: out, refusedAt: p + 3, refusedSeq: seq, inHeader: false, pending: seq };
    if (p + 4 + len > stream.length) {
      return { packets: out, refusedAt: -1, refusedSeq: -1, inHeader: false, pending: seq };
    }
    out.push({ payload: stream.toString('hex', p + 4, p + 4 + len), firstSeq: seq, seq });
    p += 4 + len;
  }
  return { packets: out, refusedAt: -1, refusedSeq: -1, inHeader: p < stream.length, pending: null };
}

/** Streams that are partly well framed: valid packets, headers declaring lengths around the cap, junk. */
function streamArb(max: number): fc.Arbitrary<Buffer> {
  const nearCap = fc
    .tuple(
      fc.integer({ min: Math.max(0, max - 2), max: max + 2 }),
      fc.integer({ min: 0, max: 255 }),
      bufArb(16),
    )
    .map(([n, seq, tail]) => {
      const h = Buffer.alloc(4);
      h.writeUIntLE(n, 0, 3);
      h[3] = seq;
      return Buffer.concat([h, tail]);
    });
  const segment = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(payloadArb, fc.nat(255)).map(([p, seq]) => packet(p, seq)) },
    { weight: 1, arbitrary: nearCap },
    { weight: 2, arbitrary: bufArb(12) },
  );
  return fc.oneof(
    fc.array(segment, { maxLength: 6 }).map((s) => Buffer.concat(s)),
    bufArb(64),
  );
}

describe('PacketFramer, fuzzed', () => {
  test('any valid packets, cut anywhere, come out as they went in (payload and seq)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(payloadArb, fc.nat(255)), { maxLength: 8 }),
        cutsArb,
        fc.constantFrom(SMALL_MAX, 1 << 20),
        (sent, cuts, max) => {
          const stream = Buffer.concat(sent.map(([p, seq]) => packet(p, seq)));
          const framer = new PacketFramer(max);
          const got: Framed[] = [];
          for (const c of cut(stream, cuts)) {
            assert.equal(
              framer.push(c, (p) => void got.push(plain(p))),
              c.length,
            );
          }
          assert.deepEqual(
            got,
            sent.map(([p, seq]) => ({ payload: p.toString('hex'), firstSeq: seq, seq })),
          );
          assert.ok(framer.idle);
          assert.equal(framer.pendingSeq, null);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('stopping after any packet and pushing the rest again loses and repeats nothing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(payloadArb, fc.nat(255)), { maxLength: 8 }),
        cutsArb,
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        (sent, cuts, stops) => {
          const stream = Buffer.concat(sent.map(([p, seq]) => packet(p, seq)));
          const framer = new PacketFramer(SMALL_MAX);
          const got: Framed[] = [];
          const onPacket = (p: Packet): boolean => {
            got.push(plain(p));
            return !stops[got.length - 1];
          };
          for (const c of cut(stream, cuts)) {
            let rest = c;
            for (;;) {
              const used = framer.push(rest, onPacket);
              assert.ok(used >= 0 && used <= rest.length);
              if (used === rest.length) break;
              assert.equal(stops[got.length - 1], true, 'returned early only where onPacket said stop');
              rest = rest.subarray(used);
            }
          }
          assert.deepEqual(
            got,
            sent.map(([p, seq]) => ({ payload: p.toString('hex'), firstSeq: seq, seq })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  for (const max of [0, 16, SMALL_MAX]) {
    test(`random streams with maxPacketSize ${max}: packets or MOAT_PACKET_TOO_LARGE at the header, nothing buffered past the cap`, () => {
      fc.assert(
        fc.property(streamArb(max), cutsArb, (stream, cuts) => {
          const model = frameModel(stream, max);
          const framer = new PacketFramer(max);
          const got: Framed[] = [];
          let offset = 0;
          let refused = -1;
          const { largest } = largestAllocation(() => {
            for (const c of cut(stream, cuts)) {
              try {
                assert.equal(
                  framer.push(c, (p) => {
                    assert.ok(p.payload.length <= max);
                    got.push(plain(p));
                  }),
                  c.length,
                );
              } catch (e) {
                assert.ok(e instanceof ProtocolError, `threw ${String(e)}`);
                assert.equal(e.code, 'MOAT_PACKET_TOO_LARGE');
                // Refused in the very chunk that completed the header: none of the declared
                // payload was waited for.
                assert.ok(
                  model.refusedAt >= offset && model.refusedAt < offset + c.length,
                  `refused in chunk [${offset}, ${offset + c.length}), header ends at ${model.refusedAt}`,
                );
                refused = model.refusedAt;
                break;
              }
              offset += c.length;
            }
          });
          assert.ok(largest <= max, `allocated ${largest} bytes with a cap of ${max}`);
          assert.deepEqual(got, model.packets);
          assert.equal(refused, model.refusedAt, 'refused exactly when a header declares too much');
          if (refused >= 0) {
            // The ERR the gateway sends follows the refused packet.
            assert.equal(framer.pendingSeq, model.refusedSeq);
          } else {
            assert.equal(framer.pendingSeq, model.pending);
            assert.equal(framer.inHeader, model.inHeader);
            assert.equal(framer.idle, model.pending === null && !model.inHeader);
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  test('once: a 0xffffff continuation among small packets, cut at random points', () => {
    // Expensive (16 MiB), so one stream and a few cuts drawn from a fixed seed, not a property loop.
    const big = Buffer.alloc(MAX_CHUNK + 3, 0x5a);
    big.write('end', MAX_CHUNK);
    const stream = Buffer.concat([packet('a', 0), packet(big, 1), packet(Buffer.alloc(0), 3)]);
    const cutSets = fc.sample(fc.array(fc.nat(stream.length), { minLength: 1, maxLength: 3 }), {
      numRuns: 3,
      seed: 7,
    });
    cutSets.push([4 + 1 + 4 + MAX_CHUNK + 2]); // inside the continuation's header
    for (const points of cutSets) {
      const framer = new PacketFramer(MAX_CHUNK + 3);
      const got: Packet[] = [];
      for (const c of cut(stream, { points, every: 0 })) framer.push(c, (p) => void got.push(p));
      assert.deepEqual(
        got.map((p) => [p.payload.length, p.firstSeq, p.seq]),
        [
          [1, 0, 0],
          [MAX_CHUNK + 3, 1, 2],
          [0, 3, 3],
        ],
        String(points),
      );
      assert.ok(got[1]!.payload.equals(big));
      assert.ok(framer.idle);
    }
  });
});

// ---- PacketScanner --------------------------------------------------------------------------------

interface Announced {
  first: number;
  length: number;
  seq: number;
  head?: string;
}

/** Asks for a number of leading bytes that depends only on what `start` is told (chunking-blind). */
const wantOf = (first: number, length: number): number => (first * 7 + length) % 23;

class RecordingSink implements ScanSink {
  readonly seen: Announced[] = [];
  start(first: number, length: number, seq: number): number {
    this.seen.push({ first, length, seq });
    return wantOf(first, length);
  }
  head(buf: Buffer, from: number, n: number, length: number, seq: number): void {
    const last = this.seen.at(-1)!;
    assert.equal(last.head, undefined, 'head is called at most once per packet');
    assert.equal(length, last.length);
    assert.equal(seq, last.seq);
    assert.ok(from >= 0 && from + n <= buf.length);
    last.head = buf.toString('hex', from, from + n);
  }
}

/** What a scanner reading `stream` from its start must announce, and the leading bytes it must show. */
function scanModel(stream: Buffer): Announced[] {
  const out: Announced[] = [];
  let p = 0;
  let continues = false;
  while (p + 4 <= stream.length) {
    const length = stream.readUIntLE(p, 3);
    const seq = stream[p + 3]!;
    const continuation = continues;
    continues = length === MAX_CHUNK;
    if (!continuation) {
      if (length === 0) out.push({ first: -1, length, seq });
      else if (p + 4 < stream.length) {
        const first = stream[p + 4]!;
        const a: Announced = { first, length, seq };
        const want = Math.min(wantOf(first, length), length);
        if (want > 0 && p + 4 + want <= stream.length) a.head = stream.toString('hex', p + 4, p + 4 + want);
        out.push(a);
      }
    }
    p += 4 + length;
  }
  return out;
}

describe('PacketScanner, fuzzed', () => {
  test('random streams in random chunks: the packets and leading bytes of a sequential read', () => {
    const continuationHeader = fc.nat(255).map((seq) => bytes([0xff, 0xff, 0xff, seq]));
    const stream = fc.oneof(
      streamArb(SMALL_MAX),
      fc.array(fc.oneof(streamArb(64), continuationHeader), { maxLength: 4 }).map((s) => Buffer.concat(s)),
    );
    fc.assert(
      fc.property(stream, cutsArb, (s, cuts) => {
        const sink = new RecordingSink();
        const scanner = new PacketScanner(sink);
        const { largest } = largestAllocation(() => {
          for (const c of cut(s, cuts)) assert.equal(scanner.feed(c), c.length);
        });
        assert.deepEqual(sink.seen, scanModel(s));
        assert.ok(largest <= 256, `allocated ${largest} bytes for heads of at most 22`);
      }),
      { numRuns: 1000 },
    );
  });
});

// ---- Packet decoders ------------------------------------------------------------------------------

const NONCE20 = Buffer.from('0123456789abcdefghij');

/** Capability sets clients and servers actually use, and any 32 bits. */
const capsArb = fc.oneof(
  fc.constantFrom(
    CLIENT_CAPS,
    CLIENT_CAPS | Cap.CONNECT_WITH_DB | Cap.CONNECT_ATTRS,
    CLIENT_CAPS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.CONNECT_ATTRS | Cap.DEPRECATE_EOF,
    Cap.PROTOCOL_41,
    0,
    0xffffffff,
  ),
  fc.integer({ min: 0, max: 0xffffffff }),
);

interface Decoder {
  name: string;
  decode: (payload: Buffer, caps: number) => unknown;
  /** Valid encodings (payloads, no header) to mutate, with the capabilities they were built for. */
  seeds: Array<[Buffer, number]>;
  /** Extra checks on a value decoded from `payload`. */
  check?: (decoded: unknown, payload: Buffer) => void;
}

const RESPONSE_CAPS = CLIENT_CAPS | Cap.CONNECT_WITH_DB | Cap.CONNECT_ATTRS;
const LENENC_CAPS = RESPONSE_CAPS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA;
const MARIADB_CAPS = (RESPONSE_CAPS & ~Cap.LONG_PASSWORD) >>> 0;
const ATTRS: Array<[string, string]> = [
  ['_client_name', 'libmariadb'],
  ['_os', 'Linux'],
  ['program_name', 'fuzz'],
];
const greeting = readHandshake(handshakeV10(mysql8Greeting()));
const CHANGE_USER_CAPS = CLIENT_CAPS | Cap.CONNECT_ATTRS;

const DECODERS: Decoder[] = [
  {
    name: 'readHandshakeResponse',
    decode: (p) => readHandshakeResponse(p),
    seeds: [
      [
        handshakeResponse41({
          capabilities: RESPONSE_CAPS,
          user: 'app',
          authResponse: NONCE20,
          database: 'moat_test',
          authPlugin: 'mysql_native_password',
          attributes: ATTRS,
        }),
        RESPONSE_CAPS,
      ],
      [
        handshakeResponse41({
          capabilities: LENENC_CAPS,
          user: 'root',
          authResponse: Buffer.alloc(300, 7),
          authPlugin: 'caching_sha2_password',
          attributes: ATTRS,
        }),
        LENENC_CAPS,
      ],
      [
        handshakeResponse41({
          capabilities: MARIADB_CAPS,
          mariadbCapabilities: 0x1d,
          user: 'm',
          authResponse: Buffer.alloc(0),
          database: '',
        }),
        MARIADB_CAPS,
      ],
      [
        writeHandshakeResponse(
          {
            capabilities: RESPONSE_CAPS,
            mariadbCapabilities: 0,
            maxPacketSize: 1 << 24,
            charset: 45,
            user: 'writer',
            authResponse: NONCE20,
            database: 'db',
            authPlugin: 'mysql_native_password',
            attributes: ATTRS,
          },
          1,
        ).subarray(4),
        RESPONSE_CAPS,
      ],
    ],
  },
  {
    name: 'readSslRequest / isSslRequest',
    decode: (p) => ({ ssl: isSslRequest(p), request: readSslRequest(p) }),
    seeds: [[sslRequest(CLIENT_CAPS), CLIENT_CAPS]],
  },
  {
    name: 'readHandshake',
    decode: (p) => readHandshake(p),
    seeds: [
      [handshakeV10(mysql8Greeting()), 0],
      [handshakeV10(mariadbGreeting()), 0],
      [handshakeV10(mysql8Greeting({ capabilities: 0xdfffffff & ~Cap.PLUGIN_AUTH, nonce: NONCE20 })), 0],
      [writeHandshake({ ...greeting, nonce: Buffer.alloc(8, 1) }).subarray(4), 0],
      // A pre-4.1 style greeting that ends after the lower capability flags.
      [bytes([10], '5.0.0\0', [1, 0, 0, 0], 'abcdefgh', [0, 0xff, 0xf7]), 0],
    ],
  },
  {
    name: 'readChangeUser',
    decode: (p, caps) => readChangeUser(p, caps),
    seeds: [
      [
        comChangeUser({
          capabilities: CHANGE_USER_CAPS,
          user: 'other',
          authResponse: NONCE20,
          database: 'moat_test',
          charset: 45,
          authPlugin: 'mysql_native_password',
          attributes: ATTRS,
        }),
        CHANGE_USER_CAPS,
      ],
      [
        comChangeUser({
          capabilities: Cap.PROTOCOL_41,
          user: 'old',
          authResponse: Buffer.from('x'),
          database: '',
          charset: 8,
          authPlugin: '',
        }),
        Cap.PROTOCOL_41,
      ],
      [
        writeChangeUser(
          {
            user: 'w',
            authResponse: NONCE20,
            database: 'd',
            charset: 45,
            authPlugin: 'caching_sha2_password',
            attributes: ATTRS,
          },
          CHANGE_USER_CAPS,
          0,
        ).subarray(4),
        CHANGE_USER_CAPS,
      ],
    ],
  },
  {
    name: 'readAuthSwitchRequest / nonceOf',
    decode: (p) => {
      const req = readAuthSwitchRequest(p);
      return { req, nonce: nonceOf(req.data) };
    },
    seeds: [
      [authSwitchRequest('mysql_native_password', Buffer.concat([NONCE20, bytes([0])])), 0],
      [authSwitchRequest('mysql_clear_password', Buffer.alloc(0)), 0],
      [writeAuthSwitchRequest({ plugin: 'caching_sha2_password', data: NONCE20 }, 2).subarray(4), 0],
    ],
  },
  {
    name: 'readOk',
    decode: (p) => readOk(p),
    seeds: [
      [ok(), 0],
      [ok({ affectedRows: 70000, lastInsertId: 2n ** 40n, warnings: 3, info: 'Rows matched: 1' }), 0],
      [ok({ header: 0xfe, affectedRows: 0x123456, status: Status.MORE_RESULTS_EXISTS }), 0],
      [eof(), 0],
      [writeOk({ affectedRows: 1, lastInsertId: 300 }, 1).subarray(4), 0],
    ],
  },
  {
    name: 'readErr',
    decode: (p) => readErr(p),
    seeds: [
      [err(1045, "Access denied for user 'app'@'192.0.2.7'", '28000'), 0],
      [err(1040, 'Too many connections', null), 0],
      [writeErr({ code: 1146, state: '42S02', message: 'no such table' }, 1).subarray(4), 0],
    ],
  },
  {
    name: 'eofStatus',
    decode: (p) => eofStatus(p),
    seeds: [
      [eof(Status.MORE_RESULTS_EXISTS), 0],
      [eof(), 0],
    ],
  },
  {
    name: 'parseProxyHeader (v1 and v2)',
    decode: (p) => parseProxyHeader(p),
    seeds: [
      [proxyV1('192.0.2.7', '198.51.100.1', 50000, 3306), 0],
      [proxyV1('2001:db8::7', '2001:db8::1', 1, 65535), 0],
      [Buffer.from('PROXY UNKNOWN\r\n', 'latin1'), 0],
      [proxyV2({ address: '192.0.2.7', port: 50000 }, { address: '198.51.100.1', port: 3306 }), 0],
      [proxyV2({ address: '2001:db8::7', port: 1 }, { address: '2001:db8::1', port: 3306 }), 0],
      [proxyV2({ address: '::ffff:192.0.2.9', port: 2 }, { address: '::1', port: 3306 }), 0],
      [proxyV2Local(), 0],
    ],
    check: (decoded, payload) => {
      const h = decoded as ReturnType<typeof parseProxyHeader>;
      if (h.state === 'incomplete') return;
      assert.ok(
        h.consumed > 0 && h.consumed <= payload.length,
        `consumed ${h.consumed} of ${payload.length}`,
      );
      if (h.source !== null) {
        assert.notEqual(isIP(h.source.address), 0, `source address '${h.source.address}'`);
        assert.ok(Number.isInteger(h.source.port) && h.source.port >= 0 && h.source.port <= 65535);
      }
    },
  },
];

/** Decodes an isolated copy of `payload`: a value that points only into it, or a ProtocolError. */
function decodeChecked(d: Decoder, payload: Uint8Array, caps: number): void {
  const view = isolate(payload);
  const out = returnsOrRefuses(() => d.decode(view, caps));
  if (out instanceof ProtocolError) return;
  assertInside(out, view);
  d.check?.(out, view);
}

describe('packet decoders, fuzzed: a value or a ProtocolError, never a crash or a read outside the packet', () => {
  for (const d of DECODERS) {
    describe(d.name, () => {
      test('the valid seeds decode', () => {
        for (const [seed, caps] of d.seeds) {
          const out = d.decode(isolate(seed), caps);
          assert.ok(!(out instanceof ProtocolError));
        }
      });

      test('random bytes', () => {
        fc.assert(
          fc.property(bufArb(200), capsArb, (payload, caps) => decodeChecked(d, payload, caps)),
          { numRuns: 1000 },
        );
      });

      test('mutations of valid encodings', () => {
        fc.assert(
          fc.property(
            fc.constantFrom(...d.seeds),
            fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
            fc.option(capsArb, { freq: 3 }),
            ([seed, seedCaps], mutations, caps) =>
              decodeChecked(d, mutate(seed, mutations), caps ?? seedCaps),
          ),
          { numRuns: 1500 },
        );
      });
    });
  }

  test('readOk, readErr and eofStatus on a window of a larger buffer decode just the window', () => {
    const seeds = [
      ok({ affectedRows: 300, lastInsertId: 70000 }),
      err(1062, 'Duplicate entry', '23000'),
      eof(),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutationArb, { maxLength: 4 }),
        bufArb(12),
        bufArb(12),
        (seed, mutations, before, after) => {
          const payload = mutate(seed, mutations);
          const big = Buffer.concat([before, payload, after]);
          const [start, end] = [before.length, before.length + payload.length];
          const same = (a: () => unknown, b: () => unknown): void => {
            const x = returnsOrRefuses(a);
            const y = returnsOrRefuses(b);
            if (x instanceof ProtocolError || y instanceof ProtocolError) {
              assert.equal(
                x instanceof ProtocolError && y instanceof ProtocolError && x.code === y.code,
                true,
              );
            } else assert.deepEqual(x, y);
          };
          same(
            () => readOk(big, start, end),
            () => readOk(Buffer.from(payload)),
          );
          // Into an object kept by the caller (the follower's): the same fields, and a packet that
          // is refused leaves the object as it was.
          const kept = { affectedRows: -1, lastInsertId: -1, status: -1, warnings: -1 };
          same(
            () => {
              const out = readOk(big, start, end, kept);
              assert.equal(out, kept);
              return { ...out };
            },
            () => readOk(Buffer.from(payload)),
          );
          if (returnsOrRefuses(() => readOk(Buffer.from(payload))) instanceof ProtocolError)
            assert.deepEqual(kept, { affectedRows: -1, lastInsertId: -1, status: -1, warnings: -1 });
          same(
            () => readErr(big, start, end),
            () => readErr(Buffer.from(payload)),
          );
          assert.equal(eofStatus(big, start, end), eofStatus(Buffer.from(payload)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('PayloadReader: any sequence of reads stays inside [start, end) or throws a ProtocolError', () => {
    const ops = [
      'u8',
      'u16',
      'u24',
      'u32',
      'lenenc',
      'skip',
      'bytes',
      'lenencBytes',
      'nulBytes',
      'nulOrEofBytes',
      'restBytes',
    ] as const;
    const opArb = fc.tuple(fc.constantFrom(...ops), fc.integer({ min: -2, max: 40 }));
    fc.assert(
      fc.property(
        bufArb(64),
        fc.nat(),
        fc.nat(),
        fc.array(opArb, { maxLength: 12 }),
        (raw, a, b, program) => {
          const buf = isolate(raw);
          const start = a % (buf.length + 1);
          const end = start + (b % (buf.length - start + 1));
          const r = new PayloadReader(buf, start, end);
          for (const [op, n] of program) {
            const out = returnsOrRefuses(() => {
              switch (op) {
                case 'skip':
                  return r.skip(n);
                case 'bytes':
                  return r.bytes(n);
                default:
                  return r[op]();
              }
            });
            assert.ok(r.pos >= start && r.pos <= end, `pos ${r.pos} outside [${start}, ${end}]`);
            if (Buffer.isBuffer(out)) {
              assert.equal(out.buffer, buf.buffer);
              assert.ok(out.byteOffset >= buf.byteOffset + start);
              assert.ok(out.byteOffset + out.length <= buf.byteOffset + end);
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  test('parseProxyHeader on growing input: once not incomplete, more bytes change nothing', () => {
    // The listener re-parses its buffer after every chunk: the answer must not depend on the cut.
    const seeds = DECODERS.find((d) => d.name.startsWith('parseProxyHeader'))!.seeds.map(([s]) => s);
    const outcome = (b: Buffer): string => {
      const r = returnsOrRefuses(() => parseProxyHeader(b));
      return r instanceof ProtocolError ? `error ${r.code}` : JSON.stringify(r);
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutationArb, { maxLength: 3 }),
        bufArb(16),
        fc.nat(),
        (seed, mutations, tail, k) => {
          const full = Buffer.concat([mutate(seed, mutations), tail]);
          const prefix = full.subarray(0, k % (full.length + 1));
          const early = outcome(prefix);
          if (early === '{"state":"incomplete"}') return;
          assert.equal(early, outcome(full), `prefix of ${prefix.length} bytes`);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

// ---- PacketScanner + Follower ---------------------------------------------------------------------

const sqlArb = fc.oneof(fc.string({ maxLength: 24 }), fc.constantFrom('USE moat_test', 'select 1', ''));
const stmtIdArb = fc.oneof(fc.constantFrom(0, 1, 2, LAST_PREPARED), fc.nat());

/** One client command payload: the ones the follower interprets, and junk. */
const commandArb: fc.Arbitrary<Buffer> = fc.oneof(
  sqlArb.map(comQuery),
  sqlArb.map(comStmtPrepare),
  stmtIdArb.map((id) => comStmtExecute(id)),
  stmtIdArb.map(comStmtClose),
  stmtIdArb.map(comStmtReset),
  fc.tuple(stmtIdArb, fc.nat(10)).map(([id, n]) => comStmtFetch(id, n)),
  stmtIdArb.map((id) => comStmtSendLongData(id, 0, 'data')),
  sqlArb.map(comInitDb),
  fc.constant(comFieldList('t')),
  fc
    .constantFrom(Com.PING, Com.QUIT, Com.STATISTICS, Com.RESET_CONNECTION, Com.SET_OPTION, Com.BINLOG_DUMP)
    .map((c) => command(c)),
  fc.constant(bytes()),
  fc.constant(
    comChangeUser({
      capabilities: CLIENT_CAPS,
      user: 'u',
      authResponse: NONCE20,
      database: '',
      charset: 45,
      authPlugin: 'mysql_native_password',
    }),
  ),
  bufArb(12),
);

/** One server answer (payloads): well-formed ones of every shape, and junk. */
const answerArb: fc.Arbitrary<Buffer[]> = fc.oneof(
  fc
    .record({
      affectedRows: fc.nat(300),
      status: fc.constantFrom(Status.AUTOCOMMIT, Status.MORE_RESULTS_EXISTS),
    })
    .map((o) => [ok(o)]),
  fc.tuple(fc.nat(2000), fc.string({ maxLength: 20 })).map(([code, msg]) => [err(code, msg)]),
  fc.constant<Buffer[]>([eof()]),
  fc
    .record({
      columns: fc.integer({ min: 1, max: 3 }),
      rows: fc.array(fc.array(fc.option(fc.string({ maxLength: 5 })), { maxLength: 3 }), { maxLength: 3 }),
      deprecateEof: fc.boolean(),
      status: fc.constantFrom(Status.AUTOCOMMIT, Status.CURSOR_EXISTS, Status.MORE_RESULTS_EXISTS),
    })
    .map((r) =>
      resultSet({
        columns: Array.from({ length: r.columns }, (_, i) => `c${i}`),
        rows: r.rows.map((row) => textRow(row)),
        deprecateEof: r.deprecateEof,
        status: r.status,
      }),
    ),
  fc
    .record({ stmtId: fc.nat(3), params: fc.nat(2), columns: fc.nat(2), deprecateEof: fc.boolean() })
    .map(prepareResponse),
  fc.constant<Buffer[]>([localInfileRequest('data.csv')]),
  fc.constant<Buffer[]>([columnDef({ name: 'c', defaultValue: null }), eof()]),
  fc.array(bufArb(12), { minLength: 1, maxLength: 3 }),
);

const legArb: fc.Arbitrary<Leg> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.array(commandArb, { minLength: 1, maxLength: 3 }).map((ps) => client(packets(0, ...ps))),
  },
  { weight: 3, arbitrary: answerArb.map((ps) => server(packets(1, ...ps))) },
  { weight: 1, arbitrary: bufArb(24).map(client) },
  { weight: 1, arbitrary: bufArb(24).map(server) },
);

/** A leg, maybe mutated, and how it is cut. */
const wireArb = fc.record({
  leg: legArb,
  mutations: fc.array(mutationArb, { maxLength: 3 }),
  cuts: cutsArb,
});

/** Logical packets a scanner reading `stream` from its start announces (each may be one command). */
function announcedPackets(stream: Buffer): number {
  return scanModel(stream).length;
}

describe('PacketScanner + Follower, fuzzed', () => {
  test('random and mutated conversations: no throw, at most one "lost", no more events than client packets', () => {
    fc.assert(
      fc.property(
        fc.array(wireArb, { minLength: 1, maxLength: 8 }),
        fc.constantFrom(CLIENT_CAPS, CLIENT_CAPS | Cap.DEPRECATE_EOF),
        fc.constantFrom(0, 8, 4096),
        (wire, capabilities, maxStatementLength) => {
          const legs = wire.map((w) => ({ from: w.leg.from, bytes: mutate(w.leg.bytes, w.mutations) }));
          const options = { capabilities, maxStatementLength };
          // The follower documents no exception: whatever it cannot place is reported once through
          // onLost (follow-run collects it in `lost`), and the bytes are relayed regardless.
          const { value: run, largest } = largestAllocation(() =>
            follow(legs, (leg, i) => cut(leg.bytes, wire[i]!.cuts), options),
          );
          // Heads are asked for by size (statement text, ERR message), never by declared length.
          assert.ok(largest <= Math.max(256, 1 + maxStatementLength, 9 + 512), `allocated ${largest} bytes`);
          assert.ok(run.lost.length <= 1, `lost ${run.lost.length} times`);
          // (Not asserted here: that nothing is queued once lost. See the todo test below.)
          if (run.lost.length === 1) assert.equal(run.follower.following, false);
          for (const e of run.events) assert.ok(['OK', 'ERR', 'NONE', 'UNKNOWN'].includes(e.status));

          const clientBytes = Buffer.concat(legs.filter((l) => l.from === 'client').map((l) => l.bytes));
          const commands = run.events.length + run.follower.queue.length;
          if (run.changeUsers === 0) {
            // Every event (and every command still waiting) stands for one client packet.
            assert.ok(
              commands <= announcedPackets(clientBytes),
              `${commands} commands from ${announcedPackets(clientBytes)} client packets`,
            );
            // And the chunking makes no difference.
            const whole = follow(legs, (leg) => [leg.bytes], options);
            assert.equal(whole.changeUsers, 0);
            assert.deepEqual(whole.events, run.events);
            assert.deepEqual(whole.lost, run.lost);
          } else {
            // After COM_CHANGE_USER the relay hands the stream to the session; follow-run keeps
            // feeding the paused scanner, which may lose the packet boundaries. Still, each
            // command needs a header of its own in what was fed.
            assert.ok(commands <= Math.floor(clientBytes.length / 4));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('a server alone, however it misbehaves, produces no event', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(answerArb, fc.array(mutationArb, { maxLength: 3 })), { maxLength: 4 }),
        cutsArb,
        (answers, cuts) => {
          const stream = Buffer.concat(answers.map(([ps, m]) => mutate(packets(1, ...ps), m)));
          const events: unknown[] = [];
          const lost: string[] = [];
          const f = new Follower(identity(), CLIENT_CAPS, {
            maxStatementLength: 4096,
            onEvent: (e) => events.push(e),
            onChangeUser: () => assert.fail('the server cannot send COM_CHANGE_USER'),
            onLost: (why) => lost.push(why),
          });
          const scanner = new PacketScanner(f.server);
          for (const c of cut(stream, cuts)) assert.equal(scanner.feed(c), c.length);
          assert.deepEqual(events, []);
          assert.ok(lost.length <= 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('any ERR or OK answer, cut anywhere: the follower records what readErr / readOk decode', () => {
    const errSeeds = [
      err(1146, "Table 'moat_test.nope' doesn't exist", '42S02'),
      err(1040, 'Too many connections', null),
      err(1064, 'z'.repeat(600), '42000'),
    ];
    const okSeeds = [
      ok({ affectedRows: 70000, lastInsertId: 2n ** 40n, warnings: 3, info: 'Rows matched: 1' }),
      ok({ affectedRows: 2n ** 53n - 1n, status: Status.AUTOCOMMIT | 0x0001 }),
    ];
    /** `seed` mutated, still starting with `header` so that the follower takes it for one. */
    const answerOf = (header: number, seeds: Buffer[]) =>
      fc.tuple(fc.constantFrom(...seeds), fc.array(mutationArb, { maxLength: 4 })).map(([seed, m]) => {
        const p = mutate(seed, m);
        if (p.length === 0) return bytes([header]);
        p[0] = header;
        return p;
      });
    const query = packets(0, comQuery('select 1'));
    const ping = [client(packets(0, command(Com.PING))), server(packets(1, ok()))];
    const pingSeen = { command: 'Ping', status: 'OK', errorCode: 0, sqlState: null, errorMessage: null };
    fc.assert(
      fc.property(
        fc.boolean(),
        answerOf(0xff, errSeeds),
        answerOf(0x00, okSeeds),
        cutsArb,
        (isErr, e, o, cuts) => {
          const payload = isErr ? e : o;
          const legs = [client(query), server(packets(1, payload)), ...(isErr ? ping : [])];
          const run = follow(legs, (leg, i) => (i === 1 ? cut(leg.bytes, cuts) : [leg.bytes]), {
            capabilities: CLIENT_CAPS,
          });
          const seen = run.events.map((x) => ({
            command: x.command,
            status: x.status,
            errorCode: x.errorCode,
            sqlState: x.sqlState,
            errorMessage: x.errorMessage,
            affectedRows: x.affectedRows,
          }));
          // The follower keeps an ERR's message up to MYSQL_ERRMSG_SIZE (512 bytes).
          const decoded = returnsOrRefuses(() =>
            isErr ? readErr(payload, 0, Math.min(payload.length, 9 + 512)) : readOk(payload),
          );
          if (decoded instanceof ProtocolError) {
            assert.equal(run.lost.length, 1);
            assert.deepEqual(
              seen.map((x) => x.status),
              ['UNKNOWN'],
            );
            return;
          }
          assert.deepEqual(run.lost, []);
          if ('code' in decoded) {
            const { code, state, message } = decoded;
            assert.deepEqual(seen, [
              {
                command: 'Query',
                status: 'ERR',
                errorCode: code,
                sqlState: state,
                errorMessage: message,
                affectedRows: 0,
              },
              { ...pingSeen, affectedRows: 0 },
            ]);
          } else if (decoded.status & Status.MORE_RESULTS_EXISTS) {
            assert.deepEqual(seen, []); // another result follows
            assert.equal(run.follower.queue[0]?.affectedRows, decoded.affectedRows);
          } else {
            const only = { command: 'Query', status: 'OK', errorCode: 0, sqlState: null, errorMessage: null };
            assert.deepEqual(seen, [{ ...only, affectedRows: decoded.affectedRows }]);
            assert.equal(run.follower.lastStatus, decoded.status);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  // Found by the property above. ClientSink.start ignores packets once the follower is lost, but
  // ClientSink.head does not: a command whose leading bytes straddle a chunk, and whose previous
  // command's answer made the follower give up in between, is queued after the loss and never
  // leaves the queue (no server packet is interpreted any more). Relay.isIdle() then stays false
  // for the rest of the session, so a graceful stop waits the whole shutdown timeout for it.
  test('a command completed after the follower lost track is not queued', () => {
    const second = packet(comQuery('select 1'), 0);
    const run = follow(
      [
        // A pipelined write: a whole COM_QUERY, then the first bytes of the next one.
        client(Buffer.concat([packet(comQuery('select 0'), 0), second.subarray(0, 6)])),
        // The first answer is a column count cut short: the follower gives up.
        server(packet(bytes([0xfc]), 1)),
        client(second.subarray(6)),
      ],
      (leg) => [leg.bytes],
      { capabilities: CLIENT_CAPS },
    );
    assert.deepEqual(run.lost, ['bad column count']);
    assert.equal(run.follower.following, false);
    assert.deepEqual(
      run.follower.queue.map((c) => c.statement),
      [],
    );
  });
});
