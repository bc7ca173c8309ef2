// A COM_CHANGE_USER to the user the session already is proves nothing: it does not clear the
// address's failed logins (a sprayer holding one session must not reset its count between guesses),
// while a change to another user forgives that user's own failures, as a login would. And the
// connection limits hold at the backend's OK, for logins that waited out a delay meanwhile.
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

test('max_connections holds at the OK for a login that waited out its delay outside the count', () => {
  const g = new Guard(
    validateConfig(
      {
        listeners: [{ address: '127.0.0.1:3307' }],
        backend: { address: '127.0.0.1:3306' },
        guard: { max_connections: 1, connection_control_failed_connections_threshold: 1 },
      },
      'test',
    ).guard,
    pino({ level: 'silent' }),
  );
  const tls = { secure: false, cipher: null, verified: false, subject: null, issuer: null };
  const a: Admission = { ip: '127.0.0.72', local: false, listener: 'l' };
  assert.equal(g.admit(a), null);
  g.identify('u', a, tls);
  g.finished(a, 'u', 'auth-denied', 1045);
  // The next attempt as u waits; parked, it is out of the count while it does.
  const late: Admission = { ip: '127.0.0.72', local: false, listener: 'l' };
  assert.equal(g.admit(late), null);
  assert.ok(g.identify('u', late, tls).delayMs > 0);
  const other: Admission = { ip: '127.0.0.73', local: false, listener: 'l' };
  assert.equal(g.admit(other), null, 'the parked login does not fill the one place');
  assert.equal(g.identify('v', other, tls).refusal, null);
  assert.equal(g.claimUserConnection(other, 'v', null), null);
  g.finished(other, 'v', 'ok', 0);
  g.unpark(late);
  // Its password was right, but the one place is taken by now.
  assert.equal(g.claimUserConnection(late, 'u', null)?.error.code, 1040);
  g.finished(late, 'u', 'too-many-connections', 1040);
  assert.equal(g.status.Threads_connected, 1);
});
