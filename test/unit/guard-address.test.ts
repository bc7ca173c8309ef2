// One canonical client address (src/model/address.ts), and every reader of addresses agreeing on
// it: the PROXY header reader, TCP wrappers and the resolver's cache key.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseAddress } from '../../src/guard/resolver.ts';
import { compileTcpWrappers } from '../../src/guard/tcp-wrappers.ts';
import { InvalidAddressError, parseClientAddress } from '../../src/model/address.ts';
import { parseProxyHeader } from '../../src/protocol/proxy-header.ts';
import { proxyV1, proxyV2 } from '../harness/wire.ts';

const CANONICAL: [text: string, canonical: string][] = [
  ['192.0.2.7', '192.0.2.7'],
  ['::1', '::1'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['::0001', '::1'],
  ['2001:DB8::1', '2001:db8::1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  // RFC 5952 §4.2.3: the first of two equal zero runs; §4.2.2: one zero group is not '::'.
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ['::', '::'],
  ['::ffff:192.0.2.7', '192.0.2.7'],
  ['::FFFF:C000:0207', '192.0.2.7'],
  ['fe80::1%eth0', 'fe80::1'],
  ['FE80::1%25', 'fe80::1'],
];

const JUNK = [
  'foo',
  '999.1.1.1',
  '',
  ' 192.0.2.7',
  '192.0.2.7 ',
  '01.2.3.4',
  '1.2.3',
  '10.0.0.0/8',
  'fe80::1%',
  '192.0.2.7%eth0',
  '[::1]',
  'localhost',
  '2001:db8::1::2',
];

describe('parseClientAddress', () => {
  for (const [text, canonical] of CANONICAL) {
    test(`${JSON.stringify(text)} → ${canonical}`, () => {
      assert.equal(parseClientAddress(text), canonical);
      assert.equal(parseClientAddress(canonical), canonical, 'the canonical form is a fixed point');
      assert.equal(normaliseAddress(text), canonical, "the resolver's cache key is the same");
    });
  }
  test('junk is an InvalidAddressError naming the text', () => {
    for (const text of JUNK) {
      const r = parseClientAddress(text);
      assert.ok(r instanceof InvalidAddressError, JSON.stringify(text));
      assert.equal(r.message, `'${text}' is not an IPv4 or IPv6 address`);
      assert.equal(normaliseAddress(text), null);
    }
  });
});

describe('the PROXY header reader gives canonical addresses', () => {
  const CASES: [header: Buffer, address: string][] = [
    [proxyV1('2001:DB8:0::1', '::1', 4000, 3306), '2001:db8::1'],
    [proxyV1('::FFFF:192.0.2.7', '::1', 4000, 3306), '192.0.2.7'],
    [
      proxyV2({ address: '2001:db8:0:0:1:0:0:1', port: 4000 }, { address: '::1', port: 3306 }),
      '2001:db8::1:0:0:1',
    ],
    [proxyV2({ address: '::ffff:c000:207', port: 4000 }, { address: '::1', port: 3306 }), '192.0.2.7'],
    [proxyV2({ address: '192.0.2.8', port: 4000 }, { address: '192.0.2.1', port: 3306 }), '192.0.2.8'],
  ];
  for (const [header, address] of CASES) {
    test(`${header.subarray(0, 6).toString('latin1').startsWith('PROXY') ? 'v1' : 'v2'} → ${address}`, () => {
      const h = parseProxyHeader(header);
      assert.equal(h.state, 'done');
      assert.equal(h.state === 'done' ? h.source?.address : undefined, address);
    });
  }
});

describe('TCP wrappers match any spelling of the client address', () => {
  const admits = (pattern: string, address: string) =>
    compileTcpWrappers(`moat: ${pattern}\n`, 'ALL: ALL\n', 'moat').decide({ address, hostname: null })
      .verdict === 'allow';
  for (const [pattern, address] of [
    ['[2001:db8::1]', '2001:DB8:0::1'],
    ['[2001:db8::]/32', '2001:DB8::FFFF'],
    ['192.0.2.7', '::FFFF:192.0.2.7'],
    ['192.0.2.', '::ffff:c000:207'],
  ] as const) {
    test(`${pattern} admits ${address}`, () => assert.ok(admits(pattern, address)));
  }
});
