// The file sinks as their readers see them: Enterprise XML parsed back by libxml2 and expat,
// rotated files closed properly and compressed, retention, restarts that append to a closed
// document, passwords that never reach a file, per-sink filters, the SQL-error log, and the auth
// log judged by fail2ban's own stock mysqld-auth filter.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AuditLog } from '../../src/audit/audit-log.ts';
import type { AuditConfigInput } from '../../src/audit/config.ts';
import { stamp } from '../../src/audit/rotate.ts';
import { XML_FOOTER, XML_HEADER } from '../../src/audit/sinks/xml.ts';
import { capturingLogger, config, event, parseXml, tempDir, xmllint } from './audit-helpers.ts';

async function run(
  dir: string,
  input: AuditConfigInput,
  events: Parameters<typeof event>[],
  now?: () => number,
) {
  const { log } = capturingLogger();
  const audit = new AuditLog(config(input), log, { baseDir: dir, ...(now ? { now } : {}) });
  await audit.start();
  for (const args of events) audit.record(event(...args));
  await audit.close();
  return audit;
}

describe('Enterprise XML file', () => {
  test('well-formed, parsed back field by field, closed with </AUDIT>; a restart appends inside it', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'audit.xml');
    const tricky = "SELECT '<b>&amp;</b>', 'ü€😀', 'bell\x07'\r\nFROM t";
    await run(dir, { sinks: [{ type: 'xml', path: 'audit.xml' }] }, [
      ['Connect', { tlsVersion: 'TLSv1.3' }],
      ['Query', { statement: tricky }],
      ['Quit', {}],
    ]);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith(XML_HEADER));
    assert.ok(text.endsWith(XML_FOOTER));
    xmllint(file);
    const first = parseXml(file);
    assert.deepEqual(
      first.map((r) => r.NAME),
      ['Connect', 'Query', 'Quit'],
    );
    assert.equal(first[0]?.CONNECTION_TYPE, 'SSL/TLS');
    assert.equal(first[0]?.TIMESTAMP, '2026-11-23T12:00:00 UTC');
    assert.equal(first[1]?.SQLTEXT, "SELECT '<b>&amp;</b>', 'ü€😀', 'bell\ufffd'\r\nFROM t");
    assert.equal(first[1]?.STATUS_CODE, '0');

    await run(dir, { sinks: [{ type: 'xml', path: 'audit.xml' }] }, [
      ['Connect', { status: 1045 }],
      ['Quit', {}],
    ]);
    xmllint(file);
    const all = parseXml(file);
    assert.deepEqual(
      all.map((r) => r.NAME),
      ['Connect', 'Query', 'Quit', 'Connect', 'Quit'],
    );
    assert.equal(all[3]?.STATUS_CODE, '1');
    assert.equal(new Set(all.map((r) => r.RECORD_ID)).size, 5, 'RECORD_IDs stay unique across a restart');
    assert.equal(readFileSync(file, 'utf8').split(XML_FOOTER).length, 2, 'one </AUDIT>, at the end');
  });
});

describe('rotation', () => {
  const ROTATED = /^audit\.xml\.\d{8}T\d{6}Z(?:-\d+)?\.gz$/;

  test('by size: every rotated file a closed XML document, gzipped, only the newest kept', async (t) => {
    const dir = tempDir(t);
    const { log } = capturingLogger();
    const c = config({
      sinks: [{ type: 'xml', path: 'audit.xml', rotate: { maxBytes: 1500, keep: 2, gzip: true } }],
    });
    const audit = new AuditLog(c, log, { baseDir: dir });
    await audit.start();
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 3; i++) audit.record(event('Query', { connectionId: round * 3 + i }));
      await audit.flush();
    }
    await audit.close();
    const rotated = readdirSync(dir).filter((n) => n !== 'audit.xml');
    assert.equal(rotated.length, 2, rotated.join(', '));
    for (const name of rotated) assert.match(name, ROTATED);
    const ids: number[] = [];
    for (const name of rotated.sort()) {
      const plain = join(dir, `${name}.xml`);
      writeFileSync(plain, gunzipSync(readFileSync(join(dir, name))));
      xmllint(plain);
      ids.push(...parseXml(plain).map((r) => Number(r.CONNECTION_ID)));
    }
    xmllint(join(dir, 'audit.xml'));
    ids.push(...parseXml(join(dir, 'audit.xml')).map((r) => Number(r.CONNECTION_ID)));
    assert.ok(ids.length > 6 && ids.length < 24, `${ids.length} records left: rotated and pruned`);
    // The newest records, in order, with no gap: pruning removed only the oldest files.
    assert.deepEqual(
      ids,
      Array.from({ length: ids.length }, (_, i) => 24 - ids.length + i),
    );
  });

  test('by age, named by the time of rotation; rotate() on demand', async (t) => {
    const dir = tempDir(t);
    let clock = Date.parse('2026-11-23T12:00:00Z');
    const { log } = capturingLogger();
    const c = config({
      sinks: [{ type: 'json', path: 'audit.log', rotate: { maxAgeMs: 60_000, maxBytes: null } }],
    });
    const audit = new AuditLog(c, log, { baseDir: dir, now: () => clock });
    await audit.start();
    audit.record(event('Connect'));
    await audit.flush();
    clock += 30_000;
    audit.record(event('Query'));
    await audit.flush();
    assert.deepEqual(readdirSync(dir), ['audit.log'], 'not yet a minute old');
    clock += 31_000;
    audit.record(event('Quit'));
    await audit.flush();
    const first = `audit.log.${stamp(new Date(clock))}`;
    assert.deepEqual(readdirSync(dir).sort(), ['audit.log', first]);
    assert.equal(readFileSync(join(dir, first), 'utf8').trim().split('\n').length, 2);
    assert.equal(readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').length, 1);

    await audit.rotate(); // same second: the name gets -1
    assert.deepEqual(readdirSync(dir).sort(), ['audit.log', first, `${first}-1`]);
    assert.equal(readFileSync(join(dir, 'audit.log'), 'utf8'), '');
    await audit.rotate(); // an empty file is not rotated
    assert.equal(readdirSync(dir).length, 3);
    await audit.close();
  });

  test('retention by age removes old rotated files of this log only', async (t) => {
    const dir = tempDir(t);
    const now = Date.parse('2026-11-23T12:00:00Z');
    const keep = ['audit.log.bak', 'other.log.20200101T000000Z', 'audit.log.20261123T000000Z.gz'];
    const old = ['audit.log.20200101T000000Z', 'audit.log.20261101T000000Z-3.gz'];
    for (const n of [...keep, ...old]) writeFileSync(join(dir, n), 'x');
    writeFileSync(join(dir, 'audit.log'), '{"old":1}\n');
    const rotate = { retainMs: 7 * 86_400_000, keep: null, maxBytes: null };
    await run(dir, { sinks: [{ type: 'json', path: 'audit.log', rotate }] }, [], () => now);
    assert.ok(
      old.every((n) => existsSync(join(dir, n))),
      'retention runs after a rotation, not at start',
    );
    const { log } = capturingLogger();
    const audit = new AuditLog(config({ sinks: [{ type: 'json', path: 'audit.log', rotate }] }), log, {
      baseDir: dir,
      now: () => now,
    });
    await audit.start();
    await audit.rotate();
    await audit.close();
    const left = readdirSync(dir).sort();
    assert.deepEqual(left, [...keep, 'audit.log', `audit.log.${stamp(new Date(now))}`].sort());
  });
});

describe('what reaches the files', () => {
  test('passwords never do, even when the caller forgot to redact', async (t) => {
    const dir = tempDir(t);
    const secret = 'S3cr3t-pw';
    await run(
      dir,
      {
        sinks: [
          { type: 'json', path: 'a.log' },
          { type: 'xml', path: 'a.xml' },
          { type: 'sql-errors', path: 'e.log' },
        ],
      },
      [
        ['Query', { statement: `CREATE USER a IDENTIFIED BY '${secret}'` }],
        [
          'Query',
          {
            statement: `SET PASSWORD FOR a = PASSWORD('${secret}')`,
            status: 1064,
            message: `near '${secret}')'`,
          },
        ],
        [
          'Query',
          {
            statement: `ALTER USER a IDENTIFIED BY '${secret}`,
            status: 1064,
            message: `near 'BY '${secret}' at line 1`,
          },
        ],
      ],
    );
    for (const f of ['a.log', 'a.xml', 'e.log']) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(!text.includes(secret), `${f}: ${text}`);
      assert.match(text, /\*\*\*/);
    }
    assert.equal(readFileSync(join(dir, 'e.log'), 'utf8').trim().split('\n').length, 2);
  });

  test('each sink gets what its filter takes', async (t) => {
    const dir = tempDir(t);
    await run(
      dir,
      {
        sinks: [
          { type: 'json', path: 'all.log' },
          { type: 'json', path: 'root.log', filter: { users: ['root', 'adm*'] } },
          {
            type: 'json',
            path: 'ddl.log',
            filter: { events: ['Query'], statementClasses: ['create', 'drop'] },
          },
          { type: 'json', path: 'failed.log', filter: { status: '1-65535' } },
        ],
      },
      [
        ['Connect', { user: 'root' }],
        ['Query', { user: 'admin2', statement: 'DROP TABLE t' }],
        ['Query', { user: 'app', statement: 'SELECT 1', status: 1146 }],
        ['Query', { user: 'app', statement: '/*!32312 CREATE TABLE t (a int) */' }],
        ['Quit', { user: 'app' }],
      ],
    );
    const read = (f: string) =>
      readFileSync(join(dir, f), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { name: string; user: string });
    assert.equal(read('all.log').length, 5);
    assert.deepEqual(
      read('root.log').map((e) => e.user),
      ['root', 'admin2'],
    );
    assert.deepEqual(
      read('ddl.log').map((e) => e.user),
      ['admin2', 'app'],
    );
    assert.deepEqual(
      read('failed.log').map((e) => e.name),
      ['Query'],
    );
  });

  test('the SQL-error log holds failed statements only, one line each', async (t) => {
    const dir = tempDir(t);
    await run(dir, { time: 'utc', sinks: [{ type: 'sql-errors', path: 'sql-errors.log' }] }, [
      ['Query', { statement: 'SELECT 1' }],
      [
        'Query',
        { statement: "SELECT * FROM users WHERE id = '1' OR '1'='1", status: 1064, message: 'syntax\nerror' },
      ],
      ['Connect', { status: 1045 }],
    ]);
    assert.equal(
      readFileSync(join(dir, 'sql-errors.log'), 'utf8'),
      "SQL-Error: 2026-11-23 12:00:00 app@192.0.2.7:51234 -> Error 1064: syntax\\nerror -- SELECT * FROM users WHERE id = '1' OR '1'='1\n",
    );
  });

  test('new files are private to their owner', async (t) => {
    const dir = tempDir(t);
    await run(dir, { sinks: [{ type: 'json', path: 'sub/audit.log' }] }, [['Connect', {}]]);
    assert.equal(statSync(join(dir, 'sub/audit.log')).mode & 0o777, 0o600);
  });
});

describe("auth log read by fail2ban's stock mysqld-auth filter", () => {
  const FILTER = '/etc/fail2ban/filter.d/mysqld-auth.conf';

  test('every failed login matches with the right address, nothing else is written', async (t) => {
    assert.ok(existsSync(FILTER), `${FILTER} missing: apt-get install fail2ban (scripts/setup-system.sh)`);
    const dir = tempDir(t);
    const failed: Array<[Parameters<typeof event>[1], string]> = [
      [{ status: 1045, user: 'root', ip: '192.0.2.1' }, '192.0.2.1'],
      [{ status: 1045, user: 'app', ip: '198.51.100.7', message: '… (using password: NO)' }, '198.51.100.7'],
      [{ status: 1044, user: 'app', ip: '203.0.113.5', db: 'secret' }, '203.0.113.5'],
      [{ status: 1698, user: 'root', ip: '192.0.2.2' }, '192.0.2.2'],
      [{ status: 1045, user: 'v6', ip: '2001:db8::7' }, '2001:db8::7'],
      // A user name built to make fail2ban ban someone else: the real address is what matches.
      [{ status: 1045, user: "x'@'203.0.113.99' (using password: YES)", ip: '192.0.2.3' }, '192.0.2.3'],
      [
        {
          status: 1045,
          user: "y\n2026-11-23 12:00:00 1 [Warning] Access denied for user 'z'@'203.0.113.98'",
          ip: '192.0.2.4',
        },
        '192.0.2.4',
      ],
    ];
    await run(dir, { sinks: [{ type: 'auth', path: 'auth.log' }] }, [
      ['Connect', { user: 'ok' }],
      ...failed.map(([over]): Parameters<typeof event> => ['Connect', over]),
      ['Change user', { status: 1045, user: 'switch', ip: '192.0.2.5' }],
      ['Connect', { status: 1129, ip: '192.0.2.6' }],
      ['Query', { status: 1045 }],
      ['Blocked', { ip: '192.0.2.8' }],
    ]);
    const file = join(dir, 'auth.log');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, failed.length + 1, lines.join('\n'));
    const ips = execFileSync('fail2ban-regex', ['-r', '-o', 'ip', file, FILTER], { encoding: 'utf8' });
    assert.deepEqual(ips.trim().split('\n'), [...failed.map(([, ip]) => ip), '192.0.2.5']);
    const report = execFileSync('fail2ban-regex', ['-r', file, FILTER], { encoding: 'utf8' });
    assert.match(
      report,
      new RegExp(`Lines: ${lines.length} lines, 0 ignored, ${lines.length} matched, 0 missed`),
    );
  });

  test("an anonymous attempt (user '') is written as MySQL writes it, which the stock filter skips", async (t) => {
    const dir = tempDir(t);
    await run(dir, { time: 'utc', sinks: [{ type: 'auth', path: 'auth.log' }] }, [
      ['Connect', { status: 1045, user: '', connectionId: 3 }],
    ]);
    assert.equal(
      readFileSync(join(dir, 'auth.log'), 'utf8'),
      "2026-11-23 12:00:00 3 [Warning] Access denied for user ''@'192.0.2.7' (using password: YES)\n",
    );
  });
});

describe('which records are worth building', () => {
  test('wants(): a sink filtered to logins takes no Query, a sink without an event filter takes all', (t) => {
    const dir = tempDir(t);
    const { log } = capturingLogger();
    const logins = new AuditLog(
      config({ sinks: [{ type: 'json', path: 'a.log', filter: { events: ['Connect', 'Quit'] } }] }),
      log,
      { baseDir: dir },
    );
    assert.equal(logins.wants('Query'), false);
    assert.equal(logins.wants('Connect'), true);
    assert.equal(logins.wants('Quit'), true);
    const mixed = new AuditLog(
      config({
        sinks: [
          { type: 'json', path: 'a.log', filter: { events: ['Connect'] } },
          { type: 'json', path: 'b.log' },
        ],
      }),
      log,
      { baseDir: dir },
    );
    assert.equal(mixed.wants('Query'), true);
    const off = new AuditLog(config({ enabled: false }), log, { baseDir: dir });
    assert.equal(off.wants('Connect'), false);
  });
});
