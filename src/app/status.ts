// SHOW STATUS beyond the guard's MySQL-named counters: uptime, and moat's own figures for the
// resolver, the fleet's shared state and the nftables mirror (also exported on /metrics).
import type { FirewallMirror } from '../firewall/mirror.ts';
import type { Guard } from '../guard/guard.ts';
import type { RedisFleet } from '../state/redis/fleet.ts';

export function statusRows(
  guard: Guard,
  startedAt: number,
  fleet: RedisFleet | null,
  firewall: FirewallMirror | null,
): Array<[string, number]> {
  const rows: Array<[string, number]> = [
    ...Object.entries(guard.status),
    ['Uptime', Math.floor((Date.now() - startedAt) / 1000)],
  ];
  if (guard.resolver !== null) rows.push(['Moat_dns_lookups_shed', guard.resolver.shed]);
  if (fleet !== null) {
    rows.push(
      ['Moat_redis_up', fleet.up ? 1 : 0],
      ['Moat_redis_outages', fleet.stats.outages],
      ['Moat_redis_command_errors', fleet.stats.commandErrors],
      ['Moat_redis_pending', fleet.pending],
      ['Moat_redis_dropped', fleet.stats.dropped],
      ['Moat_redis_replayed', fleet.stats.replayed],
      ['Moat_redis_bad_messages', fleet.stats.badMessages],
    );
  }
  if (firewall !== null) {
    const f = firewall.stats();
    rows.push(
      ['Moat_firewall_ok', f.outage ? 0 : 1],
      ['Moat_firewall_members', f.members],
      ['Moat_firewall_writes', f.writes],
      ['Moat_firewall_errors', f.errors],
    );
  }
  return rows;
}
