// Account host patterns as MySQL and MariaDB read them ('%', '10.0.%', '10.0.0.0/255.255.0.0',
// MySQL 8's '10.0.0.0/16', literal addresses, names) turned into address ranges, and moat's
// address rules evaluated over a whole range rather than one address: "does moat deny every
// address this account may come from?" is what makes a grant dead.
import { isIP } from 'node:net';

export interface Range {
  family: 4 | 6;
  start: bigint;
  end: bigint;
}

export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | null {
  const family = isIP(ip);
  if (family === 4) {
    return { family, value: ip.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) };
  }
  if (family !== 6) return null;
  let text = ip;
  // An embedded IPv4 tail (::ffff:10.0.0.1) is two more groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const n = ipToBigInt(v4[1]!)!.value;
    text = `${text.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { family, value: all.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n) };
}

function prefixRange(family: 4 | 6, value: bigint, bits: number): Range {
  const width = family === 4 ? 32 : 128;
  const hostBits = BigInt(width - bits);
  const start = (value >> hostBits) << hostBits;
  return { family, start, end: start + (1n << hostBits) - 1n };
}

/** Prefix length of a netmask like 255.255.0.0, or null if its ones are not contiguous. */
function maskBits(mask: string): number | null {
  const m = ipToBigInt(mask);
  if (m === null || m.family !== 4) return null;
  const bin = m.value.toString(2).padStart(32, '0');
  if (!/^1*0*$/.test(bin)) return null;
  const zero = bin.indexOf('0');
  return zero < 0 ? 32 : zero;
}

/** A network as moat's config writes it: an address or address/bits. */
export function networkRange(net: string): Range | null {
  const [addr, bits] = net.split('/') as [string, string | undefined];
  const ip = ipToBigInt(addr);
  if (ip === null) return null;
  return prefixRange(ip.family, ip.value, bits === undefined ? (ip.family === 4 ? 32 : 128) : Number(bits));
}

/**
 * The addresses a host pattern admits, when they form one range: a literal address, an
 * address/netmask (MariaDB and MySQL) or address/bits (MySQL 8.0.23+), or an IPv4 prefix
 * with a trailing % ('10.0.%'). Names and other wildcards give null.
 */
export function hostRange(host: string): Range | null {
  if (host.includes('/')) {
    const [addr, mask] = host.split('/') as [string, string];
    const ip = ipToBigInt(addr);
    if (ip === null) return null;
    const bits = /^\d+$/.test(mask) ? Number(mask) : ip.family === 4 ? maskBits(mask) : null;
    if (bits === null || bits > (ip.family === 4 ? 32 : 128)) return null;
    return prefixRange(ip.family, ip.value, bits);
  }
  const ip = ipToBigInt(host);
  if (ip !== null) return { family: ip.family, start: ip.value, end: ip.value };
  const m = /^((?:\d{1,3}\.){1,3})%$/.exec(host);
  if (m === null) return null;
  const octets = m[1]!.slice(0, -1).split('.');
  const value = ipToBigInt([...octets, ...Array<string>(4 - octets.length).fill('0')].join('.'));
  return value === null ? null : prefixRange(4, value.value, octets.length * 8);
}

const LOOPBACK_V4 = prefixRange(4, 127n << 24n, 8);

/** The pattern admits only this host's own connections: the unix socket or loopback TCP. */
export function isLoopbackPattern(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const r = hostRange(host);
  if (r === null) return false;
  if (r.family === 6) return r.start === 1n && r.end === 1n;
  return r.start >= LOOPBACK_V4.start && r.end <= LOOPBACK_V4.end;
}

export type HostWidth = 'any' | 'wide' | 'narrow';

/**
 * 'any': '%' (or the empty host, which MySQL reads as '%'). 'wide': more than a /24 of IPv4 or
 * a /64 of IPv6, a wildcard on names (whoever controls reverse DNS decides), or any other
 * wildcard. 'narrow': one address, a small network, one name.
 */
export function hostWidth(host: string): HostWidth {
  if (host === '%' || host === '') return 'any';
  const r = hostRange(host);
  if (r !== null) return r.end - r.start + 1n > (r.family === 4 ? 256n : 1n << 64n) ? 'wide' : 'narrow';
  // A netmask that is not a prefix ('10.0.0.0/255.0.255.0') still admits many hosts.
  if (host.includes('/')) return 'wide';
  return /[%_]/.test(host.replace(/\\[%_]/g, '')) ? 'wide' : 'narrow';
}

export interface AccessPolicyConfig {
  default: 'allow' | 'deny';
  rules: ReadonlyArray<{ action: 'allow' | 'deny'; from: readonly string[] }>;
}

/**
 * moat's first-match address rules over every address of `range`: 'allow' or 'deny' when all of
 * them get the same verdict, 'mixed' otherwise.
 */
export function verdictOver(policy: AccessPolicyConfig, range: Range): 'allow' | 'deny' | 'mixed' {
  let open: Array<[bigint, bigint]> = [[range.start, range.end]];
  const seen = new Set<'allow' | 'deny'>();
  for (const rule of policy.rules) {
    for (const net of rule.from) {
      const n = networkRange(net);
      if (n === null || n.family !== range.family) continue;
      const next: Array<[bigint, bigint]> = [];
      for (const [s, e] of open) {
        if (n.end < s || n.start > e) {
          next.push([s, e]);
          continue;
        }
        seen.add(rule.action);
        if (s < n.start) next.push([s, n.start - 1n]);
        if (e > n.end) next.push([n.end + 1n, e]);
      }
      open = next;
    }
  }
  if (open.length > 0) seen.add(policy.default);
  return seen.size === 1 ? [...seen][0]! : 'mixed';
}

export function overlaps(a: Range, b: Range): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

export const ALL_IPV4: Range = { family: 4, start: 0n, end: (1n << 32n) - 1n };
export const ALL_IPV6: Range = { family: 6, start: 0n, end: (1n << 128n) - 1n };
