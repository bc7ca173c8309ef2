// Connection control beyond MySQL's per-account count: eviction that spares the entries under
// delay, and the count per address across user names (password spraying).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionControl, FailureTable, INT_MAX } from '../../src/guard/connection-control.ts';

const settings = { threshold: 3, minDelayMs: 1000, maxDelayMs: INT_MAX, perHostThreshold: 0 };

describe('eviction when the table is full', () => {
  test('failures of others never reset a delayed entry while entries below the threshold remain', () => {
    const cc = new ConnectionControl(settings, 16);
    for (let i = 0; i < 3; i++) cc.failed('victim', '10.0.0.1');
    assert.equal(cc.delayFor('victim', '10.0.0.1'), 1000);
    for (let i = 0; i < 15; i++) cc.failed(`other${i}`, '10.0.0.2');
    // The table holds 16: the victim and 15 others; one more, and more again.
    for (let i = 15; i < 40; i++) cc.failed(`other${i}`, '10.0.0.2');
    assert.equal(cc.delayFor('victim', '10.0.0.1'), 1000, 'still under delay');
    assert.equal(cc.failuresOf('victim', '10.0.0.1'), 3);
    assert.equal(cc.entries().length, 16);
  });

  test('below the threshold: the least recently failed goes; delayed entries only when all are', () => {
    const t = new FailureTable(2, 3);
    t.set('a', 1);
    t.set('d1', 2);
    t.set('b', 1);
    assert.equal(t.set('c', 1), 'a', 'oldest below the threshold');
    assert.equal(t.set('e', 1), 'b');
    t.set('c', 2);
    t.set('e', 2);
    // Now all three are delaying: the least recently failed of them goes.
    assert.equal(t.set('f', 1), 'd1');
    assert.deepEqual(
      t
        .entries()
        .map(([k]) => k)
        .sort(),
      ['c', 'e', 'f'],
    );
  });
});

describe('failed logins per address, across users', () => {
  test('30 user names failing from one address delay its next attempt, any user; not other addresses', () => {
    const cc = new ConnectionControl({ ...settings, perHostThreshold: 20 }, 1000);
    for (let i = 0; i < 30; i++) {
      cc.failed(`user${i}`, '10.0.0.61');
      cc.hostFailed(`user${i}`, '10.0.0.61');
    }
    assert.equal(cc.hostFailuresOf('10.0.0.61'), 30);
    assert.equal(cc.hostUsersOf('10.0.0.61'), 30);
    // No account reached 3 failures: only the address's count delays, (30 + 1 − 20) s.
    assert.equal(cc.delayFor('someone-new', '10.0.0.61'), 11_000);
    assert.equal(cc.delayFor('someone-new', '10.0.0.62'), 0);
    // A success forgives its own user's failures only: one sprayed name's, never the rest.
    assert.equal(cc.hostSucceeded('someone-new', '10.0.0.61'), 0);
    assert.equal(cc.delayFor('someone-new', '10.0.0.61'), 11_000);
    assert.equal(cc.hostSucceeded('user0', '10.0.0.61'), 1);
    assert.equal(cc.hostFailuresOf('10.0.0.61'), 29);
    assert.equal(cc.hostUsersOf('10.0.0.61'), 29);
    for (let i = 1; i < 30; i++) cc.hostSucceeded(`user${i}`, '10.0.0.61');
    assert.equal(cc.hostFailuresOf('10.0.0.61'), 0);
    assert.equal(cc.delayFor('someone-new', '10.0.0.61'), 0);
  });

  test("a user's typos from an address are forgiven by that user's success, with their count", () => {
    const cc = new ConnectionControl({ ...settings, perHostThreshold: 5 }, 1000);
    const changes: Array<[string, number | null]> = [];
    cc.onChange = (k, n) => changes.push([k, n]);
    for (const u of ['alice', 'alice', 'bob', 'alice']) cc.hostFailed(u, '10.0.0.63');
    assert.equal(cc.hostFailuresOf('10.0.0.63'), 4);
    changes.length = 0;
    assert.equal(cc.hostSucceeded('alice', '10.0.0.63'), 3);
    assert.equal(cc.hostFailuresOf('10.0.0.63'), 1);
    assert.deepEqual(changes, [[ConnectionControl.hostKey('10.0.0.63'), 1]]);
    assert.equal(cc.hostSucceeded('bob', '10.0.0.63'), 1);
    assert.deepEqual(changes.at(-1), [ConnectionControl.hostKey('10.0.0.63'), null]);
  });

  test('threshold 0 is off; the shared state reaches the per-address count by its key', () => {
    const off = new ConnectionControl(settings, 10);
    assert.equal(off.hostFailed('u', 'h'), 0);
    assert.equal(off.delayFor('u', 'h'), 0);
    const cc = new ConnectionControl({ ...settings, perHostThreshold: 5 }, 10);
    cc.setShared(ConnectionControl.hostKey('2001:db8::1'), 7);
    assert.equal(cc.delayFor('x', '2001:db8::1'), 3000);
    assert.deepEqual(cc.keys(), ["@'2001:db8::1'"]);
    assert.deepEqual(cc.entries(), [], 'not an account row of CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS');
    cc.setShared(ConnectionControl.hostKey('2001:db8::1'), 0);
    assert.equal(cc.delayFor('x', '2001:db8::1'), 0);
  });
});
