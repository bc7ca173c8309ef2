// Scripted attack sessions: each raises the expected rules with the expected scope, once per
// window, with the actions the configuration gives the rule.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DetectConfigInput, detectConfigSchema } from '../../src/detect/config.ts';
import { Detector, type Finding } from '../../src/detect/detector.ts';
import type { CommandEvent } from '../../src/model/events.ts';
import { Clock, event, failed, feed, summary } from './detect-fixtures.ts';

const attacker = { user: 'webapp', clientAddress: '203.0.113.9', database: 'shop' };
const PRODUCTS = 'SELECT id, name, price, stock FROM products WHERE id=';
const REVIEWS =
  'SELECT r.id, r.body, r.stars, u.name FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.id=';
const Q = PRODUCTS;

/** sqlmap against a numeric parameter: heuristics, boolean pairs, ORDER BY counting, UNION, enumeration. */
function sqlmap(session: number, over: Partial<CommandEvent> = {}, Q = PRODUCTS): CommandEvent[] {
  const ok = (statement: string, rows = 1) => event({ ...attacker, session, statement, rows, ...over });
  const err = (code: number, statement: string) => failed(code, { ...attacker, session, statement, ...over });
  return [
    ok(`${Q}1`),
    err(1064, `${Q}1'`),
    err(1064, `${Q}1"`),
    err(1064, `${Q}1,(("'.)`),
    err(1064, `${Q}1) AND 1=1`),
    err(1064, `${Q}1' AND 'a'='a`),
    ok(`${Q}1 AND 3916=3916`),
    ok(`${Q}1 AND 3916=7412`, 0),
    err(1054, `${Q}1 AND xqzv=1`),
    ok(`${Q}1 ORDER BY 1-- -`),
    err(1054, `${Q}1 ORDER BY 10-- -`),
    err(1054, `${Q}1 ORDER BY 6-- -`),
    ok(`${Q}1 ORDER BY 4-- -`),
    err(1054, `${Q}1 ORDER BY 5-- -`),
    err(1222, `${Q}1 UNION ALL SELECT NULL-- -`),
    err(1222, `${Q}1 UNION ALL SELECT NULL,NULL-- -`),
    err(1222, `${Q}1 UNION ALL SELECT NULL,NULL,NULL-- -`),
    ok(`${Q}1 UNION ALL SELECT NULL,NULL,NULL,NULL-- -`, 2),
    ok(`${Q}-3906 UNION ALL SELECT NULL,CONCAT(0x71716b7071,0x4a6b,0x7178707671),NULL,NULL-- -`),
    err(
      1267,
      `${Q}-3906 UNION ALL SELECT NULL,CONCAT(0x71716b7071,IFNULL(CAST(schema_name AS CHAR),0x20),0x7178707671),NULL,NULL FROM INFORMATION_SCHEMA.SCHEMATA-- -`,
    ),
    ok(
      `${Q}-3906 UNION ALL SELECT NULL,CONCAT(0x71716b7071,IFNULL(CAST(schema_name AS NCHAR),0x20),0x7178707671),NULL,NULL FROM INFORMATION_SCHEMA.SCHEMATA-- -`,
      4,
    ),
    ok(
      `${Q}-3906 UNION ALL SELECT NULL,CONCAT(0x71716b7071,IFNULL(CAST(table_name AS NCHAR),0x20),0x7178707671),NULL,NULL FROM INFORMATION_SCHEMA.TABLES WHERE table_schema IN (0x73686f70)-- -`,
      9,
    ),
    ok(
      `${Q}-3906 UNION ALL SELECT NULL,CONCAT(0x71716b7071,IFNULL(CAST(column_name AS NCHAR),0x20),0x7178707671),NULL,NULL FROM INFORMATION_SCHEMA.COLUMNS WHERE table_name=0x7573657273 AND table_schema=0x73686f70-- -`,
      6,
    ),
    err(
      1142,
      `${Q}-3906 UNION ALL SELECT NULL,CONCAT(0x71716b7071,IFNULL(CAST(authentication_string AS NCHAR),0x20),0x7178707671),NULL,NULL FROM mysql.user-- -`,
    ),
  ];
}

function timeBlind(session: number): CommandEvent[] {
  const s = { ...attacker, session };
  return [
    event({ ...s, statement: `${Q}1 AND SLEEP(5)`, durationMs: 5003 }),
    event({ ...s, statement: `${Q}1 AND (SELECT 7744 FROM (SELECT(SLEEP(5)))Vnbq)`, durationMs: 5002 }),
    event({ ...s, statement: `${Q}1 AND IF(ORD(MID(DATABASE(),1,1))>64,SLEEP(5),0)`, durationMs: 5001 }),
    event({ ...s, statement: `${Q}1 AND 2891=BENCHMARK(5000000,MD5(0x4a4b))`, durationMs: 4800 }),
  ];
}

function run(statements: CommandEvent[], config: DetectConfigInput = {}): Finding[] {
  const clock = new Clock();
  const d = new Detector(detectConfigSchema.parse(config), clock.now);
  return feed(d, clock, statements, 200);
}

describe('detect: scripted attacks', () => {
  test('sqlmap: error burst, UNION probing, schema enumeration, boolean probing; once each', () => {
    const findings = run(sqlmap(1));
    assert.deepEqual(summary(findings), [
      'blind-probe/session',
      'schema-enumeration/session',
      'sql-errors/session',
      'union-probe/session',
    ]);
    assert.equal(findings.length, 4, 'one finding per rule and scope in the window');
    const byRule = new Map(findings.map((f) => [f.rule, f]));
    const union = byRule.get('union-probe')!;
    assert.equal(union.severity, 'high');
    assert.equal(union.user, 'webapp');
    assert.equal(union.address, '203.0.113.9');
    assert.match(union.evidence, /ORDER BY 10-- -|UNION ALL SELECT NULL/);
    const errors = byRule.get('sql-errors')!;
    assert.equal(errors.severity, 'medium');
    assert.match(
      errors.reason,
      /^10 distinct failing statements \(syntax 4, unknown column\/table 2, column count 3, operand 1\)/,
    );
    assert.match(byRule.get('schema-enumeration')!.reason, /information_schema read through UNION/);
    for (const f of findings) {
      assert.deepEqual(f.actions, ['alert']);
      assert.equal(f.blockSeconds, undefined);
    }
  });

  test('sqlmap through a pooled application: no session reaches a threshold, the address does', () => {
    const app = { clientAddress: '10.0.0.5', user: 'shop_app' };
    const statements = [...sqlmap(0, app, PRODUCTS), ...sqlmap(0, app, REVIEWS)].map((e, i) => ({
      ...e,
      session: 200 + (i % 8),
    }));
    const findings = run(statements);
    const errors = findings.filter((f) => f.rule === 'sql-errors');
    assert.deepEqual(
      errors.map((f) => f.scope),
      ['address'],
    );
    assert.match(errors[0]!.reason, /^20 distinct failing statements .* from address 10\.0\.0\.5/);
    // The statement rules still fire, in whichever pooled session carried the payload.
    assert.ok(findings.some((f) => f.rule === 'union-probe' && f.scope === 'session'));
  });

  test('time-based blind: time-based (high), once per window', () => {
    const findings = run(timeBlind(2));
    assert.deepEqual(summary(findings), ['time-based/session']);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.severity, 'high');
    assert.match(findings[0]!.evidence, /SLEEP\(5\)/);
  });

  test('stacked query: DROP after a complete statement, failing with 1064', () => {
    const findings = run([
      failed(1064, { ...attacker, session: 3, statement: `${Q}1; DROP TABLE users-- -` }),
    ]);
    assert.deepEqual(summary(findings), ['stacked-query/session']);
    assert.equal(findings[0]!.score, 50 + 20 + 25);
    assert.match(
      findings[0]!.reason,
      /changes schema or privileges; comment truncation .*; statement failed with ERR 1064/,
    );
  });

  test("tautology login bypass: ' OR '1'='1' -- ", () => {
    const statement = "SELECT * FROM users WHERE name='' OR '1'='1' -- ' AND pass=''";
    const findings = run([event({ ...attacker, session: 4, statement, rows: 12 })]);
    assert.deepEqual(summary(findings), ['tautology/session']);
    assert.equal(findings[0]!.severity, 'high');
    assert.equal(findings[0]!.score, 100);
    assert.equal(findings[0]!.evidence, statement);
  });

  test('access-denied burst: 1142 on several tables, then a second session of the same address', () => {
    const tables = ['salaries', 'payroll', 'users', 'api_keys', 'audit_log', 'invoices', 'refunds', 'cards'];
    const first = tables
      .slice(0, 5)
      .map((t) => failed(1142, { ...attacker, user: 'report', session: 5, statement: `SELECT * FROM ${t}` }));
    const second = [...tables.slice(5), 'customers', 'vault'].map((t, i) =>
      failed(1142, { ...attacker, user: 'report', session: 6 + (i % 2), statement: `SELECT * FROM ${t}` }),
    );
    const findings = run([...first, ...second]);
    assert.deepEqual(
      findings.map((f) => `${f.rule}/${f.scope}/${f.session}`),
      ['access-denied/session/5', 'access-denied/address/6'],
    );
    assert.match(
      findings[1]!.reason,
      /^10 access-denied errors in 60 s from address 203\.0\.113\.9; last ERR 1142/,
    );
  });

  test('actions and blockSeconds come from the rule configuration', () => {
    const findings = run([...sqlmap(1), ...timeBlind(1)], {
      rules: {
        'union-probe': { actions: ['alert', 'kill'] },
        'sql-errors': { actions: ['alert', 'block'], blockSeconds: 3600 },
        'time-based': { actions: ['kill', 'block', 'kill'] },
      },
    });
    const byRule = new Map(findings.map((f) => [f.rule, f]));
    assert.deepEqual(byRule.get('union-probe')!.actions, ['alert', 'kill']);
    assert.equal(byRule.get('union-probe')!.blockSeconds, undefined);
    assert.deepEqual(byRule.get('sql-errors')!.actions, ['alert', 'block']);
    assert.equal(byRule.get('sql-errors')!.blockSeconds, 3600);
    assert.deepEqual(byRule.get('time-based')!.actions, ['kill', 'block']);
    assert.equal(byRule.get('time-based')!.blockSeconds, 600);
    assert.deepEqual(byRule.get('schema-enumeration')!.actions, ['alert']);
  });

  test('findings repeat after the window while the attack goes on, not before', () => {
    const clock = new Clock();
    const d = new Detector(detectConfigSchema.parse({}), clock.now);
    const payload = event({ ...attacker, session: 7, statement: `${Q}1 AND SLEEP(5)` });
    let count = 0;
    for (let s = 0; s < 180; s++) {
      clock.t += 1000;
      count += d.observe(payload).length;
    }
    assert.equal(count, 3, 'three minutes of one payload a second: one finding a minute');
  });
});
