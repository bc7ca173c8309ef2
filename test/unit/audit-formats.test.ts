// The renderings, each against the format it imitates: statement classes, filters, JSON lines,
// Enterprise XML elements, SQL-Error lines, MySQL error-log auth lines, RFC 5424 syslog; and the
// configuration schema's defaults and refusals.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { auditConfigSchema } from '../../src/audit/audit-log.ts';
import { authLog } from '../../src/audit/sinks/auth.ts';
import {
  type Candidate,
  compileFilter,
  globToRegExp,
  parseStatusSpec,
} from '../../src/audit/sinks/filter.ts';
import { jsonLines } from '../../src/audit/sinks/json.ts';
import { sqlErrors } from '../../src/audit/sinks/sql-errors.ts';
import { syslogFormat } from '../../src/audit/sinks/syslog.ts';
import { oneLine } from '../../src/audit/sinks/text.ts';
import { commandClass, enterpriseXml, xmlText } from '../../src/audit/sinks/xml.ts';
import { statementClass } from '../../src/audit/statement.ts';
import { redacted } from '../../src/audit/writer.ts';
import { config, event } from './audit-helpers.ts';

describe('statement class', () => {
  const cases: Array<[string, string]> = [
    ['SELECT 1', 'select'],
    ['  select * from t', 'select'],
    ['(SELECT 1) UNION (SELECT 2)', 'select'],
    ['/* hint */ SELECT 1', 'select'],
    ['-- note\nDELETE FROM t', 'delete'],
    ['# note\nUPDATE t SET a = 1', 'update'],
    ['INSERT INTO t VALUES (1)', 'insert'],
    ['REPLACE INTO t VALUES (1)', 'insert'],
    ["LOAD DATA INFILE '/x' INTO TABLE t", 'insert'],
    ['LOAD INDEX INTO CACHE t', 'other'],
    ['CREATE TABLE t (a int)', 'create'],
    ['DROP TABLE t', 'drop'],
    ['TRUNCATE t', 'drop'],
    ["GRANT ALL ON *.* TO 'a'@'%'", 'grant'],
    ["REVOKE ALL ON *.* FROM 'a'@'%'", 'grant'],
    ['ALTER TABLE t ADD c int', 'other'],
    ['SET NAMES utf8mb4', 'other'],
    ['SHOW TABLES', 'other'],
    ['', 'other'],
    ["'not a keyword'", 'other'],
    // MySQL runs what an executable comment holds: the class must come from inside it.
    ['/*!50001 DROP TABLE t */', 'drop'],
    ['/*M!100100 DROP TABLE t */', 'drop'],
    ['/*!*/ /*!40101 GRANT ALL ON *.* TO x */', 'grant'],
    ['WITH a AS (SELECT 1) SELECT * FROM a', 'select'],
    ['WITH a AS (SELECT id FROM t) DELETE FROM t WHERE id IN (SELECT id FROM a)', 'delete'],
    [
      "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT ')' FROM r",
      'select',
    ],
  ];
  for (const [sql, want] of cases) {
    test(`${JSON.stringify(sql)} is ${want}`, () => assert.equal(statementClass(sql), want));
  }
});

describe('filters', () => {
  const candidate = (e = event()): Candidate => ({
    event: e,
    statementClass: () => statementClass(e.statement ?? ''),
  });

  test('status specs: codes, ranges, lists; bad ones named', () => {
    assert.deepEqual(parseStatusSpec('0'), [{ from: 0, to: 0 }]);
    assert.deepEqual(parseStatusSpec(1045), [{ from: 1045, to: 1045 }]);
    assert.deepEqual(parseStatusSpec('1045,1130'), [
      { from: 1045, to: 1045 },
      { from: 1130, to: 1130 },
    ]);
    assert.deepEqual(parseStatusSpec(' 1-9999 , 0 '), [
      { from: 1, to: 9999 },
      { from: 0, to: 0 },
    ]);
    for (const bad of ['', 'x', '5-1', '1-', '70000', '-3'])
      assert.throws(() => parseStatusSpec(bad), /status|range|'/);
  });

  test('globs: * and ? only, everything else literal', () => {
    assert.ok(globToRegExp('app_*').test('app_reader'));
    assert.ok(!globToRegExp('app_*').test('xapp_reader'));
    assert.ok(globToRegExp('u?').test('u1'));
    assert.ok(!globToRegExp('u?').test('u12'));
    assert.ok(!globToRegExp('a.b').test('axb'));
    assert.ok(globToRegExp('(x)+').test('(x)+'));
  });

  test('every condition must hold; statement classes leave statement-less events alone', () => {
    const f = compileFilter({
      events: ['Connect', 'Query'],
      users: ['root', 'app_*'],
      status: parseStatusSpec('1-9999'),
      statementClasses: ['drop', 'grant'],
    });
    const cases: Array<[string, Parameters<typeof event>, boolean]> = [
      ['failed DROP by app_x', ['Query', { user: 'app_x', status: 1142, statement: 'DROP TABLE t' }], true],
      ['failed SELECT', ['Query', { user: 'app_x', status: 1142, statement: 'SELECT 1' }], false],
      ['successful DROP', ['Query', { user: 'root', status: 0, statement: 'DROP TABLE t' }], false],
      ['other user', ['Query', { user: 'bob', status: 1142, statement: 'DROP TABLE t' }], false],
      ['failed Connect (no statement)', ['Connect', { user: 'root', status: 1045 }], true],
      ['Quit is not in events', ['Quit', { user: 'root', status: 1045 }], false],
      ['no user is the empty name', ['Connect', { user: null, status: 1045 }], false],
    ];
    for (const [what, args, want] of cases) assert.equal(f(candidate(event(...args))), want, what);
    assert.ok(compileFilter(undefined)(candidate()));
    assert.ok(compileFilter({ users: ['*'] })(candidate(event('Connect', { user: null }))));
  });
});

describe('JSON lines', () => {
  test('one line per event, every field, line breaks escaped', () => {
    const e = event('Query', { statement: 'SELECT 1\n;\r\nSELECT "2"', message: 'x\u2028y' });
    const line = jsonLines().render(e);
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.deepEqual(JSON.parse(line), e);
  });
});

describe('Enterprise XML', () => {
  test('escapes markup, drops what XML 1.0 forbids, keeps CR and LF as references', () => {
    assert.equal(xmlText(`a<b & c>d "e" 'f'`), `a&lt;b &amp; c&gt;d "e" 'f'`);
    assert.equal(xmlText('x\x00\x1by\rz\n\t'), 'x\ufffd\ufffdy&#13;z&#10;\t');
    assert.equal(xmlText('a\x9b31m\u2028b'), 'a&#155;31m&#8232;b');
  });

  test('COMMAND_CLASS as MySQL names sql commands', () => {
    const cases: Array<[string, string]> = [
      ['SELECT 1', 'select'],
      ['CREATE TABLE t (a int)', 'create_table'],
      ['CREATE OR REPLACE VIEW v AS SELECT 1', 'create_view'],
      ['CREATE TEMPORARY TABLE t (a int)', 'create_table'],
      ['DROP DATABASE d', 'drop_db'],
      ['ALTER USER a IDENTIFIED BY ***', 'alter_user'],
      ['SET NAMES utf8', 'set_option'],
      ['SET PASSWORD = ***', 'set_password'],
      ['SHOW DATABASES', 'show_databases'],
      ['USE shop', 'change_db'],
      ['START TRANSACTION', 'begin'],
      ['CALL p()', 'call_procedure'],
      ['GRANT ALL ON *.* TO a', 'grant'],
    ];
    for (const [sql, want] of cases)
      assert.equal(commandClass(event('Query', { statement: sql })), want, sql);
    assert.equal(commandClass(event('Connect')), 'connect');
    assert.equal(commandClass(event('Quit')), 'connect');
    assert.equal(commandClass(event('Query', { command: 'Init_DB', statement: null })), 'change_db');
  });

  test('a Connect and a Query record, element by element', () => {
    const xml = enterpriseXml();
    xml.fileStarted?.(100, new Date('2026-11-23T11:59:58.000Z'));
    const connect = xml.render(
      event('Connect', { status: 1045, user: 'a<b', tlsVersion: 'TLSv1.3', db: null, host: 'web1.example' }),
    );
    assert.equal(
      connect,
      [
        ' <AUDIT_RECORD>',
        '  <TIMESTAMP>2026-11-23T12:00:00 UTC</TIMESTAMP>',
        '  <RECORD_ID>101_2026-11-23T11:59:58</RECORD_ID>',
        '  <NAME>Connect</NAME>',
        '  <CONNECTION_ID>5</CONNECTION_ID>',
        '  <STATUS>1045</STATUS>',
        '  <STATUS_CODE>1</STATUS_CODE>',
        '  <USER>a&lt;b</USER>',
        '  <OS_LOGIN/>',
        '  <HOST>web1.example</HOST>',
        '  <IP>192.0.2.7</IP>',
        '  <COMMAND_CLASS>connect</COMMAND_CLASS>',
        '  <CONNECTION_TYPE>SSL/TLS</CONNECTION_TYPE>',
        '  <PRIV_USER>a&lt;b</PRIV_USER>',
        '  <PROXY_USER/>',
        '  <DB/>',
        ' </AUDIT_RECORD>',
        '',
      ].join('\n'),
    );
    const query = xml.render(event('Query', { statement: 'SELECT * FROM t WHERE a < 1' }));
    assert.match(query, /<RECORD_ID>102_2026-11-23T11:59:58<\/RECORD_ID>/);
    assert.match(query, /<USER>app\[app\] @ 192\.0\.2\.7 \[192\.0\.2\.7\]<\/USER>/);
    assert.match(query, /<SQLTEXT>SELECT \* FROM t WHERE a &lt; 1<\/SQLTEXT>/);
    assert.doesNotMatch(query, /CONNECTION_TYPE/);
    const socket = xml.render(event('Quit', { ip: 'localhost', host: 'localhost', port: 0 }));
    assert.match(socket, /<CONNECTION_TYPE>Socket<\/CONNECTION_TYPE>/);
    assert.match(socket, /<IP\/>/);
    assert.match(xml.render(event('Quit')), /<CONNECTION_TYPE>TCP\/IP<\/CONNECTION_TYPE>/);
  });
});

describe('SQL-Error lines', () => {
  test('failed statements only, in the OSSEC form, one line whatever they hold', () => {
    const f = sqlErrors('utc');
    const failed = event('Query', {
      status: 1064,
      message: "You have an error in your SQL syntax near 'SELEC 1' at line 1",
      statement: 'SELEC 1\nSQL-Error: forged line',
    });
    assert.ok(f.accepts(failed));
    assert.ok(!f.accepts(event('Query')));
    assert.ok(!f.accepts(event('Connect', { status: 1045 })));
    assert.equal(
      f.render(failed),
      "SQL-Error: 2026-11-23 12:00:00 app@192.0.2.7:51234 -> Error 1064: You have an error in your SQL syntax near 'SELEC 1' at line 1 -- SELEC 1\\nSQL-Error: forged line\n",
    );
  });

  test('local time by default, as OSSEC reads it', () => {
    const d = new Date('2026-11-23T12:00:00.250Z');
    const p = (n: number) => String(n).padStart(2, '0');
    const local = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:00`;
    assert.ok(
      sqlErrors('local')
        .render(event('Query', { status: 1146 }))
        .startsWith(`SQL-Error: ${local} `),
    );
  });
});

describe('auth lines (MySQL error log, fail2ban mysqld-auth)', () => {
  const f = authLog('utc');
  test('failed logins only, by MySQL access-denied codes', () => {
    assert.ok(f.accepts(event('Connect', { status: 1045 })));
    assert.ok(f.accepts(event('Change user', { status: 1045 })));
    assert.ok(f.accepts(event('Connect', { status: 1044 })));
    assert.ok(!f.accepts(event('Connect')));
    assert.ok(!f.accepts(event('Connect', { status: 1129 })));
    assert.ok(!f.accepts(event('Query', { status: 1045 })));
  });

  test('the error-log line, with whether a password was used as the server said', () => {
    const cases: Array<[Partial<Parameters<typeof event>[1]>, string]> = [
      [{ status: 1045 }, `'app'@'192.0.2.7' (using password: YES)`],
      [
        { status: 1045, message: "Access denied for user 'app'@'10.0.0.2' (using password: NO)" },
        `'app'@'192.0.2.7' (using password: NO)`,
      ],
      [{ status: 1044, db: 'secret' }, `'app'@'192.0.2.7' to database 'secret'`],
      [{ status: 1698, user: 'root' }, `'root'@'192.0.2.7' (using password: NO)`],
      [
        { status: 1045, user: "x'@'203.0.113.9" },
        `'x\\x27@\\x27203.0.113.9'@'192.0.2.7' (using password: YES)`,
      ],
      [{ status: 1045, user: 'a\nb' }, `'a\\nb'@'192.0.2.7' (using password: YES)`],
    ];
    for (const [over, tail] of cases) {
      assert.equal(
        f.render(event('Connect', { connectionId: 9, ...over })),
        `2026-11-23 12:00:00 9 [Warning] Access denied for user ${tail}\n`,
      );
    }
  });
});

describe('syslog (RFC 5424)', () => {
  const RFC5424 =
    /^<(\d{1,3})>1 (\S+) (\S+) moat (\d+) (\S+) (-|\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\]) ?(.*)$/s;
  const base = {
    facility: 'local0',
    sdId: 'moat@32473',
    hostname: 'db 1',
    maxMessageBytes: 8192,
    bodyOnly: false,
  } as const;

  test('kv: header fields, PRI from facility and severity, key=value MSG', () => {
    const f = syslogFormat({ ...base, format: 'kv' });
    const line = f.render(event('Connect', { status: 1045, user: 'a "b"', message: 'line\nbreak' }));
    const m = RFC5424.exec(line);
    assert.ok(m, line);
    assert.equal(m[1], String(16 * 8 + 4)); // local0.warning
    assert.equal(m[2], '2026-11-23T12:00:00.250Z');
    assert.equal(m[3], 'db-1');
    assert.equal(m[4], String(process.pid));
    assert.equal(m[5], 'Connect');
    assert.equal(m[6], '-');
    assert.match(m[7]!, /^timestamp="2026-11-23T12:00:00.250Z" name="Connect" connection_id=5 status=1045 /);
    assert.match(m[7]!, / user="a \\"b\\"" /);
    assert.match(m[7]!, / message="line\\nbreak"/);
    assert.doesNotMatch(line, /\n/);
    assert.equal(RFC5424.exec(f.render(event('Query')))?.[1], String(16 * 8 + 6)); // local0.info
    assert.equal(RFC5424.exec(f.render(event('Change user')))?.[5], 'Changeuser');
  });

  test('sd: one SD element with escaped values, a summary as MSG', () => {
    const f = syslogFormat({ ...base, facility: 'authpriv', format: 'sd' });
    const line = f.render(event('Query', { statement: 'SELECT "]" AS x \\ y' }));
    const m = RFC5424.exec(line);
    assert.ok(m, line);
    assert.equal(m[1], String(10 * 8 + 6));
    assert.ok(m[6]!.startsWith('[moat@32473 timestamp="2026-11-23T12:00:00.250Z" name="Query" '));
    assert.ok(m[6]!.endsWith(' statement="SELECT \\"\\]\\" AS x \\\\ y"]'));
    assert.equal(m[7], 'Query app@192.0.2.7 status 0');
  });

  test('a long statement is shortened, the record stays well formed and within the limit', () => {
    for (const format of ['kv', 'sd'] as const) {
      const f = syslogFormat({ ...base, format, maxMessageBytes: 600 });
      const line = f.render(event('Query', { statement: `SELECT '${'é'.repeat(2000)}'` }));
      assert.ok(Buffer.byteLength(line) <= 600, `${format}: ${Buffer.byteLength(line)}`);
      assert.ok(RFC5424.test(line), line);
      assert.match(line, /…/);
    }
  });

  test('for the unix-socket relay: <PRI> and the key=value body only', () => {
    const f = syslogFormat({ ...base, format: 'kv', bodyOnly: true });
    assert.match(f.render(event('Query')), /^<134>timestamp="2026-11-23T12:00:00.250Z" name="Query" /);
  });
});

describe('redaction in the writer (second line of defence)', () => {
  test('statements and the error messages that echo them', () => {
    const e = redacted(
      event('Query', {
        statement: "CREATE USER a IDENTIFIED BY 'S3cret'",
        status: 1064,
        message: "You have an error in your SQL syntax; check the manual near 'BY 'S3cret'' at line 1",
      }),
    );
    assert.equal(e.statement, "CREATE USER a IDENTIFIED BY '***'");
    assert.equal(e.message, "You have an error in your SQL syntax; check the manual near '***'");
    const plain = event('Query');
    assert.equal(redacted(plain), plain, 'nothing to redact: the same object, no copy');
  });
});

describe('one-line escaping', () => {
  test('control characters and Unicode line separators become visible escapes', () => {
    assert.equal(oneLine('a\nb\rc\td\x1be\u2028f\x7f'), 'a\\nb\\rc\\td\\x1be\\u2028f\\x7f');
  });
});

describe('configuration', () => {
  test('defaults: one JSON-lines file, default mode, 10,000 records, 200 ms', () => {
    const c = auditConfigSchema.parse({});
    assert.equal(c.enabled, true);
    assert.equal(c.strict, false);
    assert.equal(c.maxQueue, 10_000);
    assert.equal(c.flushIntervalMs, 200);
    assert.equal(c.time, 'local');
    assert.ok(c.instance.length > 0);
    assert.equal(c.sinks.length, 1);
    const s = c.sinks[0]!;
    assert.equal(s.name, 'json:audit.log');
    if (s.type !== 'json') throw new Error(`a ${s.type} sink`);
    assert.equal(s.path, 'audit.log');
    assert.equal(s.mode, 0o600);
    assert.deepEqual(s.rotate, {
      maxBytes: 100 * 1024 * 1024,
      maxAgeMs: null,
      keep: 10,
      retainMs: null,
      gzip: false,
    });
  });

  test('syslog addresses, facilities, file modes, filters', () => {
    const c = config({
      sinks: [
        { type: 'syslog', address: '127.0.0.1:514', format: 'sd', facility: 'authpriv' },
        { type: 'syslog', address: '/dev/log' },
        { type: 'xml', path: 'audit.xml', mode: '0640', filter: { status: '1-9999', users: 'app' } },
      ],
    });
    const [udp, unix, xml] = c.sinks;
    assert.deepEqual(udp?.type === 'syslog' && udp.address, { kind: 'tcp', host: '127.0.0.1', port: 514 });
    assert.equal(udp?.name, 'syslog:127.0.0.1:514');
    assert.deepEqual(unix?.type === 'syslog' && unix.address, { kind: 'unix', path: '/dev/log' });
    assert.equal(xml?.type === 'xml' && xml.mode, 0o640);
    assert.deepEqual(xml?.filter, { status: [{ from: 1, to: 9999 }], users: ['app'] });
  });

  const refusals: Array<[string, unknown, RegExp]> = [
    [
      'a bad status',
      { sinks: [{ type: 'json', path: 'a', filter: { status: '9-1' } }] },
      /ends before it starts/,
    ],
    ['an unknown event', { sinks: [{ type: 'json', path: 'a', filter: { events: ['Login'] } }] }, /events/],
    [
      'sd over a unix socket',
      { sinks: [{ type: 'syslog', address: '/dev/log', format: 'sd' }] },
      /needs a UDP/,
    ],
    ['syslog port 0', { sinks: [{ type: 'syslog', address: '127.0.0.1:0' }] }, /must not be 0/],
    [
      'two sinks, one file',
      {
        sinks: [
          { type: 'json', path: 'a' },
          { type: 'xml', path: 'a' },
        ],
      },
      /two sinks write a/,
    ],
    ['an unknown key', { sinks: [{ type: 'json', path: 'a', rotation: {} }] }, /rotation/],
    [
      'a bad sdId',
      { sinks: [{ type: 'syslog', address: '127.0.0.1:514', sdId: 'moat' }] },
      /enterprise-number/,
    ],
  ];
  for (const [what, input, message] of refusals) {
    test(`refuses ${what}`, () => {
      const r = auditConfigSchema.safeParse(input);
      assert.ok(!r.success);
      assert.match(JSON.stringify(r.error.issues), message);
    });
  }
});
