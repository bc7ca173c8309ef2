// `moat audit grep` on real files: JSON lines (current and a gzipped rotation) and Enterprise
// Audit XML in its old (attributes) and new (elements) forms, every filter, every output format.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { emptyEvent } from '../../src/audit/event.ts';
import { MAIN, NODE } from '../harness/spawn-moat.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'moat-grep-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function ev(over: Record<string, unknown>) {
  return { ...emptyEvent('Query', 'test'), ...over };
}

const current = [
  ev({
    timestamp: '2026-11-23T10:00:00.000Z',
    name: 'Connect',
    status: 0,
    user: 'app',
    host: '10.0.0.5',
    ip: '10.0.0.5',
  }),
  ev({
    timestamp: '2026-11-23T10:00:01.000Z',
    status: 0,
    user: 'app',
    host: '10.0.0.5',
    statement: 'SELECT * FROM orders',
  }),
  ev({
    timestamp: '2026-11-23T10:00:02.000Z',
    status: 1146,
    user: 'app',
    host: '10.0.0.5',
    statement: 'SELECT * FROM secrets',
  }),
  ev({
    timestamp: '2026-11-23T10:00:03.000Z',
    status: 0,
    user: 'etl',
    host: '10.0.0.6',
    statement: 'INSERT INTO t VALUES (1)',
  }),
];
const rotated = [
  ev({
    timestamp: '2026-11-22T09:00:00.000Z',
    name: 'Connect',
    status: 1045,
    user: 'root',
    host: '203.0.113.9',
    ip: '203.0.113.9',
  }),
  ev({
    timestamp: '2026-11-22T09:00:01.000Z',
    status: 1064,
    user: 'app',
    host: '10.0.0.5',
    statement: "SELECT * FROM users WHERE id = '1' OR 1=1",
  }),
];
writeFileSync(join(dir, 'audit.log'), current.map((e) => `${JSON.stringify(e)}\n`).join(''));
writeFileSync(
  join(dir, 'audit.log.20261122T235959Z.gz'),
  gzipSync(rotated.map((e) => `${JSON.stringify(e)}\n`).join('')),
);
writeFileSync(
  join(dir, 'old.xml'),
  '<?xml version="1.0" encoding="UTF-8"?>\n<AUDIT>\n' +
    '<AUDIT_RECORD TIMESTAMP="2026-11-21T08:00:00 UTC" NAME="Connect" CONNECTION_ID="7" STATUS="1045" USER="admin" HOST="" IP="198.51.100.4" DB=""/>\n' +
    '</AUDIT>\n',
);
writeFileSync(
  join(dir, 'new.xml'),
  '<?xml version="1.0" encoding="utf-8"?>\n<AUDIT>\n <AUDIT_RECORD>\n  <TIMESTAMP>2026-11-21T08:00:05 UTC</TIMESTAMP>\n' +
    '  <NAME>Query</NAME>\n  <CONNECTION_ID>8</CONNECTION_ID>\n  <STATUS>1142</STATUS>\n  <USER>app</USER>\n  <HOST>10.0.0.5</HOST>\n' +
    '  <IP>10.0.0.5</IP>\n  <SQLTEXT>DELETE FROM audit_trail WHERE id &lt; 10</SQLTEXT>\n </AUDIT_RECORD>\n</AUDIT>\n',
);

async function grep(...args: string[]): Promise<string> {
  const { stdout } = await run(NODE, [MAIN, 'audit', 'grep', dir, ...args], {
    env: { PATH: process.env.PATH ?? '' },
  });
  return stdout;
}

const statements = (json: string) =>
  (JSON.parse(json) as Array<{ statement?: string; name: string }>).map((e) => e.statement ?? e.name);

test('every record of every file, rotated and gzipped and XML ones included, in time order', async () => {
  const all = JSON.parse(await grep('--format', 'json')) as Array<{ timestamp: string }>;
  assert.equal(all.length, 8);
  assert.deepEqual(
    all.map((e) => e.timestamp.slice(0, 10)),
    [
      '2026-11-21',
      '2026-11-21',
      '2026-11-22',
      '2026-11-22',
      '2026-11-23',
      '2026-11-23',
      '2026-11-23',
      '2026-11-23',
    ],
  );
});

test('--status ranges and lists, --event-type, --users, --hosts', async () => {
  assert.deepEqual(statements(await grep('--status', '1-9999', '--format', 'json')), [
    'Connect',
    'DELETE FROM audit_trail WHERE id < 10',
    'Connect',
    "SELECT * FROM users WHERE id = '1' OR 1=1",
    'SELECT * FROM secrets',
  ]);
  const denied = JSON.parse(
    await grep('--status', '1045,1130', '--event-type', 'Connect', '--format', 'json'),
  ) as Array<{ user: string }>;
  assert.deepEqual(
    denied.map((e) => e.user),
    ['admin', 'root'],
  );
  assert.deepEqual(statements(await grep('--users', 'etl', '--format', 'json')), [
    'INSERT INTO t VALUES (1)',
  ]);
  assert.equal((JSON.parse(await grep('--hosts', '203.0.113.9', '--format', 'json')) as unknown[]).length, 1);
});

test('--start-date / --end-date, --pattern LIKE and regex, --query-type', async () => {
  assert.equal(
    (JSON.parse(await grep('--start-date', '2026-11-23', '--format', 'json')) as unknown[]).length,
    4,
  );
  assert.equal(
    (JSON.parse(await grep('--end-date', '2026-11-21T23:59:59', '--format', 'json')) as unknown[]).length,
    2,
  );
  assert.deepEqual(statements(await grep('--pattern', '%secrets%', '--format', 'json')), [
    'SELECT * FROM secrets',
  ]);
  assert.deepEqual(statements(await grep('--pattern', 'OR\\s+1=1', '--regex', '--format', 'json')), [
    "SELECT * FROM users WHERE id = '1' OR 1=1",
  ]);
  assert.deepEqual(statements(await grep('--query-type', 'insert,delete', '--format', 'json')), [
    'DELETE FROM audit_trail WHERE id < 10',
    'INSERT INTO t VALUES (1)',
  ]);
});

test('grid, vertical, csv, tab and raw output', async () => {
  const grid = await grep('--users', 'etl');
  assert.match(
    grid,
    /^TIMESTAMP\s+NAME\s+CONNECTIONID\s+STATUS\s+USER\s+HOST\s+DB\s+STATEMENT\n2026-11-23T10:00:03\.000Z\s+Query\s+0\s+0\s+etl/,
  );
  assert.match(
    await grep('--users', 'etl', '--format', 'vertical'),
    /\*+ 1\. row \*+\n\s+timestamp: 2026-11-23T10:00:03\.000Z\n/,
  );
  assert.match(
    await grep('--users', 'etl', '--format', 'csv'),
    /^timestamp,name,connectionId,status,user,host,db,statement\n2026-11-23T10:00:03\.000Z,Query,0,0,etl,10\.0\.0\.6,,INSERT INTO t VALUES \(1\)\n$/,
  );
  assert.match(
    await grep('--users', 'etl', '--format', 'tab'),
    /\tetl\t10\.0\.0\.6\t\tINSERT INTO t VALUES \(1\)\n$/,
  );
  assert.equal(JSON.parse((await grep('--users', 'etl', '--format', 'raw')).trim()).user, 'etl');
});

test('a bad --status says which part', async () => {
  await assert.rejects(grep('--status', '10x'), (e: Error & { stderr?: string }) =>
    /'10x' is not a code or a range/.test(String(e.stderr)),
  );
});
