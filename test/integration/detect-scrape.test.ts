// A /metrics scrape must not touch detection state (issue 13, item 7): the live-bytes gauge once
// called detector.sessionEnded() for every live session, so each scrape wiped every session's
// windows and an attacker who spread errors across scrapes was never counted.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';

const backend = testBackend();
const TOKEN = 'scrape-token-0123456789';

test('errors spread across /metrics scrapes still reach the session threshold', async () => {
  const moat = await startMoat(backend, {
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
    detect: { rules: { 'sql-errors': { sessionThreshold: 4, actions: ['alert', 'kill'] } } },
  });
  try {
    const a = moat.gateway.httpAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    const scrape = async () => {
      const res = await fetch(`http://${a.host}:${a.port}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /moat_/);
    };
    const c = await mysql.createConnection({
      ...backend.users.app,
      database: backend.database,
      host: moat.host,
      port: moat.port,
    });
    c.on('error', () => {});
    for (let i = 0; i < 6; i++) {
      const r = await c.query(`SELECT guess_${i} FROM t`).catch((e: Error) => e);
      assert.ok(r instanceof Error);
      if (/closed|lost/i.test(r.message)) break;
      await scrape();
    }
    await assert.rejects(c.query('SELECT 1'), 'the session was killed at the fourth error');
    assert.equal(moat.gateway.detector?.stats().findings['sql-errors'], 1);
  } finally {
    await moat.stop();
  }
});
