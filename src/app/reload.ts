// What RELOAD CONFIG / SIGHUP does with each configuration key: applied to the running process,
// or reported as needing a restart. The table is typed over every top-level key of the schema, so
// a new key does not compile until someone decides which it is; nothing is ignored silently.

import type { Config } from '../config/schema.ts';
import type { ReloadReport } from '../model/reload.ts';

export type ReloadEffect =
  /** Applied at once (for new connections; live sessions keep what they logged in with). */
  | 'applied'
  /** Taken from the new file only by a restart: reported to the admin client and in the log. */
  | 'restart';

export const RELOAD_EFFECT: { readonly [K in keyof Config]-?: ReloadEffect } = {
  // Listener addresses are sockets moat holds; their `access` rules are applied (listeners.N.access).
  listeners: 'restart',
  // The backend target and TLS to it are bound into the session context at start.
  backend: 'restart',
  // Certificates and keys are loaded into the TLS context at start.
  tls: 'restart',
  // The handshake timeout, statement cap and packet cap are read per new connection.
  limits: 'applied',
  // Rules, connection control, limits (host_cache_size and resolve excepted, see Guard.reconfigure).
  guard: 'applied',
  // The admin port and HTTP API are listening sockets with their accounts bound at start.
  admin: 'restart',
  // Sinks own open files, sockets and rotation state; swapping them live could lose records.
  audit: 'restart',
  // A fresh detector with the new rules; the sliding windows start again.
  detect: 'applied',
  // The digest table's size and the digest length are set up with the gateway.
  digests: 'restart',
  localInfile: 'applied',
  shutdownTimeoutMs: 'applied',
  stateDir: 'restart',
  // The posture runner's account and schedule are started with the process.
  posture: 'restart',
  // Firewall mode and table are set up (and the nftables table created) at start.
  firewall: 'restart',
  // The profiles themselves change at run time (CALL mysql.sp_set_firewall_mode); the section's
  // switches are read once.
  sqlFirewall: 'restart',
  // The store (SQLite file or Redis connection) is opened at start.
  state: 'restart',
  // The level is applied; the destination stays.
  log: 'applied',
  // Only the version moat announces before it has seen a backend: read at start.
  greeting: 'restart',
};

/**
 * The keys whose values differ between `prev` and `next`, split by RELOAD_EFFECT. A changed
 * section that needs a restart is named down to its changed sub-keys (`audit.sinks`), so the
 * operator sees exactly what is not in force yet.
 */
export function planReload(prev: Config, next: Config): ReloadReport {
  const report: ReloadReport = { applied: [], needsRestart: [] };
  for (const key of Object.keys(RELOAD_EFFECT) as Array<keyof Config>) {
    const a = prev[key];
    const b = next[key];
    if (same(a, b)) continue;
    if (RELOAD_EFFECT[key] === 'applied') {
      report.applied.push(key);
      continue;
    }
    if (key === 'listeners') {
      // Only the access rules of listeners that stay at their address are applied.
      const names = (l: Config['listeners']) => l.map((x) => JSON.stringify(x.address));
      if (!same(names(prev.listeners), names(next.listeners))) report.needsRestart.push('listeners');
      else {
        const other = prev.listeners.some(
          (l, i) => !same({ ...l, access: null }, { ...next.listeners[i], access: null }),
        );
        if (other) report.needsRestart.push('listeners');
        if (prev.listeners.some((l, i) => !same(l.access, next.listeners[i]!.access)))
          report.applied.push('listeners.access');
      }
      continue;
    }
    report.needsRestart.push(...changedSubKeys(key, a, b));
  }
  return report;
}

function changedSubKeys(key: string, a: unknown, b: unknown): string[] {
  if (!isRecord(a) || !isRecord(b)) return [key];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out = [...keys].filter((k) => !same(a[k], b[k])).map((k) => `${key}.${k}`);
  return out.length === 0 ? [key] : out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
