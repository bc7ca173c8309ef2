// Redaction on the lexer's tokens (issue 16 item 5): comments between the keywords, statements
// held in string literals (PREPARE … FROM, EXECUTE IMMEDIATE), literal forms the server reads as
// one value, and statements cut at the length limit. Every case is one the keyword regex let
// through, with the password in the audit record, the SQL-error log and syslog.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { redactStatement } from '../../src/sql/redact.ts';

const PW = 'S3cr3t-pw';

const bypasses: Array<[string, string]> = [
  [`CREATE USER a IDENTIFIED /*c*/ BY '${PW}'`, `CREATE USER a IDENTIFIED /*c*/ BY '***'`],
  [`CREATE USER a IDENTIFIED #c\n BY '${PW}'`, `CREATE USER a IDENTIFIED #c\n BY '***'`],
  [`CREATE USER a IDENTIFIED -- c\n BY '${PW}'`, `CREATE USER a IDENTIFIED -- c\n BY '***'`],
  [`CREATE USER a IDENTIFIED BY /* x */ '${PW}'`, `CREATE USER a IDENTIFIED BY /* x */ '***'`],
  [
    `CREATE USER a IDENTIFIED VIA /**/ ed25519 /**/ USING /**/ PASSWORD /**/ ( '${PW}' )`,
    `CREATE USER a IDENTIFIED VIA /**/ ed25519 /**/ USING /**/ PASSWORD /**/ ( '***' )`,
  ],
  [`SET PASSWORD /*x*/ = /*y*/ '${PW}'`, `SET PASSWORD /*x*/ = /*y*/ '***'`],
  [`CHANGE MASTER TO MASTER_PASSWORD /*c*/ = '${PW}'`, `CHANGE MASTER TO MASTER_PASSWORD /*c*/ = '***'`],
  // MySQL 5.7.6+ form: the user in quotes before the `=`.
  [`SET PASSWORD FOR 'a'@'%' = '${PW}'`, `SET PASSWORD FOR 'a'@'%' = '***'`],
  // Executable comments are code: the server runs them.
  [`CREATE USER a /*!80000 IDENTIFIED BY '${PW}' */`, `CREATE USER a /*!80000 IDENTIFIED BY '***' */`],
  [`CREATE USER a /*M!100100 IDENTIFIED BY '${PW}' */`, `CREATE USER a /*M!100100 IDENTIFIED BY '***' */`],
  // Literal forms the server reads as one value.
  [`CREATE USER a IDENTIFIED BY 'S3cr' '3t-pw'`, `CREATE USER a IDENTIFIED BY '***'`],
  [`CREATE USER a IDENTIFIED BY _utf8mb4'${PW}'`, `CREATE USER a IDENTIFIED BY '***'`],
  [`CREATE USER a IDENTIFIED BY N'${PW}'`, `CREATE USER a IDENTIFIED BY '***'`],
  [
    `CREATE USER a IDENTIFIED WITH caching_sha2_password AS 0x2441${PW.length}`,
    `CREATE USER a IDENTIFIED WITH caching_sha2_password AS '***'`,
  ],
  // The current password MySQL 8 asks for with REPLACE.
  [
    `ALTER USER a IDENTIFIED BY 'new-${PW}' REPLACE '${PW}'`,
    `ALTER USER a IDENTIFIED BY '***' REPLACE '***'`,
  ],
  [`SET PASSWORD = 'new-${PW}' REPLACE '${PW}'`, `SET PASSWORD = '***' REPLACE '***'`],
  // Keys written into the statement.
  [`SELECT AES_ENCRYPT(card, '${PW}') FROM t`, `SELECT AES_ENCRYPT(card, '***') FROM t`],
  [`SELECT AES_DECRYPT(x, /*k*/ '${PW}', iv)`, `SELECT AES_DECRYPT(x, /*k*/ '***', iv)`],
  [`SELECT ENCRYPT('${PW}', 'ab')`, `SELECT ENCRYPT('***', 'ab')`],
  // Statements in string literals: doubled quotes, backslash escapes, double quotes.
  [
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''${PW}'''`,
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''***'''`,
  ],
  [
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY \\'${PW}\\''`,
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''***'''`,
  ],
  [
    `PREPARE p FROM "CREATE USER a IDENTIFIED /*c*/ BY '${PW}'"`,
    `PREPARE p FROM 'CREATE USER a IDENTIFIED /*c*/ BY ''***'''`,
  ],
  [
    `EXECUTE IMMEDIATE 'ALTER USER a IDENTIFIED BY ''${PW}'''`,
    `EXECUTE IMMEDIATE 'ALTER USER a IDENTIFIED BY ''***'''`,
  ],
  [
    `SET @s = 'SET PASSWORD FOR b = PASSWORD(''${PW}'')'`,
    `SET @s = 'SET PASSWORD FOR b = PASSWORD(''***'')'`,
  ],
  // A string in a string: the inner statement is itself a PREPARE.
  [
    `EXECUTE IMMEDIATE 'PREPARE q FROM ''CREATE USER a IDENTIFIED BY ''''${PW}'''''''`,
    `EXECUTE IMMEDIATE 'PREPARE q FROM ''CREATE USER a IDENTIFIED BY ''''***'''''''`,
  ],
  // A backslash spells the keyword inside a string: '\I' is I to the server.
  [
    `PREPARE p FROM 'CREATE USER a IDENT\\IFIED BY ''${PW}'''`,
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''***'''`,
  ],
  // Cut at the length limit inside the statement held in the literal.
  [
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''${PW}`,
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''***'''`,
  ],
  [
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY \\'${PW}`,
    `PREPARE p FROM 'CREATE USER a IDENTIFIED BY ''***'''`,
  ],
];

describe('redaction on tokens', () => {
  for (const [input, expected] of bypasses) {
    test(JSON.stringify(input), () => {
      const out = redactStatement(input);
      assert.equal(out, expected);
      assert.ok(!out.includes(PW) && !out.includes('S3cr'), out);
    });
  }

  test('text that only looks like a secret stays as it was', () => {
    for (const s of [
      "SELECT 'my password is long' AS hint",
      "PREPARE p FROM 'SELECT * FROM t WHERE identified = 1'",
      'SELECT AES_ENCRYPT(a, CONCAT(b, c)) FROM t',
      "SELECT * FROM t WHERE note LIKE 'a\\_b'",
      "SELECT 'C:\\\\temp' AS path",
    ]) {
      assert.equal(redactStatement(s), s);
    }
  });
});

// Password characters that appear nowhere else in the statements below, so that any one of them
// in the output is a piece of the password. Quotes and backslashes are mixed in to exercise the
// escapes; they may appear elsewhere, so they are not what the checks look for.
const MARK = 'ÆØÅæøå€§¤µ';
const password = fc
  .array(fc.constantFrom(...MARK, ...MARK, "'", '"', '\\', ' ', '*', '/', '-', '#', '\n'), {
    minLength: 1,
    maxLength: 24,
  })
  .map((cs) => cs.join(''))
  .filter((s) => [...s].some((c) => MARK.includes(c)));
const gap = fc.constantFrom(
  ' ',
  '  ',
  '\n',
  ' /*c*/ ',
  '/**/',
  ' /* a\nb */ ',
  ' #c\n',
  ' -- c\n',
  '\t--\t\n',
  ' /*!*/ ',
);

const leaks = (out: string) => [...out].some((c) => MARK.includes(c));

/** The password as a literal in the given quote, escaped as a client library would. */
function literal(pw: string, q: "'" | '"', style: 'double' | 'backslash'): string {
  const body = pw.replaceAll('\\', '\\\\');
  return q + (style === 'double' ? body.replaceAll(q, q + q) : body.replaceAll(q, `\\${q}`)) + q;
}

const statements: Array<(g: string[], lit: string) => string> = [
  (g, l) => `CREATE USER a${g[0]}IDENTIFIED${g[1]}BY${g[2]}${l}${g[3]}PASSWORD EXPIRE`,
  (g, l) => `ALTER USER a IDENTIFIED${g[0]}WITH${g[1]}mysql_native_password${g[2]}BY${g[3]}${l}`,
  (g, l) => `CREATE USER a IDENTIFIED${g[0]}VIA${g[1]}ed25519${g[2]}USING${g[3]}PASSWORD(${l})`,
  (g, l) => `SET${g[0]}PASSWORD${g[1]}FOR${g[2]}'a'@'%'${g[3]}=${g[0]}${l}`,
  (g, l) => `CHANGE MASTER TO MASTER_HOST='h',${g[0]}MASTER_PASSWORD${g[1]}=${g[2]}${l}`,
];

describe('property: a password never reaches the output', () => {
  test('for any password, quoting, escape style and comment placement', () => {
    fc.assert(
      fc.property(
        password,
        fc.constantFrom<"'" | '"'>("'", '"'),
        fc.constantFrom<'double' | 'backslash'>('double', 'backslash'),
        fc.array(gap, { minLength: 4, maxLength: 4 }),
        fc.nat(statements.length - 1),
        (pw, q, style, gaps, which) => {
          const out = redactStatement(statements[which]!(gaps, literal(pw, q, style)));
          assert.ok(!leaks(out), out);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('inside a statement held in a PREPARE or EXECUTE IMMEDIATE literal', () => {
    fc.assert(
      fc.property(
        password,
        fc.constantFrom<'double' | 'backslash'>('double', 'backslash'),
        fc.constantFrom<'double' | 'backslash'>('double', 'backslash'),
        fc.array(gap, { minLength: 4, maxLength: 4 }),
        fc.nat(statements.length - 1),
        fc.constantFrom('PREPARE p FROM ', 'EXECUTE IMMEDIATE ', 'SET @s = '),
        (pw, inner, outer, gaps, which, head) => {
          const stmt = statements[which]!(gaps, literal(pw, "'", inner));
          const out = redactStatement(head + literal(stmt, "'", outer));
          assert.ok(!leaks(out), out);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('cut at any length: no prefix of the password survives', () => {
    fc.assert(
      fc.property(
        password,
        fc.constantFrom<'double' | 'backslash'>('double', 'backslash'),
        fc.array(gap, { minLength: 4, maxLength: 4 }),
        fc.nat(statements.length - 1),
        fc.boolean(),
        (pw, style, gaps, which, nested) => {
          const stmt = statements[which]!(gaps, literal(pw, "'", style));
          const full = nested ? `PREPARE p FROM ${literal(stmt, "'", style)}` : stmt;
          for (let cut = 1; cut <= full.length; cut++) {
            const out = redactStatement(full.slice(0, cut));
            assert.ok(!leaks(out), `cut at ${cut}: ${out}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
