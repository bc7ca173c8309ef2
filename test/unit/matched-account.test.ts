// hostAdmits: would the server match an account's host part for a client connecting directly from
// this address? moat refuses a login whose matched account would not (backend.localAccounts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostAdmits } from '../../src/client/matched-account.ts';

const CASES: Array<[host: string, ip: string, admits: boolean]> = [
  ['%', '203.0.113.9', true],
  ['', '203.0.113.9', true],
  ['localhost', '127.0.0.1', false], // a name: the unix socket, never a TCP address moat can check
  ['LOCALHOST', '::1', false],
  ['127.0.0.1', '127.0.0.1', true],
  ['127.0.0.1', '127.0.0.50', false],
  ['::1', '::1', true],
  ['127.0.0.%', '127.0.0.50', true],
  ['127.0.0._', '127.0.0.5', true],
  ['127.0.0._', '127.0.0.50', false],
  ['10.%', '127.0.0.1', false],
  ['127.0.0.0/255.255.255.0', '127.0.0.61', true],
  ['127.0.0.0/255.255.255.0', '127.0.1.61', false],
  ['10.0.0.0/255.0.0.0', '10.200.3.4', true],
  ['10.0.0.0/255.0.0.0', '::1', false],
  ['2001:DB8::7', '2001:db8::7', true],
  ['db1.example', '192.0.2.1', false],
];

test('host parts against client addresses, as the server matches them', () => {
  for (const [host, ip, admits] of CASES) assert.equal(hostAdmits(host, ip), admits, `${host} vs ${ip}`);
});
