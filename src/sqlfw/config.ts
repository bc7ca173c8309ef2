// The `sqlFirewall` section: the statement allowlist firewall modelled on MySQL Enterprise
// Firewall (docs/sqlfw.md). Profiles and their lists are not configuration: they are changed at
// run time on the admin port (CALL mysql.sp_set_firewall_mode …) or by `moat sqlfw import`, and
// kept in stateDir/sqlfw.sqlite.
import { z } from 'zod';

export const sqlFirewallConfigSchema = z.strictObject({
  /** false: no profile is looked at, whatever the store holds (every session as in mode OFF). */
  enabled: z.boolean().default(true),
  /**
   * A statement longer than limits.maxStatementLength is judged by the digest of its first
   * maxStatementLength bytes. In PROTECTING it is refused unless this is true: what follows the
   * prefix is unseen, and a learned prefix must not carry an attack past the firewall.
   */
  allowTruncated: z.boolean().default(false),
  /** Digests kept per profile in the learning report (moat.firewall_report), oldest dropped first. */
  reportDigests: z.number().int().min(1).max(100_000).default(1000),
});

export type SqlFirewallConfig = z.output<typeof sqlFirewallConfigSchema>;
