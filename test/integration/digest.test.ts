// Statement digests through a running gateway: text statements (mysql2) and prepared ones
// (digested once at PREPARE, every EXECUTE counted under it), performance_schema.
// events_statements_summary_by_digest and moat.statements_by_digest_by_account read with the
// mariadb CLI on the admin port, the table's bound (the NULL row), TRUNCATE (and 1227 for a
// readonly account), and the digest in the JSON and XML audit records.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { nativePasswordHash } from '../../src/admin/password.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { testBackend } from '../harness/env.ts';
import { mysqlFrom } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const run = promisify(execFile);
const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const ACCOUNTS = [
  { user: 'dba', passwordHash: nativePasswordHash('dba-pw') },
  { user: 'watcher', passwordHash: nativePasswordHash('watch-pw'), role: 'readonly' },
];

async function startWithAdmin(overrides: Record<string, unknown> = {}): Promise<RunningMoat> {
  return startMoat(backend, {
    ...overrides,
    admin: { listen: '127.0.0.1:0', allowFrom: ['127.0.0.1/32'], users: ACCOUNTS },
  });
}

/** The mariadb CLI on moat's admin port (`--batch`: a header line, then tab-separated rows). */
async function cli(moat: RunningMoat, sql: string, user = 'dba', password = 'dba-pw'): Promise<string> {
  const a = moat.gateway.adminAddress;
  assert.ok(a?.kind === 'tcp');
  const args = ['-h127.0.0.1', `-P${a.port}`, `-u${user}`, `-p${password}`, '--batch', '-e', sql];
  return (await run('mariadb', args)).stdout;
}

async function cliError(moat: RunningMoat, sql: string, user: string, password: string): Promise<string> {
  try {
    await cli(moat, sql, user, password);
  } catch (e) {
    return String((e as { stderr?: string }).stderr);
  }
  assert.fail('expected an error');
}

const SUMMARY = 'performance_schema.events_statements_summary_by_digest';

describe('statement digests', () => {
  let moat: RunningMoat;

  before(async () => {
    moat = await startWithAdmin({
      audit: {
        sinks: [
          { type: 'json', path: 'audit.log' },
          { type: 'xml', path: 'audit.xml' },
        ],
      },
    });
    const c1 = await mysqlFrom(moat, '127.0.8.1', app);
    await c1.query('SELECT 1');
    await c1.query('select   2 /*x*/');
    await c1.query('SELECT 3;');
    // Prepared once by mysql2 (its statement cache), executed twice.
    await c1.execute('SELECT ? AS a, ? AS b', [1, 2]);
    await c1.execute('SELECT ? AS a, ? AS b', [3, 4]);
    await assert.rejects(c1.query('SELECT * FROM no_such_table_dg WHERE id = 5'));
    await c1.query("SELECT HEX(AES_ENCRYPT('data', 'key-Sekr1t'))");
    await c1.end();
    const c2 = await mysqlFrom(moat, '127.0.8.2', app);
    await c2.query('SELECT 4');
    await c2.query("SELECT 'x' IN ('a', 'b', 'c')");
    await c2.end();
    await moat.waitForEvent((e) => e.command === 'Quit' && e.clientAddress === '127.0.8.2');
    await moat.gateway.audit!.flush();
  });

  after(() => moat.stop());

  test('the summary counts each digest: text statements, and prepared statements per EXECUTE', async () => {
    const out = await cli(
      moat,
      `SELECT DIGEST_TEXT, COUNT_STAR FROM ${SUMMARY} ORDER BY COUNT_STAR DESC, DIGEST_TEXT`,
    );
    assert.equal(
      out,
      [
        'DIGEST_TEXT\tCOUNT_STAR',
        'SELECT ?\t4',
        'SELECT ? AS `a` , ? AS `b`\t2',
        'SELECT * FROM `no_such_table_dg` WHERE `id` = ?\t1',
        'SELECT ? IN (...)\t1',
        'SELECT `HEX` ( `AES_ENCRYPT` (...) )\t1',
        '',
      ].join('\n'),
    );
  });

  test('MySQL columns: DIGEST is the SHA-256 of DIGEST_TEXT, schema, errors, rows, timers in picoseconds', async () => {
    const out = await cli(
      moat,
      `SELECT SCHEMA_NAME, DIGEST, SUM_ERRORS, SUM_ROWS_SENT, SUM_TIMER_WAIT > 0, MIN_TIMER_WAIT <= AVG_TIMER_WAIT,
        AVG_TIMER_WAIT <= MAX_TIMER_WAIT, FIRST_SEEN <= LAST_SEEN, LENGTH(FIRST_SEEN)
       FROM ${SUMMARY} WHERE DIGEST_TEXT = 'SELECT ?'`,
    );
    const row = out.trim().split('\n')[1]!.split('\t');
    assert.deepEqual(row, [backend.database, sha256('SELECT ?'), '0', '4', '1', '1', '1', '1', '26']);
    const failed = await cli(
      moat,
      `SELECT SUM_ERRORS, SUM_ROWS_SENT FROM ${SUMMARY} WHERE DIGEST_TEXT LIKE '%no_such_table_dg%'`,
    );
    assert.equal(failed, 'SUM_ERRORS\tSUM_ROWS_SENT\n1\t0\n');
  });

  test('QUERY_SAMPLE_TEXT is a real statement, redacted', async () => {
    const out = await cli(
      moat,
      `SELECT QUERY_SAMPLE_TEXT FROM ${SUMMARY} WHERE DIGEST_TEXT LIKE '%AES_ENCRYPT%'`,
    );
    assert.match(out, /AES_ENCRYPT\('data', /);
    assert.doesNotMatch(out, /key-Sekr1t/);
  });

  test('the per-account breakdown: USER and HOST, grouped as a DBA likes', async () => {
    const out = await cli(
      moat,
      "SELECT USER, HOST, COUNT_STAR FROM moat.statements_by_digest_by_account WHERE DIGEST_TEXT = 'SELECT ?' ORDER BY HOST",
    );
    assert.equal(out, `USER\tHOST\tCOUNT_STAR\n${app.user}\t127.0.8.1\t3\n${app.user}\t127.0.8.2\t1\n`);
    const byHost = await cli(
      moat,
      'SELECT HOST, SUM(COUNT_STAR) AS N FROM moat.statements_by_digest_by_account GROUP BY HOST ORDER BY HOST',
    );
    assert.equal(byHost, 'HOST\tN\n127.0.8.1\t7\n127.0.8.2\t2\n');
  });

  test('a prepared statement is digested once at PREPARE: its EXECUTEs carry the same digest', () => {
    const prepare = moat.events.find((e) => e.command === 'Stmt_prepare');
    const executes = moat.events.filter((e) => e.command === 'Stmt_execute');
    assert.ok(prepare?.digest != null);
    assert.equal(prepare.digest.text, 'SELECT ? AS `a` , ? AS `b`');
    assert.equal(executes.length, 2);
    for (const e of executes) assert.equal(e.digest, prepare.digest, 'the very object computed at PREPARE');
    const ping = moat.events.find((e) => e.command === 'Quit');
    assert.equal(ping?.digest ?? null, null);
  });

  test('every Query audit record carries the digest: JSON field digest, XML <DIGEST>', () => {
    const records = readFileSync(join(moat.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const one = records.find((r) => r.name === 'Query' && r.statement === 'select   2 /*x*/');
    assert.equal(one?.digest, sha256('SELECT ?'));
    const exec = records.filter((r) => r.command === 'Stmt_execute');
    assert.equal(exec.length, 2);
    for (const r of exec) assert.equal(r.digest, sha256('SELECT ? AS `a` , ? AS `b`'));
    for (const r of records.filter((x) => x.name === 'Connect' || x.name === 'Quit'))
      assert.equal(r.digest, null);
    const xml = readFileSync(join(moat.stateDir, 'audit.xml'), 'utf8');
    assert.match(
      xml,
      new RegExp(`<SQLTEXT>select {3}2 /\\*x\\*/</SQLTEXT>\\n\\s*<DIGEST>${sha256('SELECT ?')}</DIGEST>`),
    );
  });

  test('TRUNCATE TABLE resets the summary; a readonly account gets 1227', async () => {
    const refused = await cliError(moat, `TRUNCATE TABLE ${SUMMARY}`, 'watcher', 'watch-pw');
    assert.match(refused, /ERROR 1227/);
    assert.match(await cli(moat, `SELECT COUNT(*) AS N FROM ${SUMMARY}`), /^N\n5\n$/);
    await cli(moat, `TRUNCATE TABLE ${SUMMARY}`);
    assert.equal(await cli(moat, `SELECT COUNT(*) AS N FROM ${SUMMARY}`), 'N\n0\n');
    assert.equal(await cli(moat, 'SELECT COUNT(*) AS N FROM moat.statements_by_digest_by_account'), 'N\n0\n');
    const c = await mysqlFrom(moat, '127.0.8.1', app);
    await c.query('SELECT 5');
    await c.end();
    await moat.waitForEvent((e) => e.statement === 'SELECT 5');
    assert.equal(
      await cli(moat, `SELECT DIGEST_TEXT, COUNT_STAR FROM ${SUMMARY}`),
      'DIGEST_TEXT\tCOUNT_STAR\nSELECT ?\t1\n',
    );
  });
});

describe('the digest table is bounded (digests.size, as performance_schema_digests_size)', () => {
  let moat: RunningMoat;
  before(async () => {
    moat = await startWithAdmin({ digests: { size: 3 } });
  });
  after(() => moat.stop());

  test('size 3: two digests, then every new one goes to the row whose DIGEST is NULL', async () => {
    const c = await mysqlFrom(moat, '127.0.8.3', app);
    for (const sql of [
      'SELECT 1',
      'SELECT 1, 2',
      'SELECT 2',
      "SELECT 'a' FROM DUAL",
      'SELECT 1 + 1',
      'SELECT 1 + 2',
    ])
      await c.query(sql);
    await c.end();
    await moat.waitForEvent((e) => e.command === 'Quit');
    const out = await cli(
      moat,
      `SELECT IFNULL(SCHEMA_NAME, 'NULL'), IFNULL(DIGEST, 'NULL') AS D, IFNULL(DIGEST_TEXT, 'NULL') AS T, COUNT_STAR FROM ${SUMMARY} ORDER BY COUNT_STAR DESC, T`,
    );
    assert.equal(
      out.split('\n').slice(1).join('\n'),
      [
        `NULL\tNULL\tNULL\t3`,
        `${backend.database}\t${sha256('SELECT ?')}\tSELECT ?\t2`,
        `${backend.database}\t${sha256('SELECT ?, ...')}\tSELECT ?, ...\t1`,
        '',
      ].join('\n'),
    );
    assert.equal(
      await cli(moat, "SHOW GLOBAL STATUS LIKE 'Performance_schema_digest_lost'"),
      'Variable_name\tValue\nPerformance_schema_digest_lost\t3\n',
    );
  });
});

describe('a statement too long to digest fully is digested by its prefix and says so', () => {
  let moat: RunningMoat;
  before(async () => {
    moat = await startWithAdmin({ limits: { maxStatementLength: 100 }, digests: { maxDigestLength: 60 } });
  });
  after(() => moat.stop());

  test('past maxDigestLength (token storage) and past the capture limit: prefix digests, marked truncated', async () => {
    const c = await mysqlFrom(moat, '127.0.8.4', app);
    const wide = 'SELECT a, b, c, d, e, f, g, h FROM t WHERE id = 1';
    const wider = 'SELECT a, b, c, d, e, f, g, h FROM u WHERE id = 2';
    await assert.rejects(c.query(wide));
    await assert.rejects(c.query(wider));
    const long = `SELECT 1 /* ${'x'.repeat(200)} */`;
    await c.query(long);
    await c.end();
    await moat.waitForEvent((e) => e.command === 'Quit');
    const byLength = moat.events.find((e) => e.statement === wide)!;
    assert.equal(byLength.digest?.text, 'SELECT `a` , `b` , `c` , `d` , `e` , `f` , `g` , `h` FROM ...');
    assert.equal(byLength.digest?.truncated, true);
    assert.equal(byLength.statementTruncated, false, 'the statement itself was captured whole');
    const cut = moat.events.find((e) => e.statement?.startsWith('SELECT 1 /*') === true)!;
    assert.equal(cut.statementTruncated, true);
    assert.equal(cut.digest?.text, 'SELECT ? ...');
    assert.equal(cut.digest?.truncated, true);
    const out = await cli(moat, `SELECT DIGEST_TEXT, COUNT_STAR FROM ${SUMMARY} ORDER BY DIGEST_TEXT`);
    assert.equal(
      out,
      'DIGEST_TEXT\tCOUNT_STAR\nSELECT ? ...\t1\nSELECT `a` , `b` , `c` , `d` , `e` , `f` , `g` , `h` FROM ...\t2\n',
    );
  });
});
