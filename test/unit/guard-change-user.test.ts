// A COM_CHANGE_USER to the user the session already is proves nothing: it does not clear the
// address's failed logins (a sprayer holding one session must not reset its count between guesses),
// while a change to another user that succeeds does, as a login would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { validateConfig } from '../../src/config/load.ts';
import { type Admission, Guard } from '../../src/guard/guard.ts';

const config = validateConfig(
  {
    listeners: [{ address: '127.0.0.1:3307' }],
    backend: { address: '127.0.0.1:3306' },
    guard: { connection_control_failed_connections_threshold_per_host: 5 },
  },
  'test',
);

test("a change of user forgives only the new user's own failures from the address", () => {
  const g = new Guard(config.guard, pino({ level: 'silent' }));
  const a: Admission = { ip: '127.0.0.71', local: false, listener: 'l' };
  const fail = (user: string) => {
    assert.equal(g.admit(a), null);
    g.identify(user, a, { secure: false, cipher: null, verified: false, subject: null, issuer: null });
    g.finished(a, user, 'auth-denied', 1045);
  };
  for (const u of ['u1', 'u2', 'u3', 'u4']) fail(u);
  const before = g.connectionControl.hostFailuresOf('127.0.0.71');
  assert.equal(before, 4);
  g.changeUser('app', 'app', a, 'ok', 0);
  assert.equal(g.connectionControl.hostFailuresOf('127.0.0.71'), 4, 'unchanged by a change to oneself');
  g.changeUser('app', 'other', a, 'ok', 0);
  assert.equal(
    g.connectionControl.hostFailuresOf('127.0.0.71'),
    4,
    'a user that never failed forgives nothing',
  );
  g.changeUser('other', 'u2', a, 'ok', 0);
  assert.equal(g.connectionControl.hostFailuresOf('127.0.0.71'), 3, "u2's own failure is forgiven");
});
