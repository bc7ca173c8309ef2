// IP networks as configuration writes them (an address or CIDR), checked by zod, and as Node's
// BlockList holds them for matching.
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** An IP address or CIDR network, IPv4 or IPv6. */
export const network = z.string().refine(
  (s) => {
    const [addr, bits, extra] = s.split('/');
    if (extra !== undefined || addr === undefined) return false;
    const family = isIP(addr);
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'expected an IP address or CIDR network such as 10.0.0.0/8 or 2001:db8::/32' },
);

/** A BlockList holding the given networks (for PROXY-protocol trust and, later, ACLs). */
export function blockListOf(networks: readonly string[]): BlockList {
  const list = new BlockList();
  for (const n of networks) {
    const [addr, bits] = n.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}
