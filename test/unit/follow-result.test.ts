// The follower reads OK, ERR and EOF packets as packets/result.ts does: the same bytes give the same
// error code, SQLSTATE and message, affected rows and status flags, whether the follower sees them
// inside one chunk or copied across chunks. A packet result.ts refuses makes the follower give up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { eofStatus, readErr, readOk } from '../../src/protocol/packets/result.ts';
import {
  bytes,
  CLIENT_CAPS,
  Com,
  columnCount,
  columnDef,
  command,
  comQuery,
  eof,
  err,
  int2,
  int8,
  ok,
  packets,
  Status,
  textRow,
} from './fixtures.ts';
import { client, ev, everyCut, follow, type Leg, type Seen, server } from './follow-run.ts';

const cmd = (payload: Buffer): Leg => client(packets(0, payload));
const answer = (...payloads: Buffer[]): Leg => server(packets(1, ...payloads));
const pingPong = (): Leg[] => [cmd(command(Com.PING)), answer(ok())];
const QUERY = 'SELECT * FROM t';

/** What result.ts makes of `payload`, or the ProtocolError it refuses it with. */
function decoded<T>(fn: () => T): T | ProtocolError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

// ERR packets a server sends, and a few it should not. MySQL 8's client library (cli_safe_read in
// sql-common/client.cc) takes the SQLSTATE after a '#' and, with no '#', reports 'HY000'.
const ERRS: Array<{ name: string; payload: Buffer }> = [
  { name: 'with SQLSTATE', payload: err(1146, "Table 'moat_test.nope' doesn't exist", '42S02') },
  // Sent before the handshake completes (1040, 1129) and by pre-4.1 code paths.
  { name: 'without the # marker', payload: err(1040, 'Too many connections', null) },
  { name: 'with SQLSTATE and no message', payload: err(1062, '', '23000') },
  { name: 'code only', payload: bytes([0xff], int2(1105)) },
  { name: "a '#' with fewer than 5 characters after it", payload: bytes([0xff], int2(1105), '#HY0') },
  { name: 'a UTF-8 message', payload: err(1062, "Duplicate entry 'é€😀' for key 'PRIMARY'", '23000') },
  // MYSQL_ERRMSG_SIZE: the most a server writes, and what the follower keeps.
  { name: 'a message of 512 bytes', payload: err(1064, 'x'.repeat(512), '42000') },
  { name: 'too short for its error code', payload: bytes([0xff], [0x48]) },
  { name: 'header only', payload: bytes([0xff]) },
];

/** The events and losses the follower must report for `legs` when result.ts decodes `payload` so. */
function expectErr(payload: Buffer, over: Partial<Seen> = {}): { events: Seen[]; lost: number } {
  const e = decoded(() => readErr(payload));
  if (e instanceof ProtocolError)
    return { events: [ev('Query', QUERY, { ...over, status: 'UNKNOWN' })], lost: 1 };
  return {
    events: [
      ev('Query', QUERY, {
        ...over,
        status: 'ERR',
        errorCode: e.code,
        sqlState: e.state,
        errorMessage: e.message,
      }),
      ev('Ping', null),
    ],
    lost: 0,
  };
}

function assertFollowed(legs: Leg[], expected: { events: Seen[]; lost: number }): void {
  for (const { label, cut } of everyCut(legs)) {
    const run = follow(legs, cut, { capabilities: CLIENT_CAPS });
    assert.deepEqual(run.events, expected.events, label);
    assert.equal(run.lost.length, expected.lost, `${label}: lost ${JSON.stringify(run.lost)}`);
  }
}

describe('the follower decodes ERR packets as readErr does', () => {
  for (const c of ERRS) {
    test(`as the answer: ${c.name}`, () => {
      assertFollowed([cmd(comQuery(QUERY)), answer(c.payload), ...pingPong()], expectErr(c.payload));
    });

    test(`while rows stream: ${c.name}`, () => {
      const legs = [
        cmd(comQuery(QUERY)),
        answer(columnCount(1), columnDef({ name: 'a' }), eof(), textRow(['1']), c.payload),
        ...pingPong(),
      ];
      assertFollowed(legs, expectErr(c.payload, { rows: 1 }));
    });

    test(`with nothing pending (the server closing the session): ${c.name}`, () => {
      const e = decoded(() => readErr(c.payload));
      const legs = [server(packets(0, c.payload)), ...pingPong()];
      for (const { label, cut } of everyCut(legs)) {
        const run = follow(legs, cut, { capabilities: CLIENT_CAPS });
        assert.deepEqual(run.events, [], label);
        assert.equal(run.lost.length, 1, label);
        if (!(e instanceof ProtocolError))
          assert.equal(run.lost[0], `server closed the session: ${e.code} ${e.message}`, label);
      }
    });
  }

  test('a message past 512 bytes is kept to its first 512, as readErr reads that much of it', () => {
    const payload = err(1064, `${'y'.repeat(600)}`, '42000');
    const e = readErr(payload, 0, 9 + 512);
    const legs = [cmd(comQuery(QUERY)), answer(payload), ...pingPong()];
    assertFollowed(legs, {
      events: [
        ev('Query', QUERY, { status: 'ERR', errorCode: e.code, sqlState: e.state, errorMessage: e.message }),
        ev('Ping', null),
      ],
      lost: 0,
    });
    assert.equal(e.message, 'y'.repeat(512));
  });
});

// OK packets: affected rows in every lenenc width, status flags, and what readOk refuses.
const OKS: Array<{ name: string; payload: Buffer }> = [
  { name: '1-byte affected rows', payload: ok({ affectedRows: 3 }) },
  { name: '3-byte affected rows', payload: ok({ affectedRows: 300, lastInsertId: 70000 }) },
  { name: '4-byte affected rows', payload: ok({ affectedRows: 70000 }) },
  { name: '9-byte affected rows', payload: ok({ affectedRows: 2 ** 40, lastInsertId: 2 ** 53 - 1 }) },
  { name: 'IN_TRANS and warnings', payload: ok({ status: 0x0001 | Status.AUTOCOMMIT, warnings: 2 }) },
  {
    name: 'info text after the warnings',
    payload: ok({ affectedRows: 1, info: 'Rows matched: 1  Changed: 1' }),
  },
  { name: 'no status flags (pre-4.1 length)', payload: bytes([0x00], [5], [0]) },
  { name: 'affected rows past 2^53', payload: bytes([0x00], [0xfe], int8(2n ** 60n), [0], int2(2), int2(0)) },
  { name: 'last insert id cut short', payload: bytes([0x00], [1], [0xfc, 1]) },
  { name: 'affected rows with the NULL prefix 0xfb', payload: bytes([0x00], [0xfb], [0], int2(2), int2(0)) },
];

describe('the follower decodes OK packets as readOk does', () => {
  for (const c of OKS) {
    test(c.name, () => {
      const o = decoded(() => readOk(c.payload));
      const legs = [cmd(comQuery(QUERY)), answer(c.payload), ...pingPong()];
      for (const { label, cut } of everyCut(legs)) {
        const run = follow(legs, cut, { capabilities: CLIENT_CAPS });
        if (o instanceof ProtocolError) {
          assert.deepEqual(run.events, [ev('Query', QUERY, { status: 'UNKNOWN' })], label);
          assert.equal(run.lost.length, 1, label);
          continue;
        }
        assert.deepEqual(
          run.events,
          [ev('Query', QUERY, { affectedRows: o.affectedRows }), ev('Ping', null)],
          label,
        );
        assert.deepEqual(run.lost, [], label);
      }
      // Without the ping after it: the status flags the follower kept are this OK's.
      if (!(o instanceof ProtocolError)) {
        const run = follow([cmd(comQuery(QUERY)), answer(c.payload)], (leg) => [leg.bytes], {
          capabilities: CLIENT_CAPS,
        });
        assert.equal(run.follower.lastStatus, o.status);
      }
    });
  }

  test('an EOF answer (COM_SET_OPTION) leaves the status flags eofStatus reads', () => {
    for (const payload of [eof(Status.AUTOCOMMIT | 0x0001), bytes([0xfe], int2(0)), bytes([0xfe])]) {
      const legs = [cmd(command(Com.SET_OPTION, int2(1))), answer(payload)];
      const run = follow(legs, (leg) => [leg.bytes], { capabilities: CLIENT_CAPS });
      assert.equal(run.events.length, 1);
      assert.equal(run.follower.lastStatus, eofStatus(payload));
    }
  });
});
