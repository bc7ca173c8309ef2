// admin.allowFrom refusals are audited and counted like the gateway's address rules (issue 15):
// the client gets 1130 before any greeting, the audit log a Connect record with status 1130;
// no delay follows from them (the twelve below are all answered at once with 1130).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativePasswordHash } from '../../src/admin/password.ts';
import { testBackend } from '../harness/env.ts';
import { connectFrom } from '../harness/hosts.ts';
import { startMoat } from '../harness/moat.ts';
import { eventually } from '../harness/poll.ts';
import { parseErr, RawClient } from '../harness/raw-mysql.ts';

const backend = testBackend();

test('a connection from outside admin.allowFrom: 1130 and a Connect record', async () => {
  const moat = await startMoat(backend, {
    admin: {
      listen: '127.0.0.1:0',
      allowFrom: ['127.0.0.1/32'],
      users: [{ user: 'dba', passwordHash: nativePasswordHash('dba-pw') }],
    },
    audit: { flushIntervalMs: 20, sinks: [{ type: 'json', path: 'audit.log' }] },
  });
  try {
    const a = moat.gateway.adminAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    for (let i = 0; i < 12; i++) {
      const c = RawClient.wrap(connectFrom({ host: a.host, port: a.port }, '127.0.0.78'));
      try {
        const err = parseErr((await c.readPacket(3000)).payload);
        assert.equal(err.code, 1130);
      } finally {
        c.destroy();
      }
    }
    const file = join(moat.stateDir, 'audit.log');
    await eventually('the audit records', () => {
      try {
        return readFileSync(file, 'utf8').includes('admin:acl-denied');
      } catch {
        return false;
      }
    });
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; status: number; outcome: string; ip: string });
    const refused = records.filter((r) => r.outcome === 'admin:acl-denied');
    assert.ok(
      refused.length >= 1 &&
        refused.every((r) => r.name === 'Connect' && r.status === 1130 && r.ip === '127.0.0.78'),
    );
  } finally {
    await moat.stop();
  }
});
