// Injection signatures, one statement at a time: what each payload family raises at the default
// minScore of 50, what only counts once the statement fails, and what ordinary SQL (including
// attack text inside string literals) must never raise.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_BONUS } from '../../src/detect/detector.ts';
import { EVASION, SignatureScan, STATEMENT_RULES } from '../../src/detect/signatures.ts';
import { Lexer } from '../../src/sql/lexer.ts';

const lexer = new Lexer();
const scan = new SignatureScan();

/** The statement rules that reach 50 (evasion only when nothing else does, as the detector decides). */
function raised(sql: string, failed = false, truncated = false): string[] {
  scan.scan(lexer.lex(sql), truncated);
  const out: string[] = [];
  for (let g = 0; g < STATEMENT_RULES.length; g++) {
    if (g === EVASION && out.length > 0) break;
    if (scan.score(g, failed ? ERROR_BONUS : 0) >= 50) out.push(STATEMENT_RULES[g]!);
  }
  return out;
}

describe('detect signatures: attacks', () => {
  const cases: [string, string[]][] = [
    // UNION-based probing and column counting
    ['SELECT * FROM p WHERE id=1 UNION ALL SELECT NULL,NULL,NULL-- -', ['union-probe']],
    ['SELECT * FROM p WHERE id=-1 UNION SELECT 1,2,3', ['union-probe']],
    ["SELECT * FROM p WHERE id=-1 UNION SELECT @@version,user(),'x'#", ['union-probe']],
    ['SELECT * FROM p WHERE id=1 UNION/**/ALL/**/SELECT/**/NULL,NULL', ['union-probe']],
    ['SELECT * FROM p WHERE id=1 /*!50000UNION*/ /*!50000SELECT*/ 1,2', ['union-probe']],
    [
      'SELECT * FROM p WHERE id=1 UNION ALL SELECT NULL,CONCAT(0x717a6a7171,IFNULL(CAST(password AS NCHAR),0x20)),NULL FROM users-- -',
      ['union-probe'],
    ],
    // information_schema / mysql.* enumeration
    [
      'SELECT * FROM p WHERE id=1 UNION ALL SELECT NULL,CONCAT(0x71,IFNULL(CAST(schema_name AS NCHAR),0x20),0x71),NULL FROM INFORMATION_SCHEMA.SCHEMATA-- -',
      ['union-probe', 'schema-enumeration'],
    ],
    [
      "SELECT a FROM t WHERE id='' UNION SELECT table_name FROM information_schema.tables#",
      ['schema-enumeration'],
    ],
    [
      "SELECT a FROM t WHERE id='' UNION SELECT authentication_string FROM `mysql`.`user`#",
      ['schema-enumeration'],
    ],
    // tautologies
    ["SELECT * FROM users WHERE name='' OR '1'='1' -- ' AND pass=''", ['tautology']],
    ['SELECT * FROM users WHERE id=1 OR 1=1', ['tautology']],
    ["SELECT * FROM users WHERE name='' OR 'a'='a'", ['tautology']],
    ["SELECT * FROM users WHERE name='' OR ''=''", ['tautology']],
    ['SELECT * FROM users WHERE id=1 OR TRUE', ['tautology']],
    ['SELECT * FROM users WHERE id=1 OR NOT FALSE', ['tautology']],
    ['SELECT * FROM users WHERE id=1 || 2>1', ['tautology']],
    ['SELECT * FROM users WHERE id=1 OR (7=7)', ['tautology']],
    ["SELECT * FROM users WHERE id='1' OR 1 #", ['tautology']],
    ["SELECT * FROM users WHERE name='x' OR 'x' LIKE 'x'", ['tautology']],
    // stacked queries
    ['SELECT * FROM p WHERE id=1; DROP TABLE users-- -', ['stacked-query']],
    ["SELECT * FROM p WHERE id=1; GRANT ALL ON *.* TO 'x'@'%'", ['stacked-query']],
    ['SELECT * FROM p WHERE id=1; SET GLOBAL general_log=1', ['stacked-query']],
    ['SELECT * FROM p WHERE id=1; SELECT SLEEP(5)', ['time-based']],
    // a harmless-looking stacked SELECT is only a hint; the SLEEP in it is the finding
    ['SELECT * FROM p WHERE id=1; SELECT SLEEP(5)-- -', ['time-based']],
    ["SELECT * FROM p WHERE id='1'; SELECT SLEEP(5)-- '", ['stacked-query', 'time-based']],
    // time-based blind
    ['SELECT * FROM p WHERE id=1 AND SLEEP(5)', ['time-based']],
    ['SELECT * FROM p WHERE id=1 AND (SELECT 1 FROM (SELECT(SLEEP(5)))a)', ['time-based']],
    ["SELECT * FROM p WHERE id='1' AND IF(1=1,SLEEP(5),0)-- -", ['time-based']],
    ['SELECT * FROM p WHERE id=1 AND BENCHMARK(5000000,MD5(1))', ['time-based']],
    ["SELECT * FROM p WHERE id=1; WAITFOR DELAY '0:0:5'--", ['stacked-query', 'time-based']],
    // blind extraction and error-based functions
    [
      'SELECT * FROM p WHERE id=1 AND ORD(MID((SELECT IFNULL(CAST(COUNT(DISTINCT(schema_name)) AS NCHAR),0x20) FROM INFORMATION_SCHEMA.SCHEMATA),1,1))>51',
      ['blind-probe'],
    ],
    ['SELECT * FROM p WHERE id=1 AND 4812=4812-- -', ['blind-probe']],
    ['SELECT * FROM p WHERE id=1 AND EXTRACTVALUE(1,CONCAT(0x5c,(SELECT version())))-- -', ['blind-probe']],
    [
      'SELECT * FROM p WHERE id=1 AND (SELECT 2 FROM (SELECT COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x FROM information_schema.plugins GROUP BY x)a)',
      ['blind-probe'],
    ],
    // files
    ["SELECT * FROM p WHERE id=-1 UNION SELECT LOAD_FILE('/etc/passwd'),2", ['union-probe', 'file-access']],
    ["SELECT '<?php system($_GET[c]); ?>' INTO OUTFILE '/var/www/x.php'", ['file-access']],
    ["SELECT a FROM t INTO DUMPFILE '/tmp/x'", ['file-access']],
    // comment truncation alone
    ["SELECT * FROM users WHERE name='admin'-- ' AND pass='x'", ['evasion']],
    ["SELECT * FROM users WHERE name='admin'#' AND pass='x'", ['evasion']],
  ];
  for (const [sql, want] of cases) {
    test(`${want.join('+')}: ${sql}`, () => assert.deepEqual(raised(sql), want));
  }
});

describe('detect signatures: weak hints count only together or when the statement fails', () => {
  const cases: [string, string[], string[]][] = [
    // statement, raised when it succeeds, raised when it fails with a probing error
    ['SELECT * FROM p WHERE id=1 ORDER BY 10-- -', [], ['union-probe']],
    ['SELECT * FROM p WHERE id=1 ORDER BY 3', [], []],
    ["SELECT * FROM p WHERE id='1''", [], []],
    ['SELECT * FROM p WHERE id=1 AND 1=2', [], ['blind-probe']],
    ['SELECT a, b FROM t UNION SELECT c, NULL FROM u', [], ['union-probe']],
    ['SELECT * FROM p WHERE id=1 -- ', [], []],
    ['SELECT * FROM p WHERE id=0x61646d696e-- -', [], ['evasion']],
    ['SELECT * FROM t WHERE id=1; SELECT 2', [], []],
    ['SELECT * FROM t WHERE id=1; SELECT 2-- -', [], ['stacked-query']],
    ['SELECT column_name FROM information_schema.columns WHERE table_name=?', [], []],
  ];
  for (const [sql, ok, failed] of cases) {
    test(sql, () => {
      assert.deepEqual(raised(sql), ok, 'succeeded');
      assert.deepEqual(raised(sql, true), failed, 'failed');
    });
  }

  test('a statement cut at the capture limit: its end proves nothing', () => {
    const sql = "SELECT * FROM users WHERE name='admin'-- ' AND pass='x'";
    assert.deepEqual(raised(sql, false, true), []);
  });

  test('scores add up: a tautology with comment truncation scores more than one without', () => {
    scan.scan(lexer.lex('SELECT * FROM u WHERE id=1 OR 1=1'), false);
    const plain = scan.score(STATEMENT_RULES.indexOf('tautology'), 0);
    scan.scan(lexer.lex("SELECT * FROM u WHERE n='' OR 1=1 -- '"), false);
    const truncated = scan.score(STATEMENT_RULES.indexOf('tautology'), 0);
    assert.equal(plain, 50);
    assert.equal(truncated, 100);
    assert.equal(scan.score(STATEMENT_RULES.indexOf('tautology'), ERROR_BONUS), 125);
    assert.deepEqual(scan.labels(STATEMENT_RULES.indexOf('tautology')), [
      'tautology after OR',
      'comment truncation hiding a quote',
    ]);
  });
});

describe('detect signatures: ordinary SQL raises nothing, even when it fails', () => {
  const benign = [
    // attack text inside literals and comments
    "SELECT 'union select 1,2,3' FROM t",
    "SELECT * FROM posts WHERE body LIKE '%union select%' OR title LIKE '%sleep(%'",
    "INSERT INTO comments (body) VALUES ('x\\' OR 1=1 -- ')",
    "INSERT INTO comments (body) VALUES ('it''s; DROP TABLE users; --')",
    "UPDATE users SET bio='1; DROP TABLE x' WHERE id=1",
    'SELECT /* OR 1=1 */ id FROM t',
    // framework traffic
    '/* ping */ SELECT 1',
    'SELECT `users`.* FROM `users` WHERE `users`.`id` = 1 LIMIT 1 /*application:Shop,controller:users*/',
    "SELECT * FROM t WHERE id = 1 /*traceparent='00-4bf92f-00f067-01'*/",
    'SELECT `id`, `name` FROM `Users` AS `User` WHERE `User`.`id` = 1;',
    'SELECT u1_0.id,u1_0.email FROM users u1_0 WHERE u1_0.email=? OR u1_0.name=?',
    "SELECT * FROM auth_user WHERE (username = 'a' OR email = 'a') AND is_active",
    'SELECT * FROM t WHERE 1=1 AND a = ? AND b = ?',
    'SELECT * FROM t WHERE a = 1 OR b = 2',
    'SELECT * FROM t WHERE a BETWEEN 1 AND 100 ORDER BY 1',
    'SELECT SLEEP(1)',
    'DO SLEEP(0.5)',
    "SELECT GET_LOCK('migrations', 10)",
    'SELECT id FROM t WHERE uuid = 0x11ea5b6f9ac34d5aa0d7e2b1c3f4a5b6',
    "INSERT INTO t (id) VALUES (UNHEX(REPLACE('3f06af63-a93c-11e4-9797-00505690773f','-','')))",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
    'SELECT a.x FROM t a UNION ALL SELECT b.y FROM u b',
    '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */',
    "CREATE TABLE sbtest1(\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  k INTEGER DEFAULT '0' NOT NULL,\n  PRIMARY KEY (id)\n) /*! ENGINE = innodb */ ",
    'CREATE PROCEDURE p() BEGIN SELECT 1; DROP TEMPORARY TABLE IF EXISTS tmp; END',
    "SET NAMES utf8mb4; SET time_zone = '+00:00'",
    'BEGIN; UPDATE t SET a=1 WHERE id=2; COMMIT',
    "SELECT CASE WHEN a = 1 THEN 'x' ELSE 'y' END FROM t WHERE b <> 'c' AND d >= 1",
    'SELECT COUNT(*) FROM t GROUP BY 1 ORDER BY 2 DESC',
    'SELECT CHAR(65) FROM dual',
    "SELECT doc->>'$.name' FROM t WHERE doc->'$.n' > 1",
  ];
  for (const sql of benign) {
    test(sql, () => {
      assert.deepEqual(raised(sql), [], 'succeeded');
      assert.deepEqual(raised(sql, true), [], 'failed');
    });
  }
});
