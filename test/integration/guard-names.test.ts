// TCP-wrappers files and reverse DNS at admission, against a SCRIPTED DNS server
// (test/harness/scripted-dns.ts: a hanging resolver cannot otherwise be arranged here). Address
// patterns decide without waiting for DNS even while the server hangs; hostname patterns wait at
// most guard.resolve.timeoutMs; the ledger gets HOST and the DNS failure classes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { countOf } from '../../src/guard/ledger.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { ScriptedDns } from '../harness/scripted-dns.ts';

const backend = testBackend();
const dir = mkdtempSync(join(tmpdir(), 'moat-names-'));
const dns = new ScriptedDns();
let moat: RunningMoat;

before(async () => {
  await dns.start();
  dns.onPtr('127.0.2.10', { records: ['db1.trusted.example'] });
  dns.on('A', 'db1.trusted.example', { records: ['127.0.2.10'] });
  dns.onPtr('127.0.2.11', { hang: true });
  dns.onPtr('127.0.2.12', { records: ['liar.trusted.example'] });
  dns.on('A', 'liar.trusted.example', { records: ['192.0.2.1'] });
  dns.onPtr('127.0.2.20', { hang: true });
  writeFileSync(join(dir, 'hosts.allow'), 'mysqld: 127.0.0.1 127.0.2.20\nmysqld: .trusted.example\n');
  writeFileSync(join(dir, 'hosts.deny'), 'ALL: ALL\n');
  moat = await startMoat(backend, {
    guard: {
      tcpWrappers: { allow: join(dir, 'hosts.allow'), deny: join(dir, 'hosts.deny') },
      resolve: { enabled: true, servers: [dns.server], timeoutMs: 300 },
    },
  });
});

after(async () => {
  await moat.stop();
  await dns.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function attempt(from: string): Promise<{ code: number; ms: number }> {
  const t = performance.now();
  try {
    const c = await mysql.createConnection({
      host: moat.host,
      port: moat.port,
      stream: netConnect({ host: moat.host, port: moat.port, localAddress: from }),
      user: backend.users.app.user,
      password: backend.users.app.password,
    });
    await c.end();
    return { code: 0, ms: performance.now() - t };
  } catch (e) {
    return { code: (e as { errno?: number }).errno ?? -1, ms: performance.now() - t };
  }
}

test('an address pattern admits at once while DNS hangs for that address', async () => {
  const r = await attempt('127.0.2.20');
  assert.equal(r.code, 0);
  assert.ok(r.ms < 250, `admitted in ${Math.round(r.ms)} ms, not after the 300 ms DNS timeout`);
});

test('a forward-confirmed name matches .trusted.example; the ledger shows it', async () => {
  assert.equal((await attempt('127.0.2.10')).code, 0);
  const row = moat.gateway.guard.ledger.get('127.0.2.10');
  assert.equal(row?.host, 'db1.trusted.example');
  assert.equal(row?.hostValidated, true);
});

test('a name that does not confirm is no name: denied by ALL, counted as an FCrDNS error', async () => {
  assert.equal((await attempt('127.0.2.12')).code, 1130);
  const row = moat.gateway.guard.ledger.get('127.0.2.12');
  assert.equal(row?.host, null);
  assert.equal(countOf(row!, 'fcrdns'), 1);
  assert.equal(countOf(row!, 'host-acl'), 1);
});

test('a hanging DNS server costs a hostname rule at most the timeout, then no-name applies', async () => {
  const r = await attempt('127.0.2.11');
  assert.equal(r.code, 1130);
  assert.ok(r.ms >= 250 && r.ms < 1500, `refused after ${Math.round(r.ms)} ms (timeout 300 ms)`);
  const row = moat.gateway.guard.ledger.get('127.0.2.11');
  assert.equal(countOf(row!, 'nameinfo-transient'), 1);
  assert.equal(row?.hostValidated, false);
});
