// The firewall mirror for real: a client in a network namespace of its own, moat listening on the
// veth's other end, moat's blocks mirrored into nftables. A blocked client's SYNs go unanswered at
// the kernel (moat never accepts them), unblock and expiry let it in again, a restart re-syncs, and
// no table moat did not make is touched. Needs root and nft; skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { type Logger, pino } from 'pino';
import { nativePasswordHash } from '../../src/admin/password.ts';
import { firewall } from '../../src/cli/firewall.ts';
import type { FirewallConfig } from '../../src/firewall/config.ts';
import { FirewallMirror, type MirrorOptions } from '../../src/firewall/mirror.ts';
import { Nft, type NftCommand, NftError } from '../../src/firewall/nft.ts';
import { applyFirewallRules, firewallRules, removeFirewallRules } from '../../src/firewall/rules.ts';
import { ADMIN_USER } from '../harness/config-file.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { cmd, firewallTestsBlocked, must, Netns } from '../harness/netns.ts';
import { eventually } from '../harness/poll.ts';

const blocked = await firewallTestsBlocked();

type LogLine = { level: number; msg: string; code?: string };

/** A logger whose lines land in `lines`, for "exactly one warning" checks. */
function capture(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}
const warnings = (lines: LogLine[]) => lines.filter((l) => l.level >= 40);

async function tables(): Promise<string> {
  return must('nft', ['list', 'tables']);
}

/** The set's members as nft lists them: address → timeout in s (null: none). */
async function members(table: string, set: string): Promise<Map<string, number | null>> {
  const objects = await new Nft().list('set', 'inet', table, set);
  const elems = (objects[0]?.set?.elem ?? []) as Array<string | { elem: { val: string; timeout?: number } }>;
  return new Map(
    elems.map((e) => (typeof e === 'string' ? [e, null] : [e.elem.val, e.elem.timeout ?? null])),
  );
}

/** Each test carries the reason when skipped, so the run's summary counts them. */
const rootTest = (name: string, fn: () => Promise<void>) => test(name, { skip: blocked ?? false }, fn);

describe('firewall mirror in network namespaces', () => {
  let ns: Netns;
  let moat: RunningMoat;
  let other: Server;
  let otherPort = 0;
  let ports: { v4: number; v6: number };
  let cfg: FirewallConfig;
  let mirror: FirewallMirror | null = null;
  const made: string[] = [];
  const table = (prefix: string) => {
    const name = `${prefix}_${ns.tag}`;
    made.push(name);
    return name;
  };
  const opts: MirrorOptions = { retryMs: 50 };
  const guard = () => moat.gateway.guard;
  const accepts = () => guard().status.Connections;

  before(async () => {
    if (blocked !== null) return;
    ns = await Netns.create();
    moat = await startMoat(testBackend(), {
      listeners: [{ address: `${ns.here4}:0` }, { address: `[${ns.here6}]:0` }],
    });
    const [a4, a6] = moat.gateway.addresses();
    assert.ok(a4?.kind === 'tcp' && a6?.kind === 'tcp');
    ports = { v4: a4.port, v6: a6.port };
    // Another service on the same address: a moat block is no business of its port.
    other = createServer((s) => s.destroy());
    await new Promise<void>((r) => other.listen(0, ns.here4, r));
    otherPort = (other.address() as { port: number }).port;
    await must('nft', ['add', 'table', 'inet', table('moat_test_other')]);
    await must('nft', [
      'add chain inet',
      `${table('moat_test_other')} c { type filter hook input priority 0; policy accept; }`,
    ]);
    cfg = { enabled: true, family: 'inet', table: table('moat_t'), ports: [ports.v4, ports.v6] };
    mirror = await FirewallMirror.open(cfg, capture().log, opts);
    assert.ok(mirror !== null, 'the mirror opens as root');
    // The gateway's wiring: the guard's audit callback first, then the mirror.
    const audit = guard().onAction;
    guard().onAction = (a) => {
      audit(a);
      mirror?.onGuardAction(a);
    };
  });

  after(async () => {
    await mirror?.close();
    await moat?.stop();
    other?.close();
    for (const t of made) await cmd('nft', ['delete', 'table', 'inet', t]);
    await ns?.remove();
  });

  rootTest(
    'a blocked host gets no answer at the kernel and moat no accept; unblock lets it in again',
    async () => {
      for (const [host, port, ip] of [
        [ns.here4, ports.v4, ns.there4],
        [ns.here6, ports.v6, ns.there6],
      ] as const) {
        const n = accepts();
        assert.equal(await ns.connect(host, port), 'open', `${ip} reaches moat before the block`);
        await eventually('moat to accept', () => accepts() === n + 1);
        guard().blocker.block(ip, 'manual', 'test', null, Date.now());
        await mirror?.idle();
        assert.equal(await ns.connect(host, port), 'unanswered', `${ip}'s SYN is dropped`);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(accepts(), n + 1, 'moat accepted nothing from the blocked host');
        if (host === ns.here4)
          assert.equal(await ns.connect(host, otherPort), 'open', 'other ports stay open');
        guard().blocker.unblock(ip);
        await mirror?.idle();
        assert.equal(await ns.connect(host, port), 'open', `${ip} reaches moat after the unblock`);
      }
    },
  );

  rootTest('a block with an expiry lapses in the kernel by itself', async () => {
    assert.ok(mirror !== null);
    guard().blocker.block(ns.there4, 'manual', 'test', 2000, Date.now());
    await mirror.idle();
    const timeout = (await members(cfg.table, 'blocked4')).get(ns.there4);
    assert.ok(timeout === 1 || timeout === 2, `a 2 s block is written with ${timeout} s, never more`);
    assert.equal(await ns.connect(ns.here4, ports.v4), 'unanswered');
    const writes = mirror.stats().writes;
    await eventually(
      'the element to lapse',
      async () => !(await members(cfg.table, 'blocked4')).has(ns.there4),
    );
    assert.equal(mirror.stats().writes, writes, 'the kernel expired it, moat wrote nothing');
    assert.equal(await ns.connect(ns.here4, ports.v4), 'open');
  });

  rootTest('a restart re-syncs the set from moat state; a member unblocked while down goes', async () => {
    guard().blocker.block(ns.there4, 'manual', 'test', null, Date.now());
    await mirror?.idle();
    await mirror?.close();
    assert.ok(!(await tables()).includes(`inet ${cfg.table}\n`), 'a graceful stop removes the table');
    assert.equal(await ns.connect(ns.here4, ports.v4), 'open', 'no stale drop once moat stops');

    mirror = await FirewallMirror.open(cfg, capture().log, opts);
    assert.ok(mirror !== null);
    await mirror.sync(guard().blocker.list(Date.now()));
    assert.equal(await ns.connect(ns.here4, ports.v4), 'unanswered', 'the block is back after the restart');

    // A crash leaves the table; the host is unblocked in moat's state meanwhile.
    await mirror.close({ keep: true });
    assert.ok((await members(cfg.table, 'blocked4')).has(ns.there4), 'keep leaves the table');
    guard().blocker.unblock(ns.there4);
    mirror = await FirewallMirror.open(cfg, capture().log, opts);
    assert.ok(mirror !== null, 'a table moat left behind is moat’s to re-create');
    await mirror.sync(guard().blocker.list(Date.now()));
    assert.equal((await members(cfg.table, 'blocked4')).size, 0);
    assert.equal(await ns.connect(ns.here4, ports.v4), 'open');
  });

  rootTest('an outage is logged once and counted, and the table is rebuilt from moat state', async () => {
    // Someone deletes the table (as `systemctl restart nftables` does), then two rebuilds fail too.
    const script: Array<'real' | 'fail'> = [];
    const nft = new (class extends Nft {
      override async apply(commands: readonly NftCommand[]): Promise<void> {
        if (script.shift() === 'fail') throw new NftError('MOAT_NFT_FAILED', 'injected failure');
        return super.apply(commands);
      }
    })();
    const { log, lines } = capture();
    const t = { ...cfg, table: table('moat_r'), ports: [9] };
    const m = await FirewallMirror.open(t, log, { ...opts, nft });
    assert.ok(m !== null);
    try {
      const b = { reason: 'manual', by: 'test', since: Date.now(), until: null } as const;
      assert.equal(await m.block({ ...b, ip: '192.0.2.1' }), true);
      await must('nft', ['delete', 'table', 'inet', t.table]);
      script.push('real', 'fail', 'fail');
      assert.equal(await m.block({ ...b, ip: '2001:db8::7' }), false);
      await eventually('recovery', () => !m.stats().outage && m.stats().errors === 3);
      const w = warnings(lines);
      assert.equal(w.length, 1, `one warning per outage, got ${JSON.stringify(w)}`);
      assert.equal(w[0]?.code, 'MOAT_NFT_NOT_FOUND');
      assert.equal(lines.filter((l) => l.msg === 'firewall: nftables writable again').length, 1);
      assert.ok((await members(t.table, 'blocked4')).has('192.0.2.1'));
      assert.ok((await members(t.table, 'blocked6')).has('2001:db8::7'));
    } finally {
      await m.close();
    }
  });

  rootTest('close removes moat’s table and nothing else', async () => {
    await mirror?.close();
    mirror = null;
    const list = await tables();
    assert.ok(!list.includes(`inet ${cfg.table}\n`));
    const kept = await must('nft', ['list', 'table', 'inet', `moat_test_other_${ns.tag}`]);
    assert.match(kept, /chain c \{/, 'the other table keeps its chain');
  });

  rootTest('a table of that name that moat did not make is left alone: one warning, mirror off', async () => {
    const foreign = table('moat_f');
    await must('nft', ['add', 'table', 'inet', foreign]);
    await must('nft', [
      'add chain inet',
      `${foreign} c { type filter hook input priority 0; policy accept; }`,
    ]);
    const { log, lines } = capture();
    assert.equal(await FirewallMirror.open({ ...cfg, table: foreign }, log), null);
    assert.deepEqual(
      warnings(lines).map((l) => l.code),
      ['MOAT_NFT_FOREIGN_TABLE'],
    );
    assert.match(await must('nft', ['list', 'table', 'inet', foreign]), /chain c \{/);
  });

  rootTest('without CAP_NET_ADMIN or without nft: one warning, mirror off', async () => {
    const cases = [
      {
        command: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'nft'],
        code: 'MOAT_NFT_DENIED',
      },
      { command: ['/nonexistent/nft'], code: 'MOAT_NFT_MISSING' },
    ];
    for (const c of cases) {
      const { log, lines } = capture();
      const m = await FirewallMirror.open({ ...cfg, table: 'moat_never' }, log, { nft: new Nft(c) });
      assert.equal(m, null);
      assert.deepEqual(
        lines.map((l) => [l.level, l.code]),
        [[40, c.code]],
      );
    }
    assert.ok(!(await tables()).includes('moat_never'));
  });

  rootTest('firewallRules: nft -c accepts it; applied, only moat’s address reaches the port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moat-fw-'));
    try {
      for (const moatAddresses of [['10.0.0.2'], ['fd00::2'], ['10.0.0.2', '10.0.1.0/24', 'fd00::/64']]) {
        const file = join(dir, 'rules.nft');
        writeFileSync(file, firewallRules({ backendPort: 3306, backendAddress: '10.0.0.5', moatAddresses }));
        const check = await cmd('nft', ['-c', '-f', file]);
        assert.equal(check.code, 0, `nft -c: ${check.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // moat's listener stands in for a backend here; the namespace's client plays moat.
    const o = { backendPort: ports.v4, moatAddresses: [ns.there4], table: table('moat_b') };
    await applyFirewallRules(o);
    assert.equal(await ns.connect(ns.here4, ports.v4), 'open', 'moat’s address is admitted');
    await applyFirewallRules({ ...o, moatAddresses: ['10.213.255.3'] });
    assert.equal(await ns.connect(ns.here4, ports.v4), 'unanswered', 'any other source is dropped');
    assert.equal(await removeFirewallRules(o.table), true);
    assert.equal(await ns.connect(ns.here4, ports.v4), 'open');
  });

  rootTest(
    'the gateway runs the mirror from its config: blocks on its bound ports, table gone at stop',
    async () => {
      const name = table('moat_g');
      const own = await startMoat(testBackend(), {
        listeners: [{ address: `${ns.here4}:0` }],
        firewall: { enabled: true, table: name },
        admin: {
          listen: '127.0.0.1:0',
          users: [{ user: ADMIN_USER.user, passwordHash: nativePasswordHash(ADMIN_USER.password) }],
        },
      });
      const status = async (): Promise<Record<string, string>> => {
        const a = own.gateway.adminAddress;
        assert.ok(a?.kind === 'tcp');
        const c = await mysql.createConnection({ host: a.host, port: a.port, ...ADMIN_USER });
        const [rows] = await c.query("SHOW GLOBAL STATUS LIKE 'Moat_firewall%'");
        await c.end();
        return Object.fromEntries(
          (rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, r.Value]),
        );
      };
      try {
        const mirror = own.gateway.firewall;
        assert.ok(mirror !== null, 'firewall.enabled opens the mirror');
        assert.deepEqual(mirror.stats().ports, [own.port], 'on the port the listener bound');
        own.gateway.guard.block(ns.there4, 'test', null);
        await mirror.idle();
        assert.equal(await ns.connect(ns.here4, own.port), 'unanswered', 'a manual block reaches the kernel');
        const s = await status();
        assert.equal(s.Moat_firewall_ok, '1');
        assert.equal(s.Moat_firewall_members, '1');
        assert.equal(s.Moat_firewall_errors, '0');
        own.gateway.guard.unblock(ns.there4);
        await mirror.idle();
        assert.equal(await ns.connect(ns.here4, own.port), 'open');
      } finally {
        await own.stop();
      }
      assert.ok(!(await tables()).includes(`inet ${name}\n`), 'a stop removes the table');
    },
  );
});

describe('moat firewall rules (CLI)', () => {
  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const code = await firewall(argv, {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    });
    return { code, out, err };
  };

  test('prints the rules for the given port and addresses', async () => {
    const r = await run(['rules', '--backend-port', '3306', '--moat-address', '10.0.0.2']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, firewallRules({ backendPort: 3306, moatAddresses: ['10.0.0.2'] }));
  });

  test("reads the backend from moat's config and takes moat's address from the route to it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moat-fw-'));
    try {
      const file = join(dir, 'moat.yaml');
      writeFileSync(file, 'backend:\n  address: 127.0.0.1:3306\n');
      const r = await run(['rules', '--config', file]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /tcp dport 3306 ip saddr @moat4 accept/);
      assert.match(r.out, /elements = \{ 127\.0\.0\.1 \}/);
      assert.match(r.err, /moat's address taken as 127\.0\.0\.1/);
      writeFileSync(file, 'backend:\n  address: unix:/run/mysqld/mysqld.sock\n');
      const u = await run(['rules', '--config', file]);
      assert.equal(u.code, 2);
      assert.match(u.err, /unix socket .* no TCP port/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('usage errors exit 2 with a message; --apply refuses a backend on another host', async () => {
    for (const [argv, message] of [
      [['rules'], /which backend/],
      [['rules', '--backend-port', 'x'], /expected a port/],
      [['rules', '--backend-port', '3306', '--moat-address', 'nope'], /moat address 'nope'/],
      [['bogus'], /unknown subcommand/],
      [['rules', '--what'], /Unknown option/],
      [
        [
          'rules',
          '--apply',
          '--backend-port',
          '3306',
          '--backend-address',
          '192.0.2.7',
          '--moat-address',
          '10.0.0.2',
        ],
        /not an address of this host/,
      ],
    ] as const) {
      const r = await run([...argv]);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
    }
  });
});
