// Bypasses of the SQL firewall found by a review (2026-12-08), closed and kept closed. An account
// in PROTECTING whose allowlist holds `SELECT ?` and `SET SESSION sql_mode = ?` (what drivers send
// at connect) must not run anything else:
//  - in a character set whose multibyte characters end in 0x5C (gbk here), `'a<BF 5C>'` is an
//    escaped quote to a UTF-8 reader and a closed string to the server: such sessions' statements,
//    and switches to such a set, are refused;
//  - under NO_BACKSLASH_ESCAPES (`'a\'` is a whole string) a statement is digested as the server
//    reads it;
//  - under ANSI_QUOTES `"i"` is a column, so `WHERE i = "i"` holds for every row: the session's
//    sql_mode is asked at login and followed, and a statement is digested as the server reads it
//    (`"…"` kept as written while the mode is not known).
// Through mysql2 against the harness's MariaDB; the tables the attacks aim at must survive.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startMoatWithAdmin } from '../harness/admin-cli.ts';
import { adminQuery, testBackend } from '../harness/env.ts';
import type { RunningMoat } from '../harness/moat.ts';
import { parseErr, rawLogin } from '../harness/raw-mysql.ts';

const backend = testBackend();
const USER = 'fwbypass';
const PASSWORD = 'fwbypass-pw';
let moat: RunningMoat;

/** A statement on moat's admin port through the mariadb CLI, as the DBA. */
let admin: (sql: string) => Promise<string>;

const connect = (o: mysql.ConnectionOptions = {}) =>
  mysql.createConnection({
    user: USER,
    password: PASSWORD,
    database: backend.database,
    host: moat.host,
    port: moat.port,
    multipleStatements: true,
    ...o,
  });

async function errno(c: mysql.Connection, sql: string): Promise<number> {
  try {
    await c.query(sql);
    return 0;
  } catch (e) {
    return (e as { errno?: number }).errno ?? -1;
  }
}

async function tableExists(name: string): Promise<boolean> {
  const rows = await adminQuery(
    `SELECT 1 FROM information_schema.tables WHERE table_schema = '${backend.database}' AND table_name = '${name}'`,
  );
  return rows.length === 1;
}

before(async () => {
  await adminQuery(`CREATE USER IF NOT EXISTS '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await adminQuery(`GRANT ALL ON ${backend.database}.* TO '${USER}'@'%'`);
  await adminQuery(`CREATE TABLE IF NOT EXISTS ${backend.database}.fw_victim_gbk (i INT)`);
  await adminQuery(`CREATE TABLE IF NOT EXISTS ${backend.database}.fw_victim_nbe (i INT)`);
  await adminQuery(`CREATE OR REPLACE TABLE ${backend.database}.fw_victim_ansi (i INT)`);
  await adminQuery(`INSERT INTO ${backend.database}.fw_victim_ansi VALUES (1), (2), (3)`);
  const started = await startMoatWithAdmin(backend);
  moat = started.moat;
  admin = (sql) => started.cli(sql);
  await admin(`CALL mysql.sp_set_firewall_mode('${USER}@%', 'RECORDING')`);
  const c = await connect();
  await c.query('SELECT 1');
  await c.query("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'");
  await c.query('SET NAMES utf8mb4');
  await c.query('DELETE FROM fw_victim_ansi WHERE i = 99');
  await c.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')");
  await c.end();
  await admin(`CALL mysql.sp_set_firewall_mode('${USER}@%', 'PROTECTING')`);
});

after(async () => {
  await moat?.stop();
  await adminQuery(
    `DROP TABLE IF EXISTS ${backend.database}.fw_victim_gbk, ${backend.database}.fw_victim_nbe, ${backend.database}.fw_victim_ansi`,
  );
  await adminQuery(`DROP USER IF EXISTS '${USER}'@'%'`);
});

test('listed statements pass and others are refused (the baseline)', async () => {
  const c = await connect();
  assert.equal(await errno(c, 'SELECT 2'), 0);
  assert.equal(await errno(c, 'SELECT CURRENT_USER()'), 1045);
  await c.end();
});

test('a gbk session cannot smuggle a statement behind a multibyte character', async () => {
  const c = await connect({ charset: 'GBK_CHINESE_CI' });
  // 0xBF 0x5C is one gbk character; decoded as UTF-8 it is U+FFFD and an escaping backslash.
  const attack = Buffer.concat([
    Buffer.from("SELECT 'a"),
    Buffer.from([0xbf, 0x5c]),
    Buffer.from("'; DROP TABLE fw_victim_gbk; #'"),
  ]).toString('binary');
  assert.equal(await errno(c, attack), 1045);
  assert.equal(await errno(c, 'SELECT 2'), 1045, "a gbk session's statements cannot be judged: all refused");
  await c.end().catch(() => {});
  assert.equal(await tableExists('fw_victim_gbk'), true);
  const u = await connect();
  assert.equal(await errno(u, 'SET NAMES gbk'), 1045, 'a switch to gbk is refused');
  assert.equal(await errno(u, 'SET NAMES utf8mb4'), 0, 'a switch to UTF-8 passes');
  await u.end();
});

test("NO_BACKSLASH_ESCAPES: `'a\\'` ends at the quote, and what follows is judged as code", async () => {
  const c = await connect();
  assert.equal(await errno(c, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"), 0, 'listed');
  assert.equal(await errno(c, "SELECT 'a\\'; DROP TABLE fw_victim_nbe; #'"), 1045);
  assert.equal(await errno(c, "SELECT 'a\\'"), 0, 'a whole string under this mode: SELECT ?');
  await c.end();
  assert.equal(await tableExists('fw_victim_nbe'), true);
});

test('a change of sql_mode still unanswered: what follows it is judged as it reads both ways', async () => {
  // Pipelined (sent before the SET's answer): the status flags still say backslashes escape, but
  // the server will run the second statement under NO_BACKSLASH_ESCAPES.
  const c = await rawLogin(moat.host, moat.port, {
    user: USER,
    password: PASSWORD,
    database: backend.database,
  });
  try {
    const query = (sql: string) => Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]);
    c.sendPacket(query("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"), 0);
    c.sendPacket(query("SELECT 'a\\'; DROP TABLE fw_victim_nbe; #'"), 0);
    const set = await c.readPacket();
    assert.equal(set.payload[0], 0x00, 'the listed SET runs');
    const second = await c.readPacket();
    assert.equal(second.payload[0], 0xff, 'the statement behind it is refused');
    assert.equal(parseErr(second.payload).code, 1045);
  } finally {
    c.destroy();
  }
  assert.equal(await tableExists('fw_victim_nbe'), true);
});

test('ANSI_QUOTES: `"i"` is read as the column it is, not as the string of the listed shape', async () => {
  const rows = async () => (await adminQuery(`SELECT i FROM ${backend.database}.fw_victim_ansi`)).length;
  const c = await connect();
  // The default mode (asked at login): "99" is a string, the listed `DELETE … WHERE i = ?`.
  assert.equal(await errno(c, 'DELETE FROM fw_victim_ansi WHERE i = "99"'), 0, 'a string: listed');
  assert.equal(await errno(c, "SET SESSION sql_mode = 'ANSI_QUOTES'"), 0, 'listed');
  // Now `WHERE i = "i"` compares the column with itself: every row would go.
  assert.equal(await errno(c, 'DELETE FROM fw_victim_ansi WHERE i = "i"'), 1045);
  assert.equal(await rows(), 3);
  assert.equal(await errno(c, 'DELETE FROM fw_victim_ansi WHERE i = 99'), 0, 'the listed shape still passes');
  assert.equal(await errno(c, "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'"), 0);
  assert.equal(await errno(c, 'DELETE FROM fw_victim_ansi WHERE i = "98"'), 0, 'a string again');
  // A mode moat cannot read from the statement: "…" is kept as written, so it matches no listed `?`.
  assert.equal(await errno(c, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')"), 0, 'listed');
  assert.equal(await errno(c, 'DELETE FROM fw_victim_ansi WHERE i = "i"'), 1045);
  assert.equal(await errno(c, 'DELETE FROM fw_victim_ansi WHERE i = 97'), 0, 'no double quotes: one reading');
  await c.end();
  assert.equal(await rows(), 3);
});

test("MariaDB's last-prepared id cannot run a statement prepared before PROTECTING", async () => {
  await adminQuery(`CREATE TABLE IF NOT EXISTS ${backend.database}.fw_victim_last (i INT)`);
  await admin(`CALL mysql.sp_set_firewall_mode('${USER}@%', 'DETECTING')`);
  const c = await rawLogin(moat.host, moat.port, {
    user: USER,
    password: PASSWORD,
    database: backend.database,
  });
  try {
    c.sendPacket(Buffer.concat([Buffer.from([0x16]), Buffer.from('DROP TABLE fw_victim_last')]), 0);
    const ok = await c.readPacket();
    assert.equal(ok.payload[0], 0x00, 'prepared while DETECTING');
    const id = ok.payload.readUInt32LE(1);
    await admin(`CALL mysql.sp_set_firewall_mode('${USER}@%', 'PROTECTING')`);
    const execute = (stmt: number) => {
      const p = Buffer.alloc(10);
      p[0] = 0x17; // COM_STMT_EXECUTE: id, flags, iteration count 1
      p.writeUInt32LE(stmt >>> 0, 1);
      p.writeUInt32LE(1, 6);
      return p;
    };
    // MariaDB's COM_STMT_BULK_EXECUTE: id, bulk flags 0, no parameters.
    const bulk = (stmt: number) => {
      const p = Buffer.alloc(7);
      p[0] = 0xfa;
      p.writeUInt32LE(stmt >>> 0, 1);
      return p;
    };
    for (const [what, packet] of [
      ['EXECUTE', execute(id)],
      ['EXECUTE of the last-prepared id', execute(0xffffffff)],
      ['BULK_EXECUTE', bulk(id)],
      ['BULK_EXECUTE of the last-prepared id', bulk(0xffffffff)],
    ] as const) {
      c.sendPacket(packet, 0);
      const r = await c.readPacket();
      assert.equal(r.payload[0], 0xff, `${what} answered with an ERR`);
      assert.equal(parseErr(r.payload).code, 1045, what);
    }
  } finally {
    c.destroy();
    await admin(`CALL mysql.sp_set_firewall_mode('${USER}@%', 'PROTECTING')`);
  }
  assert.equal(await tableExists('fw_victim_last'), true);
  await adminQuery(`DROP TABLE IF EXISTS ${backend.database}.fw_victim_last`);
});
