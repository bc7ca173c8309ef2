// What a client chooses cannot forge a record (issue 16 item 8 and what held before): a user name
// holding a line break and a fake log line, a CR, ANSI escapes and U+2028 stays inside its own
// record, on one line, in every sink; the auth log's `using password:` comes from MySQL's clause,
// not from text the user name put into the message; and every audit file is 0600, including
// those found in a pre-created state directory with looser modes.
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { authLog } from '../../src/audit/sinks/auth.ts';
import { jsonLines } from '../../src/audit/sinks/json.ts';
import { sqlErrors } from '../../src/audit/sinks/sql-errors.ts';
import { syslogFormat } from '../../src/audit/sinks/syslog.ts';
import { enterpriseXml } from '../../src/audit/sinks/xml.ts';
import { capturingLogger, config, event, parseXml, tempDir, xmllint } from './audit-helpers.ts';

const FORGED =
  "2026-11-23 12:00:00 9 [Warning] Access denied for user 'root'@'203.0.113.66' (using password: YES)";
const hostile = [
  `x\n${FORGED}`,
  `x\r${FORGED}`,
  `x\r\n${FORGED}`,
  `x\u2028${FORGED}`,
  `x\u0085${FORGED}`,
  'x\x1b[2K\x1b[1A\x1b]0;pwned\x07\x9b31m',
];

const syslogOptions = {
  facility: 'auth',
  sdId: 'moat@32473',
  hostname: 'db1',
  maxMessageBytes: 8192,
} as const;
const formats = {
  json: jsonLines(),
  auth: authLog('utc'),
  'sql-errors': sqlErrors('utc'),
  'syslog kv': syslogFormat({ ...syslogOptions, format: 'kv', bodyOnly: false }),
  'syslog sd': syslogFormat({ ...syslogOptions, format: 'sd', bodyOnly: false }),
  'syslog unix': syslogFormat({ ...syslogOptions, format: 'kv', bodyOnly: true }),
  xml: enterpriseXml(),
};

/** The line breaks of any reader: LF, CR, and those Unicode line splitters also honour. */
const BREAK = /[\n\r\u0085\u2028\u2029\x0b\x0c\x1c-\x1e]/;
const ESC = /[\x1b\x07\x9b]/;

describe('log injection through a user name, a statement and a message', () => {
  for (const [name, format] of Object.entries(formats)) {
    test(name, () => {
      for (const user of hostile) {
        const events = [
          event('Connect', {
            status: 1045,
            user,
            message: `Access denied for user '${user}'@'h' (using password: YES)`,
          }),
          event('Query', { status: 1064, user, statement: `SELECT '${user}'`, message: `near '${user}'` }),
        ];
        for (const e of events) {
          if (!format.accepts(e)) continue;
          const out = format.render(e);
          const body = out.endsWith('\n') ? out.slice(0, -1) : out;
          assert.ok(!ESC.test(out), `${name}: an escape sequence passed: ${JSON.stringify(out)}`);
          if (name === 'xml') {
            // A record spans lines by design, but no value can begin one.
            for (const line of body.split('\n')) assert.match(line, /^ {0,2}<\/?[A-Z_]+[/>]/);
            assert.equal(body.split('<AUDIT_RECORD>').length, 2);
          } else {
            assert.ok(!BREAK.test(body), `${name}: a line break passed: ${JSON.stringify(out)}`);
          }
          if (name === 'json') assert.equal((JSON.parse(body) as { user: string }).user, user);
        }
      }
    });
  }

  test('the XML file is still well formed and gives the user name back as it was', async (t) => {
    const dir = tempDir(t);
    const { log } = capturingLogger();
    const audit = new AuditLog(config({ sinks: [{ type: 'xml', path: 'a.xml' }] }), log, { baseDir: dir });
    await audit.start();
    for (const user of hostile) audit.record(event('Query', { user, statement: `SELECT 1 -- ${user}` }));
    await audit.close();
    xmllint(join(dir, 'a.xml'));
    const records = parseXml(join(dir, 'a.xml'));
    assert.equal(records.length, hostile.length);
    // expat turns a CR into LF unless it is a reference (both are, now); C1 and escapes stay as sent.
    assert.ok(records[0]!.USER!.startsWith(`x\n${FORGED}[x\n`), records[0]!.USER);
  });
});

describe('auth log: using password', () => {
  test('comes from the clause that ends the message, not from the user name', () => {
    const format = authLog('utc');
    for (const [user, used] of [
      ['a (using password: NO)', 'YES'],
      ["a' (using password: NO)", 'YES'],
      ['using password: NO', 'YES'],
      ['using password: YES', 'NO'],
    ] as const) {
      const message = `Access denied for user '${user}'@'10.0.0.1' (using password: ${used})`;
      const line = format.render(event('Connect', { status: 1045, user, message }));
      assert.ok(line.endsWith(`(using password: ${used})\n`), line);
    }
  });
});

describe('file modes', () => {
  test('files found 0644 in a pre-created state directory, live and rotated, become 0600; new ones are 0600', async (t) => {
    const dir = tempDir(t);
    const names = [
      'audit.log',
      'audit.xml',
      'auth.log',
      'ossec.log',
      'audit.log.20261122T235959Z',
      'auth.log.20261122T235959Z.gz',
    ];
    for (const n of names) {
      writeFileSync(join(dir, n), '');
      chmodSync(join(dir, n), 0o644);
    }
    const { log } = capturingLogger();
    const sinks = [
      { type: 'json', path: 'audit.log' },
      { type: 'xml', path: 'audit.xml' },
      { type: 'auth', path: 'auth.log' },
      { type: 'sql-errors', path: 'ossec.log' },
      { type: 'json', path: 'new/fresh.log', rotate: { gzip: true } },
    ] as const;
    const audit = new AuditLog(config({ sinks: sinks.map((s) => ({ ...s })) }), log, { baseDir: dir });
    await audit.start();
    audit.record(event('Connect', { status: 1045, message: 'x (using password: YES)' }));
    audit.record(event('Query', { status: 1064 }));
    await audit.flush();
    await audit.rotate();
    audit.record(event('Query'));
    await audit.close();
    const files = [
      ...readdirSync(dir)
        .filter((f) => f !== 'new')
        .map((f) => join(dir, f)),
      ...readdirSync(join(dir, 'new')).map((f) => join(dir, 'new', f)),
    ];
    assert.ok(files.length >= names.length + 2, files.join(' '));
    for (const f of files) assert.equal((statSync(f).mode & 0o777).toString(8), '600', f);
  });
});
