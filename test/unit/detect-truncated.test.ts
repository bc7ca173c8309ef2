// The statement-truncated rule and the audit's own cut (issue 16 item 6): a statement longer than
// moat captures is a finding of its own, once per window per session, exempt users aside; the
// audit record keeps audit.maxStatementLength characters, redacted before the cut, never half a
// surrogate pair, and says it was cut with the statement's whole length.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { fromCommand } from '../../src/audit/from-events.ts';
import { type DetectConfigInput, detectConfigSchema } from '../../src/detect/config.ts';
import { Detector } from '../../src/detect/detector.ts';
import { event as auditEvent, capturingLogger, config, tempDir } from './audit-helpers.ts';
import { Clock, event, feed } from './detect-fixtures.ts';

function detector(config: DetectConfigInput = {}) {
  const clock = new Clock();
  return { d: new Detector(detectConfigSchema.parse(config), clock.now), clock };
}

const cut = (over: Parameters<typeof event>[0]) =>
  event({ statementTruncated: true, statementBytes: 70_000, ...over });

describe('statement-truncated', () => {
  test('a statement cut at the capture limit is a finding, once per window per session', () => {
    const { d, clock } = detector();
    const padding = `/* ${'x'.repeat(200)}`;
    const findings = feed(d, clock, [
      cut({ statement: padding }),
      cut({ statement: padding }),
      cut({ session: 2, statement: padding }),
      event({ statement: 'SELECT 1' }),
    ]);
    const mine = findings.filter((f) => f.rule === 'statement-truncated');
    assert.deepEqual(
      mine.map((f) => f.session),
      [1, 2],
    );
    assert.equal(mine[0]!.score, 60);
    assert.equal(mine[0]!.severity, 'medium');
    assert.match(mine[0]!.reason, /statement of 70000 bytes cut at 203 captured/);
    clock.t += 61_000;
    assert.equal(feed(d, clock, [cut({ statement: padding })]).length, 1, 'again after the window');
  });

  test('exempt users, a disabled rule and a configured score', () => {
    const { d, clock } = detector({
      rules: { 'statement-truncated': { exemptUsers: ['etl%'], score: 80, severity: 'high' } },
    });
    assert.equal(
      feed(d, clock, [cut({ user: 'etl_loader', statement: 'UPDATE t SET a = 1 WHERE id = 2' })]).length,
      0,
    );
    const [f] = feed(d, clock, [cut({ statement: 'UPDATE t SET a = 1 WHERE id = 2' })]);
    assert.equal(f?.score, 80);
    assert.equal(f?.severity, 'high');
    const off = detector({ rules: { 'statement-truncated': { enabled: false } } });
    assert.equal(feed(off.d, off.clock, [cut({ statement: 'SELECT 1' })]).length, 0);
  });

  test('a cut statement fires again in every window (never taken for a clean one)', () => {
    const { d, clock } = detector({ windowSeconds: 1 });
    for (let i = 0; i < 3; i++) {
      assert.equal(feed(d, clock, [cut({ statement: 'SELECT 1 /* pad' })]).length, 1);
      clock.t += 2000;
    }
  });
});

describe('the audit record of a long statement', () => {
  async function recorded(t: { after: (fn: () => void) => void }, events: AuditEvent[], max = 100) {
    const dir = tempDir(t);
    const { log } = capturingLogger();
    const audit = new AuditLog(
      config({ maxStatementLength: max, sinks: [{ type: 'json', path: 'a.log' }] }),
      log,
      {
        baseDir: dir,
      },
    );
    await audit.start();
    for (const e of events) audit.record(e);
    await audit.close();
    return readFileSync(join(dir, 'a.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
  }

  test('is cut to audit.maxStatementLength and says so, with its length', async (t) => {
    const long = `SELECT '${'é'.repeat(200)}'`;
    const [r] = await recorded(t, [auditEvent('Query', { statement: long })]);
    assert.equal(r!.statement, long.slice(0, 100));
    assert.equal(r!.statementTruncated, true);
    assert.equal(r!.statementLength, Buffer.byteLength(long));
  });

  test('a short one is left whole and says nothing', async (t) => {
    const [r] = await recorded(t, [auditEvent('Query', { statement: 'SELECT 1' })]);
    assert.equal(r!.statement, 'SELECT 1');
    assert.equal(r!.statementTruncated, false);
    assert.equal(r!.statementLength, null);
  });

  test('redacted before the cut: the cut never falls inside a password', async (t) => {
    const pw = 'Pw'.repeat(60);
    const stmt = `CREATE USER a IDENTIFIED BY '${pw}' PASSWORD EXPIRE`;
    const [r] = await recorded(t, [auditEvent('Query', { statement: stmt })], 64);
    assert.equal(r!.statement, "CREATE USER a IDENTIFIED BY '***' PASSWORD EXPIRE");
    const [s] = await recorded(t, [auditEvent('Query', { statement: `${stmt} ${'x'.repeat(100)}` })], 64);
    assert.ok(!s!.statement!.includes('Pw'), s!.statement!);
    assert.equal(s!.statementTruncated, true);
  });

  test('never half a surrogate pair', async (t) => {
    const [r] = await recorded(t, [auditEvent('Query', { statement: `${'a'.repeat(99)}😀😀😀` })]);
    assert.equal(r!.statement, 'a'.repeat(99));
  });

  test('a statement cut at capture keeps the length the client sent', () => {
    const e = fromCommand({ ...cut({ statement: 'SELECT 1 /* pad' }), statementBytes: 123_456 }, 'test');
    assert.equal(e.statementTruncated, true);
    assert.equal(e.statementLength, 123_456);
  });
});
