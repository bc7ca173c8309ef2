// reload.ts: every changed key is either applied or named as needing a restart, down to the
// changed sub-key of a restart-only section.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planReload, RELOAD_EFFECT } from '../../src/app/reload.ts';
import { mergeConfig, validateConfig } from '../../src/config/load.ts';

const base = { listeners: [{ address: '127.0.0.1:3307' }], backend: { address: '127.0.0.1:3306' } };
const config = (over: Record<string, unknown> = {}) => validateConfig(mergeConfig(base, over), 'test');

test('each kind of change lands in the right list', () => {
  const cases: Array<[Record<string, unknown>, string[], string[]]> = [
    [{}, [], []],
    [{ log: { level: 'debug' } }, ['log'], []],
    [{ localInfile: true }, ['localInfile'], []],
    [{ limits: { handshakeTimeoutMs: 1234 } }, ['limits'], []],
    [{ detect: { enabled: false } }, ['detect'], []],
    [{ guard: { max_connect_errors: 7 } }, ['guard'], []],
    [{ audit: { sinks: [{ type: 'json', path: 'x.log' }] } }, [], ['audit.sinks']],
    [{ backend: { address: '127.0.0.1:3316' } }, [], ['backend.address']],
    [{ greeting: { serverVersion: '8.0.0-x' } }, [], ['greeting.serverVersion']],
    [{ stateDir: '/tmp/elsewhere' }, [], ['stateDir']],
    [{ listeners: [{ address: '127.0.0.1:3307', access: { default: 'deny' } }] }, ['listeners.access'], []],
    [{ listeners: [{ address: '127.0.0.1:3308' }] }, [], ['listeners']],
  ];
  for (const [over, applied, restart] of cases) {
    const r = planReload(config(), config(over));
    assert.deepEqual(r, { applied, needsRestart: restart }, JSON.stringify(over));
  }
});

test('the table covers every top-level key of a parsed configuration', () => {
  assert.deepEqual(Object.keys(RELOAD_EFFECT).sort(), Object.keys(config()).sort());
});
