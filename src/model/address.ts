// A client's IP address in one canonical text form, so that every part of moat that keys on an
// address — the ledger, blocks, connection control, address rules, TCP wrappers, the resolver's
// cache, the admin statements and the HTTP API — agrees on which client it is. A leaf module
// (no moat imports): the listener, the PROXY header reader, the guard and the admin side use it.
//
// The canonical form:
//   IPv4     dotted quad, as inet_pton reads it (no leading zeros, four parts): 192.0.2.7
//   IPv6     RFC 5952: lower case, leading zeros dropped, the longest run of two or more zero
//            groups as '::' (the first such run on a tie): 2001:db8::1
//   mapped   ::ffff:a.b.c.d is the IPv4 client a.b.c.d (a dual-stack listener reports IPv4
//            clients that way, and a PROXY v2 header may carry one)
//   zone     an interface zone (fe80::1%eth0) is dropped: it names the local interface the packet
//            came in on, not the client, and a block or a rule for fe80::1 must hold on all of them
// Anything else (a name, '999.1.1.1', '', a CIDR) is no client address: an InvalidAddressError.
import { isIP } from 'node:net';

declare const canonical: unique symbol;
/** An IP address in canonical form; only parseClientAddress() makes one. Usable as a string. */
export type ClientAddress = string & { readonly [canonical]: true };

/** What parseClientAddress() returns for text that is no IP address. */
export class InvalidAddressError extends Error {
  readonly code = 'MOAT_INVALID_ADDRESS';
  readonly text: string;
  constructor(text: string) {
    super(`'${text.length > 64 ? `${text.slice(0, 64)}…` : text}' is not an IPv4 or IPv6 address`);
    this.name = 'InvalidAddressError';
    this.text = text;
  }
}

/** `text` in canonical form, or an InvalidAddressError (returned, not thrown) for anything else. */
export function parseClientAddress(text: string): ClientAddress | InvalidAddressError {
  const zone = text.indexOf('%');
  const bare = zone < 0 ? text : text.slice(0, zone);
  const family = isIP(bare);
  if (family === 4) return zone < 0 ? (bare as ClientAddress) : new InvalidAddressError(text);
  if (family !== 6 || (zone >= 0 && zone === text.length - 1)) return new InvalidAddressError(text);
  const six = rfc5952(bare);
  // ::ffff:a.b.c.d, serialised with the IPv4 part in hex (::ffff:c000:207).
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(six);
  if (mapped === null) return six as ClientAddress;
  const hi = Number.parseInt(mapped[1]!, 16);
  const lo = Number.parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}` as ClientAddress;
}

/** As parseClientAddress(), throwing the InvalidAddressError. */
export function clientAddress(text: string): ClientAddress {
  const a = parseClientAddress(text);
  if (a instanceof InvalidAddressError) throw a;
  return a;
}

/** The address family of a canonical address. */
export function familyOf(a: ClientAddress): 'ipv4' | 'ipv6' {
  return a.includes(':') ? 'ipv6' : 'ipv4';
}

/** A loopback client: 127.0.0.0/8 or ::1 (or the unix-socket pseudo-address 'localhost'). */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === 'localhost';
}

/**
 * A socket's remoteAddress / localAddress in canonical form (`::ffff:a.b.c.d` from a dual-stack
 * listener is `a.b.c.d`, IPv6 in RFC 5952 form). 'unknown' when the socket has none (it closed).
 */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const a = parseClientAddress(address);
  // A socket reports only IP addresses; anything else is shown as it came rather than lost.
  return a instanceof InvalidAddressError ? address : a;
}

// The WHATWG URL parser serialises an IPv6 host in RFC 5952 form (lower case, longest zero run
// compressed, an embedded IPv4 tail as hex), so two spellings of one address compare equal. Only
// called on text isIP() accepted as IPv6, so it cannot throw.
function rfc5952(six: string): string {
  return new URL(`http://[${six}]/`).hostname.slice(1, -1);
}
