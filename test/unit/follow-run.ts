// Drives a Follower the way the relay does: client bytes into one PacketScanner, server bytes into
// the other, in the order they happen on the wire (a command, then its answer), each leg cut into
// whatever chunks a test asks for. Collects the events in a form tests can compare.
import type { CommandEvent, SessionIdentity } from '../../src/model/events.ts';
import { Follower } from '../../src/protocol/follow/follower.ts';
import { PacketScanner } from '../../src/protocol/scanner.ts';
import { splitEverywhere } from './fixtures.ts';

export interface Leg {
  from: 'client' | 'server';
  bytes: Buffer;
}

export const client = (bytes: Buffer): Leg => ({ from: 'client', bytes });
export const server = (bytes: Buffer): Leg => ({ from: 'server', bytes });

/** The fields of a CommandEvent that do not depend on timing. */
export type Seen = Pick<
  CommandEvent,
  | 'command'
  | 'statement'
  | 'statementTruncated'
  | 'status'
  | 'errorCode'
  | 'sqlState'
  | 'errorMessage'
  | 'rows'
  | 'affectedRows'
>;

/** An expected event: OK, no error, no rows unless overridden. */
export function ev(command: string, statement: string | null, over: Partial<Seen> = {}): Seen {
  return {
    command,
    statement,
    statementTruncated: false,
    status: 'OK',
    errorCode: 0,
    sqlState: null,
    errorMessage: null,
    rows: 0,
    affectedRows: 0,
    ...over,
  };
}

export function identity(): SessionIdentity {
  return { session: 1, user: 'app', clientAddress: '192.0.2.7', clientPort: 50000, database: 'moat_test' };
}

export interface Run {
  events: Seen[];
  lost: string[];
  identity: SessionIdentity;
  follower: Follower;
  clientScanner: PacketScanner;
  serverScanner: PacketScanner;
  /** What each client `feed` returned, in order (chunk length unless paused at COM_CHANGE_USER). */
  clientFeeds: number[];
  changeUsers: number;
}

export interface FollowOptions {
  capabilities: number;
  maxStatementLength?: number;
}

/** Feeds `legs` in order, each cut by `cut` into chunks. */
export function follow(legs: readonly Leg[], cut: (leg: Leg, i: number) => Buffer[], o: FollowOptions): Run {
  const id = identity();
  const events: Seen[] = [];
  const lost: string[] = [];
  const clientFeeds: number[] = [];
  let changeUsers = 0;
  let clientScanner: PacketScanner | null = null;
  const follower = new Follower(id, o.capabilities, {
    maxStatementLength: o.maxStatementLength ?? 4096,
    onEvent: (e) =>
      events.push({
        command: e.command,
        statement: e.statement,
        statementTruncated: e.statementTruncated,
        status: e.status,
        errorCode: e.errorCode,
        sqlState: e.sqlState,
        errorMessage: e.errorMessage,
        rows: e.rows,
        affectedRows: e.affectedRows,
      }),
    // As the relay does: stop the client scanner right at the packet.
    onChangeUser: () => {
      changeUsers++;
      clientScanner?.pause();
    },
    onLost: (why) => lost.push(why),
  });
  clientScanner = new PacketScanner(follower.client);
  const serverScanner = new PacketScanner(follower.server);
  legs.forEach((leg, i) => {
    for (const chunk of cut(leg, i)) {
      if (leg.from === 'client') clientFeeds.push(clientScanner.feed(chunk));
      else serverScanner.feed(chunk);
    }
  });
  return { events, lost, identity: id, follower, clientScanner, serverScanner, clientFeeds, changeUsers };
}

export interface Cut {
  label: string;
  cut: (leg: Leg, i: number) => Buffer[];
}

/**
 * Every way the legs may arrive: each leg whole; every leg byte by byte; and for each leg in turn,
 * every 2-chunk cut and a sample of 3-chunk cuts of it while the others arrive whole.
 */
export function* everyCut(legs: readonly Leg[]): Generator<Cut> {
  yield { label: 'whole', cut: (leg) => [leg.bytes] };
  yield {
    label: 'byte by byte',
    cut: (leg) => Array.from({ length: leg.bytes.length }, (_, k) => leg.bytes.subarray(k, k + 1)),
  };
  for (let i = 0; i < legs.length; i++) {
    for (const chunks of splitEverywhere(legs[i]!.bytes, 24)) {
      yield {
        label: `leg ${i} (${legs[i]!.from}) cut at ${chunks.map((c) => c.length).join('+')}`,
        cut: (leg, j) => (j === i ? chunks : [leg.bytes]),
      };
    }
  }
}
