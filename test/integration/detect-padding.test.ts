// Long-statement evasion (issue 16 item 6), through a running moat, a real MariaDB and mysql2:
// an attack after a 5,000-character comment is seen whole by detection (moat captures 64 KiB)
// while its audit record keeps 4,096 characters and says it was cut, with the statement's whole
// length, in the JSON lines and in the Enterprise XML; an attack padded past the capture limit
// raises statement-truncated, so padding never hides one.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import type { AuditEvent } from '../../src/audit/event.ts';
import { XML_FOOTER } from '../../src/audit/sinks/xml.ts';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';
import { parseXml } from '../unit/audit-helpers.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const ATTACK = 'SELECT name FROM t WHERE id = 1 UNION SELECT NULL,NULL,NULL -- ';

test('an attack after a 5,000-character comment raises an Alert; its audit record says it was cut', async () => {
  const moat = await startMoat(backend, {
    audit: {
      flushIntervalMs: 20,
      sinks: [
        { type: 'json', path: 'audit.log' },
        { type: 'xml', path: 'audit.xml' },
      ],
    },
  });
  try {
    const c = await mysql.createConnection({ ...app, host: moat.host, port: moat.port });
    const padded = `/* ${'x'.repeat(5000)} */ ${ATTACK}`;
    await assert.rejects(c.query(padded), (e: Error & { errno?: number }) => e.errno === 1222);
    // Past the 64 KiB capture: what follows the cut is never seen, and that is the finding.
    const beyond = `/* ${'y'.repeat(70_000)} */ ${ATTACK}`;
    await assert.rejects(c.query(beyond), (e: Error & { errno?: number }) => e.errno === 1222);
    await c.end();
    await moat.gateway.audit!.flush();

    const records = readFileSync(join(moat.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const alerts = records.filter((e) => e.name === 'Alert');
    assert.ok(
      alerts.some((a) => a.outcome?.startsWith('union-probe/')),
      `no union-probe alert: ${JSON.stringify(alerts.map((a) => a.outcome))}`,
    );
    assert.ok(
      alerts.some(
        (a) => a.outcome?.startsWith('statement-truncated/') && /70\d{3} bytes/.test(a.message ?? ''),
      ),
      `no statement-truncated alert: ${JSON.stringify(alerts.map((a) => [a.outcome, a.message]))}`,
    );
    const queries = records.filter((e) => e.name === 'Query' && e.statement?.startsWith('/*'));
    assert.equal(
      queries.length,
      2,
      JSON.stringify(queries.map((q) => [q.command, q.statement?.slice(0, 20), q.status])),
    );
    for (const [q, sent] of [
      [queries[0]!, Buffer.byteLength(padded)],
      [queries[1]!, Buffer.byteLength(beyond)],
    ] as const) {
      assert.equal(q.statement!.length, 4096, 'the record keeps audit.maxStatementLength');
      assert.equal(q.statementTruncated, true);
      assert.equal(q.statementLength, sent);
    }
    // Short statements say nothing of the kind.
    const connect = records.find((e) => e.name === 'Connect')!;
    assert.equal(connect.statementTruncated, false);
    assert.equal(connect.statementLength, null);

    // The live file gets its </AUDIT> at close; a copy with it is read now.
    const copy = join(moat.stateDir, 'copy.xml');
    writeFileSync(copy, readFileSync(join(moat.stateDir, 'audit.xml'), 'utf8') + XML_FOOTER);
    const xml = parseXml(copy).filter((r) => r.NAME === 'Query' && r.SQLTEXT?.startsWith('/*'));
    assert.equal(xml.length, 2);
    assert.equal(xml[0]!.SQLTEXT_TRUNCATED, 'true');
    assert.equal(xml[0]!.SQLTEXT_LENGTH, String(Buffer.byteLength(padded)));
    assert.equal(xml[0]!.SQLTEXT!.length, 4096);
  } finally {
    await moat.stop();
  }
});
