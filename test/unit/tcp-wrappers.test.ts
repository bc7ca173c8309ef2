// TCP-wrappers import: every hosts_access(5) client pattern matches what tcpd matches (IPv4 clients
// on a dual-stack listener included), EXCEPT nests to the right, hosts.allow is read before
// hosts.deny with allow as the default, the allow/deny options override the file, DNS is asked for
// only when a rule looks at names, and what moat cannot do is a warning while what it cannot read is
// a typed error naming the file and line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  compileTcpWrappers,
  type TcpWrappersClient,
  TcpWrappersSyntaxError,
  type TcpWrappersWarning,
} from '../../src/guard/tcp-wrappers.ts';

const client = (address: string, hostname: string | null = null): TcpWrappersClient => ({
  address,
  hostname,
});

/** Whether `pattern`, as the whole client_list of a hosts.allow rule, lets the client in. */
function admits(pattern: string, c: TcpWrappersClient): boolean {
  return compileTcpWrappers(`moat: ${pattern}\n`, 'ALL: ALL\n', 'moat').decide(c).verdict === 'allow';
}

const messages = (ws: readonly TcpWrappersWarning[]): string[] =>
  ws.map((w) => `${w.file}:${w.line}: ${w.message}`);

describe('client patterns', () => {
  const CASES: [pattern: string, c: TcpWrappersClient, expected: boolean][] = [
    ['ALL', client('203.0.113.9'), true],
    ['all', client('2001:db8::9'), true],
    ['LOCAL', client('10.0.0.1', 'db1'), true],
    ['LOCAL', client('10.0.0.1', 'db1.example.com'), false],
    ['LOCAL', client('10.0.0.1'), false],
    ['KNOWN', client('10.0.0.1', 'db1.example.com'), true],
    ['KNOWN', client('10.0.0.1'), false],
    ['UNKNOWN', client('10.0.0.1'), true],
    ['UNKNOWN', client('10.0.0.1', 'db1.example.com'), false],
    ['PARANOID', client('10.0.0.1'), true],
    ['PARANOID', client('10.0.0.1', 'db1.example.com'), false],
    ['192.0.2.7', client('192.0.2.7'), true],
    ['192.0.2.7', client('192.0.2.70'), false],
    ['192.168.', client('192.168.44.1'), true],
    ['192.168.', client('192.169.44.1'), false],
    ['192.168.1.', client('192.168.10.1'), false],
    ['192.168.0.0/255.255.254.0', client('192.168.1.200'), true],
    ['192.168.0.0/255.255.254.0', client('192.168.2.1'), false],
    ['10.0.0.0/255.0.255.0', client('10.99.0.99'), true], // non-contiguous masks, as tcpd
    ['10.0.0.0/8', client('10.255.1.2'), true],
    ['10.0.0.0/8', client('11.0.0.1'), false],
    ['0.0.0.0/0', client('198.51.100.1'), true],
    ['198.51.100.1/32', client('198.51.100.1'), true],
    ['[::1]', client('::1'), true],
    ['[0:0::1]', client('::1'), true],
    ['[::1]', client('127.0.0.1'), false],
    ['[2001:DB8::]/32', client('2001:db8:ffff::1'), true],
    ['[2001:db8::]/32', client('2001:db9::1'), false],
    ['[fe80::]/10', client('fe80::1%eth0'), true],
    ['.example.com', client('10.0.0.1', 'db1.EXAMPLE.com.'), true],
    ['.example.com', client('10.0.0.1', 'example.com'), false],
    ['.example.com', client('10.0.0.1', 'evilexample.com'), false],
    ['.example.com', client('10.0.0.1'), false],
    ['db1.example.com', client('10.0.0.1', 'DB1.example.com'), true],
    ['db1.example.com', client('10.0.0.1', 'db2.example.com'), false],
    ['db1.example.com', client('10.0.0.1'), false],
    ['db?.example.*', client('10.0.0.1', 'db7.example.org'), true],
    ['db?.example.*', client('10.0.0.1', 'db17.example.org'), false],
    ['*.example.com', client('10.0.0.1', 'a.b.example.com'), true],
    ['192.168.1.*', client('192.168.1.77'), true],
    ['192.168.1.*', client('192.168.2.77'), false],
    // a PTR record may claim to be an address; address patterns never look at names
    ['10.0.0.1', client('203.0.113.5', '10.0.0.1'), false],
    ['10.0.', client('203.0.113.5', '10.0.0.1'), false],
    ['10.0.*', client('203.0.113.5', '10.0.0.1'), false],
  ];
  for (const [pattern, c, expected] of CASES) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${c.address} / ${c.hostname}`, () => {
      assert.equal(admits(pattern, c), expected);
    });
  }
});

describe('IPv4 clients on a dual-stack listener (::ffff:a.b.c.d)', () => {
  const MAPPED = client('::ffff:192.168.1.20');
  for (const pattern of [
    '192.168.1.20',
    '192.168.',
    '192.168.1.0/24',
    '192.168.0.0/255.255.0.0',
    '192.168.1.2?',
    '[::ffff:192.168.1.20]',
    '[::ffff:192.168.0.0]/112',
  ]) {
    test(`${pattern} matches`, () => assert.ok(admits(pattern, MAPPED)));
  }
  test('an IPv4 pattern does not match an IPv6 client', () => {
    assert.equal(admits('0.0.0.0/0', client('2001:db8::1')), false);
    assert.equal(admits('[::]/0', client('2001:db8::1')), true);
  });
});

describe('EXCEPT', () => {
  const CASES: [list: string, address: string, expected: boolean][] = [
    ['ALL EXCEPT 10.0.0.0/8', '10.1.2.3', false],
    ['ALL EXCEPT 10.0.0.0/8', '192.0.2.1', true],
    // right-associative: ALL EXCEPT (10/8 EXCEPT 10.1/16)
    ['ALL EXCEPT 10.0.0.0/8 EXCEPT 10.1.0.0/16', '10.2.3.4', false],
    ['ALL EXCEPT 10.0.0.0/8 EXCEPT 10.1.0.0/16', '10.1.2.3', true],
    ['ALL EXCEPT 10.0.0.0/8 EXCEPT 10.1.0.0/16', '192.0.2.1', true],
    ['10.0.0.0/8, 172.16.0.0/12 except 10.9.0.0/16, 172.16.0.1', '172.16.0.1', false],
    ['10.0.0.0/8, 172.16.0.0/12 except 10.9.0.0/16, 172.16.0.1', '172.16.0.2', true],
    ['10.0.0.0/8, 172.16.0.0/12 except 10.9.0.0/16, 172.16.0.1', '10.9.0.1', false],
  ];
  for (const [list, address, expected] of CASES) {
    test(`${list}: ${address} → ${expected}`, () => assert.equal(admits(list, client(address)), expected));
  }

  test('in the daemon_list', () => {
    const policy = compileTcpWrappers('ALL EXCEPT moat: ALL\n', 'ALL EXCEPT sshd: ALL\n', 'moat');
    assert.deepEqual(policy.decide(client('192.0.2.1')).rule?.file, 'hosts.deny');
  });
});

describe('daemon_list', () => {
  const CASES: [daemons: string, daemon: string, expected: boolean][] = [
    ['moat', 'moat', true],
    ['MOAT', 'moat', true],
    ['moat', 'Moat', true],
    ['sshd, vsftpd moat', 'moat', true],
    ['sshd', 'moat', false],
    ['ALL', 'mysqld', true],
    ['mysql*', 'mysqld', true],
    ['mysqld', 'mysql', false],
  ];
  for (const [daemons, daemon, expected] of CASES) {
    test(`'${daemons}' ${expected ? 'names' : 'does not name'} ${daemon}`, () => {
      const policy = compileTcpWrappers('', `${daemons}: ALL\n`, daemon);
      assert.equal(policy.decide(client('192.0.2.1')).verdict, expected ? 'deny' : 'allow');
    });
  }

  test('daemon@host is read as not matching, with a warning only when the daemon is ours', () => {
    const policy = compileTcpWrappers('', 'moat@192.0.2.1: ALL\nsshd@192.0.2.1: ALL\n', 'moat');
    assert.equal(policy.decide(client('192.0.2.9')).verdict, 'allow');
    assert.equal(policy.warnings.length, 1);
    assert.match(messages(policy.warnings)[0]!, /^hosts\.deny:1: 'moat@192\.0\.2\.1': daemon@host/);
  });
});

describe('evaluation order', () => {
  const ALLOW = ['# trusted', 'moat: 10.0.0.1', 'moat: 10.0.0.0/8 : deny', ''].join('\n');
  const DENY = ['moat: 10.0.0.0/8', 'moat: 172.16.0.1 : allow', 'sshd: ALL', ''].join('\n');
  const policy = compileTcpWrappers(ALLOW, DENY, 'moat');
  const CASES: [address: string, verdict: 'allow' | 'deny', rule: string | null][] = [
    ['10.0.0.1', 'allow', 'hosts.allow:2: moat: 10.0.0.1'], // hosts.allow before hosts.deny
    ['10.0.0.2', 'deny', 'hosts.allow:3: moat: 10.0.0.0/8 : deny'], // option overrides the file
    ['172.16.0.1', 'allow', 'hosts.deny:2: moat: 172.16.0.1 : allow'],
    ['192.0.2.1', 'allow', null], // no rule: tcpd allows
  ];
  for (const [address, verdict, rule] of CASES) {
    test(`${address} → ${verdict} by ${rule}`, () => {
      const d = policy.decide(client(address));
      assert.equal(d.verdict, verdict);
      assert.equal(d.rule && `${d.rule.file}:${d.rule.line}: ${d.rule.text}`, rule);
    });
  }

  test('"ALL: ALL" in hosts.deny refuses all but what hosts.allow lets in', () => {
    const p = compileTcpWrappers('moat: 192.0.2.0/24, .example.com\n', 'ALL: ALL\n', 'moat');
    assert.equal(p.decide(client('192.0.2.5')).verdict, 'allow');
    assert.equal(p.decide(client('198.51.100.5', 'db.example.com')).verdict, 'allow');
    assert.deepEqual(p.decide(client('198.51.100.5')), {
      verdict: 'deny',
      rule: { file: 'hosts.deny', line: 1, text: 'ALL: ALL' },
    });
  });

  test('empty files allow everything', () => {
    const p = compileTcpWrappers('', '', 'moat');
    assert.deepEqual(p.decide(client('192.0.2.1')), { verdict: 'allow', rule: null });
    assert.deepEqual(p.warnings, []);
  });
});

describe('needsHostname', () => {
  const CASES: [allow: string, expected: boolean][] = [
    ['moat: 10.0.0.0/8, 192.168., [::1], 172.16.0.0/255.240.0.0, 192.168.1.* EXCEPT 10.0.0.1', false],
    ['moat: ALL', false],
    ['moat: @trusted, /etc/moat.hosts, ident@10.0.0.1', false], // never match, so no DNS for them
    ['sshd: .example.com', false], // not a rule for moat
    ['moat: .example.com', true],
    ['moat: db1.example.com', true],
    ['moat: db*', true],
    ['moat: LOCAL', true],
    ['moat: KNOWN', true],
    ['moat: UNKNOWN', true],
    ['moat: PARANOID', true],
    ['moat: ALL EXCEPT 10.0.0.0/8 EXCEPT .example.com', true],
  ];
  for (const [allow, expected] of CASES) {
    test(`${allow} → ${expected}`, () => {
      assert.equal(compileTcpWrappers(`${allow}\n`, '', 'moat').needsHostname, expected);
    });
  }
});

describe('file syntax', () => {
  test('comments, blank lines, continuations, commas, CRLF; the rule is reported where it starts', () => {
    const ALLOW = '# moat clients\r\n\r\n   \r\nmoat :\\\r\n  10.0.0.1,\\\r\n  10.0.0.2 ,10.0.0.3\r\n';
    const p = compileTcpWrappers(ALLOW, 'ALL: ALL\n', 'moat');
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
      assert.deepEqual(p.decide(client(a)).rule, {
        file: 'hosts.allow',
        line: 4,
        text: 'moat :  10.0.0.1,  10.0.0.2 ,10.0.0.3',
      });
    }
    assert.equal(p.decide(client('10.0.0.4')).verdict, 'deny');
    assert.deepEqual(p.warnings, []);
  });

  test('a last line without a newline is applied, with a warning since tcpd skips it', () => {
    const p = compileTcpWrappers('', '# deny all\nALL: ALL', 'moat');
    assert.equal(p.decide(client('192.0.2.1')).verdict, 'deny');
    assert.deepEqual(messages(p.warnings), [
      'hosts.deny:2: tcpd ignores a last line without a newline; moat applies it',
    ]);
  });

  const ERRORS: [name: string, allow: string, deny: string, at: string, message: RegExp][] = [
    ['a line without a colon', '', '# x\n\nmoat 10.0.0.1\n', 'hosts.deny:3', /missing ':'/],
    ['line numbers count continued lines', 'moat: \\\n 10.0.0.1\nmoat\n', '', 'hosts.allow:3', /missing ':'/],
    ['an empty daemon_list', ': ALL\n', '', 'hosts.allow:1', /empty daemon_list/],
    ['an empty client_list', 'moat:\n', '', 'hosts.allow:1', /empty client_list/],
    ['an unbracketed IPv6 address', 'moat: ::1\n', '', 'hosts.allow:1', /\[::1\]/],
    ['EXCEPT with nothing after it', 'moat: ALL EXCEPT\n', '', 'hosts.allow:1', /nothing after EXCEPT/],
    [
      'EXCEPT with nothing before it',
      'moat: EXCEPT 10.0.0.1\n',
      '',
      'hosts.allow:1',
      /nothing before EXCEPT/,
    ],
    ['an unclosed bracket', 'moat: [::1\n', '', 'hosts.allow:1', /not an \[ipv6\]/],
    ['a bracketed non-address', 'moat: [db1]\n', '', 'hosts.allow:1', /not an \[ipv6\]/],
    ['a prefix length over 32', 'moat: 10.0.0.0/33\n', '', 'hosts.allow:1', /bad mask/],
    ['a prefix length over 128', 'moat: [::]/129\n', '', 'hosts.allow:1', /bad mask/],
    ['a dotted mask on IPv6', 'moat: [::]/255.0.0.0\n', '', 'hosts.allow:1', /bad mask/],
    ['a name with a mask', 'moat: db1/24\n', '', 'hosts.allow:1', /expected n\.n\.n\.n/],
    ['allow with a value', 'moat: ALL : allow = yes\n', '', 'hosts.allow:1', /'allow' takes no value/],
    ['an error in another daemon’s rule', 'sshd: 10.0.0.0/40\n', '', 'hosts.allow:1', /bad mask/],
  ];
  for (const [name, allow, deny, at, message] of ERRORS) {
    test(`${name} is a TcpWrappersSyntaxError at ${at}`, () => {
      assert.throws(
        () => compileTcpWrappers(allow, deny, 'moat'),
        (e: unknown) =>
          e instanceof TcpWrappersSyntaxError &&
          e.code === 'MOAT_TCPWRAP_SYNTAX' &&
          `${e.file}:${e.line}` === at &&
          e.message.startsWith(`${at}: `) &&
          message.test(e.message),
      );
    });
  }
});

describe('unsupported patterns and options', () => {
  test('are warned about with file and line, and never match', () => {
    const ALLOW = [
      'moat: @trusted, /etc/moat.clients',
      'moat: ident@192.0.2.1',
      'moat: 192.0.2.1/24',
      'moat: 10.1 .*.example.com',
      'moat: 192.0.2.1 # office',
      'sshd: @other : spawn (echo) : rfc931', // not ours: no warnings
      '',
    ].join('\n');
    const DENY = 'ALL: ALL : spawn (/bin/echo %a\\: denied) & : severity auth.info\n';
    const p = compileTcpWrappers(ALLOW, DENY, 'moat');
    assert.deepEqual(messages(p.warnings), [
      "hosts.allow:1: '@trusted': NIS netgroups are not supported; read as never matching",
      "hosts.allow:1: '/etc/moat.clients': pattern files are not supported; read as never matching",
      "hosts.allow:2: 'ident@192.0.2.1': user@host needs an ident (RFC 931) lookup; read as never matching",
      "hosts.allow:3: '192.0.2.1/24': host bits are set outside the mask, so (as in tcpd) it never matches",
      "hosts.allow:4: '10.1' is not a dotted-quad address, '.suffix' or 'prefix.'; it never matches",
      "hosts.allow:4: '.*.example.com': wildcards are literal in a '.suffix' or 'prefix.' pattern",
      "hosts.allow:5: '#' starts a comment only at the start of a line; '# office' are patterns",
      "hosts.deny:1: option 'spawn' is ignored",
      "hosts.deny:1: option 'severity' is ignored",
    ]);
    for (const c of [client('192.0.2.1'), client('10.1.0.0'), client('192.0.2.9', 'a.example.com')]) {
      assert.equal(p.decide(c).verdict, c.address === '192.0.2.1' ? 'allow' : 'deny', c.address);
    }
  });

  test('twist is not run and refuses the client, as the service never sees it under tcpd', () => {
    const p = compileTcpWrappers('moat: 10.0.0.0/8 : twist /bin/echo go away\n', '', 'moat');
    assert.equal(p.decide(client('10.0.0.1')).verdict, 'deny');
    assert.deepEqual(messages(p.warnings), [
      "hosts.allow:1: option 'twist' is not run; the connection is refused",
    ]);
  });

  test('the first of allow and deny decides', () => {
    const p = compileTcpWrappers('moat: ALL : spawn x : DENY : allow\n', '', 'moat');
    assert.equal(p.decide(client('10.0.0.1')).verdict, 'deny');
    assert.deepEqual(messages(p.warnings), [
      "hosts.allow:1: option 'spawn' is ignored",
      "hosts.allow:1: 'allow' after 'deny' is never reached",
    ]);
  });
});

describe('properties', () => {
  const octets = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  const toInt = (o: number[]): number => o.reduce((a, b) => a * 256 + b, 0);
  const toText = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

  test('an IPv4 address matches n.n.n.n/len, its netmask form and ::ffff: form iff inside the net', () => {
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (a, n, len) => {
        const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        const net = (toInt(n) & mask) >>> 0;
        const inside = (toInt(a) & mask) >>> 0 === net;
        const list = `${toText(net)}/${len} ${toText(net)}/${toText(mask)}`;
        const p = compileTcpWrappers('', `moat: ${list}\n`, 'moat');
        assert.deepEqual(p.warnings, []);
        for (const address of [toText(toInt(a)), `::ffff:${toText(toInt(a))}`])
          assert.equal(p.decide(client(address)).verdict, inside ? 'deny' : 'allow', `${address} in ${list}`);
      }),
    );
  });
});

describe('decideByAddress: deciding without DNS', () => {
  const policy = compileTcpWrappers(
    'mysqld: 10.0.0.1\nmysqld: .trusted.example\nmysqld: 10.0.0.2\n',
    'mysqld: 192.168.\nALL: ALL\n',
    'mysqld',
  );

  test('an address rule before any hostname rule decides', () => {
    assert.deepEqual(policy.decideByAddress('10.0.0.1')?.verdict, 'allow');
    assert.equal(policy.decideByAddress('10.0.0.1')?.rule?.line, 1);
  });

  test('past a hostname rule the name is needed, even if a later address rule would match', () => {
    assert.equal(policy.decideByAddress('10.0.0.2'), null);
    assert.equal(policy.decideByAddress('192.168.1.1'), null);
  });

  test('without hostname rules every address is decided, the default included', () => {
    const p = compileTcpWrappers('mysqld: 10.0.0.1\n', '', 'mysqld');
    assert.equal(p.decideByAddress('10.0.0.1')?.verdict, 'allow');
    assert.deepEqual(p.decideByAddress('10.9.9.9'), { verdict: 'allow', rule: null });
  });
});
