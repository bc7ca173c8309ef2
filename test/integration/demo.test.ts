// `moat demo --exit` as a newcomer runs it: a real child process that starts its own MariaDB,
// plays the scripted attacks and prints the report. What it prints is what the guard decided.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { MAIN, NODE } from '../harness/spawn-moat.ts';

const run = promisify(execFile);

test('moat demo: the guesser is delayed, the scanner blocked, the outsider refused; the report says so', async () => {
  const { stdout } = await run(NODE, [MAIN, 'demo', '--exit'], {
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  });
  assert.match(stdout, /127\.0\.0\.20 {2}a password guesser, attempt 4: ERROR 1045 after (\d{4}) ms/);
  assert.match(stdout, /127\.0\.0\.30 {2}a port scanner, probe 6: ERROR 1129/);
  assert.match(stdout, /127\.0\.0\.99 {2}a host outside the allow list: ERROR 1130/);
  assert.match(stdout, /Hosts whose connections all failed \(none ever succeeded\): 3/);
  assert.match(stdout, /Blocked hosts: 1\nIP\s+REASON\n127\.0\.0\.30\s+max_connect_errors/);
  assert.match(stdout, /dashboard: http:\/\/127\.0\.0\.1:\d+\/#token=/);
});
