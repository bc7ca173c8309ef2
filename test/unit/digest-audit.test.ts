// The digest in audit records: fromCommand copies the event's digest hash; the JSON line, the
// Enterprise XML (<DIGEST> after SQLTEXT) and syslog (digest=) write it; records without one
// write null / nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromCommand } from '../../src/audit/from-events.ts';
import { auditJsonLine } from '../../src/audit/sinks/json.ts';
import { keyValues } from '../../src/audit/sinks/syslog.ts';
import { enterpriseXml } from '../../src/audit/sinks/xml.ts';
import type { CommandEvent } from '../../src/model/events.ts';
import { digestOf } from '../../src/sql/digest.ts';
import { event } from './audit-helpers.ts';
import { event as commandEvent } from './detect-fixtures.ts';

const sql = "SELECT * FROM t WHERE pw = 'Sekr1t'";
const digest = digestOf(sql);
const command: CommandEvent = commandEvent({
  session: 7,
  clientAddress: '192.0.2.7',
  clientPort: 50000,
  statement: sql,
  digest,
  startedAt: Date.UTC(2026, 10, 23),
});

test('a Query record carries the digest hash in every sink', () => {
  const e = fromCommand(command, 'moat-1');
  assert.equal(e.digest, digest.hash);
  assert.equal(digest.text, 'SELECT * FROM `t` WHERE `pw` = ?');
  assert.equal(JSON.parse(auditJsonLine(e)).digest, digest.hash);
  const xml = enterpriseXml().render(e);
  assert.match(xml, new RegExp(`</SQLTEXT>\\n  <DIGEST>${digest.hash}</DIGEST>\\n`));
  assert.match(keyValues(e), new RegExp(` digest="${digest.hash}" statement=`));
});

test('records without a statement digest: JSON null, no XML element, no syslog field', () => {
  const none = fromCommand({ ...command, command: 'Ping', statement: null, digest: null }, 'moat-1');
  assert.equal(none.digest, null);
  assert.equal(fromCommand({ ...command, digest: undefined }, 'moat-1').digest, null);
  const connect = event('Connect');
  assert.equal(JSON.parse(auditJsonLine(connect)).digest, null);
  assert.doesNotMatch(enterpriseXml().render(connect), /DIGEST/);
  assert.doesNotMatch(keyValues(connect), /digest=/);
});
