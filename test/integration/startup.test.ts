// `moat start` as a real process, where starting goes wrong: each failure is one `moat: …` line
// on stderr and exit code 1 or 2, never a Node stack trace unless asked for (--debug, log.level
// debug); a state directory on /proc fails at once instead of hanging; and every file moat keeps in
// its state directory is private (0600), whatever was there before and whatever the umask.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { testBackend } from '../harness/env.ts';
import { MAIN, NODE, runMoat, startMoatProcess } from '../harness/spawn-moat.ts';

const backend = testBackend();
const BACKEND = `${backend.host}:${backend.port}`;
const tmp = mkdtempSync(join(tmpdir(), 'moat-startup-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const fresh = (name: string) => join(tmp, `${n++}-${name}`);
function file(name: string, text: string): string {
  const path = fresh(name);
  writeFileSync(path, text);
  return path;
}
const STACK = /^\s+at /m;

// Three at a time: each is a Node process start, on a machine shared with other test runs.
describe('start-up failures: one moat: line, no stack trace', { concurrency: 3 }, () => {
  const base = () => ['--listen', '127.0.0.1:0', '--backend', BACKEND, '--state-dir', fresh('state')];
  const cases: Array<{
    name: string;
    args: () => string[] | Promise<string[]>;
    code: number;
    expect: RegExp;
  }> = [
    {
      name: 'listener address in use',
      args: async () => {
        const holder = createServer();
        await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
        after(() => holder.close());
        const port = (holder.address() as AddressInfo).port;
        // Only this listener: a second one on port 0 would come up (and be closed again).
        return ['--listen', `127.0.0.1:${port}`, '--backend', BACKEND, '--state-dir', fresh('state')];
      },
      code: 1,
      expect: /^moat: cannot listen on 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)/,
    },
    {
      name: 'certificate file missing',
      args: () => [...base(), '--tls-cert', fresh('none.pem'), '--tls-key', fresh('none.key')],
      code: 1,
      expect: /^moat: tls\.cert: cannot read \S+none\.pem: no such file or directory \(ENOENT\)/,
    },
    {
      name: 'certificate path is a directory',
      args: () => [...base(), '--tls-cert', tmp, '--tls-key', tmp],
      code: 1,
      expect: /^moat: tls\.cert: cannot read \S+: illegal operation on a directory \(EISDIR\)/,
    },
    {
      name: 'certificate file is not PEM',
      args: () => {
        const junk = file('junk.pem', 'not a certificate\n');
        return [...base(), '--tls-cert', junk, '--tls-key', junk];
      },
      code: 1,
      expect: /^moat: client TLS: cannot use certificate \S+junk\.pem with key \S+junk\.pem: .*no start line/,
    },
    {
      name: 'config file missing',
      args: () => ['--config', fresh('none.yaml')],
      code: 2,
      expect: /^moat: \S+none\.yaml: cannot read: ENOENT/,
    },
    {
      name: 'config file is bad YAML',
      args: () => ['--config', file('bad.yaml', 'listeners: [\nbackend:\n')],
      code: 2,
      expect: /^moat: \S+bad\.yaml:\d+:\d+: /,
    },
    {
      name: 'stateDir below a regular file',
      args: () => [...base(), '--state-dir', join(file('plain', ''), 'state')],
      code: 1,
      expect: /^moat: stateDir \S+: not a directory \(ENOTDIR\)/,
    },
    {
      name: 'guard.sqlite is not a database',
      args: () => {
        const dir = fresh('state');
        mkdirSync(dir);
        writeFileSync(join(dir, 'guard.sqlite'), 'not sqlite, but long enough to have a header'.repeat(20));
        return [...base(), '--no-tls', '--state-dir', dir];
      },
      code: 1,
      expect: /^moat: \S+guard\.sqlite: file is not a database/,
    },
    {
      name: 'stateDir under /sys',
      args: () => [...base(), '--state-dir', '/sys/moat'],
      code: 1,
      expect: /^moat: stateDir \/sys\/moat: is under \/sys, a kernel file system, not storage/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await runMoat(['start', ...(await c.args())]);
      assert.equal(r.code, c.code, `exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, c.expect);
      assert.doesNotMatch(r.stderr, STACK, 'no stack trace');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line:\n${r.stderr}`);
      assert.ok(!r.lines.some((l) => l.msg === 'listening'), 'nothing listening');
    });
  }

  test('moat start --help documents --debug', async () => {
    const r = await runMoat(['start', '--help']);
    assert.match(r.stdout, /^\s+--debug\s+print the stack trace of a start-up failure/m);
  });

  for (const ask of [['--debug'], ['--log-level', 'debug']]) {
    test(`${ask.join(' ')} adds the stack trace`, async () => {
      const r = await runMoat([
        'start',
        ...base(),
        '--tls-cert',
        fresh('x.pem'),
        '--tls-key',
        fresh('x.key'),
        ...ask,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^moat: tls\.cert: cannot read /);
      assert.match(r.stderr, STACK);
    });
  }
});

describe('stateDir on a kernel file system', () => {
  test('a stateDir under /proc fails within seconds, not hangs', async () => {
    const began = Date.now();
    const r = await runMoat(
      ['start', '--listen', '127.0.0.1:0', '--backend', BACKEND, '--state-dir', '/proc/self/moat'],
      15_000,
    );
    assert.equal(r.signal, null, `killed after 15 s: it hung (stderr: ${r.stderr})`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^moat: stateDir \/proc\/self\/moat: is under \/proc, a kernel file system/);
    assert.doesNotMatch(r.stderr, STACK);
    // A start that fails takes well under a second here; a loaded machine may stretch it.
    assert.ok(Date.now() - began < 5000, `took ${Date.now() - began} ms`);
  });
});

// As root every directory is writable: the moat process runs as nobody then.
describe('a stateDir moat may not write to', { concurrency: true }, () => {
  const asRoot = process.getuid?.() === 0;
  const locked = fresh('locked');
  chmodSync(tmp, 0o755); // mkdtemp's 0700 would stop nobody one level up
  mkdirSync(locked);
  chmodSync(locked, 0o555);
  const cases = [
    {
      name: 'to be created in it',
      dir: join(locked, 'state'),
      expect: /cannot create \S+: permission denied \(EACCES\)/,
    },
    { name: 'as it is', dir: locked, expect: /cannot write there: permission denied \(EACCES\)/ },
  ];
  // As nobody, node and moat's sources must be reachable: not so in a checkout under a 0700
  // folder (a fresh clone in a mktemp directory). Then these two cases cannot run, and say why.
  const nobodyCanRun =
    !asRoot ||
    spawnSync(NODE, [MAIN, '--help'], { uid: 65534, gid: 65534, cwd: tmpdir(), timeout: 15_000 }).status ===
      0;
  for (const c of cases) {
    test(c.name, {
      skip: nobodyCanRun ? false : `user nobody cannot run ${MAIN} from this checkout`,
    }, async () => {
      const args = ['start', '--listen', '127.0.0.1:0', '--backend', BACKEND, '--state-dir', c.dir];
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          NODE,
          [MAIN, ...args],
          { cwd: tmpdir(), timeout: 15_000, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) },
          (_e, _out, stderr) => resolve({ code: child.exitCode, stderr }),
        );
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^moat: stateDir ${c.dir}: ${c.expect.source}`));
      assert.doesNotMatch(r.stderr, STACK);
    });
  }
});

/** Every regular file under dir, with its permission bits. */
function modes(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) Object.assign(out, modes(dir, r));
    else out[r] = (statSync(join(dir, r)).mode & 0o777).toString(8);
  }
  return out;
}

describe('state files are 0600', () => {
  test('a pre-created stateDir with 0644 files: after start and a login, every file is 0600', async () => {
    const dir = fresh('state');
    mkdirSync(dir, { mode: 0o775 });
    chmodSync(dir, 0o775);
    // Left behind by an older moat, or copied in by hand.
    for (const [name, text] of [
      ['variables.json', '{}\n'],
      ['backend-profile.json', '{}\n'],
    ] as const) {
      writeFileSync(join(dir, name), text, { mode: 0o644 });
      chmodSync(join(dir, name), 0o644);
    }
    const p = await startMoatProcess(['--listen', '127.0.0.1:0', '--backend', BACKEND, '--state-dir', dir]);
    try {
      const warned = p.lines.find((l) => l.level === 40 && /group-writable/.test(String(l.msg)));
      assert.ok(warned, 'a group-writable stateDir is warned about');
      const conn = await mysql.createConnection({
        ...backend.users.app,
        database: backend.database,
        host: '127.0.0.1',
        port: p.port,
        ssl: { rejectUnauthorized: false },
      });
      await conn.query('SELECT 1');
      await conn.end();
      // The guard persists on an interval (1 s by default): wait for the WAL to be written.
      await new Promise((r) => setTimeout(r, 1500));
      const m = modes(dir);
      for (const f of ['guard.sqlite', 'tls/server-key.pem', 'tls/server-cert.pem', 'variables.json']) {
        assert.ok(f in m, `${f} exists: ${JSON.stringify(m)}`);
      }
      assert.ok('guard.sqlite-wal' in m, `guard.sqlite-wal exists: ${JSON.stringify(m)}`);
      const loose = Object.entries(m).filter(([, mode]) => mode !== '600');
      assert.deepEqual(loose, [], `files not 0600: ${JSON.stringify(m)}`);
      assert.equal((statSync(join(dir, 'tls')).mode & 0o777).toString(8), '700');
    } finally {
      await p.kill();
    }
  });

  test('a stateDir moat creates is 0700', async () => {
    const dir = join(fresh('parent'), 'a', 'state');
    const p = await startMoatProcess(['--listen', '127.0.0.1:0', '--backend', BACKEND, '--state-dir', dir]);
    await p.kill();
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
    const loose = Object.entries(modes(dir)).filter(([, mode]) => mode !== '600');
    assert.deepEqual(loose, []);
  });
});
