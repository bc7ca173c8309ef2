// Logical packets of 16 MiB and more (0xffffff-byte packets plus a continuation) through the
// follower: a row whose first byte is 0xfe is a row, not a terminator, and a continuation is never
// read as a packet of its own. Built once, lazily; cut around every physical header only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bytes,
  Cap,
  CLIENT_CAPS,
  columnCount,
  columnDef,
  eof,
  int8,
  MAX_CHUNK,
  ok,
  packets,
  Status,
  terminator,
  textRow,
} from './fixtures.ts';
import { client, ev, follow, type Leg, server } from './follow-run.ts';

/** Offsets of every physical header in a stream. */
function headerOffsets(stream: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at < stream.length; at += 4 + stream.readUIntLE(at, 3)) out.push(at);
  return out;
}

/** Cuts of one leg: at a few bytes either side of each physical header, and inside the big payload. */
function cutsAround(stream: Buffer): Buffer[][] {
  const points = new Set<number>();
  for (const h of headerOffsets(stream)) {
    for (let d = -2; d <= 6; d++) if (h + d > 0 && h + d < stream.length) points.add(h + d);
  }
  points.add(stream.length >> 1);
  return [...points].map((k) => [stream.subarray(0, k), stream.subarray(k)]);
}

function runAllCuts(legs: Leg[], capabilities: number, maxStatementLength: number) {
  const runs = [follow(legs, (leg) => [leg.bytes], { capabilities, maxStatementLength })];
  legs.forEach((leg, i) => {
    for (const chunks of cutsAround(leg.bytes)) {
      runs.push(follow(legs, (l, j) => (j === i ? chunks : [l.bytes]), { capabilities, maxStatementLength }));
    }
  });
  return runs;
}

describe('logical packets of 16 MiB and more', () => {
  // A text row whose first column is 2^24 bytes long: its lenenc prefix is 0xfe, so the row's first
  // byte is 0xfe, and the row is 9 + 2^24 bytes: one 0xffffff packet and a 10-byte continuation.
  // The continuation is made to look like an OK-0xfe terminator with MORE_RESULTS_EXISTS.
  let bigRow: Buffer | null = null;
  const row = (): Buffer => {
    if (bigRow === null) {
      bigRow = Buffer.alloc(9 + 2 ** 24, 0x78);
      bytes([0xfe], int8(2 ** 24)).copy(bigRow, 0);
      bytes([0xfe, 0, 0], [Status.MORE_RESULTS_EXISTS | Status.AUTOCOMMIT, 0, 0, 0, 0, 0, 0]).copy(
        bigRow,
        MAX_CHUNK,
      );
    }
    return bigRow;
  };

  for (const deprecateEof of [false, true]) {
    test(`a row starting with 0xfe inside a continued packet is a row (${deprecateEof ? 'with' : 'without'} DEPRECATE_EOF)`, () => {
      const answer = packets(
        1,
        columnCount(1),
        columnDef({ name: 'blob', type: 0xfc, length: 0xffffffff }),
        ...(deprecateEof ? [] : [eof()]),
        row(),
        textRow(['small']),
        terminator(deprecateEof),
      );
      assert.equal(answer.readUIntLE(headerOffsets(answer)[deprecateEof ? 2 : 3]!, 3), MAX_CHUNK);
      const legs = [client(packets(0, bytes([0x03], 'SELECT blob FROM t'))), server(answer), ...pingPong()];
      const capabilities = CLIENT_CAPS | (deprecateEof ? Cap.DEPRECATE_EOF : 0);
      for (const run of runAllCuts(legs, capabilities, 4096)) {
        assert.deepEqual(run.events, [ev('Query', 'SELECT blob FROM t', { rows: 2 }), ev('Ping', null)]);
        assert.deepEqual(run.lost, []);
      }
    });
  }

  test('a COM_QUERY of 0xffffff + 1 bytes: truncated text, its 1-byte continuation (0x01) is no COM_QUIT', () => {
    const query = Buffer.alloc(MAX_CHUNK + 1, 0x20);
    bytes([0x03], 'SELECT 1 /* padding */').copy(query, 0);
    query[MAX_CHUNK] = 0x01;
    const legs = [client(packets(0, query)), server(packets(2, ok())), ...pingPong()];
    for (const run of runAllCuts(legs, CLIENT_CAPS, 24)) {
      assert.deepEqual(run.events, [
        ev('Query', 'SELECT 1 /* padding */  ', { statementTruncated: true }),
        ev('Ping', null),
      ]);
      assert.deepEqual(run.lost, []);
    }
  });

  test('a COM_QUERY continued past its first packet is truncated even under a larger maxStatementLength', () => {
    // The text kept is the first packet's: the continuation is never read, so the event must say so.
    const query = Buffer.alloc(MAX_CHUNK + 1, 0x20);
    bytes([0x03], 'SELECT 2').copy(query, 0);
    const legs = [client(packets(0, query)), server(packets(2, ok()))];
    const run = follow(legs, (leg) => [leg.bytes], {
      capabilities: CLIENT_CAPS,
      maxStatementLength: 2 * MAX_CHUNK,
    });
    assert.equal(run.events.length, 1);
    assert.equal(run.events[0]!.statement!.length, MAX_CHUNK - 1);
    assert.equal(run.events[0]!.statementTruncated, true);
  });
});

function pingPong(): Leg[] {
  return [client(packets(0, [0x0e])), server(packets(1, ok()))];
}
