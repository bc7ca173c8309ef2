// The fleet's pieces that need no Redis: the bounded deltas kept during an outage, the channel's
// message checks (nothing unchecked reaches the guard), and the key layout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fleetKeys } from '../../src/state/redis/keys.ts';
import { parseBlock, parseFleetMessage } from '../../src/state/redis/messages.ts';
import { PendingDeltas } from '../../src/state/redis/pending.ts';

test('pending deltas: increments add up, a reset starts again, the least recently changed goes first', () => {
  let dropped = 0;
  const p = new PendingDeltas(2, () => dropped++);
  p.add('a', false, 1);
  p.add('a', false, 2);
  p.add('b', true, 0);
  p.add('b', false, 1);
  assert.deepEqual(p.take(), [
    ['a', { reset: false, inc: 3 }],
    ['b', { reset: true, inc: 1 }],
  ]);
  assert.equal(p.size, 0, 'take() empties it');
  p.add('a', false, 1);
  p.add('b', false, 1);
  p.add('a', false, 1); // a is now the most recent
  p.add('c', false, 1); // over the bound: b goes
  assert.equal(dropped, 1);
  assert.deepEqual(
    p.take().map(([k]) => k),
    ['a', 'c'],
  );
});

test('channel messages: well-formed ones parse, anything else is null', () => {
  const block = { ip: '192.0.2.1', reason: 'manual', by: 'dba', since: 1, until: null };
  assert.deepEqual(parseFleetMessage(JSON.stringify({ t: 'ce', ip: '192.0.2.1', n: 3, from: 'a' })), {
    t: 'ce',
    ip: '192.0.2.1',
    n: 3,
    from: 'a',
  });
  assert.deepEqual(
    parseFleetMessage(JSON.stringify({ t: 'block', block: { ...block, until: undefined }, from: 'a' })),
    {
      t: 'block',
      block,
      from: 'a',
    },
  );
  for (const junk of [
    'not json',
    '{}',
    JSON.stringify({ t: 'ce', ip: '192.0.2.1', n: -1, from: 'a' }),
    JSON.stringify({ t: 'ce', ip: '192.0.2.1', n: 1.5, from: 'a' }),
    JSON.stringify({ t: 'block', block: { ...block, reason: 'because' }, from: 'a' }),
    JSON.stringify({ t: 'drop-table', from: 'a' }),
    JSON.stringify({ t: 'cc', k: 'x'.repeat(601), n: 1, from: 'a' }),
  ]) {
    assert.equal(parseFleetMessage(junk), null, junk.slice(0, 60));
  }
  assert.deepEqual(parseBlock(JSON.stringify(block)), block);
  assert.equal(parseBlock(null), null);
  assert.equal(parseBlock('{"ip":1}'), null);
});

test('keys carry the namespace in a Cluster hash tag, and patterns match only their kind', () => {
  const k = fleetKeys('prod');
  assert.equal(k.block('2001:db8::1'), 'moat:{prod}:block:2001:db8::1');
  assert.equal(k.failedLogins("'app'@'10.0.0.1'"), "moat:{prod}:cc:'app'@'10.0.0.1'");
  assert.equal(k.pattern('ce'), 'moat:{prod}:ce:*');
  assert.equal(k.prefix('ledger'), 'moat:{prod}:ledger:');
  assert.equal(k.channel, 'moat:{prod}:events');
});
