// Client addresses as moat shows them everywhere (ledger, logs, errors).
import { isIP } from 'node:net';

/** `::ffff:a.b.c.d` (an IPv4 client on a dual-stack listener) is `a.b.c.d`. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  return address;
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === 'localhost';
}
