// The `detect` configuration section: production defaults (every rule on, alert only), strict
// keys, and the bounds that keep a typo from turning a rule into a denial of service.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { detectConfigSchema, RULES } from '../../src/detect/config.ts';

describe('detect config', () => {
  test('defaults: enabled, every rule alert-only, thresholds as documented', () => {
    const c = detectConfigSchema.parse({});
    assert.equal(c.enabled, true);
    assert.equal(c.windowSeconds, 60);
    assert.deepEqual(Object.keys(c.rules), [...RULES]);
    for (const name of RULES) {
      const r = c.rules[name];
      assert.equal(r.enabled, true, name);
      assert.deepEqual(r.actions, ['alert'], name);
      assert.equal(r.blockSeconds, 600, name);
      assert.deepEqual(r.exemptUsers, [], name);
    }
    assert.equal(c.rules['sql-errors'].sessionThreshold, 10);
    assert.equal(c.rules['sql-errors'].addressThreshold, 20);
    assert.equal(c.rules['access-denied'].sessionThreshold, 5);
    assert.equal(c.rules['access-denied'].addressThreshold, 10);
    assert.equal(c.rules['union-probe'].minScore, 50);
    assert.equal(c.rules['union-probe'].severity, 'high');
    assert.equal(c.rules['schema-enumeration'].severity, 'medium');
    assert.equal(c.rules['new-table'].severity, 'low');
    assert.equal(c.rules['new-table'].learnStatements, 1000);
    assert.equal(c.rules['new-table'].learnSeconds, 3600);
  });

  test('a rule can be given kill and block, and the rest keep their defaults', () => {
    const c = detectConfigSchema.parse({
      rules: { 'union-probe': { actions: ['alert', 'kill', 'block'], blockSeconds: 3600 } },
    });
    assert.deepEqual(c.rules['union-probe'].actions, ['alert', 'kill', 'block']);
    assert.equal(c.rules['union-probe'].blockSeconds, 3600);
    assert.equal(c.rules['union-probe'].minScore, 50);
    assert.deepEqual(c.rules.tautology.actions, ['alert']);
  });

  test('rejects unknown keys, unknown actions, empty action lists and out-of-range numbers', () => {
    const bad: unknown[] = [
      { rules: { 'no-such-rule': {} } },
      { rules: { tautology: { threshold: 3 } } },
      { rules: { tautology: { actions: ['ban'] } } },
      { rules: { tautology: { actions: [] } } },
      { rules: { tautology: { minScore: 0 } } },
      { rules: { 'sql-errors': { sessionThreshold: -1 } } },
      { windowSeconds: 0 },
      { maxAddresses: 0 },
      { typo: true },
    ];
    for (const input of bad)
      assert.equal(detectConfigSchema.safeParse(input).success, false, JSON.stringify(input));
  });
});
