// The guard's pure parts: MySQL's connection-control formula and its edges, the ledger's bound
// and failure arithmetic, block expiry and the exempt list, failure classification.
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Blocker } from '../../src/guard/blocker.ts';
import { ConnectionControl, INT_MAX } from '../../src/guard/connection-control.ts';
import { countOf, HostLedger } from '../../src/guard/ledger.ts';
import { classify, countsAsConnectError } from '../../src/model/failure.ts';

describe('connection control', () => {
  test("MySQL's formula: (failures + 1 - threshold) s, clamped to [min, max]", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1000, max: 10_000 }),
        fc.integer({ min: 0, max: 30_000 }),
        (threshold, failures, min, extra) => {
          const max = min + extra;
          const cc = new ConnectionControl(
            { threshold, minDelayMs: min, maxDelayMs: max, perHostThreshold: 0 },
            100,
          );
          for (let i = 0; i < failures; i++) cc.failed('u', 'h');
          const want =
            failures < threshold ? 0 : Math.min(Math.max((failures + 1 - threshold) * 1000, min), max);
          assert.equal(cc.delayFor('u', 'h'), want);
        },
      ),
    );
  });

  test('success clears one entry; a threshold change clears all; threshold 0 is off', () => {
    const cc = new ConnectionControl(
      { threshold: 1, minDelayMs: 1000, maxDelayMs: INT_MAX, perHostThreshold: 0 },
      100,
    );
    cc.failed('a', 'h1');
    cc.failed('b', 'h2');
    assert.deepEqual(
      cc.entries().map((e) => e.userHost),
      ["'a'@'h1'", "'b'@'h2'"],
    );
    cc.succeeded('a', 'h1');
    assert.equal(cc.delayFor('a', 'h1'), 0);
    assert.equal(cc.delayFor('b', 'h2'), 1000);
    cc.update({ threshold: 2 });
    assert.deepEqual(cc.entries(), []);
    cc.update({ threshold: 0 });
    for (let i = 0; i < 5; i++) cc.failed('b', 'h2');
    assert.equal(cc.delayFor('b', 'h2'), 0);
  });

  test('bounded: the least recently failed entry goes', () => {
    const cc = new ConnectionControl(
      { threshold: 1, minDelayMs: 1000, maxDelayMs: 2000, perHostThreshold: 0 },
      2,
    );
    cc.failed('a', 'h');
    cc.failed('b', 'h');
    cc.failed('a', 'h');
    cc.failed('c', 'h');
    assert.deepEqual(
      cc.entries().map((e) => e.userHost),
      ["'a'@'h'", "'c'@'h'"],
    );
  });
});

describe('ledger', () => {
  test('only handshake and TLS failures count towards max_connect_errors; success resets', () => {
    const l = new HostLedger(10);
    l.failure('1.1.1.1', 'authentication', 1);
    l.failure('1.1.1.1', 'handshake', 2);
    l.failure('1.1.1.1', 'ssl', 3);
    const r = l.get('1.1.1.1')!;
    assert.equal(r.sumConnectErrors, 2);
    assert.equal(countOf(r, 'authentication'), 1);
    assert.equal(r.firstErrorSeen, 1);
    assert.equal(r.lastErrorSeen, 3);
    l.success('1.1.1.1', 4);
    assert.equal(r.sumConnectErrors, 0);
    assert.equal(countOf(r, 'handshake'), 1, 'the history stays');
  });

  test('never more rows than the bound; hosts with live connections are kept first', () => {
    const l = new HostLedger(3);
    l.connected('10.0.0.1', 1);
    for (let i = 2; i <= 10; i++) l.touch(`10.0.0.${i}`, i);
    assert.equal(l.size, 3);
    assert.ok(l.get('10.0.0.1') !== undefined, 'the connected host stays');
    assert.ok(l.get('10.0.0.10') !== undefined);
  });

  test('FLUSH HOSTS drops the history but keeps live connection counts', () => {
    const l = new HostLedger(10);
    l.connected('10.0.0.1', 1);
    l.failure('10.0.0.1', 'handshake', 2);
    l.failure('10.0.0.2', 'handshake', 2);
    l.flush();
    assert.equal(l.get('10.0.0.2'), undefined);
    assert.equal(l.get('10.0.0.1')?.currentConnections, 1);
    assert.equal(l.get('10.0.0.1')?.sumConnectErrors, 0);
  });
});

describe('blocker', () => {
  test('expiry lifts a block and reports it; exempt networks refuse blocks', () => {
    const exempt = new BlockList();
    exempt.addSubnet('10.9.0.0', 16, 'ipv4');
    const b = new Blocker(exempt);
    const lifted: string[] = [];
    b.onUnblock = (x, why) => lifted.push(`${x.ip} ${why}`);
    b.block('10.0.0.1', 'manual', 'dba', 1000, 0);
    b.block('10.0.0.2', 'max_connect_errors', 'moat', null, 0);
    assert.ok(b.blocked('10.0.0.1', 999) !== null);
    assert.equal(b.blocked('10.0.0.1', 1000), null);
    assert.deepEqual(lifted, ['10.0.0.1 expired']);
    b.flushAutomatic();
    assert.equal(b.blocked('10.0.0.2', 0), null);
    assert.throws(() => b.block('10.9.1.1', 'manual', 'dba', null, 0), { code: 'MOAT_HOST_EXEMPT' });
  });
});

describe('failure classes', () => {
  test('server codes map to host_cache columns', () => {
    assert.equal(classify('auth-denied', 1045), 'authentication');
    assert.equal(classify('auth-denied', 1049), 'default-database');
    assert.equal(classify('auth-denied', 1044), 'default-database');
    assert.equal(classify('auth-denied', 1203), 'max-user-connections');
    assert.equal(classify('auth-denied', 1226), 'max-user-connections-per-hour');
    assert.equal(classify('timeout', 1159), 'handshake');
    assert.equal(classify('blocked', 1129), 'host-blocked');
    assert.equal(classify('acl-denied', 1130), 'host-acl');
    assert.equal(classify('backend-unreachable', 2003), 'local');
    assert.equal(classify('ok', 0), null);
    assert.ok(countsAsConnectError('handshake'));
    assert.ok(!countsAsConnectError('authentication'));
  });
});
