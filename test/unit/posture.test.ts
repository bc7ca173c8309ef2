// The pure parts of `moat check`: host patterns as ranges, moat's address rules over a whole
// range, account rows of both server flavours, client_ed25519 signatures, the fix script's order,
// and findings the integration test cannot plant on one server (dead grants by address rules,
// MySQL's account table, a server on another host).
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { validateConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { accountFindings } from '../../src/posture/accounts.ts';
import { bypassFindings } from '../../src/posture/bypass.ts';
import { backendPath, type CheckContext, moatHostOf } from '../../src/posture/context.ts';
import { type DbAccount, fromGlobalPriv, fromUserTable, type ServerFacts } from '../../src/posture/facts.ts';
import { ALL_IPV4, hostRange, hostWidth, isLoopbackPattern, verdictOver } from '../../src/posture/hosts.ts';
import { fixScript, splitStatements } from '../../src/posture/report.ts';
import { ed25519Sign, ed25519StoredKey } from '../../src/protocol/ed25519.ts';

describe('host patterns', () => {
  const cases: Array<[host: string, width: string, loopback: boolean, range: string | null]> = [
    ['%', 'any', false, null],
    ['', 'any', false, null],
    ['localhost', 'narrow', true, null],
    ['127.0.0.1', 'narrow', true, '127.0.0.1-127.0.0.1'],
    ['127.%', 'wide', true, '127.0.0.0-127.255.255.255'],
    ['::1', 'narrow', true, '::1'],
    ['10.%', 'wide', false, '10.0.0.0-10.255.255.255'],
    ['192.168.1.%', 'narrow', false, '192.168.1.0-192.168.1.255'],
    ['10.0.0.0/255.255.0.0', 'wide', false, '10.0.0.0-10.0.255.255'],
    ['10.0.0.0/255.0.255.0', 'wide', false, null], // not a contiguous mask: not one range
    ['10.1.2.0/24', 'narrow', false, '10.1.2.0-10.1.2.255'],
    ['%.example.com', 'wide', false, null],
    ['db_1.example.com', 'wide', false, null],
    ['db\\_1.example.com', 'narrow', false, null],
    ['app.example.com', 'narrow', false, null],
  ];
  const v4 = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => (n >> s) & 255n).join('.');
  for (const [host, width, loopback, range] of cases) {
    test(`'${host}': ${width}${loopback ? ', loopback' : ''}`, () => {
      assert.equal(hostWidth(host), width);
      assert.equal(isLoopbackPattern(host), loopback);
      const r = hostRange(host);
      if (range === null || r?.family === 6) assert.equal(r === null ? null : '::1', range);
      else assert.equal(r === null ? null : `${v4(r.start)}-${v4(r.end)}`, range);
    });
  }
});

describe("moat's address rules over a range", () => {
  const range = hostRange('10.1.0.0/255.255.0.0')!;
  const cases: Array<[name: string, policy: Parameters<typeof verdictOver>[0], verdict: string]> = [
    ['default allow', { default: 'allow', rules: [] }, 'allow'],
    ['default deny', { default: 'deny', rules: [] }, 'deny'],
    [
      'a covering deny first',
      { default: 'allow', rules: [{ action: 'deny', from: ['10.0.0.0/8'] }] },
      'deny',
    ],
    ['a partial allow', { default: 'deny', rules: [{ action: 'allow', from: ['10.1.2.0/24'] }] }, 'mixed'],
    [
      'deny pieces that add up to all of it',
      { default: 'allow', rules: [{ action: 'deny', from: ['10.1.0.0/17', '10.1.128.0/17'] }] },
      'deny',
    ],
    [
      'an allow shadowed by an earlier deny',
      {
        default: 'deny',
        rules: [
          { action: 'deny', from: ['10.1.0.0/16'] },
          { action: 'allow', from: ['10.0.0.0/8'] },
        ],
      },
      'deny',
    ],
    [
      'IPv6 rules do not touch IPv4',
      { default: 'deny', rules: [{ action: 'allow', from: ['::/0'] }] },
      'deny',
    ],
  ];
  for (const [name, policy, verdict] of cases) {
    test(name, () => assert.equal(verdictOver(policy, range), verdict));
  }
  test('allow 0.0.0.0/0 is everything', () =>
    assert.equal(
      verdictOver({ default: 'deny', rules: [{ action: 'allow', from: ['0.0.0.0/0'] }] }, ALL_IPV4),
      'allow',
    ));
});

describe('account rows', () => {
  test('MariaDB global_priv: VIA a OR b, privilege bits, REQUIRE SSL, roles', () => {
    const a = fromGlobalPriv({
      User: 'root',
      Host: '%',
      Priv: JSON.stringify({
        access: 2 ** 39 - 1,
        plugin: 'mysql_native_password',
        authentication_string: '',
        auth_or: [{}, { plugin: 'unix_socket' }],
        ssl_type: 1,
      }),
    });
    assert.deepEqual(a.methods, [
      { plugin: 'mysql_native_password', hash: '' },
      { plugin: 'unix_socket', hash: '' },
    ]);
    assert.deepEqual([a.all, a.super, a.grantOption, a.ssl], [true, true, true, 'ssl']);
    const g = fromGlobalPriv({ User: 'g', Host: '%', Priv: '{"access":1024,"is_role":true}' });
    assert.deepEqual([g.all, g.super, g.grantOption, g.role], [false, false, true, true]);
  });

  test('MySQL mysql.user: Y/N columns, ssl_type names, locked', () => {
    const row = { User: 'admin', Host: '%', plugin: 'caching_sha2_password', authentication_string: '' };
    const a = fromUserTable({ ...row, Select_priv: 'Y', Super_priv: 'Y', Grant_priv: 'N', ssl_type: 'X509' });
    assert.deepEqual([a.all, a.super, a.grantOption, a.ssl, a.locked], [true, true, false, 'x509', false]);
    const b = fromUserTable({ ...row, Select_priv: 'Y', Super_priv: 'N', account_locked: 'Y', ssl_type: '' });
    assert.deepEqual([b.all, b.super, b.ssl, b.locked], [false, false, 'none', true]);
  });
});

describe('client_ed25519', () => {
  test('a 32-byte password signs as a standard Ed25519 seed (node:crypto agrees)', () => {
    const seed = Buffer.from('0123456789abcdef0123456789abcdef');
    const key = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    for (const nonce of [Buffer.alloc(32), Buffer.alloc(32, 0xff), Buffer.from('x'.repeat(32))]) {
      assert.deepEqual(ed25519Sign(seed.toString(), nonce), sign(null, nonce, key));
    }
  });

  test("the stored key is MariaDB's PASSWORD() for ed25519", () => {
    // SELECT ED25519_PASSWORD('ed-pw') on MariaDB 10.11 (the harness's 'ed' account).
    assert.equal(ed25519StoredKey('ed-pw'), '24FjORYwAV6wiJLDpFI0doShISjOdPNUg1WR7eRAgqA');
  });
});

describe('the fix script', () => {
  test('statements split outside quotes', () => {
    assert.deepEqual(splitStatements("INSTALL SONAME 'auth_ed25519'; ALTER USER 'a;b'@'%' REQUIRE SSL;"), [
      "INSTALL SONAME 'auth_ed25519';",
      "ALTER USER 'a;b'@'%' REQUIRE SSL;",
    ]);
  });

  test('INSTALL, then ALTER, then RENAME / DROP; each statement once', () => {
    const f = (severity: 'fail' | 'warn' | 'pass', fix: string) => ({
      id: 'account.x',
      area: 'accounts' as const,
      severity,
      subject: 's',
      seen: '',
      why: '',
      fix,
      fixKind: 'sql' as const,
    });
    const script = fixScript([
      f('fail', "RENAME USER 'a'@'%' TO 'a'@'127.0.0.1';"),
      f(
        'warn',
        "INSTALL SONAME 'auth_ed25519'; ALTER USER 'a'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('x');",
      ),
      f('fail', "RENAME USER 'a'@'%' TO 'a'@'127.0.0.1';"),
      f('pass', "DROP USER 'never'@'%';"),
    ]);
    assert.deepEqual(script, [
      "INSTALL SONAME 'auth_ed25519';",
      "ALTER USER 'a'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('x');",
      "RENAME USER 'a'@'%' TO 'a'@'127.0.0.1';",
    ]);
  });
});

function context(input: Partial<ConfigInput>, local: string[] = []): CheckContext {
  const config = validateConfig({ backend: { address: '127.0.0.1:3306' }, ...input });
  const path = backendPath(config, local);
  return {
    config,
    path,
    moatHost: moatHostOf(path, '10.0.0.7'),
    localAddresses: local,
    now: 0,
    certWarnDays: 30,
  };
}

function facts(accounts: DbAccount[], variables: Record<string, string> = {}): ServerFacts {
  return {
    flavor: 'mariadb',
    version: '10.11.19-MariaDB',
    variables: new Map(Object.entries(variables)),
    accounts,
    authPlugins: new Set(['ed25519']),
    tlsOffered: true,
    peerCertificate: null,
  };
}

const account = (user: string, host: string): DbAccount => ({
  user,
  host,
  methods: [{ plugin: 'ed25519', hash: ed25519StoredKey('pw') }],
  ssl: 'ssl',
  locked: false,
  role: false,
  super: false,
  grantOption: false,
  all: false,
});

describe('findings from given facts', () => {
  test("a grant whose addresses every TCP listener's rules deny is dead; one listener that allows it keeps it", () => {
    const deny = { default: 'allow' as const, rules: [{ deny: ['203.0.113.0/24'] }] };
    const dead = accountFindings(
      facts([account('gone', '203.0.113.0/255.255.255.0')]),
      context({
        listeners: [{ address: '0.0.0.0:3307' }, { address: 'unix:/run/moat.sock' }],
        guard: { access: deny },
      }),
    );
    const f = dead.find((x) => x.id === 'account.dead-grant');
    assert.equal(f?.severity, 'warn');
    assert.equal(f.fix, "DROP USER 'gone'@'203.0.113.0/255.255.255.0';");
    const alive = accountFindings(
      facts([account('gone', '203.0.113.0/255.255.255.0')]),
      context({
        listeners: [{ address: '0.0.0.0:3307' }, { address: '0.0.0.0:3308', access: { default: 'allow' } }],
        guard: { access: deny },
      }),
    );
    assert.equal(alive.find((x) => x.id === 'account.dead-grant')?.severity, 'pass');
  });

  test('a RENAME target that exists already becomes a DROP; admin accounts move to localhost', () => {
    const root = { ...account('root', '%'), all: true, super: true, grantOption: true };
    const found = accountFindings(
      facts([account('app', '%'), account('app', '127.0.0.1'), root, account('web', '%')]),
      context({}),
    );
    const fix = (subject: string) =>
      found.find((f) => f.id === 'account.wide-host' && f.subject === subject)?.fix;
    assert.equal(fix("'app'@'%'"), "DROP USER 'app'@'%';");
    assert.equal(fix("'root'@'%'"), "RENAME USER 'root'@'%' TO 'root'@'localhost';");
    assert.equal(fix("'web'@'%'"), "RENAME USER 'web'@'%' TO 'web'@'127.0.0.1';");
  });

  test('a server on another host: the firewall rules admit only moat, the fixes name its address', () => {
    const ctx = context({ backend: { address: '10.0.0.5:3306' } });
    assert.equal(ctx.path.kind, 'remote');
    const found = bypassFindings(
      facts([], { skip_networking: 'OFF', bind_address: '*', port: '3306' }),
      ctx,
      null,
    );
    const fw = found.find((f) => f.id === 'bypass.firewall');
    assert.equal(fw?.severity, 'warn');
    assert.equal(
      fw.fix,
      'nft add rule inet filter input tcp dport 3306 ip saddr != 10.0.0.7 drop\n' +
        'nft add rule inet filter input meta nfproto ipv6 tcp dport 3306 drop',
    );
    assert.equal(found.find((f) => f.id === 'bypass.bind-address')?.fix, 'bind-address=10.0.0.5');
    const web = accountFindings(facts([account('web', '%')]), ctx).find((f) => f.id === 'account.wide-host');
    assert.equal(web?.fix, "RENAME USER 'web'@'%' TO 'web'@'10.0.0.7';");
  });

  test('skip-networking is the bypass fix when moat is on the unix socket', () => {
    const ctx = context({ backend: { address: 'unix:/run/mysqld/mysqld.sock' } });
    const found = bypassFindings(
      facts([], { skip_networking: 'OFF', bind_address: '0.0.0.0', port: '3306' }),
      ctx,
      [],
    );
    assert.equal(found.find((f) => f.id === 'bypass.bind-address')?.fix, 'skip-networking');
    const closed = bypassFindings(facts([], { skip_networking: 'ON', port: '3306' }), ctx, null);
    assert.deepEqual(
      closed.map((f) => f.severity),
      ['pass', 'pass'],
    );
  });
});
