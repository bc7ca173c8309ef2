// Password redaction: every secret-bearing syntax of MySQL and MariaDB, quoting styles, truncated
// statements, and statements that must stay as they are.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { redactStatement } from '../../src/sql/redact.ts';

const SECRET = 'S3cr3t-pw';

const cases: Array<[string, string]> = [
  [`CREATE USER 'a'@'%' IDENTIFIED BY '${SECRET}'`, `CREATE USER 'a'@'%' IDENTIFIED BY '***'`],
  [`alter user a identified by "${SECRET}"`, `alter user a identified by '***'`],
  [
    `GRANT ALL ON *.* TO a IDENTIFIED BY PASSWORD '*ABCDEF${SECRET}'`,
    `GRANT ALL ON *.* TO a IDENTIFIED BY PASSWORD '***'`,
  ],
  [
    `CREATE USER a IDENTIFIED WITH caching_sha2_password BY '${SECRET}'`,
    `CREATE USER a IDENTIFIED WITH caching_sha2_password BY '***'`,
  ],
  [
    `CREATE USER a IDENTIFIED WITH 'mysql_native_password' AS '*${SECRET}'`,
    `CREATE USER a IDENTIFIED WITH 'mysql_native_password' AS '***'`,
  ],
  [
    `CREATE USER a IDENTIFIED VIA ed25519 USING PASSWORD('${SECRET}')`,
    `CREATE USER a IDENTIFIED VIA ed25519 USING PASSWORD('***')`,
  ],
  [
    `CREATE USER a IDENTIFIED VIA ed25519 USING '${SECRET}' OR unix_socket`,
    `CREATE USER a IDENTIFIED VIA ed25519 USING '***' OR unix_socket`,
  ],
  [
    `CREATE USER a IDENTIFIED VIA unix_socket OR mysql_native_password USING '${SECRET}'`,
    `CREATE USER a IDENTIFIED VIA unix_socket OR mysql_native_password USING '***'`,
  ],
  [`SET PASSWORD FOR 'a'@'%' = PASSWORD('${SECRET}')`, `SET PASSWORD FOR 'a'@'%' = PASSWORD('***')`],
  [`SET PASSWORD = '${SECRET}'`, `SET PASSWORD = '***'`],
  [`SET PASSWORD FOR a = OLD_PASSWORD('${SECRET}')`, `SET PASSWORD FOR a = OLD_PASSWORD('***')`],
  [`SELECT PASSWORD('${SECRET}')`, `SELECT PASSWORD('***')`],
  [
    `CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='${SECRET}', MASTER_PORT=3306`,
    `CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='***', MASTER_PORT=3306`,
  ],
  [
    `CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = '${SECRET}'`,
    `CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = '***'`,
  ],
  [`START REPLICA USER='r' PASSWORD='${SECRET}'`, `START REPLICA USER='r' PASSWORD='***'`],
  [
    `CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD '${SECRET}')`,
    `CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD '***')`,
  ],
  [`CREATE USER a IDENTIFIED BY 'it''s \\' ${SECRET}'`, `CREATE USER a IDENTIFIED BY '***'`],
  // Cut off by statement truncation: the rest is the secret.
  [`CREATE USER a IDENTIFIED BY '${SECRET}`, `CREATE USER a IDENTIFIED BY '***'`],
  // Two secrets in one statement.
  [
    `CREATE USER a IDENTIFIED BY '${SECRET}', b IDENTIFIED BY '${SECRET}2'`,
    `CREATE USER a IDENTIFIED BY '***', b IDENTIFIED BY '***'`,
  ],
];

describe('redactStatement', () => {
  for (const [input, expected] of cases) {
    test(input, () => {
      const out = redactStatement(input);
      assert.equal(out, expected);
      assert.ok(!out.includes(SECRET));
    });
  }

  test('statements without secrets are returned unchanged (the same string)', () => {
    for (const s of [
      'SELECT 1',
      "SELECT * FROM users WHERE password_hash = 'x'",
      "UPDATE t SET identified = 1 WHERE name = 'by'",
      "SELECT 'IDENTIFIED' AS word",
    ]) {
      assert.equal(redactStatement(s), s);
    }
    assert.equal(redactStatement(null), null);
  });

  test('property: any secret of any characters after IDENTIFIED BY never survives', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.constantFrom("'", '"'), (secret, q) => {
        const escaped = secret.replaceAll('\\', '\\\\').replaceAll(q, q + q);
        const out = redactStatement(`ALTER USER x IDENTIFIED BY ${q}${escaped}${q} PASSWORD EXPIRE`);
        assert.equal(out, `ALTER USER x IDENTIFIED BY '***' PASSWORD EXPIRE`);
      }),
    );
  });
});
