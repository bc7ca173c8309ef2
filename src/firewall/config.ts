// The `firewall` section of the configuration: mirroring moat's host blocks into an nftables table
// of moat's own. Off by default: changing the host's firewall needs CAP_NET_ADMIN, and an operator
// turns that on knowing it.
import { z } from 'zod';

/** nft accepts more in a table name, but this much is safe unquoted in both its syntaxes. */
const TABLE_NAME = /^[a-z0-9_]{1,32}$/;

export const firewallConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** The table moat creates and deletes; two moats on one host need two names. */
  table: z
    .string()
    .regex(TABLE_NAME, 'expected 1 to 32 characters of a-z, 0-9 and _ (an nftables table name)')
    .default('moat'),
  /** inet: one table, one chain for IPv4 and IPv6 alike. Fixed; a key so the config says so. */
  family: z.literal('inet').default('inet'),
  /**
   * TCP ports whose new connections are dropped for blocked hosts. Default (unset): the ports of
   * moat's TCP listeners, filled in by the gateway.
   */
  ports: z.array(z.number().int().min(1).max(65535)).min(1).optional(),
});

export type FirewallConfig = z.output<typeof firewallConfigSchema>;
export type FirewallConfigInput = z.input<typeof firewallConfigSchema>;
