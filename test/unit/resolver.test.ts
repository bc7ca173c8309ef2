// HostResolver against a scripted DNS server: a name only when the PTR answer forward-confirms,
// every failure in its host_cache class (validated or not), a result within the timeout from a
// server that is slow or silent, a hung lookup delaying no other address, and the cache: positive,
// negative and short-lived transient entries, one query per address however many callers wait,
// LRU eviction, and one entry for an IPv4 address however it is spelled.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  type HostResolution,
  HostResolver,
  type HostResolverOptions,
  normaliseAddress,
  reverseName,
} from '../../src/guard/resolver.ts';
import { ptrName, type Query, type Reply, ScriptedDns } from '../harness/scripted-dns.ts';

const TIMEOUT_MS = 200;
/** Slack for timers and the event loop on a busy machine. */
const TOLERANCE_MS = 250;
const TTL = { positiveTtlMs: 60_000, negativeTtlMs: 10_000, transientTtlMs: 1_000 };

const dns = new ScriptedDns();
let clock = 0;

const resolver = (o: Partial<HostResolverOptions> = {}): HostResolver =>
  new HostResolver({
    servers: [dns.server],
    timeoutMs: TIMEOUT_MS,
    ...TTL,
    maxEntries: 100,
    now: () => clock,
    ...o,
  });

const named = (address: string, hostname: string, fromCache = false): HostResolution => ({
  address,
  hostname,
  validated: true,
  failure: null,
  timeout: null,
  fromCache,
});

const unnamed = (address: string, failure: HostResolution['failure'], fromCache = false): HostResolution => ({
  address,
  hostname: null,
  validated: failure !== 'nameinfo-transient' && failure !== 'addrinfo-transient',
  failure,
  timeout: null,
  fromCache,
});

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await p;
  return { value, ms: performance.now() - start };
}

before(() => dns.start());
after(() => dns.stop());
beforeEach(() => {
  dns.reset();
  clock = 0;
});

describe('HostResolver: what one lookup yields', () => {
  const ADDR = '192.0.2.1';
  const PTR = ptrName(ADDR);
  const ok: Reply = { records: [ADDR] };

  const CASES: Array<{
    name: string;
    ptr: Reply;
    a?: Reply;
    want: HostResolution;
    queries: Query[];
  }> = [
    {
      name: 'a PTR name whose A records include the client: the name (lower case, no trailing dot)',
      ptr: { records: ['DB1.Example.COM.'] },
      a: { records: ['192.0.2.9', ADDR] },
      want: named(ADDR, 'db1.example.com'),
      queries: [
        { type: 'PTR', name: PTR },
        { type: 'A', name: 'db1.example.com' },
      ],
    },
    {
      name: 'a PTR name whose A records do not include the client: fcrdns, no name',
      ptr: { records: ['db1.example.com'] },
      a: { records: ['192.0.2.99'] },
      want: unnamed(ADDR, 'fcrdns'),
      queries: [
        { type: 'PTR', name: PTR },
        { type: 'A', name: 'db1.example.com' },
      ],
    },
    {
      name: 'a PTR name with no A records (NODATA): fcrdns',
      ptr: { records: ['db1.example.com'] },
      a: { records: [] },
      want: unnamed(ADDR, 'fcrdns'),
      queries: [
        { type: 'PTR', name: PTR },
        { type: 'A', name: 'db1.example.com' },
      ],
    },
    {
      name: 'a PTR name that is an IP address: format, and no forward lookup',
      ptr: { records: ['192.0.2.1'] },
      want: unnamed(ADDR, 'format'),
      queries: [{ type: 'PTR', name: PTR }],
    },
    {
      name: 'a PTR name starting with digits and a dot (would match 10.0.0.%): format',
      ptr: { records: ['10.0.0.1.attacker.example'] },
      a: ok,
      want: unnamed(ADDR, 'format'),
      queries: [{ type: 'PTR', name: PTR }],
    },
    {
      name: 'PTR NXDOMAIN: nameinfo-permanent, validated',
      ptr: { rcode: 'NXDOMAIN' },
      want: unnamed(ADDR, 'nameinfo-permanent'),
      queries: [{ type: 'PTR', name: PTR }],
    },
    {
      name: 'PTR NODATA: nameinfo-permanent, validated',
      ptr: { records: [] },
      want: unnamed(ADDR, 'nameinfo-permanent'),
      queries: [{ type: 'PTR', name: PTR }],
    },
    {
      name: 'PTR SERVFAIL: nameinfo-transient, not validated',
      ptr: { rcode: 'SERVFAIL' },
      want: unnamed(ADDR, 'nameinfo-transient'),
      queries: [{ type: 'PTR', name: PTR }],
    },
    {
      name: 'PTR REFUSED: nameinfo-transient, not validated',
      ptr: { rcode: 'REFUSED' },
      want: unnamed(ADDR, 'nameinfo-transient'),
      queries: [{ type: 'PTR', name: PTR }],
    },
    {
      name: 'forward NXDOMAIN: addrinfo-permanent, validated',
      ptr: { records: ['gone.example.com'] },
      a: { rcode: 'NXDOMAIN' },
      want: unnamed(ADDR, 'addrinfo-permanent'),
      queries: [
        { type: 'PTR', name: PTR },
        { type: 'A', name: 'gone.example.com' },
      ],
    },
    {
      name: 'forward SERVFAIL: addrinfo-transient, not validated',
      ptr: { records: ['flaky.example.com'] },
      a: { rcode: 'SERVFAIL' },
      want: unnamed(ADDR, 'addrinfo-transient'),
      queries: [
        { type: 'PTR', name: PTR },
        { type: 'A', name: 'flaky.example.com' },
      ],
    },
  ];

  for (const c of CASES) {
    test(c.name, async () => {
      dns.onPtr(ADDR, c.ptr);
      const ptrReply = c.ptr;
      if (c.a !== undefined && 'records' in ptrReply) {
        for (const n of ptrReply.records) dns.on('A', n, c.a);
      }
      assert.deepEqual(await resolver().resolve(ADDR), c.want);
      assert.deepEqual(dns.queries, c.queries);
    });
  }
});

describe('HostResolver: timeouts', () => {
  const ADDR = '198.51.100.7';

  test('a server that never answers: nameinfo-transient within the timeout, with the configured answer', async () => {
    for (const onTimeout of ['no-name', 'deny'] as const) {
      dns.onPtr(ADDR, { hang: true });
      const { value, ms } = await timed(resolver({ onTimeout }).resolve(ADDR));
      assert.deepEqual(value, { ...unnamed(ADDR, 'nameinfo-transient'), timeout: onTimeout });
      assert.ok(ms >= TIMEOUT_MS - 20 && ms < TIMEOUT_MS + TOLERANCE_MS, `${ms} ms`);
    }
  });

  test('an answer later than the timeout counts as a timeout; one within it as an answer', async () => {
    dns.onPtr(ADDR, { records: ['slow.example.com'], delayMs: TIMEOUT_MS * 2 });
    const late = await timed(resolver().resolve(ADDR));
    assert.deepEqual(late.value, { ...unnamed(ADDR, 'nameinfo-transient'), timeout: 'no-name' });
    assert.ok(late.ms < TIMEOUT_MS + TOLERANCE_MS, `${late.ms} ms`);

    dns.onPtr(ADDR, { records: ['slow.example.com'], delayMs: 30 });
    dns.on('A', 'slow.example.com', { records: [ADDR], delayMs: 30 });
    assert.deepEqual(await resolver().resolve(ADDR), named(ADDR, 'slow.example.com'));
  });

  test('the timeout bounds the whole lookup: a forward lookup that hangs is addrinfo-transient', async () => {
    // PTR at 3/4 of the timeout: a per-query timeout would end the lookup at 1¾ timeouts, not 1.
    dns.onPtr(ADDR, { records: ['half.example.com'], delayMs: (TIMEOUT_MS * 3) / 4 });
    dns.on('A', 'half.example.com', { hang: true });
    const { value, ms } = await timed(resolver({ onTimeout: 'deny' }).resolve(ADDR));
    assert.deepEqual(value, { ...unnamed(ADDR, 'addrinfo-transient'), timeout: 'deny' });
    assert.ok(ms < TIMEOUT_MS + TIMEOUT_MS / 2, `${ms} ms`);
  });

  test('a hung lookup delays no other address, and peek() never waits for it', async () => {
    const r = resolver();
    dns.onPtr(ADDR, { hang: true });
    dns.onPtr('192.0.2.2', { records: ['fast.example.com'] });
    dns.on('A', 'fast.example.com', { records: ['192.0.2.2'] });
    const hung = r.resolve(ADDR);
    const fast = await timed(r.resolve('192.0.2.2'));
    assert.deepEqual(fast.value, named('192.0.2.2', 'fast.example.com'));
    assert.ok(fast.ms < TIMEOUT_MS / 2, `${fast.ms} ms`);
    assert.equal(r.peek(ADDR), undefined);
    assert.equal((await hung).failure, 'nameinfo-transient');
  });

  test('beyond maxConcurrent lookups under way, a lookup is not started: a timeout at once, not cached', async () => {
    const r = resolver({ maxConcurrent: 2, onTimeout: 'deny' });
    dns.onPtr(ADDR, { hang: true });
    dns.onPtr('192.0.2.4', { hang: true });
    dns.onPtr('192.0.2.5', { records: ['late.example.com'] });
    dns.on('A', 'late.example.com', { records: ['192.0.2.5'] });
    const hung = [r.resolve(ADDR), r.resolve('192.0.2.4'), r.resolve(ADDR)];
    const shed = await timed(r.resolve('192.0.2.5'));
    assert.deepEqual(shed.value, { ...unnamed('192.0.2.5', 'nameinfo-transient'), timeout: 'deny' });
    assert.ok(shed.ms < TIMEOUT_MS / 2, `answered at once (${shed.ms} ms)`);
    assert.equal(r.shed, 1);
    assert.equal(r.peek('192.0.2.5'), undefined, 'not cached');
    await Promise.all(hung);
    assert.equal(dns.count('PTR', ptrName('192.0.2.5')), 0, 'no query was sent for the shed lookup');
    assert.deepEqual(
      await r.resolve('192.0.2.5'),
      named('192.0.2.5', 'late.example.com'),
      'tried again later',
    );
  });

  test("one lookup's deadline cancels no query of another lookup", async () => {
    const r = resolver();
    dns.onPtr(ADDR, { hang: true });
    // Still in flight when the hung lookup is abandoned at TIMEOUT_MS.
    dns.onPtr('192.0.2.3', { records: ['steady.example.com'], delayMs: TIMEOUT_MS / 2 });
    dns.on('A', 'steady.example.com', { records: ['192.0.2.3'] });
    const hung = r.resolve(ADDR);
    await new Promise((resolve) => setTimeout(resolve, (TIMEOUT_MS * 3) / 4));
    assert.deepEqual(await r.resolve('192.0.2.3'), named('192.0.2.3', 'steady.example.com'));
    assert.equal((await hung).failure, 'nameinfo-transient');
  });

  test('no server listening: nameinfo-transient, within the timeout', async () => {
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(resolve));
    const { value, ms } = await timed(resolver({ servers: [`127.0.0.1:${port}`] }).resolve(ADDR));
    assert.equal(value.failure, 'nameinfo-transient');
    assert.equal(value.validated, false);
    assert.ok(ms < TIMEOUT_MS + TOLERANCE_MS, `${ms} ms`);
  });
});

describe('HostResolver: cache', () => {
  const ADDR = '203.0.113.5';
  const confirm = (address: string, name: string): void => {
    dns.onPtr(address, { records: [name] });
    dns.on('A', name, { records: [address] });
  };

  test('a confirmed name is served from the cache, by resolve() and peek(), until its TTL', async () => {
    const r = resolver();
    confirm(ADDR, 'app.example.com');
    assert.equal(r.peek(ADDR), undefined);
    assert.deepEqual(await r.resolve(ADDR), named(ADDR, 'app.example.com'));
    assert.deepEqual(await r.resolve(ADDR), named(ADDR, 'app.example.com', true));
    assert.deepEqual(r.peek(ADDR), named(ADDR, 'app.example.com', true));
    assert.equal(dns.queries.length, 2, 'one PTR and one A, once');

    clock += TTL.positiveTtlMs;
    assert.equal(r.peek(ADDR), undefined);
    assert.equal((await r.resolve(ADDR)).fromCache, false);
    assert.equal(dns.queries.length, 4);
  });

  test('a permanent failure is cached for the negative TTL', async () => {
    const r = resolver();
    dns.onPtr(ADDR, { rcode: 'NXDOMAIN' });
    await r.resolve(ADDR);
    clock += TTL.negativeTtlMs - 1;
    assert.deepEqual(await r.resolve(ADDR), unnamed(ADDR, 'nameinfo-permanent', true));
    assert.equal(dns.count('PTR', ptrName(ADDR)), 1);
    clock += 1;
    assert.equal((await r.resolve(ADDR)).fromCache, false);
    assert.equal(dns.count('PTR', ptrName(ADDR)), 2);
  });

  test('a transient failure is cached only for the transient TTL, and not at all with 0', async () => {
    const r = resolver();
    dns.onPtr(ADDR, { rcode: 'SERVFAIL' });
    await r.resolve(ADDR);
    assert.deepEqual(await r.resolve(ADDR), unnamed(ADDR, 'nameinfo-transient', true));
    clock += TTL.transientTtlMs;
    assert.equal(r.peek(ADDR), undefined, 'gone long before the negative TTL');
    confirm(ADDR, 'back.example.com');
    assert.deepEqual(await r.resolve(ADDR), named(ADDR, 'back.example.com'));

    dns.reset();
    const uncached = resolver({ transientTtlMs: 0 });
    dns.onPtr(ADDR, { rcode: 'SERVFAIL' });
    await uncached.resolve(ADDR);
    await uncached.resolve(ADDR);
    assert.equal(dns.count('PTR', ptrName(ADDR)), 2);
    assert.equal(uncached.size, 0);
  });

  test('a timeout is cached as transient, and its answer is reported from the cache too', async () => {
    const r = resolver({ onTimeout: 'deny' });
    dns.onPtr(ADDR, { hang: true });
    await r.resolve(ADDR);
    assert.deepEqual(r.peek(ADDR), { ...unnamed(ADDR, 'nameinfo-transient', true), timeout: 'deny' });
  });

  test('concurrent lookups of one address share one query', async () => {
    const r = resolver();
    dns.onPtr(ADDR, { records: ['busy.example.com'], delayMs: 50 });
    dns.on('A', 'busy.example.com', { records: [ADDR] });
    const results = await Promise.all(Array.from({ length: 10 }, () => r.resolve(ADDR)));
    for (const got of results) assert.deepEqual(got, named(ADDR, 'busy.example.com'));
    assert.deepEqual(dns.queries, [
      { type: 'PTR', name: ptrName(ADDR) },
      { type: 'A', name: 'busy.example.com' },
    ]);
  });

  test('the cache keeps maxEntries, dropping the least recently used', async () => {
    const r = resolver({ maxEntries: 2 });
    const hosts = ['192.0.2.11', '192.0.2.12', '192.0.2.13'];
    hosts.forEach((h, i) => {
      confirm(h, `h${i}.example.com`);
    });
    await r.resolve(hosts[0]!);
    await r.resolve(hosts[1]!);
    assert.ok(r.peek(hosts[0]!), 'a use makes the first the most recent');
    await r.resolve(hosts[2]!);
    assert.equal(r.size, 2);
    assert.equal(r.peek(hosts[1]!), undefined);
    assert.ok(r.peek(hosts[0]!));
    assert.ok(r.peek(hosts[2]!));
  });

  test('flush() empties the cache, and a lookup under way at the time is not cached', async () => {
    const r = resolver();
    confirm(ADDR, 'app.example.com');
    await r.resolve(ADDR);
    r.flush();
    assert.equal(r.peek(ADDR), undefined);
    dns.onPtr(ADDR, { records: ['app.example.com'], delayMs: 30 });
    const pending = r.resolve(ADDR);
    r.flush();
    assert.equal((await pending).hostname, 'app.example.com');
    assert.equal(r.size, 0);
  });
});

describe('HostResolver: addresses', () => {
  test('::ffff:a.b.c.d is the IPv4 address: same PTR question, same cache entry', async () => {
    const r = resolver();
    dns.onPtr('192.0.2.7', { records: ['mapped.example.com'] });
    dns.on('A', 'mapped.example.com', { records: ['192.0.2.7'] });
    assert.deepEqual(await r.resolve('::ffff:192.0.2.7'), named('192.0.2.7', 'mapped.example.com'));
    assert.deepEqual(await r.resolve('192.0.2.7'), named('192.0.2.7', 'mapped.example.com', true));
    assert.deepEqual(r.peek('::FFFF:c000:207'), named('192.0.2.7', 'mapped.example.com', true));
    assert.deepEqual(dns.queries, [
      { type: 'PTR', name: '7.2.0.192.in-addr.arpa' },
      { type: 'A', name: 'mapped.example.com' },
    ]);
  });

  test('IPv6: the ip6.arpa nibble question, confirmed by AAAA in any spelling', async () => {
    const r = resolver();
    const addr = '2001:db8::42';
    dns.onPtr(addr, { records: ['v6.example.com'] });
    dns.on('AAAA', 'v6.example.com', { records: ['2001:db8:0:0:0:0:0:99', '2001:DB8:0:0::42'] });
    assert.deepEqual(await r.resolve('2001:0DB8:0000::0042'), named(addr, 'v6.example.com'));
    assert.deepEqual(dns.queries, [
      { type: 'PTR', name: '2.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa' },
      { type: 'AAAA', name: 'v6.example.com' },
    ]);
  });

  test('normaliseAddress and reverseName agree with the harness, written separately', () => {
    const CASES: Array<[input: string, normal: string | null]> = [
      ['192.0.2.1', '192.0.2.1'],
      ['::ffff:10.1.2.3', '10.1.2.3'],
      ['::1', '::1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['1::', '1::'],
      ['::ffff:1:2:3', '::ffff:1:2:3'],
      ['example.com', null],
      ['01.2.3.4', null],
      ['', null],
    ];
    for (const [input, normal] of CASES) {
      assert.equal(normaliseAddress(input), normal, input);
      if (normal !== null) assert.equal(reverseName(normal), ptrName(normal), input);
    }
  });

  test('a string that is not an address is a TypeError, never a query', async () => {
    const r = resolver();
    await assert.rejects(r.resolve('db.example.com'), TypeError);
    assert.equal(r.peek('db.example.com'), undefined);
    assert.equal(dns.queries.length, 0);
  });
});
