// Reverse DNS for hostname rules, as MySQL's host cache does it: PTR lookup, a check that the name
// does not look like an address, forward confirmation (FCrDNS), and a cache of the outcome. Every
// failure is reported in the terms of performance_schema.host_cache (failure.ts), never decided
// here: what a missing name or a timeout means for admission is the caller's policy.
//
// Address rules never wait for this: `peek()` answers from the cache synchronously, and a lookup
// that hangs only holds up the caller that chose to wait for a hostname rule, for at most
// `timeoutMs`.
//
// Decisions, and why:
// - Queries go only to DNS (`resolvePtr` / `resolve4` / `resolve6`), never to /etc/hosts: unlike
//   MySQL's getnameinfo(), so that the answer for an address comes from one place and can be
//   tested against a scripted server. Loopback is queried like any other address; a host whose
//   resolver has no PTR for 127.0.0.1 gets nameinfo-permanent, so loopback wants an address rule.
// - One c-ares Resolver per lookup: `Resolver.cancel()` cancels every query of its channel, so a
//   shared channel could not abandon one hung lookup without failing all the others with it. A
//   channel costs a read of resolv.conf, paid only on a cache miss. It also keeps c-ares's own
//   answer cache (per channel) out of the way: the TTLs below are the only ones that apply.
// - `timeoutMs` bounds the whole lookup (PTR and forward), not each query: it is how long a
//   connection can wait. Where the deadline falls says which class it counts as.
// - The forward lookup asks only for the client's family (A for IPv4, AAAA for IPv6): its address
//   can only be among those. An empty answer (NODATA) therefore means "not your address": fcrdns.
// - Only the first PTR record is used, as getnameinfo() returns one name.
// - At most `maxConcurrent` lookups are under way: a flood from many addresses (each a cache miss)
//   must not become as many open DNS channels and queries. Beyond the cap a lookup is not started;
//   the caller gets at once what a timeout would have given (nameinfo-transient, the onTimeout
//   answer), not cached, so the next connection from that address tries again.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidAddressError, parseClientAddress } from '../model/address.ts';
import type { FailureClass } from '../model/failure.ts';

export const DNS_FAILURE_CLASSES = [
  'nameinfo-transient',
  'nameinfo-permanent',
  'format',
  'addrinfo-transient',
  'addrinfo-permanent',
  'fcrdns',
] as const satisfies readonly FailureClass[];

export type DnsFailureClass = (typeof DNS_FAILURE_CLASSES)[number];

/** What the caller should make of a lookup that ran out of time (reported, not applied here). */
export type TimeoutAnswer = 'no-name' | 'deny';

export interface HostResolution {
  /** The client address the result is for, normalised (::ffff:a.b.c.d → a.b.c.d). */
  readonly address: string;
  /** Lower case, no trailing dot; null when the address has no confirmed name. */
  readonly hostname: string | null;
  /** host_cache HOST_VALIDATED: an answer was obtained (a name or a permanent failure). */
  readonly validated: boolean;
  readonly failure: DnsFailureClass | null;
  /** The configured `onTimeout` answer when the lookup ran out of time, else null. */
  readonly timeout: TimeoutAnswer | null;
  readonly fromCache: boolean;
}

export interface HostResolverOptions {
  /** DNS servers ("ip" or "ip:port"); default: the system's (resolv.conf). */
  servers?: readonly string[];
  /** Upper bound on one whole lookup (PTR and forward). */
  timeoutMs: number;
  /** How long a confirmed name is kept. */
  positiveTtlMs: number;
  /** How long a permanent failure (no name, bad name, not confirmed) is kept. */
  negativeTtlMs: number;
  /** How long a transient failure (timeout, SERVFAIL, server unreachable) is kept; 0: not at all. */
  transientTtlMs: number;
  /** Cache bound; the least recently used entry goes first. */
  maxEntries: number;
  /** Default 'no-name'. */
  onTimeout?: TimeoutAnswer;
  /** Lookups under way at most (distinct addresses); default 256. */
  maxConcurrent?: number;
  /** Monotonic clock in ms (tests move it by hand); default performance.now. */
  now?: () => number;
}

type Outcome = Omit<HostResolution, 'address' | 'fromCache'>;

interface Entry {
  readonly outcome: Outcome;
  readonly expires: number;
}

const TRANSIENT: ReadonlySet<DnsFailureClass> = new Set<DnsFailureClass>([
  'nameinfo-transient',
  'addrinfo-transient',
]);

// c-ares's answers that mean "this name has no such record": the only permanent failures. Anything
// else (SERVFAIL, REFUSED, ETIMEOUT, ECONNREFUSED, a bad response) may go away, as MySQL treats
// every getnameinfo() error but EAI_NONAME.
const NO_NAME = new Set(['ENOTFOUND', 'ENODATA']);

const EXPIRED = Symbol('expired');

export class HostResolver {
  private readonly opts: Required<Omit<HostResolverOptions, 'servers'>>;
  private readonly servers: readonly string[] | null;
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<HostResolution>>();
  /** Bumped by flush(): a lookup started before it must not refill the cache. */
  private generation = 0;
  /** Lookups not started because maxConcurrent were under way. */
  shed = 0;

  constructor(options: HostResolverOptions) {
    this.opts = {
      timeoutMs: options.timeoutMs,
      positiveTtlMs: options.positiveTtlMs,
      negativeTtlMs: options.negativeTtlMs,
      transientTtlMs: options.transientTtlMs,
      maxEntries: options.maxEntries,
      onTimeout: options.onTimeout ?? 'no-name',
      maxConcurrent: options.maxConcurrent ?? 256,
      now: options.now ?? (() => performance.now()),
    };
    this.servers = options.servers?.length ? [...options.servers] : null;
    // setServers() throws on a malformed entry: fail at configuration time, not at the first client.
    if (this.servers !== null) new Resolver().setServers(this.servers);
  }

  /** Entries currently cached (expired ones included until they are next looked at). */
  get size(): number {
    return this.cache.size;
  }

  /** The cached result for an address, without waiting and without starting a lookup. */
  peek(address: string): HostResolution | undefined {
    const key = normaliseAddress(address);
    return key === null ? undefined : this.cached(key);
  }

  /**
   * The name of a client address. Never rejects for DNS reasons (every failure is a result);
   * rejects with a TypeError only for a string that is not an IP address. Concurrent calls for one
   * address share one lookup.
   */
  resolve(address: string): Promise<HostResolution> {
    const key = normaliseAddress(address);
    if (key === null) return Promise.reject(new TypeError(`not an IP address: ${JSON.stringify(address)}`));
    const hit = this.cached(key);
    if (hit !== undefined) return Promise.resolve(hit);
    let pending = this.inFlight.get(key);
    if (pending === undefined && this.inFlight.size >= this.opts.maxConcurrent) {
      this.shed++;
      return Promise.resolve({
        address: key,
        hostname: null,
        validated: false,
        failure: 'nameinfo-transient',
        timeout: this.opts.onTimeout,
        fromCache: false,
      });
    }
    if (pending === undefined) {
      const generation = this.generation;
      pending = this.lookup(key)
        .then((outcome) => {
          if (generation === this.generation) this.store(key, outcome);
          return { address: key, ...outcome, fromCache: false };
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Forgets every cached result (FLUSH HOSTS); lookups under way are not cached when they end. */
  flush(): void {
    this.cache.clear();
    this.generation++;
  }

  private cached(key: string): HostResolution | undefined {
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    this.cache.delete(key);
    if (entry.expires <= this.opts.now()) return undefined;
    this.cache.set(key, entry); // re-inserted: Map order is the LRU order
    return { address: key, ...entry.outcome, fromCache: true };
  }

  private store(key: string, outcome: Outcome): void {
    const ttl =
      outcome.failure === null
        ? this.opts.positiveTtlMs
        : TRANSIENT.has(outcome.failure)
          ? this.opts.transientTtlMs
          : this.opts.negativeTtlMs;
    if (ttl <= 0 || this.opts.maxEntries <= 0) return;
    this.cache.delete(key);
    this.cache.set(key, { outcome, expires: this.opts.now() + ttl });
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= this.opts.maxEntries) break;
      this.cache.delete(oldest);
    }
  }

  private async lookup(address: string): Promise<Outcome> {
    let resolver: Resolver | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof EXPIRED>((resolve) => {
      timer = setTimeout(resolve, this.opts.timeoutMs, EXPIRED);
    });
    // A query abandoned at the deadline rejects later with ECANCELLED; race() has subscribed to it,
    // so that rejection is handled and goes nowhere.
    const within = <T>(query: Promise<T>): Promise<T | typeof EXPIRED> => Promise.race([query, deadline]);
    const failed = (failure: DnsFailureClass, timedOut = false): Outcome => ({
      hostname: null,
      validated: !TRANSIENT.has(failure),
      failure,
      timeout: timedOut ? this.opts.onTimeout : null,
    });
    try {
      resolver = new Resolver({ timeout: this.opts.timeoutMs, tries: 1 });
      if (this.servers !== null) resolver.setServers(this.servers);
      let names: string[] | typeof EXPIRED;
      try {
        names = await within(resolver.resolvePtr(reverseName(address)));
      } catch (err) {
        return NO_NAME.has(code(err))
          ? failed('nameinfo-permanent')
          : failed('nameinfo-transient', code(err) === 'ETIMEOUT');
      }
      if (names === EXPIRED) return failed('nameinfo-transient', true);
      if (names[0] === undefined) return failed('nameinfo-permanent');
      const name = names[0].toLowerCase().replace(/\.$/, '');
      if (!isAcceptableName(name)) return failed('format');

      const six = isIP(address) === 6;
      let forward: string[] | typeof EXPIRED;
      try {
        forward = await within(six ? resolver.resolve6(name) : resolver.resolve4(name));
      } catch (err) {
        if (code(err) === 'ENODATA') return failed('fcrdns');
        return code(err) === 'ENOTFOUND'
          ? failed('addrinfo-permanent')
          : failed('addrinfo-transient', code(err) === 'ETIMEOUT');
      }
      if (forward === EXPIRED) return failed('addrinfo-transient', true);
      const confirmed = forward.some((a) => normaliseAddress(a) === address);
      return confirmed ? { hostname: name, validated: true, failure: null, timeout: null } : failed('fcrdns');
    } catch {
      // Not a DNS answer (c-ares could not open a channel, say): still a result, and one worth retrying.
      return failed('nameinfo-transient');
    } finally {
      clearTimeout(timer);
      resolver?.cancel(); // nothing left on success; the hung query at the deadline
    }
  }
}

function code(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : '';
}

/**
 * A PTR name moat will match hostname rules against. MySQL's is_hostname_valid() refuses a name
 * that starts with digits and a dot (COUNT_FORMAT_ERRORS): whoever controls a reverse zone could
 * otherwise answer "10.0.0.1.attacker.example" and match a pattern written for addresses, such as
 * 10.0.0.%. moat also refuses anything that is not a plain host name (c-ares escapes odd bytes in
 * a PTR answer with backslashes; a name over 253 octets is not a name), since the name is logged
 * and matched against rules.
 */
function isAcceptableName(name: string): boolean {
  if (name.length === 0 || name.length > 253 || isIP(name) !== 0) return false;
  if (/^[0-9]+\./.test(name)) return false;
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name);
}

/**
 * The cache key of a client address: its canonical form (net/address.ts: IPv6 in RFC 5952 form,
 * an IPv4-mapped address as its IPv4 address, a zone dropped). null for anything that is not an
 * IP address.
 */
export function normaliseAddress(address: string): string | null {
  const a = parseClientAddress(address);
  return a instanceof InvalidAddressError ? null : a;
}

/**
 * The PTR question for a normalised address (RFC 1035 §3.5, RFC 3596 §2.5):
 * 192.0.2.7 → 7.2.0.192.in-addr.arpa; IPv6 → its 32 nibbles, last first, under ip6.arpa.
 */
export function reverseName(address: string): string {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  const [head = '', tail] = (normaliseAddress(address) ?? address).split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const nibbles = groups.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}
