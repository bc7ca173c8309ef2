// The precompiled JSON-lines serializer writes exactly what JSON.stringify plus jsonLine's escapes
// wrote for every record: same bytes, same key order, same escapes; a batch is those lines joined.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AUDIT_EVENT_NAMES } from '../../src/audit/config.ts';
import { type AuditEvent, emptyEvent } from '../../src/audit/event.ts';
import { fromCommand } from '../../src/audit/from-events.ts';
import {
  auditJsonLine,
  encodeJsonLines,
  jsonLine,
  jsonLines,
  jsonString,
} from '../../src/audit/sinks/json.ts';
import { event } from './audit-helpers.ts';

/** Every string a client can put into a record that some escape rule is about. */
const STRINGS = [
  '',
  'SELECT 1',
  'plain ascii with spaces and digits 0123',
  'quote " and backslash \\ and slash /',
  'C0: \x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f end',
  'DEL \x7f and C1 \x80\x85\x9b31m\x9f',
  'line separators \u2028 and \u2029',
  'bidi \u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069 end',
  'just outside the ranges: \u00a0\u2027\u202f\u2065\u206a\u200d',
  'astral \u{1f600} pair, lone high \ud83d end, lone low \ude00 end',
  'trailing high \ud800',
  'latin-1 é ü ß, CJK 表, Arabic ع',
];

describe('JSON lines serializer', () => {
  test('every string is escaped as jsonLine escapes it', () => {
    for (const s of STRINGS) assert.equal(jsonString(s), jsonLine(s), JSON.stringify(s));
    // Every BMP code unit once, alone and inside text.
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      assert.equal(jsonString(ch), jsonLine(ch), `U+${c.toString(16)}`);
      assert.equal(jsonString(`a${ch}b`), jsonLine(`a${ch}b`), `U+${c.toString(16)} in text`);
    }
  });

  test('the same bytes as jsonLine for every event name and every field', () => {
    for (const name of AUDIT_EVENT_NAMES) {
      const empty = emptyEvent(name, 'moat-1');
      assert.equal(auditJsonLine(empty), `${jsonLine(empty)}\n`, name);
      for (const s of STRINGS) {
        const e: AuditEvent = event(name, {
          user: s,
          host: s,
          db: s,
          statement: s,
          message: s,
          program: s,
          outcome: s,
          sqlState: s.slice(0, 5),
          statementTruncated: s.length > 20,
          statementLength: s.length > 20 ? 70_000 : null,
          rows: 3,
          affectedRows: 0,
          durationMs: 0.123,
          tlsVersion: 'TLSv1.3',
          tlsCipher: 'TLS_AES_256_GCM_SHA384',
        });
        assert.equal(auditJsonLine(e), `${jsonLine(e)}\n`, `${name} ${JSON.stringify(s)}`);
      }
    }
  });

  test('numbers as JSON.stringify writes them (negative zero, fractions, non-finite as null)', () => {
    for (const n of [0, -0, 1, -1, 0.1, 1e21, 123456.789, 2 ** 53, Number.NaN, Infinity]) {
      const e = event('Query', { durationMs: n, rows: n });
      assert.equal(auditJsonLine(e), `${jsonLine(e)}\n`, String(n));
    }
  });

  test('a record built from a command event: same line, one line, parsed back equal', () => {
    const e = fromCommand(
      {
        session: 1 << 30,
        user: 'app',
        clientAddress: '127.0.0.1',
        clientPort: 40000,
        database: 'shop',
        command: 'Query',
        statement: "SELECT * FROM t WHERE name = 'x\u2028y' -- \u202e",
        statementTruncated: false,
        statementBytes: 40,
        status: 'OK',
        errorCode: 0,
        sqlState: null,
        errorMessage: null,
        rows: 1,
        affectedRows: 0,
        startedAt: Date.UTC(2026, 11, 8, 1, 30),
        durationMs: 0.2345678,
      },
      'moat-1',
    );
    const line = jsonLines().render(e);
    assert.equal(line, `${jsonLine(e)}\n`);
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.ok(!/[\u2028\u202e]/.test(line));
    assert.deepEqual(JSON.parse(line), e);
  });

  test('a batch is its records joined, in one Buffer; a record that cannot be written is left out and reported', () => {
    const batch: AuditEvent[] = [];
    for (let i = 0; i < 3000; i++)
      batch.push(event('Query', { statement: `SELECT ${i} -- ${STRINGS[i % STRINGS.length]}` }));
    const bad = event('Query', { statement: 'x' });
    Object.defineProperty(bad, 'user', {
      get() {
        throw new Error('unreadable');
      },
    });
    const failed: AuditEvent[] = [];
    const { data, count } = encodeJsonLines([...batch.slice(0, 1500), bad, ...batch.slice(1500)], (e) =>
      failed.push(e),
    );
    assert.equal(count, batch.length);
    assert.deepEqual(failed, [bad]);
    assert.equal(data.toString('utf8'), batch.map((e) => `${jsonLine(e)}\n`).join(''));
  });
});
