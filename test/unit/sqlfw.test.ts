// The SQL firewall's pure parts: account names and their matching (MySQL's wildcards, quoting,
// localhost for unix-socket clients), modes, CALL arguments, network scope, the allowlist file's
// errors naming the entry, and the engine's verdicts over an in-memory store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { callProcedure, type ProcedureError, parseCallArgs } from '../../src/admin/sqlfw-tables.ts';
import { digestOf } from '../../src/sql/digest.ts';
import { accountMatches, parseAccount } from '../../src/sqlfw/account.ts';
import { sqlFirewallConfigSchema } from '../../src/sqlfw/config.ts';
import { SqlFirewall } from '../../src/sqlfw/engine.ts';
import { formatAllowlistFile, parseAllowlistFile } from '../../src/sqlfw/file.ts';
import { parseMode } from '../../src/sqlfw/model.ts';
import { SqlfwStore } from '../../src/sqlfw/store.ts';

test('account names: user@host, quoted, default host %, canonical text', () => {
  for (const [text, user, host] of [
    ['app@%', 'app', '%'],
    ["'app'@'10.0.%'", 'app', '10.0.%'],
    ['`a@b`@localhost', 'a@b', 'localhost'],
    ['app', 'app', '%'],
    ["'it''s'@'%'", "it's", '%'],
  ] as const) {
    const a = parseAccount(text);
    assert.deepEqual([a.user, a.host, a.text], [user, host, `${user}@${host}`], text);
  }
  for (const bad of ['', "'app@%", 'app@'])
    assert.throws(() => parseAccount(bad), { code: 'MOAT_SQLFW_ACCOUNT' }, bad);
});

test('account matching: MySQL host wildcards against the client address; localhost for the unix socket', () => {
  const cases: Array<[string, string, string, boolean, boolean]> = [
    ['app@%', 'app', '10.1.2.3', false, true],
    ['app@%', 'other', '10.1.2.3', false, false],
    ['app@10.1.%', 'app', '10.1.2.3', false, true],
    ['app@10.1.%', 'app', '10.2.2.3', false, false],
    ['app@10.1.2._', 'app', '10.1.2.3', false, true],
    ['app@10.1.2._', 'app', '10.1.2.33', false, false],
    ['app@localhost', 'app', '127.0.0.1', false, false],
    ['app@localhost', 'app', 'localhost', true, true],
    ['@%', 'anyone', '10.0.0.1', false, true],
  ];
  for (const [pattern, user, ip, local, want] of cases)
    assert.equal(accountMatches(parseAccount(pattern), user, ip, local), want, `${pattern} ~ ${user} ${ip}`);
});

test('modes: EE names in any case; an unknown one named with the choices', () => {
  assert.equal(parseMode('protecting', false), 'PROTECTING');
  assert.equal(parseMode('RESET', true), 'RESET');
  assert.throws(() => parseMode('RESET', false), /unknown firewall mode 'RESET'/);
  assert.throws(() => parseMode('PROTECT', true), {
    code: 'MOAT_SQLFW_MODE',
    message: "unknown firewall mode 'PROTECT' (expected OFF, RECORDING, DETECTING, PROTECTING or RESET)",
  });
});

test('CALL arguments: quotes, doubled quotes, backslashes, NULL; syntax errors are 1064', () => {
  assert.deepEqual(parseCallArgs(' \'a@%\' , "B" ', 'p'), ['a@%', 'B']);
  assert.deepEqual(parseCallArgs("'it''s', 'x\\'y', NULL, 3", 'p'), ["it's", "x'y", null, '3']);
  assert.deepEqual(parseCallArgs('', 'p'), []);
  for (const bad of ["'a", "'a' 'b'", 'nope'])
    assert.throws(
      () => parseCallArgs(bad, 'p'),
      (e: ProcedureError) => e.error.code === 1064,
      bad,
    );
});

function firewall(cfg: Record<string, unknown> = {}): SqlFirewall {
  return new SqlFirewall(
    sqlFirewallConfigSchema.parse(cfg),
    new SqlfwStore(':memory:'),
    pino({ level: 'silent' }),
  );
}

const login = (user: string, ip = '10.0.0.5') => ({ session: 1, user, ip, local: false });

test('engine: RECORDING learns; DETECTING flags; PROTECTING refuses; the most specific account profile wins', () => {
  const fw = firewall();
  const alerts: string[] = [];
  fw.onAlert = (e) => alerts.push(`${e.outcome} ${e.statement}`);
  fw.setUserMode('app@%', 'RECORDING');
  let view = fw.attach(login('app'));
  assert.equal(fw.judge(view, 'SELECT a FROM t WHERE id = 1', false, 'Query').action, 'allow');
  assert.equal(fw.profiles()[0]!.rules.size, 1);
  fw.setUserMode('app@%', 'DETECTING');
  view = fw.attach(login('app'));
  assert.equal(
    fw.judge(view, 'SELECT a FROM t WHERE id = 42', false, 'Query').action,
    'allow',
    'same digest',
  );
  assert.equal(fw.judge(view, 'DELETE FROM t', false, 'Query').action, 'detect');
  fw.setUserMode('app@%', 'PROTECTING');
  view = fw.attach(login('app'));
  assert.equal(view.protecting, true);
  const v = fw.judge(view, 'DELETE FROM t', false, 'Query');
  assert.equal(v.action, 'block');
  assert.match(v.reason ?? '', /not on the allowlist of account profile 'app@%'/);
  assert.deepEqual(alerts, ['sqlfw-detected DELETE FROM t', 'sqlfw-blocked DELETE FROM t']);
  const report = fw.profiles()[0]!.report;
  assert.equal([...report.values()][0]!.count, 2);
  // A more specific profile in OFF takes the session out of the wildcard's PROTECTING.
  fw.setUserMode('app@10.0.0.5', 'OFF');
  assert.equal(fw.attach(login('app')).profiles.length, 0);
  assert.equal(fw.attach(login('app', '10.0.0.6')).protecting, true);
  assert.deepEqual(fw.counters, { denied: 1, granted: 2, suspicious: 1 });
});

test('engine: a statement cut at capture is refused in PROTECTING unless allowTruncated; RESET empties', () => {
  for (const allowTruncated of [false, true]) {
    const fw = firewall({ allowTruncated });
    fw.setUserMode('app@%', 'RECORDING');
    fw.judge(fw.attach(login('app')), 'SELECT 1', true, 'Query');
    fw.setUserMode('app@%', 'PROTECTING');
    const v = fw.judge(fw.attach(login('app')), 'SELECT 1', true, 'Query');
    assert.equal(v.action, allowTruncated ? 'allow' : 'block');
    fw.setUserMode('app@%', 'RESET');
    assert.equal(fw.profiles()[0]!.mode, 'OFF');
    assert.equal(fw.profiles()[0]!.rules.size, 0);
  }
});

test('engine: group profiles apply to members, scoped by network; a trainer limits learning', () => {
  const fw = firewall();
  fw.setGroupMode('web', 'RECORDING', 'trainer@%');
  fw.setMember('web', 'app@%', true);
  fw.setMember('web', 'trainer@%', true);
  fw.judge(fw.attach(login('app')), 'SELECT 1', false, 'Query');
  assert.equal(fw.profiles()[0]!.rules.size, 0, 'only the trainer records');
  fw.judge(fw.attach(login('trainer')), 'SELECT 1', false, 'Query');
  assert.equal(fw.profiles()[0]!.rules.size, 1);
  fw.setGroupMode('web', 'PROTECTING');
  fw.setNetworks('group', 'web', ['10.0.0.0/24']);
  assert.equal(fw.attach(login('app', '10.0.0.9')).protecting, true);
  assert.equal(fw.attach(login('app', '10.0.1.9')).profiles.length, 0);
  assert.throws(
    () => fw.setNetworks('group', 'web', ['10.0.0.0/33']),
    /'10.0.0.0\/33' is not an IP address or CIDR network/,
  );
  assert.throws(() => fw.setMember('nope', 'app@%', true), { code: 'MOAT_SQLFW_NO_GROUP' });
});

test('procedures: EE names, argument counts, errors naming the procedure and the entry', () => {
  const fw = firewall();
  assert.deepEqual(callProcedure(fw, 'sp_set_firewall_mode', "'app@%', 'recording'"), {
    affectedRows: 1,
    info: 'app@%: RECORDING',
  });
  const code = (name: string, args: string) => {
    try {
      callProcedure(fw, name, args);
      return 0;
    } catch (e) {
      return (e as ProcedureError).error.code;
    }
  };
  assert.equal(code('sp_nope', ''), 1305);
  assert.equal(code('sp_set_firewall_mode', "'app@%'"), 1318);
  assert.equal(code('sp_set_firewall_mode', "'app@%', 'ON'"), 1210);
  assert.equal(code('sp_set_firewall_mode', "NULL, 'OFF'"), 1210);
  assert.equal(code('sp_firewall_group_enlist', "'g', 'app@%'"), 1210);
});

test('allowlist file: round trip; every malformed entry named by its path', () => {
  const fw = firewall();
  fw.setUserMode('app@%', 'RECORDING');
  fw.judge(fw.attach(login('app')), 'SELECT a FROM t WHERE id = 1', false, 'Query');
  fw.setGroupMode('web', 'DETECTING');
  fw.setMember('web', 'app@10.%', true);
  const text = formatAllowlistFile(fw.snapshot());
  assert.deepEqual(parseAllowlistFile(text, 'x.yaml'), fw.snapshot());
  const hash = 'a'.repeat(64);
  const cases: Array<[string, RegExp]> = [
    ['version: 2\n', /^f\.yaml: version: /],
    ['version: 1\nprofiles:\n  - account: a@%\n    mode: ON\n', /^f\.yaml: profiles\[0\]\.mode: /],
    [
      `version: 1\nprofiles:\n  - { account: a@%, mode: OFF }\n  - { account: b@%, mode: OFF }\n  - account: c@%\n    mode: OFF\n    digests:\n${`      - { hash: ${hash}, text: x }\n`.repeat(5)}      - { hash: 123, text: x }\n`,
      /^f\.yaml: profiles\[2\]\.digests\[5\]\.hash: /,
    ],
    [
      'version: 1\nprofiles:\n  - { account: a@%, mode: OFF, networks: [10.0.0.0/40] }\n',
      /^f\.yaml: profiles\[0\]\.networks\[0\]: '10\.0\.0\.0\/40'/,
    ],
    [
      'version: 1\nprofiles:\n  - { account: "\'a@%", mode: OFF }\n',
      /^f\.yaml: profiles\[0\]\.account: .*unbalanced quote/,
    ],
    [
      'version: 1\nprofiles:\n  - { account: a@%, mode: OFF }\n  - { account: a@%, mode: OFF }\n',
      /^f\.yaml: profiles\[1\]: 'a@%' appears twice/,
    ],
    ['version: [1\n', /^f\.yaml: /],
  ];
  for (const [yaml, want] of cases)
    assert.throws(
      () => parseAllowlistFile(yaml, 'f.yaml'),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'MOAT_SQLFW_FILE');
        assert.match(e.message, want);
        return true;
      },
      yaml,
    );
});

test('a statement whose digest is cut (max_digest_length) is keyed by the digest of all of it: nothing rides behind a listed prefix', () => {
  const fw = firewall();
  fw.setUserMode('app@%', 'RECORDING');
  const cols = Array.from({ length: 400 }, (_, i) => `column_number_${i}`).join(', ');
  const listed = `SELECT ${cols} FROM t WHERE id = 1`;
  const learned = fw.judge(fw.attach(login('app')), listed, false, 'Query');
  assert.equal(learned.digest.truncated, false, 'the key is not the cut digest');
  assert.match(learned.digest.text, /`column_number_399` FROM `t` WHERE `id` = \?$/);
  fw.setUserMode('app@%', 'PROTECTING');
  const view = fw.attach(login('app'));
  assert.equal(fw.judge(view, `SELECT ${cols} FROM t WHERE id = 2`, false, 'Query').action, 'allow');
  // The same prefix, then another statement: the cut digests are equal, the whole ones are not.
  const attack = `SELECT ${cols} FROM t WHERE id = 1; DROP TABLE t`;
  assert.equal(digestOf(attack).hash, digestOf(listed).hash, 'the cut digest cannot tell them apart');
  assert.equal(fw.judge(view, attack, false, 'Query').action, 'block');
});
