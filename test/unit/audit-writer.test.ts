// The buffered writer under pressure: record() only queues, the timer writes, the queue bound,
// and what each mode does when the disk is full — a real ENOSPC from a 64 KiB tmpfs (or, where
// mounting is not permitted, /dev/full): default mode keeps serving and counts what it drops,
// strict mode holds records and refuses until the disk takes them again.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditError, AuditLog } from '../../src/audit/audit-log.ts';
import type { AuditConfigInput } from '../../src/audit/config.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { capturingLogger, config, event, tempDir } from './audit-helpers.ts';

function lines(file: string): unknown[] {
  const text = readFileSync(file, 'utf8');
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
}

async function started(dir: string, input: AuditConfigInput) {
  const { log, lines: logged } = capturingLogger();
  const audit = new AuditLog(config(input), log, { baseDir: dir });
  await audit.start();
  return { audit, logged };
}

describe('buffering', () => {
  test('record() only queues; the timer writes', async (t) => {
    const dir = tempDir(t);
    const { audit } = await started(dir, { flushIntervalMs: 20, sinks: [{ type: 'json', path: 'a.log' }] });
    t.after(() => audit.close());
    audit.record(event('Connect'));
    assert.equal(readFileSync(join(dir, 'a.log'), 'utf8'), '');
    assert.equal(audit.stats.queued, 1);
    for (let i = 0; i < 50 && audit.stats.written === 0; i++) await sleep(10);
    assert.equal(lines(join(dir, 'a.log')).length, 1);
  });

  test('default mode: beyond the bound records are dropped, counted, and said once', async (t) => {
    const dir = tempDir(t);
    const { audit, logged } = await started(dir, { maxQueue: 3, sinks: [{ type: 'json', path: 'a.log' }] });
    for (let i = 0; i < 5; i++) audit.record(event('Query', { connectionId: i }));
    assert.deepEqual([audit.stats.queued, audit.stats.dropped, audit.refusing], [3, 2, false]);
    assert.match(audit.stats.lastError ?? '', /^MOAT_AUDIT_QUEUE_FULL: 3 records waiting$/);
    const errors = logged.filter((l) => l.level === 50);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.msg, /dropped/);
    await audit.flush();
    assert.equal(audit.stats.written, 3);
    const back = logged.find((l) => l.msg === 'audit sink writing again');
    assert.equal(back?.dropped, 2);
    await audit.close();
  });

  test('strict mode: a full queue refuses until it drains', async (t) => {
    const dir = tempDir(t);
    const { audit } = await started(dir, {
      strict: true,
      maxQueue: 2,
      sinks: [{ type: 'json', path: 'a.log' }],
    });
    audit.record(event('Connect'));
    assert.equal(audit.refusing, false);
    audit.record(event('Query'));
    assert.equal(audit.refusing, true);
    audit.record(event('Quit'));
    assert.equal(audit.stats.dropped, 1, 'refused beyond the bound, and counted');
    await audit.flush();
    assert.equal(audit.refusing, false);
    await audit.close();
    assert.equal(lines(join(dir, 'a.log')).length, 2);
  });

  test('record() never throws, whatever it is handed', async (t) => {
    const dir = tempDir(t);
    const { audit } = await started(dir, {
      sinks: [{ type: 'json', path: 'a.log', filter: { statementClasses: ['drop'] } }],
    });
    const hostile = event('Query');
    Object.defineProperty(hostile, 'statement', {
      get() {
        throw new Error('boom');
      },
    });
    assert.doesNotThrow(() => audit.record(hostile));
    assert.equal(audit.stats.errors, 1);
    assert.doesNotThrow(() => audit.record(null as unknown as AuditEvent));
    await audit.close();
    assert.doesNotThrow(() => audit.record(event('Query')), 'after close: ignored');
    await audit.close();
  });

  test('start() says which sink cannot open, with a stable code', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'plain'), '');
    const { log } = capturingLogger();
    const audit = new AuditLog(config({ sinks: [{ type: 'json', path: 'plain/a.log' }] }), log, {
      baseDir: dir,
    });
    await assert.rejects(audit.start(), (e: unknown) => {
      assert.ok(e instanceof AuditError);
      assert.equal(e.code, 'MOAT_AUDIT_OPEN_FAILED');
      assert.match(e.message, /plain\/a\.log/);
      return true;
    });
  });

  test('disabled: no sinks, nothing written', async (t) => {
    const dir = tempDir(t);
    const { audit } = await started(dir, { enabled: false });
    audit.record(event('Connect'));
    await audit.close();
    assert.deepEqual(audit.stats, { written: 0, dropped: 0, errors: 0, lastError: null, queued: 0 });
  });
});

/**
 * A directory whose log file cannot be written (ENOSPC) until free(): a 64 KiB tmpfs filled by a
 * filler file, or, where mount is not permitted, a log path that is a symlink to /dev/full
 * (free() replaces it, and the sink's reopen after a failure picks the new file up).
 */
function fullDisk(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'moat-full-'));
  const file = join(dir, 'audit.log');
  const filler = join(dir, 'filler');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    symlinkSync('/dev/full', file);
    return { dir, file, kind: 'dev-full' as const, free: () => unlinkSync(file), freePage: null };
  }
  t.after(() => {
    execFileSync('umount', [dir]);
    rmdirSync(dir);
  });
  const fill = () => {
    try {
      writeFileSync(filler, Buffer.alloc(128 * 1024), { flag: 'a' });
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
  };
  fill();
  return {
    dir,
    file,
    kind: 'tmpfs' as const,
    free: () => rmSync(filler),
    /** Room for one page only: a bigger batch is written in part before ENOSPC. */
    freePage: () => truncateSync(filler, statSync(filler).size - 4096),
    fill,
  };
}

describe('disk full', () => {
  test('default mode: serving goes on, drops are counted, one line per outage and one at recovery', async (t) => {
    const disk = fullDisk(t);
    const { audit, logged } = await started(disk.dir, { sinks: [{ type: 'json', path: 'audit.log' }] });
    for (let i = 0; i < 3; i++) audit.record(event('Query', { connectionId: i }));
    await audit.flush();
    assert.equal(audit.refusing, false);
    assert.deepEqual([audit.stats.written, audit.stats.dropped, audit.stats.queued], [0, 3, 0]);
    assert.match(audit.stats.lastError ?? '', /^MOAT_AUDIT_WRITE_FAILED \(ENOSPC\): /);
    for (let i = 0; i < 3; i++) audit.record(event('Query'));
    await audit.flush();
    assert.equal(audit.stats.dropped, 6);
    assert.ok(audit.stats.errors >= 2);
    const outage = logged.filter((l) => l.level === 50);
    assert.equal(outage.length, 1, 'said once per outage');
    assert.match(outage[0]!.msg, /dropped/);
    assert.match(outage[0]!.err ?? '', /ENOSPC/);

    disk.free();
    audit.record(event('Query', { connectionId: 100 }));
    audit.record(event('Query', { connectionId: 101 }));
    await audit.flush();
    assert.equal(audit.stats.written, 2);
    assert.equal(logged.find((l) => l.msg === 'audit sink writing again')?.dropped, 6);
    await audit.close();
    assert.deepEqual(
      lines(disk.file).map((e) => (e as AuditEvent).connectionId),
      [100, 101],
    );
  });

  test('strict mode: refusing while the disk is full, records held, nothing lost or doubled after', async (t) => {
    const disk = fullDisk(t);
    const { audit, logged } = await started(disk.dir, {
      strict: true,
      maxQueue: 40,
      sinks: [{ type: 'json', path: 'audit.log' }],
    });
    // Statements long enough that a batch spans pages: with one page free it is written in part.
    const big = (i: number) => event('Query', { connectionId: i, statement: `SELECT '${'x'.repeat(400)}'` });
    for (let i = 0; i < 30; i++) audit.record(big(i));
    if (disk.freePage) disk.freePage();
    await audit.flush();
    assert.equal(audit.refusing, true);
    assert.deepEqual([audit.stats.written, audit.stats.dropped, audit.stats.queued], [0, 0, 30]);
    assert.equal(statSync(disk.file).size, 0, 'a batch written in part is cut back');
    assert.match(logged.find((l) => l.level === 50)?.msg ?? '', /refused/);

    for (let i = 30; i < 40; i++) audit.record(big(i));
    audit.record(big(40));
    assert.deepEqual(
      [audit.stats.queued, audit.stats.dropped],
      [40, 1],
      'beyond the bound: refused, counted',
    );
    await audit.flush();
    assert.equal(audit.refusing, true, 'still full');

    disk.free();
    await audit.flush();
    assert.equal(audit.refusing, false);
    assert.deepEqual([audit.stats.written, audit.stats.queued], [40, 0]);
    await audit.close();
    assert.deepEqual(
      lines(disk.file).map((e) => (e as AuditEvent).connectionId),
      Array.from({ length: 40 }, (_, i) => i),
    );
    t.diagnostic(`full disk simulated with ${disk.kind}`);
  });
});
