// Syslog to real receivers: a UDP socket (IPv4 and IPv6) and a unix datagram socket bound by
// Python (Node cannot bind one), as /dev/log would be. Records are checked against RFC 5424's
// grammar; a receiver that goes away is an error the writer counts.
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditError, AuditLog } from '../../src/audit/audit-log.ts';
import type { AuditConfigInput } from '../../src/audit/config.ts';
import { capturingLogger, config, event, tempDir } from './audit-helpers.ts';

const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*\]) (.*)$/s;

async function udpReceiver(t: { after: (fn: () => void) => void }, family: 'udp4' | 'udp6') {
  const socket = createSocket(family);
  const got: string[] = [];
  socket.on('message', (m) => got.push(m.toString('utf8')));
  socket.bind(0, family === 'udp4' ? '127.0.0.1' : '::1');
  await once(socket, 'listening');
  t.after(() => {
    try {
      socket.close();
    } catch {} // the test closed it already
  });
  return { port: socket.address().port, got, socket };
}

/** A unix datagram socket bound by Python, printing each datagram as a JSON string per line. */
async function unixReceiver(path: string) {
  const script =
    'import socket, sys, json\n' +
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
    's.bind(sys.argv[1])\n' +
    'print("ready", flush=True)\n' +
    'while True:\n' +
    '    print(json.dumps(s.recv(65536).decode("utf-8")), flush=True)\n';
  const child: ChildProcessByStdio<null, Readable, null> = spawn('/usr/bin/python3', ['-c', script, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const got: string[] = [];
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise<void>((resolve) =>
    lines.on('line', (l) => (l === 'ready' ? resolve() : got.push(JSON.parse(l) as string))),
  );
  await ready;
  return {
    got,
    stop: async () => {
      child.kill();
      await once(child, 'exit');
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(10);
  assert.ok(cond(), what);
}

async function started(input: AuditConfigInput) {
  const { log, lines } = capturingLogger();
  const audit = new AuditLog(config(input), log);
  await audit.start();
  return { audit, logged: lines };
}

describe('syslog over UDP', () => {
  test('RFC 5424 records with structured data reach the receiver, filtered', async (t) => {
    const r = await udpReceiver(t, 'udp4');
    const { audit } = await started({
      sinks: [
        {
          type: 'syslog',
          address: `127.0.0.1:${r.port}`,
          format: 'sd',
          facility: 'auth',
          hostname: 'gw1',
          filter: { events: ['Connect', 'Query'] },
        },
      ],
    });
    audit.record(event('Connect', { status: 1045, user: 'root' }));
    audit.record(event('Quit'));
    audit.record(event('Query', { statement: 'SELECT "a]b"' }));
    await audit.flush();
    await until(() => r.got.length === 2, `2 datagrams, got ${r.got.length}`);
    const [connect, query] = r.got.map((g) => RFC5424.exec(g));
    assert.ok(connect && query);
    assert.deepEqual(connect.slice(1, 6), [
      String(4 * 8 + 4),
      '2026-11-23T12:00:00.250Z',
      'gw1',
      'moat',
      String(process.pid),
    ]);
    assert.equal(connect[6 - 0], 'Connect');
    assert.match(
      connect[7]!,
      /^\[moat@32473 timestamp="[^"]+" name="Connect" connection_id="5" status="1045" .*user="root"/,
    );
    assert.equal(connect[8], 'Connect root@192.0.2.7 status 1045');
    assert.equal(query[1], String(4 * 8 + 6));
    assert.match(query[7]!, /statement="SELECT \\"a\\]b\\""\]$/);
    assert.equal(audit.stats.written, 2);
    await audit.close();
  });

  test('IPv6 receiver, key=value records', async (t) => {
    const r = await udpReceiver(t, 'udp6');
    const { audit } = await started({ sinks: [{ type: 'syslog', address: `[::1]:${r.port}` }] });
    audit.record(event('Admin', { statement: 'UNBLOCK HOST 192.0.2.9' }));
    await audit.close();
    await until(() => r.got.length === 1, 'one datagram');
    const m = RFC5424.exec(r.got[0]!);
    assert.ok(m);
    assert.equal(m[1], String(16 * 8 + 5)); // local0.notice
    assert.equal(m[7], '-');
    assert.match(m[8]!, /name="Admin" .* statement="UNBLOCK HOST 192\.0\.2\.9"$/);
  });

  test('a receiver that is gone: ECONNREFUSED counted, serving goes on', async (t) => {
    const r = await udpReceiver(t, 'udp4');
    const port = r.port;
    r.socket.close();
    const { audit } = await started({ sinks: [{ type: 'syslog', address: `127.0.0.1:${port}` }] });
    // The first datagram draws the ICMP port-unreachable that a later send reports.
    for (let i = 0; i < 20 && audit.stats.errors === 0; i++) {
      audit.record(event('Query'));
      await audit.flush();
      await sleep(5);
    }
    assert.ok(audit.stats.errors > 0);
    assert.match(audit.stats.lastError ?? '', /MOAT_AUDIT_SYSLOG_FAILED \(ECONNREFUSED\)/);
    assert.equal(audit.refusing, false);
    await audit.close();
  });
});

describe('syslog over a unix datagram socket', () => {
  test('records reach it through logger, with moat as app-name and its pid', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'log.sock');
    const r = await unixReceiver(path);
    t.after(() => r.stop());
    const { audit } = await started({ sinks: [{ type: 'syslog', address: path, facility: 'local3' }] });
    audit.record(event('Connect', { status: 1045 }));
    audit.record(event('Query', { statement: 'SELECT 1\nFROM dual' }));
    await audit.flush();
    await until(() => r.got.length === 2, `2 datagrams, got ${r.got.length}`);
    const [connect, query] = r.got.map((g) => RFC5424.exec(g));
    assert.ok(connect && query, r.got.join('\n'));
    assert.equal(connect[1], String(19 * 8 + 4));
    assert.equal(connect[4], 'moat');
    assert.equal(connect[5], String(process.pid));
    assert.match(
      connect[8]!,
      /^timestamp="2026-11-23T12:00:00.250Z" name="Connect" connection_id=5 status=1045 /,
    );
    assert.equal(query[1], String(19 * 8 + 6));
    assert.match(query[8]!, /statement="SELECT 1\\nFROM dual"$/);
    await audit.close();
  });

  test('no receiver at start: a typed error; receiver gone later: failing, and strict refuses', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'log.sock');
    const { log } = capturingLogger();
    const missing = new AuditLog(config({ sinks: [{ type: 'syslog', address: path }] }), log);
    await assert.rejects(
      missing.start(),
      (e: unknown) => e instanceof AuditError && e.code === 'MOAT_AUDIT_OPEN_FAILED',
    );

    const r = await unixReceiver(path);
    const { audit } = await started({ strict: true, sinks: [{ type: 'syslog', address: path }] });
    audit.record(event('Connect'));
    await audit.flush();
    await until(() => r.got.length === 1, 'one datagram');
    await r.stop(); // the socket file stays, nobody reads it
    audit.record(event('Query'));
    await audit.flush();
    // logger notices at its next send and exits; the next batch finds nobody bound.
    await until(() => audit.stats.errors > 0, 'the relay reported');
    audit.record(event('Quit'));
    await audit.flush();
    assert.equal(audit.refusing, true);
    assert.match(audit.stats.lastError ?? '', /MOAT_AUDIT_SYSLOG_FAILED/);
    await audit.close();
  });
});
