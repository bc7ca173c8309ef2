// Client addresses as moat shows them everywhere (ledger, logs, errors): the canonical form of
// net/address.ts, applied to what a socket reports.
import { InvalidAddressError, parseClientAddress } from '../net/address.ts';

export { isLoopback } from '../net/address.ts';

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
