// moat's state as JSON for the HTTP API, the dashboard and the CLI: one shape each, in one place.
import { FAILURE_CLASSES } from '../model/failure.ts';
import type { PostureResult } from '../posture/runner.ts';
import type { AdminRuntime } from './engine.ts';
import { mergedTotals } from './fleet-tables.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A ledger row's failure counters by class name, the classes with none left out. */
function countsByClass(counts: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  FAILURE_CLASSES.forEach((c, i) => {
    if ((counts[i] ?? 0) > 0) out[c] = counts[i]!;
  });
  return out;
}

export function hostsView(rt: AdminRuntime, now = Date.now()) {
  const blocked = new Set(rt.guard.blocker.list(now).map((b) => b.ip));
  return {
    hosts: [...rt.guard.ledger.rows()].map((r) => ({
      ip: r.ip,
      host: r.host,
      hostValidated: r.hostValidated,
      sumConnectErrors: r.sumConnectErrors,
      counts: countsByClass(r.counts),
      firstSeen: iso(r.firstSeen),
      lastSeen: iso(r.lastSeen),
      firstErrorSeen: iso(r.firstErrorSeen),
      lastErrorSeen: iso(r.lastErrorSeen),
      currentConnections: r.currentConnections,
      totalConnections: r.totalConnections,
      successes: r.successes,
      blocked: blocked.has(r.ip),
    })),
  };
}

export type HostView = ReturnType<typeof hostsView>['hosts'][number];

export function blockedView(rt: AdminRuntime, now = Date.now()) {
  return {
    blocked: rt.guard.blocker.list(now).map((b) => ({
      ip: b.ip,
      reason: b.reason,
      by: b.by,
      since: iso(b.since),
      until: iso(b.until),
    })),
  };
}

export function failedLoginsView(rt: AdminRuntime) {
  return { failedLogins: rt.guard.connectionControl.entries() };
}

export function sessionsView(rt: AdminRuntime) {
  return { sessions: rt.sessions() };
}

export function outcomesView(rt: AdminRuntime) {
  return { minutes: rt.guard.outcomes.map((m) => ({ ...m, t: iso(m.t) })) };
}

export function statusView(rt: AdminRuntime) {
  const status = Object.fromEntries(rt.status());
  const variables = Object.fromEntries(rt.variables());
  return {
    version: String(variables.version ?? ''),
    uptimeSeconds: Number(status.Uptime ?? 0),
    status,
    variables,
  };
}

/** The whole fleet (state.store: redis): instances, every instance's rows tagged, merged totals. */
export async function fleetView(rt: AdminRuntime, now = Date.now()) {
  if (rt.fleetView === undefined) return null;
  const f = await rt.fleetView();
  const blocked = new Set(rt.guard.blocker.list(now).map((b) => b.ip));
  return {
    instances: f.instances.map((i) => ({ ...i, startedAt: iso(i.startedAt), lastSeen: iso(i.lastSeen) })),
    hosts: f.rows.map(({ instance, row: r }) => ({
      instance,
      ip: r.ip,
      sumConnectErrors: r.sumConnectErrors,
      counts: countsByClass(r.counts),
      currentConnections: r.currentConnections,
      totalConnections: r.totalConnections,
      successes: r.successes,
      lastSeen: iso(r.lastSeen),
    })),
    totals: [...mergedTotals(f.rows)].map(([ip, t]) => ({
      ip,
      instances: t.instances,
      sumConnectErrors: f.connectErrors.get(ip) ?? 0,
      counts: countsByClass(t.row.counts),
      currentConnections: t.row.currentConnections,
      totalConnections: t.row.totalConnections,
      successes: t.row.successes,
      firstSeen: iso(t.row.firstSeen),
      lastSeen: iso(t.row.lastSeen),
      blocked: blocked.has(ip),
    })),
  };
}

/** The last `moat check` of the gateway (posture.user); `configured: false` without one. */
export function postureView(p: PostureResult | null) {
  if (p === null) return { configured: false, checkedAt: null, error: null, findings: [] };
  return { configured: true, checkedAt: iso(p.checkedAt), error: p.error, findings: p.findings };
}
