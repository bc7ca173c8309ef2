// writeProxyHeader: the header moat puts before a backend login (backend.proxyProtocol), checked
// against the spec-built fixtures of test/harness/wire.ts and read back by parseProxyHeader at every
// split point, as a server reading a stream of chunks would see it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { type ProxyPeer, parseProxyHeader, writeProxyHeader } from '../../src/protocol/proxy-header.ts';
import { proxyV1, proxyV2, proxyV2Local } from '../harness/wire.ts';

interface Case {
  name: string;
  source: ProxyPeer | null;
  destination: ProxyPeer;
  /** What parseProxyHeader reads back as the source. */
  read: ProxyPeer | null;
  v1: Buffer;
  v2: Buffer;
}

const DST4 = { address: '198.51.100.1', port: 3306 };
const DST6 = { address: '2001:db8::1', port: 3306 };

const CASES: Case[] = [
  {
    name: 'IPv4 client',
    source: { address: '192.0.2.7', port: 50000 },
    destination: DST4,
    read: { address: '192.0.2.7', port: 50000 },
    v1: proxyV1('192.0.2.7', '198.51.100.1', 50000, 3306),
    v2: proxyV2({ address: '192.0.2.7', port: 50000 }, DST4),
  },
  {
    name: 'IPv6 client',
    source: { address: '2001:db8::7', port: 1 },
    destination: DST6,
    read: { address: '2001:db8::7', port: 1 },
    v1: proxyV1('2001:db8::7', '2001:db8::1', 1, 3306),
    v2: proxyV2({ address: '2001:db8::7', port: 1 }, DST6),
  },
  {
    name: 'IPv4 client on an IPv6 listener: the destination becomes 0.0.0.0',
    source: { address: '127.0.0.77', port: 65535 },
    destination: { address: '::1', port: 3307 },
    read: { address: '127.0.0.77', port: 65535 },
    v1: proxyV1('127.0.0.77', '0.0.0.0', 65535, 3307),
    v2: proxyV2({ address: '127.0.0.77', port: 65535 }, { address: '0.0.0.0', port: 3307 }),
  },
  {
    name: 'IPv6 client on an IPv4 listener: the destination becomes ::',
    source: { address: 'fe80::1:2', port: 9 },
    destination: DST4,
    read: { address: 'fe80::1:2', port: 9 },
    v1: proxyV1('fe80::1:2', '::', 9, 3306),
    v2: proxyV2({ address: 'fe80::1:2', port: 9 }, { address: '::', port: 3306 }),
  },
  {
    name: "moat's own login or a unix-socket client: LOCAL / UNKNOWN",
    source: null,
    destination: DST4,
    read: null,
    v1: Buffer.from('PROXY UNKNOWN\r\n', 'latin1'),
    v2: proxyV2Local(),
  },
];

/** Feeds the header and a greeting's first bytes after it, cut at every point. */
function readAtEverySplit(header: Buffer, expected: ProxyPeer | null): void {
  const stream = Buffer.concat([header, Buffer.from([0x5b, 0x00, 0x00, 0x00, 0x0a])]);
  for (let cut = 0; cut < header.length; cut++) {
    assert.deepEqual(parseProxyHeader(stream.subarray(0, cut)), { state: 'incomplete' }, `cut at ${cut}`);
  }
  for (let end = header.length; end <= stream.length; end++) {
    assert.deepEqual(parseProxyHeader(stream.subarray(0, end)), {
      state: 'done',
      consumed: header.length,
      source: expected,
    });
  }
}

describe('writeProxyHeader', () => {
  for (const c of CASES) {
    for (const version of ['v1', 'v2'] as const) {
      test(`${version}: ${c.name}`, () => {
        const out = writeProxyHeader(version, c.source, c.destination);
        assert.equal(out.toString('hex'), c[version].toString('hex'));
        readAtEverySplit(out, c.read);
      });
    }
  }

  test('an IPv4-mapped IPv6 source keeps its 16 bytes and reads back as IPv4', () => {
    const out = writeProxyHeader(
      'v2',
      { address: '::ffff:192.0.2.9', port: 2 },
      { address: '::1', port: 3306 },
    );
    assert.equal(out.subarray(16, 32).toString('hex'), '00000000000000000000ffffc0000209');
    readAtEverySplit(out, { address: '192.0.2.9', port: 2 });
  });

  test('a zone index is left out of the header', () => {
    const out = writeProxyHeader(
      'v2',
      { address: 'fe80::7%eth0', port: 2 },
      { address: 'fe80::1', port: 3306 },
    );
    readAtEverySplit(out, { address: 'fe80::7', port: 2 });
  });

  test('a source that is not an IP address is a typed error', () => {
    assert.throws(
      () => writeProxyHeader('v1', { address: 'localhost', port: 1 }, DST4),
      (e: unknown) => e instanceof ProtocolError && e.code === 'MOAT_PROXY_HEADER_INVALID',
    );
  });

  test('a v1 line stays within the 107 bytes the spec allows, for the longest addresses', () => {
    const a = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const out = writeProxyHeader('v1', { address: a, port: 65535 }, { address: a, port: 65535 });
    assert.ok(out.length <= 107, String(out.length));
    readAtEverySplit(out, { address: a, port: 65535 });
  });
});
