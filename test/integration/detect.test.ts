// Detection through a running moat and a real MariaDB: a scripted attack session (error-based
// probing, UNION column counting, a tautology) raises findings that reach the audit log as Alert
// records and act as configured (kill the session, block the address); ordinary application
// statements raise nothing. (test/unit/detect-*.test.ts covers each rule in depth.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import type { AuditEvent } from '../../src/audit/event.ts';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };

test('an attack session raises findings, is killed and its address blocked; application traffic raises nothing', async () => {
  const moat = await startMoat(backend, {
    detect: {
      rules: {
        'sql-errors': { sessionThreshold: 5, actions: ['alert', 'kill'] },
        'union-probe': { actions: ['alert', 'block'], blockSeconds: 60 },
      },
    },
  });
  try {
    const connect = (from: string) =>
      mysql.createConnection({
        ...app,
        host: moat.host,
        port: moat.port,
        stream: netConnect({ host: moat.host, port: moat.port, localAddress: from }),
      });
    // Ordinary traffic first, from its own host: nothing may fire.
    const good = await connect('127.0.8.1');
    for (let i = 1; i <= 200; i++) {
      await good.query('SELECT id, name FROM t WHERE id = ?', [i % 3]);
      if (i % 20 === 0) await good.query('BEGIN');
      if (i % 20 === 0) await good.query('COMMIT');
    }
    await good.query('SELECT COUNT(*) FROM t');
    await good.end();
    await moat.gateway.audit!.flush();

    // An attacker: a UNION probe (blocks the address), then error-based probing (kills the session).
    const bad = await connect('127.0.8.2');
    bad.on('error', () => {});
    await assert.rejects(bad.query('SELECT name FROM t WHERE id = 1 UNION SELECT NULL,NULL,NULL -- '));
    // Error-based probing: distinct failing statements (a repeated one counts once).
    for (let i = 0; i < 8; i++) {
      const r = await bad.query(`SELECT guess_${i} FROM t`).catch((e: Error) => e);
      if (r instanceof Error && /closed|lost/i.test(r.message)) break;
    }
    await assert.rejects(bad.query('SELECT 1'), 'the session was killed');
    assert.ok(moat.gateway.guard.blocker.blocked('127.0.8.2', Date.now()) !== null, 'the address is blocked');
    await assert.rejects(connect('127.0.8.2'), (e: Error & { errno?: number }) => e.errno === 1129);
    assert.equal(
      await connect('127.0.8.3')
        .then((c) => c.end())
        .then(() => 0),
      0,
      'others still get in',
    );

    await moat.gateway.audit!.flush();
    const alerts = readFileSync(join(moat.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.name === 'Alert');
    assert.ok(alerts.length >= 2, JSON.stringify(alerts));
    assert.ok(
      alerts.every((a) => a.ip === '127.0.8.2'),
      'no alert for the application host',
    );
    assert.ok(alerts.some((a) => a.outcome?.startsWith('union-probe/')));
    assert.ok(alerts.some((a) => a.outcome?.startsWith('sql-errors/')));
  } finally {
    await moat.stop();
  }
});
