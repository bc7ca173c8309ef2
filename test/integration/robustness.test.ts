// Robustness through real sockets: clients that misbehave on the wire (go away, send garbage,
// truncated or oversized packets, answer too slowly) and LOAD DATA LOCAL INFILE (a backend that
// dies or is not there: cli.test.ts). moat must answer each misbehaving client with the MySQL
// error its class deserves, cost the backend nothing for it, and never disturb anyone else.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type { LoginRecord } from '../../src/model/events.ts';
import { adminQuery, testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import {
  CAP,
  comQuery,
  handshakeResponse,
  header,
  packet,
  parseErr,
  parseGreeting,
  RawClient,
  rawLogin,
} from '../harness/raw-mysql.ts';

const backend = testBackend();
const app = backend.users.app;
const DB = backend.database;

// ---------------------------------------------------------------------------------------------
// Helpers

interface ServerCounters {
  connections: number;
  abortedConnects: number;
}

/** The backend's own view: every connection it accepted, and every one that failed to log in. */
async function counters(): Promise<ServerCounters> {
  const rows = (await adminQuery(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Aborted_connects')",
  )) as Array<{ Variable_name: string; Value: string }>;
  const get = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value);
  return { connections: get('Connections'), abortedConnects: get('Aborted_connects') };
}

/**
 * Connections the counter read itself adds (adminQuery opens a connection of its own): measured,
 * not assumed, with two reads back to back.
 */
async function counterOverhead(): Promise<number> {
  const a = await counters();
  const b = await counters();
  return b.connections - a.connections;
}

function login(moat: RunningMoat, extra: Record<string, unknown> = {}): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: moat.host,
    port: moat.port,
    user: app.user,
    password: app.password,
    database: DB,
    ...extra,
  });
}

/** The greeting moat sends first; also proves moat is alive and greeting. */
async function greeted(moat: RunningMoat): Promise<RawClient> {
  const c = await RawClient.connect(moat.host, moat.port);
  parseGreeting((await c.readPacket()).payload);
  return c;
}

/** A valid HandshakeResponse for `app` (its auth answer does not matter: moat switches anyway). */
function appHandshake(attributes?: Array<[string, string]>): Buffer {
  const spec: Parameters<typeof handshakeResponse>[0] = { user: app.user, authResponse: randomBytes(20) };
  if (attributes !== undefined) spec.attributes = attributes;
  return handshakeResponse(spec);
}

type Misbehaviour = 'close' | 'garbage' | 'truncated' | 'oversize';

interface Observed {
  kind: Misbehaviour;
  port: number;
  /** The packet moat sent after its greeting, if any. */
  reply: { seq: number; payload: Buffer } | null;
  closed: boolean;
}

/**
 * One misbehaving client:
 *  close      connect and close at once (a port scan)
 *  garbage    read the greeting, send one whole packet of random bytes that cannot be a
 *             HandshakeResponse (shorter than its 32-byte fixed part, or without CLIENT_PROTOCOL_41)
 *  truncated  a real HandshakeResponse cut inside the user name or the auth response
 *  oversize   a header declaring 0xffffff bytes, the most one header can (moat's limit is lower)
 */
async function misbehave(moat: RunningMoat, kind: Misbehaviour, i: number): Promise<Observed> {
  const c = await RawClient.connect(moat.host, moat.port);
  const port = c.socket.localPort ?? 0;
  if (kind === 'close') {
    c.destroy();
    await c.closed;
    return { kind, port, reply: null, closed: true };
  }
  parseGreeting((await c.readPacket()).payload);
  if (kind === 'garbage') {
    let payload: Buffer;
    if (i % 2 === 0) payload = randomBytes(1 + (i % 31));
    else {
      payload = randomBytes(33 + i * 7);
      payload.writeUInt32LE((payload.readUInt32LE(0) & ~CAP.PROTOCOL_41) >>> 0, 0);
    }
    c.sendPacket(payload, 1);
  } else if (kind === 'truncated') {
    // 32 fixed bytes, "app\0", length byte 20, 20 bytes of scramble: any cut before the scramble's
    // last byte leaves a packet whose fields run past its end.
    const full = appHandshake();
    c.sendPacket(full.subarray(0, 32 + (i % 25)), 1);
  } else {
    c.write(Buffer.concat([header(0xffffff, 1), randomBytes(64)]));
  }
  let reply: Observed['reply'] = null;
  try {
    reply = await c.readPacket(3000);
  } catch {
    // closed without a word: the assertions below say so
  }
  const closed = await c.closesWithin(3000);
  c.destroy();
  return { kind, port, reply, closed };
}

function _loginOf(moat: RunningMoat, port: number): LoginRecord | undefined {
  return moat.logins.find((r) => r.clientPort === port);
}

/** Asserts what one misbehaving client saw and what moat recorded about it. */
async function assertRefused(moat: RunningMoat, o: Observed): Promise<void> {
  const what = `${o.kind} client on port ${o.port}`;
  assert.ok(o.closed, `${what}: moat closed the connection`);
  const record = await moat.waitForLogin((r) => r.clientPort === o.port, 3000);
  if (o.kind === 'close') {
    // Nothing to tell a client that is gone; the ledger still counts the attempt.
    assert.equal(o.reply, null, what);
    assert.equal(record.outcome, 'client-gone', what);
    return;
  }
  assert.ok(o.reply !== null, `${what}: an ERR packet before the close`);
  const err = parseErr(o.reply.payload);
  // The client sent sequence id 1; the answer carries the next one, or the client library
  // reports "packets out of order" instead of the error.
  assert.equal(o.reply.seq, 2, `${what}: ERR sequence id`);
  if (o.kind === 'oversize') {
    assert.deepEqual(err, {
      code: 1153,
      sqlState: '08S01',
      message: "Got a packet bigger than 'max_allowed_packet' bytes",
    });
  } else {
    assert.deepEqual(err, { code: 1043, sqlState: '08S01', message: 'Bad handshake' }, what);
  }
  assert.equal(record.outcome, 'handshake-error', what);
  assert.equal(record.errorCode, err.code, what);
}

const KINDS: Misbehaviour[] = ['close', 'garbage', 'truncated', 'oversize'];

// ---------------------------------------------------------------------------------------------

describe('misbehaving clients', () => {
  let moat: RunningMoat;
  before(async () => {
    // 1 MiB: a header can declare at most 16 MiB - 1, so the oversize client needs a lower limit.
    moat = await startMoat(backend, { limits: { maxPacketSize: 1 << 20 } });
  });
  after(async () => {
    await moat?.stop();
  });

  test('a client that goes away or sends garbage costs the backend nothing', async () => {
    const overhead = await counterOverhead();
    const start = await counters();
    const seen = await Promise.all(
      Array.from({ length: 50 }, (_, i) => misbehave(moat, KINDS[i % KINDS.length]!, i)),
    );
    for (const o of seen) await assertRefused(moat, o);
    const conn = await login(moat);
    const [rows] = await conn.query('SELECT 1 AS one');
    assert.deepEqual(rows, [{ one: 1 }]);
    await conn.end();
    const end = await counters();
    assert.equal(
      end.connections - start.connections,
      1 + overhead,
      'the backend saw the good login and the counter read, nothing else',
    );
    assert.equal(end.abortedConnects, start.abortedConnects, 'no aborted connect on the backend');
  });
});

test('a slow loris is cut off at the handshake timeout while others log in', async () => {
  const moat = await startMoat(backend, { limits: { handshakeTimeoutMs: 300 } });
  try {
    const t0 = performance.now();
    const loris = await greeted(moat);
    const port = loris.socket.localPort;
    const bytes = packet(appHandshake(), 1);
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < bytes.length && !loris.socket.destroyed) loris.write(bytes.subarray(sent, ++sent));
    }, 100);
    try {
      // A normal client meanwhile: its whole login fits in the same 300 ms budget.
      const conn = await login(moat);
      const [rows] = await conn.query('SELECT 2 AS two');
      assert.deepEqual(rows, [{ two: 2 }]);
      await conn.end();
      const reply = await loris.readPacket(3000);
      const closed = await loris.closesWithin(2000);
      const elapsed = performance.now() - t0;
      assert.ok(closed, 'moat closed the slow client');
      assert.ok(elapsed >= 280 && elapsed < 1500, `cut off after ${Math.round(elapsed)} ms, ~300 expected`);
      assert.ok(sent < 10, `only ${sent} bytes dripped in`);
      assert.deepEqual(parseErr(reply.payload), {
        code: 1159,
        sqlState: '08S01',
        message: 'Got timeout reading communication packets',
      });
      assert.equal(reply.seq, 2, 'ERR follows the packet (seq 1) the client was sending');
      const record = await moat.waitForLogin((r) => r.clientPort === port);
      assert.equal(record.outcome, 'timeout');
      assert.equal(record.errorCode, 1159);
      assert.ok(moat.logins.some((r) => r.outcome === 'ok' && r.user === app.user));
    } finally {
      clearInterval(drip);
      loris.destroy();
    }
  } finally {
    await moat.stop();
  }
});

test('a client that stops reading: moat pauses the backend instead of buffering the result', async () => {
  // moat runs in this process, so its buffers show in this process's arrayBuffers. Without
  // backpressure the whole 48 MiB result would pile up in moat's memory within the pause.
  const ROWS = 48;
  const moat = await startMoat(backend);
  const raw = await rawLogin(moat.host, moat.port, app);
  try {
    raw.socket.pause();
    const before = process.memoryUsage().arrayBuffers;
    raw.write(comQuery(`SELECT REPEAT('x', 1048576) AS r FROM information_schema.COLUMNS LIMIT ${ROWS}`));
    await sleep(1500);
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(
      held < 16 << 20,
      `moat held ${held >> 20} MiB of a ${ROWS} MiB result for a client that reads nothing`,
    );
    raw.socket.resume();
    let rows = 0;
    for (;;) {
      const p = (await raw.readPacket(10_000)).payload;
      if (p.length >= 1 << 20) rows++;
      else if (p[0] === 0xff) assert.fail(`ERR ${parseErr(p).code}: ${parseErr(p).message}`);
      else if (rows > 0 && p[0] === 0xfe && p.length < 9) break;
    }
    assert.equal(rows, ROWS, 'the whole result arrived once the client read again');
  } finally {
    raw.destroy();
    await moat.stop();
  }
});

describe('one client cannot disturb another', () => {
  let moat: RunningMoat;
  before(async () => {
    moat = await startMoat(backend, { limits: { maxPacketSize: 1 << 20 } });
  });
  after(async () => {
    await moat?.stop();
  });

  test('200 queries run clean while 30 malformed connections hit moat', async () => {
    const conn = await login(moat);
    try {
      const storm = Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          await sleep(i * 5);
          return misbehave(moat, KINDS[i % KINDS.length]!, i);
        }),
      );
      for (let i = 0; i < 200; i++) {
        const [rows] = await conn.query('SELECT ? AS v', [i]);
        assert.deepEqual(rows, [{ v: i }]);
      }
      for (const o of await storm) await assertRefused(moat, o);
      const done = moat.events.filter((e) => e.statement?.startsWith('SELECT ') && e.status === 'OK');
      assert.ok(done.length >= 200, `${done.length} clean query events`);
    } finally {
      await conn.end();
    }
  });

  test('a malformed packet mid-session ends only that session', async () => {
    const conn = await login(moat);
    const raw = await rawLogin(moat.host, moat.port, { ...app, database: DB });
    try {
      raw.write(comQuery('SELECT 1'));
      assert.equal((await raw.readPacket()).payload[0], 1, 'one column: the raw session works');
      await waitIdle(raw);
      // A command packet with sequence id 5 (a new command must start at 0) and junk after it:
      // the server answers "Got packets out of order" and hangs up, as it would without moat.
      // Hanging up with junk unread, its kernel may send a reset that overtakes the ERR (directly
      // connected clients see the same): either ends that session.
      raw.write(Buffer.concat([packet(Buffer.from('\x03SELECT 2'), 5), randomBytes(100)]));
      const first = await raw.readPacket().then(
        (p) => parseErr(p.payload).code,
        () => 'closed' as const,
      );
      assert.ok(first === 1156 || first === 'closed', `ERR 1156 or a closed connection, got ${first}`);
      assert.ok(await raw.closesWithin(3000), 'the malformed session was closed');
      const [rows] = await conn.query('SELECT 3 AS v');
      assert.deepEqual(rows, [{ v: 3 }], 'the other session goes on');
      const again = await login(moat);
      await again.end();
    } finally {
      raw.destroy();
      await conn.end();
    }
  });

  // Each of these the server answers with an ERR and the session goes on as before (MySQL and
  // MariaDB read an empty packet as COM_SLEEP, answered "Unknown command"; an account without
  // REPLICATION SLAVE gets 1227 for a binlog dump). If moat stopped following the session here,
  // one packet would hide every later statement of it from the audit.
  const blinders: Array<[string, Buffer, number]> = [
    ['empty packet', Buffer.alloc(0), 1047],
    ['COM_BINLOG_DUMP', Buffer.from([0x12, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0]), 1227],
    ['COM_BINLOG_DUMP_GTID', Buffer.from([0x1e, 0, 0, 1, 0, 0, 0]), 1047],
    ['COM_TABLE_DUMP', Buffer.from([0x13, 0, 0]), 1047],
    ['COM_CONNECT_OUT', Buffer.from([0x14]), 1047],
    ['COM_REGISTER_SLAVE', Buffer.from([0x15, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 1045],
  ];
  for (const [name, payload, code] of blinders) {
    test(`a refused ${name} does not hide the session's later statements`, async () => {
      const raw = await rawLogin(moat.host, moat.port, app);
      try {
        raw.sendPacket(payload, 0);
        assert.equal(parseErr((await raw.readPacket()).payload).code, code);
        const marker = `SELECT 'after ${name}'`;
        raw.write(comQuery(marker));
        await waitIdle(raw);
        const e = await moat.waitForEvent((x) => x.statement === marker, 2000);
        assert.equal(e.status, 'OK');
        assert.equal(e.rows, 1);
      } finally {
        raw.destroy();
      }
    });
  }
});

/** Reads a raw session's packets until a text result set or OK/ERR answer is complete. */
async function waitIdle(c: RawClient): Promise<void> {
  let eofs = 0;
  for (;;) {
    const p = (await c.readPacket()).payload;
    if (p[0] === 0xff || (p[0] === 0x00 && eofs === 0)) return;
    if (p[0] === 0xfe && p.length < 9 && ++eofs === 2) return;
  }
}

test('an oversized HandshakeResponse is refused with 1153 and never reaches the backend', async () => {
  const moat = await startMoat(backend, { limits: { maxPacketSize: 4096 } });
  try {
    const overhead = await counterOverhead();
    const start = await counters();
    const big = 'x'.repeat(10_000);
    // mysql2
    await assert.rejects(login(moat, { connectAttributes: { big } }), (e: mysql.QueryError) => {
      assert.equal(e.errno, 1153);
      assert.equal(e.sqlState, '08S01');
      assert.equal(e.message, "Got a packet bigger than 'max_allowed_packet' bytes");
      return true;
    });
    // libmariadb, through Perl's DBD::MariaDB
    const perl = await runPerl(
      `my $dbh = DBI->connect("DBI:MariaDB:host=$ENV{H};port=$ENV{P}", 'app', 'app-pw',
         { RaiseError => 0, PrintError => 0, mariadb_conn_attrs => { big => ('x' x 10000) } });
       print $dbh ? "connected" : "$DBI::err $DBI::state $DBI::errstr";`,
      { H: moat.host, P: String(moat.port) },
    );
    assert.equal(perl, "1153 08S01 Got a packet bigger than 'max_allowed_packet' bytes");
    // A raw client, to see the packet itself.
    const c = await greeted(moat);
    const port = c.socket.localPort;
    c.sendPacket(appHandshake([['big', big]]), 1);
    const reply = await c.readPacket();
    assert.ok(await c.closesWithin(3000));
    assert.deepEqual(parseErr(reply.payload), {
      code: 1153,
      sqlState: '08S01',
      message: "Got a packet bigger than 'max_allowed_packet' bytes",
    });
    assert.equal(reply.seq, 2);
    const record = await moat.waitForLogin((r) => r.clientPort === port);
    assert.equal(record.outcome, 'handshake-error');
    assert.equal(record.errorCode, 1153);
    const end = await counters();
    assert.equal(end.connections - start.connections, overhead, 'no backend connection was opened');
    assert.equal(end.abortedConnects, start.abortedConnects);
  } finally {
    await moat.stop();
  }
});

function runPerl(code: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/perl', ['-MDBI', '-e', code], { env, timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

describe('LOAD DATA LOCAL INFILE', () => {
  const TABLE = `${DB}.robust_infile`;
  const ROWS = 25;
  let dir: string;
  let file: string;
  before(async () => {
    // MariaDB 10.11 ships with local_infile ON; set it anyway so the test does not depend on it.
    await adminQuery('SET GLOBAL local_infile = ON');
    await adminQuery(`DROP TABLE IF EXISTS ${TABLE}`);
    await adminQuery(`CREATE TABLE ${TABLE} (id INT PRIMARY KEY, name VARCHAR(32))`);
    dir = mkdtempSync(join(tmpdir(), 'moat-infile-'));
    file = join(dir, 'rows.tsv');
    writeFileSync(file, Array.from({ length: ROWS }, (_, i) => `${i}\tname-${i}\n`).join(''));
  });
  after(async () => {
    await adminQuery(`DROP TABLE IF EXISTS ${TABLE}`);
    rmSync(dir, { recursive: true, force: true });
  });

  async function load(moat: RunningMoat): Promise<{ result: unknown; opened: string[] }> {
    const opened: string[] = [];
    const conn = await login(moat);
    try {
      await conn.query(`DELETE FROM ${TABLE}`);
      const [result] = await conn.query({
        sql: `LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${TABLE}`,
        infileStreamFactory: (path: string) => {
          opened.push(path);
          return Readable.from([readFileSync(path)]);
        },
      });
      return { result, opened };
    } finally {
      await conn.end();
    }
  }

  test('refused by default: the client is never asked for the file', async () => {
    const moat = await startMoat(backend);
    try {
      let error: mysql.QueryError | undefined;
      const opened: string[] = [];
      try {
        await load(moat);
      } catch (e) {
        error = e as mysql.QueryError;
      }
      // moat neither offers CLIENT_LOCAL_FILES to the client nor passes it on to the server, so the
      // server refuses the statement itself, before it would ask for the file: MariaDB 10.11's
      // ER_LOAD_INFILE_CAPABILITY_DISABLED (4166), its newer spelling of MySQL's 1148.
      assert.ok(error !== undefined, 'LOAD DATA LOCAL failed');
      assert.deepEqual(opened, []);
      const rows = await adminQuery(`SELECT COUNT(*) AS n FROM ${TABLE}`);
      assert.equal(Number(rows[0]?.n), 0);
    } finally {
      await moat.stop();
    }
  });

  test('with localInfile: true the load works and is audited', async () => {
    const moat = await startMoat(backend, { localInfile: true });
    try {
      const { result, opened } = await load(moat);
      assert.deepEqual(opened, [file]);
      assert.equal((result as mysql.ResultSetHeader).affectedRows, ROWS);
      const rows = await adminQuery(`SELECT COUNT(*) AS n FROM ${TABLE}`);
      assert.equal(Number(rows[0]?.n), ROWS);
      const e = await moat.waitForEvent((x) => x.statement?.startsWith('LOAD DATA LOCAL INFILE') ?? false);
      assert.equal(e.status, 'OK');
      assert.equal(e.affectedRows, ROWS);
      // A session left open is closed by moat's graceful stop once it is idle.
      const open = await login(moat);
      const [after] = (await open.query('SELECT 1 AS one')) as unknown as [unknown];
      assert.deepEqual(after, [{ one: 1 }]);
    } finally {
      await moat.stop();
    }
  });
});
